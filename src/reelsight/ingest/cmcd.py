"""CMCD version 2 event reports (CTA-5004-B) -> internal events. Pure: bytes and the receive time in.

A body holds reports, one per line, each an RFC 8941 dictionary (parsed by ``http-sf``); the spec's
JSON form is accepted too. A report belongs to the session of its ``sid`` and is numbered by ``sn``;
internal sequence numbers derive from ``sn``, so a resent report is a duplicate. Every report also
yields a repeated start (content from ``cid``/``st``) and, when it carries ``sta``/``br`` but is not a
state or bitrate event, a snapshot (see ``Snapshot``). The mapping: ``docs/ingest-cmcd.md``.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from typing import Any

import http_sf
import msgspec

from reelsight.errors import PayloadTooLarge
from reelsight.ingest.decoded import DecodedBatch
from reelsight.ingest.events import (
    MAX_TEXT_CHARS,
    Bitrate,
    Content,
    End,
    Event,
    Heartbeat,
    PlayerError,
    PlayerState,
    RepeatedStart,
    SeekStart,
    Snapshot,
    StateChange,
)
from reelsight.ingest.native import MAX_EVENT_AGE_MS, MAX_EVENT_FUTURE_MS
from reelsight.sessions.seqs import SeqClaim

PATH = "/ingest/cmcd/v2"
SESSION_ID = "0"  # every CMCD session's session_id: the sid is all in the client_id (see session_identity)
SLOTS = 8  # internal seq = sn * SLOTS + slot
MAX_SN = (2**31 - 1) // SLOTS - 1
_START_SLOT = 0

# `sta` -> internal state. `s` (starting) and `d` (preloading) are the time before the first frame:
# the session stays "starting". `k` (seeking) opens a seek window and buffers until the next `p`.
STATES = {"p": PlayerState.PLAYING, "r": PlayerState.BUFFERING, "w": PlayerState.BUFFERING,
          "a": PlayerState.PAUSED, "k": PlayerState.BUFFERING}  # fmt: skip
ENDING = frozenset({"e", "q"})  # ended, quit: the session ends "By Player"
FATAL = "f"
NOT_STARTED = frozenset({"s", "d"})  # an error reported in these states is fatal: a start failure
_STEADY = frozenset({"p", "r", "w", "a"})  # states an interval report may correct (not k, f, e, q)
_STATE_EVENT = "ps"
_BITRATE_EVENT = "bc"
_ERROR_EVENT = "e"
_RESPONSE_EVENT = "rr"

# The reasons a line is refused: fixed texts, so that /metrics can count them as labels.
NOT_A_DICTIONARY = "not a CMCD dictionary"
NO_SID = "sid is missing (dash.js sends it only when the target's enabledKeys lists it)"
NO_TS = "ts is missing or not an integer"
NO_SN = "sn is missing or out of range"
TS_OUT_OF_RANGE = "ts is more than 24 hours before or 5 minutes after the report's receipt"
REASONS = (NOT_A_DICTIONARY, NO_SID, NO_TS, NO_SN, TS_OUT_OF_RANGE)

_JSON = msgspec.json.Decoder(Any)


def session_identity(sid: str) -> tuple[str, str]:
    """(client_id, session_id) of a player's ``sid``: a UUID's 128 bits as four unsigned 32-bit
    integers, big-endian (any other string: the first 128 bits of its SHA-256), and ``"0"``."""
    try:
        raw = uuid.UUID(sid).bytes
    except ValueError:
        raw = hashlib.sha256(sid.encode("utf-8", "replace")).digest()[:16]
    client_id = ".".join(str(int.from_bytes(raw[i : i + 4], "big")) for i in range(0, 16, 4))
    return client_id, SESSION_ID


def _plain(value: object) -> object:
    """An SFV member as plain Python: items lose their parameters, inner lists become lists of
    (value, parameters), tokens become strings."""
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], dict):
        inner = value[0]
        if isinstance(inner, list):
            return [(_bare(item[0]), item[1]) for item in inner]
        return _bare(inner)
    return _bare(value)


def _bare(value: object) -> object:
    return str(value) if isinstance(value, http_sf.Token) else value


Reports = list[tuple[int, dict[str, Any]]]  # (line index, key -> value)


def parse_body(body: bytes, content_type: str, *, max_lines: int) -> tuple[Reports, dict[int, str]]:
    """The reports of a body (line index -> key -> value) and the refused lines with their reason.
    ``application/json``: an array of objects, or one object per line (a lenient extra)."""
    reports: Reports = []
    refused: dict[int, str] = {}
    for index, report in _reports(body, content_type.split(";")[0].strip().lower()):
        if len(reports) + len(refused) >= max_lines:
            raise PayloadTooLarge(f"a body may hold at most {max_lines} reports")
        if report is None:
            refused[index] = NOT_A_DICTIONARY
        else:
            reports.append((index, report))
    return reports, refused


def _reports(body: bytes, media_type: str) -> Iterator[tuple[int, dict[str, Any] | None]]:
    if media_type == "application/json":
        try:
            whole = _JSON.decode(body)
        except (msgspec.DecodeError, RecursionError):
            whole = None
        if isinstance(whole, list):
            for index, item in enumerate(whole):
                yield index, item if isinstance(item, dict) else None
            return
        if isinstance(whole, dict):
            yield 0, whole
            return
    for index, raw_line in enumerate(body.split(b"\n")):
        line = raw_line.strip(b"\r\t ")
        if not line:
            continue
        if media_type == "application/json" or line.startswith(b"{"):
            try:
                item = _JSON.decode(line)
            except (msgspec.DecodeError, RecursionError):
                item = None
            yield index, item if isinstance(item, dict) else None
            continue
        try:
            parsed = http_sf.parse(line, tltype="dictionary")
        except (http_sf.StructuredFieldError, ValueError, UnicodeError):
            yield index, None
            continue
        assert isinstance(parsed, dict)
        yield index, {key: _plain(value) for key, value in parsed.items()}


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _token(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _first_number(value: object, media_type: str = "v") -> int | float | None:
    """A kb/s value: a number, or the inner list's item for ``media_type`` (else its first item)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    if isinstance(value, list) and value:
        numbers = [(v, p) for v, p in value if isinstance(v, int | float) and not isinstance(v, bool)]
        for number, params in numbers:
            if isinstance(params, dict) and params.get(media_type) is True:
                return number
        return numbers[0][0] if numbers else None
    return None


