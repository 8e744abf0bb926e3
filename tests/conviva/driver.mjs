// Test driver: runs the real Conviva JS core SDK (npm @convivainc/conviva-js-coresdk, pinned in
// package.json) in Node.js against a gateway URL and records ground truth for the Python tests.
//
// Usage: node driver.mjs < input.json > output.json
//
// Input (one JSON object on stdin):
//   gatewayUrl   string, http:// or https:// (passed to the SDK as Constants.GATEWAY_URL)
//   customerKey  string
//   sessions     [SCENARIO, ...], all run concurrently in one SDK instance
//   device       optional {brand, manufacturer, model, type, version, osName, osVersion, category,
//                screenWidth, screenHeight, scaleFactor} -> Analytics.setDeviceMetadata
//   blockHosts   optional bool, default true: requests to any host other than gatewayUrl's host
//                (the SDK's ipv4./ipv6. probe sessions, pings.conviva.com) are never sent, only
//                recorded in the output's "blocked"
//   timeoutS     optional number, default 60: hard timeout; then the output so far is printed and
//                the driver exits 2
//   debug        optional bool: SDK log lines (and driver notes) go to stderr
//
// SCENARIO = {"name": str, "contentInfo": {...}, "steps": [[at_ms, action, ...args], ...]}
//   at_ms is ms after the driver's start (shared by all scenarios), non-decreasing per scenario,
//   plus the time the scenario spent waiting in its earlier "sync" steps. Actions: see ACTIONS below.
//   ["sync", mod, rem]: wait until a heartbeat of this session is answered (any status) such that
//   then, with none in flight, the number of heartbeats it has sent is = rem (mod mod); the steps
//   after it are delayed by the time waited, so they keep their spacing from the sync. The step
//   right after runs in the same tick as that answer, so it lands in the next heartbeat (e.g.
//   ["sync", 3, 2] then "ended": the end travels in the session's 3rd, 6th, 9th... heartbeat).
//   Its "epoch_ms" in the output is when it was satisfied.
//   Ads (the SDK's AdAnalytics, built once per scenario on its VideoAnalytics; one ad at a time, each
//   its own ad session): ["ad_started", name, adInfo] reportAdStarted(adInfo) opens ad `name`;
//   ["ad_state", state], ["ad_bitrate", kbps] reportAdMetric; ["ad_event", eventName]
//   reportAdPlayerEvent; ["ad_error", msg, fatal] reportAdError; ["ad_ended"] reportAdEnded,
//   ["ad_skipped"] reportAdSkipped: they act on the open ad. ["ad_failed", name, msg, adInfo?]
//   reportAdFailed: fails the open ad (which must be `name`), or with none open opens and ends ad
//   `name` in one heartbeat. Ad names are unique per scenario.
//
// Output (one JSON object on stdout, at the end):
//   {"sessions": [{"name", "sid", "clid", "end", "actions": [{"action", "args", "at_ms", "epoch_ms"}],
//                  "heartbeats", "answers": {"200": n, ...}, "suppressed", "requests": [...]}],
//    "blocked": [{"method", "url", "epoch_ms"}], "clientId", "sdkVersion", "timedOut", "elapsed_ms"}
//   sid: from the session's seq-0 heartbeat (sent synchronously inside reportPlaybackRequested).
//   end: "ended" | "failed" | "vanished" | "open" (no end reported; the SDK is not released at exit).
//   heartbeats: requests actually sent; answers: {"200": n, "500": n, "error": n, "timeout": n};
//   suppressed: requests swallowed after a vanish; requests: [{"seq", "sent_ms", "status",
//   "rtt_ms", "events": [event seq...], "end": bool}] per sent heartbeat; ads: [{"name", "sid", "clid",
//   "end" ("ended" | "skipped" | "failed" | "open"), "heartbeats", "answers", "requests"}] in the
//   order opened, each sid from the ad session's seq-0 heartbeat.
//   clientId: the clId in the SDK's stored sdkConfig at exit (else the last clid seen).
// The driver exits when every scenario ran its last step and, per session: the heartbeat carrying
// the session end was answered (ended/failed), or it vanished, or (open) a heartbeat sent after the
// last step was answered; and no request of it is still in flight; and the same for each ended ad.
//
// "vanish": release() makes the SDK send an end heartbeat, so a vanish is emulated: from that
// moment the driver silently drops (never sends; callback ok=false) every request of that
// session's sid, then calls release() so the SDK stops its timers. The gateway sees nothing more.
//
// Exit codes: 0 done, 1 bad input, 2 hard timeout (output still printed), 3 driver crash.

