"""Generated ad sessions: the store's contract (a content session of the same client, inside its time
span, ``ad_*`` dimensions filled) and the metric rules for ads (docs/metrics.md)."""

from __future__ import annotations

from collections import defaultdict
from itertools import pairwise

import pytest

from reelsight.generate.ads import MIDROLL, POSTROLL, PREROLL
from reelsight.generate.sessions import generate_sessions
from reelsight.sessions.document import AD_DIMENSION_KEYS, SessionDocument

END_MS = 1_700_000_000_000
DAY_MS = 86_400_000
AD_KEYS = AD_DIMENSION_KEYS


def _dims(doc: SessionDocument) -> dict[str, str]:
    return {key: getattr(doc.tags.selected_dimensions, key) for key in (*AD_KEYS, "content_session_id")}


def _is_ad(doc: SessionDocument) -> bool:
    return bool(doc.tags.selected_dimensions.content_session_id)


def _span(doc: SessionDocument) -> int:
    return doc.timestamps.end.epoch_ms - doc.timestamps.start.epoch_ms


@pytest.fixture(scope="module")
def docs() -> list[SessionDocument]:
    return list(generate_sessions(20_000, seed=5, end_ms=END_MS))


@pytest.fixture(scope="module")
def ads_of(docs: list[SessionDocument]) -> dict[tuple[str, str], list[SessionDocument]]:
    """Ad sessions by (client_id, content session_id), in start order."""
    found: dict[tuple[str, str], list[SessionDocument]] = defaultdict(list)
    for doc in docs:
        if _is_ad(doc):
            found[doc.client_id, doc.tags.selected_dimensions.content_session_id].append(doc)
    for ads in found.values():
        ads.sort(key=lambda d: d.timestamps.start.epoch_ms)
    return found


def test_ad_load_is_about_half_an_ad_per_content_session(docs: list[SessionDocument]) -> None:
    ads = [d for d in docs if _is_ad(d)]
    assert len(docs) - len(ads) == 20_000
    assert 0.3 < len(ads) / 20_000 < 0.6
    positions = {d.tags.selected_dimensions.ad_position for d in ads}
    assert positions == {PREROLL, MIDROLL, POSTROLL}


def test_ads_parameter_scales_the_ad_load() -> None:
    def ad_count(ads: float) -> int:
        return sum(_is_ad(d) for d in generate_sessions(3000, seed=9, end_ms=END_MS, ads=ads))

    assert ad_count(0.0) == 0
    assert ad_count(0.5) < ad_count(1.0) < ad_count(2.0)
    with pytest.raises(ValueError, match="ads"):
        generate_sessions(10, end_ms=END_MS, ads=-1)


def test_without_ads_every_document_is_a_content_session_without_ad_dimensions() -> None:
    docs = list(generate_sessions(2000, seed=9, end_ms=END_MS, ads=0.0))
    assert len(docs) == 2000
    assert all(set(_dims(d).values()) == {""} for d in docs)
    assert {d.tags.custom_tags["has_preroll"] for d in docs} == {"false"}


def test_every_ad_plays_inside_a_content_session_of_its_client(
    docs: list[SessionDocument], ads_of: dict[tuple[str, str], list[SessionDocument]]
) -> None:
    content = {(d.client_id, d.session_id): d for d in docs if not _is_ad(d)}
    assert ads_of
    for key, ads in ads_of.items():
        parent = content[key]  # the content session is in the output, with that client and session id
        for ad in ads:
            assert ad.conviva_session_id == f"{ad.client_id}.{ad.session_id}" != parent.conviva_session_id
            assert parent.timestamps.start.epoch_ms <= ad.timestamps.start.epoch_ms
            assert ad.timestamps.end.epoch_ms <= parent.timestamps.end.epoch_ms
            assert ad.viewer_id == parent.viewer_id
            assert ad.device_info == parent.device_info
            assert ad.geo_info == parent.geo_info
            assert ad.network_info.ip == parent.network_info.ip
            assert ad.network_info.asn == parent.network_info.asn
        # Ads of one content session never overlap.
        for earlier, later in pairwise(ads):
            assert earlier.timestamps.end.epoch_ms <= later.timestamps.start.epoch_ms


