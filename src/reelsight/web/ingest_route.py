"""``POST /ingest/v1/events``: the native protocol's envelope, its decoder, the shared intake, 202."""

from __future__ import annotations

import functools

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from reelsight.errors import InvalidBatch, InvalidIngestKey
from reelsight.ingest.events import Start
from reelsight.ingest.intake import Sender, assigned_client_id
from reelsight.ingest.native import decode_batch, decode_envelope
from reelsight.web.ingest_common import IngestRoute, read_body

PATH = "/ingest/v1/events"
_ENCODER = msgspec.json.Encoder()


def native_client_id(account_id: int, sender: Sender, start: Start) -> str:
    """A start without a client id: its id derives from the start as the client sent it (client time)."""
    return assigned_client_id(account_id, sender, start.session_id, start.seq, start.t_ms, start.viewer_id)


class IngestEndpoint(IngestRoute):
    async def handle(self, request: Request) -> Response:
        receive_ms = self.clock.now_ms()  # first: time spent queued here must not shift the events
        settings = self.settings
        body = await read_body(request, settings.ingest_max_batch_bytes)
        envelope = decode_envelope(body, max_events=settings.ingest_max_events)
        account = await self.intake.account(envelope.ingest_key)
        if account is None:
            raise InvalidIngestKey()
        sender = self.sender(request)
        batch = decode_batch(
            envelope, receive_ms=receive_ms, new_client_id=functools.partial(native_client_id, account.id, sender)
        )
        if not batch.events:
            self.intake.count_rejected(batch)
            results = [{"index": i, "status": "rejected", "reason": r} for i, r in sorted(batch.rejected.items())]
            first = min(batch.rejected) if batch.rejected else None
            message = "the batch holds no events" if first is None else f"event {first}: {batch.rejected[first]}"
            raise InvalidBatch(message, None if first is None else f"events[{first}]", results)
        # StorageFailure (503: send it again) and InternalError (500: a bug, logged by the worker)
        # reach the one error handler from here.
        outcomes = await self.intake.submit(account, batch, receive_ms=receive_ms, sender=sender)
        body_out = {"results": [o.as_json() for o in outcomes], "client_ids": batch.assigned_client_ids}
        return Response(_ENCODER.encode(body_out), status_code=202, media_type="application/json")
