"""limit, flags, ids, tags, every dimension, repeat-means-OR and unknown parameters, over HTTP."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from reelsight.query.dimensions import DIMENSIONS
from reelsight.query.parse import FLAG_PARAMS
from reelsight.store.base import Store
from reelsight.store.records import to_record
from reelsight.web.sessions_route import AD_PATH
from tests.conftest import NOW_MS, PATH, Credentials, add_account
from tests.factories import make_doc

pytestmark = pytest.mark.all_backends  # the sessions contract, on SQLite and on ClickHouse (chDB)

END = NOW_MS - 60_000


def _ids(client: httpx.Client, creds: Credentials, params: Any, path: str = PATH) -> list[str]:
    r = client.get(path, auth=creds.auth, params=params)
    assert r.status_code == 200, r.text
    return sorted(s["session_id"] for s in r.json()["sessions"])


def _load(store: Store, creds: Credentials, docs: dict[str, dict[str, Any]]) -> None:
    records = [to_record(make_doc(session_id=sid, end_ms=END - int(sid), **kw)) for sid, kw in docs.items()]
    store.write_sessions(creds.account.id, records)


# -- limit ------------------------------------------------------------------------------------


def test_limit_defaults_to_50(client: httpx.Client, store: Store, acme: Credentials) -> None:
    _load(store, acme, {str(i): {} for i in range(1, 61)})
    assert len(_ids(client, acme, {})) == 50
    assert len(_ids(client, acme, {"limit": 1})) == 1
    assert len(_ids(client, acme, {"limit": 1500})) == 60


@pytest.mark.parametrize("value", ["0", "1501", "-1", "abc", "1.5", "", " 5", "1e3", "99999999999999999999"])
def test_limit_outside_1_to_1500_is_400(client: httpx.Client, acme: Credentials, value: str) -> None:
    r = client.get(PATH, auth=acme.auth, params={"limit": value})
    assert r.status_code == 400
    assert r.json() == {
        "message": "limit must be an integer from 1 to 1500",
        "code": "invalid_parameter",
        "parameter": "limit",
    }


def test_repeating_limit_is_400(client: httpx.Client, acme: Credentials) -> None:
    r = client.get(PATH, auth=acme.auth, params=[("limit", "5"), ("limit", "5")])
    assert r.status_code == 400
    assert r.json()["parameter"] == "limit"


# -- the seven flags ----------------------------------------------------------------------------

_FLAG_DOCS: dict[str, dict[str, Any]] = {
    "1": {},  # joined, no failure
    "2": {"set_paths": {"status_info.is_exit_before_video_start": False,
                        "status_info.is_video_start_failure": True,
                        "status_info.is_video_start_failure_business": True}},
    "3": {"set_paths": {"status_info.is_exit_before_video_start": False,
                        "status_info.is_video_start_failure": True,
                        "status_info.is_video_start_failure_tech": True}},
    "4": {"set_paths": {"status_info.is_exit_before_video_start": False,
                        "status_info.is_video_playback_failure": True,
                        "status_info.is_video_playback_failure_business": True}},
    "5": {"set_paths": {"status_info.is_exit_before_video_start": False,
                        "status_info.is_video_playback_failure": True,
                        "status_info.is_video_playback_failure_tech": True}},
    "6": {"set_paths": {"status_info.is_exit_before_video_start": False}},
}  # fmt: skip
# The reference example (session "1") is an exit before video start.
_FLAG_TRUE = {
    "is_exit_before_video_start": ["1"],
    "is_video_start_failure": ["2", "3"],
    "is_video_start_failure_business": ["2"],
    "is_video_start_failure_tech": ["3"],
    "is_video_playback_failure": ["4", "5"],
    "is_video_playback_failure_business": ["4"],
    "is_video_playback_failure_tech": ["5"],
}


@pytest.mark.parametrize("flag", FLAG_PARAMS)
def test_each_flag_true_and_false(client: httpx.Client, store: Store, acme: Credentials, flag: str) -> None:
    _load(store, acme, _FLAG_DOCS)
    everything = sorted(_FLAG_DOCS)
    assert _ids(client, acme, {flag: "true"}) == _FLAG_TRUE[flag]
    assert _ids(client, acme, {flag: "false"}) == sorted(set(everything) - set(_FLAG_TRUE[flag]))
    assert _ids(client, acme, {flag: "TRUE"}) == _FLAG_TRUE[flag]
    assert _ids(client, acme, {flag: "False"}) == sorted(set(everything) - set(_FLAG_TRUE[flag]))
    assert _ids(client, acme, [(flag, "true"), (flag, "false")]) == everything


@pytest.mark.parametrize("value", ["1", "yes", "", "truee", "t"])
def test_flag_values_other_than_true_false_are_400(client: httpx.Client, acme: Credentials, value: str) -> None:
    r = client.get(PATH, auth=acme.auth, params={"is_video_start_failure": value})
    assert r.status_code == 400
    assert r.json()["code"] == "invalid_parameter"
    assert r.json()["parameter"] == "is_video_start_failure"


# -- ids ------------------------------------------------------------------------------------------


def test_session_id_and_client_id_match_exactly(client: httpx.Client, store: Store, acme: Credentials) -> None:
    store.write_sessions(
        acme.account.id,
        [
            to_record(make_doc("1.1.1.1", "7", end_ms=END)),
            to_record(make_doc("1.1.1.1", "77", end_ms=END)),
            to_record(make_doc("2.2.2.2", "7", end_ms=END)),
        ],
    )

    def conv(params: Any) -> list[str]:
        r = client.get(PATH, auth=acme.auth, params=params)
        return sorted(s["conviva_session_id"] for s in r.json()["sessions"])

    assert conv({"session_id": "7"}) == ["1.1.1.1.7", "2.2.2.2.7"]
    assert conv({"client_id": "1.1.1.1"}) == ["1.1.1.1.7", "1.1.1.1.77"]
    assert conv({"client_id": "1.1.1.1", "session_id": "7"}) == ["1.1.1.1.7"]
    assert conv([("session_id", "7"), ("session_id", "77")]) == ["1.1.1.1.7", "1.1.1.1.77", "2.2.2.2.7"]
    assert conv({"client_id": "1.1.1"}) == []


# -- tags -------------------------------------------------------------------------------------------


def test_tag_filters(client: httpx.Client, store: Store, acme: Credentials) -> None:
    _load(
        store,
        acme,
        {
            "1": {"custom_tags": {"tier": "gold", "exp": "A"}},
            "2": {"custom_tags": {"tier": "silver", "exp": "B"}},
            "3": {"custom_tags": {"tier": ""}},
            "4": {"custom_tags": {}},
        },
    )
    assert _ids(client, acme, {"tag_tier": "gold"}) == ["1"]
    assert _ids(client, acme, {"tag_tier": "Gold"}) == []
    assert _ids(client, acme, [("tag_tier", "gold"), ("tag_tier", "silver")]) == ["1", "2"]
    assert _ids(client, acme, {"tag_tier": ""}) == ["3", "4"]  # a missing tag has the value ""
    assert _ids(client, acme, {"tag_exp": ""}) == ["3", "4"]
    assert _ids(client, acme, {"tag_tier": "gold", "tag_exp": "B"}) == []
    assert _ids(client, acme, {"tag_nope": "x"}) == []
    # The store separates tags with U+001E/U+001F: such values can never match, and never match wrongly.
    assert _ids(client, acme, {"tag_tier": "gold\x1fexp\x1eA"}) == []
    assert _ids(client, acme, {"tag_tier\x1egold\x1fexp": ""}) == ["1", "2", "3", "4"]


# -- dimensions -------------------------------------------------------------------------------------

_PATHS = {
    "asset": "content_info.asset",
    "content_category": "content_info.category",
    "stream_url": "content_info.stream_url",
    "device_name": "device_info.name",
    "device_os": "device_info.os",
    "device_os_family": "device_info.os_family",
    "device_os_version": "device_info.os_version",
    "browser_name": "device_info.browser.name",
    "browser_version": "device_info.browser.version",
    "geo_city_name": "geo_info.city",
    "geo_state_name": "geo_info.state.name",
    "geo_state_code": "geo_info.state.code",
    "geo_country_name": "geo_info.country.name",
    "geo_country_code": "geo_info.country.code",
    "geo_continent_name": "geo_info.continent",
    "geo_postal_code": "geo_info.postal_code",
    "geo_dma": "geo_info.dma",
    "asn": "network_info.asn.value",
    "isp": "network_info.isp",
    "cdn_edge_server": "network_info.last_cdn_edge_server",
    "cdn_edge_group": "network_info.last_cdn_group_id",
}


def _path(param: str) -> str:
    return _PATHS.get(param, f"tags.selected_dimensions.{param}")


def test_every_dimension_is_covered_by_these_tests() -> None:
    params = {d.param for d in DIMENSIONS}
    assert set(_PATHS) - {"cdn"} <= params
    for d in DIMENSIONS:
        if not d.multi:
            assert d.field == _path(d.param)


@pytest.mark.parametrize("param", [d.param for d in DIMENSIONS if not d.multi])
def test_each_dimension_matches_exactly(client: httpx.Client, store: Store, param: str) -> None:
    """On the content endpoint; the ``ad_*`` dimensions and ``content_session_id`` on ad sessions (a
    session naming a content session is an ad) through the ad endpoint."""
    creds = add_account(store, "acme", ad_insights=True)
    path = _path(param)
    # every session is an ad in the ad variant (a content session id), and the filter picks among them
    base = {"tags.selected_dimensions.content_session_id": "9"} if param.startswith("ad_") else {}
    docs = {sid: {"set_paths": {**base, path: value}} for sid, value in (("1", "Alpha"), ("2", "Beta"), ("3", "alpha"))}
    docs["4"] = {"set_paths": {**base, path: ""}}
    endpoint = AD_PATH if param.startswith("ad_") or param == "content_session_id" else PATH
    if param == "content_session_id":  # "" is a content session: the ad endpoint never has one
        del docs["4"]
    _load(store, creds, docs)
    assert _ids(client, creds, {param: "Alpha"}, endpoint) == ["1"]  # exact and case-sensitive
    assert _ids(client, creds, [(param, "Alpha"), (param, "Beta")], endpoint) == ["1", "2"]
    assert _ids(client, creds, {param: ""}, endpoint) == ([] if param == "content_session_id" else ["4"])
    assert _ids(client, creds, {param: "Alph"}, endpoint) == []
    if endpoint == AD_PATH:  # and the content endpoint never sees these ad sessions
        assert _ids(client, creds, {param: "Alpha"}) == []


def test_cdn_matches_any_element(client: httpx.Client, store: Store, acme: Credentials) -> None:
    _load(store, acme, {"1": {"cdn": ["AKAMAI", "FASTLY"]}, "2": {"cdn": ["FASTLY"]}, "3": {"cdn": []}})
    assert _ids(client, acme, {"cdn": "AKAMAI"}) == ["1"]
    assert _ids(client, acme, {"cdn": "FASTLY"}) == ["1", "2"]
    assert _ids(client, acme, [("cdn", "AKAMAI"), ("cdn", "LEVEL3")]) == ["1"]
    assert _ids(client, acme, {"cdn": "akamai"}) == []


def test_different_parameters_must_all_match(client: httpx.Client, store: Store, acme: Credentials) -> None:
    _load(
        store,
        acme,
        {
            "1": {"set_paths": {"device_info.os": "iOS", "geo_info.country.code": "US"}},
            "2": {"set_paths": {"device_info.os": "iOS", "geo_info.country.code": "FR"}},
            "3": {"set_paths": {"device_info.os": "Android", "geo_info.country.code": "US"}},
        },
    )
    assert _ids(client, acme, {"device_os": "iOS", "geo_country_code": "US"}) == ["1"]
    assert _ids(client, acme, [("device_os", "iOS"), ("device_os", "Android"), ("geo_country_code", "US")]) == [
        "1",
        "3",
    ]


# -- unknown parameters ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["devic_os", "tag_", "Limit", "start", "sessions", "viewer_id", "DEVICE_OS"])
def test_unknown_parameter_is_400_naming_it(client: httpx.Client, acme: Credentials, name: str) -> None:
    r = client.get(PATH, auth=acme.auth, params={name: "x"})
    assert r.status_code == 400
    body = r.json()
    assert body["code"] == "unknown_parameter"
    assert body["parameter"] == name
    assert name in body["message"]
