"""The coordinator's side of the links: what the HTTP processes ask of the one process that owns
the live log.

Each HTTP process holds one Unix-socket connection. Its ``Submit`` frames go to the ingest worker's
queue exactly as a local request's batch would (the worker's group commit then spans every
process), and each is answered once its round is durable. The read budgets (per-IP window,
per-account requests in flight) are kept here, for every HTTP process together; the in-flight
reads of a process whose link closes are released with it.
"""

from __future__ import annotations

import asyncio
import collections
import functools

from reelsight.errors import RateLimited, StorageFailure
from reelsight.ingest.sessionizer import copy_stats
from reelsight.ingest.worker import IngestWorker
from reelsight.processes import wire
from reelsight.processes.link import FramedLink
from reelsight.sessions.live import IncomingBatch, Status
from reelsight.web.ratelimit import LocalReadLimits


class Coordinator:
    def __init__(self, worker: IngestWorker, limits: LocalReadLimits) -> None:
        self.worker = worker
        self.limits = limits
        self.linked = asyncio.Event()  # set when the first HTTP process has connected

    def link(self) -> asyncio.Protocol:
        """The protocol of one HTTP process's connection."""
        return _Link(self)


class _Link(FramedLink[wire.ToCoordinator]):
    def __init__(self, coordinator: Coordinator) -> None:
        super().__init__(wire.to_coordinator, "an HTTP process")
        self._coordinator = coordinator
        self._in_flight: collections.Counter[int] = collections.Counter()  # reads of this link, by account

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._coordinator.linked.set()

    def connection_lost(self, exc: Exception | None) -> None:
        for account_id, count in self._in_flight.items():
            for _ in range(count):
                self._coordinator.limits.release(account_id)
        self._in_flight.clear()

    def _send(self, message: wire.ToHttp) -> None:
        self.send_frame(wire.frame(message))

    def received(self, message: wire.ToCoordinator) -> None:
        coordinator = self._coordinator
        loop = asyncio.get_running_loop()
        if isinstance(message, wire.Submit):
            batch = IncomingBatch(
                message.account,
                message.receive_ms,
                message.client_ip,
                message.user_agent,
                message.events,
                message.claims,
            )
            future = coordinator.worker.enqueue(batch, loop)
            future.add_done_callback(functools.partial(self._applied, message.id))
        elif isinstance(message, wire.Counts):
            stats = coordinator.worker.registry.stats
            for protocol, outcome, count in message.requests:
                stats.requests[(protocol, outcome)] += count
            stats.refused += message.rejected
        elif isinstance(message, wire.StatsQuery):
            registry = coordinator.worker.registry
            stats = copy_stats(registry.stats)
            self._send(
                wire.Stats(
                    message.id,
                    [(p, o, n) for (p, o), n in stats.requests.items()],
                    stats.accepted,
                    stats.duplicate,
                    stats.late,
                    stats.rejected,
                    stats.ended_by_player,
                    stats.ended_by_expiration,
                    len(registry.sessions),
                )
            )
        elif isinstance(message, wire.Check):
            checked = loop.run_in_executor(None, coordinator.worker.check_store)
            checked.add_done_callback(functools.partial(self._checked, message.id))
        elif isinstance(message, wire.Admit):
            self._limit(message.id, functools.partial(coordinator.limits.ip.hit, message.ip))
        elif isinstance(message, wire.Enter):
            if self._limit(message.id, functools.partial(coordinator.limits.in_flight.acquire, message.account_id)):
                self._in_flight[message.account_id] += 1
        elif isinstance(message, wire.Leave) and self._in_flight[message.account_id] > 0:
            self._in_flight[message.account_id] -= 1  # only what this link holds: a stray Leave frees nothing
            coordinator.limits.release(message.account_id)

    def _limit(self, ident: int, hit: functools.partial[None]) -> bool:
        try:
            hit()
        except RateLimited as exc:
            self._send(wire.Limited(ident, exc.message, exc.retry_after_s))
            return False
        self._send(wire.Done(ident))
        return True

    def _applied(self, ident: int, future: asyncio.Future[dict[int, Status]]) -> None:
        if future.cancelled():
            self._send(wire.Failed(ident, "internal", "the batch was cancelled"))
            return
        exc = future.exception()
        if exc is None:
            self._send(wire.Applied(ident, list(future.result().items())))
        else:
            self._send(wire.Failed(ident, "storage" if isinstance(exc, StorageFailure) else "internal", str(exc)))

    def _checked(self, ident: int, future: asyncio.Future[None]) -> None:
        exc = None if future.cancelled() else future.exception()
        if exc is None:
            self._send(wire.Done(ident))
        else:
            self._send(wire.Failed(ident, "storage" if isinstance(exc, StorageFailure) else "internal", str(exc)))
