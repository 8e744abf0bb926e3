"""The live-session registry: sessions in progress, folded from their events, each ended exactly once.

One thread (the ingest worker) owns it. A round takes several request batches, classifies every
event (accepted / duplicate by seq / late for an ended session), folds accepted events in time order
(re-folding from the log when one arrives out of order), ends sessions that reported their end or
expired, and writes the whole round through :class:`~reelsight.store.base.LiveLog` in one commit.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Callable, Sequence
from typing import Literal, Protocol

import msgspec

from reelsight.ingest.events import End, Event, MetadataUpdate, RepeatedStart, Start, event_sort_key
from reelsight.sessions.context import BusinessRules, Enrichment
from reelsight.sessions.document import SELECTED_DIMENSION_KEYS, SessionDocument
from reelsight.sessions.live_log import IngestCommit, LiveKey, LiveLog
from reelsight.sessions.recorder import TimelineRecorder, apply_recorded, build_timeline
from reelsight.sessions.seqs import SeqClaim, SeqRanges
from reelsight.sessions.shared_values import SharedKeySets, share_strings
from reelsight.sessions.summary import summarize
from reelsight.sessions.timeline import SessionState, new_state, update_content
from reelsight.sessions.timeline_codec import encode_timeline
from reelsight.store.base import Account

Status = Literal["accepted", "duplicate", "late", "rejected"]
TAG_LIMIT_REASON = "the session would carry more custom tags than ingest_max_tags_per_session allows"
BY_PLAYER = "By Player"
BY_EXPIRATION = "By Expiration"
_RECENTLY_ENDED = 100_000
EXPIRY_SWEEP_MS = 1000  # expired sessions end within this long after their timeout
_DIMENSION_KEYS = frozenset(SELECTED_DIMENSION_KEYS)
_LOGGED_DECODER = msgspec.json.Decoder(Event | list[Event])
_ENCODER = msgspec.json.Encoder()


class Enrich(Protocol):
    def __call__(self, *, start: Start | None, user_agent: str, ip: str, ip_privacy: str) -> Enrichment: ...


@dataclasses.dataclass
class IncomingBatch:
    account: Account
    receive_ms: int
    client_ip: str
    user_agent: str
    events: list[tuple[int, Event]]  # (index in the request, event on the server timeline)
    claims: Sequence[SeqClaim] = ()  # the sequence blocks its reports own (``SeqClaim``)


@dataclasses.dataclass
class IngestStats:
    """Counters exposed at /metrics. Each field has one writing thread: ``requests`` and ``refused``
    the request side's event loop, the rest the ingest worker's thread (a read-modify-write of one
    field from both could lose counts)."""

    # Requests by (protocol, outcome), for protocols whose requests are not all event batches.
    requests: collections.Counter[tuple[str, str]] = dataclasses.field(default_factory=collections.Counter)
    accepted: int = 0
    duplicate: int = 0
    late: int = 0
    rejected: int = 0  # by the registry (the tag limit); /metrics adds ``refused`` (``ingest/sessionizer.py``)
    ended_by_player: int = 0
    ended_by_expiration: int = 0
    refused: int = 0  # events a decoder refused, before the registry saw them


@dataclasses.dataclass(slots=True)
class LiveSession:
    key: LiveKey
    enrichment: Enrichment
    state: SessionState = dataclasses.field(default_factory=new_state)
    has_start: bool = False
    seqs: SeqRanges = dataclasses.field(default_factory=SeqRanges)
    last_order: tuple[int, int] = (-(2**63), -1)
    last_t_ms: int = 0
    last_heard_ms: int = 0
    end_ms: int | None = None  # the End event's time once applied
    tag_keys: frozenset[str] = frozenset()  # custom tag keys ever accepted (shared: ``SharedKeySets``)
    timeline: TimelineRecorder = dataclasses.field(default_factory=TimelineRecorder)  # reset with the state

    @property
    def conviva_session_id(self) -> str:
        return f"{self.key[1]}.{self.key[2]}"


@dataclasses.dataclass(slots=True)
class _Pending:
    event: Event
    batch: int
    index: int


def _logged_events(bodies: Sequence[bytes]) -> list[Event]:
    """The events of a session's log rows: each row is a JSON array of the events one round
    accepted, or (a log written before rows were per round) one event."""
    events: list[Event] = []
    for body in bodies:
        decoded = _LOGGED_DECODER.decode(body)
        if isinstance(decoded, list):
            events += decoded
        else:
            events.append(decoded)
    return events


def _persisted_seqs(snapshots: Sequence[bytes]) -> SeqRanges:
    """A recovered session's seen numbers as committed (with its claimed blocks): the union of its
    snapshots. A log written before they were kept, or an unreadable value, adds nothing: the logged
    events alone remain."""
    seen = SeqRanges()
    for data in snapshots:
        try:
            ranges = SeqRanges.from_bytes(data)
        except ValueError:
            continue
        for start, end in ranges.ranges():
            seen.add_range(start, end)
    return seen


def _changes_start(session: LiveSession, start: RepeatedStart) -> bool:
    """A repeated start is kept when it is earlier than the session's start (reports arrived out of
    order: the session starts at the earliest report), or when it names content the session does
    not know yet (a CMCD player sends `st` or `cid` only from some later report on)."""
    state = session.state
    if state.start_ms is None or start.t_ms < state.start_ms:
        return True
    content = start.content
    return bool(
        (content.asset and not state.asset)
        or (content.stream_url and not state.stream_url)
        or (content.is_live is not None and state.is_live is None)
        or (content.length_ms > 0 and state.length_ms <= 0)
    )


class LiveRegistry:
    def __init__(
        self,
        log: LiveLog,
        enrich: Enrich,
        rules_for: Callable[[int], BusinessRules],
        *,
        timeout_ms: int,
        max_tags: int = 100,
        stats: IngestStats | None = None,
    ) -> None:
        self._log = log
        self._enrich = enrich
        self._rules_for = rules_for
        self._timeout_ms = timeout_ms
        self._max_tags = max_tags
        self._next_sweep_ms = 0
        self.stats = stats or IngestStats()
        self.sessions: dict[LiveKey, LiveSession] = {}
        self._recently_ended: collections.OrderedDict[LiveKey, None] = collections.OrderedDict()
        self._key_sets = SharedKeySets()

    # -- start-up ----------------------------------------------------------------------------------

    def recover(self, now_ms: int) -> None:
        """Rebuild every live session from the log. Each gets a full timeout from now to be heard
        again (the server was away, not the players); its end time is still its last event."""
        self.sessions.clear()
        for row in self._log.load():
            session = LiveSession(row.key, share_strings(msgspec.json.decode(row.enrichment, type=Enrichment)))
            events = _logged_events(row.events)
            session.seqs = _persisted_seqs(row.seqs)
            for event in events:
                session.seqs.add(event.seq)
            self._refold(session, events)
            session.has_start = any(isinstance(e, Start) for e in events)
            tag_keys = {key for e in events if isinstance(e, Start | MetadataUpdate) for key in e.metadata}
            session.tag_keys = self._key_sets.shared(frozenset(tag_keys - _DIMENSION_KEYS))
            session.last_heard_ms = max(row.last_heard_ms, now_ms)
            self.sessions[row.key] = session

    # -- one round ---------------------------------------------------------------------------------

    def process(self, batches: Sequence[IncomingBatch], now_ms: int) -> list[dict[int, Status]]:
        """Classify, fold and persist the batches, end what ended or expired; one commit.

        On a failed commit the registry reloads itself from the log and the error propagates: the
        batches were not acknowledged, so the players will send them again.
        """
        work = IngestCommit()
        statuses: list[dict[int, Status]] = [{} for _ in batches]
        pending: dict[LiveKey, list[_Pending]] = {}
        opened: set[LiveKey] = set()
        for number, batch in enumerate(batches):
            for index, event in batch.events:
                key = (batch.account.id, event.client_id, event.session_id)
                session = self.sessions.get(key)
                if session is None:
                    if self._has_ended(key):
                        statuses[number][index] = "late"
                        continue
                    session = self._open(key, batch)
                    opened.add(key)
                if isinstance(event, RepeatedStart) and session.has_start and not _changes_start(session, event):
                    statuses[number][index] = "duplicate"  # the report repeats a start already had
                    continue
                if isinstance(event, Start) and not session.has_start:
                    session.enrichment = self._enrichment(batch, event)
                    session.has_start = True
                    opened.add(key)
                if event.seq in session.seqs:
                    statuses[number][index] = "duplicate"
                    continue
                if isinstance(event, Start | MetadataUpdate):
                    new_keys = event.metadata.keys() - _DIMENSION_KEYS
                    if not new_keys <= session.tag_keys:
                        tags = session.tag_keys | new_keys
                        if len(tags) > self._max_tags:
                            statuses[number][index] = "rejected"
                            continue
                        session.tag_keys = self._key_sets.shared(tags)
                session.seqs.add(event.seq)
                session.last_heard_ms = max(session.last_heard_ms, batch.receive_ms)
                pending.setdefault(key, []).append(_Pending(event, number, index))
                statuses[number][index] = "accepted"
            for claim in batch.claims:  # after the batch's own events, which share their blocks
                claimed = self.sessions.get((batch.account.id, claim.client_id, claim.session_id))
                if claimed is not None:
                    claimed.seqs.add_range(claim.start, claim.end)

        ended: list[tuple[LiveSession, str, int]] = []
        for key, items in pending.items():
            session = self.sessions[key]
            for late in self._fold(session, items):
                statuses[late.batch][late.index] = "late"
            if session.end_ms is not None:
                ended.append((session, BY_PLAYER, session.end_ms))
            else:  # one log row per session and round: its accepted events, keyed by the first's seq
                accepted = [item.event for item in items if statuses[item.batch][item.index] == "accepted"]
                if accepted:
                    work.events.append((key, accepted[0].seq, _ENCODER.encode(accepted)))
        ending = {s.key for s, _status, _end in ended}
        if now_ms >= self._next_sweep_ms:  # a full scan for expiry at most once a second, not every round
            self._next_sweep_ms = now_ms + EXPIRY_SWEEP_MS
            for session in self.sessions.values():
                if session.key not in ending and now_ms - session.last_heard_ms >= self._timeout_ms:
                    ended.append((session, BY_EXPIRATION, session.last_t_ms))

        for key in opened:
            session = self.sessions[key]
            if session.end_ms is None and key not in ending:
                work.new_sessions.append(
                    (key, _ENCODER.encode(session.enrichment), session.last_heard_ms, session.seqs.to_bytes())
                )
        for key in pending:
            if key not in opened and key not in ending:
                session = self.sessions[key]
                work.heard[key] = (session.last_heard_ms, session.seqs.to_bytes())
        for session, ended_status, end_ms in ended:
            work.ended.append((session.key, self._summarize(session, ended_status, end_ms)))
            work.timelines[session.key] = encode_timeline(build_timeline(session.timeline, session.state, end_ms))

        try:
            if work:
                self._log.commit(work)
        except Exception:
            self.recover(now_ms)
            raise
        for session, ended_status, _end_ms in ended:
            del self.sessions[session.key]
            self._remember_ended(session.key)
            if ended_status == BY_PLAYER:
                self.stats.ended_by_player += 1
            else:
                self.stats.ended_by_expiration += 1
        for batch_statuses in statuses:
            for status in batch_statuses.values():
                setattr(self.stats, status, getattr(self.stats, status) + 1)
        return statuses

    # -- helpers -----------------------------------------------------------------------------------

    def _has_ended(self, key: LiveKey) -> bool:
        if key in self._recently_ended:
            return True
        return self._log.is_ended(key[0], f"{key[1]}.{key[2]}")

    def _remember_ended(self, key: LiveKey) -> None:
        self._recently_ended[key] = None
        if len(self._recently_ended) > _RECENTLY_ENDED:
            self._recently_ended.popitem(last=False)

    def _enrichment(self, batch: IncomingBatch, start: Start | None) -> Enrichment:
        enrichment = self._enrich(
            start=start, user_agent=batch.user_agent, ip=batch.client_ip, ip_privacy=batch.account.ip_privacy
        )
        return share_strings(enrichment)

    def _open(self, key: LiveKey, batch: IncomingBatch) -> LiveSession:
        session = LiveSession(key, self._enrichment(batch, None))
        self.sessions[key] = session
        return session

    def _fold(self, session: LiveSession, items: list[_Pending]) -> list[_Pending]:
        """Apply this round's new events; returns those that fall after the session's End (late)."""
        items.sort(key=lambda p: event_sort_key(p.event))
        # A repeated start that arrives after later events only moves the start earlier: time before
        # the first event counts in nothing but the start time, so no re-fold is needed for it.
        start_ms = session.state.start_ms
        if start_ms is not None:
            early = [p for p in items if isinstance(p.event, RepeatedStart) and p.event.t_ms <= start_ms]
            if early:
                session.state.start_ms = min(p.event.t_ms for p in early)
                for item in early:  # and what it names that the session did not know (CMCD)
                    assert isinstance(item.event, RepeatedStart)
                    update_content(session.state, item.event.content)
                items = [p for p in items if not (isinstance(p.event, RepeatedStart) and p.event.t_ms <= start_ms)]
                if not items:
                    return []
        if event_sort_key(items[0].event) < session.last_order:
            logged = _logged_events(self._log.events_of(session.key))
            self._refold(session, [*logged, *(p.event for p in items)])
            if session.end_ms is None:
                return []
            return [p for p in items if event_sort_key(p.event) > session.last_order]
        late: list[_Pending] = []
        for item in items:
            if session.end_ms is not None:
                late.append(item)
                continue
            self._apply(session, item.event)
        return late

    def _refold(self, session: LiveSession, events: list[Event]) -> None:
        session.state = new_state()
        session.timeline = TimelineRecorder()
        session.end_ms = None
        session.last_order = (-(2**63), -1)
        for event in sorted(events, key=event_sort_key):
            if session.end_ms is not None:
                break
            self._apply(session, event)

    @staticmethod
    def _apply(session: LiveSession, event: Event) -> None:
        apply_recorded(session.state, session.timeline, event)
        session.last_order = event_sort_key(event)
        session.last_t_ms = max(session.last_t_ms, event.t_ms)
        if isinstance(event, End):
            session.end_ms = event.t_ms

    def _summarize(self, session: LiveSession, ended_status: str, end_ms: int) -> SessionDocument:
        _account_id, client_id, session_id = session.key
        return summarize(
            session.state,
            client_id=client_id,
            session_id=session_id,
            enrichment=session.enrichment,
            rules=self._rules_for(session.key[0]),
            ended_status=ended_status,
            end_ms=end_ms,
        )
