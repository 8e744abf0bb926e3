"""``GET /insights/3.0/metrics/...``: aggregate metrics over the account's ended content sessions, shaped
like the hosted service's Metrics V3 API. Behind the read guard like every read endpoint; the store sums
(``SessionStore.aggregate``), ``aggregates/series.py`` shapes the answer. (Not ``metrics_route.py``: that
is the Prometheus ``/metrics`` of the server itself.)"""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from reelsight.aggregates.series import render
from reelsight.clock import Clock
from reelsight.query.aggregates import GroupBy, group_by_dimension, group_by_tag, parse_metrics_query
from reelsight.settings import Settings
from reelsight.store.base import SessionStore
from reelsight.web.read_guard import ReadGuard
from reelsight.web.sessions_route import query_items

PREFIX = "/insights/3.0/metrics"
PATH = PREFIX + "/{metric}"
GROUP_BY_PATH = PREFIX + "/{metric}/group-by/{dimension}"
TAG_PATH = PREFIX + "/{metric}/group-by/dimension-tag/{custom_tag}"
PATHS = (PATH, GROUP_BY_PATH, TAG_PATH)
_ENCODER = msgspec.json.Encoder()


class MetricsEndpoints:
    def __init__(self, settings: Settings, store: SessionStore, clock: Clock, guard: ReadGuard) -> None:
        self._settings = settings
        self._store = store
        self._clock = clock
        self._guard = guard

    async def handle(self, request: Request) -> Response:
        params = request.path_params
        async with self._guard.enter(request) as account:
            group: GroupBy | None = None
            if "custom_tag" in params:
                group = group_by_tag(params["custom_tag"])
            elif "dimension" in params:
                group = group_by_dimension(params["dimension"])
            query = parse_metrics_query(
                query_items(request.scope["query_string"], self._settings),
                self._clock.now_ms(),
                metric=params["metric"],
                group_by=group,
            )
            rows = await self._guard.read(self._store.aggregate, account.id, query.aggregate)
        return Response(_ENCODER.encode(render(query, rows)), media_type="application/json")
