"""Ingest when things go wrong: input that would crash a decoder, a store that refuses writes (a full
disk), and a bug in the server. Only storage and capacity failures are 503; a bug is a 500, logged once."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from reelsight.clock import FakeClock
from reelsight.ingest.events import Device
from reelsight.sessions.context import Enrichment
from reelsight.sessions.enrich import Enricher
from reelsight.settings import Settings
from reelsight.store.sqlite import SqliteStore
from tests.conftest import NOW_MS, Credentials, LiveServer, add_account
from tests.test_conviva_decoder import heartbeat as conviva_heartbeat
from tests.test_ingest_http import INGEST, a_session, batch

KEY_PLACEHOLDER = "ik_placeholder"


@pytest.fixture
def media(store: SqliteStore) -> Credentials:
    return add_account(store, "media")


def raw_batch(creds: Credentials, events_json: bytes) -> bytes:
    head = b'{"v":1,"ingest_key":"' + creds.account.ingest_key.encode() + b'","sent_at_ms":%d,"events":' % NOW_MS
    return head + events_json + b"}"


@pytest.mark.parametrize(
    ("events", "message"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "the body is nested too deeply to be a batch of protocol version 1"),
        (
            b'[{"type":"start","client_id":"1.2.3.4","session_id":"7","seq":0,"t_ms":1,"metadata":'
            + b'{"a":' * 50_000
            + b"1"
            + b"}" * 50_000
            + b"}]",
            "the body is nested too deeply to be a batch of protocol version 1",
        ),
    ],
    ids=["events-100k-deep", "metadata-50k-deep"],
)
def test_deeply_nested_json_is_400_invalid_batch(
    client: httpx.Client, media: Credentials, db_path: str, events: bytes, message: str
) -> None:
    r = client.post(INGEST, content=raw_batch(media, events), headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert r.json() == {"message": message, "code": "invalid_batch"}
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT count(*) FROM live_events").fetchone() == (0,)


def test_a_deeply_nested_event_inside_a_valid_batch_is_rejected_alone(client: httpx.Client, media: Credentials) -> None:
    """The envelope skips events without decoding them, so a nested event may reach the event decoder."""
    from reelsight.ingest.native import decode_batch, decode_envelope

    nested = b'{"type":"metadata","client_id":"1.2.3.4","session_id":"7","seq":1,"t_ms":1,"metadata":' + b"[" * 600
    nested += b"]" * 600 + b"}"
    good = b'{"type":"heartbeat","client_id":"1.2.3.4","session_id":"7","seq":2,"t_ms":%d}' % NOW_MS
    envelope = decode_envelope(raw_batch(media, b"[" + nested + b"," + good + b"]"), max_events=10)
    decoded = decode_batch(envelope, receive_ms=NOW_MS, new_client_id=lambda _start: "1.1.1.1")
    assert [index for index, _event in decoded.events] == [1]
    assert 0 in decoded.rejected


# -- a store that refuses writes ---------------------------------------------------------------


def test_a_full_disk_is_503_then_ingest_resumes(
    client: httpx.Client, media: Credentials, store: SqliteStore, db_path: str, caplog: pytest.LogCaptureFixture
) -> None:
    """SQLite's own "database or disk is full" (max_page_count caps the file where it is): nothing is
    acknowledged, nothing half-written stays, one warning line, and the same batch succeeds later."""
    t0 = NOW_MS - 200_000
    writer = store._writer  # the real connection, capped the way a full disk caps it
    pages = writer.execute("PRAGMA page_count").fetchone()[0]
    writer.execute(f"PRAGMA max_page_count = {pages}")
    body = batch(media, [e for n in range(50) for e in a_session(t0, str(n))])  # needs new pages
    with caplog.at_level(logging.WARNING):
        answers = [client.post(INGEST, json=body) for _ in range(5)]
    assert {r.status_code for r in answers} == {503}
    assert answers[0].json()["code"] == "unavailable"
    assert "database or disk is full" in answers[0].json()["message"]
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT count(*) FROM live_events").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM sessions").fetchone() == (0,)
    records = [r for r in caplog.records if r.name.startswith("reelsight")]
    assert len(records) == 1
    assert records[0].levelno == logging.WARNING
    assert records[0].exc_info is None
    assert "database or disk is full" in records[0].getMessage()

    writer.execute("PRAGMA max_page_count = 1073741823")  # space freed
    again = client.post(INGEST, json=body)
    assert again.status_code == 202
    assert {r["status"] for r in again.json()["results"]} == {"accepted"}
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT count(*) FROM sessions").fetchone() == (50,)


# -- a bug --------------------------------------------------------------------------------------


class BrokenEnricher(Enricher):
    """An enricher with a bug: every enrichment raises."""

    def __init__(self) -> None:
        super().__init__("", "")

    def enrich(self, *, device: Device, user_agent: str, ip: str, ip_privacy: str) -> Enrichment:
        raise ZeroDivisionError("a bug in enrichment")


@pytest.fixture
def broken_server(settings: Settings, store: SqliteStore, clock: FakeClock) -> Iterator[LiveServer]:
    with LiveServer(settings, store, clock, enricher=BrokenEnricher()) as live:
        yield live


def test_a_bug_is_a_500_logged_once_with_its_traceback(
    broken_server: LiveServer, media: Credentials, db_path: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO), httpx.Client(base_url=broken_server.url) as client:
        r = client.post(INGEST, json=batch(media, a_session(NOW_MS - 200_000)))
    assert r.status_code == 500
    assert r.json()["code"] == "internal_error"
    errors: list[Any] = [rec for rec in caplog.records if rec.levelno >= logging.ERROR]
    assert len(errors) == 1, [rec.getMessage() for rec in errors]
    assert errors[0].exc_info is not None
    assert errors[0].exc_info[0] is ZeroDivisionError
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT count(*) FROM live_events").fetchone() == (0,)


class BrokenKeyStore(SqliteStore):
    """A store whose ingest-key lookup has a bug (a route-level failure, not the worker's)."""

    def find_account_by_ingest_key(self, ingest_key: str) -> Any:
        raise KeyError("a bug in the key lookup")


def _route_request(route: str, creds: Credentials) -> tuple[str, bytes]:
    """A valid request to ``route`` (its path and body) that reaches the ingest-key lookup."""
    if route == "native":
        return INGEST, json.dumps(batch(creds, a_session(NOW_MS - 200_000))).encode()
    if route == "conviva":  # the players' hot routes (``web/hot_routes.py``), off Starlette's stack
        body = json.loads(conviva_heartbeat(0, 0))
        return "/0/wsg", json.dumps(body | {"cid": creds.account.ingest_key}).encode()
    return f"/ingest/cmcd/v2?key={creds.account.ingest_key}", b'sid="6e2ba7ee-8b4b-4ad4-a9bb-2d7a3a0b1e7a",sta=p,ts=1\n'


@pytest.mark.parametrize("route", ["native", "conviva", "cmcd"])
def test_a_bug_in_a_route_is_a_500_envelope_logged_once(
    route: str,
    settings: Settings,
    db_path: str,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    store = BrokenKeyStore(db_path, readers=1)
    try:
        creds = add_account(store, "media")
        path, body = _route_request(route, creds)
        with LiveServer(settings, store, clock) as live, caplog.at_level(logging.INFO):
            r = httpx.post(live.url + path, content=body, headers={"content-type": "text/plain"})
    finally:
        store.close()
    assert r.status_code == 500
    assert r.json() == {"message": "internal error", "code": "internal_error"}
    # The HTTP server logs it (to stderr, not through the root logger), once; nothing else does.
    logged = capfd.readouterr().err
    assert logged.count("Traceback (most recent call last)") == 1, logged
    assert "KeyError: 'a bug in the key lookup'" in logged
    assert not [rec for rec in caplog.records if rec.exc_info is not None]
