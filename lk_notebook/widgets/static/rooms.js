// RoomBrowser front end (anywidget ES module, no build step).
//
// `rows` (synced): [{name, participants, publishers, created (ms), metadata (preview)}]. Sorting and filtering
// happen here; clicking a row sends {t: "open", room} and the kernel opens a hidden inspector below the list.

const COLUMNS = [
  ["name", "room"],
  ["participants", "participants"],
  ["publishers", "publishers"],
  ["created", "created"],
  ["metadata", "metadata"],
];

function fmtCreated(ms) {
  if (!ms) return "";
  const d = new Date(ms);
  const today = new Date();
  const time = d.toLocaleTimeString([], { hour12: false });
  return d.toDateString() === today.toDateString() ? time : `${d.toLocaleDateString()} ${time}`;
}

function render({ model, el }) {
  let sortCol = "name";
  let sortDir = 1;
  let filter = "";

  el.classList.add("lk-rooms");
  const head = document.createElement("div");
  head.className = "lk-rooms-head";
  const title = document.createElement("b");
  title.textContent = "rooms";
  const status = document.createElement("span");
  status.className = "lk-rooms-status";
  const error = document.createElement("span");
  error.className = "lk-rooms-error";
  const filterInput = document.createElement("input");
  filterInput.type = "search";
  filterInput.placeholder = "filter rooms";
  filterInput.className = "lk-rooms-filter";
  const refresh = document.createElement("button");
  refresh.textContent = "↻";
  refresh.title = "refresh now";
  refresh.className = "lk-rooms-refresh";
  refresh.onclick = () => model.send({ t: "refresh" });
  head.append(title, status, error, filterInput, refresh);
  const scroller = document.createElement("div");
  scroller.className = "lk-rooms-scroll";
  const table = document.createElement("table");
  const thead = document.createElement("thead");
  const tbody = document.createElement("tbody");
  table.append(thead, tbody);
  scroller.append(table);
  el.append(head, scroller);

  function buildHeader() {
    thead.textContent = "";
    const tr = document.createElement("tr");
    for (const [col, label] of COLUMNS) {
      const th = document.createElement("th");
      th.dataset.col = col;
      th.textContent = label + (col === sortCol ? (sortDir > 0 ? " ▲" : " ▼") : "");
      th.onclick = () => {
        if (sortCol === col) sortDir = -sortDir;
        else {
          sortCol = col;
          sortDir = col === "name" || col === "metadata" ? 1 : -1;
        }
        buildHeader();
        renderRows();
      };
      tr.append(th);
    }
    thead.append(tr);
  }

  function renderRows() {
    const selected = model.get("selected");
    const rows = (model.get("rows") || []).filter(
      (r) => !filter || r.name.toLowerCase().includes(filter) || (r.metadata || "").toLowerCase().includes(filter),
    );
    rows.sort((a, b) => {
      const va = a[sortCol];
      const vb = b[sortCol];
      const c = typeof va === "number" && typeof vb === "number" ? va - vb : String(va).localeCompare(String(vb));
      return (c || a.name.localeCompare(b.name)) * sortDir;
    });
    const frag = document.createDocumentFragment();
    for (const r of rows) {
      const tr = document.createElement("tr");
      tr.dataset.room = r.name;
      tr.title = `inspect ${r.name} (hidden)`;
      if (r.name === selected) tr.classList.add("lk-selected");
      for (const [col] of COLUMNS) {
        const td = document.createElement("td");
        td.dataset.col = col;
        td.textContent = col === "created" ? fmtCreated(r.created) : String(r[col] ?? "");
        tr.append(td);
      }
      tr.onclick = () => model.send({ t: "open", room: r.name });
      frag.append(tr);
    }
    tbody.textContent = "";
    tbody.append(frag);
  }

  function syncStatus() {
    status.textContent = model.get("status") || "";
    const e = model.get("error") || "";
    error.textContent = e ? "⚠ " + e : "";
  }

  filterInput.addEventListener("input", () => {
    filter = filterInput.value.trim().toLowerCase();
    renderRows();
  });
  model.on("change:rows", renderRows);
  model.on("change:selected", renderRows);
  model.on("change:status", syncStatus);
  model.on("change:error", syncStatus);
  buildHeader();
  renderRows();
  syncStatus();
  return () => {
    model.off("change:rows", renderRows);
    model.off("change:selected", renderRows);
    model.off("change:status", syncStatus);
    model.off("change:error", syncStatus);
  };
}

export default { render };
