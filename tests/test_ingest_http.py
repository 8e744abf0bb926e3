"""The native ingest endpoint over HTTP: durable acknowledgement, sessions ending and served, errors."""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any

import httpx
import pytest

from reelsight.clock import FakeClock
from reelsight.sessions.live import TAG_LIMIT_REASON
from reelsight.settings import Settings
from reelsight.store.base import Store
from reelsight.store.sqlite import SqliteStore
from tests.conftest import NOW_MS, PATH, Credentials, LiveServer, add_account

INGEST = "/ingest/v1/events"


def batch(creds: Credentials, events: list[dict[str, Any]], sent_at_ms: int = NOW_MS) -> dict[str, Any]:
    return {"v": 1, "ingest_key": creds.account.ingest_key, "sent_at_ms": sent_at_ms, "events": events}


def ev(
    kind: str, seq: int, t_ms: int, session_id: str = "7", client_id: str = "1.2.3.4", **fields: Any
) -> dict[str, Any]:
    return {"type": kind, "client_id": client_id, "session_id": session_id, "seq": seq, "t_ms": t_ms, **fields}


def a_session(t0: int, session_id: str = "7") -> list[dict[str, Any]]:
    return [
        ev("start", 0, t0, session_id, content={"asset": "Film", "is_live": False, "length_ms": 600_000},
           viewer_id="v-1", metadata={"player_name": "Web", "tier": "gold"}),
        ev("state", 1, t0 + 1000, session_id, state="buffering"),
        ev("bitrate", 2, t0 + 1500, session_id, bitrate_bps=2_000_000),
        ev("state", 3, t0 + 2000, session_id, state="playing"),
        ev("state", 4, t0 + 62_000, session_id, state="buffering"),
        ev("state", 5, t0 + 65_000, session_id, state="playing"),
        ev("end", 6, t0 + 125_000, session_id),
    ]  # fmt: skip


def wait_for_sessions(client: httpx.Client, creds: Credentials, n: int, **params: Any) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 5
    while True:
        sessions: list[dict[str, Any]] = client.get(PATH, auth=creds.auth, params=params).json()["sessions"]
        if len(sessions) >= n or time.monotonic() > deadline:
            return sessions
        time.sleep(0.05)


@pytest.fixture
def media(store: Store) -> Credentials:
    return add_account(store, "media", viewer_module=True)


@pytest.mark.all_backends  # with ClickHouse, the session reaches it through the outbox
def test_a_session_posted_in_one_batch_is_served_with_its_metrics(client: httpx.Client, media: Credentials) -> None:
    t0 = NOW_MS - 200_000
    r = client.post(INGEST, json=batch(media, a_session(t0)))
    assert r.status_code == 202, r.text
    assert [x["status"] for x in r.json()["results"]] == ["accepted"] * 7
    (session,) = wait_for_sessions(client, media, 1)
    assert session["conviva_session_id"] == "1.2.3.4.7"
    assert session["viewer_id"] == "v-1"
    assert session["status_info"]["ended_status"] == "By Player"
    m = session["lifetime_metrics"]
    assert m["video_start_time_ms"] == 2000
    assert m["playing_time_ms"] == 60_000 + 60_000
    assert m["rebuffering_time_ms"] == 3000
    assert m["rebuffering_ratio_percent"] == round(100 * 3000 / 123_000, 2)
    assert m["average_peak_bitrate_bps"] == 2_000_000.0
    assert session["timestamps"]["end"]["epoch_ms"] == t0 + 125_000
    assert session["tags"]["custom_tags"] == {"tier": "gold"}
    assert session["tags"]["selected_dimensions"]["player_name"] == "Web"


@pytest.mark.all_backends
def test_batches_split_and_duplicated_give_the_same_session(client: httpx.Client, media: Credentials) -> None:
    t0 = NOW_MS - 200_000
    events = a_session(t0)
    assert client.post(INGEST, json=batch(media, events[:3])).status_code == 202
    again = client.post(INGEST, json=batch(media, events[:5]))  # a retry that overlaps
    assert [x["status"] for x in again.json()["results"]] == ["duplicate"] * 3 + ["accepted"] * 2
    assert client.post(INGEST, json=batch(media, events[5:])).status_code == 202
    (session,) = wait_for_sessions(client, media, 1)
    assert session["lifetime_metrics"]["playing_time_ms"] == 120_000


def test_out_of_order_batches_give_the_same_session(client: httpx.Client, media: Credentials) -> None:
    t0 = NOW_MS - 200_000
    events = a_session(t0)
    assert client.post(INGEST, json=batch(media, [events[0], events[3], events[4]])).status_code == 202
    assert client.post(INGEST, json=batch(media, [events[1], events[2]])).status_code == 202  # earlier events
    assert client.post(INGEST, json=batch(media, events[5:])).status_code == 202
    (session,) = wait_for_sessions(client, media, 1)
    m = session["lifetime_metrics"]
    assert (m["video_start_time_ms"], m["playing_time_ms"], m["rebuffering_time_ms"]) == (2000, 120_000, 3000)


