"""Ad breaks and ad sessions through the native protocol, over HTTP against a real server, on both
stores: the content session's metrics leave the ad time out, each ad is an ad session of its own
served by the ad endpoint only, and bad ad events are refused alone."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from reelsight.store.base import Store
from tests.conftest import NOW_MS, PATH, Credentials, add_account
from tests.test_ingest_http import INGEST, batch, ev

AD_PATH = "/insights/3.0/sessions/ad"
CONTENT_ID = "5150"


@pytest.fixture
def media(store: Store) -> Credentials:
    return add_account(store, "media", ad_insights=True, viewer_module=True)


def wait_for(client: httpx.Client, creds: Credentials, path: str, n: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 5
    while True:
        sessions: list[dict[str, Any]] = client.get(path, auth=creds.auth).json()["sessions"]
        if len(sessions) >= n or time.monotonic() > deadline:
            return sessions
        time.sleep(0.05)


def content_with_breaks(t0: int) -> list[dict[str, Any]]:
    """Pre-roll 100..15100 holding ad 901; playing 16000..76000; mid-roll 76000..96000 holding ads
    902 (skipped) and 903 (fails); playing 96000..156000; end."""
    c = CONTENT_ID
    return [
        ev("start", 0, t0, c, client_id="", content={"asset": "Film", "is_live": False, "length_ms": 1_200_000},
           viewer_id="v-9", metadata={"player_name": "Web"}),
        ev("ad_break_start", 1, t0 + 100, c, client_id="", position="pre"),
        ev("ad_break_end", 2, t0 + 15_100, c, client_id=""),
        ev("state", 3, t0 + 15_200, c, client_id="", state="buffering"),
        ev("state", 4, t0 + 16_000, c, client_id="", state="playing"),
        ev("ad_break_start", 5, t0 + 76_000, c, client_id="", position="mid"),
        ev("ad_break_end", 6, t0 + 96_000, c, client_id=""),
        ev("end", 7, t0 + 156_000, c, client_id=""),
    ]  # fmt: skip


def ad(session_id: str, t0: int, *, position: str, sequence: int, outcome: str) -> list[dict[str, Any]]:
    info = {
        "ad_id": f"ad-{session_id}",
        "creative_id": f"cr-{session_id}",
        "system": "Google Ad Manager",
        "technology": "Client Side",
        "position": position,
        "sequence": sequence,
        "planned_duration_ms": 15_000,
    }
    events = [
        ev("ad_start", 0, t0, session_id, client_id="", content_session_id=CONTENT_ID, ad=info, viewer_id="v-9",
           content={"asset": f"Spot {session_id}", "stream_url": "https://ads.example.com/spot.mp4"}),
        ev("state", 1, t0 + 400, session_id, client_id="", state="buffering"),
    ]  # fmt: skip
    if outcome == "fails":
        events += [
            ev("ad_error", 2, t0 + 2400, session_id, client_id="", message="VAST timeout", fatal=True),
            ev("ad_end", 3, t0 + 2400, session_id, client_id=""),
        ]
    else:
        events += [
            ev("state", 2, t0 + 900, session_id, client_id="", state="playing"),
            ev("ad_skip" if outcome == "skipped" else "ad_end", 3, t0 + 900 + 14_000, session_id, client_id=""),
        ]
    return events


@pytest.mark.all_backends
def test_ad_breaks_and_ad_sessions_through_the_native_protocol(client: httpx.Client, media: Credentials) -> None:
    t0 = NOW_MS - 300_000
    events = content_with_breaks(t0)
    events += ad("901", t0 + 100, position="pre", sequence=1, outcome="played")
    events += ad("902", t0 + 76_000, position="mid", sequence=1, outcome="skipped")
    events += ad("903", t0 + 91_000, position="mid", sequence=2, outcome="fails")
    r = client.post(INGEST, json=batch(media, events))
    assert r.status_code == 202, r.text
    assert {x["status"] for x in r.json()["results"]} == {"accepted"}
    client_ids = r.json()["client_ids"]
    # Every ad session shares the client id assigned to its content session in the same batch.
    assert set(client_ids) == {CONTENT_ID, "901", "902", "903"}
    assert len(set(client_ids.values())) == 1

    (content,) = wait_for(client, media, PATH, 1)
    assert content["session_id"] == CONTENT_ID
    m = content["lifetime_metrics"]
    # Start-up: 0..100 before the pre-roll + 15100..16000 after it; the breaks count in no total.
    assert m["video_start_time_ms"] == 100 + 900
    assert m["playing_time_ms"] == 60_000 + 60_000
    assert m["paused_time_ms"] == 0
    assert m["rebuffering_time_ms"] == 0
    assert content["tags"]["selected_dimensions"]["content_session_id"] == ""

    ads = {s["session_id"]: s for s in wait_for(client, media, AD_PATH, 3)}
    assert set(ads) == {"901", "902", "903"}
    for s in ads.values():
        dims = s["tags"]["selected_dimensions"]
        assert dims["content_session_id"] == CONTENT_ID
        assert s["client_id"] == content["client_id"]
        assert s["viewer_id"] == "v-9"
        assert dims["ad_system"] == "Google Ad Manager"
        assert dims["ad_planned_duration"] == "15"
        assert s["content_info"]["category"] == "VoD"
        assert s["content_info"]["length_ms"] == 15_000
    played, skipped, failed = ads["901"], ads["902"], ads["903"]
    assert played["tags"]["selected_dimensions"]["ad_position"] == "Pre-roll"
    assert played["lifetime_metrics"]["video_start_time_ms"] == 900
    assert played["lifetime_metrics"]["playing_time_ms"] == 14_000
    assert played["lifetime_metrics"]["average_percentage_complete"] == round(100 * 14_000 / 15_000, 2)
    assert played["tags"]["custom_tags"] == {}
    assert skipped["tags"]["selected_dimensions"]["ad_position"] == "Mid-roll"
    assert skipped["tags"]["custom_tags"] == {"ad_skipped": "true"}
    assert failed["tags"]["selected_dimensions"]["ad_sequence"] == "2"
    assert failed["status_info"]["is_video_start_failure"] is True
    assert failed["status_info"]["errors"][0]["message"] == "VAST timeout"
    # The ad endpoint filters on the ad dimensions; the content endpoint never lists an ad.
    only = client.get(AD_PATH, auth=media.auth, params={"ad_position": "Mid-roll", "ad_sequence": "2"}).json()
    assert [s["session_id"] for s in only["sessions"]] == ["903"]
    assert [s["session_id"] for s in client.get(PATH, auth=media.auth).json()["sessions"]] == [CONTENT_ID]


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"content_session_id": ""}, "content_session_id"),
        ({"content_session_id": "12x"}, "content_session_id"),
        ({"content_session_id": "77"}, "must differ"),
        ({"content_session_id": "5", "ad": {"sequence": -1}}, "ad.sequence"),
        ({"content_session_id": "5", "ad": {"planned_duration_ms": 10**12}}, "planned_duration_ms"),
        ({"content_session_id": "5", "ad": {"system": "x" * 300}}, "ad.system"),
        ({"content_session_id": "5", "ad": {"position": "sideways"}}, "position"),
        ({"content_session_id": "5", "ad": {"colour": "red"}}, "colour"),
    ],
)
def test_a_bad_ad_start_is_rejected_alone(
    client: httpx.Client, media: Credentials, fields: dict[str, Any], reason: str
) -> None:
    events = [ev("start", 0, NOW_MS - 1000, "5"), ev("ad_start", 0, NOW_MS - 900, "77", **fields)]
    r = client.post(INGEST, json=batch(media, events))
    assert r.status_code == 202, r.text
    first, second = r.json()["results"]
    assert first["status"] == "accepted"
    assert second["status"] == "rejected"
    assert reason in second["reason"]


@pytest.mark.parametrize("kind", ["start", "metadata"])
def test_only_an_ad_start_makes_an_ad_session(client: httpx.Client, media: Credentials, kind: str) -> None:
    fields: dict[str, Any] = {"metadata": {"content_session_id": "5"}}
    events = [ev("start", 0, NOW_MS - 1000, "6"), ev(kind, 1, NOW_MS - 900, "6", **fields)]
    results = client.post(INGEST, json=batch(media, events)).json()["results"]
    assert results[1]["status"] == "rejected"
    assert "content_session_id" in results[1]["reason"]


def test_an_ad_start_without_client_id_needs_its_content_start_in_the_batch(
    client: httpx.Client, media: Credentials
) -> None:
    events = [
        {k: v for k, v in ev("ad_start", 0, NOW_MS - 900, "78", content_session_id="5").items() if k != "client_id"}
    ]
    r = client.post(INGEST, json=batch(media, events))
    assert r.status_code == 400
    assert "client_id is required" in r.text
