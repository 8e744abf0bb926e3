"""``POST /ingest/v1/events``: the native protocol's envelope, its decoder, the shared intake, 202."""

from __future__ import annotations

import functools
from collections.abc import Callable

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from reelsight.clock import Clock
from reelsight.errors import InvalidBatch, InvalidIngestKey
from reelsight.ingest.events import Start
from reelsight.ingest.intake import Intake, Sender, assigned_client_id
from reelsight.ingest.native import decode_batch, decode_envelope
from reelsight.settings import Settings
from reelsight.web.ingest_common import read_body, sender_of

PATH = "/ingest/v1/events"
_ENCODER = msgspec.json.Encoder()


def native_client_id(account_id: int, sender: Sender, start: Start) -> str:
    """A start without a client id: its id derives from the start as the client sent it (client time)."""
    return assigned_client_id(account_id, sender, start.session_id, start.seq, start.t_ms, start.viewer_id)


class IngestEndpoint:
    def __init__(
        self, settings: Settings, clock: Clock, intake: Intake, resolve_client_ip: Callable[[str, str | None], str]
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._intake = intake
        self._resolve_client_ip = resolve_client_ip

    async def handle(self, request: Request) -> Response:
        receive_ms = self._clock.now_ms()  # first: time spent queued here must not shift the events
        settings = self._settings
        body = await read_body(request, settings.ingest_max_batch_bytes)
        envelope = decode_envelope(body, max_events=settings.ingest_max_events)
        account = await self._intake.account(envelope.ingest_key)
        if account is None:
            raise InvalidIngestKey()
        sender = sender_of(request, self._resolve_client_ip)
        batch = decode_batch(
            envelope, receive_ms=receive_ms, new_client_id=functools.partial(native_client_id, account.id, sender)
        )
        if not batch.events:
            self._intake.count_rejected(batch)
            results = [{"index": i, "status": "rejected", "reason": r} for i, r in sorted(batch.rejected.items())]
            first = min(batch.rejected) if batch.rejected else None
            message = "the batch holds no events" if first is None else f"event {first}: {batch.rejected[first]}"
            raise InvalidBatch(message, None if first is None else f"events[{first}]", results)
        # StorageFailure (503: send it again) and InternalError (500: a bug, logged by the worker)
        # reach the one error handler from here.
        outcomes = await self._intake.submit(account, batch, receive_ms=receive_ms, sender=sender)
        body_out = {"results": [o.as_json() for o in outcomes], "client_ids": batch.assigned_client_ids}
        return Response(_ENCODER.encode(body_out), status_code=202, media_type="application/json")
