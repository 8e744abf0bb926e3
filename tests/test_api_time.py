"""The time range: three forms per bound, defaults, and the range rules, over HTTP."""

from __future__ import annotations

import httpx
import pytest

from reelsight.query.timerange import END_PARAMS, START_PARAMS
from reelsight.store.base import Store
from reelsight.store.records import to_record
from tests.conftest import NOW_MS, PATH, Credentials
from tests.factories import make_doc

pytestmark = pytest.mark.all_backends  # the sessions contract, on SQLite and on ClickHouse (chDB)

H = 3_600_000
DAY = 24 * H


def _ids(client: httpx.Client, creds: Credentials, **params: object) -> list[str]:
    r = client.get(PATH, auth=creds.auth, params={"limit": 1500, **params})
    assert r.status_code == 200, r.text
    return sorted(s["session_id"] for s in r.json()["sessions"])


def _error(client: httpx.Client, creds: Credentials, params: dict[str, object]) -> tuple[int, dict[str, object]]:
    r = client.get(PATH, auth=creds.auth, params=params)
    return r.status_code, r.json()


@pytest.fixture
def timeline(store: Store, acme: Credentials) -> dict[str, int]:
    """Sessions ending at known offsets from NOW_MS, named by their session_id."""
    ends = {
        "1": NOW_MS - 1,  # just before now
        "2": NOW_MS - 3 * H,  # exactly the default start (inclusive)
        "3": NOW_MS - 3 * H - 1,  # just outside the default window
        "4": NOW_MS - 5 * H,
        "5": NOW_MS - 2 * DAY,
        "6": NOW_MS,  # exactly now: the end bound is exclusive
        "7": NOW_MS - 6 * H,  # 06:00 UTC
        "8": NOW_MS - 8 * H,  # 04:00 UTC
    }
    store.write_sessions(acme.account.id, [to_record(make_doc(session_id=k, end_ms=v)) for k, v in ends.items()])
    return ends


def test_default_is_the_three_hours_ending_now(client: httpx.Client, acme: Credentials, timeline: object) -> None:
    assert _ids(client, acme) == ["1", "2"]


def test_only_end_means_three_hours_before_it(client: httpx.Client, acme: Credentials, timeline: object) -> None:
    assert _ids(client, acme, end_epoch_ms=NOW_MS - 3 * H) == ["3", "4", "7"]
    assert _ids(client, acme, end_epoch_ms=NOW_MS - 5 * H) == ["7", "8"]


def test_only_start_means_three_hours_after_it(client: httpx.Client, acme: Credentials, timeline: object) -> None:
    assert _ids(client, acme, start_epoch_ms=NOW_MS - 6 * H) == ["3", "4", "7"]


def test_match_is_on_end_time_start_inclusive_end_exclusive(
    client: httpx.Client, acme: Credentials, timeline: dict[str, int]
) -> None:
    end = timeline["5"]
    assert _ids(client, acme, start_epoch_ms=end, end_epoch_ms=end + 1) == ["5"]
    assert _ids(client, acme, start_epoch_ms=end - 1, end_epoch_ms=end) == []


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ({"start_date": "2026-11-20T04:00:00Z"}, {"end_date": "2026-11-20T07:00:00Z"}),
        ({"start_date": "2026-11-20T04:00:00.000Z"}, {"end_date": "2026-11-20T07:00:00.000+00:00"}),
        ({"start_date": "2026-11-20T05:00:00+01:00"}, {"end_date": "2026-11-20T02:00:00-05:00"}),
        ({"start_date": "2026-11-20T04:00:00"}, {"end_date": "2026-11-20T07:00:00"}),
        ({"start_epoch": "1795147200"}, {"end_epoch": "1795158000"}),
        ({"start_epoch": "1795147200.000"}, {"end_epoch_ms": "1795158000000"}),
        ({"start_epoch_ms": "1795147200000"}, {"end_date": "2026-11-20T07:00:00Z"}),
    ],
)
def test_every_form_of_each_bound(
    client: httpx.Client, acme: Credentials, timeline: object, start: dict[str, str], end: dict[str, str]
) -> None:
    # Every pair names 04:00..07:00 UTC: "8" ends at 04:00 (inclusive), "7" at 06:00, "4" at 07:00 (excluded).
    assert _ids(client, acme, **start, **end) == ["7", "8"]


def test_date_only_means_midnight_utc(client: httpx.Client, store: Store, acme: Credentials) -> None:
    midnight = NOW_MS - 12 * H  # 2026-11-20T00:00:00Z
    store.write_sessions(acme.account.id, [to_record(make_doc(session_id="100", end_ms=midnight))])
    assert _ids(client, acme, start_date="2026-11-20") == ["100"]
    assert _ids(client, acme, end_date="2026-11-20") == []


