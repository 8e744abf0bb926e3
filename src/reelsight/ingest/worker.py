"""The ingest worker: one thread that owns the live registry and commits rounds of batches.

Request handlers hand over decoded batches and await their per-event statuses; the worker groups
whatever batches are waiting into one round (one SQLite commit: group commit), and between rounds
sweeps for expired sessions. A batch is acknowledged only after its round's commit returned.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading

from reelsight.clock import Clock
from reelsight.sessions.live import IncomingBatch, LiveRegistry, Status

log = logging.getLogger("reelsight.ingest")
_Item = tuple[IncomingBatch, asyncio.AbstractEventLoop, "asyncio.Future[dict[int, Status]]"]


def _resolve(future: asyncio.Future[dict[int, Status]], result: dict[int, Status] | BaseException) -> None:
    if future.done():
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)


class IngestWorker:
    def __init__(
        self, registry: LiveRegistry, clock: Clock, *, sweep_interval_s: float = 0.5, max_round: int = 256
    ) -> None:
        self.registry = registry
        self._clock = clock
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
        loop = asyncio.get_running_loop()
        future: asyncio.Future[dict[int, Status]] = loop.create_future()
        self._queue.put((batch, loop, future))
        return await future

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

    def _run(self) -> None:
        while True:
            items = self._take_round()
            try:
                statuses = self.registry.process([batch for batch, _loop, _future in items], self._clock.now_ms())
            except Exception as exc:
                log.exception("an ingest round failed; its batches were not acknowledged")
                for _batch, loop, future in items:
                    loop.call_soon_threadsafe(_resolve, future, exc)
            else:
                for (_batch, loop, future), result in zip(items, statuses, strict=True):
                    loop.call_soon_threadsafe(_resolve, future, result)
            if self._stopping and self._queue.empty():
                return
