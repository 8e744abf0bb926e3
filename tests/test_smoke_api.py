from __future__ import annotations

import httpx

from reelsight.store.records import to_record
from reelsight.store.sqlite import SqliteStore
from tests.conftest import NOW_MS, PATH, Credentials
from tests.factories import make_doc


def test_serves_an_imported_session(store: SqliteStore, client: httpx.Client, acme: Credentials) -> None:
    store.write_sessions(acme.account.id, [to_record(make_doc(end_ms=NOW_MS - 1000))])
    r = client.get(PATH, auth=acme.auth)
    assert r.status_code == 200, r.text
    sessions = r.json()["sessions"]
    assert [s["conviva_session_id"] for s in sessions] == ["1.2.3.4.1"]
    assert "viewer_id" not in sessions[0]