def test_client_clock_skew_is_corrected(client: httpx.Client, media: Credentials) -> None:
    skew = 3_600_000  # the device's clock is an hour fast
    t0 = NOW_MS - 200_000
    skewed = [{**e, "t_ms": e["t_ms"] + skew} for e in a_session(t0)]
    assert client.post(INGEST, json=batch(media, skewed, sent_at_ms=NOW_MS + skew)).status_code == 202
    (session,) = wait_for_sessions(client, media, 1)
    assert session["timestamps"]["start"]["epoch_ms"] == t0
    assert session["timestamps"]["end"]["epoch_ms"] == t0 + 125_000


def test_late_events_for_an_ended_session_are_counted_and_dropped(client: httpx.Client, media: Credentials) -> None:
    t0 = NOW_MS - 200_000
    assert client.post(INGEST, json=batch(media, a_session(t0))).status_code == 202
    (before,) = wait_for_sessions(client, media, 1)
    late = client.post(INGEST, json=batch(media, [ev("error", 9, t0 + 126_000, message="boom", fatal=True)]))
    assert late.json()["results"] == [{"index": 0, "status": "late"}]
    (after,) = wait_for_sessions(client, media, 1)
    assert after == before
    metrics = client.get("/metrics").text
    assert 'reelsight_ingest_events_total{outcome="late"} 1.0' in metrics


def test_a_session_is_assigned_a_client_id_when_it_has_none(client: httpx.Client, media: Credentials) -> None:
    t0 = NOW_MS - 200_000
    events = [{k: v for k, v in e.items() if k != "client_id"} for e in a_session(t0, "11")]
    r = client.post(INGEST, json=batch(media, events))
    assert r.status_code == 202
    assigned = r.json()["client_ids"]["11"]
    (session,) = wait_for_sessions(client, media, 1)
    assert session["client_id"] == assigned
    assert session["conviva_session_id"] == f"{assigned}.11"


def test_silent_sessions_expire_at_the_last_time_heard(
    settings: Settings, store: SqliteStore, clock: FakeClock, media: Credentials
) -> None:
    t0 = NOW_MS - 200_000
    events = a_session(t0)[:4]  # started playing, then vanished
    with LiveServer(settings.replace(session_timeout_s=90), store, clock) as live, httpx.Client(base_url=live.url) as c:
        assert c.post(INGEST, json=batch(media, events)).status_code == 202
        time.sleep(0.7)
        assert wait_for_sessions(c, media, 1) == []
        clock.advance(91)
        (session,) = wait_for_sessions(c, media, 1)
    assert session["status_info"]["ended_status"] == "By Expiration"
    assert session["timestamps"]["end"]["epoch_ms"] == t0 + 2000
    assert session["lifetime_metrics"]["video_start_time_ms"] == 2000


def test_a_bad_event_is_rejected_alone(client: httpx.Client, media: Credentials, db_path: str) -> None:
    t0 = NOW_MS - 200_000
    good = a_session(t0, "1")[:2]
    bad = [ev("state", 5, t0, "2", state="dancing"), ev("bitrate", 6, t0, "3", bitrate_bps=-5)]
    r = client.post(INGEST, json=batch(media, [*good, *bad]))
    assert r.status_code == 202
    statuses = [(x["index"], x["status"]) for x in r.json()["results"]]
    assert statuses == [(0, "accepted"), (1, "accepted"), (2, "rejected"), (3, "rejected")]
    with sqlite3.connect(db_path) as conn:  # one log row: the round's accepted events of the session
        (body,) = [row[0] for row in conn.execute("SELECT body FROM live_events")]
    assert [e["seq"] for e in json.loads(body)] == [e["seq"] for e in good]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{not json", 400, "invalid_batch"),
        (b'{"v": 1}', 400, "invalid_batch"),
        (b'{"v": 2, "ingest_key": "x", "sent_at_ms": 1, "events": []}', 400, "invalid_batch"),
        (b"[]", 400, "invalid_batch"),
    ],
)
def test_malformed_batches_are_400(client: httpx.Client, body: bytes, status: int, code: str) -> None:
    r = client.post(INGEST, content=body)
    assert r.status_code == status
    assert r.json()["code"] == code


def test_all_bad_events_is_400_naming_the_first(client: httpx.Client, media: Credentials) -> None:
    r = client.post(INGEST, json=batch(media, [{"type": "warp", "session_id": "1", "seq": 0, "t_ms": NOW_MS}]))
    assert r.status_code == 400
    body = r.json()
    assert body["code"] == "invalid_batch"
    assert body["parameter"] == "events[0]"
    assert body["results"][0]["status"] == "rejected"


def test_unknown_ingest_key_is_401(client: httpx.Client) -> None:
    r = client.post(INGEST, json={"v": 1, "ingest_key": "ik_nope", "sent_at_ms": NOW_MS, "events": []})
    assert r.status_code == 401
    assert r.json() == {"message": "unknown ingest key", "code": "unauthorized"}  # as docs/ingest.md says
    assert "www-authenticate" not in r.headers


