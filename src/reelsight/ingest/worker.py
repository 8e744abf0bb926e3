"""The ingest worker: one thread that owns the live registry and commits rounds of batches.

Request handlers hand over decoded batches and await their per-event statuses; the worker groups
whatever batches are waiting into one round (one SQLite commit: group commit), and between rounds
sweeps for expired sessions. A batch is acknowledged only after its round's commit returned and
the store confirmed that its file is still the one at the configured path.

A round that the storage refused fails its batches with ``StorageFailure`` (answered 503: send it
again); a round that failed by a bug is logged here, once, with its traceback, and its batches
fail with ``InternalError`` (500).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import TypeAlias

from reelsight.clock import Clock
from reelsight.errors import InternalError, StorageFailure, StoreFileLost
from reelsight.sessions.live import IncomingBatch, LiveRegistry, Status

log = logging.getLogger("reelsight.ingest")
_Future: TypeAlias = asyncio.Future[dict[int, Status]]
_Item = tuple[IncomingBatch, asyncio.AbstractEventLoop, _Future]
_STORAGE_LOG_INTERVAL_S = 10.0  # a full disk fails every round: one warning per interval, with a count


def _resolve_all(resolved: list[tuple[_Future, dict[int, Status] | BaseException]]) -> None:
    for future, result in resolved:
        if future.done():  # its request was cancelled
            continue
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)


class IngestWorker:
    def __init__(
        self,
        registry: LiveRegistry,
        clock: Clock,
        check_store: Callable[[], None],
        *,
        sweep_interval_s: float = 0.5,
        max_round: int = 256,
    ) -> None:
        """``check_store`` raises ``StorageFailure`` when the store can no longer be trusted with an
        acknowledgement (its file was deleted or replaced); it runs after every round."""
        self.registry = registry
        self._clock = clock
        self.check_store = check_store
        self._failed_rounds = 0
        self._next_storage_log = 0.0
        self._sweep_interval_s = sweep_interval_s
        self._max_round = max_round
        self._queue: queue.Queue[_Item | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="reelsight-ingest", daemon=True)
        self._stopping = False

    def start(self) -> None:
        self.registry.recover(self._clock.now_ms())
        self._thread.start()

    def stop(self) -> None:
        """Finish every batch already handed over, then stop."""
        self._stopping = True
        self._queue.put(None)
        self._thread.join()

    async def submit(self, batch: IncomingBatch) -> dict[int, Status]:
        return await self.enqueue(batch, asyncio.get_running_loop())

    def enqueue(self, batch: IncomingBatch, loop: asyncio.AbstractEventLoop) -> asyncio.Future[dict[int, Status]]:
        """Hand a batch over; the future (of ``loop``, resolved on it) gets its statuses or the
        round's failure."""
        future: asyncio.Future[dict[int, Status]] = loop.create_future()
        self._queue.put((batch, loop, future))
        return future

    def _take_round(self) -> list[_Item]:
        items: list[_Item] = []
        try:
            first = self._queue.get(timeout=self._sweep_interval_s)
        except queue.Empty:
            return items
        if first is not None:
            items.append(first)
        while len(items) < self._max_round:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                items.append(item)
        return items

    def _storage_failed(self, exc: StorageFailure, batches: int) -> None:
        self._failed_rounds += 1
        if isinstance(exc, StoreFileLost):
            return  # the store logged that once itself
        now = time.monotonic()
        if now >= self._next_storage_log:
            self._next_storage_log = now + _STORAGE_LOG_INTERVAL_S
            log.warning(
                "ingest round of %d batches not stored, answered 503 (%d failed rounds so far): %s",
                batches,
                self._failed_rounds,
                exc,
            )

    def _run(self) -> None:
        while True:
            items = self._take_round()
            failure: BaseException | None = None
            try:
                statuses = self.registry.process([batch for batch, _loop, _future in items], self._clock.now_ms())
                self.check_store()
            except StorageFailure as exc:
                self._storage_failed(exc, len(items))
                failure = exc
            except Exception:
                log.exception("an ingest round of %d batches failed by a bug; they were answered 500", len(items))
                failure = InternalError("the server failed to process the batch (a bug; it was logged)")
            results: list[dict[int, Status] | BaseException] = (
                [failure] * len(items) if failure is not None else list(statuses)
            )
            by_loop: dict[asyncio.AbstractEventLoop, list[tuple[_Future, dict[int, Status] | BaseException]]] = {}
            for (_batch, loop, future), result in zip(items, results, strict=True):
                by_loop.setdefault(loop, []).append((future, result))
            for loop, resolved in by_loop.items():  # one wake-up of each loop per round, not one per batch
                loop.call_soon_threadsafe(_resolve_all, resolved)
            if self._stopping and self._queue.empty():
                return
