"""``POST /ingest/cmcd/v2?key=INGEST_KEY`` (or ``/ingest/cmcd/v2/INGEST_KEY``): the CMCD v2 event
collector. Report lines in, the shared intake, ``204`` out; CORS on every answer (browsers drop
reports otherwise). Players resend on anything but 2xx, so a parseable body is always a 204."""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import Response

from reelsight.clock import Clock
from reelsight.errors import IngestKeyGone
from reelsight.ingest import cmcd
from reelsight.ingest.intake import Intake
from reelsight.settings import Settings
from reelsight.web.errors import response_for
from reelsight.web.ingest_common import read_body, sender_of, with_cors

PROTOCOL = "cmcd"
PATHS = (cmcd.PATH, cmcd.PATH + "/{key}")


class CmcdCollector:
    def __init__(
        self, settings: Settings, clock: Clock, intake: Intake, resolve_client_ip: Callable[[str, str | None], str]
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._intake = intake
        self._resolve_client_ip = resolve_client_ip

    async def handle(self, request: Request) -> Response:
        try:
            response = await self._handle(request)
        except Exception as exc:
            known = response_for(exc)
            if known is None:
                raise  # a bug: the one handler answers 500 and the server logs it
            response = known
        return with_cors(request, response)

    async def _handle(self, request: Request) -> Response:
        receive_ms = self._clock.now_ms()
        key = request.path_params.get("key") or request.query_params.get("key", "")
        account = await self._intake.account(key)
        if account is None:
            self._intake.count_request(PROTOCOL, "unknown_key")
            raise IngestKeyGone()
        body = await read_body(request, self._settings.ingest_max_batch_bytes)
        reports, refused = cmcd.parse_body(
            body, request.headers.get("content-type", ""), max_lines=self._settings.ingest_max_events
        )
        batch = cmcd.decode_reports(reports, refused, receive_ms=receive_ms)
        for reason in batch.rejected.values():
            self._intake.count_request(PROTOCOL, f"line refused: {reason}")
        self._intake.count_request(PROTOCOL, "stored")
        sender = sender_of(request, self._resolve_client_ip)
        if batch.events:
            await self._intake.submit(account, batch, receive_ms=receive_ms, sender=sender)
        else:
            self._intake.count_rejected(batch)
        return Response(status_code=204)
