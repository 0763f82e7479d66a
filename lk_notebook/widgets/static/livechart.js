// The lab's live chart (widgets/livechart.py): lines per mode over time, drawn on a canvas. Its traits and
// constants are declared in widgets/protocol.py ("the live chart"); nothing here re-declares them.
function render({ model, el }) {
  const constants = model.get("constants");
  const canvas = document.createElement("canvas");
  canvas.width = constants.width;
  canvas.height = constants.height;
  canvas.style.maxWidth = "100%";
  // Observable hooks for tests (the pixels are not): draws so far, and points drawn by the last draw.
  canvas.className = constants.css_class;
  canvas.dataset.draws = "0";
  canvas.dataset.points = "0";
  el.appendChild(canvas);
  let draws = 0;
  const ctx = canvas.getContext("2d");
  function draw() {
    const series = model.get("series");
    const colors = model.get("colors");
    const win = model.get("window");
    const L = 56, R = 12, T = 24, B = 32;
    const W = canvas.width - L - R, H = canvas.height - T - B;
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    let tmax = 0, vmax = constants.min_value;
    for (const pts of Object.values(series)) {
      for (const [t, v] of pts) { if (t > tmax) tmax = t; if (v > vmax) vmax = v; }
    }
    vmax *= 1.1;
    const t0 = Math.max(0, tmax - win), t1 = Math.max(win, tmax);
    const x = (t) => L + ((t - t0) / (t1 - t0)) * W;
    const y = (v) => T + H - (v / vmax) * H;
    ctx.font = "11px sans-serif";
    ctx.strokeStyle = "#bbb";
    ctx.fillStyle = "#444";
    ctx.strokeRect(L, T, W, H);
    for (const f of [0, 0.5, 1]) {
      const v = vmax * f;
      ctx.fillText(v.toFixed(0), 4, y(v) + 4);
    }
    ctx.fillText(t0.toFixed(1) + " s", L, T + H + 16);
    ctx.fillText(t1.toFixed(1) + " s", L + W - 40, T + H + 16);
    ctx.fillText(model.get("title"), L, 14);
    let ly = T + 14, drawn = 0;
    for (const [mode, pts] of Object.entries(series)) {
      const color = colors[mode] || constants.other_color;
      ctx.strokeStyle = color;
      ctx.lineWidth = 1.5;
      ctx.beginPath();
      pts.forEach(([t, v], i) => { if (t >= t0) { i ? ctx.lineTo(x(t), y(v)) : ctx.moveTo(x(t), y(v)); drawn++; } });
      ctx.stroke();
      ctx.fillStyle = color;
      ctx.fillText(mode, L + W - 80, ly);
      ly += 14;
    }
    canvas.dataset.draws = String(++draws);
    canvas.dataset.points = String(drawn);
  }
  model.on("change:series", draw);
  model.on("change:window", draw);
  draw();
}
export default { render };
