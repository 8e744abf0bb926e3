"""The aggregate metrics as data: name, value-object kind and formula, each a ratio of sums over sessions.

A figure is never an average of per-session ratios: the rebuffering ratio of a bucket is its total
rebuffering time over its total playing plus rebuffering time, whatever each session's ratio was. Every
formula reads only :data:`~reelsight.aggregates.inputs.SUM_FIELDS` totals, so a bucket, a group and the
whole range are computed alike, from sums that add up. A zero denominator gives 0 (as the sessions'
own ratios do). Formulas, units and rounding: ``docs/metrics.md``, section "Aggregates".
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from reelsight.aggregates.inputs import SUM_FIELDS, Sums
from reelsight.sessions import metrics as session_metrics

Value = dict[str, float | int]
_INDEX = {name: i for i, name in enumerate(SUM_FIELDS)}


class Totals:
    """Named access to one row of sums."""

    __slots__ = ("_sums",)

    def __init__(self, sums: Sums) -> None:
        self._sums = sums

    def __getitem__(self, name: str) -> int:
        return self._sums[_INDEX[name]]

    @property
    def plays(self) -> int:
        """Attempts that showed a first frame: neither an exit before video start nor a start failure."""
        return self["attempts"] - self["is_exit_before_video_start"] - self["is_video_start_failure"]


def ratio(numerator: float, denominator: float, scale: float = 1.0) -> float:
    return scale * numerator / denominator if denominator else 0.0


def mean_seconds(total_ms: int, count: int) -> float:
    """A mean time in seconds with 3 decimals, rounded exactly: the mean in whole milliseconds (halves
    up, as the per-session means are), then / 1000. Float division first would round 1.9565 down or up
    depending on the order of the operations."""
    return session_metrics.mean_ms(total_ms, count) / 1000


def percent(numerator: float, denominator: float) -> float:
    return round(ratio(numerator, denominator, 100.0), 2)


@dataclasses.dataclass(frozen=True)
class Metric:
    name: str  # kebab-case, as in the path and in ?metric=
    fields: tuple[str, ...]  # the keys of its value object, in order; the first is the default sort_by
    compute: Callable[[Totals], Value]
    description: str

    @property
    def key(self) -> str:
        """The metric's key in a response (snake_case)."""
        return self.name.replace("-", "_")


def _count(field: str, of: str) -> Callable[[Totals], Value]:
    def compute(t: Totals) -> Value:
        base = t["attempts"] if of == "attempts" else t.plays
        return {"count": t[field], "percentage": percent(t[field], base)}

    return compute


def _rebuffering(field: str) -> Callable[[Totals], Value]:
    def compute(t: Totals) -> Value:
        return {"ratio": percent(t[field], t["playing_time_ms"] + t["rebuffering_time_ms"])}

    return compute


def _minutes(t: Totals) -> Value:
    minutes = t["playing_time_ms"] / 60_000
    return {"value": round(minutes, 2), "per_ended_play": round(ratio(minutes, t.plays), 2)}


def _pause(t: Totals) -> Value:
    return {
        "ratio": percent(t["paused_time_ms"], t["playing_time_ms"] + t["rebuffering_time_ms"] + t["paused_time_ms"])
    }


_FAILURES = (
    ("exits-before-video-start", "is_exit_before_video_start", "attempts", "Exits before video start"),
    ("video-start-failures", "is_video_start_failure", "attempts", "Video start failures"),
    ("video-start-failures-business", "is_video_start_failure_business", "attempts", "Business start failures"),
    ("video-start-failures-tech", "is_video_start_failure_tech", "attempts", "Technical start failures"),
    ("video-playback-failures", "is_video_playback_failure", "plays", "Video playback failures"),
    ("video-playback-failures-business", "is_video_playback_failure_business", "plays", "Business playback failures"),
    ("video-playback-failures-tech", "is_video_playback_failure_tech", "plays", "Technical playback failures"),
)

METRICS: tuple[Metric, ...] = (
    Metric("plays", ("count",), lambda t: {"count": t.plays}, "Attempts that showed a first frame."),
    Metric("attempts", ("count",), lambda t: {"count": t["attempts"]}, "Ended sessions (each one play attempt)."),
    Metric(
        "ended-plays",
        ("count",),
        lambda t: {"count": t.plays},
        "Plays that ended (every figure covers ended sessions only: the same number as plays).",
    ),
    Metric(
        "video-start-time",
        ("value",),
        lambda t: {"value": mean_seconds(t["start_time_ms"], t.plays)},
        "Mean video start time of the plays, in seconds.",
    ),
    Metric(
        "rebuffering-ratio",
        ("ratio",),
        _rebuffering("rebuffering_time_ms"),
        "Rebuffering time over playing plus rebuffering time, in percent.",
    ),
    Metric(
        "connection-induced-rebuffering-ratio",
        ("ratio",),
        _rebuffering("cir_time_ms"),
        "Connection-induced rebuffering time over playing plus rebuffering time, in percent.",
    ),
    Metric(
        "bitrate",
        ("bps",),
        lambda t: {"bps": round(ratio(t["bitrate_bps_s"], t["bitrate_weight_ms"], 1000.0), 2)},
        "Average peak bitrate, weighted by playing time, in bits per second.",
    ),
    Metric(
        "framerate",
        ("fps",),
        lambda t: {"fps": round(ratio(t["framerate_fps_ms"], t["framerate_weight_ms"]), 2)},
        "Average rendered frame rate, weighted by playing time, in frames per second.",
    ),
    Metric(
        "percentage-complete",
        ("percentage",),
        lambda t: {"percentage": percent(t["complete_ms"], t["length_ms"])},
        "Played share of on-demand content of known length, capped per session at its length, in percent.",
    ),
    Metric(
        "minutes-played",
        ("value", "per_ended_play"),
        _minutes,
        "Total playing time in minutes, and per ended play.",
    ),
    Metric(
        "pause-ratio",
        ("ratio",),
        _pause,
        "Paused time over playing plus rebuffering plus paused time, in percent.",
    ),
    *(
        Metric(name, ("count", "percentage"), _count(flag, of), f"{label}: count, and percentage of {of}.")
        for name, flag, of, label in _FAILURES
    ),
    Metric(
        "video-restart-time",
        ("value",),
        lambda t: {"value": mean_seconds(t["restart_time_ms"], t["restarts"])},
        "Mean video restart time (seek to playing) of the sessions that had one, in seconds.",
    ),
)
METRICS_BY_NAME: dict[str, Metric] = {m.name: m for m in METRICS}


def values(metric: Metric, sums: Sums) -> Value:
    """The metric's value object for one row of sums."""
    return metric.compute(Totals(sums))
