"""The app factory: settings, store, live log, enricher and clock in; a Starlette application out."""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import AsyncIterator, Callable

import anyio
import anyio.to_thread
import msgspec
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from reelsight.clock import Clock
from reelsight.errors import ApiError, StorageFailure, Unavailable
from reelsight.ingest.events import Device, Start
from reelsight.ingest.intake import Intake
from reelsight.ingest.worker import IngestWorker
from reelsight.sessions.context import BusinessRules, Enrichment
from reelsight.sessions.enrich import Enricher, client_ip, parse_trusted_proxies
from reelsight.sessions.live import Enrich, LiveRegistry
from reelsight.sessions.live_log import LiveLog
from reelsight.settings import Settings
from reelsight.store.base import Store
from reelsight.store.sqlite.outbox import DRAIN_BATCH, Outbox
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
from reelsight.web.ingest_common import preflight
from reelsight.web.ingest_route import IngestEndpoint
from reelsight.web.metrics_api_route import MetricsEndpoints
from reelsight.web.metrics_route import metrics_endpoint
from reelsight.web.openapi import build_openapi
from reelsight.web.read_guard import ReadGuard
from reelsight.web.sessions_route import SessionsEndpoint
from reelsight.web.timeline_route import AD_PATH as AD_TIMELINE_PATH
from reelsight.web.timeline_route import CONTENT_PATH as CONTENT_TIMELINE_PATH
from reelsight.web.timeline_route import TimelineEndpoint
from reelsight.web.viewer_route import ViewerEndpoint

log = logging.getLogger("reelsight.web")
_RULES_CACHE_S = 30.0
STORE_CHECK_INTERVAL_S = 1.0  # how soon a deleted or replaced store file is noticed without traffic
OUTBOX_DRAIN_INTERVAL_S = 0.5  # how soon an ended session reaches a ClickHouse store


async def _purge_forever(settings: Settings, store: Store, clock: Clock) -> None:
    while True:
        cutoff = clock.now_ms() - settings.retention_days * 86_400_000
        try:
            removed = await anyio.to_thread.run_sync(store.purge_ended_before, cutoff)
        except StorageFailure as exc:  # a full disk or a lost file must not take the server down
            log.warning("retention purge failed, next try in %d s: %s", max(1, settings.purge_interval_s), exc)
        else:
            if removed:
                log.info("retention purge removed %d sessions", removed)
        await anyio.sleep(max(1, settings.purge_interval_s))


async def _watch_store(check: Callable[[], None]) -> None:
    """Notice within a second that the live log's file is gone, even with no traffic (the store logs it)."""
    while True:
        try:
            await anyio.to_thread.run_sync(check)
        except StorageFailure:
            return
        await anyio.sleep(STORE_CHECK_INTERVAL_S)


async def _drain_forever(outbox: Outbox, clock: Clock) -> None:
    """Move ended sessions from the local outbox into the session store, about twice a second; a
    failing store keeps them waiting (logged once a minute) and is retried."""
    next_warning = 0.0
    while True:
        try:
            moved = await anyio.to_thread.run_sync(outbox.drain, clock.now_ms())
        except StorageFailure as exc:
            moved = 0
            if time.monotonic() >= next_warning:
                next_warning = time.monotonic() + 60
                log.warning("ended sessions wait in the outbox (retrying): %s", exc)
        if moved < DRAIN_BATCH:
            await anyio.sleep(OUTBOX_DRAIN_INTERVAL_S)


class _AccountRules:
    """Business-error rules per account, re-read from the store at most every 30 s."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._cache: dict[int, tuple[BusinessRules, float]] = {}

    def __call__(self, account_id: int) -> BusinessRules:
        cached = self._cache.get(account_id)
        now = time.monotonic()
        if cached is None or cached[1] < now:
            account = self._store.get_account_by_id(account_id)
            cached = (BusinessRules(account.business_error_patterns), now + _RULES_CACHE_S)
            self._cache[account_id] = cached
        return cached[0]


def _enrich_with(enricher: Enricher) -> Enrich:
    def enrich(*, start: Start | None, user_agent: str, ip: str, ip_privacy: str) -> Enrichment:
        device = start.device if start is not None else Device()
        agent = start.user_agent if start is not None and start.user_agent else user_agent
        return enricher.enrich(device=device, user_agent=agent, ip=ip, ip_privacy=ip_privacy)

    return enrich


def create_app(
    settings: Settings,
    store: Store,
    live_log: LiveLog,
    enricher: Enricher,
    clock: Clock,
    outbox: Outbox | None = None,
) -> Starlette:
    """``outbox``: where the live log puts ended sessions when ``store`` is not its own file (drained
    while serving, and once more at shutdown)."""
    openapi_body = msgspec.json.encode(build_openapi())
    guard = ReadGuard(settings, store, clock)  # one budget for every read endpoint
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
    registry = LiveRegistry(
        live_log,
        _enrich_with(enricher),
        _AccountRules(store),
        timeout_ms=settings.session_timeout_s * 1000,
        max_tags=settings.ingest_max_tags_per_session,
    )
    worker = IngestWorker(registry, clock, live_log.check)
    resolve_ip = functools.partial(client_ip, trusted_proxies=parse_trusted_proxies(settings.trusted_proxies))
    intake = Intake(store, worker)
    ingest = IngestEndpoint(settings, clock, intake, resolve_ip)
    gateway = ConvivaGateway(settings, clock, intake, resolve_ip)
    collector = CmcdCollector(settings, clock, intake, resolve_ip)

    async def openapi(_request: Request) -> Response:
        return Response(openapi_body, media_type="application/json")

    async def health(_request: Request) -> Response:
        try:
            await anyio.to_thread.run_sync(live_log.check)
            await anyio.to_thread.run_sync(store.check)
        except StorageFailure as exc:
            return error_response(Unavailable(str(exc)))
        return Response(b'{"status":"ok"}', media_type="application/json")

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await anyio.to_thread.run_sync(worker.start)
        try:
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(_purge_forever, settings, store, clock)
                tasks.start_soon(_watch_store, live_log.check)
                if outbox is not None:
                    tasks.start_soon(_drain_forever, outbox, clock)
                yield
                tasks.cancel_scope.cancel()
        finally:
            await anyio.to_thread.run_sync(worker.stop)
            if outbox is not None:
                await anyio.to_thread.run_sync(outbox.drain_all, clock.now_ms())

    return Starlette(
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
            Route("/metrics", metrics_endpoint(registry), methods=["GET"]),
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
