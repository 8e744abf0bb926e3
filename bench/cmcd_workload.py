"""The players of ``bench_cmcd.py``: web players reporting CMCD v2 events (CTA-5004-B) to the collector,
one report per POST, each built as a complete ``POST /ingest/cmcd/v2?key=...`` at the moment it is sent.

The lines have the keys, key order and value shapes that hls.js 1.7, dash.js 5.2 and Shaka 5.2 (its
debug build: the minified one sends no ``sta``) really send with ``docs/ingest-cmcd.md``'s configuration
(events ``ps``, ``e``, ``t``, ``bc``; ``batchSize`` 1; dash.js with the ``enabledKeys`` listed there):
see ``tests/cmcd/captures/`` and ``/work/shared/reference/cmcd-v2-players.md``. The requests carry the
browser's own headers (User-Agent, Origin, Referer, ``Sec-Fetch-*``, client hints for Chromium), the
player's public address in ``X-Forwarded-For``, and ``Content-Type: application/cmcd``.

- A session opens with the players' start-up: hls.js ``t``, ``ps d``, ``ps s``, one or two ``bc``,
  ``ps p``; dash.js ``t``, ``ps s``, ``ps r`` (with the first ``br``), ``ps p``; Shaka ``t``, ``ps r``,
  one or two ``bc``, ``ps p``; each report a few milliseconds to 1.5 s after the one before.
- The sessions are then visited in rotation. A visit sends an interval report (``t``, with the
  current ``sta``, and ``br`` except from dash.js) or starts a story whose later reports follow at
  their own times: a bitrate switch (``bc``; dash.js reports none, its next ``ps`` carries the new
  ``br``), a stall (``r`` ... ``p``), a pause (``a`` ... ``p``), a seek (``k``, ``r`` or ``w``, ``p``),
  a non-fatal error (``e=e`` with ``ec``; dash.js then repeats its ``ec`` on every report).
- ``end_share`` of the visits of a playing session end it: one in ten with a fatal error (hls.js:
  ``ps f`` and ``e=e ec=(...) sta=f``, then perhaps one more ``t``, then silence; dash.js and Shaka
  report none: they just go silent), 35% by closing the page (silence), the rest with ``sta=e`` the
  way each player reports it (dash.js ``a`` then ``e``; Shaka ``e``, ``a``, ``e``), half of them
  followed by one more ``t`` before the player is destroyed. What follows an ``e`` is late; a silent
  session ends "By Expiration" ``session_timeout_s`` after its last report. A new session (often of a
  browser already seen) takes each ended one's place at once.

``sn`` is contiguous per session (one report in flight at a time, so they arrive in order), ``ts`` is
the device's clock (off by about ±1.5 s) and strictly increasing. Besides the requests, the workload
counts what the server should count (``WorkloadCounts``) and keeps, per ended session, what its
document should say (``Expected``), for the benchmark's checks.
"""

from __future__ import annotations

import collections
import dataclasses
import heapq
import itertools
import random
import time
import uuid

from ingest_workload import Viewer, viewer_of
from reelsight.generate.catalogue import NATIVE_APP, Asset, assets
from reelsight.generate.population import Client, Population, Weighted
from reelsight.ingest import cmcd
from reelsight.sessions import metrics

PATH = cmcd.PATH
HLS, DASH, SHAKA = "hls.js", "dash.js", "Shaka Player"
ORIGIN = "https://watch.reelsight.example"
FAILURE_SHARE = 0.1  # of the ends: a fatal error (only hls.js reports one)
CLOSED_SHARE = 0.35  # of the ends: the page is closed mid-play (nothing is sent)
LINGER_SHARE = 0.5  # of the ends by `e`: the player sends one more interval report before it is destroyed
BY_PLAYER, BY_EXPIRATION = "By Player", "By Expiration"

_ASSETS = Weighted((a, a.weight) for a in assets())
_HLS_WARNINGS = (b'("fragLoadTimeOut")', b'("levelLoadError")', b'("bufferStalledError")')
_HLS_FATAL = (b'("mediaError")', b'("fragLoadError")', b'("keySystemNoSession")')
_DASH_WARNINGS = (b"27", b"28", b"32")
_STEADY = frozenset((b"p", b"r", b"w", b"a"))  # what an interval report's snapshot may correct
_STATE_REPORTS = frozenset((b"p", b"r", b"w", b"a", b"k", b"f", b"e", b"q"))  # `ps` values that make events
_FOLD_STATES = {b"p": "playing", b"r": "buffering", b"w": "buffering", b"k": "buffering", b"a": "paused",
                b"f": "stopped", b"e": "stopped", b"q": "stopped"}  # fmt: skip
