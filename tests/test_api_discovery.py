"""Discovery (GET /insights/3.0/sessions) and the dimensions reference, over HTTP on both stores:
entitled entries only, links that answer, filters derived from the tables, the account's own tag keys of
the retention window, and one read guard (authentication and limits) shared with the content endpoint."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from reelsight.clock import FakeClock
from reelsight.query.dimensions import DIMENSIONS
from reelsight.query.parse import FLAG_PARAMS, ID_PARAMS
from reelsight.query.selection import Selection
from reelsight.settings import Settings
from reelsight.store.base import Account, Store, StoredSession
from reelsight.store.records import to_record
from reelsight.store.sqlite import SqliteStore
from reelsight.web import discovery_route
from reelsight.web.discovery_route import DIMENSIONS_PATH, discovery
from reelsight.web.sessions_route import AD_PATH
from reelsight.web.viewer_route import PATH as VIEWER_PATH
from tests.conftest import NOW_MS, PATH, Credentials, LiveServer, add_account
from tests.factories import make_doc

DISCOVERY = discovery_route.PATH
DAY = 86_400_000
UNAUTHORIZED = b'{"message":"Unauthorized"}'


def _served(server: LiveServer) -> set[str]:
    return {getattr(route, "path", "") for route in server.app.routes}


def _entry(name: str, url: str) -> dict[str, Any]:
    return {"resource_name": name, "endpoints": [{"methods": ["GET"], "path": url}]}


def _tag_names(body: dict[str, Any]) -> list[str]:
    return [d["name"] for d in body["dimensions"] if d["kind"] == "custom_tag"]


def _write(store: Store, creds: Credentials, session_id: str, end_ms: int, tags: dict[str, str]) -> None:
    store.write_sessions(
        creds.account.id, [to_record(make_doc(session_id=session_id, end_ms=end_ms, custom_tags=tags))]
    )


# -- discovery --------------------------------------------------------------------------------


PERMISSIONS = [(False, False), (True, False), (False, True), (True, True)]  # (viewer_module, ad_insights)


@pytest.mark.all_backends
@pytest.mark.parametrize(("viewer_module", "ad_insights"), PERMISSIONS)
def test_discovery_lists_the_entitled_endpoints_of_this_server(
    client: httpx.Client, server: LiveServer, store: Store, viewer_module: bool, ad_insights: bool
) -> None:
    creds = add_account(store, "media", viewer_module=viewer_module, ad_insights=ad_insights)
    r = client.get(DISCOVERY, auth=creds.auth)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    resources = [_entry("publisher content sessions", server.url + PATH)]
    if ad_insights:
        resources.append(_entry("publisher ad sessions", server.url + AD_PATH))
    if viewer_module:
        resources.append(_entry("viewer content sessions (viewer module)", server.url + VIEWER_PATH))
    assert r.json() == {"resources": resources, "references": [_entry("dimensions", server.url + DIMENSIONS_PATH)]}


@pytest.mark.all_backends
@pytest.mark.parametrize(("viewer_module", "ad_insights"), PERMISSIONS)
def test_every_link_of_discovery_answers_for_the_account_and_no_other_does(
    client: httpx.Client, store: Store, viewer_module: bool, ad_insights: bool
) -> None:
    """A client that starts from discovery reaches everything it lists (no 404, no 403); the session
    endpoints it does not list answer 403 forbidden."""
    creds = add_account(store, "media", viewer_module=viewer_module, ad_insights=ad_insights)
    body = client.get(DISCOVERY, auth=creds.auth).json()
    links = [e["path"] for group in ("resources", "references") for r in body[group] for e in r["endpoints"]]
    assert len(links) == 2 + viewer_module + ad_insights
    for link in links:
        params = {"viewer_id": "anyone"} if link.endswith(VIEWER_PATH) else {}
        assert client.get(link, params=params, auth=creds.auth).status_code == 200, link
    for path, granted in ((AD_PATH, ad_insights), (VIEWER_PATH, viewer_module)):
        if not granted:
            r = client.get(path, params={"viewer_id": "anyone"} if path == VIEWER_PATH else {}, auth=creds.auth)
            assert r.status_code == 403, path
            assert r.json()["code"] == "forbidden"


def _account(viewer_module: bool, ad_insights: bool = False) -> Account:
    return Account(1, "a", viewer_module, (), "ik", 0, ad_insights=ad_insights)


def test_an_endpoint_is_listed_only_when_entitled_and_only_when_served() -> None:
    served = {PATH, AD_PATH, DIMENSIONS_PATH, VIEWER_PATH}
    names = [r.resource_name for r in discovery(_account(True, True), "https://h", served).resources]
    assert names == ["publisher content sessions", "publisher ad sessions", "viewer content sessions (viewer module)"]
    assert [r.resource_name for r in discovery(_account(False), "https://h", served).resources] == [
        "publisher content sessions"
    ]
    assert [
        r.resource_name for r in discovery(_account(True, True), "https://h", served - {VIEWER_PATH, AD_PATH}).resources
    ] == ["publisher content sessions"]


@pytest.mark.all_backends
def test_public_url_sets_the_links(settings: Settings, store: Store, clock: FakeClock) -> None:
    creds = add_account(store, "acme")
    public = settings.replace(public_url="https://qoe.example.com/analytics/")
    with LiveServer(public, store, clock) as live, httpx.Client(base_url=live.url) as c:
        body = c.get(DISCOVERY, auth=creds.auth).json()
    assert body["resources"][0]["endpoints"][0]["path"] == "https://qoe.example.com/analytics" + PATH
    assert body["references"][0]["endpoints"][0]["path"] == "https://qoe.example.com/analytics" + DIMENSIONS_PATH


def test_links_follow_the_host_the_client_used(client: httpx.Client, server: LiveServer, acme: Credentials) -> None:
    body = client.get(DISCOVERY, auth=acme.auth, headers={"Host": "qoe.internal:9000"}).json()
    assert body["resources"][0]["endpoints"][0]["path"] == "http://qoe.internal:9000" + PATH


# -- the dimensions reference -------------------------------------------------------------------


@pytest.mark.all_backends
def test_the_dimensions_list_is_every_filter_of_the_tables(client: httpx.Client, acme: Credentials) -> None:
    r = client.get(DIMENSIONS_PATH, auth=acme.auth)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body == {"dimensions": body["dimensions"], "custom_tags_truncated": False}
    by_name = {d["name"]: d for d in body["dimensions"]}
    assert [d["name"] for d in body["dimensions"]] == [
        *(d.param for d in DIMENSIONS),
        *FLAG_PARAMS,
        *ID_PARAMS,
    ]  # no tags: the account has no sessions
    for dim in DIMENSIONS:
        assert by_name[dim.param] == {
            "name": dim.param,
            "kind": "dimension",
            "field": dim.field,
            "match": "any_element" if dim.multi else "exact",
            "description": dim.description,
        }
    assert by_name["cdn"]["field"] == "network_info.cdn"
    assert by_name["cdn"]["match"] == "any_element"
    assert by_name["device_os"]["field"] == "device_info.os"
    for flag in FLAG_PARAMS:
        assert (by_name[flag]["kind"], by_name[flag]["field"], by_name[flag]["match"]) == (
            "flag",
            f"status_info.{flag}",
            "boolean",
        )
    assert (by_name["client_id"]["kind"], by_name["client_id"]["field"]) == ("id", "client_id")
    assert all(d["description"] for d in body["dimensions"])


@pytest.mark.all_backends
def test_every_listed_filter_is_accepted_by_the_content_endpoint(
    client: httpx.Client, store: Store, acme: Credentials
) -> None:
    _write(store, acme, "1", NOW_MS - 60_000, {"genre": "drama", "tier": ""})
    for entry in client.get(DIMENSIONS_PATH, auth=acme.auth).json()["dimensions"]:
        value = "true" if entry["match"] == "boolean" else "x"
        r = client.get(PATH, auth=acme.auth, params={entry["name"]: value})
        assert r.status_code == 200, (entry["name"], r.text)


@pytest.mark.all_backends
def test_tag_keys_are_the_accounts_own_within_the_retention_window(
    client: httpx.Client, store: Store, acme: Credentials
) -> None:
    other = add_account(store, "other")
    _write(store, acme, "1", NOW_MS - 60_000, {"genre": "drama", "tier": ""})
    _write(store, acme, "2", NOW_MS - 30 * DAY, {"Mixed Case": "1", "genre": "news"})
    _write(store, acme, "3", NOW_MS - 32 * DAY, {"ancient": "1"})  # outside retention_days (31)
    _write(store, other, "1", NOW_MS - 60_000, {"their_secret": "1"})
    mine = client.get(DIMENSIONS_PATH, auth=acme.auth).json()
    assert _tag_names(mine) == ["tag_Mixed Case", "tag_genre", "tag_tier"]
    genre = next(d for d in mine["dimensions"] if d["name"] == "tag_genre")
    assert genre == {
        "name": "tag_genre",
        "kind": "custom_tag",
        "field": "tags.custom_tags.genre",
        "match": "exact",
        "description": 'Exact match on custom tag genre; a session without the tag has the value "".',
    }
    assert _tag_names(client.get(DIMENSIONS_PATH, auth=other.auth).json()) == ["tag_their_secret"]
    # a listed tag filters the content endpoint
    found = client.get(PATH, auth=acme.auth, params={"tag_genre": "drama"}).json()["sessions"]
    assert [s["session_id"] for s in found] == ["1"]


def test_more_tag_keys_than_listed_are_flagged(
    client: httpx.Client, store: Store, acme: Credentials, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(discovery_route, "MAX_TAG_KEYS", 2)
    _write(store, acme, "1", NOW_MS - 60_000, {"a": "1", "b": "1"})
    body = client.get(DIMENSIONS_PATH, auth=acme.auth).json()
    assert (_tag_names(body), body["custom_tags_truncated"]) == (["tag_a", "tag_b"], False)
    _write(store, acme, "2", NOW_MS - 60_000, {"c": "1"})
    body = client.get(DIMENSIONS_PATH, auth=acme.auth).json()
    assert (_tag_names(body), body["custom_tags_truncated"]) == (["tag_a", "tag_b"], True)


# -- errors and the shared read guard ------------------------------------------------------------


@pytest.mark.all_backends
@pytest.mark.parametrize("path", [DISCOVERY, DIMENSIONS_PATH])
def test_parameters_are_refused(client: httpx.Client, acme: Credentials, path: str) -> None:
    r = client.get(path, auth=acme.auth, params={"limit": "5"})
    assert r.status_code == 400
    assert r.json() == {"message": "unknown parameter 'limit'", "code": "unknown_parameter", "parameter": "limit"}


@pytest.mark.all_backends
@pytest.mark.parametrize("path", [DISCOVERY, DIMENSIONS_PATH, AD_PATH, VIEWER_PATH])
def test_bad_credentials_are_the_same_401(client: httpx.Client, acme: Credentials, path: str) -> None:
    for auth in (None, ("rk_unknown", "x"), (acme.key_id, acme.secret + "x")):
        r = client.get(path, auth=auth)
        assert (r.status_code, r.content) == (401, UNAUTHORIZED)
        assert r.headers["www-authenticate"] == 'Basic realm="insights"'
    assert client.post(path, auth=acme.auth).status_code == 405


@pytest.mark.all_backends
def test_one_ip_budget_for_every_read_endpoint(settings: Settings, store: Store, clock: FakeClock) -> None:
    """Requests to any read endpoint, refused credentials included, draw on the same per-IP budget."""
    creds = add_account(store, "busy", viewer_module=True, ad_insights=True)
    limited = settings.replace(rate_limit_ip_requests=6, rate_limit_ip_window_s=300)
    with LiveServer(limited, store, clock) as live, httpx.Client(base_url=live.url) as c:
        assert c.get(DISCOVERY, auth=creds.auth).status_code == 200
        assert c.get(DIMENSIONS_PATH, auth=("rk_unknown", "x")).status_code == 401
        assert c.get(DIMENSIONS_PATH, auth=creds.auth).status_code == 200
        assert c.get(PATH, auth=creds.auth).status_code == 200
        assert c.get(AD_PATH, auth=creds.auth).status_code == 200
        assert c.get(VIEWER_PATH, params={"viewer_id": "v"}, auth=creds.auth).status_code == 200
        for path in (PATH, DISCOVERY, DIMENSIONS_PATH, AD_PATH, VIEWER_PATH):
            r = c.get(path, auth=creds.auth)
            assert r.status_code == 429, path
            assert r.json()["code"] == "rate_limited"
            assert r.headers["retry-after"] == "300"
        clock.advance(300)
        assert c.get(DIMENSIONS_PATH, auth=creds.auth).status_code == 200


class _GatedStore(SqliteStore):
    """The real store, whose samples wait until the test opens the gate."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gate, self.entered = threading.Event(), threading.Event()

    def sample_sessions(self, account_id: int, query: Selection) -> list[StoredSession]:
        self.entered.set()
        self.gate.wait(10)
        return super().sample_sessions(account_id, query)


