"""The metrics endpoints' rules over HTTP against a real server, on SQLite and on ClickHouse (chDB).

Formulas are pinned by the hand-computed vectors (``test_aggregates_vectors.py``) and the oracle
(``test_aggregates_properties.py``); this file covers which sessions count, the buckets, the group-by
and every refusal.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

import httpx
import pytest

from reelsight.sessions.document import decode_document
from reelsight.store.base import Store
from reelsight.store.records import to_record
from tests.conftest import NOW_MS, Credentials, add_account
from tests.factories import make_doc_dict

pytestmark = pytest.mark.all_backends

M = "/insights/3.0/metrics"
H = 3_600_000
T0 = NOW_MS - 5 * H  # an hour boundary (NOW_MS is one)
_ids = iter(range(1, 1_000_000))


def joined(end_ms: int, *, playing_ms: int = 60_000, **paths: Any) -> dict[str, Any]:
    """A joined content session ending at ``end_ms``; ``paths`` use ``__`` for dots."""
    set_paths = {
        "status_info.is_exit_before_video_start": False,
        "lifetime_metrics.playing_time_ms": playing_ms,
        "lifetime_metrics.video_start_time_ms": 1000,
        **{k.replace("__", "."): v for k, v in paths.items()},
    }
    return make_doc_dict("3.3.3.3", str(next(_ids)), end_ms=end_ms, duration_ms=0, set_paths=set_paths)


def put(store: Store, creds: Credentials, *docs: dict[str, Any], tags: dict[str, str] | None = None) -> None:
    for d in docs:
        if tags is not None:
            d["tags"]["custom_tags"] = tags
    store.write_sessions(creds.account.id, [to_record(decode_document(json.dumps(d))) for d in docs])


def get(client: httpx.Client, creds: Credentials, path: str, **params: Any) -> dict[str, Any]:
    items = [(k, str(x)) for k, v in params.items() for x in (v if isinstance(v, list) else [v])]
    response = client.get(M + path, params=items, auth=creds.auth)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    return body


def window(hours: int = 2, granularity: str = "PT1H") -> dict[str, Any]:
    return {"start_epoch_ms": T0, "end_epoch_ms": T0 + hours * H, "granularity": granularity}


def counts(body: dict[str, Any], key: str = "attempts") -> list[int]:
    return [entry[key]["count"] for entry in body["time_series"]]


def test_a_session_counts_in_the_bucket_of_its_end_and_the_end_is_exclusive(
    client: httpx.Client, store: Store, acme: Credentials
) -> None:
    put(store, acme, joined(T0 - 1), joined(T0), joined(T0 + H - 1), joined(T0 + H), joined(T0 + 2 * H))
    body = get(client, acme, "/attempts", **window())
    assert counts(body) == [2, 1]
    assert [e["timestamp"]["epoch_ms"] for e in body["time_series"]] == [T0, T0 + H]
    assert body["time_series"][0]["timestamp"]["iso_date"] == "2026-11-20T07:00:00.000Z"
    assert body["total"] == {"attempts": {"count": 3}}


def test_empty_buckets_are_listed_with_zeros(client: httpx.Client, store: Store, acme: Credentials) -> None:
    put(store, acme, joined(T0 + 2 * H + 5))
    body = get(client, acme, "/rebuffering-ratio", **window(4))
    assert [e["rebuffering_ratio"] for e in body["time_series"]] == [{"ratio": 0.0}] * 4
    assert counts(get(client, acme, "/plays", **window(4)), "plays") == [0, 0, 1, 0]


def test_buckets_are_aligned_to_the_granularity_and_an_unaligned_range_is_cut_exactly(
    client: httpx.Client, store: Store, acme: Credentials
) -> None:
    put(store, acme, joined(T0 + 10), joined(T0 + 29 * 60_000), joined(T0 + 31 * 60_000), joined(T0 + 61 * 60_000))
    body = get(client, acme, "/attempts", start_epoch_ms=T0 + 20, end_epoch_ms=T0 + 61 * 60_000, granularity="PT30M")
    assert [e["timestamp"]["epoch_ms"] for e in body["time_series"]] == [T0, T0 + 30 * 60_000, T0 + H]
    assert counts(body) == [1, 1, 0]  # T0 + 10 is before the start; T0 + 61 min is the (exclusive) end
    all_of_it = get(client, acme, "/attempts", start_epoch_ms=T0 + 20, end_epoch_ms=T0 + 2 * H, granularity="ALL")
    assert [e["timestamp"]["epoch_ms"] for e in all_of_it["time_series"]] == [T0 + 20]
    assert counts(all_of_it) == [3]


def test_only_ended_content_sessions_of_the_account_count(
    client: httpx.Client, store: Store, acme: Credentials
) -> None:
    other = add_account(store, "other")
    not_ended = joined(T0 + 5)
    not_ended["status_info"]["is_ended"] = False
    ad = joined(T0 + 6, tags__selected_dimensions__content_session_id="1")
    put(store, acme, joined(T0 + 7), not_ended, ad)
    put(store, other, joined(T0 + 8), joined(T0 + 9))
    assert get(client, acme, "/attempts", **window())["total"] == {"attempts": {"count": 1}}
    assert get(client, other, "/attempts", **window())["total"] == {"attempts": {"count": 2}}
    assert get(client, acme, "/minutes-played", **window())["total"]["minutes_played"] == {
        "value": 1.0,
        "per_ended_play": 1.0,
    }


def test_a_rewritten_session_counts_once_with_its_new_values(
    client: httpx.Client, store: Store, acme: Credentials
) -> None:
    first = joined(T0 + 5, playing_ms=60_000)
    put(store, acme, first)
    again = json.loads(json.dumps(first))
    again["lifetime_metrics"]["playing_time_ms"] = 180_000
    again["timestamps"]["end"]["epoch_ms"] = T0 + H + 5
    again["timestamps"]["end"]["iso_date"] = "2026-11-20T08:00:00.005Z"
    put(store, acme, again)
    body = get(client, acme, "/minutes-played", **window())
    assert [e["minutes_played"]["value"] for e in body["time_series"]] == [0.0, 3.0]
    assert counts(get(client, acme, "/attempts", **window())) == [0, 1]


def moved(doc: dict[str, Any], end_ms: int, playing_ms: int) -> dict[str, Any]:
    """The same session written again with another end and playing time."""
    again: dict[str, Any] = json.loads(json.dumps(doc))
    again["lifetime_metrics"]["playing_time_ms"] = playing_ms
    again["timestamps"]["end"]["epoch_ms"] = end_ms
    again["timestamps"]["end"]["iso_date"] = (
        datetime.datetime.fromtimestamp(end_ms / 1000, datetime.UTC).isoformat(timespec="milliseconds")[:-6] + "Z"
    )
    return again


def test_a_session_moved_between_hours_counts_once_where_it_ended_last(
    client: httpx.Client, store: Store, acme: Credentials
) -> None:
    first = joined(T0 + 5, playing_ms=60_000)
    put(store, acme, first)
    put(store, acme, moved(first, T0 + H + 5, 120_000), moved(first, T0 + 7, 180_000))  # twice in one write: back
    minutes = get(client, acme, "/minutes-played", **window())
    assert [e["minutes_played"]["value"] for e in minutes["time_series"]] == [3.0, 0.0]
    put(store, acme, moved(first, T0 + H + 9, 240_000))
    assert counts(get(client, acme, "/attempts", **window())) == [0, 1]
    minutes = get(client, acme, "/minutes-played", **window())
    assert [e["minutes_played"]["value"] for e in minutes["time_series"]] == [0.0, 4.0]
    by_id = get(client, acme, "/attempts", session_id=first["session_id"], **window())  # read from the sessions
    assert counts(by_id) == [0, 1]
    assert counts(get(client, acme, "/attempts", session_id="4242", **window())) == [0, 0]


def test_filters_are_the_sessions_endpoints(client: httpx.Client, store: Store, acme: Credentials) -> None:
    put(store, acme, joined(T0 + 1, device_info__os="iOS"), joined(T0 + 2, device_info__os="Android"))
    put(store, acme, joined(T0 + 3, device_info__os="iOS"), tags={"genre": "drama"})
    put(store, acme, make_doc_dict("3.3.3.3", "999999", end_ms=T0 + 4))  # the reference: an exit before start
    assert get(client, acme, "/attempts", device_os="iOS", **window())["total"]["attempts"]["count"] == 3
    assert get(client, acme, "/attempts", device_os=["iOS", "Android"], **window())["total"]["attempts"]["count"] == 4
    assert get(client, acme, "/attempts", tag_genre="drama", **window())["total"]["attempts"]["count"] == 1
    assert get(client, acme, "/attempts", tag_genre="", **window())["total"]["attempts"]["count"] == 3
    flagged = get(client, acme, "/attempts", is_exit_before_video_start="TRUE", **window())
    assert flagged["total"]["attempts"]["count"] == 1
    assert get(client, acme, "/attempts", cdn="NOPE", **window())["total"]["attempts"]["count"] == 0


def test_group_by_a_dimension_sorts_limits_and_orders(client: httpx.Client, store: Store, acme: Credentials) -> None:
    put(store, acme, *(joined(T0 + i, geo_info__country__code="US") for i in range(1, 4)))
    put(store, acme, *(joined(T0 + H + i, geo_info__country__code="GB") for i in range(1, 3)))
    put(store, acme, joined(T0 + 9, geo_info__country__code="FR"), joined(T0 + H + 9, geo_info__country__code="DE"))
    body = get(client, acme, "/attempts/group-by/geo-country-code", **window())
    groups = [d["dimension"]["value"] for d in body["total"]["dimensional_data"]]
    assert groups == ["US", "GB", "DE", "FR"]  # by count, then value
    assert [d["metrics"]["attempts"]["count"] for d in body["total"]["dimensional_data"]] == [3, 2, 1, 1]
    hour0 = body["time_series"][0]["dimensional_data"]
    assert [(d["dimension"]["key"], d["metrics"]["attempts"]["count"]) for d in hour0] == [
        ("US", 3),
        ("GB", 0),
        ("DE", 0),
        ("FR", 1),
    ]
    assert body["total"]["dimensional_data"][0]["dimension"]["description"] == "geo_country_code"
    top = get(client, acme, "/attempts/group-by/geo-country-code", limit=2, order="asc", **window())
    assert [d["dimension"]["value"] for d in top["total"]["dimensional_data"]] == ["DE", "FR"]
    named = get(client, acme, "/attempts/group-by/geo-country-code", sort_by="dimension", order="asc", **window())
    assert [d["dimension"]["value"] for d in named["total"]["dimensional_data"]] == ["DE", "FR", "GB", "US"]


def test_group_by_a_custom_tag_and_by_cdn(client: httpx.Client, store: Store, acme: Credentials) -> None:
    put(store, acme, joined(T0 + 1), tags={"genre": "drama"})
    put(store, acme, joined(T0 + 2), tags={"genre": "comedy", "x": "y"})
    put(store, acme, joined(T0 + 3), tags={})
    body = get(client, acme, "/attempts/group-by/dimension-tag/genre", sort_by="dimension", order="asc", **window())
    assert [(d["dimension"]["value"], d["dimension"]["description"]) for d in body["total"]["dimensional_data"]] == [
        ("", "tag_genre"),
        ("comedy", "tag_genre"),
        ("drama", "tag_genre"),
    ]
    cdns = [["AKAMAI", "FASTLY"], ["AKAMAI", "AKAMAI"], []]
    for i, cdn in enumerate(cdns):
        doc = joined(T0 + 10 + i)
        doc["network_info"]["cdn"] = cdn
        put(store, acme, doc)
    by_cdn = get(client, acme, "/attempts/group-by/cdn", sort_by="dimension", order="asc", **window())
    assert [
        (d["dimension"]["value"], d["metrics"]["attempts"]["count"]) for d in by_cdn["total"]["dimensional_data"]
    ] == [
        ("", 1),  # no CDN at all
        ("AKAMAI", 2),  # a repeated CDN counts once
        ("FASTLY", 1),
        ("INHOUSE", 3),  # the reference document's list, in the three tagged sessions
    ]


def test_custom_selection_answers_every_metric_in_order(client: httpx.Client, store: Store, acme: Credentials) -> None:
    put(store, acme, joined(T0 + 1))
    body = get(client, acme, "/custom-selection", metric=["plays", "bitrate", "plays", "attempts"], **window(1))
    assert list(body["total"]) == ["plays", "bitrate", "attempts"]
    assert list(body["time_series"][0]) == ["timestamp", "plays", "bitrate", "attempts"]


def test_default_range_is_the_last_24_hours_at_pt1h(client: httpx.Client, store: Store, acme: Credentials) -> None:
    put(store, acme, joined(NOW_MS - 1), joined(NOW_MS - 24 * H), joined(NOW_MS - 24 * H - 1))
    body = get(client, acme, "/attempts")
    assert len(body["time_series"]) == 24
    assert body["time_series"][0]["timestamp"]["epoch_ms"] == NOW_MS - 24 * H
    assert body["total"]["attempts"]["count"] == 2
    assert get(client, acme, "/attempts", days=2, granularity="P1D")["total"]["attempts"]["count"] == 3
    month = get(client, acme, "/attempts", start_epoch_ms=NOW_MS - 31 * 24 * H, end_epoch_ms=NOW_MS, granularity="P1D")
    assert len(month["time_series"]) == 32  # UTC days: the first and the last partly in the range


@pytest.mark.parametrize(
    ("path", "params", "status", "code", "parameter"),
    [
        ("/no-such-metric", {}, 400, "invalid_parameter", "metric"),
        ("/plays", {"granularity": "PT7M"}, 400, "invalid_parameter", "granularity"),
        ("/plays", {"granularity": "P2D"}, 400, "invalid_parameter", "granularity"),
        ("/plays", {"granularity": "pt1h"}, 400, "invalid_parameter", "granularity"),
        ("/plays", {"granularity": "PT01H"}, 400, "invalid_parameter", "granularity"),
        ("/custom-selection", {}, 400, "invalid_parameter", "metric"),
        ("/custom-selection", {"metric": ["plays", "nope"]}, 400, "invalid_parameter", "metric"),
        ("/plays", {"metric": "plays"}, 400, "unknown_parameter", "metric"),
        ("/plays", {"limit": "5"}, 400, "unknown_parameter", "limit"),
        ("/plays/group-by/no-such-dimension", {}, 400, "invalid_parameter", "dimension"),
        ("/plays/group-by/device_os", {}, 400, "invalid_parameter", "dimension"),
        ("/plays/group-by/device-os", {"limit": "0"}, 400, "invalid_parameter", "limit"),
        ("/plays/group-by/device-os", {"limit": "501"}, 400, "invalid_parameter", "limit"),
        ("/plays/group-by/device-os", {"order": "up"}, 400, "invalid_parameter", "order"),
        ("/plays/group-by/device-os", {"sort_by": "bitrate"}, 400, "invalid_parameter", "sort_by"),
        ("/plays/group-by/device-os", {"sort_by": "plays.ratio"}, 400, "invalid_parameter", "sort_by"),
        ("/plays", {"no_such_filter": "x"}, 400, "unknown_parameter", "no_such_filter"),
        ("/plays", {"is_video_start_failure": "maybe"}, 400, "invalid_parameter", "is_video_start_failure"),
        ("/plays", {"granularity": ["PT1H", "PT1H"]}, 400, "invalid_parameter", "granularity"),
        ("/plays", {"days": "32"}, 400, "invalid_parameter", "days"),
        ("/plays", {"days": "1", "start_epoch_ms": str(NOW_MS - H)}, 400, "conflicting_parameters", "days"),
        ("/plays", {"start_epoch_ms": str(NOW_MS - H), "start_date": "2026-11-20"}, 400, "conflicting_parameters",
         "start_epoch_ms"),
        ("/plays", {"start_epoch_ms": str(NOW_MS - 32 * 24 * H), "end_epoch_ms": str(NOW_MS)}, 422, None, None),
        ("/plays", {"start_epoch_ms": str(NOW_MS - H), "end_epoch_ms": str(NOW_MS - H)}, 422, None, None),
        ("/plays", {"start_epoch_ms": str(NOW_MS - 2 * 24 * H), "granularity": "PT1M",
                    "end_epoch_ms": str(NOW_MS)}, 400, "invalid_parameter", "granularity"),
        ("/custom-selection/group-by/asset", {"metric": ["plays", "attempts"], "granularity": "PT1M",
                                              "limit": "500"}, 400, "invalid_parameter", "limit"),
    ],
)  # fmt: skip
def test_bad_input_is_a_clear_error_in_the_envelope(
    client: httpx.Client,
    acme: Credentials,
    path: str,
    params: dict[str, Any],
    status: int,
    code: str | None,
    parameter: str | None,
) -> None:
    items = [(k, x) for k, v in params.items() for x in (v if isinstance(v, list) else [v])]
    response = client.get(M + path, params=items, auth=acme.auth)
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == (code or "time_range_out_of_bounds")
    assert body.get("parameter") == parameter
    assert body["message"]


def test_too_many_metrics_is_a_400(client: httpx.Client, acme: Credentials) -> None:
    names = [
        "plays", "attempts", "ended-plays", "video-start-time", "rebuffering-ratio", "bitrate", "framerate",
        "percentage-complete", "minutes-played", "pause-ratio", "exits-before-video-start", "video-start-failures",
        "video-restart-time",
    ]  # fmt: skip
    response = client.get(M + "/custom-selection", params=[("metric", n) for n in names], auth=acme.auth)
    assert response.status_code == 400
    assert response.json()["parameter"] == "metric"
    assert client.get(M + "/custom-selection", params=[("metric", n) for n in names[:12]], auth=acme.auth).is_success


def test_credentials_are_required(client: httpx.Client) -> None:
    response = client.get(M + "/plays")
    assert response.status_code == 401
    assert response.json() == {"message": "Unauthorized"}
    assert client.post(M + "/plays").status_code == 405
