"""Realistic synthetic ended sessions, built directly as documents for demos, benchmarks and load tests.

Deterministic for a seed: traffic follows a daily and weekly curve, mixes are skewed, metrics correlate.
Each content session is followed by the ad sessions that played in it (``ads.py``).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import msgspec

from reelsight.generate.ads import PREROLL, AdBreak, AdPlanner
from reelsight.generate.catalogue import (
    BUSINESS_FAILURES,
    TECH_FAILURES,
    WARNINGS,
    Asset,
    Cdn,
    assets,
    cdns,
)
from reelsight.generate.population import Client, Population, Weighted
from reelsight.sessions.document import (
    AD_DIMENSION_KEYS,
    EPOCH_MS_MAX,
    EPOCH_MS_MIN,
    Asn,
    Browser,
    ContentInfo,
    Country,
    DeviceInfo,
    ErrorEvent,
    GeoInfo,
    LifetimeMetrics,
    NetworkInfo,
    SelectedDimensions,
    SessionDocument,
    State,
    StatusInfo,
    Tags,
    Timestamp,
    Timestamps,
    iso_from_epoch_ms,
)

HOUR_MS = 3_600_000
DAY_MS = 86_400_000

# Outcome shares: exit before video start, video start failure, video playback failure; the rest join
# and end normally. Failures are business failures in BUSINESS_SHARE of cases, technical otherwise.
EBVS_SHARE = 0.03
START_FAILURE_SHARE = 0.015
PLAYBACK_FAILURE_SHARE = 0.01
BUSINESS_SHARE = 0.3
EXPIRED_SHARE = 0.08

# Relative sessions ending in each UTC hour: trough before dawn, peak in the evening.
HOURLY_WEIGHT: tuple[float, ...] = (
    0.55, 0.45, 0.35, 0.27, 0.22, 0.20, 0.22, 0.30,
    0.42, 0.50, 0.55, 0.60, 0.66, 0.70, 0.72, 0.76,
    0.84, 0.95, 1.08, 1.22, 1.35, 1.40, 1.20, 0.85,
)  # fmt: skip
# Monday first. Day 0 of the epoch (1970-01-01) was a Thursday.
WEEKDAY_WEIGHT: tuple[float, ...] = (0.92, 0.90, 0.93, 0.97, 1.08, 1.20, 1.15)
_EPOCH_WEEKDAY = 3

# Keys of the three disjoint parts selected_dimensions is assembled from, per document.
CONTENT_DIMENSION_KEYS: tuple[str, ...] = (
    "content_category",
    "content_meta_channel",
    "content_meta_show_title",
    "content_session_id",
    "video_asset_name",
)
_NO_AD_DIMENSIONS: dict[str, str] = dict.fromkeys(AD_DIMENSION_KEYS, "")
# The content session's custom tags its ad sessions carry too (the viewer's, not the viewing's).
_AD_TAG_KEYS = frozenset(("subscription_tier", "experiment", "app_build", "connection_type"))


def generate_sessions(
    n: int, *, seed: int = 0, end_ms: int, span_ms: int = 31 * DAY_MS, ads: float = 1.0
) -> Iterator[SessionDocument]:
    """n ended content sessions whose end timestamps lie in [end_ms - span_ms, end_ms), each followed
    by the ad sessions that played in it.

    ``ads`` scales the share of ad-supported sessions (``ads.AD_SUPPORTED_SHARE``): 1.0 gives about 0.45
    ad sessions per content session (pre-rolls on most ad-supported on-demand sessions, mid-rolls in
    long ones, some post-rolls and live breaks), 0 none. An ad session names its content session in
    ``tags.selected_dimensions.content_session_id``, has its client id and lies inside its time span;
    ads that ended before the span are left out. The same arguments give the same documents. Every
    document passes ``validate`` unchanged and ``conviva_session_id`` is unique among them. Start
    times may precede the span. Arguments are checked when called (``ValueError``), documents are
    made lazily.
    """
    if n < 0:
        raise ValueError("n must not be negative")
    if span_ms <= 0:
        raise ValueError("span_ms must be positive")
    if not ads >= 0:
        raise ValueError("ads must not be negative")
    # Sessions last under a day, so a span starting two days after 2000-01-01 keeps every start valid.
    if end_ms - span_ms < EPOCH_MS_MIN + 2 * DAY_MS or end_ms > EPOCH_MS_MAX:
        raise ValueError("the span must lie between 2000-01-03 and 2200-01-01")
    return _documents(_SessionFactory(n, seed, end_ms, span_ms, ads), n)


def _documents(factory: _SessionFactory, n: int) -> Iterator[SessionDocument]:
    for _ in range(n):
        content, ad_sessions = factory.session()
        yield content
        yield from ad_sessions


def encode_jsonl(docs: Iterable[SessionDocument]) -> Iterator[bytes]:
    """One JSON line (newline-terminated) per document."""
    encode = msgspec.json.Encoder().encode
    for doc in docs:
        yield encode(doc) + b"\n"


class _EndTimes:
    """End times over the span, hour by hour in proportion to the diurnal and weekly curves."""

    def __init__(self, end_ms: int, span_ms: int) -> None:
        start_ms = end_ms - span_ms
        self._bounds: list[tuple[int, int]] = []
        pairs: list[tuple[int, float]] = []
        for hour in range(start_ms // HOUR_MS, (end_ms - 1) // HOUR_MS + 1):
            lo = max(hour * HOUR_MS, start_ms)
            hi = min((hour + 1) * HOUR_MS, end_ms)
            weekday = (hour // 24 + _EPOCH_WEEKDAY) % 7
            pairs.append((len(self._bounds), HOURLY_WEIGHT[hour % 24] * WEEKDAY_WEIGHT[weekday] * (hi - lo)))
            self._bounds.append((lo, hi))
        self._hours = Weighted(pairs)

    def sample(self, rng: random.Random) -> int:
        lo, hi = self._bounds[self._hours.pick(rng)]
        return lo + int(rng.random() * (hi - lo))


class _IsoDates:
    """``iso_from_epoch_ms`` with the text up to the minute cached (and the date): formatting dominates otherwise."""

    def __init__(self) -> None:
        self._days: dict[int, str] = {}
        self._minutes: dict[int, str] = {}

    def __call__(self, epoch_ms: int) -> str:
        minute, ms = divmod(epoch_ms, 60_000)
        prefix = self._minutes.get(minute)
        if prefix is None:
            day, minute_of_day = divmod(minute, 1440)
            date = self._days.get(day)
            if date is None:
                date = self._days[day] = iso_from_epoch_ms(day * DAY_MS)[:11]
            hour, minute_of_hour = divmod(minute_of_day, 60)
            prefix = self._minutes[minute] = f"{date}{hour:02d}:{minute_of_hour:02d}:"
        seconds, milli = divmod(ms, 1000)
        return f"{prefix}{seconds:02d}.{milli:03d}Z"


@dataclass(frozen=True, slots=True)
class _Content:
    asset: Asset
    dimensions: dict[str, str]


class _SessionFactory:
    """Holds the weighted tables and the growing viewer population for one generator run."""

    def __init__(self, n: int, seed: int, end_ms: int, span_ms: int, ads: float) -> None:
        rng = self._rng = random.Random(seed)
        self._span_start_ms = end_ms - span_ms
        self._end_times = _EndTimes(end_ms, span_ms)
        self._iso = _IsoDates()
        # About three sessions per device on average.
        self._population = Population(rng, max(64, n // 3))
        self._cdns: Weighted[Cdn] = Weighted((c, c.weight) for c in cdns())
        self._contents = Weighted((_content(a), a.weight) for a in assets())
        self._ads = AdPlanner(ads)
        self._ad_tags: dict[str, dict[str, str]] = {}  # per client: its ad sessions' custom tags

    def session(self) -> tuple[SessionDocument, list[SessionDocument]]:
        """One content session and its ad sessions."""
        rng = self._rng
        rand = rng.random
        client = self._population.draw()
        device = client.device
        profile = device.profile
        choice = self._contents.pick(rng)
        asset = choice.asset
        is_live = asset.category == "Live"
        end_ms = self._end_times.sample(rng)

        planner = self._ads
        ad_system = planner.system(rng, client.tier, is_live)
        breaks: list[tuple[int, AdBreak]] = []  # (ms after the session's start, break)

        roll = rand()
        ebvs = roll < EBVS_SHARE
        start_failure = not ebvs and roll < EBVS_SHARE + START_FAILURE_SHARE
        playback_failure = (
            not ebvs and not start_failure and roll < EBVS_SHARE + START_FAILURE_SHARE + PLAYBACK_FAILURE_SHARE
        )
        business = (start_failure or playback_failure) and rand() < BUSINESS_SHARE
        errors: list[ErrorEvent] = []

        if ebvs or start_failure:
            if ebvs:
                duration_ms = min(120_000, 200 + int(math.exp(rng.gauss(8.6, 1.0))))
                if ad_system is not None and planner.wants_preroll(rng, is_live):
                    # The viewer left in the first 40 s of the pre-roll (or just after a short one).
                    left_ms = 500 + int(rand() * 40_000)
                    cut = planner.pod(rng, PREROLL, ad_system, client, asset, budget_ms=left_ms)
                    if cut.ads:
                        breaks.append((0, cut))
                        duration_ms = left_ms + int(rand() * 300)
            else:
                duration_ms = min(60_000, 300 + int(math.exp(rng.gauss(8.2, 0.8))))
            start_ms = end_ms - duration_ms
            metrics = LifetimeMetrics(
                average_framerate_fps=0.0,
                average_peak_bitrate_bps=0.0,
                average_percentage_complete=0.0,
                bitrate_switches_count=0,
                connection_induced_rebuffering_ratio_percent=0.0,
                connection_induced_rebuffering_time_ms=0,
                last_play_head_time_ms=-1 if rand() < 0.9 else 0,
                playing_time_ms=0,
                paused_ratio_percent=0.0,
                paused_time_ms=0,
                rebuffering_ratio_percent=0.0,
                rebuffering_time_ms=0,
                video_restart_time_ms=0,
                video_start_time_ms=-3000,
            )
            if start_failure:
                if rand() < 0.3:
                    errors.append(ErrorEvent("Segment download retry", False, start_ms + duration_ms // 2))
                message = (BUSINESS_FAILURES if business else TECH_FAILURES)[int(rand() * 3)]
                errors.append(ErrorEvent(message, True, end_ms - int(rand() * min(200, duration_ms))))
            elif rand() < 0.05:
                errors.append(ErrorEvent(WARNINGS[0], False, end_ms - duration_ms // 3))
            cdn_names, edge, group = self._network(rng, empty_chance=0.4 if ebvs else 0.1)
        else:
            metrics, startup_ms, body_ms, resume_ms = self._joined_metrics(rng, client, asset, playback_failure)
            duration_ms = startup_ms + body_ms
            if ad_system is not None:
                duration_ms = planner.joined_breaks(
                    rng, breaks, ad_system, client, asset, metrics, startup_ms, body_ms, resume_ms, playback_failure
                )
            start_ms = end_ms - duration_ms
            if rand() < 0.06:
                kinds = len(WARNINGS) if breaks else len(WARNINGS) - 1
                for _ in range(1 + int(rand() * 2)):
                    when = start_ms + int(rand() * duration_ms)
                    errors.append(ErrorEvent(WARNINGS[int(rand() * kinds)], False, when))
                errors.sort(key=lambda e: e.epoch_ms)
            if playback_failure:
                message = (BUSINESS_FAILURES if business else TECH_FAILURES)[int(rand() * 3)]
                errors.append(ErrorEvent(message, True, end_ms))
            cdn_names, edge, group = self._network(rng, empty_chance=0.0)

        iso = self._iso
        where = client.where
        preroll = breaks[0][1] if breaks and breaks[0][0] == 0 and breaks[0][1].position == PREROLL else None
        custom_tags = {
            "subscription_tier": client.tier,
            "experiment": client.experiment,
            "app_build": client.app_build,
            "has_preroll": "true" if preroll is not None else "false",
        }
        if preroll is not None:
            custom_tags["ad_break_duration"] = str(sum(a.creative.duration_s for a in preroll.ads))
        if rand() < 0.5:
            custom_tags["autoplay"] = "true" if rand() < 0.3 else "false"
        if client.connection_type:
            custom_tags["connection_type"] = client.connection_type
        if rand() < 0.7:
            custom_tags["drm"] = profile.drm

        session_id = self._population.next_session_id(client)
        content = SessionDocument(
            conviva_session_id=f"{client.client_id}.{session_id}",
            client_id=client.client_id,
            session_id=session_id,
            timestamps=Timestamps(
                start=Timestamp(epoch_ms=start_ms, iso_date=iso(start_ms)),
                end=Timestamp(epoch_ms=end_ms, iso_date=iso(end_ms)),
            ),
            status_info=StatusInfo(
                is_ended=True,
                ended_status="By Expiration" if rand() < EXPIRED_SHARE else "By Player",
                is_exit_before_video_start=ebvs,
                is_video_start_failure=start_failure,
                is_video_start_failure_business=start_failure and business,
                is_video_start_failure_tech=start_failure and not business,
                is_video_playback_failure=playback_failure,
                is_video_playback_failure_business=playback_failure and business,
                is_video_playback_failure_tech=playback_failure and not business,
                errors=errors,
            ),
            lifetime_metrics=metrics,
            content_info=ContentInfo(
                asset=asset.name,
                category=asset.category,
                length_ms=asset.length_ms,
                stream_url=asset.hls_url if profile.stream_format == "hls" else asset.dash_url,
            ),
            device_info=DeviceInfo(
                browser=Browser(name=profile.browser, version=device.browser_version),
                name=profile.name,
                os=profile.os,
                os_family=profile.os_family,
                os_version=device.os_version,
            ),
            geo_info=GeoInfo(
                city=where.city,
                state=State(name=where.state, code=where.state_code),
                country=Country(name=where.country, code=where.country_code),
                continent=where.continent,
                postal_code=where.postal_codes[int(rand() * len(where.postal_codes))],
                dma=where.dma,
            ),
            network_info=NetworkInfo(
                asn=Asn(value=client.asn_value, description=client.asn_description),
                cdn=cdn_names,
                isp=client.isp.name,
                last_cdn_edge_server=edge,
                last_cdn_group_id=group,
                ip=client.ip_at(start_ms),
                ipv6=client.ipv6,
            ),
            tags=Tags(
                selected_dimensions=SelectedDimensions(**client.dimensions, **choice.dimensions, **_NO_AD_DIMENSIONS),
                custom_tags=custom_tags,
            ),
            viewer_id=client.viewer_id,
        )
        if not breaks:
            return content, []
        ad_tags = self._ad_tags.get(client.client_id)
        if ad_tags is None:
            ad_tags = self._ad_tags[client.client_id] = {k: v for k, v in custom_tags.items() if k in _AD_TAG_KEYS}
        ad_sessions: list[SessionDocument] = []
        for offset_ms, ad_break in breaks:
            ad_sessions += planner.documents(
                ad_break,
                start_ms + offset_ms,
                min_end_ms=self._span_start_ms,
                content=content,
                client=client,
                next_session_id=self._population.next_session_id,
                iso=iso,
                custom_tags=ad_tags,
            )
        return content, ad_sessions

    def _network(self, rng: random.Random, empty_chance: float) -> tuple[list[str], str, str]:
        """CDN names (usually one, sometimes a switch to a second), last edge server and group id."""
        if empty_chance and rng.random() < empty_chance:
            return [], "", ""
        cdn = self._cdns.pick(rng)
        names = [cdn.name]
        if rng.random() < 0.07:
            second = self._cdns.pick(rng)
            if second is not cdn:
                names.append(second.name)
                cdn = second
        edge = cdn.edge_servers[int(rng.random() * len(cdn.edge_servers))] if rng.random() < 0.75 else ""
        group = cdn.group_ids[int(rng.random() * len(cdn.group_ids))] if rng.random() < 0.6 else ""
        return names, edge, group

    def _joined_metrics(
        self, rng: random.Random, client: Client, asset: Asset, failed: bool
    ) -> tuple[LifetimeMetrics, int, int, int]:
        """Metrics of a session that reached playing; its start-up time, the wall-clock ms from
        joining to the end (ad breaks not included) and the playhead it resumed from."""
        rand = rng.random
        quality = client.quality
        profile = client.device.profile
        startup_ms = min(8000, max(300, int(math.exp(rng.gauss(client.log_startup_ms, 0.5)))))

        length_ms = asset.length_ms
        live = length_ms == 0
        if live:
            playing_ms = min(6 * HOUR_MS, 2000 + int(math.exp(rng.gauss(14.2, 1.1))))
            resume_ms = int(rand() * 2 * HOUR_MS)  # live playhead: position inside the DVR window
        else:
            mode = rand()
            if mode < 0.3:
                fraction = rand() * 0.15  # sampled and left
            elif mode < 0.72:
                fraction = 0.15 + rand() * 0.8
            else:
                fraction = 0.95 + rand() * 0.1  # watched to the credits or beyond (rewatched a part)
            playing_ms = max(2000, int(length_ms * fraction))
            resume_ms = int(rand() * 0.6 * length_ms) if rand() < 0.2 else 0
            playing_ms = min(playing_ms, length_ms + length_ms // 10)
        if failed:
            playing_ms = max(1000, int(playing_ms * rand()))
        playing_min = playing_ms / 60_000

        paused_ms = 0
        if rand() < (0.08 if live else 0.3):
            paused_ms = min(2 * HOUR_MS, int(math.exp(rng.gauss(10.7, 1.2))))

        seeks = 0
        restart_mean_ms = 0
        seek_rebuffering_ms = 0
        if playing_ms > 60_000 and rand() < (0.05 if live else 0.3):
            seeks = 1 + int(rng.expovariate(0.6))
            restart_mean_ms = 150 + int(math.exp(rng.gauss(6.4, 0.6)) * quality)
            if rand() < 0.6:  # otherwise the seek target was already buffered
                seek_rebuffering_ms = int(seeks * restart_mean_ms * (0.5 + 0.4 * rand()))

        stall_mean = playing_min * 0.012 * quality
        if rand() < 0.03 * quality:
            stall_mean = stall_mean * 15 + 2  # a bad session: congested link or failing edge
        stalls = int(rng.expovariate(1.0 / stall_mean)) if stall_mean > 0 else 0
        stall_ms = 0
        if stalls:
            stall_ms = min(int(stalls * math.exp(rng.gauss(7.4, 0.7)) * quality), playing_ms)
        rebuffering_ms = stall_ms + seek_rebuffering_ms

        ladder = profile.ladder_bps
        rung = max(0, len(ladder) - 1 - int(rng.expovariate(1.2) * quality))
        switches = int(rng.expovariate(1.0 / (0.3 + playing_min * 0.04 * quality))) + stalls
        # One reported bitrate means the mean is exactly a rung; switches blend neighbouring rungs.
        bitrate_bps = round(ladder[rung] * (0.72 + 0.26 * rand()), 2) if switches else float(ladder[rung])
        fps = min(asset.fps, profile.max_fps)
        if rand() < 0.6:
            framerate_fps = float(fps)
        else:
            framerate_fps = round(fps * (1.0 - min(0.5, rng.expovariate(60.0) * quality)), 2)

        watched = playing_ms + rebuffering_ms
        if live:
            complete = 0.0
            play_head_ms = resume_ms + playing_ms
        else:
            complete = round(min(100.0, 100.0 * playing_ms / length_ms), 2)
            play_head_ms = min(length_ms, resume_ms + playing_ms)
        metrics = LifetimeMetrics(
            average_framerate_fps=framerate_fps,
            average_peak_bitrate_bps=bitrate_bps,
            average_percentage_complete=complete,
            bitrate_switches_count=switches,
            connection_induced_rebuffering_ratio_percent=round(100.0 * stall_ms / watched, 2),
            connection_induced_rebuffering_time_ms=stall_ms,
            last_play_head_time_ms=play_head_ms,
            playing_time_ms=playing_ms,
            paused_ratio_percent=round(100.0 * paused_ms / (watched + paused_ms), 2),
            paused_time_ms=paused_ms,
            rebuffering_ratio_percent=round(100.0 * rebuffering_ms / watched, 2),
            rebuffering_time_ms=rebuffering_ms,
            video_restart_time_ms=restart_mean_ms,
            video_start_time_ms=startup_ms,
        )
        overhead_ms = int(rand() * 1500) + seeks * 200
        return metrics, startup_ms, playing_ms + rebuffering_ms + paused_ms + overhead_ms, resume_ms


def _content(asset: Asset) -> _Content:
    return _Content(
        asset,
        {
            "content_category": asset.category,
            "content_meta_channel": asset.channel,
            "content_meta_show_title": asset.show_title,
            "content_session_id": "",
            "video_asset_name": asset.name,
        },
    )
