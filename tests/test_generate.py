"""The synthetic session generator: deterministic, valid, within its span, and plausibly mixed.

The rules here hold for every document, content and ad sessions alike, unless a test says it is about
content sessions; ``test_generate_ads.py`` and ``test_generate_viewers.py`` test ads and viewers."""

from __future__ import annotations

from collections import Counter

import pytest

from reelsight.generate.sessions import (
    BUSINESS_SHARE,
    EBVS_SHARE,
    EXPIRED_SHARE,
    HOUR_MS,
    PLAYBACK_FAILURE_SHARE,
    START_FAILURE_SHARE,
    encode_jsonl,
    generate_sessions,
)
from reelsight.sessions.document import (
    EPOCH_MS_MIN,
    RATIO_FIELDS,
    SessionDocument,
    decode_document,
    validate,
)

END_MS = 1_700_000_000_000  # 2023-11-14T22:13:20Z
DAY_MS = 86_400_000


@pytest.fixture(scope="module")
def docs() -> list[SessionDocument]:
    return list(generate_sessions(20_000, seed=42, end_ms=END_MS))


@pytest.fixture(scope="module")
def content(docs: list[SessionDocument]) -> list[SessionDocument]:
    return [d for d in docs if not _is_ad(d)]


def _is_ad(doc: SessionDocument) -> bool:
    return bool(doc.tags.selected_dimensions.content_session_id)


def _joined(doc: SessionDocument) -> bool:
    return doc.lifetime_metrics.video_start_time_ms != -3000


def test_same_seed_gives_identical_documents() -> None:
    first = list(generate_sessions(500, seed=7, end_ms=END_MS))
    second = list(generate_sessions(500, seed=7, end_ms=END_MS))
    assert first == second
    assert list(encode_jsonl(first)) == list(encode_jsonl(second))


def test_different_seeds_give_different_documents() -> None:
    first = list(generate_sessions(200, seed=1, end_ms=END_MS))
    second = list(generate_sessions(200, seed=2, end_ms=END_MS))
    assert {d.conviva_session_id for d in first}.isdisjoint(d.conviva_session_id for d in second)
    assert [d.timestamps.end.epoch_ms for d in first] != [d.timestamps.end.epoch_ms for d in second]


def test_every_document_passes_validation_unchanged(docs: list[SessionDocument]) -> None:
    for doc in docs[:5000]:
        assert validate(doc) == doc
        for name in RATIO_FIELDS:
            assert type(getattr(doc.lifetime_metrics, name)) is float, name


def test_encoded_lines_decode_back_to_the_same_documents(docs: list[SessionDocument]) -> None:
    lines = list(encode_jsonl(docs[:1000]))
    assert all(line.endswith(b"\n") and line.count(b"\n") == 1 for line in lines)
    assert [decode_document(line) for line in lines] == docs[:1000]


def test_end_times_lie_in_a_31_day_span(docs: list[SessionDocument]) -> None:
    span_start = END_MS - 31 * DAY_MS
    ends = [d.timestamps.end.epoch_ms for d in docs]
    assert all(span_start <= end < END_MS for end in ends)
    # The whole span is used, not just a corner of it.
    assert min(ends) < span_start + DAY_MS
    assert max(ends) > END_MS - DAY_MS
    assert all(EPOCH_MS_MIN <= d.timestamps.start.epoch_ms <= d.timestamps.end.epoch_ms for d in docs)


def test_end_times_lie_in_a_three_hour_span() -> None:
    span_ms = 3 * HOUR_MS
    end_ms = END_MS + 12_345  # not on an hour boundary
    docs = list(generate_sessions(3000, seed=3, end_ms=end_ms, span_ms=span_ms))
    assert sum(not _is_ad(d) for d in docs) == 3000
    assert all(end_ms - span_ms <= d.timestamps.end.epoch_ms < end_ms for d in docs)


def test_conviva_session_ids_are_unique_and_well_formed(docs: list[SessionDocument]) -> None:
    ids = [d.conviva_session_id for d in docs]
    assert len(set(ids)) == len(ids)
    assert all(d.conviva_session_id == f"{d.client_id}.{d.session_id}" for d in docs)


