"""What every ingest route does with HTTP the same way: the body within its limit, the sender, and
CORS for players on another origin (a preflight answer, and the header on every answer)."""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import Response

from reelsight.errors import PayloadTooLarge
from reelsight.ingest.intake import Sender

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
