// Shared by the widgets' front ends. Python puts this file before each widget's own module (widgets/_static.py),
// so these are plain top-level functions of that one ES module: no import, no build step.

// A new element with a class and properties: element("input", "lk-table-filter", { type: "search" }).
function element(tag, className = "", props = {}) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  return Object.assign(e, props);
}

// What every list view has: a head line (status, error, filter) above a scrolled table. `prefix` is the view's CSS
// class and the start of its parts' classes (`lk-table-status`, `lk-rooms-filter`, ...). The caller lays out the
// head and appends the parts to `el`.
function listView(el, prefix, filterPlaceholder) {
  el.classList.add(prefix);
  const parts = {
    head: element("div", `${prefix}-head`),
    status: element("span", `${prefix}-status`),
    error: element("span", `${prefix}-error`),
    filterInput: element("input", `${prefix}-filter`, { type: "search", placeholder: filterPlaceholder }),
    scroller: element("div", `${prefix}-scroll`),
    table: element("table"),
    thead: element("thead"),
    tbody: element("tbody"),
  };
  parts.table.append(parts.thead, parts.tbody);
  parts.scroller.append(parts.table);
  return parts;
}

function showError(span, text) {
  span.textContent = text ? "⚠ " + text : "";
}

// A header's text: its label, and an arrow on the sorted column.
function sortLabel(label, col, sortCol, sortDir) {
  return label + (col === sortCol ? (sortDir > 0 ? " ▲" : " ▼") : "");
}

// {label: key}, as the kernel sends a message's schema (widgets/protocol.py), turned into {key: label}.
function labelsByKey(schema) {
  return Object.fromEntries(Object.entries(schema).map(([label, key]) => [key, label]));
}

// model.on for every [event, handler]; returns the cleanup anywidget calls when the view goes away.
function listen(model, handlers) {
  for (const [event, handler] of handlers) model.on(event, handler);
  return () => {
    for (const [event, handler] of handlers) model.off(event, handler);
  };
}
