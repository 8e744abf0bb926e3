"""The CMCD v2 collector: the decoder against hand-checked report lines (as the players send them,
from ``shared/reference/cmcd-v2-players.md``), the collector over HTTP against the real server, and
the rules: duplicated or reordered reports change nothing; fuzzing never gets a 500."""

from __future__ import annotations

import random
import sqlite3
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reelsight.clock import FakeClock
from reelsight.ingest import cmcd
from reelsight.ingest.events import (
    Bitrate,
    Content,
    End,
    Heartbeat,
    PlayerError,
    PlayerState,
    RepeatedStart,
    SeekStart,
    Snapshot,
    StateChange,
)
from reelsight.settings import Settings
from reelsight.store.sqlite import SqliteStore
from tests.conftest import NOW_MS, PATH, Credentials, LiveServer, add_account
from tests.test_live_registry import Harness

SID = "3e2d4add-5b4c-4d8e-9f00-0123456789ab"
CLIENT_ID = "1043155677.1531727246.2667577635.1164413355"  # 0x3e2d4add 0x5b4c4d8e 0x9f000123 0x456789ab


def test_a_uuid_sid_maps_to_its_own_bits_and_any_other_string_to_a_hash() -> None:
    assert cmcd.session_identity(SID) == (CLIENT_ID, "0")
    raw = uuid.UUID(SID).bytes
    assert ".".join(str(int.from_bytes(raw[i : i + 4], "big")) for i in range(0, 16, 4)) == CLIENT_ID
    other = cmcd.session_identity("my-own-session-42")
    assert other == cmcd.session_identity("my-own-session-42")
    assert other[0] != CLIENT_ID
    assert len(other[0].split(".")) == 4


def parse(body: bytes, content_type: str = "application/cmcd") -> tuple[cmcd.Reports, dict[int, str]]:
    return cmcd.parse_body(body, content_type, max_lines=1000)


def decode(body: bytes, content_type: str = "application/cmcd") -> list[Any]:
    reports, refused = parse(body, content_type)
    batch = cmcd.decode_reports(reports, refused, receive_ms=NOW_MS)
    return [event for _index, event in batch.events]


IDS = {"client_id": CLIENT_ID, "session_id": "0"}
T = NOW_MS - 10_000


def start(sn: int, ts: int, asset: str = "film") -> RepeatedStart:
    return RepeatedStart(**IDS, seq=sn * 8, t_ms=ts, content=Content(asset=asset, is_live=False))


def test_hls_state_change_to_playing() -> None:
    line = f'bl=(0),br=(2002),cid="film",e=ps,mtp=(5000),sf=h,sid="{SID}",sn=6,st=v,sta=p,ts={T},v=2\n'
    assert decode(line.encode()) == [
        start(6, T),
        StateChange(**IDS, seq=49, t_ms=T, state=PlayerState.PLAYING),
        Snapshot(**IDS, seq=50, t_ms=T, bitrate_bps=2_002_000),  # br on a state event: what is in force
    ]


def test_dash_inner_lists_with_media_type_parameters() -> None:
    line = f'ab=(800;v),bl=(0;v 0;a),br=(300;a 800;v),cid="film",e=ps,sid="{SID}",sn=4,st=v,sta=r,ts={T},v=2'
    assert decode(line.encode())[1:] == [
        StateChange(**IDS, seq=33, t_ms=T, state=PlayerState.BUFFERING),
        Snapshot(**IDS, seq=34, t_ms=T, bitrate_bps=800_000),  # the video item of the inner list
    ]


def test_a_seek_opens_a_window_that_buffers_until_playing() -> None:
    line = f'cid="film",e=ps,sid="{SID}",sn=9,st=v,sta=k,ts={T}'
    assert decode(line.encode())[1:] == [
        SeekStart(**IDS, seq=73, t_ms=T),
        StateChange(**IDS, seq=74, t_ms=T, state=PlayerState.BUFFERING),
    ]


def test_rendition_change_interval_report_and_end() -> None:
    body = (
        f'br=(2000),cid="film",e=bc,sid="{SID}",sn=10,st=v,sta=p,ts={T}\n'
        f'br=(2000),cid="film",e=t,sid="{SID}",sn=11,st=v,sta=p,ts={T + 5000}\n'
        f'cid="film",e=ps,sid="{SID}",sn=12,st=v,sta=e,ts={T + 6000}\n'
    ).encode()
    assert decode(body) == [
        start(10, T),
        Bitrate(**IDS, seq=81, t_ms=T, bitrate_bps=2_000_000),
        Snapshot(**IDS, seq=82, t_ms=T, state=PlayerState.PLAYING),
        start(11, T + 5000),
        Snapshot(**IDS, seq=89, t_ms=T + 5000, state=PlayerState.PLAYING, bitrate_bps=2_000_000),
        start(12, T + 6000),
        StateChange(**IDS, seq=97, t_ms=T + 6000, state=PlayerState.STOPPED),
        End(**IDS, seq=98, t_ms=T + 6000),
    ]


