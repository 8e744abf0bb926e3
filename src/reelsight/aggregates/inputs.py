"""The per-session inputs of the aggregate metrics: integers a store keeps beside each session, so that
a figure over millions of sessions is a handful of ``SUM``s, never a pass over the documents.

Every figure the metrics endpoints publish is a ratio of sums of these (``metrics.py``). The counts
(attempts and the seven flags) come from the stored flag columns; the rest are :data:`FACT_FIELDS`.
The same values are computed from the document in SQL by ClickHouse migration 4 for sessions written
before it (``JSONExtract``): keep the two in step.
"""

from __future__ import annotations

import math

from reelsight.query.parse import FLAG_PARAMS
from reelsight.sessions.document import SessionDocument

# Integer inputs per session, in the order stores keep them (column ``a_<field>``). Units in the names:
# ``bitrate_bps_s`` is bits (bitrate x playing seconds), ``framerate_fps_ms`` frames x 1000.
FACT_FIELDS: tuple[str, ...] = (
    "start_time_ms",  # video start time of a joined session (0 when it never joined)
    "playing_time_ms",
    "rebuffering_time_ms",
    "cir_time_ms",  # connection-induced rebuffering time
    "paused_time_ms",
    "bitrate_bps_s",  # floor(average bitrate x playing ms / 1000), when the bitrate is known
    "bitrate_weight_ms",  # playing ms of a session with a known bitrate, else 0
    "framerate_fps_ms",  # floor(average frame rate x playing ms), when the frame rate is known
    "framerate_weight_ms",  # playing ms of a session with a known frame rate, else 0
    "complete_ms",  # min(playing, length) of a joined session of on-demand content of known length, else 0
    "length_ms",  # that content's length, else 0
    "restart_time_ms",  # the session's mean video restart time when it had a restart (> 0), else 0
    "restarts",  # 1 when the session had a restart time (> 0), else 0
)
FACT_COLUMNS: tuple[str, ...] = tuple("a_" + f for f in FACT_FIELDS)
# Every summed input of an aggregate row: the session count, the flags, then the facts.
SUM_FIELDS: tuple[str, ...] = ("attempts", *FLAG_PARAMS, *FACT_FIELDS)
Sums = tuple[int, ...]  # in SUM_FIELDS order
ZERO: Sums = (0,) * len(SUM_FIELDS)


def facts(doc: SessionDocument) -> tuple[int, ...]:
    """The :data:`FACT_FIELDS` of one session document."""
    m = doc.lifetime_metrics
    status = doc.status_info
    joined = not status.is_exit_before_video_start and not status.is_video_start_failure
    playing = m.playing_time_ms
    bitrate_known = m.average_peak_bitrate_bps > 0
    framerate_known = m.average_framerate_fps > 0
    on_demand = joined and doc.content_info.category == "VoD" and doc.content_info.length_ms > 0
    length = doc.content_info.length_ms if on_demand else 0
    return (
        max(0, m.video_start_time_ms) if joined else 0,
        playing,
        m.rebuffering_time_ms,
        m.connection_induced_rebuffering_time_ms,
        m.paused_time_ms,
        math.floor(m.average_peak_bitrate_bps * playing / 1000) if bitrate_known else 0,
        playing if bitrate_known else 0,
        math.floor(m.average_framerate_fps * playing) if framerate_known else 0,
        playing if framerate_known else 0,
        min(playing, length) if length else 0,
        length,
        m.video_restart_time_ms if m.video_restart_time_ms > 0 else 0,
        1 if m.video_restart_time_ms > 0 else 0,
    )


def add(a: Sums, b: Sums) -> Sums:
    return tuple(x + y for x, y in zip(a, b, strict=True))
