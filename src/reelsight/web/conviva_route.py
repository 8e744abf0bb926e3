"""``POST <prefix>/0/wsg``: the Conviva JS SDK's gateway. Heartbeat in, the shared intake, the JSON the
SDK reads out; CORS on every answer, so web players on another origin can report."""

from __future__ import annotations

import functools
from collections.abc import Callable

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from reelsight.clock import Clock
from reelsight.errors import InvalidIngestKey
from reelsight.ingest import conviva
from reelsight.ingest.intake import Intake, Sender, assigned_client_id
from reelsight.settings import Settings
from reelsight.web.errors import response_for
from reelsight.web.ingest_common import read_body, sender_of, with_cors

PROTOCOL = "conviva"
_ENCODER = msgspec.json.Encoder()


def gateway_path(settings: Settings) -> str:
    """``<prefix>/0/wsg``; the prefix gets one leading slash and no trailing one ("conviva/" -> "/conviva")."""
    return conviva.gateway_prefix(settings.conviva_path_prefix) + conviva.PATH


def conviva_client_id(account_id: int, sender: Sender, heartbeat: conviva.Heartbeat) -> str:
    """A session that reported client id "0": its id derives from the session's own identity, so a
    repeated heartbeat gets the same one."""
    return assigned_client_id(account_id, sender, str(heartbeat.sid), heartbeat.sst, "conviva")


class ConvivaGateway:
    def __init__(
        self, settings: Settings, clock: Clock, intake: Intake, resolve_client_ip: Callable[[str, str | None], str]
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._intake = intake
        self._resolve_client_ip = resolve_client_ip
        self._interval_s = max(1, settings.conviva_heartbeat_interval_s)

    async def handle(self, request: Request) -> Response:
        try:
            response = await self._handle(request)
        except Exception as exc:
            known = response_for(exc)
            if known is None:
                raise  # a bug: the one handler answers 500 and the server logs it
            self._intake.count_request(PROTOCOL, "refused")
            response = known
        return with_cors(request, response)

    async def _handle(self, request: Request) -> Response:
        receive_ms = self._clock.now_ms()
        body = await read_body(request, self._settings.ingest_max_batch_bytes)
        heartbeat = conviva.decode_heartbeat(body)
        account = await self._intake.account(heartbeat.cid)
        if account is None:
            self._intake.count_request(PROTOCOL, "unknown_key")
            raise InvalidIngestKey()
        sender = sender_of(request, self._resolve_client_ip)
        decoded = conviva.decode_events(
            heartbeat,
            receive_ms=receive_ms,
            new_client_id=functools.partial(conviva_client_id, account.id, sender),
            interval_ms=self._interval_s * 1000,
        )
        self._intake.count_request(PROTOCOL, decoded.kind)
        if decoded.kind == "content":
            await self._intake.submit(account, decoded.batch, receive_ms=receive_ms, sender=sender)
        answer: dict[str, object] = {"err": "ok", "cfg": {"hbi": self._interval_s}}
        if decoded.assigned_client_id is not None:
            answer["clid"] = decoded.assigned_client_id
        return Response(_ENCODER.encode(answer), media_type="application/json")