import { createRequire } from 'node:module';
import http from 'node:http';
import https from 'node:https';

const require = createRequire(import.meta.url);
const Conviva = require('@convivainc/conviva-js-coresdk');
const C = Conviva.Constants;

const T0 = Date.now();
let debug = false;

function note(msg) {
  if (debug) process.stderr.write(`[driver +${Date.now() - T0}ms] ${msg}\n`);
}

class InputError extends Error {}

function fail(msg) {
  throw new InputError(msg);
}

const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const isNum = (v) => typeof v === 'number' && Number.isFinite(v);
const isStr = (v) => typeof v === 'string';
const isBool = (v) => typeof v === 'boolean';
const isInt = (v) => Number.isInteger(v);

// action -> [required arg checkers, optional arg checkers]
const ARGS = {
  requested: [[], []],
  state: [[(v) => isStr(v) && Object.hasOwn(C.PlayerState, v)], []],
  bitrate: [[isNum], []],
  playhead: [[isNum], []],
  framerate: [[isNum], []],
  cdn_ip: [[isStr], []],
  resource: [[isStr], []],
  seek_start: [[isNum], []],
  seek_end: [[], [isNum]],
  error: [[isStr, isBool], []],
  failed: [[isStr], []],
  ad_break_start: [[isStr, isNum], [isInt]],
  ad_break_end: [[], []],
  custom: [[isStr], [(v) => isObj(v) && Object.values(v).every(isStr)]],
  ended: [[], []],
  vanish: [[], []],
  wait: [[], []],
  sync: [[(v) => isInt(v) && v >= 1, (v) => isInt(v) && v >= 0], []],
  ad_started: [[isStr, isObj], []],
  ad_state: [[(v) => isStr(v) && Object.hasOwn(C.PlayerState, v)], []],
  ad_bitrate: [[isNum], []],
  ad_event: [[isStr], []],
  ad_error: [[isStr, isBool], []],
  ad_ended: [[], []],
  ad_skipped: [[], []],
  ad_failed: [[isStr, isStr], [isObj]],
};
const TERMINAL = new Set(['ended', 'failed', 'vanish']);
const ON_OPEN_AD = new Set(['ad_state', 'ad_bitrate', 'ad_event', 'ad_error', 'ad_ended', 'ad_skipped']);

const DEVICE_KEYS = {
  brand: [C.DeviceMetadata.BRAND, isStr],
  manufacturer: [C.DeviceMetadata.MANUFACTURER, isStr],
  model: [C.DeviceMetadata.MODEL, isStr],
  type: [C.DeviceMetadata.TYPE, isStr],
  version: [C.DeviceMetadata.VERSION, isStr],
  osName: [C.DeviceMetadata.OS_NAME, isStr],
  osVersion: [C.DeviceMetadata.OS_VERSION, isStr],
  category: [C.DeviceMetadata.CATEGORY, isStr],
  screenWidth: [C.DeviceMetadata.SCREEN_RESOLUTION_WIDTH, isNum],
  screenHeight: [C.DeviceMetadata.SCREEN_RESOLUTION_HEIGHT, isNum],
  scaleFactor: [C.DeviceMetadata.SCREEN_RESOLUTION_SCALE_FACTOR, isNum],
};

const TOP_KEYS = new Set(['gatewayUrl', 'customerKey', 'sessions', 'device', 'blockHosts', 'timeoutS', 'debug']);

