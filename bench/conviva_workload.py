"""The players of ``bench_conviva.py``: Conviva JS core SDK sessions (heartbeat protocol 2.8), each
heartbeat built, as a complete ``POST /0/wsg`` request, at the moment it is sent.

The bodies have the shape, field order and units of what SDK 4.8.0 really posts (captured from the
SDK in Node.js against a local server; ``/work/shared/reference/conviva-sdk-protocol.md``): every
heartbeat repeats the device (``pm``), the content metadata and custom ``tags``, and a snapshot of
the player (``ps``, ``br``, ``pht``, ``afps``, ``rs``, ``csi``, ...), and carries in ``evs`` the
events since the previous one.

- Heartbeat 0 opens the session (state 100, UNKNOWN), with the one state change that carries all
  the content metadata, as the SDK sends it at ``reportPlaybackRequested``.
- Heartbeat 1 holds the start-up: 100 -> buffering, the first bitrate, buffering -> playing, and
  usually the first CDN edge address (``csi``).
- Later heartbeats carry 2 to 6 events each: bitrate switches (with a resolution change), stalls,
  pauses, seeks, CDN edge and CDN changes, warnings (``CwsErrorEvent``, not fatal) and custom events.
- ``end_share`` of the heartbeats from seq 2 on end their session: ``ps`` -> 1 and
  ``CwsSessionEndEvent`` at the heartbeat's own time, one in ten after a fatal error (the SDK's
  ``reportPlaybackFailed``). A new session (often of a device already seen) takes its place at once.

Heartbeat ``seq`` and event ``seq`` are contiguous per session; ``sst`` is the session's start on the
device's clock (off by about ±1.5 s) and ``st`` the real time since then; each event's ``st`` lies
between the previous heartbeat's and this one's. Besides the requests, the workload counts what the
server should make of them (``WorkloadCounts``), for the benchmark's checks.
"""

from __future__ import annotations

import collections
import dataclasses
import random
import time
from collections.abc import Callable

import msgspec

from ingest_workload import Viewer, viewer_of
from reelsight.generate.catalogue import NATIVE_APP, Asset, Cdn, assets, cdns
from reelsight.generate.population import Client, Population, Weighted
from reelsight.simulate.identity import public_address

PATH = "/0/wsg"
STARTING, PLAYING, BUFFERING, PAUSED, STOPPED = 100, 3, 6, 12, 1  # the SDK's `ps` codes
FAILURE_SHARE = 0.1  # of the ends: a fatal error first (reportPlaybackFailed)

_ASSETS = Weighted((a, a.weight) for a in assets())
_CDNS = Weighted((c, c.weight) for c in cdns())
_EDGE_RNG = random.Random(11)
_EDGE_ADDRESSES = {c.name: tuple(public_address(_EDGE_RNG).encode() for _ in range(40)) for c in cdns()}  # `csi`
_JSON = msgspec.json.Encoder()

# The generator's hardware types -> the SDK's DeviceType values (`pm.dvt`).
_DEVICE_TYPES = {
    "Desktop": "DESKTOP",
    "Mobile Phone": "Mobile",
    "Tablet": "Tablet",
    "Smart TV": "SmartTV",
    "Set-top Box": "Settop",
    "Streaming Stick": "Settop",
    "Game Console": "Console",
}
# OS -> the SDK's DeviceCategory (`pm.cat`) for native apps; browsers are "WEB".
_CATEGORIES = {
    "iOS": "APL",
    "iPadOS": "APL",
    "tvOS": "APL",
    "Android": "AND",
    "Android TV": "AND",
    "Fire OS": "AMZ",
    "Roku OS": "RK",
    "Tizen": "SAMSUNGTV",
    "webOS": "LGTV",
    "PlayStation OS": "PS",
    "Xbox OS": "XB",
}
_RESOLUTIONS = ((640, 360), (854, 480), (1280, 720), (1920, 1080), (2560, 1440), (3840, 2160))
_WARNINGS = (b"NETWORK_ERROR: segment request timed out", b"DECODER_WARNING: dropped frames", b"DRM_LICENSE_RENEWAL")
_FATAL = (b"MEDIA_ERR_DECODE: decoder failure", b"ENTITLEMENT_DENIED: subscription required", b"NETWORK_ERROR: fatal")
_CUSTOM = (
    b'"name":"chapter_start","attr":{"chapter":"%d"},',
    b'"name":"subtitle_toggle","attr":{"enabled":"true"},',
    b'"name":"quality_menu_open","attr":{"screen":"player"},',
)


