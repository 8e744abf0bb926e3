"""The load generator of ``bench_ingest.py``, ``bench_conviva.py`` and ``bench_cmcd.py``: raw HTTP/1.1
over keep-alive connections on one event loop, closed-loop (every connection always busy) or
open-loop (a fixed schedule, latency counted from each request's scheduled time).
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import math
import socket
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol, cast

from ingest_workload import EVENTS_PER_BATCH

DRAIN_TIMEOUT_S = 600.0  # after an open loop's last scheduled request, how long its backlog may take


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


class PlayerSession(Protocol):
    in_flight: bool  # a request of it is on the wire: the workload skips it


class PlayerCounts(Protocol):
    @property
    def events(self) -> int: ...


class Players(Protocol):
    """What the load client needs of a workload (``ingest_workload.Workload``, ``conviva_workload.Workload``,
    ``cmcd_workload.Workload``)."""

    @property
    def counts(self) -> PlayerCounts: ...

    def next_session(self) -> PlayerSession: ...

    def request(self, session: Any) -> bytes: ...  # the session next_session returned


@dataclasses.dataclass
class PhaseResult:
    name: str
    mode: str  # "closed" or "open"
    offered_per_s: float  # batches/s scheduled (open loop); 0 for closed loop
    connections: int
    wall_s: float = 0.0
    batches: int = 0
    events: int = 0
    accepted: int = 0  # events the responses called accepted
    latency_ms: list[float] = dataclasses.field(default_factory=list)  # open loop: from the scheduled time
    send_delay_ms: list[float] = dataclasses.field(default_factory=list)  # open loop: scheduled -> sent
    not_accepted: int = 0  # responses that were not 202 or did not accept every event
    failures: list[str] = dataclasses.field(default_factory=list)
    client_cpu_s: float = 0.0
    server_cpu_s: float = 0.0
    machine_busy_s: float = 0.0  # CPU time used by every process on the machine during the phase
    server_threads: dict[str, float] = dataclasses.field(default_factory=dict)  # CPU s per server thread

    @property
    def batches_per_s(self) -> float:
        return self.batches / self.wall_s if self.wall_s else 0.0

    @property
    def events_per_s(self) -> float:
        return self.events / self.wall_s if self.wall_s else 0.0


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection with at most one request in flight."""

    def __init__(self, on_response: Callable[[_Connection, int, bytes], None], on_lost: Callable[[str], None]) -> None:
        self._on_response = on_response
        self._on_lost = on_lost
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._needed = -1  # bytes of the whole response once its head is parsed
        self._status = 0
        self.session: PlayerSession | None = None
        self.scheduled = 0.0  # perf_counter of the request's scheduled time (open loop) or send
        self.sent = 0.0
        self.closing = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send(self, request: bytes) -> None:
        assert self.transport is not None
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        if self._needed < 0:
            head_end = buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = bytes(buffer[:head_end]).lower()
            self._status = int(head[9:12])
            at = head.find(b"\r\ncontent-length:")
            length = 0  # no Content-Length: a 204 or 304, which has no body (no target answers chunked)
            if at >= 0:
                line_end = head.find(b"\r\n", at + 17)
                length = int(head[at + 17 : line_end if line_end > 0 else len(head)])
            self._needed = head_end + 4 + length
        if len(buffer) < self._needed:
            return
        body = bytes(buffer[buffer.find(b"\r\n\r\n") + 4 : self._needed])
        del buffer[: self._needed]
        self._needed = -1
        self._on_response(self, self._status, body)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closing and self.session is not None:  # an idle one is reopened before the next phase
            self._on_lost(f"connection lost with a request in flight: {exc!r}")


