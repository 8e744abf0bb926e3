// Reelsight explorer: sign in with an API key, then charts, a breakdown, the session sample and one
// session's timeline, all read from this server's API (the same read guard and limits as any client).
import { lineChart, timelineChart, STATE_COLOURS } from "./charts.js";

const API = "/insights/3.0";
const SESSIONS = `${API}/sessions/content`;
const DIMENSIONS = `${API}/sessions/_meta/references/dimensions`;
const METRICS = `${API}/metrics`;
const TIMELINE = "/reelsight/v1/sessions"; // the timeline extension endpoint
const SAMPLE_SPAN_MS = 3 * 3600e3; // the sessions endpoint's widest window
const STORAGE_KEY = "reelsight.explore.credentials"; // sessionStorage: gone with the tab

// The charted metrics: path name, response key, how a value object reads and prints.
export const CHARTS = [
  { metric: "plays", title: "Plays", unit: "count" },
  { metric: "video-start-time", title: "Video start time", unit: "s" },
  { metric: "rebuffering-ratio", title: "Rebuffering ratio", unit: "percent" },
  { metric: "video-start-failures", title: "Video start failures", unit: "percent" },
  { metric: "video-playback-failures", title: "Video playback failures", unit: "percent" },
  { metric: "bitrate", title: "Average bitrate", unit: "bps" },
];
const FLAGS = [
  "is_video_start_failure", "is_video_start_failure_business", "is_video_start_failure_tech",
  "is_video_playback_failure", "is_video_playback_failure_business", "is_video_playback_failure_tech",
  "is_exit_before_video_start",
];

const $ = (id) => document.getElementById(id);
const state = { credentials: null, filters: [], flag: "", sample: [], sort: { key: "end", dir: -1 }, dimensions: [], tags: [] };

// -- the API ---------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, body) {
    super(body && body.message ? body.message : `HTTP ${status}`);
    this.status = status;
  }
}

