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
from typing import cast

import msgspec

from reelsight.errors import CoordinatorGone, InternalError, RateLimited, StorageFailure
from reelsight.ingest.sessionizer import IngestFigures
from reelsight.processes import wire
from reelsight.sessions.live import IncomingBatch, IngestStats, Status

log = logging.getLogger("reelsight.processes")
COUNTS_INTERVAL_S = 0.05


class CoordinatorClient(asyncio.Protocol):
    def __init__(self, path: str) -> None:
        self._path = path
        self._loop: asyncio.AbstractEventLoop | None = None
        self._transport: asyncio.Transport | None = None
        self._splitter = wire.FrameSplitter()
        self._pending: dict[int, asyncio.Future[wire.ToHttp]] = {}
        self._next_id = 0
        self._out: list[bytes] = []
        self._flush_scheduled = False
        self._requests: collections.Counter[tuple[str, str]] = collections.Counter()
        self._rejected = 0
        self._counts_scheduled = False
        self._lost: CoordinatorGone | None = None
        self._closing = False

    # -- the link -----------------------------------------------------------------------------

    async def connect(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self._loop.create_unix_connection(lambda: self, self._path)

    async def close(self) -> None:
        self._closing = True
        self._send_counts()
        self._flush()
        if self._transport is not None:
            self._transport.close()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses

    def data_received(self, data: bytes) -> None:
        try:
            bodies = self._splitter.feed(data)
            answers = [wire.to_http.decode(body) for body in bodies]
        except (wire.FrameTooLarge, msgspec.DecodeError) as exc:
            log.error("the coordinator sent an unreadable frame (%s); closing the link", exc)
            if self._transport is not None:
                self._transport.close()
            return
        for answer in answers:
            future = self._pending.pop(answer.id, None)
            if future is not None and not future.done():
                future.set_result(answer)

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
        self._out.append(data)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            assert self._loop is not None
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._out and self._transport is not None and not self._transport.is_closing():
            self._transport.write(b"".join(self._out))
        self._out.clear()

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
            self._flush()  # now, before this read's answer is written: the slot is free when the client sees it


def _failure(answer: wire.ToHttp) -> Exception:
    if isinstance(answer, wire.Limited):
        return RateLimited(answer.message, answer.retry_after_s)
    if isinstance(answer, wire.Failed):
        return StorageFailure(answer.message) if answer.kind == "storage" else InternalError(answer.message)
    return InternalError(f"the coordinator answered {type(answer).__name__} out of turn (a bug)")
