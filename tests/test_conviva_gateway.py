"""The Conviva SDK gateway over HTTP against the real server: answers, client ids, CORS, the path
prefix, probe and ad sessions, refused keys; duplicated and reordered heartbeats change nothing;
fuzzing never gets a 500 and stores nothing from a refused heartbeat."""

from __future__ import annotations

import json
import random
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reelsight.clock import FakeClock
from reelsight.ingest import conviva
from reelsight.settings import Settings
from reelsight.store.sqlite import SqliteStore
from tests.conftest import NOW_MS, PATH, Credentials, LiveServer, add_account
from tests.test_live_registry import ACCOUNT, Harness

GATEWAY = "/0/wsg"
CLID = "1576798714.971952420.2143643190.1395192873"


def hb(
    creds: Credentials, seq: int, st_ms: int, evs: list[dict[str, Any]] | None = None, **fields: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "t": "CwsSessionHb", "cid": creds.account.ingest_key, "clid": CLID, "sid": 42, "seq": seq, "pver": "2.8",
        "sf": 7, "sst": NOW_MS, "st": st_ms, "an": "Film", "pn": "AccPlayer", "lv": False, "cl": 600,
        "rs": "AKAMAI", "vid": "viewer-1", "tags": {"c3.app.version": "9.9.1", "tier": "gold"},
        "pm": {"dvb": "Acme", "dvma": "AcmeCorp", "dvm": "Box 3", "dvt": "Settop", "os": "LINUX", "osv": "6.1"},
        **fields,
    }  # fmt: skip
    if evs is not None:
        body["evs"] = evs
    return body


def change(seq: int, st_ms: int, **new: Any) -> dict[str, Any]:
    return {"t": "CwsStateChangeEvent", "st": st_ms, "seq": seq, "new": new}


def a_session(creds: Credentials) -> list[dict[str, Any]]:
    """Five heartbeats of one session: start, first frame, a stall, a bitrate switch, the end."""
    return [
        hb(creds, 0, 2, [change(0, 1, an="Film")], ps=100),
        hb(creds, 1, 1500, [change(1, 10, ps=6), change(2, 15, br=1500), change(3, 1000, ps=3)], ps=3, br=1500),
        hb(creds, 2, 21500, [change(4, 20_000, ps=6), change(5, 21_000, ps=3)], ps=3, br=1500),
        hb(creds, 3, 41500, [change(6, 30_000, br=3000)], ps=3, br=3000),
        hb(creds, 4, 50_000, [change(7, 50_000, ps=1), {"t": "CwsSessionEndEvent", "st": 50_000, "seq": 8}], ps=1),
    ]


@pytest.fixture
def media(store: SqliteStore) -> Credentials:
    return add_account(store, "media", viewer_module=True)


def served(client: httpx.Client, creds: Credentials, clock: FakeClock) -> list[dict[str, Any]]:
    clock.advance(1)  # the read window ends now, exclusive: a session that ended this ms is not in it yet
    sessions: list[dict[str, Any]] = client.get(PATH, auth=creds.auth, params={"limit": 100}).json()["sessions"]
    return sessions


def counts(db_path: str) -> tuple[int, int, int]:
    with sqlite3.connect(db_path) as conn:
        return (
            conn.execute("SELECT count(*) FROM sessions").fetchone()[0],
            conn.execute("SELECT count(*) FROM live_sessions").fetchone()[0],
            conn.execute("SELECT count(*) FROM live_events").fetchone()[0],
        )


def post_in_time(client: httpx.Client, clock: FakeClock, body: dict[str, Any]) -> httpx.Response:
    """Post a heartbeat when the clock says it was built (the fake clock starts at its sst)."""
    clock.advance((body["sst"] + body["st"] - clock.now_ms()) / 1000)
    return client.post(GATEWAY, json=body)


def test_a_session_reported_by_heartbeats_is_served(client: httpx.Client, media: Credentials, clock: FakeClock) -> None:
    for body in a_session(media):
        r = post_in_time(client, clock, body)
        assert r.status_code == 200
        assert r.json() == {"err": "ok", "cfg": {"hbi": 20}}  # no clid: the heartbeat had one
    (session,) = served(client, media, clock)
    assert session["client_id"] == CLID
    assert session["session_id"] == "42"
    assert session["viewer_id"] == "viewer-1"
    assert session["status_info"]["ended_status"] == "By Player"
    metrics = session["lifetime_metrics"]
    assert session["timestamps"]["start"]["epoch_ms"] == NOW_MS  # sst: the play intent
    assert session["timestamps"]["end"]["epoch_ms"] == NOW_MS + 50_000
    assert metrics["video_start_time_ms"] == 1000
    assert metrics["rebuffering_time_ms"] == 1000
    assert metrics["bitrate_switches_count"] == 1
    assert session["network_info"]["cdn"] == ["AKAMAI"]
    assert session["tags"]["selected_dimensions"]["app_version"] == "9.9.1"
    assert session["tags"]["selected_dimensions"]["device_hardware_type"] == "Set-top Box"
    assert session["tags"]["custom_tags"] == {"tier": "gold"}
    assert session["content_info"]["length_ms"] == 600_000