function validate(input) {
  if (!isObj(input)) fail('input must be a JSON object');
  for (const k of Object.keys(input)) if (!TOP_KEYS.has(k)) fail(`unknown input key ${JSON.stringify(k)}`);
  if (!isStr(input.gatewayUrl) || !/^https?:\/\/[^/]/.test(input.gatewayUrl)) {
    fail('gatewayUrl must be an http:// or https:// URL (the SDK silently ignores anything else)');
  }
  try {
    new URL(input.gatewayUrl);
  } catch {
    fail(`gatewayUrl is not a valid URL: ${input.gatewayUrl}`);
  }
  if (!isStr(input.customerKey) || input.customerKey === '') fail('customerKey must be a non-empty string');
  if (input.blockHosts !== undefined && !isBool(input.blockHosts)) fail('blockHosts must be a boolean');
  if (input.debug !== undefined && !isBool(input.debug)) fail('debug must be a boolean');
  if (input.timeoutS !== undefined && !(isNum(input.timeoutS) && input.timeoutS > 0)) {
    fail('timeoutS must be a positive number');
  }
  if (input.device !== undefined) {
    if (!isObj(input.device)) fail('device must be an object');
    for (const [k, v] of Object.entries(input.device)) {
      if (!Object.hasOwn(DEVICE_KEYS, k)) fail(`unknown device key ${JSON.stringify(k)}`);
      if (!DEVICE_KEYS[k][1](v)) fail(`device.${k} has the wrong type`);
    }
  }
  if (!Array.isArray(input.sessions) || input.sessions.length === 0) fail('sessions must be a non-empty array');
  const names = new Set();
  input.sessions.forEach((sc, i) => {
    const where = `sessions[${i}]`;
    if (!isObj(sc)) fail(`${where} must be an object`);
    for (const k of Object.keys(sc)) {
      if (!['name', 'contentInfo', 'steps'].includes(k)) fail(`${where}: unknown key ${JSON.stringify(k)}`);
    }
    if (!isStr(sc.name) || sc.name === '') fail(`${where}.name must be a non-empty string`);
    if (names.has(sc.name)) fail(`${where}: duplicate name ${JSON.stringify(sc.name)}`);
    names.add(sc.name);
    if (sc.contentInfo !== undefined) {
      if (!isObj(sc.contentInfo)) fail(`${where}.contentInfo must be an object`);
      for (const [k, v] of Object.entries(sc.contentInfo)) {
        if (!(v === null || isStr(v) || isNum(v))) fail(`${where}.contentInfo[${JSON.stringify(k)}] must be a string, number or null`);
      }
    }
    if (!Array.isArray(sc.steps) || sc.steps.length === 0) fail(`${where}.steps must be a non-empty array`);
    let prev = 0;
    let terminated = null;
    let openAd = null;
    const adNames = new Set();
    sc.steps.forEach((step, j) => {
      const w = `${where}.steps[${j}]`;
      if (!Array.isArray(step) || step.length < 2) fail(`${w} must be [at_ms, action, ...args]`);
      const [at, action, ...args] = step;
      if (!isNum(at) || at < 0) fail(`${w}: at_ms must be a number >= 0`);
      if (at < prev) fail(`${w}: at_ms ${at} is before the previous step's ${prev}`);
      prev = at;
      if (!isStr(action) || !Object.hasOwn(ARGS, action)) fail(`${w}: unknown action ${JSON.stringify(action)}`);
      const [req, opt] = ARGS[action];
      if (args.length < req.length || args.length > req.length + opt.length) {
        fail(`${w}: ${action} takes ${req.length}${opt.length ? `-${req.length + opt.length}` : ''} argument(s)`);
      }
      args.forEach((a, n) => {
        const check = n < req.length ? req[n] : opt[n - req.length];
        if (!check(a)) fail(`${w}: bad argument ${n + 1} for ${action}: ${JSON.stringify(a)}`);
      });
      if (action === 'sync' && args[1] >= args[0]) fail(`${w}: sync remainder must be below its modulus`);
      if (terminated && action !== 'wait') fail(`${w}: ${action} after ${terminated} (only wait may follow)`);
      if (TERMINAL.has(action)) terminated = action;
      if (ON_OPEN_AD.has(action) && openAd === null) fail(`${w}: ${action} with no ad open`);
      if (action === 'ad_started' || (action === 'ad_failed' && openAd === null)) {
        if (openAd !== null) fail(`${w}: ad_started while ad ${JSON.stringify(openAd)} is open`);
        if (adNames.has(args[0])) fail(`${w}: duplicate ad name ${JSON.stringify(args[0])}`);
        adNames.add(args[0]);
        openAd = args[0];
      } else if (action === 'ad_failed' && args[0] !== openAd) {
        fail(`${w}: ad_failed names ${JSON.stringify(args[0])}, but ad ${JSON.stringify(openAd)} is open`);
      }
      if (['ad_ended', 'ad_skipped', 'ad_failed'].includes(action)) openAd = null;
      const adInfo = action === 'ad_started' ? args[1] : action === 'ad_failed' ? args[2] : undefined;
      if (adInfo !== undefined && !Object.values(adInfo).every((v) => isStr(v) || isNum(v))) {
        fail(`${w}: adInfo values must be strings or numbers`);
      }
    });
  });
}

