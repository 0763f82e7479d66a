// ParticipantsTable front end (anywidget ES module, no build step).
// The kernel sends {t:"reset", cols, rows} once per view and then {t:"delta", up, rm, cols} with only what changed.
// Rows: n=name, j=joined (ms), m=metadata, l=local, v=active, a={attribute: value|null (deleted)}.

const FIXED = [
  { id: "identity", label: "identity" },
  { id: "name", label: "name" },
  { id: "joined", label: "joined" },
  { id: "metadata", label: "metadata" },
];
const META_PREVIEW = 60;

function fmtTime(ms) {
  if (ms === null || ms === undefined) return "";
  const d = new Date(ms);
  return d.toLocaleTimeString([], { hour12: false });
}

function prettyMetadata(text) {
  if (!text) return { short: "", full: "", json: false };
  try {
    const parsed = JSON.parse(text);
    if (parsed !== null && typeof parsed === "object") {
      const full = JSON.stringify(parsed, null, 2);
      const oneLine = JSON.stringify(parsed);
      return { short: oneLine, full, json: true };
    }
  } catch (_e) {
    // not JSON: shown as text
  }
  return { short: text, full: text, json: false };
}

function render({ model, el }) {
  const rows = new Map(); // identity -> {n,j,m,l,v,a}
  const trs = new Map(); // identity -> {tr, cells: Map(colId -> td)}
  let attrCols = [];
  let sortCol = "identity";
  let sortDir = 1;
  let filter = "";
  let expanded = new Set(); // identities whose metadata is expanded

  el.classList.add("lk-table");
  const head = document.createElement("div");
  head.className = "lk-table-head";
  const status = document.createElement("span");
  status.className = "lk-table-status";
  const count = document.createElement("span");
  count.className = "lk-table-count";
  const filterInput = document.createElement("input");
  filterInput.type = "search";
  filterInput.placeholder = "filter (text, or key=value)";
  filterInput.className = "lk-table-filter";
  const error = document.createElement("span");
  error.className = "lk-table-error";
  head.append(status, count, error, filterInput);
  const scroller = document.createElement("div");
  scroller.className = "lk-table-scroll";
  const table = document.createElement("table");
  const thead = document.createElement("thead");
  const tbody = document.createElement("tbody");
  table.append(thead, tbody);
  scroller.append(table);
  el.append(head, scroller);

  function allCols() {
    return FIXED.map((c) => c.id).concat(attrCols.map((k) => "a:" + k));
  }

  function cellValue(identity, col) {
    const r = rows.get(identity);
    if (!r) return "";
    switch (col) {
      case "identity":
        return identity;
      case "name":
        return r.n || "";
      case "joined":
        return r.j === null || r.j === undefined ? "" : r.j;
      case "metadata":
        return r.m || "";
      default: {
        const v = r.a ? r.a[col.slice(2)] : undefined;
        return v === undefined || v === null ? "" : v;
      }
    }
  }

  function fillCell(td, identity, col) {
    const r = rows.get(identity);
    if (col === "identity") {
      td.textContent = identity;
      if (r && r.l) {
        const badge = document.createElement("span");
        badge.className = "lk-local";
        badge.textContent = "you";
        badge.title = "the participant this notebook joined as";
        td.append(" ", badge);
      }
      if (r && r.v === false) td.title = "not yet active: lossy data to it is dropped";
      return;
    }
    if (col === "joined") {
      td.textContent = fmtTime(r ? r.j : null);
      return;
    }
    if (col === "metadata") {
      const meta = prettyMetadata(r ? r.m : "");
      td.textContent = "";
      td.classList.toggle("lk-json", meta.json);
      if (meta.full.length <= META_PREVIEW && !meta.full.includes("\n")) {
        td.textContent = meta.full;
        return;
      }
      const open = expanded.has(identity);
      const toggle = document.createElement("button");
      toggle.className = "lk-expand";
      toggle.textContent = open ? "▾" : "▸";
      toggle.title = open ? "collapse" : "expand";
      toggle.onclick = (e) => {
        e.stopPropagation();
        if (expanded.has(identity)) expanded.delete(identity);
        else expanded.add(identity);
        fillCell(td, identity, col);
      };
      td.append(toggle);
      if (open) {
        const pre = document.createElement("pre");
        pre.textContent = meta.full;
        td.append(pre);
      } else {
        const span = document.createElement("span");
        span.textContent = meta.short.slice(0, META_PREVIEW) + "…";
        td.append(span);
      }
      return;
    }
    td.textContent = String(cellValue(identity, col));
  }

  function buildHeader() {
    thead.textContent = "";
    const tr = document.createElement("tr");
    for (const col of allCols()) {
      const th = document.createElement("th");
      const label = col.startsWith("a:") ? col.slice(2) : col;
      th.textContent = label + (col === sortCol ? (sortDir > 0 ? " ▲" : " ▼") : "");
      th.dataset.col = col;
      if (col.startsWith("a:")) th.classList.add("lk-attr");
      th.onclick = () => {
        if (sortCol === col) sortDir = -sortDir;
        else {
          sortCol = col;
          sortDir = 1;
        }
        buildHeader();
        reorder();
      };
      tr.append(th);
    }
    thead.append(tr);
  }

  function buildRow(identity) {
    const tr = document.createElement("tr");
    tr.dataset.identity = identity;
    const cells = new Map();
    for (const col of allCols()) {
      const td = document.createElement("td");
      td.dataset.col = col;
      fillCell(td, identity, col);
      tr.append(td);
      cells.set(col, td);
    }
    const r = rows.get(identity);
    tr.classList.toggle("lk-local-row", !!(r && r.l));
    trs.set(identity, { tr, cells });
    return tr;
  }

  function rebuildAll() {
    tbody.textContent = "";
    trs.clear();
    buildHeader();
    for (const identity of rows.keys()) buildRow(identity);
    reorder();
  }

  function matches(identity) {
    if (!filter) return true;
    const eq = filter.indexOf("=");
    if (eq > 0) {
      const key = filter.slice(0, eq).trim();
      const want = filter.slice(eq + 1).trim().toLowerCase();
      const r = rows.get(identity);
      const v = r && r.a ? r.a[key] : undefined;
      return v !== undefined && v !== null && String(v).toLowerCase().includes(want);
    }
    for (const col of allCols()) {
      if (String(cellValue(identity, col)).toLowerCase().includes(filter)) return true;
    }
    return false;
  }

  function compare(a, b) {
    const ra = rows.get(a);
    const rb = rows.get(b);
    // the local participant first, as in RoomState.to_frame()
    if (sortCol === "identity" && ra && rb && ra.l !== rb.l) return ra.l ? -1 : 1;
    const va = cellValue(a, sortCol);
    const vb = cellValue(b, sortCol);
    const na = Number(va);
    const nb = Number(vb);
    let c;
    if (va !== "" && vb !== "" && !Number.isNaN(na) && !Number.isNaN(nb)) c = na - nb;
    else c = String(va).localeCompare(String(vb));
    if (c === 0) c = a < b ? -1 : a > b ? 1 : 0;
    return c * sortDir;
  }

  function reorder() {
    const ids = Array.from(rows.keys()).filter(matches).sort(compare);
    const frag = document.createDocumentFragment();
    for (const identity of ids) {
      const entry = trs.get(identity) || { tr: buildRow(identity) };
      frag.append(entry.tr);
    }
    tbody.textContent = "";
    tbody.append(frag);
    count.textContent = `${ids.length === rows.size ? rows.size : ids.length + " of " + rows.size} participants · ${attrCols.length} attribute keys`;
  }

  function flash(td) {
    // The Web Animations API restarts cleanly on repeated changes and forces no layout (a class toggle with a
    // reflow per cell would cost one layout of the whole table per changed cell).
    const ms = model.get("flash_ms") || 1200;
    if (td._lkFlash) td._lkFlash.cancel();
    td.dataset.flash = "1";
    td._lkFlash = td.animate([{ backgroundColor: "#ffe35a" }, { backgroundColor: "rgba(255, 243, 160, 0)" }], {
      duration: ms,
      easing: "ease-out",
    });
    td._lkFlash.onfinish = () => {
      delete td.dataset.flash;
      td._lkFlash = null;
    };
  }

  function applyDelta(msg) {
    let structural = false;
    let resort = false;
    if (msg.cols) {
      attrCols = msg.cols;
      structural = true;
    }
    for (const identity of msg.rm || []) {
      rows.delete(identity);
      expanded.delete(identity);
      const entry = trs.get(identity);
      if (entry) entry.tr.remove();
      trs.delete(identity);
      resort = true;
    }
    const changedCells = [];
    for (const [identity, d] of Object.entries(msg.up || {})) {
      const existing = rows.get(identity);
      if (!existing) {
        const r = { n: "", j: null, m: "", l: false, v: true, a: {}, ...d };
        r.a = { ...(d.a || {}) };
        for (const k of Object.keys(r.a)) if (r.a[k] === null) delete r.a[k];
        rows.set(identity, r);
        if (!structural) {
          const tr = buildRow(identity);
          for (const td of tr.children) changedCells.push([identity, td.dataset.col]);
        }
        resort = true;
        continue;
      }
      for (const [field, value] of Object.entries(d)) {
        if (field === "a") {
          for (const [k, v] of Object.entries(value)) {
            if (v === null) delete existing.a[k];
            else existing.a[k] = v;
            changedCells.push([identity, "a:" + k]);
            if (sortCol === "a:" + k) resort = true;
          }
        } else {
          existing[field] = value;
          const col = { n: "name", j: "joined", m: "metadata", l: "identity", v: "identity" }[field];
          if (col) changedCells.push([identity, col]);
          if (col === sortCol || field === "l") resort = true;
        }
      }
    }
    if (structural) {
      rebuildAll();
    } else {
      for (const [identity, col] of changedCells) {
        const entry = trs.get(identity);
        const td = entry && entry.cells.get(col);
        if (td) fillCell(td, identity, col);
      }
      if (resort || filter) reorder();
    }
    for (const [identity, col] of changedCells) {
      const entry = trs.get(identity);
      const td = entry && entry.cells.get(col);
      if (td) flash(td);
    }
  }

  function onMessage(msg) {
    if (!msg || typeof msg !== "object") return;
    if (msg.t === "reset") {
      rows.clear();
      attrCols = msg.cols || [];
      for (const [identity, r] of Object.entries(msg.rows || {})) {
        rows.set(identity, { ...r, a: { ...(r.a || {}) } });
      }
      rebuildAll();
    } else if (msg.t === "delta") {
      applyDelta(msg);
    }
  }

  function syncStatus() {
    const s = model.get("status") || "";
    status.textContent = `${model.get("room")} · ${s}`;
    status.dataset.status = s.split(" ")[0];
  }

  function syncError() {
    const e = model.get("error") || "";
    error.textContent = e ? "⚠ " + e : "";
  }

  filterInput.addEventListener("input", () => {
    filter = filterInput.value.trim().toLowerCase();
    reorder();
  });
  scroller.style.maxHeight = model.get("max_height");
  model.on("msg:custom", onMessage);
  model.on("change:status", syncStatus);
  model.on("change:room", syncStatus);
  model.on("change:error", syncError);
  syncStatus();
  syncError();
  buildHeader();
  model.send({ t: "hello" });
  return () => {
    model.off("msg:custom", onMessage);
    model.off("change:status", syncStatus);
    model.off("change:room", syncStatus);
    model.off("change:error", syncError);
  };
}

export default { render };
