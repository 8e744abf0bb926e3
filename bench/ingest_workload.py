"""The players of ``bench_ingest.py``: live sessions whose next batch of 20 native events is built,
as a complete HTTP request, at the moment it is sent.
"""

from __future__ import annotations

import collections
import dataclasses
import random
import time

import msgspec

from reelsight.generate.catalogue import NATIVE_APP, Asset, Cdn, assets, cdns
from reelsight.generate.population import Client, Population, Weighted
from reelsight.simulate.identity import browser_user_agent, public_address

PATH = "/ingest/v1/events"
EVENTS_PER_BATCH = 20


_ASSETS = Weighted((a, a.weight) for a in assets())
_CDNS = Weighted((c, c.weight) for c in cdns())
_JSON = msgspec.json.Encoder()


@dataclasses.dataclass(slots=True)
class Viewer:
    """A device: what its requests and start events say about it, the same for all its sessions."""

    client_id: str
    ip: str
    header_user_agent: str  # a browser's User-Agent, or a native app's HTTP client
    device: dict[str, str]  # what a native player reports; empty for a browser
    viewer_id: str
    metadata: dict[str, str]  # standard dimensions and custom tags the player reports
    ladder_bps: tuple[int, ...]
    hls: bool
    skew_ms: int  # the device clock's offset: the server corrects it with sent_at_ms


def viewer_of(client: Client, rng: random.Random) -> Viewer:
    profile = client.device.profile
    dims = client.dimensions
    if profile.browser == NATIVE_APP:
        device = {
            "hardware_type": profile.hardware_type,
            "manufacturer": dims["device_manufacturer"],
            "model": dims["device_model"],
            "marketing_name": dims["device_marketing_name"],
            "name": profile.name,
            "os": profile.os,
            "os_family": profile.os_family,
            "os_version": client.device.os_version,
        }
        agent = f"{profile.app_prefix.rstrip('_')}Player/{dims['app_version'].split('_')[-1]} ({profile.os})"
    else:
        device = {}
        agent = browser_user_agent(profile.browser, client.device.browser_version)
    metadata = {
        "player_name": profile.player_name,
        "app_version": dims["app_version"],
        "player_framework_name": dims.get("player_framework_name", ""),
        "player_framework_version": dims.get("player_framework_version", ""),
        "subscription_tier": client.tier,
        "experiment": client.experiment,
        "app_build": client.app_build,
        "drm": profile.drm,
    }
    if client.connection_type:
        metadata["connection_type"] = client.connection_type
    return Viewer(
        client_id=client.client_id,
        ip=public_address(rng),
        header_user_agent=agent,
        device=device,
        viewer_id=client.viewer_id,
        metadata={k: v for k, v in metadata.items() if v},
        ladder_bps=profile.ladder_bps,
        hls=profile.stream_format == "hls",
        skew_ms=round(rng.gauss(0, 1500)),
    )


@dataclasses.dataclass(slots=True, eq=False)
class Session:
    viewer: Viewer
    session_id: str
    asset: Asset
    ids: bytes  # the pre-encoded '"client_id":...,"session_id":...' part of every event
    cdn: Cdn
    seq: int = 0
    last_t_ms: int = 0  # on the device's clock
    playhead_ms: int = 0
    rung: int = 2  # index into the viewer's bitrate ladder
    in_flight: bool = False
    last_sent_s: float = 0.0  # monotonic time of its previous batch

    @property
    def conviva_session_id(self) -> str:
        return f"{self.viewer.client_id}.{self.session_id}"


@dataclasses.dataclass
class WorkloadCounts:
    batches: int = 0
    events: int = 0
    starts: int = 0
    ends: int = 0