// ---------------------------------------------------------------------------------------------
// State

const sessions = []; // one record per scenario
const bySid = new Map(); // content and ad sessions' records by sid
const blocked = [];
const storage = new Map();
let lastClid = null;
let activeSession = null; // set while a session's SDK call runs (seq-0 heartbeats are synchronous)
let gatewayHost = null;
let blockHosts = true;

function newRecord(sc) {
  return {
    scenario: sc,
    va: null,
    sid: null,
    clid: null,
    end: 'open', // ended | failed | vanished | open
    actions: [],
    heartbeats: 0,
    answers: {},
    suppressed: 0,
    requests: [],
    inflight: 0,
    stepsDone: false,
    requestedAt: null,
    lastActionMs: 0,
    lastAnsweredSentMs: -1, // send time of the latest heartbeat that got an answer
    endAnswered: false,
    vanished: false,
    podIndex: 0,
    shiftMs: 0, // time spent waiting in sync steps: later steps are delayed by it
    syncWaiter: null, // {mod, rem, resolve} while a sync step waits
    aa: null, // the AdAnalytics, built at the first ad step
    ads: [], // ad records (newAdRecord), in the order opened
    openAd: null,
  };
}

// An ad session: the request bookkeeping of a content record, under its scenario.
function newAdRecord(parent, name) {
  return {
    parent,
    name,
    sid: null,
    clid: null,
    end: 'open', // ended | skipped | failed | open
    heartbeats: 0,
    answers: {},
    requests: [],
    inflight: 0,
    lastAnsweredSentMs: -1,
    endAnswered: false,
    vanished: false,
    syncWaiter: null,
    openedAt: Date.now(),
  };
}

function adForBody(body) {
  // The ad's seq-0 heartbeat is sent inside the SDK call that opened it.
  let ad = activeSession && activeSession.openAd && activeSession.openAd.sid === null ? activeSession.openAd : null;
  if (!ad) {
    ad = sessions.flatMap((s) => s.ads).filter((a) => a.sid === null).sort((a, b) => a.openedAt - b.openedAt)[0];
  }
  if (!ad) return null;
  ad.sid = body.sid;
  bySid.set(body.sid, ad);
  note(`ad ${ad.parent.scenario.name}/${ad.name} -> sid ${body.sid}`);
  return ad;
}

function sessionForBody(body) {
  if (!isObj(body) || body.sf === 0 || body.sid === undefined) return null;
  let rec = bySid.get(body.sid);
  if (rec) return rec;
  if (body.seq !== 0) return null;
  if (body.ad === true) return adForBody(body);
  if (activeSession && activeSession.sid === null && activeSession.requestedAt !== null) {
    rec = activeSession;
  } else {
    // Fallback: the oldest session that was requested and has no sid yet.
    rec = sessions.filter((s) => s.sid === null && s.requestedAt !== null).sort((a, b) => a.requestedAt - b.requestedAt)[0];
  }
  if (!rec) return null;
  rec.sid = body.sid;
  bySid.set(body.sid, rec);
  note(`session ${rec.scenario.name} -> sid ${body.sid}`);
  return rec;
}

// ---------------------------------------------------------------------------------------------
// Platform callbacks

function httpRequest(method, url, data, contentType, timeoutMs, done) {
  let finished = false;
  const finish = (ok, text, status) => {
    if (finished) return;
    finished = true;
    done(ok, text, status);
  };
  let u;
  try {
    u = new URL(url);
  } catch (e) {
    setImmediate(() => finish(false, `bad url: ${e.message}`, 'error'));
    return;
  }
  const mod = u.protocol === 'https:' ? https : http;
  const headers = {};
  if (method === 'POST') {
    headers['Content-Type'] = contentType || 'application/json';
    headers['Content-Length'] = Buffer.byteLength(data ?? '');
  }
  const req = mod.request(u, { method, headers }, (res) => {
    const chunks = [];
    res.on('data', (c) => chunks.push(c));
    res.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      finish(res.statusCode === 200, text, String(res.statusCode));
    });
    res.on('error', (e) => finish(false, e.message, 'error'));
  });
  if (timeoutMs > 0) {
    req.setTimeout(timeoutMs, () => {
      req.destroy(new Error('timeout'));
      finish(false, 'timeout', 'timeout');
    });
  }
  req.on('error', (e) => finish(false, e.message, 'error'));
  if (method === 'POST' && data) req.write(data);
  req.end();
}

