"""A session timeline as the sessionizer builds it (:class:`Timeline`), and its compact stored form.

The stored form is MessagePack (msgspec) of small integers: times as deltas in ms from the previous
entry of the same list (the first from the session's start), states and ad positions as codes, error
messages and CDN names as references into the session's own document (``status_info.errors``,
``network_info.cdn``), so no text is stored twice. Format version 1: ``docs/architecture.md``.
"""

from __future__ import annotations

import msgspec

FORMAT_VERSION = 1
# The codes of the player states and ad break positions in the stored form (append only).
STATE_NAMES: tuple[str, ...] = ("starting", "playing", "paused", "buffering", "stopped", "not_monitored")
POSITION_NAMES: tuple[str | None, ...] = (None, "pre", "mid", "post")
_STATE_CODES = {name: code for code, name in enumerate(STATE_NAMES)}
_POSITION_CODES = {name: code for code, name in enumerate(POSITION_NAMES)}
_NO_CDN = -1
_OPEN = -1  # the length of a seek or ad break still open where the timeline ends


class StateSpan(msgspec.Struct, frozen=True, gc=False):
    start_ms: int
    end_ms: int
    state: str  # one of STATE_NAMES


class BitrateSpan(msgspec.Struct, frozen=True, gc=False):
    start_ms: int
    end_ms: int
    bitrate_bps: int  # > 0: spans cover only the time the bitrate was known


class CdnSpan(msgspec.Struct, frozen=True, gc=False):
    start_ms: int
    end_ms: int
    cdn_index: int  # into the document's network_info.cdn


class Seek(msgspec.Struct, frozen=True, gc=False):
    """A seek window (seek start -> the next ``playing``, or a ``seek_end`` while playing)."""

    start_ms: int
    end_ms: int
    closed: bool  # false: still open where the timeline ends


class AdBreak(msgspec.Struct, frozen=True, gc=False):
    start_ms: int
    end_ms: int
    position: str | None  # "pre", "mid", "post", None: not reported
    closed: bool


class ErrorMark(msgspec.Struct, frozen=True, gc=False):
    at_ms: int
    index: int  # into the document's status_info.errors
    is_fatal: bool


class Timeline(msgspec.Struct, frozen=True, kw_only=True):
    """Times are epoch ms on the server's corrected timeline; every span lies within
    ``[start_ms, truncated_ms or end_ms]``."""

    start_ms: int
    end_ms: int
    truncated_ms: int | None  # the entry limit was reached here: nothing after it is recorded
    states: list[StateSpan]
    bitrates: list[BitrateSpan]
    cdns: list[CdnSpan]
    seeks: list[Seek]
    ad_breaks: list[AdBreak]
    errors: list[ErrorMark]

    @property
    def known_ms(self) -> int:
        """Where the recorded part ends: the session's end, or the cut."""
        return self.end_ms if self.truncated_ms is None else self.truncated_ms


class _Stored(msgspec.Struct, array_like=True):
    version: int
    start_ms: int
    length_ms: int
    truncated_ms: int  # -1: complete; else from start_ms
    states: list[int]  # (delta, state code) pairs; each span ends where the next begins, the last at known
    bitrates: list[int]  # (delta, bitrate_bps) steps; 0: unknown from there
    cdns: list[int]  # (delta, cdn index) steps; -1: unknown from there
    seeks: list[int]  # (delta of the start, length) pairs; length -1: open
    ad_breaks: list[int]  # (delta of the start, length, position code) triples
    errors: list[int]  # (delta, fatal) pairs; the n-th is the document's n-th error


_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(_Stored)