async function api(path, params = []) {
  const url = new URL(path, window.location.origin);
  for (const [key, value] of params) url.searchParams.append(key, value);
  const headers = { Accept: "application/json", "X-Requested-With": "reelsight-explore" };
  if (state.credentials) headers.Authorization = `Basic ${btoa(`${state.credentials.keyId}:${state.credentials.secret}`)}`;
  const response = await fetch(url, { headers, credentials: "omit", cache: "no-store" });
  let body = null;
  try { body = await response.json(); } catch { body = null; }
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

function snake(metric) { return metric.replaceAll("-", "_"); }

// A metric's value object -> one number in the chart's unit ({count}, {percentage}, {ratio}, ...).
export function valueOf(obj, unit) {
  if (!obj || typeof obj !== "object") return null;
  // Ratios and percentages are served in percent already (docs/metrics.md "Aggregates").
  if (unit === "percent") {
    if (typeof obj.percentage === "number") return obj.percentage;
    if (typeof obj.ratio === "number") return obj.ratio;
  }
  for (const key of ["count", "value", "bps", "fps", "percentage", "ratio"]) {
    if (typeof obj[key] === "number") return obj[key];
  }
  return null;
}

export function format(v, unit) {
  if (v === null || !Number.isFinite(v)) return "–";
  switch (unit) {
    case "percent": return `${v.toFixed(v < 10 ? 2 : 1)} %`;
    case "ms": return v >= 10000 ? `${(v / 1000).toFixed(1)} s` : `${Math.round(v)} ms`;
    case "s": return `${v.toFixed(v < 10 ? 2 : 1)} s`;
    case "bps": return v >= 1e6 ? `${(v / 1e6).toFixed(2)} Mb/s` : `${Math.round(v / 1000)} kb/s`;
    default: return v >= 1e4 ? `${(v / 1000).toFixed(1)}k` : String(Math.round(v * 100) / 100);
  }
}

function windowParams() {
  const hours = Number($("window").value);
  const end = Date.now();
  const start = end - hours * 3600e3;
  return { start, end, hours };
}

function granularity(hours) {
  if (hours <= 1) return "PT1M";
  if (hours <= 3) return "PT5M";
  if (hours <= 6) return "PT15M";
  if (hours <= 24) return "PT1H";
  return "PT6H";
}

function filterParams() {
  const params = state.filters.map((f) => [f.param, f.value]);
  if (state.flag) params.push([state.flag, "true"]);
  return params;
}

// -- signing in and out -------------------------------------------------------------------------

function showSignedIn(signedIn) {
  $("sign-in").hidden = signedIn;
  $("app").hidden = !signedIn;
  $("sign-out").hidden = !signedIn;
  $("who").hidden = !signedIn;
  $("who").textContent = signedIn ? `Signed in with key ${state.credentials.keyId}` : "";
}

async function signIn(keyId, secret) {
  state.credentials = { keyId, secret };
  try {
    await api(`${API}/sessions`); // discovery: answers 200 for any valid key
  } catch (error) {
    state.credentials = null;
    throw error;
  }
  sessionStorage.setItem(STORAGE_KEY, JSON.stringify(state.credentials));
  showSignedIn(true);
  await loadReferences();
  await refresh();
}

function signOut() {
  sessionStorage.removeItem(STORAGE_KEY);
  state.credentials = null;
  state.sample = [];
  $("sign-in-form").reset();
  $("detail").hidden = true;
  showSignedIn(false);
  $("key-id").focus();
}

function explain(error) {
  if (error.status === 401) return "The API key id or secret is not right (or the key is disabled).";
  if (error.status === 429) return "Too many requests: wait a moment and try again.";
  if (error.status === 503) return `The server is busy or its store is unavailable: ${error.message}`;
  return error.message || String(error);
}

// -- references: dimensions and tag keys -------------------------------------------------------

async function loadReferences() {
  const body = await api(DIMENSIONS);
  state.dimensions = (body.dimensions || []).map((d) => d.name).filter((n) => !n.startsWith("ad_") && n !== "content_session_id");
  state.tags = body.custom_tags || body.tags || [];
  const options = [...state.dimensions.map((n) => [n, n]), ...state.tags.map((t) => [`tag_${t.name || t}`, `tag: ${t.name || t}`])];
  fillSelect($("filter-dimension"), options);
  const groupable = options.filter(([value]) => value !== "session_id" && value !== "client_id");
  fillSelect($("breakdown-dimension"), groupable, "cdn");
  fillSelect($("breakdown-metric"), CHARTS.map((c) => [c.metric, c.title]), "rebuffering-ratio");
  fillSelect($("flag"), [["", "any session"], ...FLAGS.map((f) => [f, f.replace("is_", "").replaceAll("_", " ")])], state.flag);
  loadKnownValues(); // suggestions only: not awaited, so the charts and the table do not wait for them
}

function fillSelect(select, options, selected) {
  select.replaceChildren(...options.map(([value, text]) => {
    const option = document.createElement("option");
    option.value = value;
    option.textContent = text;
    option.selected = value === selected;
    return option;
  }));
}

function groupPath(metric, param) {
  return param.startsWith("tag_")
    ? `${METRICS}/${metric}/group-by/dimension-tag/${encodeURIComponent(param.slice(4))}`
    : `${METRICS}/${metric}/group-by/${param.replaceAll("_", "-")}`;
}

async function loadKnownValues() {
  const param = $("filter-dimension").value;
  const list = $("filter-values");
  list.replaceChildren();
  if (!param) return;
  const { start, end } = windowParams();
  try {
    const body = await api(groupPath("plays", param), [["granularity", "ALL"], ["limit", "50"],
      ["start_epoch_ms", String(start)], ["end_epoch_ms", String(end)]]);
    for (const row of groups(body)) {
      const option = document.createElement("option");
      option.value = row.value;
      list.append(option);
    }
  } catch { /* known values are a convenience: typing a value still works */ }
}

// -- charts and breakdown -----------------------------------------------------------------------

function series(body) { return body.time_series || []; }
function groups(body) {
  const rows = [];
  for (const point of series(body)) for (const d of point.dimensional_data || []) rows.push({ value: d.dimension.value, metrics: d.metrics });
  return rows;
}

async function loadCharts() {
  const { start, end, hours } = windowParams();
  const params = [...CHARTS.map((c) => ["metric", c.metric]), ["granularity", granularity(hours)],
    ["start_epoch_ms", String(start)], ["end_epoch_ms", String(end)], ...filterParams()];
  const body = await api(`${METRICS}/custom-selection`, params);
  const host = $("charts");
  host.replaceChildren();
  for (const chart of CHARTS) {
    const key = snake(chart.metric);
    const points = series(body).map((p) => ({ t: p.timestamp.epoch_ms, v: valueOf(p[key], chart.unit) }));
    const figure = document.createElement("figure");
    figure.className = "chart";
    figure.dataset.metric = chart.metric;
    const title = document.createElement("h3");
    title.textContent = chart.title;
    const total = document.createElement("p");
    total.className = "total";
    total.dataset.total = String(valueOf(body.total ? body.total[key] : null, chart.unit));
    total.textContent = `whole window: ${format(valueOf(body.total ? body.total[key] : null, chart.unit), chart.unit)}`;
    figure.append(title, total, lineChart(points, { label: `${chart.title} over time`, format: (v) => format(v, chart.unit) }));
    host.append(figure);
  }
}

async function loadBreakdown() {
  const metric = $("breakdown-metric").value;
  const param = $("breakdown-dimension").value;
  const chart = CHARTS.find((c) => c.metric === metric) || CHARTS[0];
  const { start, end } = windowParams();
  const [body, plays] = await Promise.all([
    api(groupPath(metric, param), [["granularity", "ALL"], ["limit", "15"], ["start_epoch_ms", String(start)],
      ["end_epoch_ms", String(end)], ...filterParams()]),
    api(groupPath("plays", param), [["granularity", "ALL"], ["limit", "500"], ["start_epoch_ms", String(start)],
      ["end_epoch_ms", String(end)], ...filterParams()]),
  ]);
  const playsBy = new Map(groups(plays).map((r) => [r.value, valueOf(r.metrics.plays, "count")]));
  const rows = groups(body).map((r) => ({ value: r.value, v: valueOf(r.metrics[snake(metric)], chart.unit) }));
  const top = Math.max(0, ...rows.map((r) => r.v || 0)) || 1;
  const tbody = $("breakdown").tBodies[0];
  tbody.replaceChildren(...rows.map((r) => {
    const tr = document.createElement("tr");
    const bar = document.createElement("div");
    bar.className = "bar-fill";
    bar.style.width = `${Math.round(((r.v || 0) / top) * 100)}%`;
    tr.append(cell(r.value === "" ? "(none)" : r.value), cell(format(r.v, chart.unit), "num"),
      cell(format(playsBy.get(r.value) ?? null, "count"), "num"), cellWith(bar, "bar-cell"));
    return tr;
  }));
}

// -- the session sample ---------------------------------------------------------------------------

const COLUMNS = [
  { key: "end", title: "Ended (UTC)", get: (s) => s.timestamps.end.epoch_ms, show: (v) => new Date(v).toISOString().slice(0, 19).replace("T", " ") },
  { key: "asset", title: "Asset", get: (s) => s.content_info.asset },
  { key: "device", title: "Device", get: (s) => s.device_info.name || s.device_info.os },
  { key: "cdn", title: "CDN", get: (s) => (s.network_info.cdn || []).join(", ") },
  { key: "city", title: "City", get: (s) => s.geo_info.city },
  { key: "vst", title: "Start time", num: true, get: (s) => s.lifetime_metrics.video_start_time_ms, show: (v) => (v < 0 ? "never" : format(v, "ms")) },
  { key: "rebuf", title: "Rebuffering", num: true, get: (s) => s.lifetime_metrics.rebuffering_ratio_percent, show: (v) => format(v, "percent") },
  { key: "playing", title: "Playing", num: true, get: (s) => s.lifetime_metrics.playing_time_ms, show: (v) => format(v, "ms") },
  { key: "bitrate", title: "Bitrate", num: true, get: (s) => s.lifetime_metrics.average_peak_bitrate_bps, show: (v) => format(v, "bps") },
  { key: "outcome", title: "Outcome", get: outcome },
];

export function outcome(s) {
  const st = s.status_info;
  if (st.is_video_start_failure) return "start failure";
  if (st.is_video_playback_failure) return "playback failure";
  if (st.is_exit_before_video_start) return "exit before start";
  return "played";
}

async function loadSample() {
  const { start, end } = windowParams();
  const from = Math.max(start, end - SAMPLE_SPAN_MS);
  const body = await api(SESSIONS, [["limit", "1500"], ["start_epoch_ms", String(from)], ["end_epoch_ms", String(end)], ...filterParams()]);
  state.sample = body.sessions || [];
  const span = end - from < SAMPLE_SPAN_MS ? "" : " of the last 3 hours (the sessions endpoint's widest window)";
  $("sessions-note").textContent = `(${state.sample.length} sampled${span})`;
  renderSample();
}

function renderSample() {
  const table = $("sessions");
  const head = table.tHead.rows[0];
  head.replaceChildren(...COLUMNS.map((c) => {
    const th = document.createElement("th");
    th.scope = "col";
    if (c.num) th.className = "num";
    const sorted = state.sort.key === c.key;
    th.setAttribute("aria-sort", sorted ? (state.sort.dir > 0 ? "ascending" : "descending") : "none");
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = c.title + (sorted ? (state.sort.dir > 0 ? " ▲" : " ▼") : "");
    button.addEventListener("click", () => {
      state.sort = { key: c.key, dir: sorted ? -state.sort.dir : c.num ? -1 : 1 };
      renderSample();
    });
    th.append(button);
    return th;
  }));
  const column = COLUMNS.find((c) => c.key === state.sort.key) || COLUMNS[0];
  const keyed = state.sample.map((s) => [column.get(s), s]);
  keyed.sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0) * state.sort.dir);
  // Rows are built once per sample and only re-ordered when sorting (1,500 rows stay smooth).
  const fragment = document.createDocumentFragment();
  for (const [, s] of keyed) fragment.append(rowOf(s));
  table.tBodies[0].replaceChildren(fragment);
}

