"""The session timeline, recorded as the fold applies events: what happened when, for one session's chart.

Pure (no I/O, no clock). :func:`apply_recorded` is :func:`~reelsight.sessions.timeline.apply` plus a note
of what the event changed (player state, bitrate, seek window, error, ad break, CDN) in a
:class:`TimelineRecorder`: 32 bytes an entry, at most :data:`MAX_TIMELINE_ENTRIES` per session. When the
session ends, :func:`build_timeline` turns the notes into the normalized :class:`Timeline`
(``timeline_codec.py`` stores it). Rules: ``docs/metrics.md``, "The session timeline".
"""

from __future__ import annotations

from array import array

from reelsight.ingest.events import AdBreakStart, CdnChange, CdnUpdate, Event, Snapshot
from reelsight.sessions.timeline import STARTING, SessionState, apply
from reelsight.sessions.timeline_codec import (
    POSITION_NAMES,
    STATE_NAMES,
    AdBreak,
    BitrateSpan,
    CdnSpan,
    ErrorMark,
    Seek,
    StateSpan,
    Timeline,
)

# Entries a session records at most (state changes, bitrate and CDN changes, seek and ad break starts
# and ends, errors); past it the timeline is cut: complete up to ``truncated_ms``, nothing after.
MAX_TIMELINE_ENTRIES = 1000
_FIELDS = 4  # kind, t_ms, a, b
_STATE, _BITRATE, _SEEK_START, _SEEK_END, _ERROR, _AD_START, _AD_END, _CDN = range(8)
_STATE_CODE = {name: code for code, name in enumerate(STATE_NAMES)}
_POSITION_CODE = {name: code for code, name in enumerate(POSITION_NAMES)}
NO_CDN = -1  # the CDN in force is unknown (none reported, an empty name, or past the CDN list's limit)


class TimelineRecorder:
    """The notes of one live session: a flat ``array('q')`` of ``(kind, t_ms, a, b)`` entries.

    Reset with the fold (a re-fold from the log records from scratch), so the notes are a function of
    the events applied, in order, like the state itself."""

    __slots__ = ("cdn", "entries", "truncated_ms")

    def __init__(self) -> None:
        self.entries = array("q")
        self.cdn = NO_CDN  # the index (in ``SessionState.cdns``) of the CDN in force
        self.truncated_ms: int | None = None  # the time of the first entry not recorded

    def __len__(self) -> int:
        return len(self.entries) // _FIELDS

    def note(self, kind: int, t_ms: int, a: int = 0, b: int = 0) -> None:
        if self.truncated_ms is not None:
            return
        if len(self.entries) >= MAX_TIMELINE_ENTRIES * _FIELDS:
            self.truncated_ms = t_ms
            return
        self.entries.extend((kind, t_ms, a, b))


def apply_recorded(state: SessionState, recorder: TimelineRecorder, event: Event) -> None:
    """:func:`apply` the event, and note in ``recorder`` what it changed, at the time the fold put it."""
    if state.ended:
        return  # apply ignores it too
    player_state = state.player_state
    bitrate_bps = state.bitrate_bps or 0
    seek_start_ms = state.seek_start_ms
    errors = len(state.errors)
    in_break = state.ad_break_resume_state is not None
    last_event_seq = state.last_event_seq
    apply(state, event)
    t_ms = state.last_ms
    if state.player_state != player_state:
        recorder.note(_STATE, t_ms, _STATE_CODE.get(state.player_state, 0))
    if (state.bitrate_bps or 0) != bitrate_bps:
        recorder.note(_BITRATE, t_ms, state.bitrate_bps or 0)
    if seek_start_ms is not None and state.seek_start_ms is None:
        recorder.note(_SEEK_END, t_ms)
    if seek_start_ms is None and state.seek_start_ms is not None:
        recorder.note(_SEEK_START, t_ms)
    for index in range(errors, len(state.errors)):
        recorder.note(_ERROR, t_ms, index, int(state.errors[index].is_fatal))
    now_in_break = state.ad_break_resume_state is not None
    if now_in_break and not in_break:
        position = event.position if isinstance(event, AdBreakStart) else None
        recorder.note(_AD_START, t_ms, _POSITION_CODE[None if position is None else position.value])
    elif in_break and not now_in_break:
        recorder.note(_AD_END, t_ms)
    cdn = _reported_cdn(event, last_event_seq)
    if cdn is not None:
        index = state.cdns.index(cdn) if cdn in state.cdns else NO_CDN
        if index != recorder.cdn:
            recorder.cdn = index
            recorder.note(_CDN, t_ms, index)


def _reported_cdn(event: Event, last_event_seq: int) -> str | None:
    """The CDN the event says is in force now, if it says one (a stale snapshot says nothing)."""
    match event:
        case CdnChange():
            return event.cdn
        case CdnUpdate():
            return event.cdn
        case Snapshot():
            return event.cdn if event.seq > last_event_seq else None
        case _:
            return None


