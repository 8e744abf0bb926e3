"""The live-session log the sessionizer needs (its port; ``store/sqlite/live_log.py`` implements it).

Acknowledged ingest events and the live sessions they belong to, durable before any answer; a
restart reads them back. A round of the ingest worker is one :class:`IngestCommit`, applied
atomically. Ended sessions leave the log in that same commit: into the session store directly
when it is the same SQLite file, or through an outbox that drains idempotently into another store
(ClickHouse), so "exactly once" never needs one transaction across both.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Protocol

from reelsight.sessions.document import SessionDocument

LiveKey = tuple[int, str, str]  # account_id, client_id, session_id


@dataclasses.dataclass
class LiveSessionRow:
    key: LiveKey
    enrichment: bytes
    last_heard_ms: int
    events: list[bytes]
    # the seen sequence numbers as committed (``SeqRanges.to_bytes``), one or more snapshots: their union
    seqs: list[bytes] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class IngestCommit:
    """Everything one round of the ingest worker writes, applied atomically."""

    # (key, enrichment, last heard, seen sequence numbers) of each session that opened
    new_sessions: list[tuple[LiveKey, bytes, int, bytes]] = dataclasses.field(default_factory=list)
    # key -> (last heard, seen sequence numbers) of each live session that took events
    heard: dict[LiveKey, tuple[int, bytes]] = dataclasses.field(default_factory=dict)
    # (key, seq of the first, body) per live session that took events this round: the body is the
    # JSON array of the events it accepted (a log written before 2026-12-03 holds one event per row;
    # both are read back)
    events: list[tuple[LiveKey, int, bytes]] = dataclasses.field(default_factory=list)
    ended: list[tuple[LiveKey, SessionDocument]] = dataclasses.field(default_factory=list)
    # key -> the stored timeline (``timeline_codec``) of each session in ``ended`` that has one
    timelines: dict[LiveKey, bytes] = dataclasses.field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.new_sessions or self.heard or self.events or self.ended)


class LiveLog(Protocol):
    def commit(self, work: IngestCommit) -> None:
        """Apply one round atomically: after it returns, a crash loses none of it."""
        ...

    def load(self) -> Iterable[LiveSessionRow]: ...
    def events_of(self, key: LiveKey) -> list[bytes]: ...
    def is_ended(self, account_id: int, conviva_session_id: str) -> bool: ...
    def check(self) -> None:
        """Raise ``StorageFailure`` when the log can no longer be trusted with an acknowledgement."""
        ...
