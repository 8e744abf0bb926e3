"""The sessionizer's fold: one live session's running state, and how each event changes it.

Pure (no I/O, no clock). The caller applies a session's events in ``event_sort_key`` order and
summarizes the state when the session ends (:mod:`reelsight.sessions.summary`). Rules: ``docs/metrics.md``.
The strings the state keeps (content, metadata, CDNs, error messages) are interned, so live sessions
that share a value share one copy (``sessions/shared_values.py``).
"""

from __future__ import annotations

import math
from sys import intern

import msgspec

from reelsight.ingest.events import (
    AD_SKIPPED_TAG,
    AdBreakEnd,
    AdBreakStart,
    AdSkip,
    AdStart,
    Bitrate,
    CdnChange,
    CdnUpdate,
    Content,
    End,
    Event,
    Framerate,
    MetadataUpdate,
    PlayerError,
    PlayerState,
    Playhead,
    SeekEnd,
    SeekStart,
    Snapshot,
    Start,
    StateChange,
    ad_metadata,
)
from reelsight.sessions.document import MAX_CDNS, MAX_ERRORS

# The player state before its first state report.
STARTING = "starting"
_PLAYING = PlayerState.PLAYING.value
_PAUSED = PlayerState.PAUSED.value
_BUFFERING = PlayerState.BUFFERING.value
_NOT_MONITORED = PlayerState.NOT_MONITORED.value


class ErrorRecord(msgspec.Struct, array_like=True, frozen=True, gc=False):
    """One reported error; ``after_join`` tells which failure (start or playback) it can cause."""

    message: str
    is_fatal: bool
    epoch_ms: int
    after_join: bool


class SessionState(msgspec.Struct, kw_only=True, gc=False):
    """Everything the metrics need, kept incrementally: a few scalars plus metadata, CDNs and errors.

    Time is accounted up to ``last_ms`` (the last event applied): every interval between two
    events is attributed to the player state, bitrate, frame rate and seek window in force during it.
    """

    # The timeline.
    start_ms: int | None = None  # the first event's time (a Start's time is the play intent)
    last_ms: int = 0  # time accounted up to: the last event applied
    player_state: str = STARTING
    ended: bool = False  # an End was applied: later events are ignored
    # In an ad break: the player state to resume at its end (state reports in the break update it).
    ad_break_resume_state: str | None = None
    last_event_seq: int = -1  # the highest seq of an applied event other than a snapshot
    # Joining: the first `playing`.
    joined: bool = False
    first_playing_ms: int = 0
    not_monitored_before_join_ms: int = 0
    # Time per state (only what a metric needs).
    playing_ms: int = 0
    rebuffering_ms: int = 0  # `buffering` after joining
    seek_rebuffering_ms: int = 0  # the part of rebuffering_ms inside seek windows
    paused_ms: int = 0  # `paused` after joining
    # The open seek window (seek start -> next playing), and the finished ones that started after joining.
    seek_start_ms: int | None = None
    seek_after_join: bool = False
    seek_not_monitored_ms: int = 0  # ad time inside the open window: not part of its restart time
    seeks_after_join: int = 0
    restart_total_ms: int = 0
    # Bitrate and frame rate: current value (None: unknown) and playing-time-weighted sums.
    bitrate_bps: int | None = None
    last_known_bitrate_bps: int | None = None  # what a new report is compared with for a switch
    bitrate_bps_ms_sum: int = 0
    bitrate_weight_ms: int = 0
    bitrate_switches: int = 0
    framerate_fps: float | None = None
    framerate_fps_ms_sum: float = 0.0
    framerate_weight_ms: int = 0
    play_head_ms: int = -1
    # Network.
    cdns: list[str] = []
    last_cdn_edge_server: str = ""
    last_cdn_group_id: str = ""
    # Errors: the first MAX_ERRORS are listed; fatal ones are flagged whatever their rank.
    errors: list[ErrorRecord] = []
    fatal_before_join: bool = False
    fatal_after_join: bool = False
    # Content, viewer and metadata (standard dimension keys and custom tags together).
    asset: str = ""
    stream_url: str = ""
    is_live: bool | None = None
    length_ms: int = 0
    viewer_id: str = ""
    metadata: dict[str, str] = {}


def new_state() -> SessionState:
    return SessionState()