def test_client_id_zero_gets_one_and_later_heartbeats_use_it(
    client: httpx.Client, media: Credentials, clock: FakeClock
) -> None:
    first = client.post(GATEWAY, json=hb(media, 0, 2, [], clid="0", ps=100)).json()
    assigned = first["clid"]
    assert assigned != conviva.UNKNOWN_CLIENT_ID
    again = client.post(GATEWAY, json=hb(media, 0, 2, [], clid="0", ps=100)).json()
    assert again["clid"] == assigned  # a repeated heartbeat gets the same id: the session never forks
    later = client.post(GATEWAY, json=hb(media, 1, 500, [change(1, 400, ps=3)], clid=assigned, ps=3)).json()
    assert "clid" not in later
    end = [{"t": "CwsSessionEndEvent", "st": 600, "seq": 2}]
    client.post(GATEWAY, json=hb(media, 2, 600, end, clid=assigned, ps=1))
    (session,) = served(client, media, clock)
    assert session["client_id"] == assigned


def test_unknown_key_is_refused_counted_and_stores_nothing(
    client: httpx.Client, media: Credentials, db_path: str
) -> None:
    body = hb(media, 0, 2, [change(0, 1, ps=3)], cid="ik_not_a_key")
    r = client.post(GATEWAY, json=body, headers={"Origin": "https://player.example"})
    assert r.status_code == 401
    assert r.json() == {"message": "unknown ingest key", "code": "unauthorized"}
    assert r.headers["access-control-allow-origin"] == "https://player.example"
    assert counts(db_path) == (0, 0, 0)
    assert (
        'reelsight_ingest_requests_total{outcome="refused 401",protocol="conviva"} 1.0' in client.get("/metrics").text
    )


def test_cors_preflight_and_headers_on_every_answer(client: httpx.Client, media: Credentials) -> None:
    origin = {"Origin": "https://player.example"}
    pre = client.options(
        GATEWAY,
        headers={**origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"},
    )
    assert pre.status_code == 204
    assert pre.headers["access-control-allow-origin"] == "https://player.example"
    assert "POST" in pre.headers["access-control-allow-methods"]
    assert pre.headers["access-control-allow-headers"] == "content-type"
    ok = client.post(GATEWAY, json=hb(media, 0, 2, [], ps=100), headers=origin)
    bad = client.post(GATEWAY, content=b"{", headers=origin)
    assert ok.status_code == 200
    assert bad.status_code == 400
    assert ok.headers["access-control-allow-origin"] == bad.headers["access-control-allow-origin"] == origin["Origin"]


@pytest.mark.parametrize(("fields", "outcome"), [({"sf": 0}, "probe"), ({"ad": True}, "ad")])
def test_probe_and_ad_sessions_create_nothing(
    client: httpx.Client, media: Credentials, db_path: str, fields: dict[str, Any], outcome: str
) -> None:
    r = client.post(GATEWAY, json=hb(media, 0, 2, [change(0, 1, ps=3)], **fields))
    assert r.status_code == 200
    assert counts(db_path) == (0, 0, 0)
    metrics = client.get("/metrics").text
    assert f'reelsight_ingest_requests_total{{outcome="{outcome}",protocol="conviva"}} 1.0' in metrics


def test_the_gateway_answers_under_a_path_prefix(
    settings: Settings, store: SqliteStore, clock: FakeClock, media: Credentials
) -> None:
    with LiveServer(
        settings.replace(conviva_path_prefix="conviva/", conviva_heartbeat_interval_s=7), store, clock
    ) as s:
        prefixed = httpx.post(s.url + "/conviva/0/wsg", json=hb(media, 0, 2, [], ps=100))
        bare = httpx.post(s.url + GATEWAY, json=hb(media, 0, 2, [], ps=100))
    assert prefixed.status_code == 200
    assert prefixed.json()["cfg"] == {"hbi": 7}
    assert bare.status_code == 404


# -- duplicated and reordered heartbeats ----------------------------------------------------------


def _session_from(h: Harness, creds: Credentials, bodies: list[tuple[int, dict[str, Any]]]) -> Any:
    """Decode each (receive time, heartbeat) and feed it to a registry over a real SQLite log."""
    for receive_ms, body in bodies:
        heartbeat = conviva.decode_heartbeat(json.dumps(body).encode())
        decoded = conviva.decode_events(
            heartbeat, receive_ms=receive_ms, new_client_id=lambda _hb: CLID, interval_ms=20_000
        )
        h.send([event for _index, event in decoded.batch.events], receive_ms)
    (stored,) = h.stored()
    return stored


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), copies=st.lists(st.integers(0, 4), max_size=4))
def test_heartbeats_twice_or_out_of_order_change_nothing(
    tmp_path_factory: pytest.TempPathFactory, seed: int, copies: list[int]
) -> None:
    creds = Credentials(ACCOUNT, "", "")
    timed = [(body["sst"] + body["st"] + 40, body) for body in a_session(creds)]  # each arrives 40 ms after it was sent
    *middle, last = timed
    shuffled = random.Random(seed).sample(middle, len(middle)) + [timed[i] for i in copies if i < 4]
    once = Harness(tmp_path_factory.mktemp("once") / "live.db")
    mixed = Harness(tmp_path_factory.mktemp("mixed") / "live.db")
    try:
        expected = _session_from(once, creds, timed)
        got = _session_from(mixed, creds, [*shuffled, last])
    finally:
        once.close()
        mixed.close()
    assert msgspec.to_builtins(got) == msgspec.to_builtins(expected)