def test_devices_recur_with_a_stable_viewer(docs: list[SessionDocument]) -> None:
    per_client = Counter(d.client_id for d in docs)
    assert per_client.most_common(1)[0][1] >= 10
    assert len(per_client) > 1000
    viewer_of: dict[str, str] = {}
    for doc in docs:
        assert isinstance(doc.viewer_id, str)
        assert doc.viewer_id.startswith("viewer-")
        assert viewer_of.setdefault(doc.client_id, doc.viewer_id) == doc.viewer_id


def test_outcome_mix_of_content_sessions_is_within_tolerance(content: list[SessionDocument]) -> None:
    docs = content
    n = len(docs)
    ebvs = sum(d.status_info.is_exit_before_video_start for d in docs) / n
    start_failures = [d for d in docs if d.status_info.is_video_start_failure]
    playback_failures = [d for d in docs if d.status_info.is_video_playback_failure]
    expired = sum(d.status_info.ended_status == "By Expiration" for d in docs) / n
    assert abs(ebvs - EBVS_SHARE) < 0.006
    assert abs(len(start_failures) / n - START_FAILURE_SHARE) < 0.004
    assert abs(len(playback_failures) / n - PLAYBACK_FAILURE_SHARE) < 0.003
    assert abs(expired - EXPIRED_SHARE) < 0.012
    failures = start_failures + playback_failures
    business = sum(
        d.status_info.is_video_start_failure_business or d.status_info.is_video_playback_failure_business
        for d in failures
    )
    assert abs(business / len(failures) - BUSINESS_SHARE) < 0.1
    assert all(d.status_info.is_ended for d in docs)


def test_exactly_one_of_start_failure_exit_or_joined(docs: list[SessionDocument]) -> None:
    for doc in docs:
        status = doc.status_info
        outcomes = [status.is_video_start_failure, status.is_exit_before_video_start, _joined(doc)]
        assert outcomes.count(True) == 1, doc.conviva_session_id
        if status.is_video_playback_failure:
            assert _joined(doc)
        fatal = [e for e in status.errors if e.is_fatal]
        assert bool(fatal) == (status.is_video_start_failure or status.is_video_playback_failure)
        for kind in ("start", "playback"):
            if getattr(status, f"is_video_{kind}_failure"):
                business = getattr(status, f"is_video_{kind}_failure_business")
                assert business != getattr(status, f"is_video_{kind}_failure_tech")
                messages = " ".join(e.message.lower() for e in fatal)
                is_business_message = any(p in messages for p in ("geo-blocked", "entitlement", "concurrent stream"))
                assert is_business_message == business


def test_not_joined_sessions_have_empty_metrics(docs: list[SessionDocument]) -> None:
    for doc in docs:
        m = doc.lifetime_metrics
        if _joined(doc):
            assert 300 <= m.video_start_time_ms <= 8000
            assert m.playing_time_ms > 0
            assert m.average_peak_bitrate_bps > 0
            assert m.average_framerate_fps > 0
        else:
            assert m.playing_time_ms == 0
            assert m.rebuffering_time_ms == m.paused_time_ms == m.bitrate_switches_count == 0
            assert m.average_peak_bitrate_bps == m.average_framerate_fps == 0
            assert m.rebuffering_ratio_percent == m.paused_ratio_percent == 0
            assert m.last_play_head_time_ms in (-1, 0)


def test_errors_happen_during_the_session(docs: list[SessionDocument]) -> None:
    with_errors = [d for d in docs if d.status_info.errors]
    assert with_errors
    for doc in with_errors:
        times = [e.epoch_ms for e in doc.status_info.errors]
        assert times == sorted(times)
        assert all(doc.timestamps.start.epoch_ms <= t <= doc.timestamps.end.epoch_ms for t in times)


