"""The real Conviva JS core SDK (npm 4.8.0, run in Node.js by ``tests/conviva/driver.mjs``) reporting
scripted sessions to a real server through ``POST /0/wsg``; every field the read API returns is
checked against the script's ground truth: the client time at which the driver called each SDK API.

Expected durations are computed from those recorded times with the rules of ``docs/metrics.md``;
the gateway places events on the server's timeline with a per-heartbeat skew (the network latency
on loopback), hence a tolerance of ``TIME_TOL_MS`` on every time.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reelsight import credentials
from reelsight.clock import SystemClock
from reelsight.sessions.document import SELECTED_DIMENSION_KEYS
from reelsight.settings import Settings
from reelsight.store.sqlite import SqliteStore
from reelsight.web.server import server_config
from reelsight.web.sessions_route import AD_PATH
from tests.conftest import PATH, Credentials, LiveServer
from tests.conviva_sdk import DEFAULT_DEVICE, SDK_VERSION, ensure_sdk, run_driver

HBI_S = 1  # the heartbeat interval the gateway hands out (cfg.hbi)
SESSION_TIMEOUT_S = 4
TIME_TOL_MS = 150
HBI_TOL_MS = HBI_S * 1000 + TIME_TOL_MS
# The SDK sends an urgent heartbeat 200-5000 ms after the first `playing`; heartbeat-synced steps
# come after it, so nothing but the periodic timer sends heartbeats while they wait.
URGENT_JITTER_MAX_MS = 5000
EDGE_IP = "203.0.113.7"
BUSINESS_PATTERN = "ENTITLEMENT"


@pytest.fixture(scope="session")
def conviva_sdk() -> Path:
    """Node.js and the pinned SDK (``npm ci`` when missing); an AssertionError, never a skip, without node."""
    return ensure_sdk()


@pytest.fixture
def settings(db_path: str) -> Settings:
    return Settings(db=db_path, conviva_heartbeat_interval_s=HBI_S, session_timeout_s=SESSION_TIMEOUT_S)


@pytest.fixture
def server(settings: Settings, store: SqliteStore) -> Iterator[LiveServer]:
    with LiveServer(settings, store, SystemClock()) as live:  # the SDK runs on real time
        yield live


@pytest.fixture
def account(store: SqliteStore) -> Credentials:
    created = store.create_account(
        "sdk",
        viewer_module=True,
        business_error_patterns=(BUSINESS_PATTERN,),
        ingest_key=credentials.new_ingest_key(),
    )
    key_id, secret = credentials.new_key_id(), credentials.new_secret()
    store.add_api_key(created.id, key_id, credentials.hash_secret(secret))
    return Credentials(created, key_id, secret)


# -- scripts and what the driver recorded -----------------------------------------------------------


@dataclasses.dataclass
class Scenario:
    """A driver scenario whose steps carry labels: ``(label, at_ms, action, *args)``."""

    name: str
    content: dict[str, str | int]
    steps: list[tuple[Any, ...]]

    def driver_input(self) -> dict[str, Any]:
        return {"name": self.name, "contentInfo": self.content, "steps": [list(s[1:]) for s in self.steps]}


@dataclasses.dataclass
class Played:
    """One scenario as the driver ran it: the SDK's ids and the client epoch ms of each labelled step."""

    scenario: Scenario
    sid: int
    clid: str
    end: str
    t: dict[str, int]
    requests: list[dict[str, Any]]
    ads: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)  # the driver's ad records by name

    @property
    def session_id(self) -> str:
        return str(self.sid)


def content_info(name: str, *, live: bool = False) -> dict[str, str | int]:
    info: dict[str, str | int] = {
        "Conviva.assetName": f"sdk-{name}",
        "Conviva.streamUrl": f"https://cdn.example/{name}/master.m3u8",
        "Conviva.streamType": "LIVE" if live else "VOD",
        "Conviva.viewerId": f"viewer-{name}",
        "Conviva.applicationName": "AccPlayer",
        "Conviva.defaultResource": "AKAMAI",
        "c3.app.version": "9.9.1",
        "scenario": name,
        "subscription_tier": "premium",
    }
    if not live:
        info["Conviva.duration"] = 600  # seconds
    return info


def play(server: LiveServer, account: Credentials, scenarios: list[Scenario]) -> dict[str, Played]:
    """All scenarios concurrently in one SDK instance (one driver run)."""
    out = run_driver(server.url, account.account.ingest_key, [s.driver_input() for s in scenarios], timeout_s=60)
    assert not out["timedOut"]
    assert out["sdkVersion"] == SDK_VERSION
    by_name = {s["name"]: s for s in out["sessions"]}
    played: dict[str, Played] = {}
    for scenario in scenarios:
        ran = by_name[scenario.name]
        assert [a["action"] for a in ran["actions"]] == [s[2] for s in scenario.steps], scenario.name
        assert isinstance(ran["sid"], int), f"{scenario.name}: no seq-0 heartbeat was seen"
        labels = [s[0] for s in scenario.steps]
        assert len(set(labels)) == len(labels), f"{scenario.name}: duplicate labels"
        times = {label: a["epoch_ms"] for label, a in zip(labels, ran["actions"], strict=True)}
        ads = {ad["name"]: ad for ad in ran["ads"]}
        played[scenario.name] = Played(scenario, ran["sid"], ran["clid"], ran["end"], times, ran["requests"], ads)
    return played


