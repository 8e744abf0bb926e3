"""Which sessions, in which order: the deterministic uniform sample and the response shape."""

from __future__ import annotations

import json

import httpx
import pytest

from reelsight.store.base import Store
from reelsight.store.records import BUCKET_MS, sample_key, to_record
from tests.conftest import NOW_MS, PATH, Credentials
from tests.factories import REFERENCE, make_doc, make_doc_dict

pytestmark = pytest.mark.all_backends  # the sessions contract, on SQLite and on ClickHouse (chDB)

H = 3_600_000


def _conv_ids(r: httpx.Response) -> list[str]:
    assert r.status_code == 200, r.text
    return [s["conviva_session_id"] for s in r.json()["sessions"]]


def _load_many(store: Store, creds: Credentials, n: int, *, spread_ms: int = 3 * H - 1) -> dict[str, int]:
    """n sessions with ends spread over the default window (across several 15-minute buckets)."""
    ends = {f"9.9.9.{i}.{i}": NOW_MS - 1 - (i * 7919 * 1000) % spread_ms for i in range(n)}
    store.write_sessions(
        creds.account.id,
        [to_record(make_doc(f"9.9.9.{i}", str(i), end_ms=ends[f"9.9.9.{i}.{i}"])) for i in range(n)],
    )
    return ends


def test_sample_is_the_smallest_sample_keys(client: httpx.Client, store: Store, acme: Credentials) -> None:
    ends = _load_many(store, acme, 300)
    assert len({e // BUCKET_MS for e in ends.values()}) >= 12  # the window spans many buckets
    expected = sorted(ends, key=lambda c: (sample_key(c), c))[:40]
    got = _conv_ids(client.get(PATH, auth=acme.auth, params={"limit": 40}))
    assert sorted(got) == sorted(expected)


def test_larger_limit_returns_a_superset(client: httpx.Client, store: Store, acme: Credentials) -> None:
    _load_many(store, acme, 200)
    previous: set[str] = set()
    for limit in (1, 5, 17, 50, 120, 200):
        current = set(_conv_ids(client.get(PATH, auth=acme.auth, params={"limit": limit})))
        assert len(current) == limit
        assert previous <= current
        previous = current


def test_same_request_same_sessions(client: httpx.Client, store: Store, acme: Credentials) -> None:
    _load_many(store, acme, 150)
    first = client.get(PATH, auth=acme.auth, params={"limit": 60})
    second = client.get(PATH, auth=acme.auth, params={"limit": 60})
    assert first.content == second.content


def test_order_is_end_time_newest_first_ties_by_id(client: httpx.Client, store: Store, acme: Credentials) -> None:
    end = NOW_MS - 10 * 60_000
    store.write_sessions(
        acme.account.id,
        [
            to_record(make_doc("5.5.5.5", "2", end_ms=end)),
            to_record(make_doc("1.1.1.1", "9", end_ms=end)),
            to_record(make_doc("3.3.3.3", "1", end_ms=end + 5)),
            to_record(make_doc("2.2.2.2", "4", end_ms=end - 5)),
        ],
    )
    got = _conv_ids(client.get(PATH, auth=acme.auth))
    assert got == ["3.3.3.3.1", "1.1.1.1.9", "5.5.5.5.2", "2.2.2.2.4"]


def test_fewer_matches_than_limit_returns_all(client: httpx.Client, store: Store, acme: Credentials) -> None:
    _load_many(store, acme, 7)
    assert len(_conv_ids(client.get(PATH, auth=acme.auth, params={"limit": 1500}))) == 7


def test_no_match_is_an_empty_list(client: httpx.Client, acme: Credentials) -> None:
    r = client.get(PATH, auth=acme.auth)
    assert r.status_code == 200
    assert r.content == b'{"sessions":[]}'
    assert r.headers["content-type"] == "application/json"


def test_only_ended_sessions_are_returned(client: httpx.Client, store: Store, acme: Credentials) -> None:
    live = make_doc("4.4.4.4", "1", end_ms=NOW_MS - 1000, set_paths={"status_info.is_ended": False})
    done = make_doc("4.4.4.4", "2", end_ms=NOW_MS - 1000)
    store.write_sessions(acme.account.id, [to_record(live), to_record(done)])
    assert _conv_ids(client.get(PATH, auth=acme.auth)) == ["4.4.4.4.2"]
    assert _conv_ids(client.get(PATH, auth=acme.auth, params={"session_id": "1"})) == []


def test_response_has_the_reference_shape_and_values(client: httpx.Client, store: Store) -> None:
    from tests.conftest import add_account

    media = add_account(store, "media", viewer_module=True)
    doc = make_doc_dict(end_ms=NOW_MS - 1000)
    store.write_sessions(media.account.id, [to_record(make_doc(end_ms=NOW_MS - 1000))])
    r = client.get(PATH, auth=media.auth)
    assert r.headers["content-type"] == "application/json"
    (session,) = r.json()["sessions"]
    expected = json.loads(json.dumps(doc))
    for key in (
        "average_framerate_fps",
        "average_peak_bitrate_bps",
        "average_percentage_complete",
        "connection_induced_rebuffering_ratio_percent",
        "paused_ratio_percent",
        "rebuffering_ratio_percent",
    ):
        expected["lifetime_metrics"][key] = float(expected["lifetime_metrics"][key])
    assert session == expected

    def shape(value: object) -> object:
        if isinstance(value, dict):
            return [(k, shape(v)) for k, v in value.items()]
        return type(value).__name__ if not isinstance(value, float | int) else "number"

    reference = dict(REFERENCE)
    assert shape(session) == shape(reference)  # same keys, same nesting, same order