def test_fractional_seconds_and_milliseconds(client: httpx.Client, store: Store, acme: Credentials) -> None:
    end = NOW_MS - H + 250
    store.write_sessions(acme.account.id, [to_record(make_doc(session_id="200", end_ms=end))])
    assert _ids(client, acme, start_epoch=f"{(end) / 1000:.3f}") == ["200"]
    assert _ids(client, acme, start_epoch=f"{(end + 1) / 1000:.3f}") == []
    assert _ids(client, acme, start_date="2026-11-20T11:00:00.250Z") == ["200"]
    assert _ids(client, acme, start_date="2026-11-20T11:00:00.251Z") == []


@pytest.mark.parametrize(
    "params",
    [
        {"start_epoch": "1795147200", "start_date": "2026-11-20T04:00:00Z"},
        {"start_epoch_ms": "1795147200000", "start_epoch": "1795147200"},
        {"end_epoch": "1795158000", "end_date": "2026-11-20T07:00:00Z"},
        {"end_epoch_ms": "1795158000000", "end_epoch": "1795158000"},
    ],
)
def test_two_forms_of_one_bound_conflict(client: httpx.Client, acme: Credentials, params: dict[str, str]) -> None:
    status, body = _error(client, acme, params)
    assert status == 400
    assert body["code"] == "conflicting_parameters"
    assert body["parameter"] in params


@pytest.mark.parametrize(
    ("params", "rule"),
    [
        ({"start_epoch_ms": NOW_MS - H, "end_epoch_ms": NOW_MS - H}, "after its start"),
        ({"start_epoch_ms": NOW_MS - H, "end_epoch_ms": NOW_MS - 2 * H}, "after its start"),
        ({"start_epoch_ms": NOW_MS - 4 * H, "end_epoch_ms": NOW_MS - H + 1}, "3 hours"),
        ({"start_epoch_ms": NOW_MS - 31 * DAY - 1}, "31 days"),
        ({"end_epoch_ms": NOW_MS - 31 * DAY + 3 * H - 1}, "31 days"),
        ({"start_epoch_ms": NOW_MS + 1}, "future"),
    ],
)
def test_range_rules_are_422(client: httpx.Client, acme: Credentials, params: dict[str, object], rule: str) -> None:
    status, body = _error(client, acme, params)
    assert status == 422
    assert body["code"] == "time_range_out_of_bounds"
    assert rule in str(body["message"])


def test_range_limits_are_inclusive(client: httpx.Client, acme: Credentials) -> None:
    ok = [
        {"start_epoch_ms": NOW_MS - 4 * H, "end_epoch_ms": NOW_MS - H},  # exactly 3 hours
        {"start_epoch_ms": NOW_MS - 31 * DAY},  # exactly 31 days ago
        {"start_epoch_ms": NOW_MS},  # exactly now
    ]
    for params in ok:
        assert client.get(PATH, auth=acme.auth, params=params).status_code == 200, params


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("start_date", "yesterday"),
        ("start_date", "2026-13-01"),
        ("start_date", "2026-02-30T00:00:00Z"),
        ("start_date", "2026-11-20T25:00:00Z"),
        ("start_date", "2026-11-20 10:00:00"),
        ("start_date", "2026-11-20T10:00:00+25:00"),
        ("start_epoch", "abc"),
        ("start_epoch", "1e9"),
        ("start_epoch", ""),
        ("start_epoch_ms", "1795147200000.5"),
        ("end_epoch_ms", "12x"),
        ("end_date", ""),
    ],
)
def test_malformed_time_is_400(client: httpx.Client, acme: Credentials, param: str, value: str) -> None:
    status, body = _error(client, acme, {param: value})
    assert status == 400
    assert body["code"] == "invalid_parameter"
    assert body["parameter"] == param


@pytest.mark.parametrize("param", [*START_PARAMS, *END_PARAMS])
def test_repeating_a_time_parameter_is_400(client: httpx.Client, acme: Credentials, param: str) -> None:
    forms = {"date": "2026-11-20T10:00:00Z", "epoch": "1795168800", "epoch_ms": "1795168800000"}
    value = forms[param.split("_", 1)[1]]
    r = client.get(PATH, auth=acme.auth, params=[(param, value), (param, value)])
    assert r.status_code == 400
    assert r.json()["code"] == "invalid_parameter"
    assert r.json()["parameter"] == param
