"""The hot routes: an exact POST goes straight to its handler, everything else to the application."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from reelsight.web.errors import handle_unexpected
from reelsight.web.hot_routes import HotRoutes


class Stamp:
    """Marks every answer that went through the application's middleware stack."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def stamped(message: dict[str, object]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message["headers"], (b"x-stack", b"starlette")]  # type: ignore[misc]
            await send(message)

        await self.app(scope, receive, stamped)


async def handler(request: Request) -> Response:
    body = await request.body()
    if body == b"bug":
        raise ZeroDivisionError("a bug")
    return Response(b"got " + body, status_code=201)


def post_and_get(requests: list[tuple[str, str, bytes]]) -> list[httpx.Response]:
    app = Starlette(
        routes=[Route("/hot", handler, methods=["POST"]), Route("/cold", handler, methods=["POST"])],
        middleware=[Middleware(Stamp)],
        exception_handlers={Exception: handle_unexpected},  # as the server's application has it
    )
    transport = httpx.ASGITransport(HotRoutes(app, {"/hot": handler}), raise_app_exceptions=False)

    async def send() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            return [await http.request(method, path, content=body) for method, path, body in requests]

    return asyncio.run(send())


def test_an_exact_post_skips_the_stack_and_the_rest_goes_through_it() -> None:
    hot, query, cold, other_method, other_path = post_and_get(
        [
            ("POST", "/hot", b"x"),
            ("POST", "/hot?k=1", b"y"),
            ("POST", "/cold", b"x"),
            ("GET", "/hot", b""),
            ("POST", "/hot/", b""),
        ]
    )
    assert (hot.status_code, hot.content, hot.headers.get("x-stack")) == (201, b"got x", None)
    assert (query.status_code, query.content, query.headers.get("x-stack")) == (201, b"got y", None)
    assert (cold.status_code, cold.headers.get("x-stack")) == (201, "starlette")
    assert (other_method.status_code, other_method.headers.get("x-stack")) == (405, "starlette")
    assert other_path.headers.get("x-stack") == "starlette"


@pytest.mark.parametrize("path", ["/hot", "/cold"])
def test_a_bug_is_the_same_500_envelope_on_both_paths(path: str) -> None:
    (r,) = post_and_get([("POST", path, b"bug")])
    assert r.status_code == 500
    assert r.json() == {"message": "internal error", "code": "internal_error"}