def encode_timeline(timeline: Timeline) -> bytes:
    start = timeline.start_ms
    known = timeline.known_ms
    stored = _Stored(
        version=FORMAT_VERSION,
        start_ms=start,
        length_ms=timeline.end_ms - start,
        truncated_ms=-1 if timeline.truncated_ms is None else timeline.truncated_ms - start,
        states=_steps(start, known, [(s.start_ms, s.end_ms, _STATE_CODES[s.state]) for s in timeline.states], None),
        bitrates=_steps(start, known, [(b.start_ms, b.end_ms, b.bitrate_bps) for b in timeline.bitrates], 0),
        cdns=_steps(start, known, [(c.start_ms, c.end_ms, c.cdn_index) for c in timeline.cdns], _NO_CDN),
        seeks=[],
        ad_breaks=[],
        errors=[],
    )
    at = start
    for seek in timeline.seeks:
        stored.seeks += (seek.start_ms - at, seek.end_ms - seek.start_ms if seek.closed else _OPEN)
        at = seek.start_ms
    at = start
    for ad in timeline.ad_breaks:
        stored.ad_breaks += (ad.start_ms - at, ad.end_ms - ad.start_ms if ad.closed else _OPEN)
        stored.ad_breaks.append(_POSITION_CODES[ad.position])
        at = ad.start_ms
    at = start
    for number, error in enumerate(timeline.errors):
        if error.index != number:
            raise ValueError("a timeline's errors are the document's first errors, in order")
        stored.errors += (error.at_ms - at, int(error.is_fatal))
        at = error.at_ms
    return _ENCODER.encode(stored)


def _steps(start: int, known: int, spans: list[tuple[int, int, int]], gap: int | None) -> list[int]:
    """Spans as (delta, value) steps; a gap between spans (or after the last) is a step to ``gap``."""
    out: list[int] = []
    at = start
    end = start
    for span_start, span_end, value in spans:
        if out and span_start != end:
            if gap is None:
                raise ValueError("state spans must tile the timeline")
            out += (end - at, gap)
            at = end
        out += (span_start - at, value)
        at, end = span_start, span_end
    if out and end != known:
        if gap is None:
            raise ValueError("state spans must tile the timeline")
        out += (end - at, gap)
    return out


def decode_timeline(data: bytes) -> Timeline:
    """``ValueError`` for bytes that are not a stored timeline this code knows."""
    try:
        stored = _DECODER.decode(data)
    except msgspec.DecodeError as exc:
        raise ValueError(f"not a stored timeline: {exc}") from None
    if stored.version != FORMAT_VERSION:
        raise ValueError(f"stored timeline format {stored.version} is not known here")
    start = stored.start_ms
    end = start + stored.length_ms
    truncated = None if stored.truncated_ms < 0 else start + stored.truncated_ms
    known = end if truncated is None else truncated
    states = [StateSpan(a, b, STATE_NAMES[v]) for a, b, v in _spans(start, known, stored.states, None)]
    bitrates = [BitrateSpan(a, b, v) for a, b, v in _spans(start, known, stored.bitrates, 0)]
    cdns = [CdnSpan(a, b, v) for a, b, v in _spans(start, known, stored.cdns, _NO_CDN)]
    seeks: list[Seek] = []
    at = start
    for i in range(0, len(stored.seeks) - 1, 2):
        at += stored.seeks[i]
        length = stored.seeks[i + 1]
        seeks.append(Seek(at, known if length == _OPEN else at + length, length != _OPEN))
    ad_breaks: list[AdBreak] = []
    at = start
    for i in range(0, len(stored.ad_breaks) - 2, 3):
        at += stored.ad_breaks[i]
        length, code = stored.ad_breaks[i + 1], stored.ad_breaks[i + 2]
        position = POSITION_NAMES[code] if 0 <= code < len(POSITION_NAMES) else None
        ad_breaks.append(AdBreak(at, known if length == _OPEN else at + length, position, length != _OPEN))
    errors: list[ErrorMark] = []
    at = start
    for i in range(0, len(stored.errors) - 1, 2):
        at += stored.errors[i]
        errors.append(ErrorMark(at, i // 2, bool(stored.errors[i + 1])))
    return Timeline(
        start_ms=start,
        end_ms=end,
        truncated_ms=truncated,
        states=states,
        bitrates=bitrates,
        cdns=cdns,
        seeks=seeks,
        ad_breaks=ad_breaks,
        errors=errors,
    )


def _spans(start: int, known: int, steps: list[int], gap: int | None) -> list[tuple[int, int, int]]:
    out: list[tuple[int, int, int]] = []
    at = start
    points = [(at := at + steps[i], steps[i + 1]) for i in range(0, len(steps) - 1, 2)]
    for number, (begin, value) in enumerate(points):
        finish = points[number + 1][0] if number + 1 < len(points) else known
        if value != gap and (gap is not None or 0 <= value < len(STATE_NAMES)):
            out.append((begin, finish, value))
    return out
