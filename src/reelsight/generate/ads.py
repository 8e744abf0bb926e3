"""Ad breaks of one generated content session, and the ad session documents they become.

``AdPlanner`` decides whether a content session shows ads, where its breaks fall on its timeline
(pre-roll before start-up, mid-rolls at cue points it played past, a post-roll after the end), which
ads each break holds and how each played (start-up, playing time, skips, stalls, failures); then it
builds their documents: the content document's shape with ``ad_*`` and ``content_session_id`` filled.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from statistics import NormalDist

import msgspec

from reelsight.generate.catalogue import (
    AD_PLAYBACK_FAILURES,
    AD_START_FAILURES,
    AD_SYSTEMS,
    AdCreative,
    Asset,
    ad_creatives,
)
from reelsight.generate.population import Client, Weighted
from reelsight.ingest.events import AD_POSITION_NAMES, AdPosition
from reelsight.sessions.document import (
    ContentInfo,
    ErrorEvent,
    LifetimeMetrics,
    NetworkInfo,
    SessionDocument,
    StatusInfo,
    Tags,
    Timestamp,
    Timestamps,
)

PREROLL, MIDROLL, POSTROLL = (AD_POSITION_NAMES[p] for p in AdPosition)
MINUTE_MS = 60_000

# Share of sessions that show ads at all, by subscription tier (live content: half as many); the
# generator's ``ads`` multiplies it (at most every session of the tier). At ``ads=1.0`` this gives
# about 0.45 ad sessions per content session.
AD_SUPPORTED_SHARE: dict[str, float] = {"free": 0.55, "basic": 0.18, "premium": 0.0}
# In an ad-supported session: chance of a pre-roll break, on demand and live.
PREROLL_SHARE_VOD = 0.9
PREROLL_SHARE_LIVE = 0.6
# On-demand assets of at least MIDROLL_MIN_LENGTH_MS have a mid-roll cue every MIDROLL_SPACING_MS
# (evenly spaced); a session that plays past a cue shows a break there with MIDROLL_SHARE.
MIDROLL_MIN_LENGTH_MS = 40 * MINUTE_MS
MIDROLL_SPACING_MS = 30 * MINUTE_MS
MIDROLL_SHARE = 0.6
# Live: a chance of a break every LIVE_BREAK_EVERY_MS of playing.
LIVE_BREAK_EVERY_MS = 15 * MINUTE_MS
LIVE_BREAK_SHARE = 0.5
# On-demand sessions watched to the end: chance of a post-roll.
POSTROLL_SHARE = 0.25
PREROLL_PODS: tuple[tuple[int, float], ...] = ((1, 0.8), (2, 0.17), (3, 0.03))
MIDROLL_PODS: tuple[tuple[int, float], ...] = ((1, 0.45), (2, 0.4), (3, 0.15))
# Ad outcomes: the ad failed to start (the player moves on), failed while playing, or was skipped
# (skippable ads only); the rest play to the end.
AD_START_FAILURE_SHARE = 0.02
AD_PLAYBACK_FAILURE_SHARE = 0.005
AD_SKIP_SHARE = 0.3
AD_CDN = "AKAMAI"  # client-side creatives are fetched from the ad server's CDN

_EMPTY_METRICS = LifetimeMetrics(
    average_framerate_fps=0.0,
    average_peak_bitrate_bps=0.0,
    average_percentage_complete=0.0,
    bitrate_switches_count=0,
    connection_induced_rebuffering_ratio_percent=0.0,
    connection_induced_rebuffering_time_ms=0,
    last_play_head_time_ms=-1,
    playing_time_ms=0,
    paused_ratio_percent=0.0,
    paused_time_ms=0,
    rebuffering_ratio_percent=0.0,
    rebuffering_time_ms=0,
    video_restart_time_ms=0,
    video_start_time_ms=-3000,
)
# Standard normal quantiles: a cheaper draw than ``random.gauss`` for the many short ad sessions.
_NORMAL = tuple(NormalDist().inv_cdf((i + 0.5) / 1024) for i in range(1024))
GAP_MS = 120  # between two ads of a break


class AdPlay(msgspec.Struct, frozen=True, gc=False):
    """One ad as it played: its metrics, its wall-clock duration and how it ended."""

    creative: AdCreative
    sequence: int  # 1-based position in its break
    duration_ms: int
    metrics: LifetimeMetrics
    status: StatusInfo  # errors refer to the ad's end: see ``AdPlanner.documents``
    error: str = ""  # the fatal error's message, at the ad's end


class AdBreak(msgspec.Struct, frozen=True, gc=False):
    """A pod of ads: ``lead_ms`` (the ad request) before the first, ``GAP_MS`` after each."""

    position: str
    lead_ms: int
    ads: tuple[AdPlay, ...]
    duration_ms: int  # the whole break, lead and gaps included


def _status(
    *, exit_before_start: bool = False, start_failure: bool = False, playback_failure: bool = False
) -> StatusInfo:
    """An ended ad session's status without errors: ad failures are technical, never business."""
    return StatusInfo(
        is_ended=True,
        ended_status="By Player",
        is_exit_before_video_start=exit_before_start,
        is_video_start_failure=start_failure,
        is_video_start_failure_business=False,
        is_video_start_failure_tech=start_failure,
        is_video_playback_failure=playback_failure,
        is_video_playback_failure_business=False,
        is_video_playback_failure_tech=playback_failure,
        errors=[],
    )


