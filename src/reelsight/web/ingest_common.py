"""What every ingest route reads from HTTP the same way: the body within its limit and the sender."""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request

from reelsight.errors import PayloadTooLarge
from reelsight.ingest.intake import Sender

MAX_USER_AGENT_CHARS = 2048


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