def _state(new: int, old: int) -> bytes:
    return b'"new":{"ps":%d},"old":{"ps":%d},' % (new, old)


def _lv(asset: Asset) -> bytes:
    return b"true" if asset.is_live else b"false"


def _tags(viewer: Viewer, asset: Asset) -> dict[str, str]:
    """The SDK's `tags`: the app version and every custom key of the content info, as strings."""
    custom = {k: v for k, v in viewer.metadata.items() if not k.startswith(("player_", "app_version"))}
    return {"c3.app.version": viewer.metadata["app_version"], **custom, "channel": asset.channel}


@dataclasses.dataclass(slots=True)
class Device:
    """What stays the same across a device's sessions: the viewer, and its pre-encoded parts."""

    viewer: Viewer
    clid: bytes
    iid: int
    pm: bytes  # the "pm" object
    head: bytes  # the HTTP request head up to Content-Length


@dataclasses.dataclass(slots=True, eq=False)
class Session:
    device: Device
    sid: int
    asset: Asset
    cdn: Cdn
    sst: int  # the session's start, device-clock epoch ms
    ids: bytes  # '"clid":...,"sid":...,' of the body
    content: bytes  # '"pm":...,"vid":...,"tags":...,"an":...,"sf":7,': after "caps" (and "csi"), before "ps"
    player: bytes  # '"pn":...,"lv":...,"cl":...,': after "pj", before "br"
    url: bytes  # the stream URL, a JSON string
    efps: int
    seq: int = 0  # the next heartbeat's seq
    ev_seq: int = 0  # the next event's seq
    last_st: int = 0  # st of the previous heartbeat
    ps: int = STARTING
    rung: int = 2  # index into the viewer's bitrate ladder; -1 before the first bitrate
    resolution: int = 3
    pht: int = 0
    rfps: int = 0  # rendered-fps samples (one a second while playing) and their sum
    csi: bytes = b""  # the CDN edge address, once reported
    in_flight: bool = False
    ended: bool = False  # its player ended it: the rotation drops it when it comes round
    last_sent_s: float = 0.0  # monotonic time of its previous heartbeat

    @property
    def conviva_session_id(self) -> str:
        return f"{self.device.viewer.client_id}.{self.sid}"

    def kbps(self, rung: int | None = None) -> int:
        return self.device.viewer.ladder_bps[self.rung if rung is None else rung] // 1000


@dataclasses.dataclass
class WorkloadCounts:
    batches: int = 0  # heartbeats
    events: int = 0  # SDK events (entries of `evs`)
    starts: int = 0
    ends: int = 0
    failures: int = 0  # ends after a fatal error
    # What the server should count (/metrics reelsight_ingest_events_total), one outcome per index of
    # the decoded heartbeat: each SDK event that yields internal events (custom events and resolution
    # changes yield none), the start (heartbeat 0) and every heartbeat's snapshot are accepted; a later
    # heartbeat's repeated start is a duplicate; the snapshot of a session's last heartbeat falls after
    # its end: late.
    expected_accepted: int = 0
    expected_duplicate: int = 0
    expected_late: int = 0


