"""``POST /ingest/cmcd/v2?key=INGEST_KEY`` (or ``/ingest/cmcd/v2/INGEST_KEY``): the CMCD v2 event
collector. Report lines in, the shared intake, ``204`` out; CORS on every answer (browsers drop
reports otherwise). Players resend on anything but 2xx, so a parseable body is always a 204."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from reelsight.errors import IngestKeyGone
from reelsight.ingest import cmcd
from reelsight.web.ingest_common import BrowserIngestRoute, read_body

PROTOCOL = "cmcd"
PATHS = (cmcd.PATH, cmcd.PATH + "/{key}")


class CmcdCollector(BrowserIngestRoute):
    protocol = PROTOCOL

    async def answer(self, request: Request) -> Response:
        receive_ms = self.clock.now_ms()
        key = request.path_params.get("key") or request.query_params.get("key", "")
        account = await self.intake.account(key)
        if account is None:
            raise IngestKeyGone()
        body = await read_body(request, self.settings.ingest_max_batch_bytes)
        reports, refused = cmcd.parse_body(
            body, request.headers.get("content-type", ""), max_lines=self.settings.ingest_max_events
        )
        batch = cmcd.decode_reports(reports, refused, receive_ms=receive_ms)
        for reason in batch.rejected.values():
            self.intake.count_request(PROTOCOL, f"line refused: {reason}")
        self.intake.count_request(PROTOCOL, "stored")
        sender = self.sender(request)
        if batch.events:
            await self.intake.submit(account, batch, receive_ms=receive_ms, sender=sender)
        else:
            self.intake.count_rejected(batch)
        return Response(status_code=204)