# -- fuzzing -------------------------------------------------------------------------------------

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
_FIELDS = ["cid", "clid", "sid", "seq", "sst", "st", "sf", "ad", "ps", "br", "pht", "afps", "cl", "lv", "an", "rs",
           "csi", "tags", "pm", "evs", "vid", "pn", "url"]  # fmt: skip


@pytest.fixture
def fuzz_server(settings: Settings, store: SqliteStore, clock: FakeClock) -> Iterator[LiveServer]:
    with LiveServer(settings, store, clock) as live:
        yield live


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(data=st.data())
def test_fuzzed_heartbeats_never_fail_and_refused_ones_store_nothing(
    fuzz_server: LiveServer, media: Credentials, db_path: str, data: st.DataObject
) -> None:
    body = hb(media, data.draw(st.integers(0, 3)), data.draw(st.integers(-(2**31), 2**31)), [])
    for field in data.draw(st.lists(st.sampled_from(_FIELDS), max_size=4)):
        body[field] = data.draw(_JSON)
    if data.draw(st.booleans()):
        body["evs"] = data.draw(st.lists(st.fixed_dictionaries({"t": st.sampled_from(
            ["CwsStateChangeEvent", "CwsErrorEvent", "CwsSeekEvent", "CwsSessionEndEvent", "CwsCustomEvent", "x"]),
            "st": st.integers(-(2**33), 2**33) | _JSON, "seq": st.integers(-5, 2**40) | _JSON},
            optional={"new": _JSON, "old": _JSON, "err": _JSON, "ft": _JSON, "act": _JSON, "attr": _JSON}),
            max_size=5))  # fmt: skip
    raw = data.draw(st.sampled_from(["json", "truncated", "bytes"]))
    content = json.dumps(body).encode()
    if raw == "truncated":
        content = content[: data.draw(st.integers(0, len(content)))]
    elif raw == "bytes":
        content = data.draw(st.binary(max_size=200))
    before = counts(db_path)
    r = httpx.post(fuzz_server.url + GATEWAY, content=content, headers={"content-type": "application/json"})
    assert r.status_code in (200, 400, 401, 413), r.text
    assert r.headers["content-type"] == "application/json"
    if r.status_code != 200:
        assert counts(db_path) == before
        assert r.json()["code"] in {"invalid_batch", "unauthorized", "payload_too_large"}


def test_a_huge_heartbeat_is_413(client: httpx.Client, media: Credentials, db_path: str) -> None:
    body = hb(media, 0, 2, [], tags={"big": "x" * 2_000_000})
    r = client.post(GATEWAY, json=body)
    assert r.status_code == 413
    assert counts(db_path) == (0, 0, 0)


def test_path_is_documented(tmp_path: Path) -> None:
    """The integrator docs name the gateway path and the setting."""
    text = (Path(__file__).parent.parent / "docs" / "ingest-conviva.md").read_text()
    assert "/0/wsg" in text
    assert "conviva_path_prefix" in text
    assert "conviva_heartbeat_interval_s" in text