# One SDK event before its time is known: (the fields before "t", its type, internal events it yields).
_Spec = tuple[bytes, bytes, int]
_STATE_CHANGE, _SEEK, _ERROR, _CUSTOM_EVENT = (
    b"CwsStateChangeEvent",
    b"CwsSeekEvent",
    b"CwsErrorEvent",
    b"CwsCustomEvent",
)


class Workload:
    """The players: ``sessions`` live sessions visited in rotation, each visit one heartbeat."""

    def __init__(self, sessions: int, *, seed: int, end_share: float, host_header: str, customer_key: str) -> None:
        self._rng = random.Random(seed)
        self._key = _JSON.encode(customer_key)
        self._population = Population(self._rng, max(1000, sessions * 2))
        self._devices: dict[str, Device] = {}
        self._end_share = end_share
        self._host = host_header
        self._stories: Weighted[Callable[[Session], list[_Spec]]] = Weighted(
            [
                (self._bitrate_switch, 30),
                (self._stall, 20),
                (self._pause, 10),
                (self._seek, 8),
                (self._edge_change, 10),
                (self._cdn_change, 5),
                (self._warning, 7),
                (self._custom, 10),
            ]
        )
        self.rotation: collections.deque[Session] = collections.deque(self._new_session() for _ in range(sessions))
        self._fresh: collections.deque[Session] = collections.deque()
        self.counts = WorkloadCounts()
        self.ended: list[str] = []  # conviva session ids the players ended
        self.live: set[Session] = set()  # opened (heartbeat 0 sent) and not ended
        self.longest_gap_s = 0.0  # the longest silence between two heartbeats of one session

    # -- sessions -----------------------------------------------------------------------------------

    def _device(self, client: Client) -> Device:
        device = self._devices.get(client.client_id)
        if device is not None:
            return device
        rng = self._rng
        viewer = viewer_of(client, rng)
        profile = client.device.profile
        dims = client.dimensions
        pm: dict[str, object] = {"sch": "sdk.js.1"}
        if profile.browser == NATIVE_APP:
            pm |= {
                "dvb": dims["device_manufacturer"],
                "dvma": dims["device_manufacturer"],
                "dvm": dims["device_model"],
                "dvt": _DEVICE_TYPES.get(profile.hardware_type, "Other"),
                "os": profile.os.upper(),
                "osv": client.device.os_version.removeprefix(profile.os).strip(),
                "cat": _CATEGORIES.get(profile.os, "Other"),
            }
        else:
            pm |= {
                "br": profile.browser,
                "brv": client.device.browser_version,
                "dvt": "DESKTOP",
                "os": profile.os.upper(),
                "osv": client.device.os_version.removeprefix(profile.os).strip(),
                "cat": "WEB",
            }
        if viewer.metadata.get("player_framework_name"):
            pm |= {"fw": viewer.metadata["player_framework_name"], "fwv": viewer.metadata["player_framework_version"]}
        head = f"POST {PATH} HTTP/1.1\r\nHost: {self._host}\r\nContent-Type: application/json\r\n"
        head += f"User-Agent: {viewer.header_user_agent}\r\nX-Forwarded-For: {viewer.ip}\r\n"
        if profile.browser != NATIVE_APP:
            head += "Origin: https://watch.reelsight.example\r\n"
        device = Device(viewer, viewer.client_id.encode(), rng.getrandbits(32), _JSON.encode(pm), head.encode())
        self._devices[client.client_id] = device
        return device

    def _new_session(self) -> Session:
        client = self._population.draw()
        device = self._device(client)
        viewer = device.viewer
        sid = int(self._population.next_session_id(client))
        asset, cdn = _ASSETS.pick(self._rng), _CDNS.pick(self._rng)
        ids = b'"clid":"%s","sid":%d,' % (device.clid, sid)
        content = b'"pm":%s,"vid":%s,"tags":%s,"an":%s,"sf":7,' % (
            device.pm,
            _JSON.encode(viewer.viewer_id),
            _JSON.encode(_tags(viewer, asset)),
            _JSON.encode(asset.name),
        )
        player = b'"pn":%s,"lv":%s,' % (_JSON.encode(viewer.metadata["player_name"]), _lv(asset))
        if asset.length_ms:
            player += b'"cl":%d,' % (asset.length_ms // 1000)
        url = _JSON.encode(asset.hls_url if viewer.hls else asset.dash_url)
        session = Session(device, sid, asset, cdn, 0, ids, content, player, url, asset.fps)
        session.rung = min(2, len(viewer.ladder_bps) - 1)
        return session

    def next_session(self) -> Session:
        """The session whose heartbeat goes next: a replacement waiting to start, else the rotation's head."""
        if self._fresh:
            return self._fresh.popleft()
        for _ in range(len(self.rotation)):
            session = self.rotation.popleft()
            if session.ended:
                continue  # dropped here: removing it from the middle at its end costs O(sessions)
            self.rotation.append(session)
            if not session.in_flight:
                return session
        raise RuntimeError("every session has a heartbeat in flight: use more sessions than connections")

    # -- one heartbeat ------------------------------------------------------------------------------

    def request(self, session: Session) -> bytes:
        """The next heartbeat of ``session`` as a complete HTTP request, built with the current time."""
        device = session.device
        now_ms = int(time.time() * 1000) + device.viewer.skew_ms
        now_s = time.monotonic()
        if session.last_sent_s:
            self.longest_gap_s = max(self.longest_gap_s, now_s - session.last_sent_s)
        session.last_sent_s = now_s
        counts = self.counts
        ends = False
        if session.seq == 0:
            session.sst = now_ms - 2
            st = 2
            events = self._place(session, [self._metadata(session)], [1])
            counts.starts += 1
            counts.expected_accepted += 3  # the metadata change (a CDN and a metadata update), start, snapshot
            self.live.add(session)
        else:
            st = max(now_ms - session.sst, session.last_st + 1)
            ends = session.seq >= 2 and self._rng.random() < self._end_share
            specs = self._first_play(session) if session.seq == 1 else self._periodic(session, ends)
            events = self._place(session, specs, self._times(session, st, len(specs), ends))
            self._advance(session, st)
            counts.expected_accepted += sum(1 for spec in specs if spec[2])
            counts.expected_duplicate += 1  # the repeated start
            if not ends:  # a heartbeat that ends its session carries no snapshot
                counts.expected_accepted += 1  # the snapshot
        hbinfos = b""
        if session.seq:
            hbinfos = b'"hbinfos":[{"seq":%d,"rtt":%d,"err":"ok"}],' % (session.seq - 1, self._rng.randrange(4, 90))
        body = b"".join(
            (
                b'{"t":"CwsSessionHb","cid":%s,%s' % (self._key, session.ids),
                b'"seq":%d,"pver":"2.8","clv":"4.8.0","iid":%d,"caps":0,' % (session.seq, device.iid),
                b'"csi":"%s",' % session.csi if session.csi else b"",
                session.content,
                b'"ps":%d,"pj":false,' % session.ps,
                session.player,
                b'"br":%d,' % session.kbps() if session.seq else b"",
                b'"rs":"%s","efps":%d,' % (session.cdn.name.encode(), session.efps),
                self._playback(session),
                b'"url":%s,"evs":[%s],"sdk":true,' % (session.url, b",".join(events)),
                hbinfos,
                b'"sst":%d,"st":%d}' % (session.sst, st),
            )
        )
        counts.batches += 1
        counts.events += len(events)
        if ends:
            counts.ends += 1
            self.ended.append(session.conviva_session_id)
            self.live.discard(session)
            session.ended = True
            replacement = self._new_session()
            self.rotation.append(replacement)
            self._fresh.append(replacement)
        session.last_st = st
        session.seq += 1
        return b"%sContent-Length: %d\r\n\r\n%s" % (device.head, len(body), body)

    def _playback(self, session: Session) -> bytes:
        """The snapshot's playback fields, once the player has played."""
        if session.seq == 0:
            return b""
        return b'"pht":%d,"afps":%d,"rfpstot":%d,"rfpscnt":%d,' % (
            session.pht,
            session.efps,
            session.rfps * session.efps,
            session.rfps,
        )

    def _advance(self, session: Session, st: int) -> None:
        """Playhead and rendered-fps samples move on with the time since the previous heartbeat."""
        elapsed = st - session.last_st
        if session.seq >= 1:
            session.pht += elapsed
            if session.asset.length_ms:
                session.pht = min(session.pht, session.asset.length_ms)
            session.rfps += elapsed // 1000

    def _times(self, session: Session, st: int, count: int, ends: bool) -> list[int]:
        """Increasing event times after the previous heartbeat, up to ``st``; an end is at ``st``."""
        low = session.last_st + 1
        if st - low >= count:
            times = sorted(self._rng.sample(range(low, st), count))
        else:
            times = [min(st, low + i) for i in range(count)]
        if ends:  # the last events (state -> stopped, the end, and a fatal error before them) are at st
            for i in range(count - 1, max(-1, count - 4), -1):
                if times[i] < st:
                    times[i] = st
        return times

    def _place(self, session: Session, specs: list[_Spec], times: list[int]) -> list[bytes]:
        events = []
        for (fields, kind, _internal), st in zip(specs, times, strict=True):
            if kind == b"CwsSessionEndEvent":
                events.append(b'{"seq":%d,"st":%d,"t":"CwsSessionEndEvent"}' % (session.ev_seq, st))
            elif session.seq >= 1:
                pht = session.pht + (st - session.last_st)
                events.append(b'{%s"t":"%s","st":%d,"seq":%d,"pht":%d}' % (fields, kind, st, session.ev_seq, pht))
            else:
                events.append(b'{%s"t":"%s","st":%d,"seq":%d}' % (fields, kind, st, session.ev_seq))
            session.ev_seq += 1
        return events

    # -- what the events say ------------------------------------------------------------------------

    def _metadata(self, session: Session) -> _Spec:
        """Heartbeat 0's one event: the first state change, carrying all content metadata."""
        viewer, asset = session.device.viewer, session.asset
        new = b'"new":{"an":%s,"pn":%s,"url":%s,"vid":%s,"rs":"%s",%s"efps":%d,"lv":%s,"tags":%s},' % (
            _JSON.encode(asset.name),
            _JSON.encode(viewer.metadata["player_name"]),
            session.url,
            _JSON.encode(viewer.viewer_id),
            session.cdn.name.encode(),
            b'"cl":%d,' % (asset.length_ms // 1000) if asset.length_ms else b"",
            session.efps,
            _lv(asset),
            _JSON.encode(_tags(viewer, asset)),
        )
        return (new, _STATE_CHANGE, 2)

    def _first_play(self, session: Session) -> list[_Spec]:
        """Heartbeat 1: start-up (100 -> buffering, the first bitrate, buffering -> playing), the edge."""
        session.ps = PLAYING
        specs: list[_Spec] = [
            (_state(BUFFERING, STARTING), _STATE_CHANGE, 1),
            (b'"new":{"br":%d},' % session.kbps(), _STATE_CHANGE, 1),
            (_state(PLAYING, BUFFERING), _STATE_CHANGE, 1),
        ]
        if self._rng.random() < 0.8:
            session.csi = self._rng.choice(_EDGE_ADDRESSES[session.cdn.name])
            specs.append((b'"new":{"csi":"%s"},' % session.csi, _STATE_CHANGE, 1))
        return specs

    def _periodic(self, session: Session, ends: bool) -> list[_Spec]:
        """2 to 6 events: player stories, and the end if the session ends."""
        rng = self._rng
        count = rng.randint(2, 6)
        closing: list[_Spec] = []
        if ends:
            closing = [(_state(STOPPED, PLAYING), _STATE_CHANGE, 1), (b"", b"CwsSessionEndEvent", 1)]
            if rng.random() < FAILURE_SHARE:
                closing.insert(0, (b'"err":"%s","ft":true,' % rng.choice(_FATAL), _ERROR, 1))
                self.counts.failures += 1
        specs: list[_Spec] = []
        while len(specs) + len(closing) < count:
            story = self._stories.pick(rng)(session)
            if len(specs) + len(closing) + len(story) <= count:
                specs += story
        if ends:
            session.ps = STOPPED
        return specs + closing

    def _bitrate_switch(self, session: Session) -> list[_Spec]:
        ladder = session.device.viewer.ladder_bps
        old = session.rung
        session.rung = max(0, min(len(ladder) - 1, old + self._rng.choice((-1, 1))))
        if session.rung == old:
            session.rung = old - 1 if old else old + 1
        specs: list[_Spec] = [
            (b'"new":{"br":%d},"old":{"br":%d},' % (session.kbps(), session.kbps(old)), _STATE_CHANGE, 1)
        ]
        if self._rng.random() < 0.5:
            (w0, h0), (w1, h1) = _RESOLUTIONS[session.resolution], _RESOLUTIONS[min(5, session.rung + 1)]
            session.resolution = min(5, session.rung + 1)
            if (w0, h0) != (w1, h1):
                change = b'"new":{"w":%d,"h":%d},"old":{"w":%d,"h":%d},' % (w1, h1, w0, h0)
                specs.append((change, _STATE_CHANGE, 0))  # resolution: not a field Reelsight reads
        return specs

    def _stall(self, _session: Session) -> list[_Spec]:
        return [(_state(BUFFERING, PLAYING), _STATE_CHANGE, 1), (_state(PLAYING, BUFFERING), _STATE_CHANGE, 1)]

    def _pause(self, _session: Session) -> list[_Spec]:
        return [(_state(PAUSED, PLAYING), _STATE_CHANGE, 1), (_state(PLAYING, PAUSED), _STATE_CHANGE, 1)]

    def _seek(self, session: Session) -> list[_Spec]:
        target = self._rng.randrange(0, max(1, session.asset.length_ms or 3_600_000))
        return [
            (b'"act":"pss","skto":%d,' % target, _SEEK, 1),
            (_state(BUFFERING, PLAYING), _STATE_CHANGE, 1),
            (b'"act":"pse",', _SEEK, 1),
            (_state(PLAYING, BUFFERING), _STATE_CHANGE, 1),
        ]

    def _edge_change(self, session: Session) -> list[_Spec]:
        old, session.csi = session.csi, self._rng.choice(_EDGE_ADDRESSES[session.cdn.name])
        change = (
            b'"new":{"csi":"%s"},"old":{"csi":"%s"},' % (session.csi, old)
            if old
            else b'"new":{"csi":"%s"},' % session.csi
        )
        return [(change, _STATE_CHANGE, 1)]

    def _cdn_change(self, session: Session) -> list[_Spec]:
        old = session.cdn
        while session.cdn is old:
            session.cdn = _CDNS.pick(self._rng)
        change = b'"new":{"rs":"%s"},"old":{"rs":"%s"},' % (session.cdn.name.encode(), old.name.encode())
        return [(change, _STATE_CHANGE, 1), *self._edge_change(session)]

    def _warning(self, _session: Session) -> list[_Spec]:
        return [(b'"err":"%s","ft":false,' % self._rng.choice(_WARNINGS), _ERROR, 1)]

    def _custom(self, _session: Session) -> list[_Spec]:
        template = self._rng.choice(_CUSTOM)
        fields = template % self._rng.randrange(1, 20) if b"%d" in template else template
        return [(fields, _CUSTOM_EVENT, 0)]  # custom events carry nothing the session document keeps
