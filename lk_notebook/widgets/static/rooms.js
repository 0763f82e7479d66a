// RoomBrowser front end (anywidget ES module, no build step).
//
// `rows` (synced): one object a room. Its keys, and the messages this sends (open a room, refresh now), are declared
// in widgets/protocol.py and arrive in the `wire` trait; a row key's label is its column header. Sorting and
// filtering happen here; clicking a row asks the kernel to open a hidden inspector below the list. Rooms holding an
// agent are marked (class lk-has-agents).

function fmtCreated(ms) {
  if (!ms) return "";
  const d = new Date(ms);
  const today = new Date();
  const time = d.toLocaleTimeString([], { hour12: false });
  return d.toDateString() === today.toDateString() ? time : `${d.toLocaleDateString()} ${time}`;
}

function render({ model, el }) {
  const W = model.get("wire");
  const ROW = W.row; // label -> key
  const COLUMNS = Object.entries(ROW); // [label, key], in the declared order
  const TEXT_COLUMNS = [ROW.room, ROW.metadata]; // sorted a to z first; the counts and times largest first
  let sortCol = ROW.room;
  let sortDir = 1;
  let filter = "";

  const { head, status, error, filterInput, scroller, thead, tbody } = listView(el, "lk-rooms", "filter rooms");
  const title = element("b", "", { textContent: "rooms" });
  const refresh = element("button", "lk-rooms-refresh", { textContent: "↻", title: "refresh now" });
  refresh.onclick = () => model.send({ [W.refresh.tag]: W.refresh.is });
  head.append(title, status, error, filterInput, refresh);
  el.append(head, scroller);

  function buildHeader() {
    thead.textContent = "";
    const tr = document.createElement("tr");
    for (const [label, col] of COLUMNS) {
      const th = element("th", "", { textContent: sortLabel(label, col, sortCol, sortDir) });
      th.dataset.col = col;
      th.onclick = () => {
        if (sortCol === col) sortDir = -sortDir;
        else {
          sortCol = col;
          sortDir = TEXT_COLUMNS.includes(col) ? 1 : -1;
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
    const name = (r) => r[ROW.room];
    const rows = (model.get("rows") || []).filter(
      (r) =>
        !filter || name(r).toLowerCase().includes(filter) || (r[ROW.metadata] || "").toLowerCase().includes(filter),
    );
    rows.sort((a, b) => {
      const va = a[sortCol];
      const vb = b[sortCol];
      const c = typeof va === "number" && typeof vb === "number" ? va - vb : String(va).localeCompare(String(vb));
      return (c || name(a).localeCompare(name(b))) * sortDir;
    });
    const frag = document.createDocumentFragment();
    for (const r of rows) {
      const tr = element("tr", "", { title: `inspect ${name(r)} (hidden)` });
      tr.dataset.room = name(r);
      if (name(r) === selected) tr.classList.add("lk-selected");
      if (r[ROW.agents] > 0) tr.classList.add("lk-has-agents"); // an agent is in the room
      for (const [, col] of COLUMNS) {
        const td = element("td", "", { textContent: col === ROW.created ? fmtCreated(r[col]) : String(r[col] ?? "") });
        td.dataset.col = col;
        tr.append(td);
      }
      tr.onclick = () => model.send({ [W.open.tag]: W.open.is, [W.open.room]: name(r) });
      frag.append(tr);
    }
    tbody.textContent = "";
    tbody.append(frag);
  }

  function syncStatus() {
    status.textContent = model.get("status") || "";
    showError(error, model.get("error"));
  }

  filterInput.addEventListener("input", () => {
    filter = filterInput.value.trim().toLowerCase();
    renderRows();
  });
  const stop = listen(model, [
    ["change:rows", renderRows],
    ["change:selected", renderRows],
    ["change:status", syncStatus],
    ["change:error", syncStatus],
  ]);
  buildHeader();
  renderRows();
  syncStatus();
  return stop;
}

export default { render };
