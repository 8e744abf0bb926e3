"""What the HTTP side needs of the sessionizer, wherever it runs: the port the intake, ``/metrics``
and ``/healthz`` use.

In one process it is :class:`LocalSessionizer`, the ingest worker beside the routes. With several
HTTP processes (setting ``http_processes``) it is the coordinator's client
(``processes/client.py``), which forwards batches and counts to the one process that owns the live
log.
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Protocol

import anyio.to_thread

from reelsight.ingest.worker import IngestWorker
from reelsight.sessions.live import IncomingBatch, IngestStats, Status


@dataclasses.dataclass(frozen=True)
class IngestFigures:
    """The counters of ``/metrics`` at one moment, for every HTTP process together."""

    stats: IngestStats
    live_sessions: int


class Sessionizer(Protocol):
    async def submit(self, batch: IncomingBatch) -> dict[int, Status]:
        """Apply a batch durably; every event's status by index. Raises ``StorageFailure`` (nothing
        was stored: send it again) or ``InternalError`` (a bug)."""
        ...

    def count_request(self, protocol: str, outcome: str) -> None:
        """Count one request of ``protocol`` by outcome (``reelsight_ingest_requests``)."""
        ...

    def count_rejected(self, events: int) -> None:
        """Count events a decoder refused (``reelsight_ingest_events{outcome="rejected"}``)."""
        ...

    async def figures(self) -> IngestFigures: ...

    async def check(self) -> None:
        """``StorageFailure`` when the live log's file can no longer be trusted."""
        ...


def copy_stats(stats: IngestStats) -> IngestStats:
    """The counters as ``/metrics`` shows them: the decoders' refusals join the registry's
    rejections (one ``rejected`` outcome; two fields, so that each has one writing thread)."""
    return dataclasses.replace(
        stats, requests=collections.Counter(stats.requests), rejected=stats.rejected + stats.refused, refused=0
    )


class LocalSessionizer:
    """The ingest worker of this process."""

    def __init__(self, worker: IngestWorker) -> None:
        self.worker = worker

    async def submit(self, batch: IncomingBatch) -> dict[int, Status]:
        return await self.worker.submit(batch)

    def count_request(self, protocol: str, outcome: str) -> None:
        self.worker.registry.stats.requests[(protocol, outcome)] += 1

    def count_rejected(self, events: int) -> None:
        self.worker.registry.stats.refused += events

    async def figures(self) -> IngestFigures:
        registry = self.worker.registry
        return IngestFigures(copy_stats(registry.stats), len(registry.sessions))

    async def check(self) -> None:
        await anyio.to_thread.run_sync(self.worker.check_store)