_T, _PS, _BC, _ERROR = b"t", b"ps", b"bc", b"e"

# A report of a session's plan: (seconds after the report before it, `e`, `sta` for a `ps` report,
# the rung of the ladder it switches to or -1).
_Step = tuple[float, bytes, bytes, int]


@dataclasses.dataclass(slots=True)
class Device:
    """A browser tab's player: the same for all its sessions."""

    viewer: Viewer
    player: str
    head: bytes  # the HTTP request head up to Content-Length


@dataclasses.dataclass(slots=True)
class Expected:
    """What the session's document should say, from the reports it sent (the collector takes ``ts`` as
    the device's clock says, so every time is exact): ``docs/ingest-cmcd.md``'s states, in order."""

    asset: str = ""
    category: str = ""  # "VoD" or "Live", from `st`
    start_ms: int = 0
    end_ms: int = 0  # the last report applied (the `e` of a session its player ended)
    state: str = "starting"
    since_ms: int = 0
    join_ms: int = -1
    playing_ms: int = 0
    paused_ms: int = 0
    rebuffering_ms: int = 0
    seek_rebuffering_ms: int = 0
    seek_start_ms: int = -1
    seek_after_join: bool = False
    seeks: int = 0
    restart_total_ms: int = 0
    bitrate_bps: int = -1  # as last reported
    switches: int = 0
    fatal_after_join: bool = False
    ended_status: str = ""

    def observe(self, ts: int, e: bytes, sta: bytes, kbps: int) -> None:
        """One report that is not late (``kbps`` -1: it carries no ``br``)."""
        if not self.start_ms:
            self.start_ms = self.since_ms = ts
        elapsed = ts - self.since_ms
        joined = self.join_ms >= 0
        if self.state == "playing":
            self.playing_ms += elapsed
        elif self.state == "buffering" and joined:
            self.rebuffering_ms += elapsed
            if self.seek_start_ms >= 0:
                self.seek_rebuffering_ms += elapsed
        elif self.state == "paused" and joined:
            self.paused_ms += elapsed
        self.since_ms = self.end_ms = ts
        if e == _PS and sta in _FOLD_STATES:
            if sta == b"k" and self.seek_start_ms < 0:
                self.seek_start_ms, self.seek_after_join = ts, joined
            if sta == b"p":
                if not joined:
                    self.join_ms = ts
                if self.seek_start_ms >= 0:
                    if self.seek_after_join:
                        self.seeks += 1
                        self.restart_total_ms += ts - self.seek_start_ms
                    self.seek_start_ms = -1
            if sta == b"f":
                self.fatal_after_join = self.fatal_after_join or joined
            self.state = _FOLD_STATES[sta]
        elif e == _ERROR and sta == b"f":
            self.fatal_after_join = self.fatal_after_join or joined
        if kbps >= 0:
            if self.join_ms >= 0 and self.bitrate_bps >= 0 and kbps * 1000 != self.bitrate_bps:
                self.switches += 1
            self.bitrate_bps = kbps * 1000

    def document(self) -> tuple[object, ...]:
        """In the order of ``bench_cmcd.DOCUMENT_FIELDS``."""
        return (
            self.ended_status,
            self.asset,
            self.start_ms,
            self.end_ms,
            self.join_ms - self.start_ms if self.join_ms >= 0 else metrics.NOT_JOINED_START_TIME_MS,
            self.playing_ms,
            self.paused_ms,
            self.rebuffering_ms,
            self.rebuffering_ms - self.seek_rebuffering_ms,
            metrics.mean_ms(self.restart_total_ms, self.seeks),
            self.switches,
            int(self.fatal_after_join),
        )