def _codes(value: object) -> str:
    """Error codes as one text: ``ec`` is a string, an integer, or an inner list of them."""
    if isinstance(value, list):
        return ", ".join(str(v) for v, _params in value)[:MAX_TEXT_CHARS]
    return "" if value is None else str(value)[:MAX_TEXT_CHARS]


def _events(report: dict[str, Any], ids: dict[str, Any]) -> list[Event]:
    """The internal events one report stands for (before sequence numbers are given out)."""
    out: list[Event] = []
    kind = _token(report.get("e"))
    sta = _token(report.get("sta"))
    kbps = _first_number(report.get("br"))
    bitrate_bps = None if kbps is None else max(0, min(round(kbps * 1000), 10**10))
    if kind == _STATE_EVENT and sta is not None:
        if sta == "k":
            out.append(SeekStart(**ids))
        if sta in STATES:
            out.append(StateChange(**ids, state=STATES[sta]))
        elif sta == FATAL:
            codes = _codes(report.get("ec"))
            out.append(PlayerError(**ids, message=codes or "player state f (fatal error)", fatal=True))
            out.append(StateChange(**ids, state=PlayerState.STOPPED))
        elif sta in ENDING:
            out.append(StateChange(**ids, state=PlayerState.STOPPED))
    elif kind == _ERROR_EVENT:
        fatal = sta == FATAL or sta in NOT_STARTED
        out.append(PlayerError(**ids, message=_codes(report.get("ec")) or "error", fatal=fatal))
    if kind == _BITRATE_EVENT and bitrate_bps is not None:
        out.append(Bitrate(**ids, bitrate_bps=bitrate_bps))
    # What a report of another kind says is in force (interval reports repeat sta and br). Not a
    # response report: its ts is the request's start but its sta the state at the response's end
    # (a held segment's `rr` says `r` seconds before the stall), and its br the requested object's.
    if kind == _RESPONSE_EVENT:
        return out
    snapshot_state = STATES.get(sta) if kind != _STATE_EVENT and sta in _STEADY else None
    snapshot_bitrate = bitrate_bps if kind != _BITRATE_EVENT else None
    if snapshot_state is not None or snapshot_bitrate is not None:
        out.append(Snapshot(**ids, state=snapshot_state, bitrate_bps=snapshot_bitrate))
    if kind == _STATE_EVENT and sta in ENDING:
        out.append(End(**ids))
    return out


def decode_reports(reports: Reports, refused: dict[int, str], *, receive_ms: int) -> DecodedBatch:
    """Each report's internal events, at its own ``ts`` (CMCD carries no send time: the player's
    clock is taken as it is, so durations are exact and a wrong device clock shifts the session)."""
    batch = DecodedBatch([], dict(refused), {})
    for index, report in reports:
        sid = report.get("sid")
        if not isinstance(sid, str) or not sid:
            batch.rejected[index] = NO_SID
            continue
        ts = _int(report.get("ts"))
        if ts is None:
            batch.rejected[index] = NO_TS
            continue
        sn = _int(report.get("sn"))
        if sn is None or not 0 <= sn <= MAX_SN:
            batch.rejected[index] = NO_SN
            continue
        if not receive_ms - MAX_EVENT_AGE_MS <= ts <= receive_ms + MAX_EVENT_FUTURE_MS:
            batch.rejected[index] = TS_OUT_OF_RANGE
            continue
        client_id, session_id = session_identity(sid[:MAX_TEXT_CHARS])
        ids = {"client_id": client_id, "session_id": session_id, "seq": 0, "t_ms": ts}
        cid = report.get("cid")
        stream_type = _token(report.get("st"))
        content = Content(
            asset=cid[:MAX_TEXT_CHARS] if isinstance(cid, str) else "",
            is_live={"v": False, "l": True}.get(stream_type or ""),
        )
        start = RepeatedStart(
            client_id=client_id, session_id=session_id, seq=sn * SLOTS + _START_SLOT, t_ms=ts, content=content
        )
        batch.events.append((index, start))
        batch.claims.append(SeqClaim(client_id, session_id, sn * SLOTS, (sn + 1) * SLOTS))
        # A report that says nothing new (an `rr`, a `t` while starting) still shows the session alive
        # at its ts: where an expiring session ends, and what keeps it from expiring.
        events = _events(report, ids) or [Heartbeat(client_id=client_id, session_id=session_id, seq=0, t_ms=ts)]
        for slot, event in enumerate(events[: SLOTS - 1], start=1):
            event.seq = sn * SLOTS + slot
            batch.events.append((index, event))
    return batch