const rowCache = new WeakMap();

function rowOf(s) {
  let tr = rowCache.get(s);
  if (tr) return tr;
  tr = document.createElement("tr");
  tr.tabIndex = 0;
  tr.dataset.session = s.conviva_session_id;
  for (const c of COLUMNS) {
    const v = c.get(s);
    const td = cell(c.show ? c.show(v) : v, c.num ? "num" : "");
    if (c.key === "outcome" && v !== "played") td.classList.add("flag-bad");
    tr.append(td);
  }
  tr.addEventListener("click", () => openSession(s));
  tr.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); openSession(s); } });
  rowCache.set(s, tr);
  return tr;
}

function cell(text, className = "") {
  const td = document.createElement("td");
  td.textContent = text === undefined || text === null ? "" : String(text);
  if (className) td.className = className;
  return td;
}

function cellWith(node, className) {
  const td = document.createElement("td");
  td.className = className;
  td.append(node);
  return td;
}

// -- one session --------------------------------------------------------------------------------

async function openSession(s) {
  const detail = $("detail");
  detail.hidden = false;
  $("detail-title").textContent = `Session ${s.conviva_session_id}`;
  const m = s.lifetime_metrics;
  const fields = [
    ["Asset", s.content_info.asset], ["Started (UTC)", s.timestamps.start.iso_date], ["Ended (UTC)", s.timestamps.end.iso_date],
    ["Ended", s.status_info.ended_status], ["Outcome", outcome(s)], ["Video start time", m.video_start_time_ms < 0 ? "never joined" : format(m.video_start_time_ms, "ms")],
    ["Playing", format(m.playing_time_ms, "ms")], ["Rebuffering", `${format(m.rebuffering_time_ms, "ms")} (${format(m.rebuffering_ratio_percent, "percent")})`],
    ["Bitrate", format(m.average_peak_bitrate_bps, "bps")], ["Device", [s.device_info.name, s.device_info.os].filter(Boolean).join(" · ")],
    ["Network", [(s.network_info.cdn || []).join(", "), s.network_info.isp, s.geo_info.city].filter(Boolean).join(" · ")],
    ["Errors", s.status_info.errors.map((e) => `${e.is_fatal ? "fatal: " : ""}${e.message}`).join("; ") || "none"],
  ];
  $("detail-fields").replaceChildren(...fields.flatMap(([k, v]) => {
    const dt = document.createElement("dt");
    dt.textContent = k;
    const dd = document.createElement("dd");
    dd.textContent = v;
    return [dt, dd];
  }));
  $("detail-json").textContent = JSON.stringify(s, null, 2);
  const host = $("timeline");
  host.replaceChildren(document.createTextNode("Loading the timeline…"));
  detail.focus();
  try {
    const timeline = await loadTimeline(s);
    host.replaceChildren(legend(), timelineChart(timeline));
  } catch (error) {
    host.replaceChildren(document.createTextNode(error.status === 404
      ? "No timeline for this session (imported sessions and sessions older than the timeline feature have none)."
      : `The timeline could not be loaded: ${explain(error)}`));
  }
}