@dataclasses.dataclass(slots=True, eq=False)
class Session:
    device: Device
    sid: str
    cid: bytes  # 'cid="...",'
    sid_key: bytes  # 'sid="...",'
    st: bytes  # stream type: v (VoD) or l (live)
    asset: Asset
    rung: int  # index into the viewer's ladder
    plan: collections.deque[_Step]  # the reports still to follow (start-up, a story, an end)
    expected: Expected = dataclasses.field(default_factory=Expected)
    sn: int = 0  # the next report's
    sta: bytes = b""  # the player state the reports carry; none before the first `ps`
    br_known: bool = False  # a rendition is chosen: the reports carry br (and sf, st)
    mtp: int = 0  # hls.js: measured throughput, kb/s
    ec: bytes = b""  # dash.js: the last error code, repeated on every later report
    initial: bool = False  # one of the sessions the fill opens
    scheduled: bool = False  # its plan's next report is in the workload's schedule
    followup: bool = False  # next_session handed it out for its plan's next report
    in_flight: bool = False
    ended: bool = False  # out of the rotation: its player ended it or went away
    closed: bool = False  # its `e` was sent: whatever follows is late
    last_ts: int = 0
    last_sent_s: float = 0.0  # monotonic time of its previous report

    @property
    def conviva_session_id(self) -> str:
        return f"{cmcd.session_identity(self.sid)[0]}.{cmcd.SESSION_ID}"


@dataclasses.dataclass
class WorkloadCounts:
    batches: int = 0  # reports (one per POST)
    events: int = 0  # the same: a POST carries one report
    starts: int = 0
    ends: int = 0  # sessions their players ended with `e`
    failures: int = 0  # sessions that went silent after a fatal error (hls.js)
    closed: int = 0  # sessions that went silent otherwise (a closed page, a fatal error not reported)
    # What the server counts (/metrics reelsight_ingest_events_total): one outcome per report line, that
    # of the last of its internal events. A report after the session's `e` is late; any other is accepted
    # or, when it makes nothing but its repeated start (hls.js's `ps d` and `ps s`, dash.js's `ps s`, a
    # `t` while starting) and the decoder adds no heartbeat for it, a duplicate.
    makes_events: int = 0  # reports before their session's end with an event besides the repeated start
    start_only: int = 0  # reports before their session's end (not its first) with nothing else
    expected_late: int = 0
    by_event: dict[str, int] = dataclasses.field(default_factory=dict)  # reports by `e`


def _browser_headers(client: Client) -> str:
    """What the browser adds to a cross-origin ``fetch`` POST (the order Chromium sends them in)."""
    profile = client.device.profile
    browser, version = profile.browser, client.device.browser_version
    lines = []
    if browser in ("Chrome", "Edge"):
        major = version.split(".")[0]
        brand = "Google Chrome" if browser == "Chrome" else "Microsoft Edge"
        lines += [
            'sec-ch-ua-platform: "Windows"',
            f'sec-ch-ua: "Chromium";v="{major}", "{brand}";v="{major}", "Not-A.Brand";v="99"',
            "sec-ch-ua-mobile: ?0",
        ]
    lines += [
        "Accept: */*",
        f"Origin: {ORIGIN}",
        "Sec-Fetch-Site: cross-site",
        "Sec-Fetch-Mode: cors",
        "Sec-Fetch-Dest: empty",
        f"Referer: {ORIGIN}/",
        "Accept-Encoding: gzip, deflate, br" + (", zstd" if browser in ("Chrome", "Edge") else ""),
        "Accept-Language: " + ("en-US,en;q=0.5" if browser == "Firefox" else "en-US,en;q=0.9"),
    ]
    return "".join(line + "\r\n" for line in lines)


def _sf_string(text: str) -> bytes:
    """An RFC 8941 string (printable ASCII; `"` and `\\` escaped)."""
    ascii_text = text.encode("ascii", "replace").replace(b"\\", b"\\\\").replace(b'"', b'\\"')
    return b'"%s"' % ascii_text


