"""An in-process split of the ingest path for ``bench_ingest.py``: the same kind of requests decoded,
folded by the real live registry and committed to a real SQLite live-session log, without HTTP, each
stage timed on its own (CPU time of this thread, so the numbers do not depend on the machine's load).
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path

from benchutil import request_parts
from ingest_workload import Workload
from reelsight import credentials
from reelsight.ingest.events import Device, Start
from reelsight.ingest.native import decode_batch, decode_envelope
from reelsight.sessions.context import BusinessRules, Enrichment
from reelsight.sessions.enrich import Enricher
from reelsight.sessions.live import IncomingBatch, LiveRegistry
from reelsight.sessions.live_log import IngestCommit, LiveKey, LiveSessionRow
from reelsight.settings import Settings
from reelsight.store.base import Account
from reelsight.store.sqlite import SqliteStore
from reelsight.store.sqlite.live_log import SqliteLiveLog


@dataclasses.dataclass
class Split:
    """CPU microseconds per batch of each stage, for batches processed ``round_size`` at a time."""

    kind: str  # "opening" (a session's first batch) or "continuing"
    round_size: int
    batches: int
    decode_us: float = 0.0  # decode_envelope + decode_batch: what the event loop does before handing over
    registry_us: float = 0.0  # LiveRegistry.process without the log's commit: classify, enrich, fold, encode
    commit_us: float = 0.0  # SqliteLiveLog.commit: the SQLite statements and COMMIT (CPU; wall time below)
    commit_wall_us: float = 0.0

    @property
    def total_us(self) -> float:
        return self.decode_us + self.registry_us + self.commit_us


class _TimedLog:
    """The real SQLite live-session log, with the CPU and wall time of its commits added up."""

    def __init__(self, log: SqliteLiveLog) -> None:
        self._log = log
        self.cpu_s = 0.0
        self.wall_s = 0.0

    def commit(self, work: IngestCommit) -> None:
        cpu, wall = time.thread_time(), time.perf_counter()
        self._log.commit(work)
        self.cpu_s += time.thread_time() - cpu
        self.wall_s += time.perf_counter() - wall

    def is_ended(self, account_id: int, conviva_session_id: str) -> bool:
        return self._log.is_ended(account_id, conviva_session_id)

    def events_of(self, key: LiveKey) -> list[bytes]:
        return self._log.events_of(key)

    def load(self) -> list[LiveSessionRow]:
        return list(self._log.load())

    def check(self) -> None:
        self._log.check()


@contextlib.contextmanager
def split_registry(db: Path, settings: Settings) -> Iterator[tuple[Account, LiveRegistry, _TimedLog]]:
    """A fresh database at ``db`` with one account, and the real live registry over its timed log,
    wired as the app factory wires them (default enrichment)."""
    for leftover in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        leftover.unlink(missing_ok=True)
    store = SqliteStore(str(db), readers=1)
    account = store.create_account(
        "split", viewer_module=False, business_error_patterns=(), ingest_key=credentials.new_ingest_key()
    )
    enricher = Enricher(settings.geoip_city_db, settings.geoip_asn_db, cache_dir=settings.geoip_cache_dir)

    def enrich(*, start: Start | None, user_agent: str, ip: str, ip_privacy: str) -> Enrichment:
        # As the app factory wires it: a start event's device and User-Agent win over the request's.
        device = start.device if start is not None else Device()
        agent = start.user_agent if start is not None and start.user_agent else user_agent
        return enricher.enrich(device=device, user_agent=agent, ip=ip, ip_privacy=ip_privacy)

    log = _TimedLog(SqliteLiveLog(store))
    rules = BusinessRules(())
    registry = LiveRegistry(log, enrich, lambda _account_id: rules, timeout_ms=settings.session_timeout_s * 1000)
    try:
        yield account, registry, log
    finally:
        enricher.close()
        store.close()


def measure_split(db: Path, *, sessions: int, round_size: int, seed: int) -> list[Split]:
    """Open ``sessions`` sessions, then send each two more batches, ``round_size`` batches per round."""
    settings = Settings()
    splits = []
    with split_registry(db, settings) as (account, registry, log):
        workload = Workload(sessions, seed=seed, end_share=0.03, host_header="bench", ingest_key=account.ingest_key)
        for kind, batches in (("opening", sessions), ("continuing", 2 * sessions)):
            split = Split(kind, round_size, batches)
            log.cpu_s = log.wall_s = 0.0
            process_s = 0.0
            pending: list[IncomingBatch] = []
            for number in range(batches):
                ip, user_agent, body = request_parts(workload.request(workload.next_session()))
                started = time.thread_time()
                receive_ms = int(time.time() * 1000)
                envelope = decode_envelope(body, max_events=settings.ingest_max_events)
                decoded = decode_batch(envelope, receive_ms=receive_ms, new_client_id=lambda _start: "")
                split.decode_us += time.thread_time() - started
                pending.append(IncomingBatch(account, receive_ms, ip, user_agent, decoded.events))
                if len(pending) == round_size or number == batches - 1:
                    started = time.thread_time()
                    registry.process(pending, int(time.time() * 1000))
                    process_s += time.thread_time() - started
                    pending = []
            split.decode_us *= 1e6 / batches
            split.registry_us = (process_s - log.cpu_s) * 1e6 / batches
            split.commit_us = log.cpu_s * 1e6 / batches
            split.commit_wall_us = log.wall_s * 1e6 / batches
            splits.append(split)
    return splits