@pytest.fixture
def gated_store(db_path: str) -> Iterator[_GatedStore]:
    s = _GatedStore(db_path, readers=2)
    yield s
    s.gate.set()
    s.close()


def test_one_in_flight_budget_per_account_for_every_read_endpoint(
    settings: Settings, gated_store: _GatedStore, clock: FakeClock
) -> None:
    creds = add_account(gated_store, "parallel", viewer_module=True, ad_insights=True)
    limited = settings.replace(rate_limit_account_in_flight=1)
    with LiveServer(limited, gated_store, clock) as live, httpx.Client(base_url=live.url, timeout=20) as c:
        first: dict[str, int] = {}
        t = threading.Thread(target=lambda: first.update(status=c.get(PATH, auth=creds.auth).status_code))
        t.start()
        assert gated_store.entered.wait(10)
        for path in (DISCOVERY, DIMENSIONS_PATH, AD_PATH, VIEWER_PATH):
            r = c.get(path, params={"viewer_id": "v"} if path == VIEWER_PATH else {}, auth=creds.auth)
            assert (r.status_code, r.headers["retry-after"]) == (429, "1"), path
        gated_store.gate.set()
        t.join(10)
        assert first["status"] == 200
        assert c.get(DIMENSIONS_PATH, auth=creds.auth).status_code == 200