function makeRequest(method, url, data, contentType, timeoutMs, callback) {
  const now = Date.now();
  let host = null;
  try {
    host = new URL(url).host;
  } catch {
    /* invalid URL: treated as another host */
  }
  if (blockHosts && host !== gatewayHost) {
    blocked.push({ method, url, epoch_ms: now });
    note(`blocked ${method} ${url}`);
    setImmediate(() => callback(false, 'blocked by the test driver'));
    return;
  }
  let body = null;
  if (typeof data === 'string' && data) {
    try {
      body = JSON.parse(data);
    } catch {
      body = null;
    }
  }
  const rec = sessionForBody(body);
  if (body && isStr(body.clid)) {
    lastClid = body.clid;
    if (rec) rec.clid = body.clid;
  }
  const evs = body && Array.isArray(body.evs) ? body.evs : [];
  const hasEnd = evs.some((e) => e && e.t === 'CwsSessionEndEvent');
  if (rec && rec.vanished) {
    rec.suppressed += 1;
    note(`suppressed ${rec.scenario.name} seq ${body.seq}`);
    setImmediate(() => callback(false, 'vanished'));
    return;
  }
  const entry = rec
    ? { seq: body.seq, sent_ms: now, status: null, rtt_ms: null, events: evs.map((e) => e.seq), end: hasEnd }
    : null;
  if (rec) {
    rec.heartbeats += 1;
    rec.inflight += 1;
    rec.requests.push(entry);
  }
  httpRequest(method, url, data, contentType, timeoutMs, (ok, text, status) => {
    if (rec) {
      rec.inflight -= 1;
      rec.answers[status] = (rec.answers[status] || 0) + 1;
      entry.status = status;
      entry.rtt_ms = Date.now() - now;
      rec.lastAnsweredSentMs = Math.max(rec.lastAnsweredSentMs, now);
      if (hasEnd) rec.endAnswered = true;
    }
    try {
      callback(ok, text);
    } finally {
      if (rec) releaseSync(rec);
      checkDone();
    }
  });
}

const callbacks = {
  [C.CallbackFunctions.MAKE_REQUEST]: makeRequest,
  [C.CallbackFunctions.SAVE_DATA](space, key, data, cb) {
    storage.set(`${space}.${key}`, data);
    cb(true, null);
  },
  [C.CallbackFunctions.LOAD_DATA](space, key, cb) {
    // Like a browser's localStorage.getItem: success with null for a missing key. (Answering a
    // miss with success=false would stop the SDK from generating its client id: clid stays "0".)
    cb(true, storage.get(`${space}.${key}`) ?? null);
  },
  [C.CallbackFunctions.GET_EPOCH_TIME_IN_MS]: () => Date.now(),
  [C.CallbackFunctions.CREATE_TIMER](action, ms, _name) {
    const h = setInterval(action, ms);
    return () => clearInterval(h);
  },
  [C.CallbackFunctions.CONSOLE_LOG](message, level) {
    if (debug) process.stderr.write(`[sdk ${level}] ${message}\n`);
  },
};

// ---------------------------------------------------------------------------------------------
// Actions: each calls the SDK's public API on the session's VideoAnalytics.