def test_size_limits_are_413(settings: Settings, store: SqliteStore, clock: FakeClock, media: Credentials) -> None:
    small = settings.replace(ingest_max_batch_bytes=2000, ingest_max_events=3)
    with LiveServer(small, store, clock) as live, httpx.Client(base_url=live.url) as c:
        r = c.post(INGEST, json=batch(media, [ev("heartbeat", i, NOW_MS - 1000) for i in range(4)]))
        assert r.status_code == 413
        assert r.json()["code"] == "payload_too_large"
        r = c.post(INGEST, json=batch(media, [ev("error", 0, NOW_MS - 1000, message="x" * 3000, fatal=False)]))
        assert r.status_code == 413


def test_enrichment_through_a_trusted_proxy_with_truncated_addresses(
    settings: Settings, store: SqliteStore, clock: FakeClock, tmp_path: Any
) -> None:
    from reelsight.sessions.enrich import Enricher
    from tests import mmdb

    city = mmdb.write_city_db(tmp_path / "city.mmdb")
    asn = mmdb.write_asn_db(tmp_path / "asn.mmdb")
    account = store.create_account(
        "private", viewer_module=False, business_error_patterns=(), ingest_key="ik_private", ip_privacy="truncate"
    )
    from reelsight import credentials

    key_id, secret = credentials.new_key_id(), credentials.new_secret()
    store.add_api_key(account.id, key_id, credentials.hash_secret(secret))
    owner = Credentials(account, key_id, secret)
    client_address = mmdb.CHICAGO_V4.split("/")[0]
    trusted = settings.replace(trusted_proxies="127.0.0.1")
    ua = (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)"
        " Chrome/124.0.0.0 Safari/537.36"
    )
    with (
        Enricher(str(city), str(asn)) as enricher,
        LiveServer(trusted, store, clock, enricher) as live,
        httpx.Client(base_url=live.url) as c,
    ):
        headers = {"x-forwarded-for": f"198.51.100.200, {client_address}", "user-agent": ua}
        r = c.post(INGEST, json=batch(owner, a_session(NOW_MS - 200_000)), headers=headers)
        assert r.status_code == 202
        (session,) = wait_for_sessions(c, owner, 1)
    geo, network, device = session["geo_info"], session["network_info"], session["device_info"]
    assert geo["city"] == "Chicago, Illinois, United States"
    assert geo["country"]["code"] == "US"
    assert network["asn"]["value"] == "33491"
    assert network["ip"].endswith(".0")  # truncated to /24
    assert network["ip"].rsplit(".", 1)[0] == client_address.rsplit(".", 1)[0]
    assert device["browser"]["name"] == "Chrome"
    assert device["os"] == "Windows"


def test_retrying_a_start_without_client_id_does_not_fork_the_session(client: httpx.Client, media: Credentials) -> None:
    t0 = NOW_MS - 200_000
    events = [{k: v for k, v in e.items() if k != "client_id"} for e in a_session(t0, "424242")]
    first = client.post(INGEST, json=batch(media, events, sent_at_ms=NOW_MS - 5))
    retry = client.post(INGEST, json=batch(media, events, sent_at_ms=NOW_MS))  # the response was lost
    assert first.json()["client_ids"] == retry.json()["client_ids"]
    assert {x["status"] for x in retry.json()["results"]} == {"late"}  # that session already ended
    assert len(wait_for_sessions(client, media, 1, session_id="424242")) == 1


@pytest.mark.parametrize("kind", ["snapshot", "cdn_update", "repeated_start"])
def test_internal_only_event_kinds_are_not_part_of_the_native_protocol(
    client: httpx.Client, media: Credentials, kind: str
) -> None:
    events = [ev("start", 0, NOW_MS - 1000), ev(kind, 1, NOW_MS - 500)]
    r = client.post(INGEST, json=batch(media, events))
    assert r.status_code == 202
    results = r.json()["results"]
    assert results[0]["status"] == "accepted"
    assert results[1]["status"] == "rejected"
    assert kind in results[1]["reason"]


def test_decoder_refusals_and_tag_limit_rejections_are_both_counted_rejected(
    client: httpx.Client, media: Credentials, settings: Settings
) -> None:
    """One outcome from two counters: what a decoder refused (counted by the request side) and what the
    registry rejected (the tag limit, counted by the ingest thread); ``/metrics`` adds them."""
    t0 = NOW_MS - 200_000
    too_many = {f"tag{i}": "x" for i in range(settings.ingest_max_tags_per_session + 1)}
    events = [ev("start", 0, t0, "8", metadata=too_many), ev("state", 1, t0, "9", state="dancing")]
    r = client.post(INGEST, json=batch(media, events))
    assert r.status_code == 202
    first, second = r.json()["results"]
    assert (first["status"], first["reason"]) == ("rejected", TAG_LIMIT_REASON)  # by the registry
    assert second["status"] == "rejected"
    assert second["reason"] != TAG_LIMIT_REASON  # by the decoder
    metrics = client.get("/metrics").text
    assert 'reelsight_ingest_events_total{outcome="rejected"} 2.0' in metrics
