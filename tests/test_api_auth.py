"""Authentication, permissions and account isolation, over HTTP."""

from __future__ import annotations

import base64
import sqlite3

import httpx
import pytest

from reelsight.store.base import Store
from reelsight.store.records import to_record
from tests.conftest import NOW_MS, PATH, Credentials, add_account
from tests.factories import make_doc

UNAUTHORIZED = {"message": "Unauthorized"}


def _assert_401(r: httpx.Response) -> None:
    assert r.status_code == 401
    assert r.json() == UNAUTHORIZED
    assert r.headers["www-authenticate"] == 'Basic realm="insights"'


def test_missing_credentials_are_401(client: httpx.Client, acme: Credentials) -> None:
    _assert_401(client.get(PATH))


@pytest.mark.parametrize(
    "header",
    [
        "Bearer abc",
        "Basic",
        "Basic !!!notbase64!!!",
        "Basic " + base64.b64encode(b"no-colon-here").decode(),
        "Basic " + base64.b64encode(b":secret-only").decode(),
        "Basic " + base64.b64encode(b"key-only:").decode(),
        "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode(),
        "Basic " + "A" * 5000,
    ],
)
def test_malformed_credentials_are_401(client: httpx.Client, acme: Credentials, header: str) -> None:
    _assert_401(client.get(PATH, headers={"Authorization": header}))


def test_unknown_key_is_401(client: httpx.Client, acme: Credentials) -> None:
    _assert_401(client.get(PATH, auth=("rk_unknown", acme.secret)))


def test_wrong_secret_is_401(client: httpx.Client, acme: Credentials) -> None:
    _assert_401(client.get(PATH, auth=(acme.key_id, acme.secret + "x")))


def test_wrong_secret_after_a_right_one_is_still_401(client: httpx.Client, acme: Credentials) -> None:
    assert client.get(PATH, auth=acme.auth).status_code == 200  # the verified secret is now cached
    _assert_401(client.get(PATH, auth=(acme.key_id, acme.secret[:-1])))


@pytest.mark.all_backends
def test_disabled_key_is_401_at_once(client: httpx.Client, store: Store, acme: Credentials) -> None:
    assert client.get(PATH, auth=acme.auth).status_code == 200
    store.disable_api_key(acme.key_id)
    _assert_401(client.get(PATH, auth=acme.auth))


def test_secrets_are_stored_only_as_salted_hashes(db_path: str, store: Store, acme: Credentials) -> None:
    second = add_account(store, "second")
    with sqlite3.connect(db_path) as conn:
        hashes = [row[0] for row in conn.execute("SELECT secret_hash FROM api_keys ORDER BY created_ms")]
        dump = "\n".join(conn.iterdump())
    assert acme.secret not in dump
    assert second.secret not in dump
    assert all(h.startswith("scrypt$") for h in hashes)
    assert len(set(hashes)) == 2


@pytest.mark.all_backends
def test_viewer_id_absent_without_viewer_module(client: httpx.Client, store: Store, acme: Credentials) -> None:
    store.write_sessions(acme.account.id, [to_record(make_doc(end_ms=NOW_MS - 1000, viewer_id="v-secret"))])
    r = client.get(PATH, auth=acme.auth)
    (session,) = r.json()["sessions"]
    assert "viewer_id" not in session
    assert b"v-secret" not in r.content


@pytest.mark.all_backends
def test_viewer_id_present_under_viewer_module(client: httpx.Client, store: Store) -> None:
    media = add_account(store, "media", viewer_module=True)
    store.write_sessions(media.account.id, [to_record(make_doc(end_ms=NOW_MS - 1000, viewer_id="v-7"))])
    (session,) = client.get(PATH, auth=media.auth).json()["sessions"]
    assert session["viewer_id"] == "v-7"
    assert list(session)[:4] == ["conviva_session_id", "client_id", "session_id", "viewer_id"]


@pytest.mark.all_backends
def test_no_account_sees_another_accounts_sessions(client: httpx.Client, store: Store, acme: Credentials) -> None:
    other = add_account(store, "other", viewer_module=True)
    store.write_sessions(acme.account.id, [to_record(make_doc("1.1.1.1", "10", end_ms=NOW_MS - 5000))])
    store.write_sessions(other.account.id, [to_record(make_doc("2.2.2.2", "20", end_ms=NOW_MS - 5000))])
    for creds, mine, theirs in ((acme, "1.1.1.1.10", ("2.2.2.2", "20")), (other, "2.2.2.2.20", ("1.1.1.1", "10"))):
        ids = [s["conviva_session_id"] for s in client.get(PATH, auth=creds.auth).json()["sessions"]]
        assert ids == [mine]
        by_theirs = client.get(PATH, auth=creds.auth, params={"client_id": theirs[0], "session_id": theirs[1]})
        assert by_theirs.json() == {"sessions": []}