def test_ad_dimensions_are_filled_and_content_sessions_leave_them_empty(docs: list[SessionDocument]) -> None:
    for doc in docs:
        dims = _dims(doc)
        if not _is_ad(doc):
            assert set(dims.values()) == {""}, doc.conviva_session_id
            continue
        assert all(dims[k] for k in AD_KEYS if k != "ad_media_file_api_framework"), dims
        assert dims["ad_position"] in (PREROLL, MIDROLL, POSTROLL)
        assert dims["ad_sequence"] in ("1", "2", "3")
        assert dims["ad_planned_duration"].isdigit()
        assert dims["ad_media_file_api_framework"] in ("", "VPAID", "OMID")
        assert dims["ad_technology"] in ("Client Side", "Server Side")
        assert doc.content_info.length_ms == int(dims["ad_planned_duration"]) * 1000
        assert doc.tags.selected_dimensions.video_asset_name == doc.content_info.asset
    frameworks = {_dims(d)["ad_media_file_api_framework"] for d in docs if _is_ad(d)}
    assert frameworks == {"", "VPAID", "OMID"}


def test_sequences_number_the_ads_of_each_break(ads_of: dict[tuple[str, str], list[SessionDocument]]) -> None:
    for ads in ads_of.values():
        sequences = [d.tags.selected_dimensions.ad_sequence for d in ads]
        positions = [d.tags.selected_dimensions.ad_position for d in ads]
        for i, (sequence, position) in enumerate(zip(sequences, positions, strict=True)):
            if sequence != "1" and (i == 0 or positions[i - 1] != position):
                # Only a break cut by the span's start loses its first ads.
                assert ads[0].timestamps.end.epoch_ms < END_MS - 30 * DAY_MS
            if i and sequence != "1":
                assert int(sequence) == int(sequences[i - 1]) + 1
    assert any(len(ads) >= 3 for ads in ads_of.values())


def test_ad_time_is_neither_start_up_nor_playing_time_of_the_content(
    docs: list[SessionDocument], ads_of: dict[tuple[str, str], list[SessionDocument]]
) -> None:
    checked = {PREROLL: 0, MIDROLL: 0, POSTROLL: 0}
    for parent in docs:
        ads = ads_of.get((parent.client_id, parent.session_id))
        m = parent.lifetime_metrics
        if not ads or m.video_start_time_ms < 0:
            continue
        start = parent.timestamps.start.epoch_ms
        content_ms = m.video_start_time_ms + m.playing_time_ms + m.rebuffering_time_ms + m.paused_time_ms
        # The session lasts at least its ads plus its own start-up, playing, stalls and pauses.
        assert _span(parent) >= sum(_span(a) for a in ads) + content_ms
        prerolls = [a for a in ads if a.tags.selected_dimensions.ad_position == PREROLL]
        preroll_end = max((a.timestamps.end.epoch_ms for a in prerolls), default=start)
        join_at_earliest = preroll_end + m.video_start_time_ms  # start-up begins after the pre-roll
        for ad in ads:
            position = ad.tags.selected_dimensions.ad_position
            checked[position] += 1
            if position == MIDROLL:
                assert ad.timestamps.start.epoch_ms >= join_at_earliest
            elif position == POSTROLL:
                assert ad.timestamps.start.epoch_ms >= join_at_earliest + m.playing_time_ms
        if prerolls:
            assert parent.tags.custom_tags["has_preroll"] == "true"
            planned = sum(int(a.tags.selected_dimensions.ad_planned_duration) for a in prerolls)
            assert int(parent.tags.custom_tags["ad_break_duration"]) >= planned
    assert min(checked.values()) > 50, checked