class LoadClient:
    """Drives a target with the workload's requests over ``connections`` keep-alive connections."""

    def __init__(self, workload: Players, host: str, port: int, connections: int) -> None:
        self.workload = workload
        self._host, self._port = host, port
        self._count = connections
        self._conns: list[_Connection] = []
        self._phase: PhaseResult | None = None
        self._done: asyncio.Future[None] | None = None
        self._next: Callable[[_Connection], None] = lambda _conn: None
        self._in_flight = 0

    async def connect(self) -> None:
        """Open the connections, or reopen those the server closed while idle (keep-alive timeout)."""
        loop = asyncio.get_running_loop()
        self._conns = [c for c in self._conns if c.transport is not None and not c.transport.is_closing()]
        while len(self._conns) < self._count:
            _transport, conn = await loop.create_connection(
                lambda: _Connection(self._response, self._lost), self._host, self._port
            )
            self._conns.append(conn)

    def close(self) -> None:
        for conn in self._conns:
            conn.closing = True
            if conn.transport is not None:
                conn.transport.close()

    def acknowledged(self, status: int, body: bytes) -> tuple[int, bool]:
        """The events a response accepted, and whether it acknowledged the whole request: a 202 that
        accepts every event of the batch. A workload of another protocol overrides this."""
        accepted = body.count(b'"accepted"')
        return accepted, status == 202 and accepted == EVENTS_PER_BATCH

    def _lost(self, reason: str) -> None:
        if self._phase is not None:
            self._phase.failures.append(reason)
        if self._done is not None and not self._done.done():
            self._done.set_exception(RuntimeError(reason))

    def _send(self, conn: _Connection, scheduled: float) -> None:
        session = self.workload.next_session()
        session.in_flight = True
        conn.session = session
        conn.scheduled = scheduled
        request = self.workload.request(session)
        conn.sent = time.perf_counter()
        self._in_flight += 1
        conn.send(request)

    def _response(self, conn: _Connection, status: int, body: bytes) -> None:
        now = time.perf_counter()
        phase = self._phase
        assert phase is not None
        assert conn.session is not None
        conn.session.in_flight = False
        conn.session = None
        self._in_flight -= 1
        accepted, ok = self.acknowledged(status, body)
        phase.batches += 1
        phase.accepted += accepted
        phase.latency_ms.append((now - conn.scheduled) * 1000)
        if phase.mode == "open":
            phase.send_delay_ms.append((conn.sent - conn.scheduled) * 1000)
        if not ok:
            phase.not_accepted += 1
            if len(phase.failures) < 5:
                phase.failures.append(f"HTTP {status}: {body[:300]!r}")
        self._next(conn)

    def _start_phase(self, phase: PhaseResult) -> tuple[int, float]:
        self._phase = phase
        self._done = asyncio.get_running_loop().create_future()
        return self.workload.counts.events, time.perf_counter()

    def _end_phase(self, phase: PhaseResult, events_before: int, started: float, finished: float) -> PhaseResult:
        phase.wall_s = finished - started
        phase.events = self.workload.counts.events - events_before
        self._phase = None
        return phase

    async def closed_loop(
        self, name: str, *, requests: int = 0, duration_s: float = 0.0, until: Callable[[], bool] | None = None
    ) -> PhaseResult:
        """Keep every connection busy: each response sends the next request, until ``requests`` were
        sent, ``duration_s`` passed or ``until()`` says the workload is where it should be."""
        phase = PhaseResult(name, "closed", 0.0, len(self._conns))
        events_before, started = self._start_phase(phase)
        deadline = started + duration_s if duration_s else math.inf
        budget = requests if requests else math.inf
        done = until or (lambda: False)
        sent = 0
        last_done = started

        def proceed(conn: _Connection) -> None:
            nonlocal sent, last_done
            last_done = time.perf_counter()
            if sent < budget and last_done < deadline and not done():
                sent += 1
                self._send(conn, time.perf_counter())
            elif self._in_flight == 0 and self._done is not None and not self._done.done():
                self._done.set_result(None)

        self._next = proceed
        for conn in self._conns:
            if sent < budget and not done():
                sent += 1
                self._send(conn, time.perf_counter())
        assert self._done is not None
        if sent == 0:
            self._done.set_result(None)
        await self._done
        return self._end_phase(phase, events_before, started, last_done)

    async def open_loop(self, name: str, *, rate: float, duration_s: float) -> PhaseResult:
        """Send ``rate`` requests/s on a fixed schedule for ``duration_s``; a request whose time has come
        while every connection is busy waits for the next free one (its latency counts from its time)."""
        phase = PhaseResult(name, "open", rate, len(self._conns))
        events_before, started = self._start_phase(phase)
        free = collections.deque(self._conns)  # first in, first out: none idles into the keep-alive timeout
        waiting: collections.deque[float] = collections.deque()
        total = int(rate * duration_s)
        scheduled_all = False
        last_done = started

        def proceed(conn: _Connection) -> None:
            nonlocal last_done
            last_done = time.perf_counter()
            if waiting:
                self._send(conn, waiting.popleft())
                return
            free.append(conn)
            if scheduled_all and self._in_flight == 0 and self._done is not None and not self._done.done():
                self._done.set_result(None)

        self._next = proceed
        interval = 1.0 / rate
        for k in range(total):
            due = started + k * interval
            delay = due - time.perf_counter()
            if delay > 0.0005:
                await asyncio.sleep(delay)
            elif k % 16 == 0:  # behind schedule: still let responses in now and then
                await asyncio.sleep(0)
            if free:
                self._send(free.popleft(), due)
            else:
                waiting.append(due)
        scheduled_all = True
        assert self._done is not None
        if self._in_flight == 0 and not waiting:
            self._done.set_result(None)
        await asyncio.wait_for(self._done, timeout=DRAIN_TIMEOUT_S)
        return self._end_phase(phase, events_before, started, last_done)