const ACTIONS = {
  requested: (rec) => rec.va.reportPlaybackRequested({ ...(rec.scenario.contentInfo || {}) }),
  state: (rec, s) => rec.va.reportPlaybackMetric(C.Playback.PLAYER_STATE, C.PlayerState[s]),
  bitrate: (rec, kbps) => rec.va.reportPlaybackMetric(C.Playback.BITRATE, kbps),
  playhead: (rec, ms) => rec.va.reportPlaybackMetric(C.Playback.PLAY_HEAD_TIME, ms),
  framerate: (rec, fps) => rec.va.reportPlaybackMetric(C.Playback.RENDERED_FRAMERATE, fps),
  cdn_ip: (rec, ip) => rec.va.reportPlaybackMetric(C.Playback.CDN_IP, ip),
  resource: (rec, name) => rec.va.setContentInfo({ [C.DEFAULT_RESOURCE]: name }),
  seek_start: (rec, to) => rec.va.reportPlaybackMetric(C.Playback.SEEK_STARTED, to),
  seek_end: (rec, ...pos) => rec.va.reportPlaybackMetric(C.Playback.SEEK_ENDED, ...pos),
  error: (rec, msg, fatal) =>
    rec.va.reportPlaybackError(msg, fatal ? C.ErrorSeverity.FATAL : C.ErrorSeverity.WARNING),
  failed: (rec, msg) => {
    rec.va.reportPlaybackFailed(msg);
    rec.end = 'failed';
    rec.va.release(); // the session already ended; release only stops the SDK's timers
  },
  ad_break_start: (rec, position, durationS, index) => {
    rec.podIndex = index ?? rec.podIndex + 1;
    rec.va.reportAdBreakStarted(C.AdType.CLIENT_SIDE, C.AdPlayer.CONTENT, {
      [C.POD_POSITION]: position,
      [C.POD_DURATION]: durationS,
      [C.POD_INDEX]: rec.podIndex,
    });
  },
  ad_break_end: (rec) => rec.va.reportAdBreakEnded(),
  custom: (rec, name, attrs) => rec.va.reportPlaybackEvent(name, attrs ?? {}),
  ended: (rec) => {
    rec.va.reportPlaybackEnded();
    rec.end = 'ended';
    if (rec.aa) rec.aa.release();
    rec.va.release();
  },
  vanish: (rec) => {
    rec.vanished = true;
    rec.end = 'vanished';
    rec.va.release(); // its end heartbeat is suppressed by makeRequest
  },
  wait: () => {},
  sync: () => {}, // the wait itself is in runScenario
  ad_started: (rec, name, adInfo) => {
    openAd(rec, name);
    adAnalytics(rec).reportAdStarted({ ...adInfo });
  },
  ad_state: (rec, s) => adAnalytics(rec).reportAdMetric(C.Playback.PLAYER_STATE, C.PlayerState[s]),
  ad_bitrate: (rec, kbps) => adAnalytics(rec).reportAdMetric(C.Playback.BITRATE, kbps),
  ad_event: (rec, name) => adAnalytics(rec).reportAdPlayerEvent(name),
  ad_error: (rec, msg, fatal) =>
    adAnalytics(rec).reportAdError(msg, fatal ? C.ErrorSeverity.FATAL : C.ErrorSeverity.WARNING),
  ad_ended: (rec) => closeAd(rec, 'ended', () => adAnalytics(rec).reportAdEnded()),
  ad_skipped: (rec) => closeAd(rec, 'skipped', () => adAnalytics(rec).reportAdSkipped()),
  ad_failed: (rec, name, msg, adInfo) => {
    if (!rec.openAd) openAd(rec, name);
    closeAd(rec, 'failed', () => adAnalytics(rec).reportAdFailed(msg, adInfo ? { ...adInfo } : undefined));
  },
};

function adAnalytics(rec) {
  if (!rec.aa) rec.aa = Conviva.Analytics.buildAdAnalytics(rec.va);
  return rec.aa;
}

function openAd(rec, name) {
  const ad = newAdRecord(rec, name);
  rec.ads.push(ad);
  rec.openAd = ad;
}

function closeAd(rec, end, call) {
  rec.openAd.end = end; // before the call: its end heartbeat is sent inside it
  call();
  rec.openAd = null;
}

// A step already due runs without yielding to the event loop (no SDK timer can fire in between).
const sleepUntil = (t) => (t <= Date.now() ? Promise.resolve() : new Promise((r) => setTimeout(r, t - Date.now())));

function releaseSync(rec) {
  const w = rec.syncWaiter;
  if (w && rec.inflight === 0 && rec.heartbeats % w.mod === w.rem) {
    rec.syncWaiter = null;
    w.resolve();
  }
}

