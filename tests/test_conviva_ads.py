"""Ad sessions from the Conviva SDK's AdAnalytics: hand-computed decoder vectors (heartbeats as the
real SDK 4.8.0 sent them for ``reportAdStarted``, ``reportAdSkipped`` and ``reportAdFailed``,
captured in Node against a local server), the rules for ads that name no content session, and the
gateway over HTTP: an ad heartbeat is stored as an ad session, counted ``ad``, never served as content.
The real SDK end to end: ``tests/test_conviva_sdk.py``."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from reelsight.clock import FakeClock
from reelsight.ingest import conviva
from reelsight.ingest.events import (
    AdEnd,
    AdError,
    AdSkip,
    CdnUpdate,
    Content,
    MetadataUpdate,
    PlayerState,
    RepeatedStart,
    Snapshot,
    Start,
    StateChange,
)
from reelsight.store.sqlite import SqliteStore
from reelsight.web.sessions_route import AD_PATH
from tests.conftest import NOW_MS, PATH, Credentials, add_account
from tests.test_conviva_decoder import CLID, DEVICE, PM, RECEIVE, SST, at, decode, events_of

CONTENT_SID = 1245297441  # the content session the ads played in
AD_SID = 1351487200
AD_IDS = {"client_id": CLID, "session_id": str(AD_SID)}
# The ad info the app passed to reportAdStarted, as the SDK sends it: the `c3.ad.*` keys and custom
# keys in `tags`, plus what it copies from the content session (c3.app.version, and `vid`, `pn`, `lv`
# outside the tags) and the content session's sid as `c3.csid`.
AD_TAGS = {"c3.ad.id": "ad-a1", "c3.ad.creativeId": "cr-a1", "c3.ad.system": "Google Ad Manager",
           "c3.ad.technology": "Client Side", "c3.ad.position": "Pre-roll", "c3.ad.sequence": "1",
           "c3.ad.mediaFileApiFramework": "NA", "c3.ad.isSlate": "false", "adcustom": "x",
           "c3.app.version": "9.9.1", "c3.csid": str(CONTENT_SID)}  # fmt: skip
AD_META = {"vid": "v1", "tags": AD_TAGS, "an": "ad-a1", "pn": "AccPlayer", "lv": False, "cl": 15, "rs": "ADCDN",
           "url": "https://ads.example/a1.mp4"}  # fmt: skip
AD_CONTENT = Content(asset="ad-a1", stream_url="https://ads.example/a1.mp4", is_live=False, length_ms=15_000)
# The tags as dimensions: every c3.ad.* key fills its ad_* dimension, `cl` the planned duration;
# c3.csid is no custom tag.
AD_METADATA = {"player_name": "AccPlayer", "ad_id": "ad-a1", "ad_creative_id": "cr-a1",
               "ad_system": "Google Ad Manager", "ad_technology": "Client Side", "ad_position": "Pre-roll",
               "ad_sequence": "1", "ad_media_file_api_framework": "NA", "c3.ad.isSlate": "false", "adcustom": "x",
               "app_version": "9.9.1", "ad_planned_duration": "15"}  # fmt: skip
# Every start of the ad session also names its content session.
AD_START_METADATA = {**AD_METADATA, "content_session_id": str(CONTENT_SID)}
FIRST_CHANGE = {"new": {k: v for k, v in AD_META.items()}, "t": "CwsStateChangeEvent", "st": 0, "seq": 0}


def ad_heartbeat(seq: int, st: int, evs: list[dict[str, Any]] | None = None, **fields: Any) -> bytes:
    body = {"t": "CwsSessionHb", "cid": "ik_test123", "clid": CLID, "sid": AD_SID, "seq": seq, "pver": "2.8",
            "clv": "4.8.0", "iid": 824720629, "caps": 0, "pm": PM, "ad": True, "sf": 7, "pj": False, "sdk": True,
            "sst": SST, "st": st, **AD_META, **fields}  # fmt: skip
    if evs is not None:
        body["evs"] = evs
    return json.dumps(body).encode()


def test_the_first_ad_heartbeat_opens_an_ad_session_in_its_content_session() -> None:
    decoded = decode(ad_heartbeat(0, 0, [FIRST_CHANGE], ps=100))
    assert decoded.kind == "ad"
    assert decoded.kind in conviva.STORED_KINDS
    assert decoded.assigned_client_id is None
    assert events_of(decoded) == [
        CdnUpdate(**AD_IDS, seq=1, t_ms=at(0, 0), cdn="ADCDN"),
        MetadataUpdate(**AD_IDS, seq=2, t_ms=at(0, 0), content=AD_CONTENT, viewer_id="v1", metadata=AD_METADATA),
        Start(
            **AD_IDS,
            seq=0,
            t_ms=at(0, 0),
            content=AD_CONTENT,
            device=DEVICE,
            viewer_id="v1",
            metadata=AD_START_METADATA,
        ),
        Snapshot(**AD_IDS, seq=511, t_ms=RECEIVE, state=None, cdn="ADCDN"),
    ]


def test_a_skipped_ad_ends_at_the_skip() -> None:
    """``reportAdSkipped()``: the custom event Conviva.AdSkipped, then what ``reportAdEnded()`` sends
    (stopped, the session's end). The skip is the end; the SDK's end after it is an event after the
    end, which the sessionizer ignores. A warning is an ad error, not fatal."""
    evs = [
        {"new": {"ps": 3}, "old": {"ps": 100}, "t": "CwsStateChangeEvent", "st": 1, "seq": 1},
        {"err": "AD_WARN", "ft": False, "t": "CwsErrorEvent", "st": 702, "seq": 2},
        {"name": "Conviva.AdSkipped", "t": "CwsCustomEvent", "st": 702, "seq": 3},
        {"new": {"ps": 1}, "old": {"ps": 3}, "t": "CwsStateChangeEvent", "st": 702, "seq": 4},
        {"seq": 5, "st": 702, "t": "CwsSessionEndEvent"},
    ]
    hbinfos = [{"seq": 0, "rtt": 2, "err": "ok"}]
    got = events_of(decode(ad_heartbeat(1, 702, evs, ps=1, hbinfos=hbinfos)))
    assert got == [
        StateChange(**AD_IDS, seq=513, t_ms=at(1, 702), state=PlayerState.PLAYING),
        AdError(**AD_IDS, seq=514, t_ms=RECEIVE, message="AD_WARN", fatal=False),
        AdSkip(**AD_IDS, seq=515, t_ms=RECEIVE),
        StateChange(**AD_IDS, seq=516, t_ms=RECEIVE, state=PlayerState.STOPPED),
        AdEnd(**AD_IDS, seq=517, t_ms=RECEIVE),
        # heartbeat 0 lost, this one opens the session: an ad session all the same
        RepeatedStart(
            **AD_IDS,
            seq=1022,
            t_ms=at(0, 702),
            content=AD_CONTENT,
            device=DEVICE,
            viewer_id="v1",
            metadata=AD_START_METADATA,
        ),
    ]  # no snapshot: the session ended in this heartbeat


def test_an_ad_that_failed_to_start_is_one_heartbeat() -> None:
    """``reportAdFailed(msg, adInfo)`` with no ad started: the SDK opens the session with a fatal
    error and ends it at once, all at st 0 of heartbeat 0: an ad start failure."""
    evs = [
        FIRST_CHANGE,
        {"err": "VAST_ERROR 303: no ad", "ft": True, "t": "CwsErrorEvent", "st": 0, "seq": 1},
        {"new": {"ps": 1}, "old": {"ps": 100}, "t": "CwsStateChangeEvent", "st": 0, "seq": 2},
        {"seq": 3, "st": 0, "t": "CwsSessionEndEvent"},
    ]
    got = events_of(decode(ad_heartbeat(0, 0, evs, ps=1)))
    assert got == [
        CdnUpdate(**AD_IDS, seq=1, t_ms=RECEIVE, cdn="ADCDN"),
        MetadataUpdate(**AD_IDS, seq=2, t_ms=RECEIVE, content=AD_CONTENT, viewer_id="v1", metadata=AD_METADATA),
        AdError(**AD_IDS, seq=3, t_ms=RECEIVE, message="VAST_ERROR 303: no ad", fatal=True),
        StateChange(**AD_IDS, seq=4, t_ms=RECEIVE, state=PlayerState.STOPPED),
        AdEnd(**AD_IDS, seq=5, t_ms=RECEIVE),
        Start(
            **AD_IDS,
            seq=0,
            t_ms=RECEIVE,
            content=AD_CONTENT,
            device=DEVICE,
            viewer_id="v1",
            metadata=AD_START_METADATA,
        ),
    ]


def test_an_ad_in_a_live_content_session_is_a_clip() -> None:
    """The SDK copies the content's stream type into the ad session (`lv` true in a live one): an
    ad is still a clip of its own length."""
    (start,) = [e for e in events_of(decode(ad_heartbeat(0, 0, [], lv=True))) if isinstance(e, Start)]
    assert start.content.is_live is False
    assert start.content.length_ms == 15_000


@pytest.mark.parametrize(
    ("key", "sent", "stored"),
    [
        ("c3.ad.position", "PREROLL", "Pre-roll"),
        ("c3.ad.position", "preroll", "Pre-roll"),
        ("c3.ad.position", "Mid-roll", "Mid-roll"),
        ("c3.ad.position", "MIDROLL", "Mid-roll"),
        ("c3.ad.position", "post_roll", "Post-roll"),
        ("c3.ad.position", "Post Roll", "Post-roll"),
        ("c3.ad.position", "Overlay", "Overlay"),  # unknown: as sent
        ("c3.ad.sequence", "02", "2"),
        ("c3.ad.sequence", "first", "first"),
    ],
)
def test_ad_positions_and_sequences_are_normalised(key: str, sent: str, stored: str) -> None:
    (start,) = [e for e in events_of(decode(ad_heartbeat(0, 0, tags={**AD_TAGS, key: sent}))) if isinstance(e, Start)]
    dimension = conviva.AD_TAG_DIMENSIONS[key]
    assert start.metadata[dimension] == stored
    assert key not in start.metadata


def test_an_unknown_duration_leaves_the_planned_duration_unknown() -> None:
    body = json.loads(ad_heartbeat(0, 0))
    del body["cl"]
    (start,) = [e for e in events_of(decode(json.dumps(body).encode())) if isinstance(e, Start)]
    assert "ad_planned_duration" not in start.metadata
    assert start.content.length_ms == 0


@pytest.mark.parametrize(
    "fields",
    [
        {"tags": {k: v for k, v in AD_TAGS.items() if k != "c3.csid"}},
        {"tags": {**AD_TAGS, "c3.csid": "abc"}},
        {"tags": {**AD_TAGS, "c3.csid": "2147483648"}},  # not a signed 32-bit sid
        {"tags": {**AD_TAGS, "c3.csid": "0042"}},  # not the read API's spelling of any sid
        {"tags": {**AD_TAGS, "c3.csid": str(AD_SID)}},  # the ad itself
        {"clid": "0"},  # its content session's client id is unknown
    ],
    ids=["no-csid", "not-a-number", "out-of-range", "not-canonical", "itself", "client-id-zero"],
)
def test_an_ad_that_names_no_content_session_is_dropped(fields: dict[str, Any]) -> None:
    decoded = decode(ad_heartbeat(0, 0, [FIRST_CHANGE], **fields), clid="11.22.33.44")
    assert decoded.kind == "ad"
    assert decoded.batch.events == []
    assert decoded.batch.claims == []
    assert decoded.assigned_client_id is None  # the SDK would re-key its content session with one


def test_a_content_session_never_names_a_content_session() -> None:
    tags = {"c3.csid": "7", "content_session_id": "7", "tier": "gold"}
    body = ad_heartbeat(0, 0, [{"new": {"tags": tags}, "t": "CwsStateChangeEvent", "st": 0, "seq": 0}], tags=tags)
    content = json.loads(body)
    del content["ad"]
    got = events_of(decode(json.dumps(content).encode()))
    assert [e.metadata for e in got if isinstance(e, MetadataUpdate | Start)] == [
        {"tier": "gold"},
        {"player_name": "AccPlayer", "tier": "gold"},
    ]
    assert decode(json.dumps(content).encode()).kind == "content"


# -- over HTTP ----------------------------------------------------------------------------------------

GATEWAY = "/0/wsg"


def _hb(creds: Credentials, sid: int, seq: int, st_ms: int, evs: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "t": "CwsSessionHb", "cid": creds.account.ingest_key, "clid": CLID, "sid": sid, "seq": seq, "sf": 7,
        "sst": NOW_MS, "st": st_ms, "pn": "AccPlayer", "vid": "viewer-1", "lv": False, "evs": evs,
        "pm": {"dvb": "Acme", "dvma": "AcmeCorp", "dvm": "Box 3", "dvt": "Settop", "os": "LINUX", "osv": "6.1"},
        **fields,
    }  # fmt: skip
    return body


def _change(seq: int, st_ms: int, **new: Any) -> dict[str, Any]:
    return {"t": "CwsStateChangeEvent", "st": st_ms, "seq": seq, "new": new}


def _end(seq: int, st_ms: int) -> dict[str, Any]:
    return {"t": "CwsSessionEndEvent", "st": st_ms, "seq": seq}


def test_an_ad_heartbeat_is_an_ad_session_and_never_content(
    client: httpx.Client, store: SqliteStore, clock: FakeClock
) -> None:
    """A content session (sid 42) and its pre-roll (sid 43, tags naming 42), posted as the SDK
    does: the ad endpoint serves the ad with its dimensions, the content endpoint only the content."""
    creds = add_account(store, "ads", ad_insights=True)
    tags = {"c3.ad.id": "ad-1", "c3.ad.position": "PREROLL", "c3.ad.sequence": "1", "c3.csid": "42"}
    ad = {"an": "ad-1", "cl": 10, "tags": tags, "ad": True}
    content = {"an": "Film", "cl": 600, "tags": {"tier": "gold"}}
    posts = [
        (0, _hb(creds, 42, 0, 0, [_change(0, 0, an="Film")], ps=100, **content)),
        (0, _hb(creds, 43, 0, 0, [_change(0, 0, an="ad-1")], ps=100, **ad)),
        (2000, _hb(creds, 43, 1, 2000, [_change(1, 500, ps=3), _change(2, 2000, ps=1), _end(3, 2000)], ps=1, **ad)),
        (
            3000,
            _hb(creds, 42, 1, 3000, [_change(1, 2500, ps=3), _change(2, 3000, ps=1), _end(3, 3000)], ps=1, **content),
        ),
    ]
    for at_ms, body in posts:
        clock.advance((NOW_MS + at_ms - clock.now_ms()) / 1000)
        assert client.post(GATEWAY, json=body).status_code == 200
    clock.advance(1)
    (served_ad,) = client.get(AD_PATH, auth=creds.auth).json()["sessions"]
    (served_content,) = client.get(PATH, auth=creds.auth, params={"limit": 100}).json()["sessions"]
    assert served_content["session_id"] == "42"
    assert served_content["tags"]["selected_dimensions"]["content_session_id"] == ""
    assert served_ad["session_id"] == "43"
    assert served_ad["client_id"] == served_content["client_id"] == CLID
    dims = served_ad["tags"]["selected_dimensions"]
    assert {
        k: dims[k] for k in ("content_session_id", "ad_id", "ad_position", "ad_sequence", "ad_planned_duration")
    } == {
        "content_session_id": "42",
        "ad_id": "ad-1",
        "ad_position": "Pre-roll",
        "ad_sequence": "1",
        "ad_planned_duration": "10",
    }
    assert served_ad["tags"]["custom_tags"] == {}
    assert served_ad["status_info"]["ended_status"] == "By Player"
    assert served_ad["lifetime_metrics"]["video_start_time_ms"] == 500
    assert served_ad["lifetime_metrics"]["playing_time_ms"] == 1500
    metrics = client.get("/metrics").text
    assert 'reelsight_ingest_requests_total{outcome="ad",protocol="conviva"} 2.0' in metrics
    assert 'reelsight_ingest_requests_total{outcome="content",protocol="conviva"} 2.0' in metrics