class Workload:
    """The players: ``sessions`` live sessions visited in rotation, plus the reports their plans schedule."""

    def __init__(
        self,
        sessions: int,
        *,
        seed: int,
        end_share: float,
        host_header: str,
        ingest_key: str,
        keepalive_s: float = 30.0,
    ) -> None:
        self._rng = random.Random(seed)
        self._key = ingest_key
        # About one client in five of the population is a browser: draw from enough of them.
        self._population = Population(self._rng, max(5000, sessions * 10))
        self._devices: dict[str, Device] = {}
        self._end_share = end_share
        self._host = host_header
        self._order = itertools.count()
        self._due: list[tuple[float, int, Session]] = []  # (monotonic time, tie-break, session): plans' next
        self._stories = Weighted(
            [
                (self._interval, 82),
                (self._bitrate_switch, 8),
                (self._stall, 4),
                (self._pause, 3),
                (self._seek, 2),
                (self._warning, 1),
            ]
        )
        self._keepalive_s = keepalive_s
        self._unopened: collections.deque[Session] = collections.deque(self._new_session() for _ in range(sessions))
        for session in self._unopened:
            session.initial = True
        self._starting = sessions  # initial sessions that have not played yet
        self.rotation: collections.deque[Session] = collections.deque()  # opened, in the order last visited
        self._fresh: collections.deque[Session] = collections.deque()
        self.counts = WorkloadCounts()
        self.ended: list[str] = []  # conviva session ids the players ended with `e`
        self.expiring: list[Session] = []  # sessions that went silent (or will, after their plan)
        self.expected: dict[str, Expected] = {}  # conviva session id -> its document, for ended and expiring
        self.live: set[Session] = set()  # opened, not ended with `e`, not gone silent
        self.longest_gap_s = 0.0  # the longest silence between two reports of a session still in the rotation

    # -- sessions -----------------------------------------------------------------------------------

    def _device(self, client: Client) -> Device:
        device = self._devices.get(client.client_id)
        if device is not None:
            return device
        viewer = viewer_of(client, self._rng)
        player = HLS if viewer.hls else DASH if self._rng.random() < 0.5 else SHAKA  # HLS in Firefox, Safari
        content_type = "content-type" if player == SHAKA else "Content-Type"  # Shaka sets it lower-case
        head = f"POST {PATH}?key={self._key} HTTP/1.1\r\nHost: {self._host}\r\nConnection: keep-alive\r\n"
        head += f"User-Agent: {viewer.header_user_agent}\r\n{content_type}: application/cmcd\r\n"
        head += _browser_headers(client) + f"X-Forwarded-For: {viewer.ip}\r\n"
        device = Device(viewer, player, head.encode())
        self._devices[client.client_id] = device
        return device

    def _new_session(self) -> Session:
        client = self._population.draw()
        while client.device.profile.browser == NATIVE_APP:  # CMCD event mode: web players only
            client = self._population.draw()
        device = self._device(client)
        sid = str(uuid.UUID(int=self._rng.getrandbits(128), version=4))
        asset = _ASSETS.pick(self._rng)
        ladder = device.viewer.ladder_bps
        session = Session(
            device,
            sid,
            b"cid=%s," % _sf_string(asset.name),
            b"sid=%s," % _sf_string(sid),
            b"l" if asset.is_live else b"v",
            asset,
            0,
            self._startup(device.player, min(2, len(ladder) - 1)),
        )
        session.expected.asset, session.expected.category = asset.name, "Live" if asset.is_live else "VoD"
        return session

    def _startup(self, player: str, target: int) -> collections.deque[_Step]:
        """The reports after the opening ``t``, as each player sends them (``target``: the rendition
        the player settles on; a first ``bc`` to the lowest one before it, sometimes)."""
        rng = self._rng
        join_s = rng.uniform(0.1, 1.5)
        if player == HLS:
            steps = [(0.004, _PS, b"d", -1), (0.025, _PS, b"s", -1)]
            if rng.random() < 0.7:
                steps += [(0.05, _BC, b"", 0), (0.2, _BC, b"", target)]
            else:
                steps += [(0.05, _BC, b"", target)]
        elif player == DASH:
            steps = [(0.01, _PS, b"s", -1), (rng.uniform(0.1, 0.5), _PS, b"r", target)]
        else:
            steps = [(0.012, _PS, b"r", -1)]
            if rng.random() < 0.6:
                steps += [(0.1, _BC, b"", 0), (0.1, _BC, b"", target)]
            else:
                steps += [(0.1, _BC, b"", target)]
        steps.append((join_s, _PS, b"p", -1))
        return collections.deque(steps)

    def filled(self) -> bool:
        """Every session of the fill has opened and is playing."""
        return not self._unopened and self._starting == 0

    def next_session(self) -> Session:
        """The session whose report goes next: one whose plan's next report is due, else a replacement
        waiting to start, else one of the fill's sessions still to open (unless the rotation's head has
        been silent for ``keepalive_s``: a slow fill must not let the first sessions expire), else the
        rotation's head."""
        due = self._due
        now_s = time.monotonic()
        while due and due[0][0] <= now_s:
            _at, _order, session = heapq.heappop(due)
            if not session.in_flight:
                session.scheduled, session.followup = False, True
                return session
            heapq.heappush(due, (now_s + 0.005, next(self._order), session))  # after its answer
        if self._fresh:
            return self._fresh.popleft()
        if self._unopened:
            rotation = self.rotation
            while rotation and rotation[0].ended:
                rotation.popleft()
            if not rotation or now_s - rotation[0].last_sent_s < self._keepalive_s:
                session = self._unopened.popleft()
                rotation.append(session)
                return session
        for _ in range(len(self.rotation)):
            session = self.rotation.popleft()
            if session.ended:
                continue  # dropped here: removing it from the middle at its end costs O(sessions)
            self.rotation.append(session)
            if not session.in_flight:
                return session
        raise RuntimeError("every session has a report in flight: use more sessions than connections")

    # -- one report ---------------------------------------------------------------------------------

    def request(self, session: Session) -> bytes:
        """The next report of ``session`` as a complete HTTP request, built with the current time."""
        now_s = time.monotonic()
        if session.last_sent_s and not session.ended:
            self.longest_gap_s = max(self.longest_gap_s, now_s - session.last_sent_s)
        session.last_sent_s = now_s
        rung = -1
        if session.sn == 0:
            e, sta = _T, b""
            self.counts.starts += 1
            self.live.add(session)
        elif session.followup:
            session.followup = False
            _delay, e, sta, rung = session.plan.popleft()
        elif session.plan or session.sta != b"p":
            e, sta = _T, b""  # in the middle of its start-up or a story: an interval report
        elif self._rng.random() < self._end_share:
            e, sta, rung = self._end(session)
        else:
            e, sta, rung = self._stories.pick(self._rng)(session)
        body = self._report(session, e, sta, rung)
        if session.plan and not session.scheduled:  # an interval report in the middle of a plan leaves it be
            heapq.heappush(self._due, (now_s + session.plan[0][0], next(self._order), session))
            session.scheduled = True
        counts = self.counts
        counts.batches += 1
        counts.events += 1
        kind = e.decode()
        counts.by_event[kind] = counts.by_event.get(kind, 0) + 1
        return b"%sContent-Length: %d\r\n\r\n%s" % (session.device.head, len(body), body)

    def _report(self, session: Session, e: bytes, sta: bytes, rung: int) -> bytes:
        """One line with the player's keys, in the order its encoder writes them; counts its outcome."""
        rng = self._rng
        player = session.device.player
        ts = max(int(time.time() * 1000) + session.device.viewer.skew_ms, session.last_ts + 1)
        session.last_ts = ts
        if e == _PS:
            session.sta = sta
        if rung >= 0:
            session.rung, session.br_known = rung, True
        sta = session.sta
        ec = b""
        if e == _ERROR:
            if player == HLS:
                ec = rng.choice(_HLS_FATAL if sta == b"f" else _HLS_WARNINGS)
            else:
                ec = session.ec = rng.choice(_DASH_WARNINGS)
        elif player == DASH:
            ec = session.ec
        bps = session.device.viewer.ladder_bps[session.rung]
        kbps = -1
        parts = []
        if player == HLS:
            if e == _PS and sta == b"s":
                session.mtp = 500
            elif session.br_known:
                session.mtp = rng.randrange(20, 1200) * 100
            if session.br_known:
                kbps = (bps + bps // 30) // 1000  # the playlist's BANDWIDTH, with its overhead
                buffer_ms = rng.randrange(40, 300) * 100 if sta == b"p" else rng.randrange(0, 20) * 100
                parts.append(b"bl=(%d),br=(%d)," % (buffer_ms, kbps))
            parts += (session.cid, b"e=%s," % e)
            if ec:
                parts.append(b"ec=%s," % ec)
            if session.mtp:
                parts.append(b"mtp=(%d)," % session.mtp)
            parts += (b"sf=h,", session.sid_key, b"sn=%d," % session.sn)
        else:
            if session.br_known and (player == SHAKA or e != _T):  # dash.js puts no br on `t`
                kbps = bps // 1000
                parts.append(b"br=(%d;v 64;a)," % kbps if player == DASH else b"br=(%d)," % kbps)
            parts += (session.cid, b"e=%s," % e)
            if ec:
                parts.append(b"ec=%s," % ec)
            if session.br_known:
                parts.append(b"sf=d,")
            parts += (session.sid_key, b"sn=%d," % session.sn)
        if session.br_known:
            parts.append(b"st=%s," % session.st)
        if sta:
            parts.append(b"sta=%s," % sta)
        parts.append(b"ts=%d,v=2\n" % ts)
        self._count(session, e, sta, kbps, ts)
        session.sn += 1
        return b"".join(parts)

    def _count(self, session: Session, e: bytes, sta: bytes, kbps: int, ts: int) -> None:
        counts = self.counts
        if session.closed:
            counts.expected_late += 1
            return
        if e == _PS and sta == b"p" and session.initial and session.expected.join_ms < 0:
            self._starting -= 1
        makes_events = kbps >= 0 or e == _ERROR or (e == _PS and sta in _STATE_REPORTS) or (e != _PS and sta in _STEADY)
        if session.sn == 0 or makes_events:
            counts.makes_events += 1
        else:
            counts.start_only += 1
        session.expected.observe(ts, e, sta, kbps)
        if e == _PS and sta == b"e":
            session.closed = True
            session.expected.ended_status = BY_PLAYER
            counts.ends += 1
            self.live.discard(session)
            ended = session.conviva_session_id
            self.ended.append(ended)
            self.expected[ended] = session.expected

    # -- what the reports say -----------------------------------------------------------------------

    def _leave(self, session: Session, *, fading: bool) -> None:
        """The session leaves the rotation (it ends or goes silent); a new one takes its place at once."""
        session.ended = True
        if fading:  # silent after its plan: the server expires it
            session.expected.ended_status = BY_EXPIRATION
            self.live.discard(session)
            self.expiring.append(session)
            self.expected[session.conviva_session_id] = session.expected
        replacement = self._new_session()
        self.rotation.append(replacement)
        self._fresh.append(replacement)

    def _end(self, session: Session) -> tuple[bytes, bytes, int]:
        rng, player = self._rng, session.device.player
        kind = rng.random()
        if kind < FAILURE_SHARE and player == HLS:  # ps f, then the error with its code
            session.plan.append((0.003, _ERROR, b"", -1))
            if rng.random() < LINGER_SHARE:
                session.plan.append((rng.uniform(1, 10), _T, b"", -1))
            self.counts.failures += 1
            self._leave(session, fading=True)
            return _PS, b"f", -1
        if kind < FAILURE_SHARE + CLOSED_SHARE:  # this interval report is the last: the page closes
            self.counts.closed += 1
            self._leave(session, fading=True)
            return _T, b"", -1
        if player == DASH:
            first = (_PS, b"a", -1)
            session.plan.append((0.002, _PS, b"e", -1))
        elif player == SHAKA:
            first = (_PS, b"e", -1)
            session.plan += [(0.002, _PS, b"a", -1), (0.001, _PS, b"e", -1)]
        else:
            first = (_PS, b"e", -1)
        if rng.random() < LINGER_SHARE:
            session.plan.append((rng.uniform(0.05, 10), _T, b"", -1))
        self._leave(session, fading=False)
        return first

    def _interval(self, _session: Session) -> tuple[bytes, bytes, int]:
        return _T, b"", -1

    def _bitrate_switch(self, session: Session) -> tuple[bytes, bytes, int]:
        ladder = session.device.viewer.ladder_bps
        rung = session.rung + self._rng.choice((-1, 1))
        if not 0 <= rung < len(ladder):
            rung = session.rung - 1 if session.rung else session.rung + 1
        if session.device.player == DASH:  # no `bc`: its next `ps` report carries the new br
            session.rung = rung
            return _T, b"", -1
        return _BC, b"", rung

    def _stall(self, session: Session) -> tuple[bytes, bytes, int]:
        rng = self._rng
        if session.device.player == HLS and session.rung and rng.random() < 0.3:  # ABR steps down during it
            session.plan.append((rng.uniform(0.3, 2), _BC, b"", session.rung - 1))
        session.plan.append((rng.uniform(0.5, 6), _PS, b"p", -1))
        return _PS, b"r", -1

    def _pause(self, session: Session) -> tuple[bytes, bytes, int]:
        session.plan.append((self._rng.uniform(2, 40), _PS, b"p", -1))
        return _PS, b"a", -1

    def _seek(self, session: Session) -> tuple[bytes, bytes, int]:
        waiting = b"w" if session.device.player == DASH else b"r"
        session.plan += [(0.005, _PS, waiting, -1), (self._rng.uniform(0.1, 1.5), _PS, b"p", -1)]
        return _PS, b"k", -1

    def _warning(self, session: Session) -> tuple[bytes, bytes, int]:
        if session.device.player == SHAKA:  # Shaka reports no errors
            return _T, b"", -1
        return _ERROR, b"", -1