def test_has_preroll_tags_the_content_sessions_with_a_preroll(
    docs: list[SessionDocument], ads_of: dict[tuple[str, str], list[SessionDocument]]
) -> None:
    for doc in docs:
        if _is_ad(doc) or doc.timestamps.start.epoch_ms < END_MS - 31 * DAY_MS:
            continue
        ads = ads_of.get((doc.client_id, doc.session_id), [])
        has_preroll = any(a.tags.selected_dimensions.ad_position == PREROLL for a in ads)
        assert doc.tags.custom_tags["has_preroll"] == ("true" if has_preroll else "false")


def test_viewers_leave_during_prerolls(
    docs: list[SessionDocument], ads_of: dict[tuple[str, str], list[SessionDocument]]
) -> None:
    """An exit before video start with a pre-roll: the viewer left during the ads, never saw content."""
    left = [d for d in docs if d.status_info.is_exit_before_video_start and (d.client_id, d.session_id) in ads_of]
    assert left
    for parent in left:
        ads = ads_of[parent.client_id, parent.session_id]
        assert {a.tags.selected_dimensions.ad_position for a in ads} == {PREROLL}
        assert parent.tags.custom_tags["has_preroll"] == "true"
    cut_short = [
        a
        for parent in left
        for a in ads_of[parent.client_id, parent.session_id]
        if a.lifetime_metrics.average_percentage_complete < 100
    ]
    assert cut_short


def test_ad_sessions_have_their_own_outcomes(docs: list[SessionDocument]) -> None:
    ads = [d for d in docs if _is_ad(d)]
    played = [a for a in ads if a.lifetime_metrics.video_start_time_ms >= 0]
    for ad in played:
        m = ad.lifetime_metrics
        planned_ms = ad.content_info.length_ms
        assert 300 <= m.video_start_time_ms <= 6000
        assert m.playing_time_ms <= planned_ms
        assert m.average_percentage_complete == round(min(100.0, 100 * m.playing_time_ms / planned_ms), 2)
        assert m.average_peak_bitrate_bps > 0
    nearly_complete = [a for a in played if a.lifetime_metrics.playing_time_ms >= a.content_info.length_ms - 300]
    # Skipped: a client-side ad of 30 s or more left after its first five seconds.
    skipped = [
        a
        for a in played
        if a.tags.selected_dimensions.ad_technology == "Client Side"
        and a.content_info.length_ms >= 30_000
        and 5000 <= a.lifetime_metrics.playing_time_ms < 0.9 * a.content_info.length_ms
        and not a.status_info.is_video_playback_failure
    ]
    assert len(nearly_complete) > 0.7 * len(played)
    assert len(skipped) > 0.05 * len(played)
    assert any(a.lifetime_metrics.rebuffering_time_ms > 0 for a in played)
    start_failures = [a for a in ads if a.status_info.is_video_start_failure]
    assert 0.005 < len(start_failures) / len(ads) < 0.05
    for ad in start_failures:
        assert ad.status_info.is_video_start_failure_tech
        assert [e.is_fatal for e in ad.status_info.errors] == [True]
        assert ad.status_info.errors[0].epoch_ms == ad.timestamps.end.epoch_ms
    assert any(a.status_info.is_video_playback_failure for a in ads)


def test_server_side_ads_play_in_the_content_stream(
    docs: list[SessionDocument], ads_of: dict[tuple[str, str], list[SessionDocument]]
) -> None:
    content = {(d.client_id, d.session_id): d for d in docs if not _is_ad(d)}
    kinds = set()
    for key, ads in ads_of.items():
        for ad in ads:
            server_side = ad.tags.selected_dimensions.ad_technology == "Server Side"
            kinds.add(server_side)
            assert (ad.content_info.stream_url == content[key].content_info.stream_url) == server_side
            if server_side:
                assert ad.network_info == content[key].network_info
    assert kinds == {True, False}
    live_ads = [a for k, ads in ads_of.items() if content[k].content_info.category == "Live" for a in ads]
    assert live_ads
    assert all(a.tags.selected_dimensions.ad_technology == "Server Side" for a in live_ads)
