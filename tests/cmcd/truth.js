// Shared by hls.html, dash.html and shaka.html: reads the page's query string into window.params,
// records what the <video> element itself observed into window.truth, and exposes window.control.
//
// Query string: manifest (URL, required), collector (URL incl. ?key=..., required), cid, sid,
// interval (CMCD `t` period in s, default 5), batch (batchSize, default 1), buffer (forward buffer
// goal in s the page gives the player, default 4; 0 = the player's own default), build ("min" or
// "debug"; which dist file to load: the page decides the default, see each page).
//
// window.truth (all timestamps are epoch ms from Date.now(), the clock the players put in CMCD `ts`):
//   intent_ts        the page asked for playback (player created with autoplay)
//   first_playing_ts the element's first 'playing' event
//   started_ts       playback really started: the first moment the element was "progressing"
//                    (not paused, not seeking, readyState >= 3, playbackRate > 0). Shaka sets
//                    playbackRate = 0 while it buffers, so 'playing' alone is not enough there.
//   state            idle | startup | playing | paused | stall | seek | ended | error | destroyed
//   transitions      [{ts, state, reason}]   every state change, in order
//   pauses / stalls  [[start_ts, end_ts|null]]
//   seeks            [[start_ts, end_ts|null, from_s, to_s]]  (end = playback progressing again)
//   errors           [{ts, source, code, message, fatal}]
//   events           [{ts, type, ct, rs, rate, paused}]  media element events (no timeupdate)
//   controls         [{ts, action, arg}]  calls of window.control.*
//   ended_ts, error_ts, destroyed_ts, snapshot_ts
//   totals           {startup_ms, playing_ms, paused_ms, stall_ms, seek_ms, total_ms,
//                     pause_count, stall_count, seek_count}  (computed by truthSnapshot())
// A stall is time in which the element is not progressing after playback started, outside a
// seek and not paused. The time from a seek until progressing again counts as seek_ms.
(function () {
  "use strict";
  const q = new URLSearchParams(location.search);
  const num = (name, dflt) => (q.has(name) && q.get(name) !== "" ? Number(q.get(name)) : dflt);
  const params = {
    manifest: q.get("manifest"),
    collector: q.get("collector"),
    cid: q.get("cid") || "",
    sid: q.get("sid") || "",
    interval: num("interval", 5),
    batch: num("batch", 1),
    buffer: num("buffer", 4),
    build: q.get("build") || "",
  };
  window.params = params;
  const EVENTS = ["ps", "e", "t", "bc", "rr"];
  window.CMCD_EVENTS = EVENTS;

  const truth = {
    player: document.documentElement.dataset.player || "",
    params: params,
    page_load_ts: Date.now(),
    intent_ts: null,
    first_playing_ts: null,
    started_ts: null,
    state: "idle",
    transitions: [],
    pauses: [],
    stalls: [],
    seeks: [],
    errors: [],
    events: [],
    controls: [],
    ended_ts: null,
    error_ts: null,
    destroyed_ts: null,
    snapshot_ts: null,
    totals: {},
    current_time: 0,
    duration: null,
    played: [],
  };
  window.truth = truth;

  let video = null;
  let seekPhase = false;
  let lastTime = 0;
  let frozen = false; // after ended / fatal error / destroy nothing changes any more

  function progressing() {
    return !video.paused && !video.seeking && !video.ended && video.readyState >= 3 && video.playbackRate > 0;
  }

  function setState(state, reason, ts) {
    if (state === truth.state) return;
    const prev = truth.state;
    truth.transitions.push({ ts: ts, state: state, reason: reason });
    truth.state = state;
    if (prev === "paused") closeLast(truth.pauses, ts);
    if (prev === "stall") closeLast(truth.stalls, ts);
    if (state === "playing") closeLast(truth.seeks, ts);
    if (state === "paused") truth.pauses.push([ts, null]);
    if (state === "stall") truth.stalls.push([ts, null]);
  }

  function closeLast(list, ts) {
    const last = list[list.length - 1];
    if (last && last[1] === null) last[1] = ts;
  }

  // A seek starts a "seek" phase at once (video.seeking turns true before 'seeking' is dispatched),
  // even from "paused"; it ends when the element progresses again.
  function startSeek(ts, reason) {
    if (seekPhase && video.seeking) return; // this seek is already recorded
    seekPhase = true;
    truth.seeks.push([ts, null, round3(lastTime), round3(video.currentTime)]);
    if (truth.started_ts !== null && !video.paused) setState("seek", reason, ts);
  }

  function evaluate(reason) {
    if (frozen || video === null || truth.intent_ts === null) return;
    const ts = Date.now();
    if (video.seeking && !seekPhase) startSeek(ts, reason);
    let state;
    if (video.ended) state = "ended";
    else if (truth.started_ts === null) {
      if (progressing() && truth.first_playing_ts !== null) {
        truth.started_ts = ts;
        state = "playing";
      } else state = "startup";
    } else if (video.paused) state = "paused";
    else if (progressing()) {
      seekPhase = false;
      state = "playing";
    } else if (seekPhase) state = "seek";
    else state = "stall";
    if (state === "ended" && truth.ended_ts === null) truth.ended_ts = ts;
    setState(state, reason, ts);
    if (state === "ended") freeze();
  }

  function freeze() {
    frozen = true;
  }

  const MEDIA_EVENTS = [
    "loadstart", "loadedmetadata", "loadeddata", "canplay", "canplaythrough", "play", "playing",
    "pause", "waiting", "stalled", "seeking", "seeked", "ratechange", "ended", "error", "emptied",
    "durationchange", "suspend", "abort",
  ];

  window.truthWatch = function (el) {
    video = el;
    for (const type of MEDIA_EVENTS) {
      el.addEventListener(type, () => {
        const ts = Date.now();
        if (!frozen) {
          truth.events.push({
            ts: ts, type: type, ct: round3(el.currentTime), rs: el.readyState, rate: el.playbackRate,
            paused: el.paused,
          });
        }
        if (type === "playing" && truth.first_playing_ts === null && truth.intent_ts !== null) {
          truth.first_playing_ts = ts;
        }
        if (type === "seeking" && !frozen) startSeek(ts, "seeking");
        if (type === "error" && el.error) {
          window.truthError("media", el.error.code, el.error.message || "", true);
          return;
        }
        evaluate(type);
      });
    }
    el.addEventListener("timeupdate", () => {
      if (!el.seeking) lastTime = el.currentTime;
      evaluate("timeupdate");
    });
    setInterval(() => evaluate("poll"), 100);
  };

  window.truthIntent = function () {
    if (truth.intent_ts === null) {
      truth.intent_ts = Date.now();
      setState("startup", "intent", truth.intent_ts);
    }
  };

  // source: "hls" | "dash" | "shaka" | "media" | "page"; fatal errors end the session's truth.
  window.truthError = function (source, code, message, fatal) {
    const ts = Date.now();
    truth.errors.push({ ts: ts, source: source, code: code, message: String(message || ""), fatal: !!fatal });
    if (fatal && !frozen) {
      truth.error_ts = ts;
      setState("error", source + " error", ts);
      freeze();
    }
  };

  function round3(x) {
    return Math.round(x * 1000) / 1000;
  }

  window.truthSnapshot = function () {
    const now = Date.now();
    truth.snapshot_ts = now;
    if (video !== null) {
      truth.current_time = round3(video.currentTime);
      truth.duration = Number.isFinite(video.duration) ? round3(video.duration) : null;
      const played = [];
      for (let i = 0; i < video.played.length; i++) played.push([round3(video.played.start(i)), round3(video.played.end(i))]);
      if (played.length || !frozen) truth.played = played;
    }
    const ms = { startup: 0, playing: 0, paused: 0, stall: 0, seek: 0 };
    const tr = truth.transitions;
    const end = truth.destroyed_ts || truth.ended_ts || truth.error_ts || now;
    for (let i = 0; i < tr.length; i++) {
      const from = tr[i].ts;
      const to = i + 1 < tr.length ? tr[i + 1].ts : end;
      if (tr[i].state in ms) ms[tr[i].state] += Math.max(0, Math.min(to, end) - from);
    }
    truth.totals = {
      startup_ms: truth.started_ts !== null ? truth.started_ts - truth.intent_ts : null,
      playing_ms: ms.playing,
      paused_ms: ms.paused,
      stall_ms: ms.stall,
      seek_ms: ms.seek,
      startup_state_ms: ms.startup,
      total_ms: truth.intent_ts !== null ? end - truth.intent_ts : 0,
      pause_count: truth.pauses.length,
      stall_count: truth.stalls.length,
      seek_count: truth.seeks.length,
    };
    return JSON.parse(JSON.stringify(truth));
  };

  // window.playerDestroy is set by each page (returns a promise).
  window.control = {
    pause() {
      truth.controls.push({ ts: Date.now(), action: "pause", arg: null });
      video.pause();
    },
    play() {
      truth.controls.push({ ts: Date.now(), action: "play", arg: null });
      return video.play().catch((e) => window.truthError("page", "play", String(e), false));
    },
    seek(s) {
      truth.controls.push({ ts: Date.now(), action: "seek", arg: s });
      video.currentTime = s;
    },
    async destroy() {
      truth.controls.push({ ts: Date.now(), action: "destroy", arg: null });
      window.truthSnapshot();
      evaluate("destroy");
      const ts = Date.now();
      if (!frozen) {
        // A destroy is a stop by the viewer: state "destroyed" and nothing counts after it.
        setState("destroyed", "destroy", ts);
        freeze();
      }
      truth.destroyed_ts = ts;
      window.truthSnapshot();
      if (window.playerDestroy) await window.playerDestroy();
      return true;
    },
  };

  window.loadScript = function (src) {
    return new Promise((resolve, reject) => {
      const s = document.createElement("script");
      s.src = src;
      s.onload = () => resolve();
      s.onerror = () => reject(new Error("cannot load " + src));
      document.head.appendChild(s);
    });
  };

  window.addEventListener("error", (e) => window.truthError("page", "exception", e.message, false));
  window.addEventListener("unhandledrejection", (e) => window.truthError("page", "rejection", String(e.reason), false));
})();
