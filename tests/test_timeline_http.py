"""The session timeline endpoints over real HTTP, on both stores: served once the session ends, 404 for
what the account has no timeline of, ad sessions under the ad path, rewrites and the retention purge;
and an SQLite file from before timelines opening with today's code."""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any

import httpx
import pytest

from reelsight.sessions.document import decode_document
from reelsight.store.base import Store
from reelsight.store.records import to_record
from reelsight.store.sqlite import SqliteStore
from reelsight.store.sqlite.schema import MIGRATIONS
from reelsight.web.timeline_route import AD_PATH, CONTENT_PATH
from tests.conftest import NOW_MS, PATH, Credentials, add_account
from tests.factories import make_doc
from tests.test_ingest_http import INGEST, batch, ev
from tests.test_schema_migrations import _file_at_version, _full_record

T0 = NOW_MS - 200_000


def content_url(conviva_session_id: str) -> str:
    return CONTENT_PATH.replace("{conviva_session_id}", conviva_session_id)


def ad_url(conviva_session_id: str) -> str:
    return AD_PATH.replace("{conviva_session_id}", conviva_session_id)


def a_session(session_id: str = "7") -> list[dict[str, Any]]:
    return [
        ev("start", 0, T0, session_id, content={"asset": "Film", "is_live": False, "length_ms": 600_000}),
        ev("cdn", 1, T0, session_id, cdn="AKAMAI", edge_server="e1"),
        ev("state", 2, T0 + 1000, session_id, state="buffering"),
        ev("bitrate", 3, T0 + 1500, session_id, bitrate_bps=2_000_000),
        ev("state", 4, T0 + 2000, session_id, state="playing"),
        ev("seek_start", 5, T0 + 30_000, session_id),
        ev("state", 6, T0 + 30_000, session_id, state="buffering"),
        ev("state", 7, T0 + 31_000, session_id, state="playing"),
        ev("error", 8, T0 + 40_000, session_id, message="Segment 404", fatal=False),
        ev("ad_break_start", 9, T0 + 50_000, session_id, position="mid"),
        ev("ad_break_end", 10, T0 + 60_000, session_id),
        ev("end", 11, T0 + 90_000, session_id),
    ]  # fmt: skip


def expected(session_id: str = "7") -> dict[str, Any]:
    """Worked out by hand from ``a_session``."""

    def span(a: int, b: int, **value: Any) -> dict[str, Any]:
        return {"start_ms": T0 + a, "end_ms": T0 + b, **value}

    return {
        "conviva_session_id": f"1.2.3.4.{session_id}",
        "start_ms": T0,
        "end_ms": T0 + 90_000,
        "truncated_at_ms": None,
        "states": [
            span(0, 1000, state="starting"),
            span(1000, 2000, state="buffering"),
            span(2000, 30_000, state="playing"),
            span(30_000, 31_000, state="buffering"),
            span(31_000, 50_000, state="playing"),
            span(50_000, 60_000, state="not_monitored"),
            span(60_000, 90_000, state="playing"),
        ],
        "bitrates": [span(1500, 90_000, bitrate_bps=2_000_000)],
        "cdns": [span(0, 90_000, cdn="AKAMAI")],
        "seeks": [span(30_000, 31_000, closed=True)],
        "ad_breaks": [span(50_000, 60_000, position="mid", closed=True)],
        "errors": [{"at_ms": T0 + 40_000, "is_fatal": False, "message": "Segment 404"}],
    }


def wait_for(client: httpx.Client, url: str, creds: Credentials) -> httpx.Response:
    """The first answer that is not a 404 (the session ends within a round, then reaches the store)."""
    deadline = time.monotonic() + 5
    while True:
        response = client.get(url, auth=creds.auth)
        if response.status_code != 404 or time.monotonic() > deadline:
            return response
        time.sleep(0.05)


def assert_not_found(response: httpx.Response, says: str) -> None:
    assert response.status_code == 404, response.text
    body = response.json()
    assert body["code"] == "not_found"
    assert says in body["message"], body


@pytest.mark.all_backends
def test_the_timeline_is_served_once_the_session_ends_and_only_to_its_account(
    client: httpx.Client, store: Store, acme: Credentials
) -> None:
    assert client.post(INGEST, json=batch(acme, a_session())).status_code == 202
    response = wait_for(client, content_url("1.2.3.4.7"), acme)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == expected()

    other = add_account(store, "other", ad_insights=True)
    assert_not_found(client.get(content_url("1.2.3.4.7"), auth=other.auth), "no ended content session")
    assert_not_found(client.get(content_url("1.2.3.4.8"), auth=acme.auth), "no ended content session")
    assert_not_found(client.get(content_url("not-a-session"), auth=acme.auth), "no ended content session")
    assert_not_found(client.get(ad_url("1.2.3.4.7"), auth=other.auth), "no ended ad session")  # not an ad session
    assert client.get(ad_url("1.2.3.4.7"), auth=acme.auth).status_code == 403  # acme has no ad insights
    unknown = client.get(content_url("1.2.3.4.7"), params={"limit": "5"}, auth=acme.auth)
    assert (unknown.status_code, unknown.json()["code"], unknown.json()["parameter"]) == (
        400,
        "unknown_parameter",
        "limit",
    )
    assert client.get(content_url("1.2.3.4.7")).status_code == 401
    assert client.post(content_url("1.2.3.4.7"), auth=acme.auth).status_code == 405