def advance(state: SessionState, t_ms: int) -> None:
    """Account the time from ``state.last_ms`` to ``t_ms`` to what is in force; never goes back."""
    delta_ms = t_ms - state.last_ms
    if delta_ms <= 0:
        return
    current = state.player_state
    if current == _PLAYING:
        state.playing_ms += delta_ms
        if state.bitrate_bps is not None:
            state.bitrate_bps_ms_sum += state.bitrate_bps * delta_ms
            state.bitrate_weight_ms += delta_ms
        if state.framerate_fps is not None:
            state.framerate_fps_ms_sum += state.framerate_fps * delta_ms
            state.framerate_weight_ms += delta_ms
    elif current == _BUFFERING:
        if state.joined:
            state.rebuffering_ms += delta_ms
            if state.seek_start_ms is not None:
                state.seek_rebuffering_ms += delta_ms
    elif current == _PAUSED:
        if state.joined:
            state.paused_ms += delta_ms
    elif current == _NOT_MONITORED:
        if not state.joined:
            state.not_monitored_before_join_ms += delta_ms
        if state.seek_start_ms is not None:
            state.seek_not_monitored_ms += delta_ms
    # "starting" and "stopped" count in no total (before joining they are part of the start time).
    state.last_ms = t_ms


def apply(state: SessionState, event: Event) -> None:
    """Apply one event.

    Callers apply events in ``(t_ms, seq)`` order (``reelsight.ingest.events.event_sort_key``) and
    never the same ``seq`` twice; out-of-order arrivals are handled by the caller re-folding from
    scratch, so ``apply`` assumes order (an earlier time is treated as no time passing). Events
    after an ``End`` are ignored: an ended session is final.
    """
    if state.ended:
        return
    if state.start_ms is None:
        state.start_ms = event.t_ms
        state.last_ms = event.t_ms
    advance(state, event.t_ms)
    t_ms = state.last_ms
    if not isinstance(event, Snapshot):
        state.last_event_seq = max(state.last_event_seq, event.seq)
    match event:
        case StateChange():
            _report_state(state, event.state.value, t_ms)
        case AdBreakStart():
            if state.ad_break_resume_state is None:  # a break inside a break goes on as one
                state.ad_break_resume_state = state.player_state
                state.player_state = _NOT_MONITORED
        case AdBreakEnd():
            resume = state.ad_break_resume_state
            if resume is not None:
                state.ad_break_resume_state = None
                _change_state(state, resume, t_ms)
        case Bitrate():
            _report_bitrate(state, event.bitrate_bps)
        case Framerate():
            fps = event.fps
            state.framerate_fps = fps if math.isfinite(fps) and fps > 0 else None
        case Playhead():
            if event.playhead_ms >= 0:
                state.play_head_ms = event.playhead_ms
        case SeekStart():
            if state.seek_start_ms is None:  # a seek inside an open window extends that window
                state.seek_start_ms = t_ms
                state.seek_after_join = state.joined
                state.seek_not_monitored_ms = 0
        case SeekEnd():
            # A player that kept `playing` through the seek reports no new `playing`: the seek ends here.
            if state.player_state == _PLAYING:
                _close_seek(state, t_ms)
        case CdnChange():
            _add_cdn(state, event.cdn)
            state.last_cdn_edge_server = event.edge_server
            state.last_cdn_group_id = event.group_id
        case CdnUpdate():
            if event.cdn is not None:
                _add_cdn(state, event.cdn)
            if event.edge_server is not None:
                state.last_cdn_edge_server = event.edge_server
        case Snapshot():
            if event.seq > state.last_event_seq:  # else an event that came after it was already applied
                _correct(state, event, t_ms)
        case PlayerError():
            if len(state.errors) < MAX_ERRORS:
                state.errors.append(ErrorRecord(intern(event.message), event.fatal, t_ms, state.joined))
            if event.fatal:
                if state.joined:
                    state.fatal_after_join = True
                else:
                    state.fatal_before_join = True
        case Start():
            update_content(state, event.content)
            if event.viewer_id:
                state.viewer_id = event.viewer_id
            _merge_metadata(state, event.metadata)  # "" is a value here: the tag is sent, empty
            if isinstance(event, AdStart):
                _merge_metadata(state, ad_metadata(event))
                if state.is_live is None:  # an ad is a clip of known length, whatever it plays in
                    state.is_live = False
                if state.length_ms <= 0 < event.ad.planned_duration_ms:
                    state.length_ms = event.ad.planned_duration_ms
        case MetadataUpdate():
            if event.content is not None:
                update_content(state, event.content)
            if event.viewer_id is not None:
                state.viewer_id = event.viewer_id
            for key, value in event.metadata.items():
                if value:
                    state.metadata[intern(key)] = intern(value)
                else:
                    state.metadata.pop(key, None)
        case End():
            if isinstance(event, AdSkip):
                state.metadata[AD_SKIPPED_TAG] = "true"
            state.ended = True