def test_errors_fatal_state_and_a_start_failure_reported_without_f() -> None:
    hls = f'cid="film",e=e,ec=("manifestLoadError"),sid="{SID}",sn=3,sta=f,ts={T}'
    dash = f'e=e,ec=25,sid="{SID}",sn=5,sta=s,ts={T}'
    mid_play = f'e=e,ec=("fragParsingError" "x"),sid="{SID}",sn=7,sta=p,ts={T}'
    state_f = f'e=ps,sid="{SID}",sn=8,sta=f,ts={T}'
    assert decode(hls.encode())[1] == PlayerError(**IDS, seq=25, t_ms=T, message="manifestLoadError", fatal=True)
    assert decode(dash.encode())[1] == PlayerError(**IDS, seq=41, t_ms=T, message="25", fatal=True)
    assert decode(mid_play.encode())[1] == PlayerError(
        **IDS, seq=57, t_ms=T, message="fragParsingError, x", fatal=False
    )
    assert decode(state_f.encode())[1:] == [
        PlayerError(**IDS, seq=65, t_ms=T, message="player state f (fatal error)", fatal=True),
        StateChange(**IDS, seq=66, t_ms=T, state=PlayerState.STOPPED),
    ]


def test_dash_repeats_a_stored_error_code_on_interval_reports_and_it_is_not_a_new_error() -> None:
    line = f'e=t,ec=25,sid="{SID}",sn=9,sta=s,ts={T}'
    assert [type(e) for e in decode(line.encode())] == [RepeatedStart, Heartbeat]  # alive, no new error


def test_shaka_minified_reports_without_sta_invent_nothing() -> None:
    line = f'br=(2000),cid="film",e=t,sf=d,sid="{SID}",sn=10,st=v,ts={T},v=2'
    assert decode(line.encode())[1:] == [Snapshot(**IDS, seq=81, t_ms=T, bitrate_bps=2_000_000)]


def test_json_bodies_are_accepted_leniently() -> None:
    report = {"e": "ps", "sid": SID, "sn": 2, "sta": "p", "ts": T, "cid": "film", "st": "v"}
    as_array = decode(msgspec.json.encode([report]), "application/json")
    as_lines = decode(msgspec.json.encode(report) + b"\n", "text/plain")
    assert as_array == as_lines
    assert as_array[1] == StateChange(**IDS, seq=17, t_ms=T, state=PlayerState.PLAYING)


def test_bad_lines_are_refused_alone_with_a_fixed_reason() -> None:
    body = (
        b"this is not, a dictionary((\n"
        b"\n"
        + f"e=ps,sn=1,sta=p,ts={T}\n".encode()  # no sid (dash.js without enabledKeys)
        + f'e=ps,sid="{SID}",sn=2,sta=p\n'.encode()
        + f'e=ps,sid="{SID}",sta=p,ts={T}\n'.encode()
        + f'e=ps,sid="{SID}",sn=3,sta=p,ts=5\n'.encode()
        + f'e=ps,sid="{SID}",sn=4,sta=p,ts={T}\r\n'.encode()
    )
    reports, refused = parse(body)
    batch = cmcd.decode_reports(reports, refused, receive_ms=NOW_MS)
    assert batch.rejected == {0: cmcd.NOT_A_DICTIONARY, 2: cmcd.NO_SID, 3: cmcd.NO_TS, 4: cmcd.NO_SN,
                              5: cmcd.TS_OUT_OF_RANGE}  # fmt: skip
    assert {index for index, _event in batch.events} == {6}
    assert set(batch.rejected.values()) <= set(cmcd.REASONS)


# -- the collector over HTTP ---------------------------------------------------------------------


def lines(*reports: str) -> bytes:
    return "".join(f"{r}\n" for r in reports).encode()


