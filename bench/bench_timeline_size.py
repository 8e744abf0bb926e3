"""Session timelines: entries and stored bytes per session, on the simulator's sessions.

Scripts sessions with the simulator's scenario mix (``reelsight.simulate``: start-up with and without a
pre-roll, rebuffering, seeks, pauses, ABR switches, failures, exits, vanishing players), folds each
content session's events through the real fold with the timeline recorder, and reports per session:
the entries recorded, the stored bytes (MessagePack as stored, and what zstd would make of it without
and with a trained dictionary), and the served JSON. Two pacings: the simulator's default (5-40 s of
playback) and long sessions (10-60 min of playback, the same events per minute of stalls, pauses and
seeks scaled up), since a timeline grows with the session's events, not its length.

Also the SQLite cost as written: the same sessions' records written to two fresh store files, with and
without timelines, and the file size difference per session.

Run: ``.venv/bin/python bench/bench_timeline_size.py`` (about 30 s); ``--sessions N``.
Results: ``docs/benchmarks.md`` ("Session timelines").
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import random
import sqlite3
import statistics
import sys
import tempfile
from pathlib import Path

import msgspec
import zstandard

from benchutil import code_version
from reelsight.ingest.events import Event, event_sort_key
from reelsight.sessions.context import BusinessRules
from reelsight.sessions.recorder import TimelineRecorder, apply_recorded, build_timeline
from reelsight.sessions.summary import summarize
from reelsight.sessions.timeline import new_state
from reelsight.sessions.timeline_codec import decode_timeline, encode_timeline
from reelsight.simulate.identity import new_viewers
from reelsight.simulate.scenarios import Pacing, ScenarioMix
from reelsight.simulate.script import Ending, script_session
from reelsight.store.records import to_record
from reelsight.store.sqlite import SqliteStore

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.test_sessionizer_vectors import ENRICHMENT

T0_MS = 1_795_176_000_000
CHDB_DIR = tempfile.TemporaryDirectory()
LONG = Pacing(
    playback_s=(600.0, 3600.0),
    stall_s=(0.5, 3.0),
    pause_s=(5.0, 60.0),
    heartbeat_s=30.0,
    playhead_s=30.0,
)


def sessions(count: int, pacing: Pacing, seed: int) -> list[tuple[bytes, bytes, int]]:
    """(stored timeline, document JSON, entries) of ``count`` scripted content sessions."""
    rng = random.Random(seed)
    _population, viewers = new_viewers(rng, 200, assigned_share=0.5)
    mix = ScenarioMix()
    out = []
    for number in range(count):
        viewer = viewers[number % len(viewers)]
        script = script_session(rng, viewer, mix.choose(rng), pacing)
        events: list[Event] = []
        for seq, step in enumerate(script.content_steps):
            events.append(
                msgspec.structs.replace(
                    step.event, client_id="1.2.3.4", session_id=str(number), seq=seq, t_ms=T0_MS + step.at_ms
                )
            )
        state, recorder = new_state(), TimelineRecorder()
        for event in sorted(events, key=event_sort_key):
            apply_recorded(state, recorder, event)
        end_ms = events[-1].t_ms
        status = "By Player" if script.ending is Ending.END else "By Expiration"
        doc = summarize(
            state,
            client_id="1.2.3.4",
            session_id=str(number),
            enrichment=ENRICHMENT,
            rules=BusinessRules(()),
            ended_status=status,
            end_ms=end_ms,
        )
        timeline = encode_timeline(build_timeline(recorder, state, end_ms))
        assert decode_timeline(timeline) == build_timeline(recorder, state, end_ms)
        out.append((timeline, msgspec.json.encode(doc), len(recorder)))
    return out


def file_bytes_per_session(rows: list[tuple[bytes, bytes, int]]) -> float:
    """The bytes per session that storing the timelines adds to ``session_docs`` (two files, with and
    without; past 2,000 sessions the documents are compressed, as in a store in use)."""
    from reelsight.sessions.document import decode_document

    sizes = []
    with tempfile.TemporaryDirectory() as tmp:
        for with_timeline in (False, True):
            path = os.path.join(tmp, f"t{int(with_timeline)}.db")
            store = SqliteStore(path)
            account = store.create_account("bench", viewer_module=False, business_error_patterns=(), ingest_key="ik")
            records = [
                to_record(decode_document(doc), timeline if with_timeline else None) for timeline, doc, _ in rows
            ]
            store.write_sessions(account.id, records)
            store.close()
            conn = sqlite3.connect(path)
            try:  # the pages of session_docs (the timeline's table), free pages not counted
                ((used,),) = conn.execute("SELECT sum(pgsize - unused) FROM dbstat WHERE name = 'session_docs'")
            finally:
                conn.close()
            sizes.append(int(used))
    return (sizes[1] - sizes[0]) / len(rows)


def clickhouse_bytes_per_session(rows: list[tuple[bytes, bytes, int]]) -> float:
    """The ``timeline`` column's compressed bytes per session in ClickHouse (chDB, one part after OPTIMIZE)."""
    import uuid

    from reelsight.sessions.document import decode_document
    from reelsight.store.clickhouse.store import ClickHouseStore
    from reelsight.store.url import StoreUrl, open_clickhouse

    # chDB allows one directory per process: every run's database lives in CHDB_DIR
    url = StoreUrl("chdb", path=CHDB_DIR.name, database="b" + uuid.uuid4().hex[:12])
    store = open_clickhouse(url, read_timeout_s=60, retention_days=3650)
    assert isinstance(store, ClickHouseStore)
    try:
        account = store.create_account("bench", viewer_module=False, business_error_patterns=(), ingest_key="ik")
        store.write_sessions(account.id, [to_record(decode_document(doc), t) for t, doc, _ in rows])
        store._command("OPTIMIZE TABLE sessions FINAL")
        ((compressed,),) = store._query(
            "SELECT sum(data_compressed_bytes) FROM system.columns"
            " WHERE database = currentDatabase() AND table = 'sessions' AND name = 'timeline'"
        )
    finally:
        store.close()
    return int(compressed) / len(rows)


