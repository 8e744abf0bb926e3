"""``POST <prefix>/0/wsg``: the Conviva JS SDK's gateway. Heartbeat in, the shared intake, the JSON the
SDK reads out; CORS on every answer, so web players on another origin can report."""

from __future__ import annotations

import functools

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from reelsight.errors import InvalidIngestKey
from reelsight.ingest import conviva
from reelsight.ingest.intake import Sender, assigned_client_id
from reelsight.settings import Settings
from reelsight.web.ingest_common import BrowserIngestRoute, read_body

PROTOCOL = "conviva"
_ENCODER = msgspec.json.Encoder()


def gateway_path(settings: Settings) -> str:
    """``<prefix>/0/wsg``; the prefix gets one leading slash and no trailing one ("conviva/" -> "/conviva")."""
    return conviva.gateway_prefix(settings.conviva_path_prefix) + conviva.PATH


def conviva_client_id(account_id: int, sender: Sender, heartbeat: conviva.Heartbeat) -> str:
    """A session that reported client id "0": its id derives from the session's own identity, so a
    repeated heartbeat gets the same one."""
    return assigned_client_id(account_id, sender, str(heartbeat.sid), heartbeat.sst, "conviva")


class ConvivaGateway(BrowserIngestRoute):
    protocol = PROTOCOL

    async def answer(self, request: Request) -> Response:
        receive_ms = self.clock.now_ms()
        interval_s = max(1, self.settings.conviva_heartbeat_interval_s)
        body = await read_body(request, self.settings.ingest_max_batch_bytes)
        heartbeat = conviva.decode_heartbeat(body)
        account = await self.intake.account(heartbeat.cid)
        if account is None:
            raise InvalidIngestKey()
        sender = self.sender(request)
        decoded = conviva.decode_events(
            heartbeat,
            receive_ms=receive_ms,
            new_client_id=functools.partial(conviva_client_id, account.id, sender),
            interval_ms=interval_s * 1000,
        )
        self.intake.count_request(PROTOCOL, decoded.kind)
        if decoded.kind in conviva.STORED_KINDS:
            await self.intake.submit(account, decoded.batch, receive_ms=receive_ms, sender=sender)
        answer: dict[str, object] = {"err": "ok", "cfg": {"hbi": interval_s}}
        if decoded.assigned_client_id is not None:
            answer["clid"] = decoded.assigned_client_id
        return Response(_ENCODER.encode(answer), media_type="application/json")