def a_session(sid: str = SID) -> list[str]:
    """hls.js-like: start, startup buffering, playing, a rendition change, a pause, a stall, the end."""
    base = f'cid="film",sid="{sid}",st=v,v=2'
    return [
        f"{base},e=ps,sn=0,sta=s,ts={T}",
        f"{base},br=(800),e=ps,sn=1,sta=r,ts={T + 300}",
        f"{base},br=(800),e=ps,sn=2,sta=p,ts={T + 1200}",
        f"{base},br=(2002),e=bc,sn=3,sta=p,ts={T + 3000}",
        f"{base},e=ps,sn=4,sta=a,ts={T + 4000}",
        f"{base},e=ps,sn=5,sta=p,ts={T + 6000}",
        f"{base},e=ps,sn=6,sta=r,ts={T + 7000}",
        f"{base},e=ps,sn=7,sta=p,ts={T + 8500}",
        f"{base},e=ps,sn=8,sta=e,ts={T + 9500}",
        f"{base},e=t,sn=9,sta=e,ts={T + 9600}",  # players keep sending after the end
    ]


@pytest.fixture
def media(store: SqliteStore) -> Credentials:
    return add_account(store, "media")


def post(client: httpx.Client, creds: Credentials, body: bytes, **headers: str) -> httpx.Response:
    return client.post(
        f"/ingest/cmcd/v2?key={creds.account.ingest_key}",
        content=body,
        headers={"content-type": "application/cmcd", **headers},
    )


def served(client: httpx.Client, creds: Credentials, clock: FakeClock, sid: str = SID) -> list[dict[str, Any]]:
    clock.advance(1)
    found: list[dict[str, Any]] = client.get(
        PATH, auth=creds.auth, params={"client_id": cmcd.session_identity(sid)[0]}
    ).json()["sessions"]
    return found


def test_a_session_reported_one_line_per_post_in_any_order_is_served(
    client: httpx.Client, media: Credentials, clock: FakeClock
) -> None:
    reports = a_session()
    order = [1, 0, 3, 2, 4, 6, 5, 7, 8, 9]  # arrival order is not sn order
    for i in order:
        r = post(client, media, lines(reports[i]), origin="https://player.example")
        assert r.status_code == 204
        assert r.headers["access-control-allow-origin"] == "https://player.example"
    (session,) = served(client, media, clock)
    assert session["client_id"] == CLIENT_ID
    assert session["session_id"] == "0"
    assert session["status_info"]["ended_status"] == "By Player"
    assert session["content_info"]["asset"] == "film"
    assert session["content_info"]["category"] == "VoD"
    m = session["lifetime_metrics"]
    assert m["video_start_time_ms"] == 1200  # r before the first p is startup
    assert m["playing_time_ms"] == (4000 - 1200) + (7000 - 6000) + (9500 - 8500)
    assert m["paused_time_ms"] == 2000
    assert m["rebuffering_time_ms"] == 1500
    assert m["bitrate_switches_count"] == 1
    assert session["timestamps"]["end"]["epoch_ms"] == T + 9500  # the line after the end did not extend it


def test_the_key_as_a_path_segment_and_an_unknown_key_is_410(client: httpx.Client, media: Credentials) -> None:
    ok = client.post(f"/ingest/cmcd/v2/{media.account.ingest_key}", content=lines(a_session()[0]))
    assert ok.status_code == 204
    gone = client.post(
        "/ingest/cmcd/v2?key=ik_nope", content=lines(a_session()[0]), headers={"origin": "https://p.example"}
    )
    assert gone.status_code == 410
    assert gone.json() == {"message": "unknown ingest key: stop reporting to this URL", "code": "unknown_ingest_key"}
    assert gone.headers["access-control-allow-origin"] == "https://p.example"
    assert 'reelsight_ingest_requests_total{outcome="refused 410",protocol="cmcd"} 1.0' in client.get("/metrics").text


