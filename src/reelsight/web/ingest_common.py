"""What every ingest route does with HTTP the same way: the body within its limit, the sender, and
CORS for players on another origin (a preflight answer, and the header on every answer)."""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import Response

from reelsight.clock import Clock
from reelsight.errors import PayloadTooLarge
from reelsight.ingest.intake import Intake, Sender
from reelsight.settings import Settings
from reelsight.web.errors import response_for

MAX_USER_AGENT_CHARS = 2048
PREFLIGHT_MAX_AGE_S = "86400"


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, or ``PayloadTooLarge`` as soon as it is known to exceed ``limit`` bytes."""
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


def sender_of(request: Request, resolve_client_ip: Callable[[str, str | None], str]) -> Sender:
    """The client address (``X-Forwarded-For`` believed only from trusted proxies) and User-Agent."""
    peer = request.client.host if request.client else ""
    ip = resolve_client_ip(peer, request.headers.get("x-forwarded-for"))
    return Sender(ip, request.headers.get("user-agent", "")[:MAX_USER_AGENT_CHARS])


def with_cors(request: Request, response: Response) -> Response:
    """Allow the request's origin to read the answer (browsers drop reports to a collector without it)."""
    response.headers["Access-Control-Allow-Origin"] = request.headers.get("origin") or "*"
    response.headers["Vary"] = "Origin"
    return response


async def preflight(request: Request) -> Response:
    """``OPTIONS``: the CORS preflight a cross-origin ``POST`` with a JSON or CMCD body triggers."""
    response = Response(status_code=204)
    response.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
    requested = request.headers.get("access-control-request-headers") or "content-type"
    response.headers["Access-Control-Allow-Headers"] = requested[:1024]
    response.headers["Access-Control-Max-Age"] = PREFLIGHT_MAX_AGE_S
    return with_cors(request, response)


class IngestRoute:
    """What every ingest route is built from: the settings, the clock, the shared intake, and how
    to find the client address behind trusted proxies."""

    protocol = ""

    def __init__(
        self, settings: Settings, clock: Clock, intake: Intake, resolve_client_ip: Callable[[str, str | None], str]
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.intake = intake
        self.resolve_client_ip = resolve_client_ip

    def sender(self, request: Request) -> Sender:
        return sender_of(request, self.resolve_client_ip)


class BrowserIngestRoute(IngestRoute):
    """A route that web players on another origin call: every answer, errors included, carries CORS
    (a browser drops the answer, and the player the report, without it)."""

    async def handle(self, request: Request) -> Response:
        try:
            response = await self.answer(request)
        except Exception as exc:
            known = response_for(exc)
            if known is None:
                raise  # a bug: the one handler answers 500 and the server logs it
            self.intake.count_request(self.protocol, f"refused {known.status_code}")
            response = known
        return with_cors(request, response)

    async def answer(self, request: Request) -> Response:
        raise NotImplementedError