async function runScenario(rec) {
  for (const [at, action, ...args] of rec.scenario.steps) {
    await sleepUntil(T0 + at + rec.shiftMs);
    if (action === 'sync') {
      await new Promise((resolve) => {
        rec.syncWaiter = { mod: args[0], rem: args[1], resolve };
      });
      rec.shiftMs = Date.now() - (T0 + at);
    }
    const epoch = Date.now();
    if (action === 'requested') rec.requestedAt = epoch;
    rec.actions.push({ action, args, at_ms: at, epoch_ms: epoch });
    rec.lastActionMs = epoch;
    activeSession = rec;
    try {
      ACTIONS[action](rec, ...args);
    } finally {
      activeSession = null;
    }
    note(`${rec.scenario.name}: ${action} ${JSON.stringify(args)}`);
  }
  rec.stepsDone = true;
  checkDone();
}

function adSettled(ad) {
  return ad.inflight === 0 && (ad.end === 'open' || ad.endAnswered || ad.sid === null);
}

function settled(rec) {
  if (!rec.stepsDone || rec.inflight > 0 || !rec.ads.every(adSettled)) return false;
  if (rec.requestedAt === null) return true; // never started a session
  if (rec.end === 'vanished') return true;
  if (rec.end === 'ended' || rec.end === 'failed') return rec.endAnswered || rec.sid === null;
  // Still open: a heartbeat built after the last step (so carrying its events) has been answered.
  return rec.lastAnsweredSentMs >= rec.lastActionMs;
}

function storedClientId() {
  const raw = storage.get('Conviva.sdkConfig');
  if (raw) {
    try {
      const cfg = JSON.parse(raw);
      if (isStr(cfg.clId)) return cfg.clId;
    } catch {
      /* not JSON */
    }
  }
  return lastClid;
}

let finishing = false;

function output(timedOut) {
  return {
    sessions: sessions.map((r) => ({
      name: r.scenario.name,
      sid: r.sid,
      clid: r.clid,
      end: r.end,
      actions: r.actions,
      heartbeats: r.heartbeats,
      answers: r.answers,
      suppressed: r.suppressed,
      requests: r.requests,
      ads: r.ads.map((a) => ({
        name: a.name,
        sid: a.sid,
        clid: a.clid,
        end: a.end,
        heartbeats: a.heartbeats,
        answers: a.answers,
        requests: a.requests,
      })),
    })),
    blocked,
    clientId: storedClientId(),
    sdkVersion: C.version,
    timedOut,
    elapsed_ms: Date.now() - T0,
  };
}

function finish(code, timedOut) {
  if (finishing) return;
  finishing = true;
  process.stdout.write(`${JSON.stringify(output(timedOut))}\n`, () => process.exit(code));
}

function checkDone() {
  if (!finishing && sessions.length > 0 && sessions.every(settled)) finish(0, false);
}

// ---------------------------------------------------------------------------------------------

async function readStdin() {
  const chunks = [];
  for await (const c of process.stdin) chunks.push(c);
  return Buffer.concat(chunks).toString('utf8');
}

async function main() {
  let input;
  try {
    const text = await readStdin();
    try {
      input = JSON.parse(text);
    } catch (e) {
      fail(`stdin is not JSON: ${e.message}`);
    }
    validate(input);
  } catch (e) {
    if (e instanceof InputError) {
      process.stderr.write(`driver.mjs: bad input: ${e.message}\n`);
      process.exit(1);
    }
    throw e;
  }
  debug = input.debug === true;
  blockHosts = input.blockHosts !== false;
  gatewayHost = new URL(input.gatewayUrl).host;
  const timeoutS = input.timeoutS ?? 60;
  setTimeout(() => {
    process.stderr.write(`driver.mjs: hard timeout after ${timeoutS} s\n`);
    finish(2, true);
  }, timeoutS * 1000);

  Conviva.Analytics.init(input.customerKey, callbacks, {
    [C.GATEWAY_URL]: input.gatewayUrl,
    [C.LOG_LEVEL]: debug ? C.LogLevel.DEBUG : C.LogLevel.NONE,
  });
  if (input.device) {
    const meta = {};
    for (const [k, v] of Object.entries(input.device)) meta[DEVICE_KEYS[k][0]] = v;
    Conviva.Analytics.setDeviceMetadata(meta);
  }
  for (const sc of input.sessions) {
    const rec = newRecord(sc);
    rec.va = Conviva.Analytics.buildVideoAnalytics();
    sessions.push(rec);
  }
  await Promise.all(sessions.map(runScenario));
}

main().catch((e) => {
  process.stderr.write(`driver.mjs: ${e && e.stack ? e.stack : e}\n`);
  process.exit(3);
});
