"""What the AgentPanel browser tests look for on the page, shared by the replayed and the live test."""

from __future__ import annotations

# What overflows its box (a cut row) or spans two lines (a wrapped one), by class.
LAYOUT_PROBLEMS = """() => {
  const out = [];
  const oneLine = [".lk-agent-head", ".lk-agent-lane", ".lk-agent-caption", ".lk-agent-latency", ".lk-agent-tools td"];
  for (const sel of oneLine) {
    for (const e of document.querySelectorAll(sel)) {
      if (e.scrollWidth > e.clientWidth + 1) out.push(`${sel} is cut (${e.scrollWidth} > ${e.clientWidth})`);
    }
  }
  for (const sel of [".lk-agent-chat-reason", ".lk-agent-turn-label", ".lk-agent-role"]) {
    for (const e of document.querySelectorAll(sel)) {
      const line = parseFloat(getComputedStyle(e).lineHeight) || 16;
      if (e.getBoundingClientRect().height > 1.8 * line) out.push(`${sel} wraps`);
    }
  }
  const tops = [...document.querySelectorAll(".lk-agent-panel button")].map((b) => b.getBoundingClientRect().top);
  if (new Set(tops.map(Math.round)).size > 2) out.push(`buttons on ${new Set(tops).size} rows`);
  const panel = document.querySelector(".lk-agent-panel").getBoundingClientRect();
  if (panel.right > window.innerWidth) out.push(`panel wider than the page (${panel.right})`);
  return out;
}"""
