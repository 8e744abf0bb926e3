"""The metric formulas of ``docs/metrics.md`` as pure functions of a session's totals.

The summary (:mod:`reelsight.sessions.summary`) feeds them the totals the timeline kept; each
function owns one formula, its rounding and its "unknown" value.
"""

from __future__ import annotations

# video_start_time_ms of a session that never joined.
NOT_JOINED_START_TIME_MS = -3000
# last_play_head_time_ms when the player never reported a playhead.
UNKNOWN_PLAY_HEAD_MS = -1
DECIMALS = 2


def video_start_time_ms(
    *, joined: bool, start_ms: int, first_playing_ms: int, not_monitored_before_join_ms: int
) -> int:
    """Session start -> first ``playing``, minus ``not_monitored`` (pre-roll ads) before it."""
    if not joined:
        return NOT_JOINED_START_TIME_MS
    return max(0, first_playing_ms - start_ms - not_monitored_before_join_ms)


def ratio_percent(part_ms: int, whole_ms: int) -> float:
    """``100 * part / whole``, rounded to 2 decimals; ``0`` when ``whole`` is 0."""
    if whole_ms <= 0:
        return 0.0
    return round(100 * part_ms / whole_ms, DECIMALS)


def weighted_mean(weighted_sum: float, weight_ms: int) -> float:
    """A playing-time-weighted mean (``sum(value * ms) / sum(ms)``), rounded; ``0`` when no weight."""
    if weight_ms <= 0:
        return 0.0
    return round(weighted_sum / weight_ms, DECIMALS)


def mean_ms(total_ms: int, count: int) -> int:
    """An integer mean in milliseconds, rounded to the nearest (halves up); ``0`` when ``count`` is 0."""
    if count <= 0:
        return 0
    return (2 * total_ms + count) // (2 * count)


def percentage_complete(*, playing_ms: int, length_ms: int, is_live: bool | None) -> float:
    """``100 * playing / length`` capped at 100, for on-demand content of known length; else ``0``."""
    if is_live is not False or length_ms <= 0:
        return 0.0
    return round(min(100.0, 100 * playing_ms / length_ms), DECIMALS)


def content_category(is_live: bool | None) -> str:
    """``"Live"`` / ``"VoD"`` from the stream type; ``""`` when the player did not say."""
    if is_live is None:
        return ""
    return "Live" if is_live else "VoD"
