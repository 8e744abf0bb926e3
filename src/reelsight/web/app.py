"""The app factories: settings, store, clock and the ingest side in; a Starlette application out
(behind ``HotRoutes``, which answers the players' ingest routes without its middleware).

``create_app`` is the whole server in one process; ``build_app`` the routes of one HTTP process of
several, over the coordinator's client (``processes/``)."""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Callable

import anyio
import anyio.to_thread
import msgspec
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from reelsight.background import start_jobs
from reelsight.clock import Clock
from reelsight.errors import ApiError, StorageFailure, Unavailable
from reelsight.ingest.build import build_worker
from reelsight.ingest.intake import Intake
from reelsight.ingest.sessionizer import LocalSessionizer, Sessionizer
from reelsight.sessions.enrich import Enricher, client_ip, parse_trusted_proxies
from reelsight.sessions.live_log import LiveLog
from reelsight.settings import Settings
from reelsight.store.base import Store
from reelsight.store.sqlite.outbox import Outbox
from reelsight.web import (
    cmcd_route,
    discovery_route,
    explore_route,
    ingest_route,
    metrics_api_route,
    sessions_route,
    viewer_route,
)
from reelsight.web.cmcd_route import CmcdCollector
from reelsight.web.conviva_route import ConvivaGateway, gateway_path
from reelsight.web.discovery_route import DiscoveryEndpoints
from reelsight.web.errors import (
    error_response,
    handle_api_error,
    handle_client_disconnect,
    handle_http_exception,
    handle_storage_failure,
    handle_unexpected,
)
from reelsight.web.hot_routes import HotRoutes
from reelsight.web.ingest_common import preflight
from reelsight.web.ingest_route import IngestEndpoint
from reelsight.web.metrics_api_route import MetricsEndpoints
from reelsight.web.metrics_route import metrics_endpoint
from reelsight.web.openapi import build_openapi
from reelsight.web.ratelimit import ReadLimits
from reelsight.web.read_guard import ReadGuard
from reelsight.web.sessions_route import SessionsEndpoint
from reelsight.web.timeline_route import AD_PATH as AD_TIMELINE_PATH
from reelsight.web.timeline_route import CONTENT_PATH as CONTENT_TIMELINE_PATH
from reelsight.web.timeline_route import TimelineEndpoint
from reelsight.web.viewer_route import ViewerEndpoint

log = logging.getLogger("reelsight.web")


def create_app(
    settings: Settings,
    store: Store,
    live_log: LiveLog,
    enricher: Enricher,
    clock: Clock,
    outbox: Outbox | None = None,
) -> HotRoutes:
    """The whole server in one process: the routes beside the ingest worker that owns the live log.

    ``outbox``: where the live log puts ended sessions when ``store`` is not its own file (drained
    while serving, and once more at shutdown)."""
    worker = build_worker(settings, store, live_log, enricher, clock)

    @contextlib.asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        await anyio.to_thread.run_sync(worker.start)
        try:
            async with anyio.create_task_group() as tasks:
                start_jobs(tasks, settings, store, clock, live_log.check, outbox)
                yield
                tasks.cancel_scope.cancel()
        finally:
            await anyio.to_thread.run_sync(worker.stop)
            if outbox is not None:
                await anyio.to_thread.run_sync(outbox.drain_all, clock.now_ms())

    return build_app(settings, store, clock, LocalSessionizer(worker), None, lifespan)


def build_app(
    settings: Settings,
    store: Store,
    clock: Clock,
    sessionizer: Sessionizer,
    limits: ReadLimits | None,
    running: Callable[[], contextlib.AbstractAsyncContextManager[None]],
) -> HotRoutes:
    """The routes over a sessionizer (this process's worker, or the coordinator's client) and the
    read budgets (``None``: this process's own); ``running`` is entered for as long as it serves."""
    openapi_body = msgspec.json.encode(build_openapi())
    guard = ReadGuard(settings, store, clock, limits)  # one budget for every read endpoint
    sessions = SessionsEndpoint(settings, store, clock, guard)
    ad_sessions = SessionsEndpoint(settings, store, clock, guard, kind="ad")
    viewer = ViewerEndpoint(settings, store, clock, guard)
    catalogue = DiscoveryEndpoints(settings, store, clock, guard)
    aggregates = MetricsEndpoints(settings, store, clock, guard)
    read_routes = [
        Route(sessions_route.PATH, sessions.handle, methods=["GET"]),
        Route(sessions_route.AD_PATH, ad_sessions.handle, methods=["GET"]),
        Route(viewer_route.PATH, viewer.handle, methods=["GET"]),
        Route(discovery_route.PATH, catalogue.discovery, methods=["GET"]),
        Route(discovery_route.DIMENSIONS_PATH, catalogue.dimensions, methods=["GET"]),
        Route(CONTENT_TIMELINE_PATH, TimelineEndpoint(settings, store, guard, "content").handle, methods=["GET"]),
        Route(AD_TIMELINE_PATH, TimelineEndpoint(settings, store, guard, "ad").handle, methods=["GET"]),
        *(Route(path, aggregates.handle, methods=["GET"]) for path in metrics_api_route.PATHS),
    ]
    catalogue.served = frozenset(r.path for r in read_routes)  # discovery links only what is routed
    explore = explore_route.ExplorePage()
    resolve_ip = functools.partial(client_ip, trusted_proxies=parse_trusted_proxies(settings.trusted_proxies))
    intake = Intake(store, sessionizer)
    ingest = IngestEndpoint(settings, clock, intake, resolve_ip)
    gateway = ConvivaGateway(settings, clock, intake, resolve_ip)
    collector = CmcdCollector(settings, clock, intake, resolve_ip)

    async def openapi(_request: Request) -> Response:
        return Response(openapi_body, media_type="application/json")

    async def health(_request: Request) -> Response:
        try:
            await sessionizer.check()
            await anyio.to_thread.run_sync(store.check)
        except StorageFailure as exc:
            return error_response(Unavailable(str(exc)))
        return Response(b'{"status":"ok"}', media_type="application/json")

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        async with running():
            yield

    app = Starlette(
        routes=[
            *read_routes,
            Route(ingest_route.PATH, ingest.handle, methods=["POST"]),
            Route(gateway_path(settings), gateway.handle, methods=["POST"]),
            Route(gateway_path(settings), preflight, methods=["OPTIONS"]),
            *(Route(path, collector.handle, methods=["POST"]) for path in cmcd_route.PATHS),
            *(Route(path, preflight, methods=["OPTIONS"]) for path in cmcd_route.PATHS),
            Route(explore_route.PATH, explore.page, methods=["GET"]),
            Route(explore_route.ASSETS_PATH, explore.asset, methods=["GET"]),
            Route("/openapi.json", openapi, methods=["GET"]),
            Route("/metrics", metrics_endpoint(sessionizer), methods=["GET"]),
            Route("/healthz", health, methods=["GET"]),
        ],
        exception_handlers={
            ApiError: handle_api_error,
            StorageFailure: handle_storage_failure,
            ClientDisconnect: handle_client_disconnect,
            HTTPException: handle_http_exception,
            Exception: handle_unexpected,
        },
        lifespan=lifespan,
    )
    # The players' routes skip the middleware stack and the router (``hot_routes.py``).
    return HotRoutes(app, {gateway_path(settings): gateway.handle, cmcd_route.PATHS[0]: collector.handle})