def report(name: str, rows: list[tuple[bytes, bytes, int]]) -> None:
    stored = [len(t) for t, _doc, _n in rows]
    entries = [n for _t, _doc, n in rows]
    plain = zstandard.ZstdCompressor(level=9)
    zstd_plain = [len(plain.compress(t)) for t, _doc, _n in rows]
    half = len(rows) // 2
    dictionary = zstandard.train_dictionary(16 * 1024, [t for t, _doc, _n in rows[:half]])
    with_dict = zstandard.ZstdCompressor(level=9, dict_data=dictionary, write_content_size=False)
    zstd_dict = [len(with_dict.compress(t)) for t, _doc, _n in rows[half:]]
    q = statistics.quantiles(stored, n=100)
    print(f"\n{name}: {len(rows)} sessions")
    print(f"  entries per session: mean {statistics.mean(entries):.1f}, max {max(entries)}")
    print(
        f"  stored bytes (msgpack): mean {statistics.mean(stored):.1f}, p50 {q[49]:.0f}, p99 {q[98]:.0f}, "
        f"max {max(stored)}"
    )
    print(f"  zstd-9 without dictionary: mean {statistics.mean(zstd_plain):.1f}")
    print(f"  zstd-9 with a 16 KiB dictionary (trained on the other half): mean {statistics.mean(zstd_dict):.1f}")
    print(f"  SQLite: session_docs bytes per session added by the timeline: {file_bytes_per_session(rows):.1f}")
    print(f"  ClickHouse: timeline column, compressed bytes per session: {clickhouse_bytes_per_session(rows):.1f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(f"code {code_version()}")
    report("simulator pacing (5-40 s of playback)", sessions(args.sessions, Pacing(), args.seed))
    report("long sessions (10-60 min of playback)", sessions(args.sessions, dataclasses.replace(LONG), args.seed))


if __name__ == "__main__":
    main()