def fetch_sessions(
    server: LiveServer,
    account: Credentials,
    played: list[Played],
    *,
    wait_s: float,
    path: str = PATH,
    ids: set[str] | None = None,
) -> dict[str, Any]:
    """The read API's document of each played session (or of the sessions ``ids``) at ``path``,
    polling until all have ended (or ``wait_s``)."""
    wanted = ids if ids is not None else {p.session_id for p in played}
    params: dict[str, str | list[str]] = {"session_id": sorted(wanted), "limit": "1500"}
    deadline = time.monotonic() + wait_s
    with httpx.Client(base_url=server.url, auth=account.auth, timeout=10) as client:
        while True:
            response = client.get(path, params=params)
            assert response.status_code == 200, response.text
            docs = response.json()["sessions"]
            found = {d["session_id"] for d in docs}
            if found >= wanted or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    ids = [d["session_id"] for d in docs]
    assert len(ids) == len(set(ids)), f"a session was reported twice: {ids}"
    missing = (
        sorted(wanted - found)
        if ids is not None
        else sorted(p.scenario.name for p in played if p.session_id not in found)
    )
    assert not missing, f"sessions never ended within {wait_s} s: {missing}"
    return {d["session_id"]: d for d in docs}


# -- expected documents -----------------------------------------------------------------------------


def near(ms: float, tol_ms: float = TIME_TOL_MS) -> Any:
    return pytest.approx(ms, abs=tol_ms, rel=0)


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": [1]}}`` -> ``{"a.b.0": 1}``; empty containers stay leaves."""
    items: list[tuple[str, Any]]
    if isinstance(value, dict) and value:
        items = list(value.items())
    elif isinstance(value, list) and value:
        items = [(str(i), v) for i, v in enumerate(value)]
    else:
        return {prefix: value}
    out: dict[str, Any] = {}
    for key, item in items:
        out.update(flatten(item, f"{prefix}.{key}" if prefix else key))
    return out


