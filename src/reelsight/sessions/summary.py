"""An ended session's document: the timeline's state closed at the end, enriched, as the API serves it.

Pure: the caller passes the enrichment decided at start, the account's business rules, and how and
when the session ended. Rules: ``docs/metrics.md``.
"""

from __future__ import annotations

import msgspec

from reelsight.sessions import metrics
from reelsight.sessions.context import BusinessRules, DeviceFields, Enrichment
from reelsight.sessions.document import (
    SELECTED_DIMENSION_KEYS,
    Browser,
    ContentInfo,
    DeviceInfo,
    ErrorEvent,
    LifetimeMetrics,
    NetworkInfo,
    SelectedDimensions,
    SessionDocument,
    StatusInfo,
    Tags,
    Timestamp,
    Timestamps,
    iso_from_epoch_ms,
)
from reelsight.sessions.timeline import SessionState, advance

# What a native app (no browser) reports as its browser name and version.
NATIVE_APP = "Native App"
_SELECTED = frozenset(SELECTED_DIMENSION_KEYS)


def summarize(
    state: SessionState,
    *,
    client_id: str,
    session_id: str,
    enrichment: Enrichment,
    rules: BusinessRules,
    ended_status: str,
    end_ms: int,
) -> SessionDocument:
    """The session's document, with the current state interval closed at the end.

    ``end_ms`` is the End event's time for ``"By Player"`` and the last time heard from for
    ``"By Expiration"``. Once an End was applied the session closes at its time whatever ``end_ms``
    says; an ``end_ms`` before the last event applied is taken as that event's time. ``state`` is
    not changed.
    """
    closed = msgspec.structs.replace(state)  # a shallow copy: advance() only changes scalars
    close_ms = closed.last_ms if closed.ended else max(end_ms, closed.last_ms)
    if closed.start_ms is None:  # no event at all: an empty session at end_ms
        closed.start_ms = close_ms
        closed.last_ms = close_ms
    advance(closed, close_ms)
    start_ms = closed.start_ms
    category = metrics.content_category(closed.is_live)
    return SessionDocument(
        conviva_session_id=f"{client_id}.{session_id}",
        client_id=client_id,
        session_id=session_id,
        viewer_id=closed.viewer_id,
        timestamps=Timestamps(start=_timestamp(start_ms), end=_timestamp(close_ms)),
        status_info=_status_info(closed, rules, ended_status),
        lifetime_metrics=_lifetime_metrics(closed, start_ms),
        content_info=ContentInfo(
            asset=closed.asset, category=category, length_ms=closed.length_ms, stream_url=closed.stream_url
        ),
        device_info=_device_info(enrichment.device),
        geo_info=enrichment.geo,
        network_info=NetworkInfo(
            asn=enrichment.asn,
            cdn=list(closed.cdns),
            isp=enrichment.isp,
            last_cdn_edge_server=closed.last_cdn_edge_server,
            last_cdn_group_id=closed.last_cdn_group_id,
            ip=enrichment.ip,
            ipv6=enrichment.ipv6,
        ),
        tags=_tags(closed.metadata, enrichment.device, category),
    )


def _timestamp(epoch_ms: int) -> Timestamp:
    return Timestamp(epoch_ms=epoch_ms, iso_date=iso_from_epoch_ms(epoch_ms))


def _status_info(state: SessionState, rules: BusinessRules, ended_status: str) -> StatusInfo:
    start_failure = not state.joined and state.fatal_before_join
    playback_failure = state.joined and state.fatal_after_join
    start_business = start_failure and _any_business_fatal(state, rules, after_join=False)
    playback_business = playback_failure and _any_business_fatal(state, rules, after_join=True)
    return StatusInfo(
        is_ended=True,
        ended_status=ended_status,
        is_exit_before_video_start=not state.joined and not start_failure,
        is_video_start_failure=start_failure,
        is_video_start_failure_business=start_business,
        is_video_start_failure_tech=start_failure and not start_business,
        is_video_playback_failure=playback_failure,
        is_video_playback_failure_business=playback_business,
        is_video_playback_failure_tech=playback_failure and not playback_business,
        errors=[ErrorEvent(message=e.message, is_fatal=e.is_fatal, epoch_ms=e.epoch_ms) for e in state.errors],
    )


def _any_business_fatal(state: SessionState, rules: BusinessRules, *, after_join: bool) -> bool:
    return any(e.is_fatal and e.after_join == after_join and rules.is_business(e.message) for e in state.errors)


def _lifetime_metrics(state: SessionState, start_ms: int) -> LifetimeMetrics:
    playing_ms = state.playing_ms
    rebuffering_ms = state.rebuffering_ms
    connection_ms = rebuffering_ms - state.seek_rebuffering_ms
    watched_ms = playing_ms + rebuffering_ms
    return LifetimeMetrics(
        average_framerate_fps=metrics.weighted_mean(state.framerate_fps_ms_sum, state.framerate_weight_ms),
        average_peak_bitrate_bps=metrics.weighted_mean(state.bitrate_bps_ms_sum, state.bitrate_weight_ms),
        average_percentage_complete=metrics.percentage_complete(
            playing_ms=playing_ms, length_ms=state.length_ms, is_live=state.is_live
        ),
        bitrate_switches_count=state.bitrate_switches,
        connection_induced_rebuffering_ratio_percent=metrics.ratio_percent(connection_ms, watched_ms),
        connection_induced_rebuffering_time_ms=connection_ms,
        last_play_head_time_ms=state.play_head_ms,
        playing_time_ms=playing_ms,
        paused_ratio_percent=metrics.ratio_percent(state.paused_ms, watched_ms + state.paused_ms),
        paused_time_ms=state.paused_ms,
        rebuffering_ratio_percent=metrics.ratio_percent(rebuffering_ms, watched_ms),
        rebuffering_time_ms=rebuffering_ms,
        video_restart_time_ms=metrics.mean_ms(state.restart_total_ms, state.seeks_after_join),
        video_start_time_ms=metrics.video_start_time_ms(
            joined=state.joined,
            start_ms=start_ms,
            first_playing_ms=state.first_playing_ms,
            not_monitored_before_join_ms=state.not_monitored_before_join_ms,
        ),
    )


def _browser(device: DeviceFields) -> Browser:
    if not device.browser_name:
        return Browser(name=NATIVE_APP, version=NATIVE_APP)
    return Browser(name=device.browser_name, version=device.browser_version)


def _device_info(device: DeviceFields) -> DeviceInfo:
    return DeviceInfo(
        browser=_browser(device),
        name=device.name,
        os=device.os,
        os_family=device.os_family,
        os_version=device.os_version,
    )


def _tags(metadata: dict[str, str], device: DeviceFields, category: str) -> Tags:
    browser = _browser(device)
    # Derived from enrichment and content, whatever the metadata says (the filters match these fields).
    derived = {
        "browser_name": browser.name,
        "browser_version": browser.version,
        "content_category": category,
        "device_hardware_type": device.hardware_type,
        "device_manufacturer": device.manufacturer,
        "device_marketing_name": device.marketing_name,
        "device_model": device.model,
        "device_name": device.name,
        "device_os": device.os,
        "device_os_family": device.os_family,
        "device_os_version": device.os_version,
    }
    selected = {key: derived[key] if key in derived else metadata.get(key, "") for key in SELECTED_DIMENSION_KEYS}
    custom = {key: metadata[key] for key in sorted(metadata) if key not in _SELECTED}
    return Tags(selected_dimensions=SelectedDimensions(**selected), custom_tags=custom)
