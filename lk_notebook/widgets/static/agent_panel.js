// AgentPanel front end (anywidget ES module, no build step).
//
// The kernel sends `AgentPanelDelta`s (widgets/protocol.py, "the agent panel"): lines to add or replace, text that
// grew on a streaming reply, lines to drop, state changes, tool rows and turn rows. Every key, the state colours and
// the latency phases arrive in the `wire` trait: nothing here re-declares them. A new view says hello and gets
// everything once. Times are milliseconds since the epoch; latencies seconds.

const STRIP_REFRESH_MS = 1000; // the current state's segment grows with time, between deltas too

function fmtSeconds(s) {
  return s == null ? "–" : s < 1 ? `${Math.round(s * 1000)} ms` : `${s.toFixed(2)} s`;
}

function fmtClock(ms) {
  return new Date(ms).toLocaleTimeString([], { hour12: false });
}

function render({ model, el }) {
  const W = model.get("wire");
  const D = W.delta;
  const L = W.line;
  const G = W.grow;
  const S = W.state;
  const T = W.tool;
  const B = W.turn;
  const COLORS = W.colors;

  el.classList.add("lk-agent");
  const head = element("div", "lk-agent-head");
  const title = element("b", "lk-agent-title");
  const agentPill = element("span", "lk-agent-state");
  const userPill = element("span", "lk-agent-user-state");
  const note = element("span", "lk-agent-note");
  const legend = element("span", "lk-agent-legend");
  for (const [state, color] of Object.entries(COLORS)) {
    const sw = element("span", "lk-agent-swatch", { textContent: state });
    sw.style.borderLeftColor = color;
    legend.append(sw);
  }
  head.append(title, agentPill, userPill, note, legend);

  const strip = element("div", "lk-agent-strip");
  const lanes = {};
  for (const who of W.who) {
    const lane = element("div", "lk-agent-lane");
    lane.dataset.who = who;
    const track = element("div", "lk-agent-lane-track");
    lane.append(element("span", "lk-agent-lane-label", { textContent: who }), track);
    strip.append(lane);
    lanes[who] = { track, points: [] };
  }
  const axis = element("div", "lk-agent-axis");
  strip.append(axis);

  const body = element("div", "lk-agent-body");
  const transcript = element("div", "lk-agent-transcript");
  const side = element("div", "lk-agent-side");
  const tools = element("table", "lk-agent-tools");
  const toolsHead = element("thead");
  toolsHead.innerHTML = "<tr><th>tool</th><th>arguments</th><th>output</th><th>took</th></tr>";
  const toolsBody = element("tbody");
  tools.append(toolsHead, toolsBody);
  const turnsBox = element("div", "lk-agent-turns");
  side.append(element("div", "lk-agent-caption", { textContent: "tool calls" }), tools);
  const phaseLegend = element("div", "lk-agent-caption", { textContent: "turns, from the user's message to " });
  W.phases.forEach(([, label, color], i) => {
    phaseLegend.append(element("span", "lk-agent-swatch", { textContent: label, style: `border-left-color:${color}` }));
    if (i + 1 < W.phases.length) phaseLegend.append(" ");
  });
  side.append(phaseLegend, turnsBox);
  body.append(transcript, side);
  el.append(head, strip, body);

  const lines = new Map(); // key -> {node, text node, at}
  const toolRows = new Map();
  const turnRows = new Map(); // turn number -> row

  function syncHead() {
    title.textContent = model.get("title");
    for (const [pill, who, value] of [
      [agentPill, W.who[0], model.get("agent_state")],
      [userPill, W.who[1], model.get("user_state")],
    ]) {
      pill.textContent = `${who}: ${value || "?"}`;
      pill.dataset.state = value;
      pill.style.background = COLORS[value] || "#eee";
    }
    note.textContent = model.get("note") ? "⚠ " + model.get("note") : "";
    note.title = model.get("note") || "";
  }

  // -- transcript ---------------------------------------------------------------------------------------------
  function upsertLine(l) {
    const key = l[L.key];
    let entry = lines.get(key);
    if (!entry) {
      const node = element("div", "lk-agent-line");
      const role = element("span", "lk-agent-role");
      const text = element("span", "lk-agent-text");
      node.append(element("span", "lk-agent-time"), role, text);
      entry = { node, role, text, at: l[L.at] };
      lines.set(key, entry);
      // Lines arrive nearly in time order: insert before the first later line, scanning back from the end.
      let after = transcript.lastElementChild;
      while (after && lines.get(after.dataset.key).at > l[L.at]) after = after.previousElementSibling;
      node.dataset.key = key;
      if (after) after.after(node);
      else transcript.prepend(node);
    }
    entry.at = l[L.at];
    entry.node.dataset.role = l[L.role];
    entry.node.dataset.final = String(l[L.final]);
    entry.node.classList.toggle("lk-agent-interrupted", !!l[L.interrupted]);
    entry.node.firstChild.textContent = fmtClock(l[L.at]);
    entry.role.textContent = l[L.role];
    entry.text.textContent = l[L.text];
  }

  function growLine(g) {
    const entry = lines.get(g[G.key]);
    if (!entry) return;
    entry.text.textContent += g[G.add];
    entry.node.dataset.final = String(g[G.final]);
  }

  // -- state strip --------------------------------------------------------------------------------------------
  function drawStrip() {
    const all = W.who.flatMap((who) => lanes[who].points);
    if (!all.length) return;
    const start = Math.min(...all.map((p) => p[S.at]));
    const end = Math.max(Date.now(), ...all.map((p) => p[S.at]));
    const span = Math.max(end - start, 1);
    for (const who of W.who) {
      const { track, points } = lanes[who];
      const frag = document.createDocumentFragment();
      points.forEach((p, i) => {
        const next = i + 1 < points.length ? points[i + 1][S.at] : end;
        const seg = element("div", "lk-agent-seg", { title: `${p[S.state]} at ${fmtClock(p[S.at])}` });
        seg.dataset.state = p[S.state];
        seg.style.left = `${((p[S.at] - start) / span) * 100}%`;
        seg.style.width = `${(Math.max(next - p[S.at], 0) / span) * 100}%`;
        seg.style.background = COLORS[p[S.state]] || "#ccc";
        frag.append(seg);
      });
      track.textContent = "";
      track.append(frag);
    }
    axis.textContent = `${fmtClock(start)} … ${fmtClock(end)} (${fmtSeconds(span / 1000)})`;
  }

  function addStates(points) {
    for (const p of points) {
      const lane = lanes[p[S.who]];
      if (!lane) continue;
      lane.points.push(p);
      lane.points.sort((a, b) => a[S.at] - b[S.at]);
    }
  }

  // -- tools and turns ----------------------------------------------------------------------------------------
  function upsertTool(t) {
    let tr = toolRows.get(t[T.key]);
    if (!tr) {
      tr = element("tr", "lk-agent-tool");
      for (const col of [T.name, T.arguments, T.output, T.duration]) {
        const td = element("td");
        td.dataset.col = col;
        tr.append(td);
      }
      toolRows.set(t[T.key], tr);
      toolsBody.append(tr);
    }
    tr.dataset.name = t[T.name];
    tr.dataset.status = t[T.status];
    tr.classList.toggle("lk-agent-tool-error", !!t[T.is_error]);
    const [name, args, output, took] = tr.children;
    name.textContent = t[T.name];
    args.textContent = t[T.arguments];
    output.textContent = t[T.output] ?? `(${t[T.status]})`;
    output.title = t[T.output] ?? "";
    took.textContent = fmtSeconds(t[T.duration]);
  }

  function drawTurns() {
    const phases = W.phases; // [field, label, colour]
    const rows = [...turnRows.values()].sort((a, b) => a[B.turn] - b[B.turn]);
    const longest = Math.max(0.001, ...rows.flatMap((r) => phases.map(([f]) => r[B[f]] || 0)));
    const frag = document.createDocumentFragment();
    for (const r of rows) {
      const row = element("div", "lk-agent-turn", { title: r[B.user] });
      row.dataset.turn = r[B.turn];
      const bar = element("div", "lk-agent-bar");
      const reached = phases.filter(([f]) => r[B[f]] != null).sort((a, b) => r[B[a[0]]] - r[B[b[0]]]);
      let from = 0;
      for (const [f, label, color] of reached) {
        const to = r[B[f]];
        const seg = element("div", "lk-agent-phase", { title: `${label}: ${fmtSeconds(to)}` });
        seg.dataset.phase = f;
        seg.style.left = `${(from / longest) * 100}%`;
        seg.style.width = `max(2px, ${((to - from) / longest) * 100}%)`;
        seg.style.background = color;
        bar.append(seg);
        from = to;
      }
      const final = r[B.to_final];
      const numbers = element("span", "lk-agent-latency");
      phases.forEach(([f, label, color], i) => {
        if (i) numbers.append(" · ");
        numbers.append(element("span", "", { textContent: fmtSeconds(r[B[f]]), title: label, style: `color:${color}` }));
      });
      const tools = r[B.tools] ? ` · ${r[B.tools]}` : "";
      numbers.append(element("span", "lk-agent-tokens", {
        textContent: ` · ${r[B.input_tokens]}→${r[B.output_tokens]} tok${tools}`,
      }));
      row.append(
        element("span", "lk-agent-turn-label", { textContent: `#${r[B.turn]} ${r[B.user]}` }),
        bar,
        element("span", "lk-agent-final", { textContent: final == null ? "…" : fmtSeconds(final) }),
        numbers,
      );
      frag.append(row);
    }
    turnsBox.textContent = "";
    turnsBox.append(frag);
  }

  function apply(msg) {
    if (msg[D.tag] !== D.is) return;
    if (msg[D.reset]) {
      lines.clear();
      toolRows.clear();
      turnRows.clear();
      transcript.textContent = "";
      toolsBody.textContent = "";
      for (const who of W.who) lanes[who].points = [];
    }
    const stick = transcript.scrollTop + transcript.clientHeight >= transcript.scrollHeight - 4;
    for (const l of msg[D.lines] || []) upsertLine(l);
    for (const g of msg[D.grow] || []) growLine(g);
    for (const key of msg[D.drop] || []) {
      const entry = lines.get(key);
      if (entry) entry.node.remove();
      lines.delete(key);
    }
    if (stick) transcript.scrollTop = transcript.scrollHeight; // follow the conversation unless scrolled up
    if (msg[D.states]) addStates(msg[D.states]);
    for (const t of msg[D.tools] || []) upsertTool(t);
    if (msg[D.turns]) {
      for (const r of msg[D.turns]) turnRows.set(r[B.turn], r);
      drawTurns();
    }
    drawStrip();
  }

  const timer = setInterval(drawStrip, STRIP_REFRESH_MS);
  const onMsg = (msg) => apply(msg);
  const stop = listen(model, [
    ["msg:custom", onMsg],
    ["change:title", syncHead],
    ["change:agent_state", syncHead],
    ["change:user_state", syncHead],
    ["change:note", syncHead],
  ]);
  syncHead();
  model.send({ [W.hello.tag]: W.hello.is });
  return () => {
    clearInterval(timer);
    stop();
  };
}

export default { render };
