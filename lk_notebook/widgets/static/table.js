// ParticipantsTable front end (anywidget ES module, no build step).
//
// The kernel sends a reset (columns, the first page of rows, how many more) once per view, then at most one delta
// per render (upserts, removed, columns, and the next page while the first load lasts) with only what changed. The messages, their short keys, the participant kinds and the agent-state key are declared in
// widgets/protocol.py and arrive in the `wire` trait: nothing here re-declares them. Rows are kept by their labels
// (name, kind, joined, metadata, local, active, attributes).
//
// Kept cheap for 10,000 rows x 20 attributes at 10,000 changes/s: every row lives in a plain JS model, but only the
// rows inside the scrolled viewport (plus OVERSCAN) exist in the DOM, between two spacer rows that give the scroller
// the full height (fixed row height); the table has a fixed layout (a changed cell never re-lays out the whole
// table); only visible changed cells are touched and flash; sorting compares precomputed keys with one collator
// (String.localeCompare per comparison took ~150 ms for 10,000 rows).

const FIXED = ["identity", "kind", "name", "joined", "metadata"];
const WIDTHS = { identity: 170, kind: 130, name: 130, joined: 80, metadata: 260 };
const ATTR_WIDTH = 120;
const ROW_HEIGHT = 22;
const OVERSCAN = 8;
const META_PREVIEW = 60;

function fmtTime(ms) {
  if (ms === null || ms === undefined) return "";
  return new Date(ms).toLocaleTimeString([], { hour12: false });
}

function prettyMetadata(text) {
  if (!text) return { short: "", full: "", json: false };
  try {
    const parsed = JSON.parse(text);
    if (parsed !== null && typeof parsed === "object") {
      return { short: JSON.stringify(parsed), full: JSON.stringify(parsed, null, 2), json: true };
    }
  } catch (_e) {
    // not JSON: shown as text
  }
  return { short: text, full: text, json: false };
}

