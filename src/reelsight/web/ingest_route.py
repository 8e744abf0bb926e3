"""``POST /ingest/v1/events``: size limits, the ingest key, per-event validation, durable acknowledgement."""

from __future__ import annotations

import functools
import hashlib
import time
from collections.abc import Callable

import anyio.to_thread
import msgspec
from starlette.requests import Request
from starlette.responses import Response

from reelsight.clock import Clock
from reelsight.errors import InvalidBatch, InvalidIngestKey, PayloadTooLarge
from reelsight.ingest.events import Start
from reelsight.ingest.native import decode_batch, decode_envelope
from reelsight.ingest.worker import IngestWorker
from reelsight.sessions.live import TAG_LIMIT_REASON, IncomingBatch
from reelsight.settings import Settings
from reelsight.store.base import Account, SessionStore

PATH = "/ingest/v1/events"
_KEY_CACHE_S = 30.0
_ENCODER = msgspec.json.Encoder()


def assigned_client_id(account_id: int, sender: str, start: Start) -> str:
    """The client id given to a session that started without one: a keyed hash of the account, the
    sender (address and User-Agent) and the start event as the client sent it, so a retried batch
    gets the same id and never forks the session."""
    material = msgspec.json.encode([account_id, sender, start.session_id, start.seq, start.t_ms, start.viewer_id])
    digest = hashlib.blake2b(material, digest_size=16, key=b"reelsight-client-id").digest()
    return ".".join(str(int.from_bytes(digest[i : i + 4], "big")) for i in range(0, 16, 4))


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the body is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


class IngestEndpoint:
    def __init__(
        self,
        settings: Settings,
        store: SessionStore,
        clock: Clock,
        worker: IngestWorker,
        resolve_client_ip: Callable[[str, str | None], str],
    ) -> None:
        self._settings = settings
        self._store = store
        self._clock = clock
        self._worker = worker
        self._resolve_client_ip = resolve_client_ip
        self._accounts: dict[str, tuple[Account, float]] = {}

    async def _account(self, ingest_key: str) -> Account:
        cached = self._accounts.get(ingest_key)
        now = time.monotonic()
        if cached is not None and cached[1] > now:
            return cached[0]
        if len(ingest_key) > 128:
            raise InvalidIngestKey()
        account = await anyio.to_thread.run_sync(self._store.find_account_by_ingest_key, ingest_key)
        if account is None:
            raise InvalidIngestKey()
        if len(self._accounts) > 10_000:
            self._accounts.clear()
        self._accounts[ingest_key] = (account, now + _KEY_CACHE_S)
        return account

    async def handle(self, request: Request) -> Response:
        receive_ms = self._clock.now_ms()  # first: time spent queued here must not shift the events
        settings = self._settings
        body = await read_body(request, settings.ingest_max_batch_bytes)
        envelope = decode_envelope(body, max_events=settings.ingest_max_events)
        account = await self._account(envelope.ingest_key)
        peer = request.client.host if request.client else ""
        client_ip = self._resolve_client_ip(peer, request.headers.get("x-forwarded-for"))
        user_agent = request.headers.get("user-agent", "")[:2048]
        batch = decode_batch(
            envelope,
            receive_ms=receive_ms,
            new_client_id=functools.partial(assigned_client_id, account.id, f"{client_ip} {user_agent}"),
        )
        self._worker.registry.stats.rejected += len(batch.rejected)
        results: dict[int, dict[str, object]] = {
            index: {"index": index, "status": "rejected", "reason": reason} for index, reason in batch.rejected.items()
        }
        if not batch.events:
            first = min(batch.rejected) if batch.rejected else None
            message = "the batch holds no events" if first is None else f"event {first}: {batch.rejected[first]}"
            parameter = None if first is None else f"events[{first}]"
            raise InvalidBatch(message, parameter, [results[i] for i in sorted(results)])
        incoming = IncomingBatch(account, receive_ms, client_ip, user_agent, batch.events)
        # StorageFailure (503: send it again) and InternalError (500: a bug, logged by the worker)
        # reach the one error handler from here.
        statuses = await self._worker.submit(incoming)
        for index, status in statuses.items():
            results[index] = {"index": index, "status": status}
            if status == "rejected":
                results[index]["reason"] = TAG_LIMIT_REASON
        body_out = {"results": [results[i] for i in sorted(results)], "client_ids": batch.assigned_client_ids}
        return Response(_ENCODER.encode(body_out), status_code=202, media_type="application/json")