# Shared by the documents of every ad without an error (nothing mutates a generated document).
_PLAYED = _status()
_EXITED = _status(exit_before_start=True)
_START_FAILED = _status(start_failure=True)
_PLAYBACK_FAILED = _status(playback_failure=True)


class AdPlanner:
    """The weighted ad tables of one generator run and its ad load (``ads`` scales the ad-supported share)."""

    def __init__(self, ads: float) -> None:
        creatives = ad_creatives()
        self._creatives = {
            system: Weighted((c, c.weight) for c in creatives if c.system == system) for system, *_ in AD_SYSTEMS
        }
        self._vod_systems = Weighted((s, vod) for s, _, vod, _ in AD_SYSTEMS)
        self._live_systems = Weighted((s, live) for s, _, _, live in AD_SYSTEMS)
        self._pods = {PREROLL: Weighted(PREROLL_PODS), MIDROLL: Weighted(MIDROLL_PODS), POSTROLL: Weighted(((1, 1.0),))}
        self._supported = {
            tier: (min(1.0, share * ads), min(1.0, share * ads * 0.5)) for tier, share in AD_SUPPORTED_SHARE.items()
        }
        self._cues: dict[str, tuple[int, ...]] = {}
        self._static_dims: dict[str, dict[str, str]] = {
            c.creative_id: {
                "ad_creative_id": c.creative_id,
                "ad_id": c.ad_id,
                "ad_media_file_api_framework": c.api_framework,
                "ad_planned_duration": str(c.duration_s),
                "ad_system": c.system,
                "ad_technology": c.technology,
                "content_category": "VoD",
                "video_asset_name": c.title,
            }
            for c in creatives
        }
        self._content_infos: dict[tuple[str, str], ContentInfo] = {}

    def system(self, rng: random.Random, tier: str, live: bool) -> str | None:
        """The ad server of an ad-supported session, or None when the session shows no ads."""
        on_demand, on_live = self._supported.get(tier, (0.0, 0.0))
        share = on_live if live else on_demand
        if not share or rng.random() >= share:
            return None
        return (self._live_systems if live else self._vod_systems).pick(rng)

    def wants_preroll(self, rng: random.Random, live: bool) -> bool:
        return rng.random() < (PREROLL_SHARE_LIVE if live else PREROLL_SHARE_VOD)

    def wants_postroll(self, rng: random.Random) -> bool:
        return rng.random() < POSTROLL_SHARE

    def midroll_points(self, rng: random.Random, asset: Asset, resume_ms: int, playing_ms: int) -> list[int]:
        """Offsets in playing time (ms after joining, not counting pauses or stalls) of the mid-roll breaks."""
        points: list[int] = []
        if asset.length_ms == 0:
            for at in range(LIVE_BREAK_EVERY_MS, playing_ms, LIVE_BREAK_EVERY_MS):
                if rng.random() < LIVE_BREAK_SHARE:
                    points.append(at)
            return points
        cues = self._cues.get(asset.name)
        if cues is None:
            cues = self._cues[asset.name] = _cues(asset.length_ms)
        for cue in cues:
            if resume_ms < cue < resume_ms + playing_ms and rng.random() < MIDROLL_SHARE:
                points.append(cue - resume_ms)
        return points

    def pod(
        self, rng: random.Random, position: str, system: str, client: Client, asset: Asset, budget_ms: int | None = None
    ) -> AdBreak:
        """A break of one to three ads. With ``budget_ms`` the viewer leaves that long after the break
        began: the ad playing then is cut short and the rest are never shown."""
        count = self._pods[position].pick(rng)
        lead_ms = 150 + int(rng.random() * 600)
        pick = self._creatives[system].pick
        total_ms = lead_ms
        plays: list[AdPlay] = []
        if budget_ms is None:
            for sequence in range(1, count + 1):
                play = _play(rng, pick(rng), sequence, client, asset, None)
                plays.append(play)
                total_ms += play.duration_ms + GAP_MS
        else:
            left = budget_ms - lead_ms
            for sequence in range(1, count + 1):
                if left <= 0:
                    break
                play = _play(rng, pick(rng), sequence, client, asset, left)
                plays.append(play)
                total_ms += play.duration_ms + GAP_MS
                left -= play.duration_ms + GAP_MS
        return AdBreak(position, lead_ms, tuple(plays), total_ms)

    def joined_breaks(
        self,
        rng: random.Random,
        breaks: list[tuple[int, AdBreak]],
        system: str,
        client: Client,
        asset: Asset,
        metrics: LifetimeMetrics,
        startup_ms: int,
        body_ms: int,
        resume_ms: int,
        failed: bool,
    ) -> int:
        """Append the breaks of a joined, ad-supported session to ``breaks``; return its duration.

        A pre-roll comes before the content's start-up (so it is not start-up time), mid-rolls during
        playback (counted in no metric), a post-roll after the content ended."""
        preroll_ms = 0
        if self.wants_preroll(rng, asset.is_live):
            preroll = self.pod(rng, PREROLL, system, client, asset)
            breaks.append((0, preroll))
            preroll_ms = preroll.duration_ms
        join_ms = preroll_ms + startup_ms
        playing_ms = metrics.playing_time_ms
        breaks_ms = 0  # mid-roll time so far: it pushes the rest of the content later
        for point_ms in self.midroll_points(rng, asset, resume_ms, playing_ms):
            midroll = self.pod(rng, MIDROLL, system, client, asset)
            breaks.append((join_ms + point_ms * body_ms // playing_ms + breaks_ms, midroll))
            breaks_ms += midroll.duration_ms
        watched_to_end = not asset.is_live and metrics.last_play_head_time_ms >= asset.length_ms * 0.98
        if watched_to_end and not failed and self.wants_postroll(rng):
            postroll = self.pod(rng, POSTROLL, system, client, asset)
            breaks.append((join_ms + body_ms + breaks_ms, postroll))
            breaks_ms += postroll.duration_ms
        return join_ms + body_ms + breaks_ms

    def documents(
        self,
        ad_break: AdBreak,
        start_ms: int,
        *,
        min_end_ms: int,
        content: SessionDocument,
        client: Client,
        next_session_id: Callable[[Client], str],
        iso: Callable[[int], str],
        custom_tags: dict[str, str],
    ) -> list[SessionDocument]:
        """The documents of a break that begins at ``start_ms``, numbered by ``next_session_id``; ads
        that end before ``min_end_ms`` (the generated span's start) are left out.

        An ad session has its content session's client, viewer, device, place and address; its
        dimensions are the content's with the ``ad_*`` ones, ``content_session_id`` and its own
        asset filled. Server-side ads play in the content's stream, client-side ones from the ad CDN.
        """
        docs: list[SessionDocument] = []
        at = start_ms + ad_break.lead_ms
        network = content.network_info
        stream_url = content.content_info.stream_url
        dimensions = content.tags.selected_dimensions
        client_side: NetworkInfo | None = None
        replace = msgspec.structs.replace
        for play in ad_break.ads:
            end = at + play.duration_ms
            if end >= min_end_ms:
                creative = play.creative
                if creative.technology == "Client Side":
                    if client_side is None:
                        client_side = replace(network, cdn=[AD_CDN], last_cdn_edge_server="", last_cdn_group_id="")
                    ad_network = client_side
                    url = creative.media_url
                else:
                    ad_network = network
                    url = stream_url
                content_info = self._content_infos.get((creative.creative_id, url))
                if content_info is None:
                    content_info = self._content_infos[creative.creative_id, url] = ContentInfo(
                        creative.title, "VoD", creative.duration_s * 1000, url
                    )
                status = play.status
                if play.error:
                    status = replace(status, errors=[ErrorEvent(play.error, True, end)])
                session_id = next_session_id(client)
                docs.append(
                    SessionDocument(
                        conviva_session_id=f"{content.client_id}.{session_id}",
                        client_id=content.client_id,
                        session_id=session_id,
                        viewer_id=content.viewer_id,
                        timestamps=Timestamps(Timestamp(at, iso(at)), Timestamp(end, iso(end))),
                        status_info=status,
                        lifetime_metrics=play.metrics,
                        content_info=content_info,
                        device_info=content.device_info,
                        geo_info=content.geo_info,
                        network_info=ad_network,
                        tags=Tags(
                            replace(
                                dimensions,
                                **self._static_dims[creative.creative_id],
                                content_session_id=content.session_id,
                                ad_position=ad_break.position,
                                ad_sequence=str(play.sequence),
                            ),
                            custom_tags,
                        ),
                    )
                )
            at = end + GAP_MS
        return docs


def _cues(length_ms: int) -> tuple[int, ...]:
    if length_ms < MIDROLL_MIN_LENGTH_MS:
        return ()
    count = max(1, length_ms // MIDROLL_SPACING_MS)
    return tuple(length_ms * j // (count + 1) for j in range(1, count + 1))


def _play(
    rng: random.Random, creative: AdCreative, sequence: int, client: Client, asset: Asset, budget_ms: int | None
) -> AdPlay:
    """One ad's outcome and metrics; with ``budget_ms`` the viewer leaves after that long."""
    rand = rng.random
    quality = client.quality
    planned_ms = creative.duration_s * 1000
    # Ad start-up: a little faster than the device's content start-up (a progressive file or a stitched segment).
    startup_ms = min(6000, max(300, int(math.exp(client.log_startup_ms - 0.35 + 0.45 * _NORMAL[int(rand() * 1024)]))))
    roll = rand()
    if roll < AD_START_FAILURE_SHARE:
        duration_ms = min(10_000, 400 + int(math.exp(7.6 + 0.7 * _NORMAL[int(rand() * 1024)])))
        if budget_ms is not None and budget_ms < duration_ms:
            return AdPlay(creative, sequence, max(1, budget_ms), _EMPTY_METRICS, _EXITED)
        message = AD_START_FAILURES[int(rand() * len(AD_START_FAILURES))]
        return AdPlay(creative, sequence, duration_ms, _EMPTY_METRICS, _START_FAILED, message)
    if budget_ms is not None and budget_ms <= startup_ms:
        return AdPlay(creative, sequence, max(1, budget_ms), _EMPTY_METRICS, _EXITED)
    failed = roll < AD_START_FAILURE_SHARE + AD_PLAYBACK_FAILURE_SHARE
    if failed:
        playing_ms = max(500, int(planned_ms * rand()))
    elif creative.is_skippable and rand() < AD_SKIP_SHARE:
        playing_ms = 5000 + int(rand() * 0.8 * (planned_ms - 5000))
    else:
        playing_ms = planned_ms - int(rand() * 300)
    stall_ms = paused_ms = 0
    extra = rand()
    if extra < 0.02 * quality:
        stall_ms = min(playing_ms // 2, int(math.exp(7.0 + 0.6 * _NORMAL[int(rand() * 1024)]) * quality))
    elif extra > 0.99:
        paused_ms = int(math.exp(8.5 + 0.8 * _NORMAL[int(rand() * 1024)]))
    duration_ms = startup_ms + playing_ms + stall_ms + paused_ms + int(rand() * 200)
    if budget_ms is not None and duration_ms > budget_ms:  # the viewer left during this ad
        failed = False
        stall_ms = paused_ms = 0
        playing_ms = min(playing_ms, max(1, budget_ms - startup_ms))
        duration_ms = startup_ms + playing_ms
    ladder = client.device.profile.ladder_bps
    if creative.technology == "Server Side":  # stitched into the content's stream: its ladder and frame rate
        rung = max(0, len(ladder) - 1 - int(rng.expovariate(1.5) * quality))
        switches = 1 if rand() < 0.15 else 0
        bitrate_bps = round(ladder[rung] * (0.8 + 0.18 * rand()), 2) if switches else float(ladder[rung])
        fps = float(min(asset.fps, client.device.profile.max_fps))
    else:  # one progressive rendition, picked once by the ad player
        rung = max(0, len(ladder) - 2 - int(rand() * 2 * quality))
        switches = 0
        bitrate_bps = float(ladder[rung])
        fps = 30.0
    watched = playing_ms + stall_ms
    stall_ratio = round(100.0 * stall_ms / watched, 2) if stall_ms else 0.0
    metrics = LifetimeMetrics(  # positional, in field order: the cheaper call
        fps,  # average_framerate_fps
        bitrate_bps,  # average_peak_bitrate_bps
        round(min(100.0, 100.0 * playing_ms / planned_ms), 2),  # average_percentage_complete
        switches,  # bitrate_switches_count
        stall_ratio,  # connection_induced_rebuffering_ratio_percent
        stall_ms,  # connection_induced_rebuffering_time_ms
        playing_ms,  # last_play_head_time_ms
        playing_ms,  # playing_time_ms
        round(100.0 * paused_ms / (watched + paused_ms), 2) if paused_ms else 0.0,  # paused_ratio_percent
        paused_ms,  # paused_time_ms
        stall_ratio,  # rebuffering_ratio_percent
        stall_ms,  # rebuffering_time_ms
        0,  # video_restart_time_ms
        startup_ms,  # video_start_time_ms
    )
    if failed:
        message = AD_PLAYBACK_FAILURES[int(rand() * len(AD_PLAYBACK_FAILURES))]
        return AdPlay(creative, sequence, duration_ms, metrics, _PLAYBACK_FAILED, message)
    return AdPlay(creative, sequence, duration_ms, metrics, _PLAYED)
