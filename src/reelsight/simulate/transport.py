"""Posting event batches: the native protocol over one shared HTTP client, retries with backoff, and
a per-player outbox that sends whatever happened as soon as the previous batch was acknowledged.

Retrying is safe because every event keeps its ``seq`` (a resent event is a ``duplicate``), and the
batch gets a fresh ``sent_at_ms`` per attempt so the server's clock-skew correction stays right.
"""

from __future__ import annotations

import asyncio
import math
from collections import Counter
from dataclasses import dataclass, field

import httpx
import msgspec

from reelsight.clock import Clock
from reelsight.ingest.events import Event

INGEST_PATH = "/ingest/v1/events"
PROTOCOL_VERSION = 1
_MAX_REASONS = 20


class SimulationAborted(RuntimeError):
    """The server refuses the simulator as a whole (e.g. an unknown ingest key)."""


class _Batch(msgspec.Struct):
    v: int
    ingest_key: str
    sent_at_ms: int
    events: list[Event]


class _Result(msgspec.Struct):
    index: int
    status: str
    reason: str = ""


class _Reply(msgspec.Struct):
    results: list[_Result] = []
    client_ids: dict[str, str] = {}


_encode = msgspec.json.Encoder().encode
_decode_reply = msgspec.json.Decoder(_Reply).decode


@dataclass
class Counters:
    """What was sent and what the server said, over a whole run."""

    batches: int = 0  # batches acknowledged (202)
    attempts: int = 0  # HTTP requests made, retries included
    retries: int = 0
    failed_batches: int = 0  # given up after the last retry, or refused with a 4xx
    events: int = 0  # events in acknowledged batches
    statuses: Counter[str] = field(default_factory=Counter)  # per-event: accepted, duplicate, late, rejected
    http_errors: Counter[str] = field(default_factory=Counter)  # "503", "ConnectError", ...
    reasons: Counter[str] = field(default_factory=Counter)  # rejections, refusals (the first kinds)


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 8  # per batch, the first one included
    backoff_s: float = 0.2  # doubled after every failed attempt...
    max_backoff_s: float = 5.0  # ... up to this


class Transport:
    """Sends one batch at a time per caller; the ``httpx.AsyncClient`` (and its pool) is shared."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        url: str,
        ingest_key: str,
        clock: Clock,
        counters: Counters,
        retry: RetryPolicy = RetryPolicy(),
    ) -> None:
        self._client = client
        self._url = url.rstrip("/") + INGEST_PATH
        self._ingest_key = ingest_key
        self._clock = clock
        self.counters = counters
        self._retry = retry

    async def send(self, events: list[Event], forwarded_for: str = "") -> dict[str, str] | None:
        """Post ``events`` until acknowledged; the client ids the server assigned, or ``None`` when
        the batch was given up (its events are lost, as a real player's would be)."""
        counters = self.counters
        delay_s = self._retry.backoff_s
        for attempt in range(self._retry.attempts):
            if attempt:
                counters.retries += 1
                await asyncio.sleep(delay_s)
                delay_s = min(self._retry.max_backoff_s, delay_s * 2)
            body = _encode(_Batch(PROTOCOL_VERSION, self._ingest_key, self._clock.now_ms(), events))
            counters.attempts += 1
            try:
                headers = {"content-type": "application/json"}
                if forwarded_for:  # the player's own address, as a proxy in front of the server would add
                    headers["x-forwarded-for"] = forwarded_for
                response = await self._client.post(self._url, content=body, headers=headers)
            except httpx.TransportError as exc:
                counters.http_errors[type(exc).__name__] += 1
                continue
            if response.status_code == 202:
                return self._acknowledged(events, response.content)
            counters.http_errors[str(response.status_code)] += 1
            if response.status_code == 401:
                raise SimulationAborted(f"the server refused the ingest key ({response.text}): see `accounts list`")
            if response.status_code < 500 and response.status_code != 429:
                self._note(f"HTTP {response.status_code}: {response.text[:300]}")
                counters.failed_batches += 1
                return None
        counters.failed_batches += 1
        self._note(f"gave up a batch after {self._retry.attempts} attempts")
        return None

    def _acknowledged(self, events: list[Event], body: bytes) -> dict[str, str]:
        counters = self.counters
        reply = _decode_reply(body)
        counters.batches += 1
        counters.events += len(events)
        for result in reply.results:
            counters.statuses[result.status] += 1
            if result.status == "rejected":
                self._note(f"rejected {type(events[result.index]).__name__}: {result.reason}")
        return reply.client_ids

    def _note(self, reason: str) -> None:
        reasons = self.counters.reasons
        if reason in reasons or len(reasons) < _MAX_REASONS:
            reasons[reason] += 1


class Outbox:
    """One player's queue of events: a background task sends everything pending as one batch as
    soon as the previous batch is done, filling in the client id once the server assigned it."""

    def __init__(self, transport: Transport, client_id: str, forwarded_for: str = "") -> None:
        self._transport = transport
        self.client_id = client_id  # "" until the server assigns one
        self._forwarded_for = forwarded_for
        self._pending: list[Event] = []
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._closing = False
        self._done = asyncio.Event()
        self._delay_ms: dict[str, int] = {}  # session id -> summed round trips of its batches

    def put(self, event: Event) -> None:
        self._pending.append(event)
        self._idle.clear()
        self._wake.set()

    async def flushed(self) -> None:
        """Wait until everything put so far was sent (or given up)."""
        await self._idle.wait()

    def take_delay_ms(self, session_id: str) -> int:
        """The summed round-trip times of the batches that carried this session's events so far.

        Each batch's events are moved by the server's clock-skew correction by its own delay from
        send to receive (at most its round trip), so this bounds how far network and server delays
        can stretch or shrink any of the session's served durations.
        """
        return self._delay_ms.pop(session_id, 0)

    async def close(self) -> None:
        """Send what is pending, then let :meth:`run` return."""
        self._closing = True
        self._wake.set()
        await self._done.wait()

    async def run(self) -> None:
        """The sending loop (a task of the run); returns after :meth:`close`."""
        try:
            await self._send_until_closed()
        finally:
            self._done.set()

    async def _send_until_closed(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._pending:
                batch, self._pending = self._pending, []
                if self.client_id:
                    for event in batch:
                        if not event.client_id:
                            event.client_id = self.client_id
                loop = asyncio.get_running_loop()
                sent_s = loop.time()
                assigned = await self._transport.send(batch, self._forwarded_for)
                delay_ms = math.ceil((loop.time() - sent_s) * 1000)
                for session_id in {event.session_id for event in batch}:
                    self._delay_ms[session_id] = self._delay_ms.get(session_id, 0) + delay_ms
                if assigned and not self.client_id:
                    self.client_id = next(iter(assigned.values()))
                if self._pending:
                    self._wake.set()
                    continue
            self._idle.set()
            if self._closing:
                return
