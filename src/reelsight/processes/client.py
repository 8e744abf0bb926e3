"""An HTTP process's link to its coordinator: the sessionizer port and the read budgets, over one
Unix socket.

Frames written in one turn of the event loop leave in one write. Counters are sent at most every
``COUNTS_INTERVAL_S`` (and before every ``/metrics`` question from this process, so its own counts
are always included). When the coordinator goes away, every waiting request fails with
``StorageFailure`` (503: send it again) and this process stops, as a server whose disk vanished
would.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import signal
from collections.abc import Callable

import msgspec

from reelsight.errors import CoordinatorGone, InternalError, RateLimited, StorageFailure
from reelsight.ingest.sessionizer import IngestFigures
from reelsight.processes import wire
from reelsight.processes.link import FramedLink
from reelsight.sessions.live import IncomingBatch, IngestStats, Status

log = logging.getLogger("reelsight.processes")
COUNTS_INTERVAL_S = 0.05


class CoordinatorClient(FramedLink[wire.ToHttp]):
    def __init__(self, path: str) -> None:
        super().__init__(wire.to_http, "the coordinator")
        self._path = path
        self._pending: dict[int, asyncio.Future[wire.ToHttp]] = {}
        self._next_id = 0
        self._requests: collections.Counter[tuple[str, str]] = collections.Counter()
        self._rejected = 0
        self._counts_scheduled = False
        self._lost: CoordinatorGone | None = None
        self._closing = False

    # -- the link -----------------------------------------------------------------------------

    async def connect(self) -> None:
        await asyncio.get_running_loop().create_unix_connection(lambda: self, self._path)

    async def close(self) -> None:
        self._closing = True
        self._send_counts()
        self.flush()
        if self._transport is not None:
            self._transport.close()

    def received(self, message: wire.ToHttp) -> None:
        future = self._pending.pop(message.id, None)
        if future is not None and not future.done():
            future.set_result(message)

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = CoordinatorGone("the ingest coordinator is not running; send it again")
        for future in self._pending.values():
            if not future.done():
                future.set_exception(self._lost)
        self._pending.clear()
        if not self._closing:
            log.error("the link to the coordinator closed; this HTTP process stops")
            os.kill(os.getpid(), signal.SIGTERM)  # uvicorn's graceful stop

    def _send(self, data: bytes) -> None:
        if self._lost is not None:
            raise self._lost
        self.send_frame(data)

    async def _ask(self, question: Callable[[int], msgspec.Struct]) -> wire.ToHttp:
        self._next_id += 1
        ident = self._next_id
        assert self._loop is not None
        future: asyncio.Future[wire.ToHttp] = self._loop.create_future()
        self._send(wire.frame(question(ident)))
        self._pending[ident] = future
        try:
            return await future
        finally:
            self._pending.pop(ident, None)

    # -- the sessionizer port -------------------------------------------------------------------

    async def submit(self, batch: IncomingBatch) -> dict[int, Status]:
        answer = await self._ask(
            lambda ident: wire.Submit(
                ident,
                batch.account,
                batch.receive_ms,
                batch.client_ip,
                batch.user_agent,
                batch.events,
                list(batch.claims),
            )
        )
        if isinstance(answer, wire.Applied):
            return dict(answer.statuses)
        raise _failure(answer)

    def count_request(self, protocol: str, outcome: str) -> None:
        self._requests[(protocol, outcome)] += 1
        self._schedule_counts()

    def count_rejected(self, events: int) -> None:
        self._rejected += events
        self._schedule_counts()

    def _schedule_counts(self) -> None:
        if not self._counts_scheduled and self._loop is not None:
            self._counts_scheduled = True
            self._loop.call_later(COUNTS_INTERVAL_S, self._send_counts)

    def _send_counts(self) -> None:
        self._counts_scheduled = False
        if not self._requests and not self._rejected:
            return
        counts = wire.Counts([(p, o, n) for (p, o), n in self._requests.items()], self._rejected)
        self._requests.clear()
        self._rejected = 0
        if self._lost is None:
            self._send(wire.frame(counts))

    async def figures(self) -> IngestFigures:
        self._send_counts()  # this process's own counts arrive before the question
        answer = await self._ask(wire.StatsQuery)
        if not isinstance(answer, wire.Stats):
            raise _failure(answer)
        requests = collections.Counter({(p, o): n for p, o, n in answer.requests})
        stats = IngestStats(
            requests,
            answer.accepted,
            answer.duplicate,
            answer.late,
            answer.rejected,
            answer.ended_by_player,
            answer.ended_by_expiration,
        )
        return IngestFigures(stats, answer.live_sessions)

    async def check(self) -> None:
        answer = await self._ask(wire.Check)
        if not isinstance(answer, wire.Done):
            raise _failure(answer)

    # -- the read budgets -----------------------------------------------------------------------

    async def admit(self, ip: str) -> None:
        answer = await self._ask(lambda ident: wire.Admit(ident, ip))
        if not isinstance(answer, wire.Done):
            raise _failure(answer)

    async def acquire(self, account_id: int) -> None:
        answer = await self._ask(lambda ident: wire.Enter(ident, account_id))
        if not isinstance(answer, wire.Done):
            raise _failure(answer)

    def release(self, account_id: int) -> None:
        if self._lost is None:
            self._send(wire.frame(wire.Leave(account_id)))
            self.flush()  # now, before this read's answer is written: the slot is free when the client sees it


def _failure(answer: wire.ToHttp) -> Exception:
    if isinstance(answer, wire.Limited):
        return RateLimited(answer.message, answer.retry_after_s)
    if isinstance(answer, wire.Failed):
        return StorageFailure(answer.message) if answer.kind == "storage" else InternalError(answer.message)
    return InternalError(f"the coordinator answered {type(answer).__name__} out of turn (a bug)")