def iso(epoch_ms: int) -> str:
    moment = dt.datetime.fromtimestamp(epoch_ms // 1000, tz=dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


def ratio(part: int, whole: int) -> Any:
    return pytest.approx(round(100 * part / whole, 2) if whole > 0 else 0.0, abs=0.005)


@dataclasses.dataclass
class Expected:
    """The ground truth of one session, in client epoch ms / ms durations."""

    ended_status: str
    end_ms: int
    video_start_time_ms: Any = -3000
    playing_ms: Any = 0
    rebuffering_ms: Any = 0
    connection_rebuffering_ms: Any = 0
    paused_ms: Any = 0
    restart_ms: Any = 0
    bitrate_bps: Any = 0.0
    switches: int = 0
    framerate_fps: Any = 0.0
    play_head_ms: int = -1
    errors: list[tuple[str, bool, int]] = dataclasses.field(default_factory=list)
    start_failure: str = ""  # "", "business" or "tech"
    playback_failure: str = ""
    cdns: tuple[str, ...] = ("AKAMAI",)
    edge_server: str = ""


def expected_document(p: Played, e: Expected, doc: dict[str, Any]) -> dict[str, Any]:
    """Every field of the session's document. Ratios and the percentage are checked as formulas of
    the document's own totals (which are checked against the truth)."""
    info = p.scenario.content
    live = info["Conviva.streamType"] == "LIVE"
    category = "Live" if live else "VoD"
    length_ms = int(info["Conviva.duration"]) * 1000 if "Conviva.duration" in info else 0
    m = doc["lifetime_metrics"]
    playing, rebuffering, paused = m["playing_time_ms"], m["rebuffering_time_ms"], m["paused_time_ms"]
    watched = playing + rebuffering
    joined = e.video_start_time_ms != -3000
    hardware = {"Settop": "Set-top Box"}[DEFAULT_DEVICE["type"]]
    os_name = DEFAULT_DEVICE["osName"]  # the SDK upper-cases it ("LINUX"); the server names it "Linux"
    os_version = f"{os_name} {DEFAULT_DEVICE['osVersion']}"
    device_name = f"{DEFAULT_DEVICE['brand']} {DEFAULT_DEVICE['model']}"
    # docs/enrichment.md: the SDK reports no marketing name, so it is manufacturer + " " + model (as
    # "Apple iPhone 4S" for model "iPhone 4S" in the reference). docs/ingest-conviva.md maps pm.dvm
    # to it instead: the two documents disagree, and this follows the one every protocol shares.
    marketing_name = f"{DEFAULT_DEVICE['manufacturer']} {DEFAULT_DEVICE['model']}"
    selected = dict.fromkeys(SELECTED_DIMENSION_KEYS, "")
    selected.update(
        app_version=str(info["c3.app.version"]),
        browser_name="Native App",
        browser_version="Native App",
        content_category=category,
        device_hardware_type=hardware,
        device_manufacturer=DEFAULT_DEVICE["manufacturer"],
        device_marketing_name=marketing_name,
        device_model=DEFAULT_DEVICE["model"],
        device_name=device_name,
        device_os=os_name,
        device_os_family=os_name,
        device_os_version=os_version,
        player_name=str(info["Conviva.applicationName"]),
    )
    start_ms, end_ms = doc["timestamps"]["start"]["epoch_ms"], doc["timestamps"]["end"]["epoch_ms"]
    return {
        "conviva_session_id": f"{p.clid}.{p.session_id}",
        "client_id": p.clid,
        "session_id": p.session_id,
        "viewer_id": info["Conviva.viewerId"],
        "timestamps": {
            "start": {"epoch_ms": near(p.t["requested"]), "iso_date": iso(start_ms)},
            "end": {"epoch_ms": near(e.end_ms), "iso_date": iso(end_ms)},
        },
        "status_info": {
            "is_ended": True,
            "ended_status": e.ended_status,
            "is_exit_before_video_start": not joined and not e.start_failure,
            "is_video_start_failure": bool(e.start_failure),
            "is_video_start_failure_business": e.start_failure == "business",
            "is_video_start_failure_tech": e.start_failure == "tech",
            "is_video_playback_failure": bool(e.playback_failure),
            "is_video_playback_failure_business": e.playback_failure == "business",
            "is_video_playback_failure_tech": e.playback_failure == "tech",
            "errors": [{"message": msg, "is_fatal": fatal, "epoch_ms": near(t)} for msg, fatal, t in e.errors],
        },
        "lifetime_metrics": {
            "average_framerate_fps": e.framerate_fps,
            "average_peak_bitrate_bps": e.bitrate_bps,
            "average_percentage_complete": pytest.approx(
                0.0 if live else round(min(100.0, 100 * playing / length_ms), 2), abs=0.005
            ),
            "bitrate_switches_count": e.switches,
            "connection_induced_rebuffering_ratio_percent": ratio(m["connection_induced_rebuffering_time_ms"], watched),
            "connection_induced_rebuffering_time_ms": e.connection_rebuffering_ms,
            "last_play_head_time_ms": e.play_head_ms,
            "playing_time_ms": e.playing_ms,
            "paused_ratio_percent": ratio(paused, watched + paused),
            "paused_time_ms": e.paused_ms,
            "rebuffering_ratio_percent": ratio(rebuffering, watched),
            "rebuffering_time_ms": e.rebuffering_ms,
            "video_restart_time_ms": e.restart_ms,
            "video_start_time_ms": e.video_start_time_ms,
        },
        "content_info": {
            "asset": info["Conviva.assetName"],
            "category": category,
            "length_ms": length_ms,
            "stream_url": info["Conviva.streamUrl"],
        },
        "device_info": {
            "browser": {"name": "Native App", "version": "Native App"},
            "name": device_name,
            "os": os_name,
            "os_family": os_name,
            "os_version": os_version,
        },
        "geo_info": {  # no geo databases in the test server
            "city": "",
            "state": {"name": "", "code": ""},
            "country": {"name": "", "code": ""},
            "continent": "",
            "postal_code": "",
            "dma": "",
        },
        "network_info": {
            "asn": {"value": "", "description": ""},
            "cdn": list(e.cdns),
            "isp": "",
            "last_cdn_edge_server": e.edge_server,
            "last_cdn_group_id": "",
            "ip": "127.0.0.1",
            "ipv6": "",
        },
        "tags": {
            "selected_dimensions": selected,
            "custom_tags": {"scenario": p.scenario.name, "subscription_tier": "premium"},
        },
    }


def check(p: Played, e: Expected, doc: dict[str, Any]) -> list[str]:
    """Differences between the document and the truth, one line per field (empty when it is right)."""
    want = flatten(expected_document(p, e, doc))
    got = flatten(doc)
    lines = []
    for key in sorted(want.keys() | got.keys()):
        if key not in got:
            lines.append(f"{p.scenario.name}: {key} missing, expected {want[key]!r}")
        elif key not in want:
            lines.append(f"{p.scenario.name}: {key} = {got[key]!r} is not expected")
        elif got[key] != want[key]:
            lines.append(f"{p.scenario.name}: {key} = {got[key]!r}, expected {want[key]!r}")
    return lines


def weighted_bitrate_bps(kbps_ms: dict[int, int]) -> Any:
    """The playing-time-weighted mean of ``{kbps: playing ms}``, within what shifting every
    duration by ``TIME_TOL_MS`` either way could change."""

    def mean(durations: dict[int, float]) -> float:
        return 1000 * sum(k * ms for k, ms in durations.items()) / sum(durations.values())

    exact = mean({k: float(ms) for k, ms in kbps_ms.items()})
    tol = 0.0
    for signs in range(2 ** len(kbps_ms)):
        shifted = {
            k: max(1.0, ms + (TIME_TOL_MS if signs >> i & 1 else -TIME_TOL_MS))
            for i, (k, ms) in enumerate(kbps_ms.items())
        }
        tol = max(tol, abs(mean(shifted) - exact))
    return pytest.approx(exact, abs=tol + 0.01, rel=0)


# -- the scenarios ----------------------------------------------------------------------------------

FULL = Scenario(
    "vod_full",
    content_info("vod_full"),
    [
        ("requested", 0, "requested"),
        ("buffering", 100, "state", "BUFFERING"),
        ("br1500", 150, "bitrate", 1500),
        ("fps", 160, "framerate", 30),
        ("join", 800, "state", "PLAYING"),
        ("br3000", 1800, "bitrate", 3000),
        ("edge", 2000, "cdn_ip", EDGE_IP),
        ("cdn2", 2100, "resource", "FASTLY"),
        ("stall", 2600, "state", "BUFFERING"),
        ("unstall", 3000, "state", "PLAYING"),
        ("seek_start", 3600, "seek_start", 120000),
        ("seek_buffering", 3610, "state", "BUFFERING"),
        ("seek_end", 4200, "seek_end", 120000),
        ("seek_play", 4400, "state", "PLAYING"),
        ("playhead", 4500, "playhead", 121000),
        ("ad_start", 5000, "ad_break_start", "Mid-roll", 30),
        ("ad_end", 5700, "ad_break_end"),
        ("ad_play", 5750, "state", "PLAYING"),
        ("pause", 6300, "state", "PAUSED"),
        ("resume", 6900, "state", "PLAYING"),
        ("warning", 7200, "error", "WARN_LOW_BUFFER: buffer below 2 s", False),
        ("ended", 7800, "ended"),
    ],
)
PREROLL = Scenario(
    "preroll",
    content_info("preroll"),
    [
        ("requested", 0, "requested"),
        ("ad_start", 200, "ad_break_start", "Pre-roll", 2),
        ("ad_end", 1400, "ad_break_end"),
        ("buffering", 1450, "state", "BUFFERING"),
        ("join", 1900, "state", "PLAYING"),
        ("ended", 2600, "ended"),
    ],
)
LIVE = Scenario(
    "live",
    content_info("live", live=True),
    [
        ("requested", 0, "requested"),
        ("buffering", 100, "state", "BUFFERING"),
        ("join", 600, "state", "PLAYING"),
        ("ended", 2000, "ended"),
    ],
)
START_FAILURE_BUSINESS = Scenario(
    "start_failure_business",
    content_info("start_failure_business"),
    [
        ("requested", 0, "requested"),
        ("buffering", 100, "state", "BUFFERING"),
        ("failed", 1200, "failed", "ENTITLEMENT_DENIED: subscription required"),
    ],
)
START_FAILURE_TECH = Scenario(
    "start_failure_tech",
    content_info("start_failure_tech"),
    [
        ("requested", 0, "requested"),
        ("buffering", 100, "state", "BUFFERING"),
        ("fatal", 900, "error", "DECODER_FAILURE", True),
        ("ended", 1500, "ended"),
    ],
)
PLAYBACK_FAILURE = Scenario(
    "playback_failure",
    content_info("playback_failure"),
    [
        ("requested", 0, "requested"),
        ("buffering", 50, "state", "BUFFERING"),
        ("join", 400, "state", "PLAYING"),
        ("failed", 2000, "failed", "NETWORK_ERROR"),
    ],
)
EXIT_BEFORE_START = Scenario(
    "exit_before_start",
    content_info("exit_before_start"),
    [
        ("requested", 0, "requested"),
        ("buffering", 100, "state", "BUFFERING"),
        ("ended", 1500, "ended"),
    ],
)
VANISH = Scenario(
    "vanish",
    content_info("vanish"),
    [
        ("requested", 0, "requested"),
        ("buffering", 50, "state", "BUFFERING"),
        ("join", 400, "state", "PLAYING"),
        ("vanish", 2500, "vanish"),
    ],
)
SCENARIOS = [
    FULL,
    PREROLL,
    LIVE,
    START_FAILURE_BUSINESS,
    START_FAILURE_TECH,
    PLAYBACK_FAILURE,
    EXIT_BEFORE_START,
    VANISH,
]


def truth(p: Played) -> Expected:
    """The expected metrics of each scenario, from its recorded step times."""
    t = p.t
    by_player, by_expiration = "By Player", "By Expiration"
    match p.scenario.name:
        case "vod_full":
            playing = {  # kbps -> playing ms at that bitrate
                1500: t["br3000"] - t["join"],
                3000: (t["stall"] - t["br3000"])
                + (t["seek_buffering"] - t["unstall"])
                + (t["ad_start"] - t["seek_play"])
                + (t["pause"] - t["ad_play"])
                + (t["ended"] - t["resume"]),
            }
            stall_ms = t["unstall"] - t["stall"]
            return Expected(
                by_player,
                t["ended"],
                video_start_time_ms=near(t["join"] - t["requested"]),
                playing_ms=near(sum(playing.values())),
                rebuffering_ms=near(stall_ms + t["seek_play"] - t["seek_buffering"]),
                connection_rebuffering_ms=near(stall_ms),  # the seek's buffering is not the connection's
                paused_ms=near(t["resume"] - t["pause"]),
                restart_ms=near(t["seek_play"] - t["seek_start"]),
                bitrate_bps=weighted_bitrate_bps(playing),
                switches=1,  # 1500 before joining is the baseline, 3000 after it a switch
                framerate_fps=30.0,
                play_head_ms=121000,
                errors=[("WARN_LOW_BUFFER: buffer below 2 s", False, t["warning"])],
                cdns=("AKAMAI", "FASTLY"),
                edge_server=EDGE_IP,
            )
        case "preroll":
            # The ad is NOT_MONITORED (98), then UNKNOWN (100) until the next state report: both
            # are left out of the start time.
            ad_ms = t["buffering"] - t["ad_start"]
            return Expected(
                by_player,
                t["ended"],
                video_start_time_ms=near(t["join"] - t["requested"] - ad_ms),
                playing_ms=near(t["ended"] - t["join"]),
            )
        case "live":
            return Expected(
                by_player,
                t["ended"],
                video_start_time_ms=near(t["join"] - t["requested"]),
                playing_ms=near(t["ended"] - t["join"]),
            )
        case "start_failure_business":
            message = "ENTITLEMENT_DENIED: subscription required"
            return Expected(by_player, t["failed"], errors=[(message, True, t["failed"])], start_failure="business")
        case "start_failure_tech":
            return Expected(by_player, t["ended"], errors=[("DECODER_FAILURE", True, t["fatal"])], start_failure="tech")
        case "playback_failure":
            return Expected(
                by_player,
                t["failed"],
                video_start_time_ms=near(t["join"] - t["requested"]),
                playing_ms=near(t["failed"] - t["join"]),
                errors=[("NETWORK_ERROR", True, t["failed"])],
                playback_failure="tech",
            )
        case "exit_before_start":
            return Expected(by_player, t["ended"])
        case "vanish":
            # Expired: it ends when it was last heard from, its last heartbeat's arrival (that
            # heartbeat's snapshot is the session's last event), and plays until then.
            last_heard_ms = max(r["sent_ms"] for r in p.requests if r["status"] == "200")
            return Expected(
                by_expiration,
                last_heard_ms,
                video_start_time_ms=near(t["join"] - t["requested"]),
                playing_ms=near(last_heard_ms - t["join"]),
            )
    raise AssertionError(p.scenario.name)


def test_sdk_sessions_match_the_script(conviva_sdk: Path, server: LiveServer, account: Credentials) -> None:
    played = play(server, account, SCENARIOS)
    assert played["vanish"].end == "vanished"
    for p in played.values():
        if p.end != "vanished":
            last = p.requests[-1]
            assert last["end"], p.scenario.name
            assert last["status"] == "200", p.scenario.name
    docs = fetch_sessions(server, account, list(played.values()), wait_s=SESSION_TIMEOUT_S + 8)
    problems = [line for p in played.values() for line in check(p, truth(p), docs[p.session_id])]
    assert not problems, "\n".join(problems)


# -- lost heartbeats --------------------------------------------------------------------------------


class DropEveryThirdHeartbeat:
    """ASGI wrapper: every third ``POST .../0/wsg`` of each content session (by ``sid``) is answered
    500 without reaching the app, as a lossy network or an overloaded proxy would. The SDK never
    retries, so that heartbeat's events are lost."""

    def __init__(self, app: ASGIApp, every: int = 3) -> None:
        self.app = app
        self.every = every
        self.count: collections.Counter[int] = collections.Counter()
        self.dropped: dict[int, list[int]] = collections.defaultdict(list)  # sid -> dropped seqs

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or not scope["path"].endswith("/0/wsg"):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        heartbeat = json.loads(body)
        if heartbeat.get("sf") != 0:
            sid = heartbeat["sid"]
            self.count[sid] += 1
            if self.count[sid] % self.every == 0:
                self.dropped[sid].append(heartbeat["seq"])
                await send({"type": "http.response.start", "status": 500, "headers": [(b"content-length", b"0")]})
                await send({"type": "http.response.body", "body": b""})
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


class LossyServer(LiveServer):
    """The real app behind :class:`DropEveryThirdHeartbeat`."""

    def __init__(self, settings: Settings, store: SqliteStore) -> None:
        super().__init__(settings, store, SystemClock())
        self.lossy = DropEveryThirdHeartbeat(self.app)
        self._server = uvicorn.Server(server_config(self.lossy, settings, log_level="warning"))


@pytest.fixture
def lossy_server(settings: Settings, store: SqliteStore) -> Iterator[LossyServer]:
    live = LossyServer(settings, store)
    with live:
        yield live


# Heartbeats 3, 6, 9... of each session are dropped. ["sync", 3, r] waits for the answer that
# leaves the session's heartbeat count = r (mod 3), and the next step runs in that same tick; with
# r = 2 the session's next heartbeat, about one interval later, is a dropped one. A change made
# 300-600 ms after such a sync travels in the dropped heartbeat: the server can learn it only from
# the snapshot of the heartbeat after that. The syncs come after the SDK's urgent first-frame
# heartbeat, so only the periodic timer sends heartbeats around them.
JOIN_BY_MS = 500  # every lossy scenario joins by then; its urgent heartbeat is sent by:
SYNC_AT = JOIN_BY_MS + URGENT_JITTER_MAX_MS + 300
LOST_PAUSE = Scenario(  # the pause's start is lost; the end is delivered: "By Player"
    "lost_pause",
    content_info("lost_pause"),
    [
        ("requested", 0, "requested"),
        ("buffering", 50, "state", "BUFFERING"),
        ("join", 400, "state", "PLAYING"),
        ("sync1", SYNC_AT, "sync", 3, 2),
        ("pause", SYNC_AT + 500, "state", "PAUSED"),  # in a dropped heartbeat
        ("sync2", SYNC_AT + 500, "sync", 3, 1),
        ("resume", SYNC_AT + 1000, "state", "PLAYING"),  # delivered
        ("sync3", SYNC_AT + 1000, "sync", 3, 0),
        ("ended", SYNC_AT + 1000, "ended"),  # its heartbeat is count = 1 (mod 3): delivered
    ],
)
LOST_RESUME = Scenario(  # the end of a stall is lost, and so is the end heartbeat: "By Expiration"
    "lost_resume",
    content_info("lost_resume"),
    [
        ("requested", 0, "requested"),
        ("buffering", 50, "state", "BUFFERING"),
        ("join", 300, "state", "PLAYING"),
        ("sync1", SYNC_AT, "sync", 3, 1),
        ("stall", SYNC_AT + 500, "state", "BUFFERING"),  # delivered
        ("sync2", SYNC_AT + 500, "sync", 3, 2),
        ("unstall", SYNC_AT + 1000, "state", "PLAYING"),  # in a dropped heartbeat
        ("sync3", SYNC_AT + 1000, "sync", 3, 2),
        ("ended", SYNC_AT + 1000, "ended"),  # its heartbeat is count = 0 (mod 3): dropped
    ],
)
LOST_STALL = Scenario(  # a whole stall inside one dropped heartbeat; pause and end delivered
    "lost_stall",
    content_info("lost_stall"),
    [
        ("requested", 0, "requested"),
        ("buffering", 50, "state", "BUFFERING"),
        ("join", 500, "state", "PLAYING"),
        ("sync1", SYNC_AT, "sync", 3, 2),
        ("stall", SYNC_AT + 300, "state", "BUFFERING"),  # both in the dropped heartbeat
        ("unstall", SYNC_AT + 600, "state", "PLAYING"),
        ("sync2", SYNC_AT + 600, "sync", 3, 1),
        ("pause", SYNC_AT + 1100, "state", "PAUSED"),  # delivered
        ("sync3", SYNC_AT + 1100, "sync", 3, 0),
        ("resume", SYNC_AT + 1600, "state", "PLAYING"),  # delivered
        ("sync4", SYNC_AT + 1600, "sync", 3, 1),
        ("ended", SYNC_AT + 1600, "ended"),  # count = 2 (mod 3): delivered
    ],
)


def lossy_truth(p: Played) -> tuple[str, int, dict[str, int]]:
    """(ended status, end ms, {metric: true ms}) of a lost-heartbeat scenario."""
    t = p.t
    match p.scenario.name:
        case "lost_pause":
            totals = {
                "playing_time_ms": (t["pause"] - t["join"]) + (t["ended"] - t["resume"]),
                "rebuffering_time_ms": 0,
                "paused_time_ms": t["resume"] - t["pause"],
            }
            return "By Player", t["ended"], totals
        case "lost_resume":
            # Its end heartbeat is lost: it can only expire, at its last delivered heartbeat.
            last_heard_ms = max(r["sent_ms"] for r in p.requests if r["status"] == "200")
            totals = {
                "playing_time_ms": (t["stall"] - t["join"]) + (last_heard_ms - t["unstall"]),
                "rebuffering_time_ms": t["unstall"] - t["stall"],
                "paused_time_ms": 0,
            }
            return "By Expiration", last_heard_ms, totals
        case "lost_stall":
            totals = {
                "playing_time_ms": (t["stall"] - t["join"]) + (t["pause"] - t["unstall"]) + (t["ended"] - t["resume"]),
                "rebuffering_time_ms": t["unstall"] - t["stall"],
                "paused_time_ms": t["resume"] - t["pause"],
            }
            return "By Player", t["ended"], totals
    raise AssertionError(p.scenario.name)


def test_lost_heartbeats_cost_at_most_one_interval(
    conviva_sdk: Path, lossy_server: LossyServer, account: Credentials
) -> None:
    """Every third heartbeat answered 500 (the SDK never sends one again). A change lost with its
    heartbeat happened in the interval before that heartbeat was built, about one interval before
    the next delivered one, whose snapshot shows it: taken to have happened when the lost heartbeat
    was built, it is off by less than one interval, so the state totals must be right within one
    interval. The end is "By Player" when the end heartbeat arrives; when that is a dropped one, the
    session can only expire, at its last delivered heartbeat."""
    scenarios = [LOST_PAUSE, LOST_RESUME, LOST_STALL]
    played = play(lossy_server, account, scenarios)
    # The script did what it says: every third heartbeat was dropped, and the end heartbeat only
    # of lost_resume.
    for p in played.values():
        statuses = [r["status"] for r in p.requests]
        assert statuses == ["500" if n % 3 == 0 else "200" for n in range(1, len(statuses) + 1)], p.scenario.name
        assert p.requests[-1]["end"], p.scenario.name
        assert [r["seq"] for r in p.requests] == list(range(len(p.requests))), p.scenario.name
        assert lossy_server.lossy.dropped[p.sid] == [r["seq"] for r in p.requests if r["status"] == "500"]
    assert [p.requests[-1]["status"] for p in played.values()] == ["200", "500", "200"]

    docs = fetch_sessions(lossy_server, account, list(played.values()), wait_s=SESSION_TIMEOUT_S + 8)
    problems = []
    for p in played.values():
        doc = docs[p.session_id]
        status, end_ms, totals = lossy_truth(p)
        got_status, got_end = doc["status_info"]["ended_status"], doc["timestamps"]["end"]["epoch_ms"]
        if got_status != status:
            problems.append(f"{p.scenario.name}: ended_status {got_status!r}, expected {status!r}")
        if abs(got_end - end_ms) > TIME_TOL_MS:
            problems.append(f"{p.scenario.name}: end {got_end}, expected {end_ms} ± {TIME_TOL_MS} ms")
        for metric, want in totals.items():
            got = doc["lifetime_metrics"][metric]
            if abs(got - want) > HBI_TOL_MS:
                problems.append(f"{p.scenario.name}: {metric} {got}, truth {want} (off by {got - want} ms)")
    assert not problems, "\n".join(problems)


# -- ad sessions (AdAnalytics) ----------------------------------------------------------------------


@pytest.fixture
def ad_account(store: SqliteStore) -> Credentials:
    created = store.create_account(
        "sdk-ads",
        viewer_module=True,
        ad_insights=True,
        business_error_patterns=(BUSINESS_PATTERN,),
        ingest_key=credentials.new_ingest_key(),
    )
    key_id, secret = credentials.new_key_id(), credentials.new_secret()
    store.add_api_key(created.id, key_id, credentials.hash_secret(secret))
    return Credentials(created, key_id, secret)


def ad_info(ad_id: str, position: str, sequence: int, duration_s: int) -> dict[str, str | int]:
    """The ad info an app passes to reportAdStarted / reportAdFailed: Conviva's documented keys."""
    return {
        "Conviva.assetName": f"ad-{ad_id}",
        "Conviva.streamUrl": f"https://ads.example/{ad_id}.mp4",
        "Conviva.duration": duration_s,
        "Conviva.defaultResource": "ADCDN",
        "c3.ad.id": ad_id,
        "c3.ad.creativeId": f"creative-{ad_id}",
        "c3.ad.system": "Google Ad Manager",
        "c3.ad.technology": "Client Side",
        "c3.ad.position": position,
        "c3.ad.sequence": str(sequence),
        "c3.ad.mediaFileApiFramework": "NA",
    }


# A pre-roll break with one ad played to its end, then a mid-roll break with an ad skipped and one
# that fails before its first frame (reportAdFailed with no ad started). The SDK reports the
# content's pod start and end around each break (ps 98, then 100 until the next state report).
AD_INFOS = {
    "preroll": ad_info("pre-1", "Pre-roll", 1, 15),
    "skipped": ad_info("mid-1", "Mid-roll", 1, 20),
    "failed": ad_info("mid-2", "MIDROLL", 2, 30),  # positions are normalised
}
ADS = Scenario(
    "ads",
    content_info("ads"),
    [
        ("requested", 0, "requested"),
        ("pre_break", 200, "ad_break_start", "Pre-roll", 15),
        ("a1_start", 250, "ad_started", "preroll", AD_INFOS["preroll"]),
        ("a1_buffering", 300, "ad_state", "BUFFERING"),
        ("a1_bitrate", 310, "ad_bitrate", 800),
        ("a1_join", 700, "ad_state", "PLAYING"),
        ("a1_quartile", 1000, "ad_event", "Conviva.AdFirstQuartile"),
        ("a1_end", 1900, "ad_ended"),
        ("pre_break_end", 1950, "ad_break_end"),
        ("buffering", 2000, "state", "BUFFERING"),
        ("join", 2400, "state", "PLAYING"),
        ("mid_break", 3200, "ad_break_start", "Mid-roll", 30),
        ("a2_start", 3250, "ad_started", "skipped", AD_INFOS["skipped"]),
        ("a2_buffering", 3260, "ad_state", "BUFFERING"),
        ("a2_join", 3500, "ad_state", "PLAYING"),
        ("a2_warning", 3800, "ad_error", "AD_WARN: slow ad server", False),
        ("a2_skip", 4300, "ad_skipped"),
        ("a3_fail", 4400, "ad_failed", "failed", "VAST_ERROR 303: no ad", AD_INFOS["failed"]),
        ("mid_break_end", 4500, "ad_break_end"),
        ("resume", 4550, "state", "PLAYING"),
        ("ended", 5000, "ended"),
    ],
)


def ad_truth(p: Played, name: str) -> dict[str, Any]:
    """The fields of ad session ``name`` that the SDK's ad analytics determine."""
    t = p.t
    info = AD_INFOS[name]
    position = {"Pre-roll": "Pre-roll", "Mid-roll": "Mid-roll", "MIDROLL": "Mid-roll"}[str(info["c3.ad.position"])]
    want: dict[str, Any] = {
        "client_id": p.clid,
        "session_id": str(p.ads[name]["sid"]),
        "viewer_id": p.scenario.content["Conviva.viewerId"],  # the SDK copies it from the content
        "content_info.asset": info["Conviva.assetName"],
        "content_info.stream_url": info["Conviva.streamUrl"],
        "content_info.length_ms": int(info["Conviva.duration"]) * 1000,
        "content_info.category": "VoD",
        "network_info.cdn": ["ADCDN"],
        "status_info.ended_status": "By Player",
        "tags.selected_dimensions.content_session_id": p.session_id,
        "tags.selected_dimensions.ad_id": info["c3.ad.id"],
        "tags.selected_dimensions.ad_creative_id": info["c3.ad.creativeId"],
        "tags.selected_dimensions.ad_system": "Google Ad Manager",
        "tags.selected_dimensions.ad_technology": "Client Side",
        "tags.selected_dimensions.ad_position": position,
        "tags.selected_dimensions.ad_sequence": info["c3.ad.sequence"],
        "tags.selected_dimensions.ad_planned_duration": str(info["Conviva.duration"]),
        "tags.selected_dimensions.ad_media_file_api_framework": "NA",
        "tags.selected_dimensions.player_name": "AccPlayer",
        "tags.selected_dimensions.app_version": "9.9.1",  # copied from the content too
    }
    match name:
        case "preroll":
            want |= {
                "timestamps.start.epoch_ms": near(t["a1_start"]),
                "timestamps.end.epoch_ms": near(t["a1_end"]),
                "lifetime_metrics.video_start_time_ms": near(t["a1_join"] - t["a1_start"]),
                "lifetime_metrics.playing_time_ms": near(t["a1_end"] - t["a1_join"]),
                "lifetime_metrics.average_peak_bitrate_bps": 800_000.0,
                "status_info.is_video_start_failure": False,
                "status_info.errors": [],
                "tags.custom_tags": {},
            }
        case "skipped":
            want |= {
                "timestamps.start.epoch_ms": near(t["a2_start"]),
                "timestamps.end.epoch_ms": near(t["a2_skip"]),
                "lifetime_metrics.video_start_time_ms": near(t["a2_join"] - t["a2_start"]),
                "lifetime_metrics.playing_time_ms": near(t["a2_skip"] - t["a2_join"]),
                "status_info.is_video_start_failure": False,
                "status_info.errors": [
                    {"message": "AD_WARN: slow ad server", "is_fatal": False, "epoch_ms": near(t["a2_warning"])}
                ],
                "tags.custom_tags": {"ad_skipped": "true"},
            }
        case "failed":
            want |= {
                "timestamps.start.epoch_ms": near(t["a3_fail"]),
                "timestamps.end.epoch_ms": near(t["a3_fail"]),
                "lifetime_metrics.video_start_time_ms": -3000,
                "lifetime_metrics.playing_time_ms": 0,
                "status_info.is_video_start_failure": True,
                "status_info.is_video_start_failure_tech": True,  # not the account's business pattern
                "status_info.is_exit_before_video_start": False,
                "status_info.errors": [
                    {"message": "VAST_ERROR 303: no ad", "is_fatal": True, "epoch_ms": near(t["a3_fail"])}
                ],
                "tags.custom_tags": {},
            }
    return want


def _field(doc: dict[str, Any], dotted: str) -> Any:
    value: Any = doc
    for part in dotted.split("."):
        value = value[part]
    return value


def test_sdk_ad_sessions_are_ad_sessions_of_their_content_session(
    conviva_sdk: Path, server: LiveServer, ad_account: Credentials
) -> None:
    played = play(server, ad_account, [ADS])
    p = played["ads"]
    assert [(name, ad["end"]) for name, ad in p.ads.items()] == [
        ("preroll", "ended"),
        ("skipped", "skipped"),
        ("failed", "failed"),
    ]
    for name, ad in p.ads.items():
        assert isinstance(ad["sid"], int), f"{name}: no seq-0 heartbeat was seen"
        assert ad["clid"] == p.clid, name  # the SDK keeps the content session's client id
        assert ad["requests"][-1]["end"], name
        assert ad["requests"][-1]["status"] == "200", name
    ad_ids = {str(ad["sid"]) for ad in p.ads.values()}
    wait_s = SESSION_TIMEOUT_S + 8
    ads = fetch_sessions(server, ad_account, [p], wait_s=wait_s, path=AD_PATH, ids=ad_ids)
    (content,) = fetch_sessions(server, ad_account, [p], wait_s=wait_s).values()

    # The content session: the pre-roll's time (98, then 100 until the next state) is not start-up
    # time, the mid-roll's is no playing time; nothing of the ads is in it.
    pre_roll_ms = t_between(p, "pre_break", "buffering")
    truth_content = Expected(
        "By Player",
        p.t["ended"],
        video_start_time_ms=near(p.t["join"] - p.t["requested"] - pre_roll_ms),
        playing_ms=near(t_between(p, "join", "mid_break") + t_between(p, "resume", "ended")),
    )
    problems = check(p, truth_content, content)
    for name in p.ads:
        doc = ads[str(p.ads[name]["sid"])]
        for field, want in ad_truth(p, name).items():
            got = _field(doc, field)
            if got != want:
                problems.append(f"ad {name}: {field} = {got!r}, expected {want!r}")
    assert not problems, "\n".join(problems)

    # The content endpoint never lists an ad session.
    with httpx.Client(base_url=server.url, auth=ad_account.auth, timeout=10) as client:
        listed = client.get(PATH, params={"session_id": sorted(ad_ids), "limit": "100"}).json()["sessions"]
    assert listed == []


def t_between(p: Played, start: str, end: str) -> int:
    return p.t[end] - p.t[start]