function legend() {
  const div = document.createElement("div");
  div.className = "legend";
  for (const [name, colour] of Object.entries(STATE_COLOURS)) {
    if (name === "ad") continue;
    const item = document.createElement("span");
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = colour;
    item.append(swatch, document.createTextNode(name.replace("_", " ")));
    div.append(item);
  }
  return div;
}

// The served timeline (reelsight extension endpoint), in ms from the session start for the chart.
async function loadTimeline(s) {
  const kind = s.tags.selected_dimensions.content_session_id ? "ad" : "content";
  const body = await api(`${TIMELINE}/${kind}/${encodeURIComponent(s.conviva_session_id)}/timeline`);
  return normaliseTimeline(body);
}

export function normaliseTimeline(body) {
  const t0 = body.start_ms;
  const span = (x) => ({ start_ms: x.start_ms - t0, end_ms: x.end_ms - t0 });
  return {
    duration_ms: body.end_ms - t0,
    truncated_at_ms: body.truncated_at_ms === null ? null : body.truncated_at_ms - t0,
    states: (body.states || []).map((x) => ({ ...span(x), state: x.state })),
    bitrates: (body.bitrates || []).map((x) => ({ ...span(x), bps: x.bitrate_bps })),
    bands: [
      ...(body.ad_breaks || []).map((x) => ({ ...span(x), kind: "ad", label: `ad break${x.position ? ` (${x.position})` : ""}` })),
      ...(body.seeks || []).map((x) => ({ ...span(x), kind: "seek", label: "seek" })),
    ],
    events: [
      ...(body.errors || []).map((x) => ({ at_ms: x.at_ms - t0, kind: x.is_fatal ? "fatal" : "error",
        label: `${x.is_fatal ? "fatal error" : "error"}: ${x.message}` })),
      ...(body.cdns || []).slice(1).map((x) => ({ at_ms: x.start_ms - t0, kind: "cdn", label: `CDN ${x.cdn}` })),
    ],
  };
}