@pytest.mark.all_backends
def test_an_ad_session_has_its_timeline_under_the_ad_path(client: httpx.Client, store: Store) -> None:
    ads = add_account(store, "ads", ad_insights=True)
    events = [
        ev("start", 0, T0, "7"),
        ev("ad_break_start", 1, T0, "7", position="pre"),
        ev("ad_start", 0, T0 + 100, "8", content_session_id="7", ad={"ad_id": "a1", "position": "pre"}),
        ev("state", 1, T0 + 600, "8", state="playing"),
        ev("ad_end", 2, T0 + 15_100, "8"),
    ]
    assert client.post(INGEST, json=batch(ads, events)).status_code == 202
    response = wait_for(client, ad_url("1.2.3.4.8"), ads)
    assert response.status_code == 200, response.text
    timeline = response.json()
    assert timeline["states"] == [
        {"start_ms": T0 + 100, "end_ms": T0 + 600, "state": "starting"},
        {"start_ms": T0 + 600, "end_ms": T0 + 15_100, "state": "playing"},
    ]
    assert_not_found(client.get(content_url("1.2.3.4.8"), auth=ads.auth), "no ended content session")


@pytest.mark.all_backends
def test_a_rewrite_removes_the_timeline_and_the_retention_purge_removes_it_with_the_session(
    client: httpx.Client, store: Store, acme: Credentials
) -> None:
    assert client.post(INGEST, json=batch(acme, a_session("7") + a_session("9"))).status_code == 202
    for session_id in ("7", "9"):
        assert wait_for(client, content_url(f"1.2.3.4.{session_id}"), acme).json() == expected(session_id)
    # re-importing a session (``reelsight import``: a document, no timeline) replaces it, timeline included
    (served,) = client.get(PATH, params={"session_id": "7"}, auth=acme.auth).json()["sessions"]
    store.write_sessions(acme.account.id, [to_record(decode_document(json.dumps(served)))])
    assert_not_found(client.get(content_url("1.2.3.4.7"), auth=acme.auth), "has no timeline")
    assert client.get(content_url("1.2.3.4.9"), auth=acme.auth).status_code == 200

    assert store.purge_ended_before(NOW_MS) == 2
    for session_id in ("7", "9"):
        assert_not_found(client.get(content_url(f"1.2.3.4.{session_id}"), auth=acme.auth), "no ended content session")
    if isinstance(store, SqliteStore):  # nothing left behind in the file
        with sqlite3.connect(store.path) as conn:
            assert conn.execute("SELECT count(*) FROM session_docs").fetchone() == (0,)


@pytest.mark.all_backends
def test_an_imported_session_has_no_timeline(client: httpx.Client, store: Store, acme: Credentials) -> None:
    doc = make_doc(session_id="5", end_ms=NOW_MS - 60_000)
    store.write_sessions(acme.account.id, [to_record(doc)])
    assert_not_found(client.get(content_url(doc.conviva_session_id), auth=acme.auth), "has no timeline")


def test_a_file_from_before_timelines_opens_and_keeps_new_ones(db_path: str) -> None:
    """Its sessions have no timeline (NULL); sessions written after the migration keep theirs, and the
    outbox carries them."""
    migration = next(
        n for n, m in enumerate(MIGRATIONS, start=1) if "ALTER TABLE session_docs ADD COLUMN timeline BLOB" in m
    )
    old = _full_record()
    _file_at_version(db_path, migration - 1, old)
    store = SqliteStore(db_path, readers=1)
    try:
        account = store.get_account("acme")
        stored = store.session_timeline(account.id, "content", old.conviva_session_id)
        assert stored is not None
        assert (stored.doc, stored.timeline) == (old.doc, None)
        newer = _full_record(session_id="2", end_ms=NOW_MS - 30_000)
        store.write_sessions(account.id, [to_record(decode_document(newer.doc), b"timeline bytes")])
        stored = store.session_timeline(account.id, "content", newer.conviva_session_id)
        assert stored is not None
        assert stored.timeline == b"timeline bytes"
        assert store.session_timeline(account.id, "ad", newer.conviva_session_id) is None
        with sqlite3.connect(db_path) as conn:
            assert "timeline" in [row[1] for row in conn.execute("PRAGMA table_info(outbox)")]
    finally:
        store.close()