function render({ model, el }) {
  const W = model.get("wire");
  const LABEL = labelsByKey(W.row); // wire key -> label
  const rows = new Map(); // identity -> {name, kind, joined, metadata, local, active, attributes}
  let attrCols = [];
  let sortCol = "identity";
  let sortDir = 1;
  let filter = "";
  let kindFilter = ""; // "" = every kind
  let order = []; // identities after filter and sort
  let pending = 0; // rows of the first load still to come from the kernel
  const collator = new Intl.Collator();
  let orderDirty = true;
  const shown = new Map(); // identity -> {tr, cells: Map(col -> td)} for rows in the DOM
  let detailIdentity = null; // whose metadata is expanded below the table
  let frameQueued = false;
  const fresh = new Set(); // identities that joined since the last window render: flashed when first shown

  const { head, status, error, filterInput, scroller, table, thead, tbody } = listView(
    el,
    "lk-table",
    "filter (text, or key=value)",
  );
  const count = element("span", "lk-table-count");
  const kindSelect = element("select", "lk-table-kind", { title: "show one kind of participant" });
  for (const k of [""].concat(W.kinds)) {
    kindSelect.append(element("option", "", { value: k, textContent: k || "every kind" }));
  }
  head.append(status, count, error, kindSelect, filterInput);
  const colgroup = element("colgroup");
  table.prepend(colgroup);
  const detail = element("div", "lk-table-detail");
  el.append(head, scroller, detail);

  function spacer() {
    const tr = document.createElement("tr");
    tr.className = "lk-spacer";
    tr.append(document.createElement("td"));
    return tr;
  }
  const topSpacer = spacer();
  const bottomSpacer = spacer();
  function setSpacer(tr, px) {
    tr.firstChild.colSpan = allCols().length;
    tr.firstChild.style.height = px + "px";
    tr.style.display = px > 0 ? "" : "none";
  }

  function allCols() {
    return FIXED.concat(attrCols.map((k) => "a:" + k));
  }

  function cellValue(identity, col) {
    const r = rows.get(identity);
    if (!r) return "";
    switch (col) {
      case "identity":
        return identity;
      case "kind": {
        const state = r.attributes[W.agent_state];
        return state ? `${r.kind} · ${state}` : r.kind;
      }
      case "name":
        return r.name;
      case "joined":
        return r.joined === null ? "" : r.joined;
      case "metadata":
        return r.metadata;
      default: {
        const v = r.attributes[col.slice(2)];
        return v === undefined || v === null ? "" : v;
      }
    }
  }

  function fillCell(td, identity, col) {
    const r = rows.get(identity);
    if (col === "identity") {
      td.textContent = identity;
      td.title = identity + (r && r.active === false ? " (not yet active: lossy data to it is dropped)" : "");
      if (r && r.local) {
        const badge = document.createElement("span");
        badge.className = "lk-local";
        badge.textContent = "you";
        badge.title = "the participant this notebook joined as";
        td.append(" ", badge);
      }
      return;
    }
    if (col === "joined") {
      td.textContent = fmtTime(r ? r.joined : null);
      return;
    }
    if (col === "metadata") {
      const meta = prettyMetadata(r ? r.metadata : "");
      td.textContent = "";
      td.classList.toggle("lk-json", meta.json);
      td.title = meta.short.slice(0, 500);
      if (meta.full.length <= META_PREVIEW && !meta.full.includes("\n")) {
        td.textContent = meta.full;
        return;
      }
      const toggle = document.createElement("button");
      toggle.className = "lk-expand";
      const open = detailIdentity === identity;
      toggle.textContent = open ? "▾" : "▸";
      toggle.title = open ? "hide the full metadata" : "show the full metadata below the table";
      toggle.onclick = (e) => {
        e.stopPropagation();
        detailIdentity = detailIdentity === identity ? null : identity;
        renderDetail();
        refreshCell(identity, "metadata");
      };
      const span = document.createElement("span");
      span.textContent = meta.short.slice(0, META_PREVIEW) + "…";
      td.append(toggle, span);
      return;
    }
    if (col === "kind") td.dataset.kind = r ? r.kind : W.default_kind;
    const text = String(cellValue(identity, col));
    td.textContent = text;
    td.title = text.length > 14 ? text.slice(0, 500) : "";
  }

  function renderDetail() {
    detail.textContent = "";
    if (detailIdentity === null || !rows.has(detailIdentity)) {
      detailIdentity = null;
      return;
    }
    const title = document.createElement("div");
    title.className = "lk-table-detail-title";
    title.textContent = `metadata of ${detailIdentity}`;
    const close = document.createElement("button");
    close.className = "lk-expand";
    close.textContent = "✕";
    close.onclick = () => {
      const was = detailIdentity;
      detailIdentity = null;
      renderDetail();
      refreshCell(was, "metadata");
    };
    title.append(" ", close);
    const pre = document.createElement("pre");
    pre.textContent = prettyMetadata(rows.get(detailIdentity).metadata).full;
    detail.append(title, pre);
  }

  function refreshCell(identity, col) {
    const entry = shown.get(identity);
    const td = entry && entry.cells.get(col);
    if (td) fillCell(td, identity, col);
  }

  function buildHeader() {
    colgroup.textContent = "";
    thead.textContent = "";
    const tr = document.createElement("tr");
    let total = 0;
    // The preferred widths, shrunk (to half at most) to the box's width: columns cut off to the right went unseen
    // in a notebook beside JupyterLab's file browser at 1400 px (tests/browser/test_dashboard_layout_browser.py).
    const cols = allCols();
    const preferred = cols.reduce((sum, col) => sum + (WIDTHS[col] || ATTR_WIDTH), 0);
    const room = scroller.clientWidth - 2;
    const scale = room > 0 && preferred > room ? Math.max(room / preferred, 0.5) : 1;
    for (const col of cols) {
      const c = document.createElement("col");
      const width = Math.floor((WIDTHS[col] || ATTR_WIDTH) * scale);
      c.style.width = width + "px";
      total += width;
      colgroup.append(c);
      const th = document.createElement("th");
      const label = col.startsWith("a:") ? col.slice(2) : col;
      th.textContent = sortLabel(label, col, sortCol, sortDir);
      th.title = `sort by ${label}`;
      th.dataset.col = col;
      if (col.startsWith("a:")) th.classList.add("lk-attr");
      th.onclick = () => {
        if (sortCol === col) sortDir = -sortDir;
        else {
          sortCol = col;
          sortDir = 1;
        }
        buildHeader();
        orderDirty = true;
        schedule();
      };
      tr.append(th);
    }
    table.style.width = total + "px";
    thead.append(tr);
  }

  function matches(identity) {
    if (kindFilter && rows.get(identity)?.kind !== kindFilter) return false;
    if (!filter) return true;
    const eq = filter.indexOf("=");
    if (eq > 0) {
      const key = filter.slice(0, eq).trim();
      const want = filter.slice(eq + 1).trim();
      const r = rows.get(identity);
      const v = r ? (key === "kind" ? r.kind : r.attributes[key]) : undefined;
      return v !== undefined && v !== null && String(v).toLowerCase().includes(want);
    }
    for (const col of allCols()) {
      if (String(cellValue(identity, col)).toLowerCase().includes(filter)) return true;
    }
    return false;
  }

  // The sort key of a row, computed once per sort: numbers compare as numbers, anything else as text.
  function sortKey(identity) {
    const v = cellValue(identity, sortCol);
    const n = v === "" ? NaN : Number(v);
    return { identity, text: String(v), n, local: rows.get(identity).local };
  }

  function compareKeys(a, b) {
    // the local participant first, as in RoomState.to_frame()
    if (sortCol === "identity" && a.local !== b.local) return a.local ? -1 : 1;
    let c;
    if (!Number.isNaN(a.n) && !Number.isNaN(b.n)) c = a.n - b.n;
    else c = collator.compare(a.text, b.text);
    if (c === 0) c = a.identity < b.identity ? -1 : a.identity > b.identity ? 1 : 0;
    return c * sortDir;
  }

  function sortedOrder() {
    const keyed = [];
    for (const identity of rows.keys()) if (matches(identity)) keyed.push(sortKey(identity));
    keyed.sort(compareKeys);
    return keyed.map((k) => k.identity);
  }

  function buildRow(identity) {
    const tr = document.createElement("tr");
    tr.dataset.identity = identity;
    const r = rows.get(identity);
    if (r && r.local) tr.classList.add("lk-local-row");
    const cells = new Map();
    for (const col of allCols()) {
      const td = document.createElement("td");
      td.dataset.col = col;
      fillCell(td, identity, col);
      tr.append(td);
      cells.set(col, td);
    }
    const entry = { tr, cells };
    shown.set(identity, entry);
    return entry;
  }

  function clearShown() {
    for (const entry of shown.values()) entry.tr.remove();
    shown.clear();
  }

  // Put the rows inside the viewport into the DOM, reusing the ones already there.
  function renderWindow() {
    if (orderDirty) {
      order = sortedOrder();
      orderDirty = false;
    }
    const maxHeight = parseInt(model.get("max_height"), 10) || 420;
    scroller.style.height = Math.min(maxHeight, order.length * ROW_HEIGHT + 30) + "px";
    const viewport = scroller.clientHeight || maxHeight;
    const first = Math.max(0, Math.floor(scroller.scrollTop / ROW_HEIGHT) - OVERSCAN);
    const last = Math.min(order.length, Math.ceil((scroller.scrollTop + viewport) / ROW_HEIGHT) + OVERSCAN);
    const wanted = order.slice(first, last);
    const keep = new Set(wanted);
    for (const [identity, entry] of shown) {
      if (!keep.has(identity)) {
        entry.tr.remove();
        shown.delete(identity);
      }
    }
    setSpacer(topSpacer, first * ROW_HEIGHT);
    setSpacer(bottomSpacer, (order.length - last) * ROW_HEIGHT);
    const frag = document.createDocumentFragment();
    frag.append(topSpacer);
    for (const identity of wanted) {
      const entry = shown.get(identity) || buildRow(identity);
      frag.append(entry.tr);
      if (fresh.has(identity)) for (const td of entry.cells.values()) flash(td);
    }
    fresh.clear();
    frag.append(bottomSpacer);
    tbody.append(frag); // moves existing rows into order without rebuilding them
    const total = rows.size;
    const loading = pending > 0 ? ` (loading: ${total} of ${total + pending})` : "";
    count.textContent =
      `${order.length === total ? total : order.length + " of " + total} participants${loading} · ` +
      `${attrCols.length} attribute keys`;
  }

  // The table's own time on the main thread, kept on the element for tests and curious users (data-work-ms: the
  // longest message or window render so far; data-work-count: how many), apart from the page's other work.
  function timed(fn) {
    return (...args) => {
      const t0 = performance.now();
      try {
        return fn(...args);
      } finally {
        const ms = performance.now() - t0;
        el.dataset.workMs = String(Math.max(ms, Number(el.dataset.workMs) || 0).toFixed(1));
        el.dataset.workCount = String((Number(el.dataset.workCount) || 0) + 1);
        el.dataset.workTotalMs = String(((Number(el.dataset.workTotalMs) || 0) + ms).toFixed(1));
      }
    };
  }
  const renderWindowTimed = timed(renderWindow);

  function schedule() {
    if (frameQueued) return;
    frameQueued = true;
    requestAnimationFrame(() => {
      frameQueued = false;
      renderWindowTimed();
    });
  }

  function flash(td) {
    // The Web Animations API restarts cleanly on repeated changes and needs no forced layout.
    const ms = model.get("flash_ms") || 1200;
    if (td._lkFlash) td._lkFlash.cancel();
    td.dataset.flash = "1";
    // A lasting count of highlights, so a test can assert that a change was highlighted without racing the
    // animation (data-flash is gone again after flash_ms).
    td.dataset.flashes = String((parseInt(td.dataset.flashes, 10) || 0) + 1);
    td._lkFlash = td.animate([{ backgroundColor: "#ffe35a" }, { backgroundColor: "rgba(255, 243, 160, 0)" }], {
      duration: ms,
      easing: "ease-out",
    });
    td._lkFlash.onfinish = () => {
      delete td.dataset.flash;
      td._lkFlash = null;
    };
  }

  // A row as the kernel sends it in full (short keys; attributes deleted since are null) -> a row kept here.
  function fromWire(wireRow) {
    const r = {
      name: "",
      kind: W.default_kind,
      joined: null,
      metadata: "",
      local: false,
      active: true,
      attributes: {},
    };
    for (const [key, value] of Object.entries(wireRow)) {
      const field = LABEL[key];
      if (field === "attributes") {
        for (const [k, v] of Object.entries(value)) if (v !== null) r.attributes[k] = v;
      } else if (field) r[field] = value;
    }
    return r;
  }

  function applyDelta(msg) {
    const D = W.delta;
    let structural = false;
    if (msg[D.columns]) {
      attrCols = msg[D.columns];
      structural = true;
    }
    for (const identity of msg[D.removed] || []) {
      rows.delete(identity);
      const entry = shown.get(identity);
      if (entry) entry.tr.remove();
      shown.delete(identity);
      if (detailIdentity === identity) detailIdentity = null;
      orderDirty = true;
    }
    // The first load's next page: rows in full, not changes (not flashed).
    for (const [identity, r] of Object.entries(msg[D.page] || {})) {
      rows.set(identity, fromWire(r));
      orderDirty = true;
    }
    if (msg[D.more] !== undefined) {
      pending = msg[D.more];
      schedule(); // the count says how far the load is
    }
    const changed = []; // [identity, col] of cells to refresh and flash
    for (const [identity, d] of Object.entries(msg[D.upserts] || {})) {
      const existing = rows.get(identity);
      if (!existing) {
        rows.set(identity, fromWire(d));
        fresh.add(identity);
        orderDirty = true;
        continue;
      }
      for (const [key, value] of Object.entries(d)) {
        const field = LABEL[key];
        if (field === "attributes") {
          for (const [k, v] of Object.entries(value)) {
            if (v === null) delete existing.attributes[k];
            else existing.attributes[k] = v;
            changed.push([identity, "a:" + k]);
            if (k === W.agent_state) changed.push([identity, "kind"]);
            if (sortCol === "a:" + k) orderDirty = true;
          }
        } else if (field) {
          existing[field] = value;
          // local and active show in the identity cell; every other field has a column of its own name
          const col = field === "local" || field === "active" ? "identity" : field;
          changed.push([identity, col]);
          if (col === sortCol || field === "local") orderDirty = true;
          if (field === "metadata" && identity === detailIdentity) renderDetail();
        }
      }
    }
    if (filter) orderDirty = true;
    if (structural) {
      clearShown();
      buildHeader();
    } else {
      for (const [identity, col] of changed) {
        const entry = shown.get(identity);
        const td = entry && entry.cells.get(col);
        if (td) {
          fillCell(td, identity, col);
          flash(td);
        }
      }
    }
    if (structural || orderDirty) schedule(); // otherwise nothing moved: the window is still right
  }

  function onMessage(msg) {
    if (!msg || typeof msg !== "object") return;
    const R = W.reset;
    if (msg[R.tag] === R.is) {
      rows.clear();
      attrCols = msg[R.columns] || [];
      for (const [identity, r] of Object.entries(msg[R.rows] || {})) rows.set(identity, fromWire(r));
      pending = msg[R.more] || 0;
      clearShown();
      buildHeader();
      orderDirty = true;
      renderDetail();
      schedule();
    } else if (msg[W.delta.tag] === W.delta.is) {
      applyDelta(msg);
    }
  }

  function syncStatus() {
    const s = model.get("status") || "";
    status.textContent = `${model.get("room")} · ${s}`;
    status.dataset.status = s.split(" ")[0];
  }

  function syncError() {
    showError(error, model.get("error"));
  }

  kindSelect.addEventListener("change", () => {
    kindFilter = kindSelect.value;
    orderDirty = true;
    scroller.scrollTop = 0;
    schedule();
  });
  filterInput.addEventListener("input", () => {
    filter = filterInput.value.trim().toLowerCase();
    orderDirty = true;
    scroller.scrollTop = 0;
    schedule();
  });
  scroller.addEventListener("scroll", schedule, { passive: true });
  let lastWidth = 0;
  const resized = new ResizeObserver(() => {
    if (scroller.clientWidth !== lastWidth) {
      lastWidth = scroller.clientWidth;
      buildHeader();
    }
  });
  resized.observe(scroller);
  const stop = listen(model, [
    ["msg:custom", timed(onMessage)],
    ["change:status", syncStatus],
    ["change:room", syncStatus],
    ["change:error", syncError],
  ]);
  syncStatus();
  syncError();
  buildHeader();
  model.send({ [W.hello.tag]: W.hello.is });
  return () => {
    resized.disconnect();
    stop();
  };
}

export default { render };
