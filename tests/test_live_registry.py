"""The live registry over a real SQLite log: batch splits, retries, arrival order and restarts change
nothing; late events never reopen a session."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reelsight.ingest import conviva
from reelsight.ingest.events import (
    CdnChange,
    Content,
    End,
    Event,
    Heartbeat,
    PlayerState,
    Start,
    StateChange,
    event_sort_key,
)
from reelsight.sessions.context import BusinessRules, Enrichment
from reelsight.sessions.document import SessionDocument, decode_document
from reelsight.sessions.live import IncomingBatch, LiveRegistry
from reelsight.sessions.live_log import IngestCommit
from reelsight.sessions.seqs import SeqRanges
from reelsight.store.base import Account
from reelsight.store.sqlite import SqliteStore
from reelsight.store.sqlite.documents import add_stored_doc_function
from reelsight.store.sqlite.live_log import SqliteLiveLog
from tests.test_conviva_decoder import heartbeat as conviva_heartbeat
from tests.test_sessionizer_properties import document, streams
from tests.test_sessionizer_vectors import ENRICHMENT

TIMEOUT_MS = 90_000
ACCOUNT = Account(1, "acme", False, (), "ik_x", 0)


def _enrich(*, start: Start | None, user_agent: str, ip: str, ip_privacy: str) -> Enrichment:
    return ENRICHMENT


class Harness:
    def __init__(self, path: Path) -> None:
        self.path = str(path)
        self.store = SqliteStore(self.path)
        self.store.create_account("acme", viewer_module=False, business_error_patterns=(), ingest_key="ik_x")
        self.registry = self.new_registry()

    def new_registry(self) -> LiveRegistry:
        return LiveRegistry(
            SqliteLiveLog(self.store), _enrich, lambda _account: BusinessRules(()), timeout_ms=TIMEOUT_MS
        )

    def send(self, events: list[Event], receive_ms: int) -> dict[int, str]:
        batch = IncomingBatch(ACCOUNT, receive_ms, "", "", list(enumerate(msgspec.structs.replace(e) for e in events)))
        return dict(self.registry.process([batch], receive_ms)[0])

    def stored(self) -> list[SessionDocument]:
        with sqlite3.connect(self.path) as conn:
            add_stored_doc_function(conn)
            docs = [row[0] for row in conn.execute("SELECT stored_doc(dict_id, doc) FROM session_docs")]
        return [decode_document(doc) for doc in docs]

    def close(self) -> None:
        self.store.close()


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    h = Harness(tmp_path / "live.db")
    yield h
    h.close()


def _expected(events: list[Event]) -> SessionDocument:
    ordered = sorted(events, key=event_sort_key)
    end = next((e for e in ordered if isinstance(e, End)), None)
    if end is not None:
        doc = document(ordered, BusinessRules(()), "By Player", end.t_ms)
    else:
        doc = document(ordered, BusinessRules(()), "By Expiration", ordered[-1].t_ms)
    return msgspec.structs.replace(doc, viewer_id=msgspec.UNSET)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stream=streams(), seed=st.integers(0, 2**32 - 1), restart=st.booleans())
def test_any_split_order_and_retries_give_the_same_session(
    tmp_path_factory: pytest.TempPathFactory, stream: list[Event], seed: int, restart: bool
) -> None:
    rng = random.Random(seed)
    h = Harness(tmp_path_factory.mktemp("live") / "live.db")
    try:
        end_at = next((i for i, e in enumerate(stream) if isinstance(e, End)), None)
        before_end = stream if end_at is None else stream[:end_at]
        shuffled = rng.sample(before_end, len(before_end))
        cuts = (
            sorted(rng.sample(range(1, len(shuffled)), min(len(shuffled) - 1, rng.randint(0, 5)))) if shuffled else []
        )
        batches = [shuffled[a:b] for a, b in zip([0, *cuts], [*cuts, len(shuffled)], strict=True) if shuffled[a:b]]
        now = stream[-1].t_ms
        for number, batch in enumerate(batches):
            h.send(batch, now)
            if rng.random() < 0.5:  # a retry of some events already sent
                again = rng.sample(batch, rng.randint(1, len(batch)))
                assert set(h.send(again, now).values()) == {"duplicate"}
            if restart and number == len(batches) // 2:
                h.registry = h.new_registry()
                h.registry.recover(now)
        if end_at is not None:
            statuses = h.send(stream[end_at:], now)
            assert statuses[0] == "accepted"
        else:
            h.registry.process([], now + TIMEOUT_MS)  # expiry
        (stored,) = h.stored()
        assert stored == _expected(stream[: end_at + 1] if end_at is not None else stream)
        assert h.registry.sessions == {}
    finally:
        h.close()


def test_late_events_never_reopen_or_change_a_session(harness: Harness) -> None:
    ids = {"client_id": "1.2.3.4", "session_id": "5"}
    t0 = 1_795_176_000_000
    events: list[Event] = [
        Start(**ids, seq=0, t_ms=t0),
        StateChange(**ids, seq=1, t_ms=t0 + 1000, state=PlayerState.PLAYING),
        End(**ids, seq=2, t_ms=t0 + 5000),
    ]
    harness.send(events, t0 + 6000)
    (before,) = harness.stored()
    late = [
        Heartbeat(**ids, seq=3, t_ms=t0 + 2000),
        StateChange(**ids, seq=4, t_ms=t0 + 9000, state=PlayerState.PAUSED),
    ]
    assert harness.send(late, t0 + 10_000) == {0: "late", 1: "late"}
    fresh = harness.new_registry()  # also after a restart, when the ended set is no longer in memory
    harness.registry = fresh
    fresh.recover(t0 + 10_000)
    assert harness.send(late, t0 + 10_000) == {0: "late", 1: "late"}
    assert harness.stored() == [before]
    assert fresh.stats.late == 2


def test_a_log_written_one_event_per_row_is_recovered_and_continued(harness: Harness) -> None:
    """Rows were one event each before they became one per session and round: a log of the older
    kind (here written through the same port) recovers, refolds and ends the same session."""
    ids = {"client_id": "1.2.3.4", "session_id": "77"}  # the ids _expected gives
    t0 = 1_795_176_000_000
    first: list[Event] = [
        Start(**ids, seq=0, t_ms=t0),
        StateChange(**ids, seq=1, t_ms=t0 + 2000, state=PlayerState.PLAYING),
        Heartbeat(**ids, seq=2, t_ms=t0 + 4000),
    ]
    old = IngestCommit(
        new_sessions=[((1, "1.2.3.4", "77"), msgspec.json.encode(ENRICHMENT), t0 + 4000, SeqRanges().to_bytes())],
        events=[((1, "1.2.3.4", "77"), e.seq, msgspec.json.encode(e)) for e in first],
    )
    SqliteLiveLog(harness.store).commit(old)
    harness.registry = harness.new_registry()
    harness.registry.recover(t0 + 5000)
    later: list[Event] = [  # one arrives out of order: the refold reads the old rows back too
        StateChange(**ids, seq=3, t_ms=t0 + 3000, state=PlayerState.BUFFERING),
        StateChange(**ids, seq=4, t_ms=t0 + 3500, state=PlayerState.PLAYING),
        End(**ids, seq=5, t_ms=t0 + 6000),
    ]
    assert harness.send(first, t0 + 6000) == {0: "duplicate", 1: "duplicate", 2: "duplicate"}
    assert harness.send(later, t0 + 6000) == {0: "accepted", 1: "accepted", 2: "accepted"}
    assert harness.stored() == [_expected([*first, *later])]


def test_recovered_sessions_get_a_full_timeout_after_a_restart(harness: Harness) -> None:
    ids = {"client_id": "1.2.3.4", "session_id": "6"}
    t0 = 1_795_176_000_000
    harness.send([Start(**ids, seq=0, t_ms=t0)], t0)
    restarted = harness.new_registry()
    restarted.recover(t0 + 80_000)  # the server was down for 80 s
    restarted.process([], t0 + 100_000)
    assert harness.stored() == []  # not expired at last-heard + 90 s ...
    restarted.process([], t0 + 170_000)
    (doc,) = harness.stored()  # ... but 90 s after the restart, ending at the last event
    assert doc.status_info.ended_status == "By Expiration"
    assert doc.timestamps.end.epoch_ms == t0


def test_tag_limit_is_enforced_over_the_session_life(tmp_path: Path) -> None:
    h = Harness(tmp_path / "tags.db")
    h.registry = LiveRegistry(
        SqliteLiveLog(h.store), _enrich, lambda _a: BusinessRules(()), timeout_ms=TIMEOUT_MS, max_tags=3
    )
    ids = {"client_id": "1.2.3.4", "session_id": "8"}
    t0 = 1_795_176_000_000
    from reelsight.ingest.events import MetadataUpdate

    assert h.send([Start(**ids, seq=0, t_ms=t0, metadata={"a": "1", "b": "2", "player_name": "p"})], t0) == {
        0: "accepted"
    }
    assert h.send([MetadataUpdate(**ids, seq=1, t_ms=t0 + 1, metadata={"c": "3"})], t0) == {0: "accepted"}
    assert h.send([MetadataUpdate(**ids, seq=2, t_ms=t0 + 2, metadata={"d": "4"})], t0) == {0: "rejected"}
    h.close()


def test_a_long_conviva_session_keeps_one_seq_range_across_a_restart(harness: Harness) -> None:
    """Each heartbeat claims its block of 512 numbers, so 90 heartbeats (30 minutes at the SDK's
    interval) leave one range, not two per heartbeat; the restart restores it and a resent
    heartbeat is still a duplicate."""
    receive = 1_796_156_700_000

    def send(seq: int, ps: int) -> dict[int, str]:
        evs = [{"new": {"br": 1000 + seq}, "t": "CwsStateChangeEvent", "st": seq * 20_000 - 5, "seq": seq}]
        body = conviva_heartbeat(seq, seq * 20_000, evs, ps=ps, br=1000 + seq, hbinfos=[])
        decoded = conviva.decode_events(
            conviva.decode_heartbeat(body),
            receive_ms=receive + seq * 20_000,
            new_client_id=lambda _hb: "9.9.9.9",
            interval_ms=20_000,
        ).batch
        batch = IncomingBatch(ACCOUNT, receive + seq * 20_000, "", "", decoded.events, decoded.claims)
        return dict(harness.registry.process([batch], receive + seq * 20_000)[0])

    for seq in range(90):
        assert set(send(seq, 3).values()) <= {"accepted", "duplicate"}
    (session,) = harness.registry.sessions.values()
    assert session.seqs.ranges() == [(0, 90 * conviva.SLOTS)]
    harness.registry = harness.new_registry()
    harness.registry.recover(receive + 90 * 20_000)
    (recovered,) = harness.registry.sessions.values()
    assert recovered.seqs.ranges() == [(0, 90 * conviva.SLOTS)]
    assert set(send(45, 3).values()) == {"duplicate"}


def _ranges(*spans: tuple[int, int]) -> bytes:
    seen = SeqRanges()
    for start, end in spans:
        seen.add_range(start, end)
    return seen.to_bytes()


def test_a_round_appends_its_rows_and_rewrites_live_sessions_only_for_a_session_without_one(harness: Harness) -> None:
    """A session's row of a round carries its last-heard time and seen numbers (migration 12), so a round
    rewrites ``live_sessions`` only for a heard session that logged no row; the load takes the latest
    heard time and the union of every snapshot, in whichever table it was written."""
    log = SqliteLiveLog(harness.store)
    a, b = (1, "1.1.1.1", "a"), (1, "2.2.2.2", "b")
    enrichment = msgspec.json.encode(ENRICHMENT)
    log.commit(
        IngestCommit(
            new_sessions=[(a, enrichment, 1000, _ranges((0, 1))), (b, enrichment, 1000, _ranges((0, 1)))],
            events=[(a, 0, b"[]"), (b, 0, b"[]")],
        )
    )
    log.commit(IngestCommit(heard={a: (2000, _ranges((0, 2))), b: (2000, _ranges((0, 2)))}, events=[(a, 1, b"[]")]))
    log.commit(IngestCommit(heard={a: (3000, _ranges((0, 2), (512, 1024)))}, events=[(a, 2, b"[]")]))
    # (Bodies of no events: the rows' own seq and snapshots are what is under test.)
    with sqlite3.connect(harness.path) as conn:
        assert conn.execute("SELECT session_id, last_heard_ms FROM live_sessions ORDER BY 1").fetchall() == [
            ("a", 1000),  # a's later rounds went into its rows only
            ("b", 2000),  # b took no row in the second round: its live_sessions row was rewritten
        ]
        in_commit_order = conn.execute("SELECT session_id, seq, last_heard_ms FROM live_events ORDER BY id")
        assert in_commit_order.fetchall() == [("a", 0, None), ("b", 0, None), ("a", 1, 2000), ("a", 2, 3000)]
    loaded = {row.key: row for row in log.load()}
    assert (loaded[a].last_heard_ms, loaded[a].events) == (3000, [b"[]", b"[]", b"[]"])
    assert (loaded[b].last_heard_ms, loaded[b].events) == (2000, [b"[]"])
    harness.registry = harness.new_registry()
    harness.registry.recover(0)
    restored = {key: harness.registry.sessions[key].seqs.ranges() for key in (a, b)}
    assert restored == {a: [(0, 2), (512, 1024)], b: [(0, 2)]}  # the union of the snapshots of both tables


def _fresh(text: str) -> str:
    """An equal string that is a new object (as every decoded report's strings are)."""
    return "".join(list(text))


def test_live_sessions_that_share_values_hold_one_copy_of_them_also_after_a_restart(harness: Harness) -> None:
    def enrich(*, start: Start | None, user_agent: str, ip: str, ip_privacy: str) -> Enrichment:
        return msgspec.json.decode(msgspec.json.encode(ENRICHMENT), type=Enrichment)  # new strings each time

    harness.registry = LiveRegistry(
        SqliteLiveLog(harness.store), enrich, lambda _account: BusinessRules(()), timeout_ms=TIMEOUT_MS
    )
    t0 = 1_795_176_000_000
    for session_id in ("1", "2"):
        start = Start(
            client_id="1.2.3.4",
            session_id=session_id,
            seq=0,
            t_ms=t0,
            content=Content(asset=_fresh("Big Buck Bunny"), stream_url=_fresh("https://cdn.example/bbb.m3u8")),
            metadata={_fresh("channel"): _fresh("Documentary One"), "player_name": _fresh("iOS AVPlayer")},
        )
        assert harness.send(
            [start, CdnChange(client_id="1.2.3.4", session_id=session_id, seq=1, t_ms=t0 + 1, cdn=_fresh("AKAMAI"))], t0
        ) == {0: "accepted", 1: "accepted"}
    for registry in (harness.registry, _recovered(harness, t0)):
        first, second = (registry.sessions[(ACCOUNT.id, "1.2.3.4", session_id)] for session_id in ("1", "2"))
        assert first.state.metadata == {"channel": "Documentary One", "player_name": "iOS AVPlayer"}
        assert first.enrichment == ENRICHMENT
        assert first.enrichment is not second.enrichment  # each session its own struct, of shared strings
        held = [
            [
                *(s.state.asset, s.state.stream_url, s.state.cdns[0], *s.state.metadata.values(), s.tag_keys),
                *(s.enrichment.geo.city, s.enrichment.geo.country.name, s.enrichment.device.model, s.enrichment.isp),
            ]
            for s in (first, second)
        ]
        assert held[0] == held[1]
        assert all(a is b for a, b in zip(*held, strict=True))


def _recovered(harness: Harness, now_ms: int) -> LiveRegistry:
    registry = harness.new_registry()
    registry.recover(now_ms)
    return registry