def test_traffic_follows_a_daily_curve(docs: list[SessionDocument]) -> None:
    by_hour = Counter((d.timestamps.end.epoch_ms // HOUR_MS) % 24 for d in docs)
    assert len(by_hour) == 24
    assert max(by_hour.values()) > 3 * min(by_hour.values())


def test_metric_formulas_hold(docs: list[SessionDocument]) -> None:
    for doc in docs:
        m = doc.lifetime_metrics
        watched = m.playing_time_ms + m.rebuffering_time_ms
        with_pauses = watched + m.paused_time_ms
        assert m.rebuffering_ratio_percent == (round(100 * m.rebuffering_time_ms / watched, 2) if watched else 0)
        assert m.connection_induced_rebuffering_ratio_percent == (
            round(100 * m.connection_induced_rebuffering_time_ms / watched, 2) if watched else 0
        )
        assert m.paused_ratio_percent == (round(100 * m.paused_time_ms / with_pauses, 2) if with_pauses else 0)
        assert 0 <= m.connection_induced_rebuffering_time_ms <= m.rebuffering_time_ms
        if doc.content_info.category == "Live":
            assert doc.content_info.length_ms == 0
            assert m.average_percentage_complete == 0
        else:
            assert doc.content_info.category == "VoD"
            expected = min(100.0, round(100 * m.playing_time_ms / doc.content_info.length_ms, 2))
            assert m.average_percentage_complete == expected
        duration = doc.timestamps.end.epoch_ms - doc.timestamps.start.epoch_ms
        assert duration >= max(0, m.video_start_time_ms) + with_pauses


def test_some_sessions_rebuffer_and_most_do_not(docs: list[SessionDocument]) -> None:
    joined = [d.lifetime_metrics for d in docs if _joined(d)]
    rebuffered = [m for m in joined if m.rebuffering_time_ms > 0]
    assert 0.02 < len(rebuffered) / len(joined) < 0.5
    assert any(m.rebuffering_ratio_percent > 10 for m in rebuffered)


def test_dimensions_agree_with_device_and_content(docs: list[SessionDocument]) -> None:
    for doc in docs:
        dims = doc.tags.selected_dimensions
        device = doc.device_info
        assert dims.device_name == device.name
        assert dims.device_os == device.os
        assert dims.device_os_family == device.os_family
        assert dims.device_os_version == device.os_version
        assert dims.browser_name == device.browser.name
        assert dims.browser_version == device.browser.version
        assert dims.content_category == doc.content_info.category
        assert all(isinstance(v, str) for v in doc.tags.custom_tags.values())
        assert {"subscription_tier", "experiment", "app_build"} <= doc.tags.custom_tags.keys()
        if not _is_ad(doc):
            assert "has_preroll" in doc.tags.custom_tags
            assert dims.video_asset_name == doc.content_info.asset
    native = [d for d in docs if d.device_info.browser.name == "Native App"]
    assert native
    assert all(d.device_info.browser.version == "Native App" for d in native)
    assert Counter(d.device_info.name for d in docs).most_common(1)[0][1] > len(docs) / 10


def test_geo_and_network_are_consistent(docs: list[SessionDocument]) -> None:
    for doc in docs:
        geo = doc.geo_info
        assert geo.city.endswith(", " + geo.state.name)
        assert geo.state.name.endswith(", " + geo.country.name)
        assert (geo.dma != "") == (geo.country.code == "US")
        asn = doc.network_info.asn
        assert asn.value.isdigit()
        assert asn.description.endswith(", " + geo.country.code)
        assert doc.network_info.ip.count(".") == 3
        assert doc.network_info.ipv6 in ("",) or doc.network_info.ipv6.startswith("2001:db8:")
        assert 0 <= len(doc.network_info.cdn) <= 2
    countries = Counter(d.geo_info.country.code for d in docs)
    assert countries.most_common(1)[0][0] == "US"
    assert len(countries) >= 8


@pytest.mark.parametrize(
    ("n", "end_ms", "span_ms"),
    [(-1, END_MS, HOUR_MS), (10, END_MS, 0), (10, EPOCH_MS_MIN + DAY_MS, HOUR_MS)],
)
def test_bad_arguments_are_refused(n: int, end_ms: int, span_ms: int) -> None:
    with pytest.raises(ValueError, match=r"."):
        generate_sessions(n, end_ms=end_ms, span_ms=span_ms)