def _merge_metadata(state: SessionState, metadata: dict[str, str]) -> None:
    metadata_in_force = state.metadata
    for key, value in metadata.items():
        metadata_in_force[intern(key)] = intern(value)


def _add_cdn(state: SessionState, cdn: str) -> None:
    if cdn and cdn not in state.cdns and len(state.cdns) < MAX_CDNS:
        state.cdns.append(intern(cdn))


def _correct(state: SessionState, snapshot: Snapshot, t_ms: int) -> None:
    """Make the fold agree with a snapshot where it does not (a change lost in transit takes effect
    here, at the snapshot's time); where it agrees nothing happens, so an open seek stays open.

    A snapshot's ``seq`` is above those of the events its report carried and below those of any
    later report's, so one that an event of a later report overtook on the timeline (clock skew
    estimated per report) is stale and ignored."""
    in_force = state.player_state if state.ad_break_resume_state is None else state.ad_break_resume_state
    if snapshot.state is not None and snapshot.state.value != in_force:
        _report_state(state, snapshot.state.value, t_ms)
    if snapshot.bitrate_bps is not None and snapshot.bitrate_bps != (state.bitrate_bps or 0):
        _report_bitrate(state, snapshot.bitrate_bps)
    if snapshot.playhead_ms is not None and snapshot.playhead_ms >= 0:
        state.play_head_ms = snapshot.playhead_ms
    if snapshot.fps is not None:
        state.framerate_fps = snapshot.fps if math.isfinite(snapshot.fps) and snapshot.fps > 0 else None
    if snapshot.cdn is not None:
        _add_cdn(state, snapshot.cdn)
    if snapshot.edge_server is not None:
        state.last_cdn_edge_server = snapshot.edge_server


def _report_state(state: SessionState, new_state_name: str, t_ms: int) -> None:
    """A player state report; inside an ad break it is the state the content resumes in."""
    if state.ad_break_resume_state is not None:
        state.ad_break_resume_state = new_state_name
    else:
        _change_state(state, new_state_name, t_ms)


def _change_state(state: SessionState, new_state_name: str, t_ms: int) -> None:
    if new_state_name == _PLAYING:
        if not state.joined:
            state.joined = True
            state.first_playing_ms = t_ms
        _close_seek(state, t_ms)
    state.player_state = new_state_name


def _close_seek(state: SessionState, t_ms: int) -> None:
    if state.seek_start_ms is None:
        return
    if state.seek_after_join:
        state.seeks_after_join += 1
        state.restart_total_ms += t_ms - state.seek_start_ms - state.seek_not_monitored_ms
    state.seek_start_ms = None
    state.seek_after_join = False
    state.seek_not_monitored_ms = 0


def _report_bitrate(state: SessionState, bitrate_bps: int) -> None:
    if bitrate_bps <= 0:  # the player no longer knows: stop weighting, keep the switch baseline
        state.bitrate_bps = None
        return
    previous = state.last_known_bitrate_bps
    if state.joined and previous is not None and bitrate_bps != previous:
        state.bitrate_switches += 1
    state.bitrate_bps = bitrate_bps
    state.last_known_bitrate_bps = bitrate_bps


def update_content(state: SessionState, content: Content) -> None:
    """Fields an update leaves at their "unknown" default keep their current value."""
    if content.asset:
        state.asset = intern(content.asset)
    if content.stream_url:
        state.stream_url = intern(content.stream_url)
    if content.is_live is not None:
        state.is_live = content.is_live
    if content.length_ms > 0:
        state.length_ms = content.length_ms
