// SVG charts for the explorer: a time-series line chart and a session timeline. No dependencies.

const SVG = "http://www.w3.org/2000/svg";

function el(name, attrs = {}, text = "") {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  if (text) node.textContent = text;
  return node;
}

function niceMax(value) {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

export function formatTime(epochMs, spanMs) {
  const d = new Date(epochMs);
  const pad = (n) => String(n).padStart(2, "0");
  const hm = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
  return spanMs > 36 * 3600e3 ? `${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${hm}` : hm;
}

// points: [{t: epoch ms, v: number|null}], format(v) -> text. Returns an <svg>.
export function lineChart(points, { label, format, width = 360, height = 150 }) {
  const pad = { left: 62, right: 10, top: 8, bottom: 22 };
  const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": label });
  const known = points.filter((p) => p.v !== null && Number.isFinite(p.v));
  const t0 = points.length ? points[0].t : 0;
  const t1 = points.length > 1 ? points[points.length - 1].t : t0 + 1;
  const top = niceMax(Math.max(0, ...known.map((p) => p.v)));
  const x = (t) => pad.left + ((t - t0) / (t1 - t0 || 1)) * (width - pad.left - pad.right);
  const y = (v) => height - pad.bottom - (v / top) * (height - pad.top - pad.bottom);
  for (const frac of [0, 0.5, 1]) {
    const v = top * frac;
    svg.append(el("line", { class: frac ? "grid" : "axis", x1: pad.left, x2: width - pad.right, y1: y(v), y2: y(v) }));
    svg.append(el("text", { x: pad.left - 4, y: y(v) + 4, "text-anchor": "end" }, format(v)));
  }
  const span = t1 - t0;
  for (const t of [t0, t0 + span / 2, t1]) {
    svg.append(el("text", { x: x(t), y: height - 6, "text-anchor": "middle" }, formatTime(t, span)));
  }
  let path = "";
  let pen = false;
  for (const p of points) {
    if (p.v === null || !Number.isFinite(p.v)) { pen = false; continue; }
    path += `${pen ? "L" : "M"}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`;
    pen = true;
  }
  if (path) svg.append(el("path", { class: "line", d: path }));
  for (const p of known) {
    const dot = el("circle", { class: "dot", cx: x(p.t), cy: y(p.v), r: points.length > 60 ? 1.5 : 2.5 });
    dot.append(el("title", {}, `${formatTime(p.t, span)}: ${format(p.v)}`));
    svg.append(dot);
  }
  return svg;
}

export const STATE_COLOURS = {
  playing: "#1d6b35",
  buffering: "#b3261e",
  paused: "#7a5c00",
  starting: "#5b6472",
  stopped: "#2d3440",
  not_monitored: "#6a3d9a",
  ad: "#6a3d9a",
};

// A session's timeline: a band of player states, a band of ad breaks and seeks, the bitrate as
// steps, and point events (errors, CDN changes). Times are ms from the session start:
// {duration_ms, truncated_at_ms, states: [{state, start_ms, end_ms}], bitrates: [{start_ms, end_ms, bps}],
//  bands: [{kind, label, start_ms, end_ms}], events: [{at_ms, kind, label}]}
export function timelineChart(timeline, { width = 900, height = 200 } = {}) {
  const pad = { left: 84, right: 16, top: 8, bottom: 22 };
  const duration = Math.max(1, timeline.duration_ms);
  const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "Session timeline" });
  const x = (ms) => pad.left + (Math.min(Math.max(ms, 0), duration) / duration) * (width - pad.left - pad.right);
  const band = (row, items, colour, attr) => {
    const top = pad.top + row * 30;
    for (const item of items) {
      const rect = el("rect", { x: x(item.start_ms), y: top, height: 22, width: Math.max(1, x(item.end_ms) - x(item.start_ms)),
        fill: colour(item), [attr]: item.state || item.kind });
      rect.append(el("title", {}, `${item.state || item.label}: ${(item.start_ms / 1000).toFixed(1)} s – ${(item.end_ms / 1000).toFixed(1)} s`));
      svg.append(rect);
    }
    return top;
  };
  const label = (text, y) => svg.append(el("text", { x: pad.left - 6, y, "text-anchor": "end" }, text));
  label("state", band(0, timeline.states, (s) => STATE_COLOURS[s.state] || "#5b6472", "data-state") + 15);
  label("ads, seeks", band(1, timeline.bands, (b) => (b.kind === "ad" ? STATE_COLOURS.ad : "#8a6d00"), "data-band") + 15);
  const lineTop = pad.top + 70;
  const lineBottom = height - pad.bottom - 26;
  const maxBps = niceMax(Math.max(0, ...timeline.bitrates.map((b) => b.bps)));
  const y = (bps) => lineBottom - (bps / maxBps) * (lineBottom - lineTop);
  label(`${(maxBps / 1e6).toFixed(1)} Mb/s`, lineTop + 8);
  label("bitrate", lineBottom);
  svg.append(el("line", { x1: pad.left, x2: width - pad.right, y1: lineBottom, y2: lineBottom, stroke: "#c9ced6" }));
  for (const b of timeline.bitrates) {
    const step = el("path", { d: `M${x(b.start_ms).toFixed(1)},${y(b.bps).toFixed(1)}H${x(b.end_ms).toFixed(1)}`,
      stroke: "#0b5cad", "stroke-width": 3, fill: "none", "data-bitrate": b.bps });
    step.append(el("title", {}, `${(b.bps / 1e6).toFixed(2)} Mb/s from ${(b.start_ms / 1000).toFixed(1)} s`));
    svg.append(step);
  }
  const eventsY = height - pad.bottom - 8;
  label("events", eventsY + 4);
  for (const e of timeline.events) {
    const mark = el("circle", { cx: x(e.at_ms), cy: eventsY, r: 4, fill: e.kind === "fatal" || e.kind === "error" ? "#b3261e" : "#2d3440",
      "data-event": e.kind });
    mark.append(el("title", {}, `${(e.at_ms / 1000).toFixed(1)} s: ${e.label}`));
    svg.append(mark);
  }
  if (timeline.truncated_at_ms !== null && timeline.truncated_at_ms !== undefined) {
    svg.append(el("line", { x1: x(timeline.truncated_at_ms), x2: x(timeline.truncated_at_ms), y1: pad.top, y2: eventsY, stroke: "#b3261e",
      "stroke-dasharray": "4 3" }));
  }
  for (const frac of [0, 0.25, 0.5, 0.75, 1]) {
    svg.append(el("text", { x: x(duration * frac), y: height - 6, "text-anchor": "middle" }, `${((duration * frac) / 1000).toFixed(0)} s`));
  }
  return svg;
}