def close_ms(state: SessionState, end_ms: int) -> int:
    """Where the session closes, as :func:`~reelsight.sessions.summary.summarize` closes it: the End's
    time once one was applied, else ``end_ms``, never before the last event applied."""
    return state.last_ms if state.ended else max(end_ms, state.last_ms)


def build_timeline(recorder: TimelineRecorder, state: SessionState, end_ms: int) -> Timeline:
    """The normalized timeline of a session ending at ``end_ms`` (as passed to ``summarize``).

    States tile ``[start, known]`` (``known``: the end, or the cut): no gaps, no zero-length span, no
    two neighbours alike. Bitrate and CDN spans cover the time their value was known, merged alike.
    A seek or an ad break still open at ``known`` ends there with ``closed`` false."""
    end = close_ms(state, end_ms)
    start = state.start_ms if state.start_ms is not None else end
    known = end if recorder.truncated_ms is None else min(recorder.truncated_ms, end)
    states: list[StateSpan] = []
    bitrates: list[BitrateSpan] = []
    cdns: list[CdnSpan] = []
    seeks: list[Seek] = []
    ad_breaks: list[AdBreak] = []
    errors: list[ErrorMark] = []
    current_state, state_from = _STATE_CODE[STARTING], start
    bitrate, bitrate_from = 0, start
    cdn, cdn_from = NO_CDN, start
    seek_from: int | None = None
    break_from: tuple[int, int] | None = None
    entries = recorder.entries
    for i in range(0, len(entries), _FIELDS):
        kind, t_ms, a, b = entries[i], max(entries[i + 1], start), entries[i + 2], entries[i + 3]
        if kind == _STATE:
            _push_state(states, state_from, t_ms, current_state)
            current_state, state_from = a, t_ms
        elif kind == _BITRATE:
            if bitrate:
                _push_bitrate(bitrates, bitrate_from, t_ms, bitrate)
            bitrate, bitrate_from = a, t_ms
        elif kind == _CDN:
            if cdn != NO_CDN:
                _push_cdn(cdns, cdn_from, t_ms, cdn)
            cdn, cdn_from = a, t_ms
        elif kind == _SEEK_START:
            seek_from = t_ms
        elif kind == _SEEK_END and seek_from is not None:
            seeks.append(Seek(start_ms=seek_from, end_ms=t_ms, closed=True))
            seek_from = None
        elif kind == _AD_START:
            break_from = (t_ms, a)
        elif kind == _AD_END and break_from is not None:
            ad_breaks.append(
                AdBreak(start_ms=break_from[0], end_ms=t_ms, position=_position(break_from[1]), closed=True)
            )
            break_from = None
        elif kind == _ERROR:
            errors.append(ErrorMark(at_ms=t_ms, index=a, is_fatal=bool(b)))
    _push_state(states, state_from, known, current_state)
    if bitrate:
        _push_bitrate(bitrates, bitrate_from, known, bitrate)
    if cdn != NO_CDN:
        _push_cdn(cdns, cdn_from, known, cdn)
    if seek_from is not None:
        seeks.append(Seek(start_ms=seek_from, end_ms=known, closed=False))
    if break_from is not None:
        ad_breaks.append(AdBreak(start_ms=break_from[0], end_ms=known, position=_position(break_from[1]), closed=False))
    return Timeline(
        start_ms=start,
        end_ms=end,
        truncated_ms=None if recorder.truncated_ms is None else known,
        states=states,
        bitrates=bitrates,
        cdns=cdns,
        seeks=seeks,
        ad_breaks=ad_breaks,
        errors=errors,
    )


def _position(code: int) -> str | None:
    return POSITION_NAMES[code]


def _push_state(spans: list[StateSpan], start_ms: int, end_ms: int, code: int) -> None:
    if end_ms <= start_ms:
        return
    name = STATE_NAMES[code]
    if spans and spans[-1].state == name and spans[-1].end_ms == start_ms:
        spans[-1] = StateSpan(start_ms=spans[-1].start_ms, end_ms=end_ms, state=name)
    else:
        spans.append(StateSpan(start_ms=start_ms, end_ms=end_ms, state=name))


def _push_bitrate(spans: list[BitrateSpan], start_ms: int, end_ms: int, bitrate_bps: int) -> None:
    if end_ms <= start_ms:
        return
    if spans and spans[-1].bitrate_bps == bitrate_bps and spans[-1].end_ms == start_ms:
        spans[-1] = BitrateSpan(start_ms=spans[-1].start_ms, end_ms=end_ms, bitrate_bps=bitrate_bps)
    else:
        spans.append(BitrateSpan(start_ms=start_ms, end_ms=end_ms, bitrate_bps=bitrate_bps))


def _push_cdn(spans: list[CdnSpan], start_ms: int, end_ms: int, index: int) -> None:
    if end_ms <= start_ms:
        return
    if spans and spans[-1].cdn_index == index and spans[-1].end_ms == start_ms:
        spans[-1] = CdnSpan(start_ms=spans[-1].start_ms, end_ms=end_ms, cdn_index=index)
    else:
        spans.append(CdnSpan(start_ms=start_ms, end_ms=end_ms, cdn_index=index))