def test_the_preflight(client: httpx.Client) -> None:
    r = client.options(
        "/ingest/cmcd/v2",
        headers={
            "Origin": "https://p.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == "https://p.example"
    assert r.headers["access-control-allow-headers"] == "content-type"
    assert "POST" in r.headers["access-control-allow-methods"]


def test_invalid_lines_are_204_and_counted_by_reason(client: httpx.Client, media: Credentials, db_path: str) -> None:
    r = post(client, media, b"((garbage\n" + lines(f"e=ps,sn=1,sta=p,ts={T}"))
    assert r.status_code == 204
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT count(*) FROM live_events").fetchone() == (0,)
    metrics = client.get("/metrics").text
    assert f'outcome="line refused: {cmcd.NOT_A_DICTIONARY}",protocol="cmcd"}} 1.0' in metrics
    assert f'outcome="line refused: {cmcd.NO_SID}",protocol="cmcd"}} 1.0' in metrics


def test_too_many_lines_or_bytes_is_413(
    settings: Settings, store: SqliteStore, clock: FakeClock, media: Credentials
) -> None:
    with LiveServer(settings.replace(ingest_max_events=5, ingest_max_batch_bytes=4000), store, clock) as s:
        url = f"{s.url}/ingest/cmcd/v2?key={media.account.ingest_key}"
        assert httpx.post(url, content=lines(*a_session()[:6])).status_code == 413
        assert httpx.post(url, content=b"x" * 5000).status_code == 413
        assert httpx.post(url, content=lines(*a_session()[:5])).status_code == 204


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), copies=st.lists(st.integers(0, 8), max_size=5))
def test_duplicated_or_reordered_reports_change_nothing(
    tmp_path_factory: pytest.TempPathFactory, seed: int, copies: list[int]
) -> None:
    reports = a_session()
    *body, end, after = reports
    shuffled = random.Random(seed).sample(body, len(body)) + [body[i] for i in copies if i < len(body)]

    def session(order: list[str]) -> Any:
        h = Harness(tmp_path_factory.mktemp("cmcd") / "live.db")
        try:
            for report in order:
                parsed, refused = parse(lines(report))
                batch = cmcd.decode_reports(parsed, refused, receive_ms=NOW_MS)
                h.send([event for _index, event in batch.events], NOW_MS)
            (stored,) = h.stored()
            return msgspec.to_builtins(stored)
        finally:
            h.close()

    assert session([*shuffled, end, after]) == session(reports)


_VALUES = st.one_of(
    st.integers(-(2**62), 2**62).map(str),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.:", max_size=12).map(lambda s: f'"{s}"'),
    st.sampled_from(["ps", "t", "bc", "e", "rr", "p", "r", "k", "a", "e", "f", "q", "s", "w", "d", "?0", "?1"]),
    st.lists(st.integers(-5, 10**6), max_size=3).map(lambda xs: "(" + " ".join(map(str, xs)) + ")"),
    st.just('("manifestLoadError")'),
)
_KEYS = ["e", "sta", "sid", "sn", "ts", "br", "ec", "cid", "st", "sf", "bl", "mtp", "msd", "v", "x-y"]


@pytest.fixture
def fuzz_server(settings: Settings, store: SqliteStore, clock: FakeClock) -> Iterator[LiveServer]:
    with LiveServer(settings, store, clock) as live:
        yield live


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(data=st.data())
def test_fuzzed_bodies_never_fail(fuzz_server: LiveServer, media: Credentials, data: st.DataObject) -> None:
    kind = data.draw(st.sampled_from(["dictionaries", "bytes", "json"]))
    if kind == "dictionaries":
        count = data.draw(st.integers(0, 6))
        body = b""
        for _ in range(count):
            keys = data.draw(st.lists(st.sampled_from(_KEYS), max_size=8, unique=True))
            pairs = [f"{k}={data.draw(_VALUES)}" for k in keys]
            if data.draw(st.booleans()):
                pairs.append(f'sid="{SID}"')
            body += ",".join(pairs).encode() + data.draw(st.sampled_from([b"\n", b"\r\n", b"", b"\n\n"]))
        content_type = data.draw(st.sampled_from(["application/cmcd", "text/plain", ""]))
    elif kind == "bytes":
        body = data.draw(st.binary(max_size=300))
        content_type = data.draw(st.sampled_from(["application/cmcd", "application/json"]))
    else:
        body = data.draw(st.recursive(st.none() | st.integers() | st.text(max_size=5),
                                      lambda c: st.lists(c, max_size=3) | st.dictionaries(st.sampled_from(_KEYS), c,
                                                                                             max_size=4),
                                      max_leaves=12).map(msgspec.json.encode))  # fmt: skip
        content_type = "application/json"
    r = httpx.post(
        f"{fuzz_server.url}/ingest/cmcd/v2?key={media.account.ingest_key}",
        content=body,
        headers={"content-type": content_type} if content_type else {},
    )
    assert r.status_code in (204, 413), r.text
    assert r.headers["access-control-allow-origin"] == "*"


def test_a_response_report_moves_nothing() -> None:
    """``rr``: its ts is the request's start, its sta the state at the response's end (seconds apart
    for a held segment), its br the requested rendition's: only the start is taken from it, and
    that the session was alive at its ts (a heartbeat)."""
    line = f'br=(368),cid="film",e=rr,rc=200,sid="{SID}",sn=4,st=v,sta=r,ts={T},ttfb=42,url="http://x/seg.m4s"'
    assert decode(line.encode()) == [start(4, T), Heartbeat(**IDS, seq=33, t_ms=T)]
