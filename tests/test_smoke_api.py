from __future__ import annotations

import httpx
import pytest

from reelsight.store.base import Store
from reelsight.store.records import to_record
from tests.conftest import NOW_MS, PATH, Credentials
from tests.factories import make_doc

pytestmark = pytest.mark.all_backends  # the sessions contract, on SQLite and on ClickHouse (chDB)


def test_serves_an_imported_session(store: Store, client: httpx.Client, acme: Credentials) -> None:
    store.write_sessions(acme.account.id, [to_record(make_doc(end_ms=NOW_MS - 1000))])
    r = client.get(PATH, auth=acme.auth)
    assert r.status_code == 200, r.text
    sessions = r.json()["sessions"]
    assert [s["conviva_session_id"] for s in sessions] == ["1.2.3.4.1"]
    assert "viewer_id" not in sessions[0]
