"""The viewer endpoint (GET /insights/3.0/sessions/content/viewer) and the ad sessions endpoint
(GET /insights/3.0/sessions/ad), over HTTP against a real server, on both stores: permissions,
parameters, windows, ordering, isolation between accounts, and ad sessions kept apart from content."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx
import pytest

from reelsight.store.base import Store
from reelsight.store.records import SessionRecord, to_record
from reelsight.web.sessions_route import AD_PATH
from reelsight.web.viewer_route import PATH as VIEWER_PATH
from tests.conftest import NOW_MS, PATH, Credentials, add_account
from tests.factories import make_doc

DAY = 86_400_000
HOUR = 3_600_000


def _content(sid: str, ago_ms: int, viewer: str | None = "alice", ip: str = "203.0.113.7", **kw: Any) -> SessionRecord:
    paths = {"network_info.ip": ip, **kw.pop("set_paths", {})}
    return to_record(
        make_doc(client_id="7.7.7.7", session_id=sid, end_ms=NOW_MS - ago_ms, viewer_id=viewer, set_paths=paths, **kw)
    )


def _ad(sid: str, content_sid: str, ago_ms: int, position: str = "Preroll", viewer: str = "alice") -> SessionRecord:
    paths = {
        "tags.selected_dimensions.content_session_id": content_sid,
        "tags.selected_dimensions.ad_id": f"ad-{sid}",
        "tags.selected_dimensions.ad_position": position,
        "tags.selected_dimensions.ad_system": "GDFP",
    }
    return _content(sid, ago_ms, viewer=viewer, set_paths=paths)


def _ids(r: httpx.Response) -> list[str]:
    assert r.status_code == 200, r.text
    return [s["conviva_session_id"] for s in r.json()["sessions"]]


@pytest.fixture
def viewers(store: Store) -> Credentials:
    """An account with the viewer module; alice has four content sessions over 40 days and an ad."""
    creds = add_account(store, "viewers", viewer_module=True)
    store.write_sessions(
        creds.account.id,
        [
            _content("1", HOUR),
            _content("2", 2 * DAY, ip="198.51.100.4"),
            _content("3", 10 * DAY),
            _content("4", 35 * DAY),  # beyond 31 days
            _content("5", 3 * HOUR, viewer="bob"),
            _ad("6", "1", HOUR + 60_000),
        ],
    )
    return creds


# -- the viewer endpoint --------------------------------------------------------------------------


@pytest.mark.all_backends
def test_a_viewers_sessions_newest_first_by_viewer_id_or_address(client: httpx.Client, viewers: Credentials) -> None:
    assert _ids(client.get(VIEWER_PATH, params={"viewer_id": "alice"}, auth=viewers.auth)) == [
        "7.7.7.7.1",
        "7.7.7.7.2",
        "7.7.7.7.3",
    ]  # the last 31 days by default; content sessions only (the ad is not listed)
    assert _ids(client.get(VIEWER_PATH, params={"ip": "203.0.113.7"}, auth=viewers.auth)) == [
        "7.7.7.7.1",
        "7.7.7.7.5",
        "7.7.7.7.3",
    ]
    assert _ids(client.get(VIEWER_PATH, params={"viewer_id": "alice", "days": "5"}, auth=viewers.auth)) == [
        "7.7.7.7.1",
        "7.7.7.7.2",
    ]
    assert _ids(client.get(VIEWER_PATH, params={"viewer_id": "alice", "limit": "1"}, auth=viewers.auth)) == [
        "7.7.7.7.1"
    ]
    window = {"viewer_id": "alice", "start_epoch_ms": str(NOW_MS - 12 * DAY), "end_epoch_ms": str(NOW_MS - DAY)}
    assert _ids(client.get(VIEWER_PATH, params=window, auth=viewers.auth)) == ["7.7.7.7.2", "7.7.7.7.3"]
    body = client.get(VIEWER_PATH, params={"viewer_id": "alice", "limit": "1"}, auth=viewers.auth).json()
    assert body["sessions"][0]["viewer_id"] == "alice"  # the viewer module shows viewer_id
    assert list(body["sessions"][0])[:4] == ["conviva_session_id", "client_id", "session_id", "viewer_id"]
    assert _ids(client.get(VIEWER_PATH, params={"viewer_id": "nobody"}, auth=viewers.auth)) == []


@pytest.mark.all_backends
def test_the_viewer_endpoint_is_only_for_the_viewer_module(client: httpx.Client, store: Store) -> None:
    plain = add_account(store, "plain")
    store.write_sessions(plain.account.id, [_content("1", HOUR)])
    r = client.get(VIEWER_PATH, params={"viewer_id": "alice"}, auth=plain.auth)
    assert r.status_code == 403
    assert r.json() == {
        "message": "this account may not look up viewers: it has no viewer module",
        "code": "forbidden",
    }
    assert client.get(VIEWER_PATH, params={"viewer_id": "alice"}).status_code == 401


@pytest.mark.all_backends
def test_another_accounts_viewer_is_never_found(client: httpx.Client, store: Store, viewers: Credentials) -> None:
    other = add_account(store, "other", viewer_module=True)
    for params in ({"viewer_id": "alice"}, {"ip": "203.0.113.7"}, {"viewer_id": "bob", "days": "31"}):
        assert _ids(client.get(VIEWER_PATH, params=params, auth=other.auth)) == []
    store.write_sessions(other.account.id, [_content("9", HOUR)])
    assert _ids(client.get(VIEWER_PATH, params={"viewer_id": "alice"}, auth=other.auth)) == ["7.7.7.7.9"]
    assert "7.7.7.7.9" not in _ids(client.get(VIEWER_PATH, params={"viewer_id": "alice"}, auth=viewers.auth))


BAD_VIEWER_QUERIES = [
    ({}, 400, "invalid_parameter", "viewer_id"),
    ({"viewer_id": ""}, 400, "invalid_parameter", "viewer_id"),
    ({"viewer_id": "a", "ip": "203.0.113.7"}, 400, "conflicting_parameters", "ip"),
    ({"viewer_id": "a", "viewer_id ": "b"}, 400, "unknown_parameter", "viewer_id "),
    ({"ip": "not-an-address"}, 400, "invalid_parameter", "ip"),
    ({"viewer_id": "a", "days": "0"}, 400, "invalid_parameter", "days"),
    ({"viewer_id": "a", "days": "32"}, 400, "invalid_parameter", "days"),
    ({"viewer_id": "a", "days": "1.5"}, 400, "invalid_parameter", "days"),
    ({"viewer_id": "a", "days": "3", "start_epoch_ms": str(NOW_MS - DAY)}, 400, "conflicting_parameters", "days"),
    ({"viewer_id": "a", "device_os": "iOS"}, 400, "unknown_parameter", "device_os"),
    ({"viewer_id": "a", "tag_tier": "gold"}, 400, "unknown_parameter", "tag_tier"),
    ({"viewer_id": "a", "is_video_start_failure": "true"}, 400, "unknown_parameter", "is_video_start_failure"),
    ({"viewer_id": "a", "limit": "1501"}, 400, "invalid_parameter", "limit"),
    ({"viewer_id": "a", "start_epoch_ms": str(NOW_MS - 32 * DAY)}, 422, "time_range_out_of_bounds", None),
    (
        {"viewer_id": "a", "start_epoch_ms": str(NOW_MS - 2 * DAY), "end_epoch_ms": str(NOW_MS - 3 * DAY)},
        422,
        "time_range_out_of_bounds",
        None,
    ),
]


@pytest.mark.parametrize(("params", "status", "code", "parameter"), BAD_VIEWER_QUERIES)
def test_bad_viewer_queries_are_refused_in_the_envelope(
    client: httpx.Client, viewers: Credentials, params: dict[str, str], status: int, code: str, parameter: str | None
) -> None:
    r = client.get(VIEWER_PATH, params=params, auth=viewers.auth)
    assert r.status_code == status, r.text
    body = r.json()
    assert body["code"] == code
    assert body.get("parameter") == parameter


def test_the_viewer_window_may_be_31_days_long(client: httpx.Client, viewers: Credentials) -> None:
    params = {"viewer_id": "alice", "start_epoch_ms": str(NOW_MS - 31 * DAY), "end_epoch_ms": str(NOW_MS)}
    assert len(_ids(client.get(VIEWER_PATH, params=params, auth=viewers.auth))) == 3
    params["start_epoch_ms"] = str(NOW_MS - 31 * DAY - 1)
    assert client.get(VIEWER_PATH, params=params, auth=viewers.auth).status_code == 422


def test_an_ipv6_address_is_found_in_any_spelling(client: httpx.Client, store: Store, viewers: Credentials) -> None:
    store.write_sessions(
        viewers.account.id, [_content("8", HOUR // 2, set_paths={"network_info.ipv6": "2001:db8:0:0::1"})]
    )
    for spelling in ("2001:db8::1", "2001:0DB8:0000:0000:0000:0000:0000:0001"):
        assert _ids(client.get(VIEWER_PATH, params={"ip": spelling}, auth=viewers.auth)) == ["7.7.7.7.8"]


# -- the ad sessions endpoint ---------------------------------------------------------------------


@pytest.fixture
def advertiser(store: Store) -> Credentials:
    creds = add_account(store, "ads", ad_insights=True)
    store.write_sessions(
        creds.account.id,
        [
            _content("1", HOUR),
            _ad("11", "1", HOUR + 90_000),
            _ad("12", "1", HOUR + 60_000),
            _ad("13", "1", HOUR // 2, position="Midroll"),
            _ad("14", "1", 4 * HOUR),  # outside the default 3 hours
        ],
    )
    return creds


@pytest.mark.all_backends
def test_ad_sessions_are_sampled_apart_from_content(client: httpx.Client, advertiser: Credentials) -> None:
    assert _ids(client.get(AD_PATH, auth=advertiser.auth)) == ["7.7.7.7.13", "7.7.7.7.12", "7.7.7.7.11"]
    assert _ids(client.get(PATH, auth=advertiser.auth)) == ["7.7.7.7.1"]  # content never lists an ad
    assert _ids(client.get(AD_PATH, params={"ad_position": "Midroll"}, auth=advertiser.auth)) == ["7.7.7.7.13"]
    sample = _ids(client.get(AD_PATH, params={"content_session_id": "1", "limit": "2"}, auth=advertiser.auth))
    assert len(sample) == 2  # a sample (smallest sample keys), newest first, as for content
    assert set(sample) < {"7.7.7.7.11", "7.7.7.7.12", "7.7.7.7.13"}
    assert _ids(client.get(AD_PATH, params={"session_id": "11"}, auth=advertiser.auth)) == ["7.7.7.7.11"]
    older = {"start_epoch_ms": str(NOW_MS - 5 * HOUR), "end_epoch_ms": str(NOW_MS - 3 * HOUR)}
    assert _ids(client.get(AD_PATH, params=older, auth=advertiser.auth)) == ["7.7.7.7.14"]
    body = client.get(AD_PATH, params={"limit": "1"}, auth=advertiser.auth).json()
    (ad,) = body["sessions"]
    assert ad["tags"]["selected_dimensions"]["content_session_id"] == "1"
    assert ad["tags"]["selected_dimensions"]["ad_system"] == "GDFP"
    assert "viewer_id" not in ad  # only with the viewer module


@pytest.mark.all_backends
def test_ad_sessions_need_the_ad_insights_permission(client: httpx.Client, store: Store) -> None:
    plain = add_account(store, "plain", viewer_module=True)
    store.write_sessions(plain.account.id, [_ad("1", "0", HOUR)])
    r = client.get(AD_PATH, auth=plain.auth)
    assert r.status_code == 403
    assert r.json() == {
        "message": "this account may not read ad sessions: it has no ad insights permission",
        "code": "forbidden",
    }
    assert client.get(AD_PATH).status_code == 401


@pytest.mark.all_backends
def test_another_accounts_ad_sessions_are_never_seen(
    client: httpx.Client, store: Store, advertiser: Credentials
) -> None:
    other = add_account(store, "other", ad_insights=True, viewer_module=True)
    assert _ids(client.get(AD_PATH, auth=other.auth)) == []
    assert _ids(client.get(AD_PATH, params={"session_id": "11"}, auth=other.auth)) == []


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"start_epoch_ms": str(NOW_MS - 5 * HOUR), "end_epoch_ms": str(NOW_MS)}, 422, "time_range_out_of_bounds"),
        ({"limit": "0"}, 400, "invalid_parameter"),
        ({"days": "3"}, 400, "unknown_parameter"),  # days is the viewer endpoint's only
        ({"ad_postion": "Midroll"}, 400, "unknown_parameter"),
    ],
)
def test_the_ad_endpoint_has_the_content_endpoints_rules(
    client: httpx.Client, advertiser: Credentials, params: dict[str, str], status: int, code: str
) -> None:
    r = client.get(AD_PATH, params=params, auth=advertiser.auth)
    assert (r.status_code, r.json()["code"]) == (status, code)


def test_viewer_id_is_in_ad_sessions_under_the_viewer_module(client: httpx.Client, store: Store) -> None:
    both = add_account(store, "both", ad_insights=True, viewer_module=True)
    store.write_sessions(both.account.id, [_ad("1", "0", HOUR, viewer="carol")])
    (ad,) = client.get(AD_PATH, auth=both.auth).json()["sessions"]
    assert ad["viewer_id"] == "carol"


def test_the_sqlite_lookup_reads_each_session_by_its_primary_key(db_path: str) -> None:
    """The plan the viewer lookup's speed rests on: one lookup-row range per day, then each session and
    its document by key (as for the postings join, a plan that walks a bucket range per candidate
    would cost the window's size)."""
    import sqlite3

    from reelsight.query.viewer import ViewerQuery
    from reelsight.store.sqlite import SqliteStore, viewers

    SqliteStore(db_path, readers=1).close()
    plans: list[str] = []

    class Explaining:
        def __init__(self, conn: sqlite3.Connection) -> None:
            self.conn = conn

        def execute(self, sql: str, args: Sequence[object] = ()) -> sqlite3.Cursor:
            plans.extend(row[3] for row in self.conn.execute("EXPLAIN QUERY PLAN " + sql, args))
            return self.conn.execute(sql, args)

    with sqlite3.connect(db_path) as conn:
        for kind in ("viewer_id", "ip"):
            query = ViewerQuery(kind, "203.0.113.7" if kind == "ip" else "alice", NOW_MS - 31 * DAY, NOW_MS)  # type: ignore[arg-type]
            viewers._candidates(Explaining(conn), 1, query)  # type: ignore[arg-type]
    assert [p for p in plans if not p.startswith("USE TEMP B-TREE")] == [
        "SEARCH v USING PRIMARY KEY (account_id=? AND day=? AND lookup=? AND end_ms>? AND end_ms<?)",
        "SEARCH s USING PRIMARY KEY (account_id=? AND end_bucket=? AND sample_key=?)",
        "SEARCH d USING INTEGER PRIMARY KEY (rowid=?)",
    ] * 2