class Workload:
    """The players: ``sessions`` live sessions visited in rotation, each visit one batch of 20 events.

    A session's first batch opens it (start, join, first bitrate ...); later ones carry playhead
    reports and heartbeats, now and then a bitrate switch, a stall, a pause, a seek or a CDN change,
    spread over the time since its previous batch. ``end_share`` of the later batches end the
    session; a new session (often of a device already seen) takes its place in the next request.
    """

    def __init__(self, sessions: int, *, seed: int, end_share: float, host_header: str, ingest_key: str) -> None:
        self._rng = random.Random(seed)
        self._ingest_key = ingest_key.encode()
        self._population = Population(self._rng, max(1000, sessions * 2))
        self._viewers: dict[str, Viewer] = {}
        self._end_share = end_share
        self._head = f"POST {PATH} HTTP/1.1\r\nHost: {host_header}\r\nContent-Type: application/json\r\n"
        self.rotation: collections.deque[Session] = collections.deque(self._new_session() for _ in range(sessions))
        self._fresh: collections.deque[Session] = collections.deque()
        self.counts = WorkloadCounts()
        self.ended: list[str] = []  # conviva session ids the players ended
        self.live: set[Session] = set()  # opened (a start was sent) and not ended
        self.longest_gap_s = 0.0  # the longest silence between two batches of one session

    def _new_session(self) -> Session:
        client = self._population.draw()
        viewer = self._viewers.get(client.client_id)
        if viewer is None:
            viewer = self._viewers[client.client_id] = viewer_of(client, self._rng)
        session_id = self._population.next_session_id(client)
        ids = b'"client_id":"%s","session_id":"%s"' % (viewer.client_id.encode(), session_id.encode())
        return Session(viewer, session_id, _ASSETS.pick(self._rng), ids, _CDNS.pick(self._rng))

    def next_session(self) -> Session:
        """The session whose batch goes next: a replacement waiting to start, else the rotation's head."""
        if self._fresh:
            return self._fresh.popleft()
        for _ in range(len(self.rotation)):
            session = self.rotation.popleft()
            self.rotation.append(session)
            if not session.in_flight:
                return session
        raise RuntimeError("every session has a batch in flight: use more sessions than connections")

    def request(self, session: Session) -> bytes:
        """The next batch of ``session`` as a complete HTTP request, stamped with the current time."""
        viewer = session.viewer
        now_ms = int(time.time() * 1000) + viewer.skew_ms
        now_s = time.monotonic()
        if session.last_sent_s:
            self.longest_gap_s = max(self.longest_gap_s, now_s - session.last_sent_s)
        session.last_sent_s = now_s
        if session.seq == 0:
            events = self._opening(session, now_ms)
            self.counts.starts += 1
            self.live.add(session)
        else:
            ends = self._rng.random() < self._end_share
            events = self._continuing(session, now_ms, ends)
            if ends:
                self.counts.ends += 1
                self.ended.append(session.conviva_session_id)
                self.live.discard(session)
                self.rotation.remove(session)
                replacement = self._new_session()
                self.rotation.append(replacement)
                self._fresh.append(replacement)
        self.counts.batches += 1
        self.counts.events += len(events)
        body = b'{"v":1,"ingest_key":"%s","sent_at_ms":%d,"events":[%s]}' % (
            self._ingest_key,
            now_ms,
            b",".join(events),
        )
        head = f"{self._head}User-Agent: {viewer.header_user_agent}\r\nX-Forwarded-For: {viewer.ip}\r\n"
        return b"%sContent-Length: %d\r\n\r\n%s" % (head.encode(), len(body), body)

    def _event(self, session: Session, kind: bytes, t_ms: int, extra: bytes = b"") -> bytes:
        event = b'{"type":"%s",%s,"seq":%d,"t_ms":%d%s}' % (kind, session.ids, session.seq, t_ms, extra)
        session.seq += 1
        return event

    def _times(self, session: Session, now_ms: int, count: int) -> list[int]:
        """``count`` increasing event times after the session's previous batch, ending about now."""
        first = session.last_t_ms + 1000
        last = max(now_ms - 20, first + count)
        first = max(first, last - 45_000)
        step = (last - first) / (count - 1)
        times = [first + round(i * step) for i in range(count)]
        session.last_t_ms = times[-1]
        return times

    def _opening(self, session: Session, now_ms: int) -> list[bytes]:
        viewer, asset = session.viewer, session.asset
        session.last_t_ms = now_ms - 12_000
        times = self._times(session, now_ms, EVENTS_PER_BATCH)
        start: dict[str, object] = {
            "type": "start",
            "client_id": viewer.client_id,
            "session_id": session.session_id,
            "seq": 0,
            "t_ms": times[0],
            "content": {
                "asset": asset.name,
                "stream_url": asset.hls_url if viewer.hls else asset.dash_url,
                "is_live": asset.is_live,
                "length_ms": asset.length_ms,
            },
            "viewer_id": viewer.viewer_id,
            "metadata": viewer.metadata | {"content_meta_channel": asset.channel},
        }
        if viewer.device:
            start["device"] = viewer.device
        session.seq = 1
        session.rung = min(2, len(viewer.ladder_bps) - 1)
        events = [
            _JSON.encode(start),
            self._event(session, b"cdn", times[1], self._cdn_fields(session.cdn)),
            self._event(session, b"state", times[2], b',"state":"buffering"'),
            self._event(session, b"bitrate", times[3], b',"bitrate_bps":%d' % viewer.ladder_bps[session.rung]),
            self._event(session, b"state", times[4], b',"state":"playing"'),
            self._event(session, b"framerate", times[5], b',"fps":%d' % session.asset.fps),
        ]
        session.playhead_ms = 0
        for t_ms in times[6:]:
            events.append(self._filler(session, t_ms))
        return events

    def _filler(self, session: Session, t_ms: int) -> bytes:
        if session.seq % 3 == 2:
            return self._event(session, b"heartbeat", t_ms)
        session.playhead_ms += 2000 + self._rng.randrange(1000)
        return self._event(session, b"playhead", t_ms, b',"playhead_ms":%d' % session.playhead_ms)

    def _cdn_fields(self, cdn: Cdn) -> bytes:
        edge = self._rng.choice(cdn.edge_servers)
        return b',"cdn":"%s","edge_server":"%s"' % (cdn.name.encode(), edge.encode())

    def _continuing(self, session: Session, now_ms: int, ends: bool) -> list[bytes]:
        """Twenty events: fillers with the odd player story in between, and an end if it ends."""
        rng, ladder = self._rng, session.viewer.ladder_bps
        stories: list[list[tuple[bytes, bytes]]] = []
        if rng.random() < 0.12:
            session.rung = max(0, min(len(ladder) - 1, session.rung + rng.choice((-1, 1))))
            stories.append([(b"bitrate", b',"bitrate_bps":%d' % ladder[session.rung])])
        if rng.random() < 0.06:
            stories.append([(b"state", b',"state":"buffering"'), (b"state", b',"state":"playing"')])
        if rng.random() < 0.03:
            stories.append([(b"state", b',"state":"paused"'), (b"state", b',"state":"playing"')])
        if rng.random() < 0.02:
            seek = [(b"seek_start", b""), (b"seek_end", b""), (b"state", b',"state":"buffering"')]
            stories.append([*seek, (b"state", b',"state":"playing"')])
        if rng.random() < 0.02:
            session.cdn = _CDNS.pick(rng)
            stories.append([(b"cdn", self._cdn_fields(session.cdn))])
        count = EVENTS_PER_BATCH - (1 if ends else 0)
        planned: list[tuple[bytes, bytes] | None] = [None] * count  # None: a filler
        for story in stories:
            at = rng.randrange(len(planned) + 1)
            planned[at:at] = story
        while len(planned) > count:  # drop the last filler (stories hold at most 10 events)
            del planned[len(planned) - 1 - planned[::-1].index(None)]
        if ends:
            planned.append((b"end", b""))
        times = self._times(session, now_ms, len(planned))
        return [
            self._filler(session, t_ms) if item is None else self._event(session, item[0], t_ms, item[1])
            for item, t_ms in zip(planned, times, strict=True)
        ]