// -- wiring -------------------------------------------------------------------------------------

async function refresh() {
  $("app-error").hidden = true;
  $("status").textContent = "Loading…";
  const started = performance.now();
  const results = await Promise.allSettled([loadCharts(), loadBreakdown(), loadSample()]);
  const failed = results.find((r) => r.status === "rejected");
  if (failed) {
    if (failed.reason && failed.reason.status === 401) { signOut(); return; }
    $("app-error").textContent = explain(failed.reason);
    $("app-error").hidden = false;
  }
  $("status").textContent = `Updated in ${Math.round(performance.now() - started)} ms`;
  // When the page first showed everything, in ms since navigation (read by bench/bench_explore.py).
  if (!document.body.dataset.readyMs) document.body.dataset.readyMs = String(Math.round(performance.now()));
}

function renderFilters() {
  $("filters").replaceChildren(...state.filters.map((f, i) => {
    const li = document.createElement("li");
    li.textContent = `${f.param} = ${f.value === "" ? "(none)" : f.value}`;
    const remove = document.createElement("button");
    remove.type = "button";
    remove.setAttribute("aria-label", `Remove filter ${f.param} = ${f.value}`);
    remove.textContent = "×";
    remove.addEventListener("click", () => { state.filters.splice(i, 1); renderFilters(); refresh(); });
    li.append(remove);
    return li;
  }));
}

function main() {
  $("sign-in-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = $("sign-in-error");
    error.hidden = true;
    try {
      await signIn($("key-id").value.trim(), $("secret").value);
      $("secret").value = "";
    } catch (e) {
      error.textContent = explain(e);
      error.hidden = false;
    }
  });
  $("sign-out").addEventListener("click", signOut);
  $("refresh").addEventListener("click", refresh);
  $("window").addEventListener("change", refresh);
  $("flag").addEventListener("change", () => { state.flag = $("flag").value; refresh(); });
  $("filter-dimension").addEventListener("change", loadKnownValues);
  $("filter-form").addEventListener("submit", (event) => {
    event.preventDefault();
    state.filters.push({ param: $("filter-dimension").value, value: $("filter-value").value });
    $("filter-value").value = "";
    renderFilters();
    refresh();
  });
  $("breakdown-metric").addEventListener("change", () => loadBreakdown().catch(showError));
  $("breakdown-dimension").addEventListener("change", () => loadBreakdown().catch(showError));
  $("detail-close").addEventListener("click", () => { $("detail").hidden = true; });
  const saved = sessionStorage.getItem(STORAGE_KEY);
  if (saved) {
    const { keyId, secret } = JSON.parse(saved);
    signIn(keyId, secret).catch(() => signOut());
  } else {
    showSignedIn(false);
  }
}

function showError(error) {
  $("app-error").textContent = explain(error);
  $("app-error").hidden = false;
}

main();
