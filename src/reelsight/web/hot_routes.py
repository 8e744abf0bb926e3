"""The ingest routes players call thousands of times a second, answered without Starlette's
middleware stack and router.

A ``POST`` whose path is exactly one of the hot routes goes straight to its handler; every other
request (other methods on the same paths included, so ``405`` and the CORS preflight stay
Starlette's), and the lifespan, go to the Starlette application unchanged. The answers are the
same: the handlers answer every error the service raises on purpose themselves (with CORS), and
what is left is handled as the application's own handlers do: a client that went away gets
:func:`~reelsight.web.errors.handle_client_disconnect`'s answer, a bug the ``500`` envelope of
:func:`~reelsight.web.errors.handle_unexpected`, then re-raised so the HTTP server logs it once.
Measured: ``docs/benchmarks.md``, "Hot ingest routes".
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import Receive, Scope, Send

from reelsight.web.errors import handle_client_disconnect, handle_unexpected

Handler = Callable[[Request], Awaitable[Response]]


class HotRoutes:
    def __init__(self, app: Starlette, post_routes: Mapping[str, Handler]) -> None:
        self.app = app
        self._post = dict(post_routes)

    @property
    def routes(self) -> list[BaseRoute]:
        """Every route the server answers (the hot ones are Starlette's routes too)."""
        return self.app.routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and not scope.get("root_path"):
            handler = self._post.get(scope["path"])
            if handler is not None:
                await self._answer(handler, scope, receive, send)
                return
        await self.app(scope, receive, send)

    @staticmethod
    async def _answer(handler: Handler, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            response = await handler(request)
        except ClientDisconnect as exc:
            response = await handle_client_disconnect(request, exc)
        except Exception as exc:
            await (await handle_unexpected(request, exc))(scope, receive, send)
            raise
        await response(scope, receive, send)
