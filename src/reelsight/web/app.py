"""The app factory: settings, store and clock in; a Starlette application out."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

import anyio
import anyio.to_thread
import msgspec
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from reelsight.clock import Clock
from reelsight.errors import ApiError
from reelsight.settings import Settings
from reelsight.store.base import SessionStore
from reelsight.web.auth import Authenticator
from reelsight.web.errors import handle_api_error, handle_http_exception, handle_unexpected
from reelsight.web.openapi import build_openapi
from reelsight.web.sessions_route import PATH, SessionsEndpoint

log = logging.getLogger("reelsight.web")


async def _purge_forever(settings: Settings, store: SessionStore, clock: Clock) -> None:
    while True:
        cutoff = clock.now_ms() - settings.retention_days * 86_400_000
        removed = await anyio.to_thread.run_sync(store.purge_ended_before, cutoff)
        if removed:
            log.info("retention purge removed %d sessions", removed)
        await anyio.sleep(max(1, settings.purge_interval_s))


def create_app(settings: Settings, store: SessionStore, clock: Clock) -> Starlette:
    openapi_body = msgspec.json.encode(build_openapi())
    sessions = SessionsEndpoint(settings, store, clock, Authenticator(store, clock, settings.auth_cache_s))

    async def openapi(_request: Request) -> Response:
        return Response(openapi_body, media_type="application/json")

    async def health(_request: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(_purge_forever, settings, store, clock)
            yield
            tasks.cancel_scope.cancel()

    return Starlette(
        routes=[
            Route(PATH, sessions.handle, methods=["GET"]),
            Route("/openapi.json", openapi, methods=["GET"]),
            Route("/healthz", health, methods=["GET"]),
        ],
        exception_handlers={
            ApiError: handle_api_error,
            HTTPException: handle_http_exception,
            Exception: handle_unexpected,
        },
        lifespan=lifespan,
    )
