"""The messages between the HTTP processes and the coordinator, and their framing: pure, no I/O.

Each frame is a 4-byte big-endian length and a MessagePack body (msgspec, tagged structs). Both
directions carry a request id where an answer is awaited; an answer names the id it answers.
Internal events travel as the same structs the live log stores (``ingest.events``), so nothing is
converted on the way.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from reelsight.ingest.events import Event
from reelsight.sessions.live import Status
from reelsight.sessions.seqs import SeqClaim
from reelsight.store.base import Account

MAX_FRAME_BYTES = 64 * 1024 * 1024  # far above any batch the HTTP side accepts (ingest_max_batch_bytes)
_LENGTH = 4


class Submit(msgspec.Struct, tag="submit", array_like=True):
    """One decoded ingest batch to apply durably; answered by ``Applied`` or ``Failed``."""

    id: int
    account: Account
    receive_ms: int
    client_ip: str
    user_agent: str
    events: list[tuple[int, Event]]
    claims: list[SeqClaim]


class Counts(msgspec.Struct, tag="counts", array_like=True):
    """Counter increments an HTTP process gathered (requests by protocol and outcome, refused
    events); no answer."""

    requests: list[tuple[str, str, int]]
    rejected: int


class StatsQuery(msgspec.Struct, tag="stats", array_like=True):
    """Ask for the counters of every process together (``/metrics``); answered by ``Stats``."""

    id: int


class Check(msgspec.Struct, tag="check", array_like=True):
    """Is the live log's file still trusted (``/healthz``)? Answered by ``Done`` or ``Failed``."""

    id: int


class Admit(msgspec.Struct, tag="admit", array_like=True):
    """Count one read request against its client address's window; answered by ``Done`` or
    ``Limited``."""

    id: int
    ip: str


class Enter(msgspec.Struct, tag="enter", array_like=True):
    """One more read of the account in flight; answered by ``Done`` or ``Limited``. Every ``Done``
    is matched by one ``Leave`` (or the connection's end)."""

    id: int
    account_id: int


class Leave(msgspec.Struct, tag="leave", array_like=True):
    """One read of the account finished; no answer."""

    account_id: int


ToCoordinator = Submit | Counts | StatsQuery | Check | Admit | Enter | Leave


class Applied(msgspec.Struct, tag="applied", array_like=True):
    id: int
    statuses: list[tuple[int, Status]]  # (index in the request, its outcome)


class Failed(msgspec.Struct, tag="failed", array_like=True):
    """``kind``: ``storage`` (``StorageFailure``: send it again) or ``internal`` (a bug, logged by
    the coordinator)."""

    id: int
    kind: str
    message: str


class Limited(msgspec.Struct, tag="limited", array_like=True):
    id: int
    message: str
    retry_after_s: int


class Done(msgspec.Struct, tag="done", array_like=True):
    id: int


class Stats(msgspec.Struct, tag="stats_answer", array_like=True):
    id: int
    requests: list[tuple[str, str, int]]
    accepted: int
    duplicate: int
    late: int
    rejected: int
    ended_by_player: int
    ended_by_expiration: int
    live_sessions: int


ToHttp = Applied | Failed | Limited | Done | Stats

_encoder = msgspec.msgpack.Encoder()
to_coordinator = msgspec.msgpack.Decoder(ToCoordinator)
to_http = msgspec.msgpack.Decoder(ToHttp)


class FrameTooLarge(ValueError):
    """A frame's announced length exceeds ``MAX_FRAME_BYTES`` (the peer is broken: drop it)."""


def frame(message: msgspec.Struct) -> bytes:
    body = _encoder.encode(message)
    return len(body).to_bytes(_LENGTH, "big") + body


def frames(messages: Sequence[msgspec.Struct]) -> bytes:
    return b"".join(frame(m) for m in messages)


class FrameSplitter:
    """Bytes as they arrive in, whole frame bodies out."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        buffer = self._buffer
        buffer += data
        out: list[bytes] = []
        start = 0
        end = len(buffer)
        while end - start >= _LENGTH:
            size = int.from_bytes(buffer[start : start + _LENGTH], "big")
            if size > MAX_FRAME_BYTES:
                raise FrameTooLarge(f"a frame of {size} bytes")
            if end - start - _LENGTH < size:
                break
            out.append(bytes(buffer[start + _LENGTH : start + _LENGTH + size]))
            start += _LENGTH + size
        if start:
            del buffer[:start]
        return out
