"""``GET /metrics``: the service's counters in the Prometheus text format."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response

from reelsight.ingest.sessionizer import IngestFigures, Sessionizer

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _IngestCollector(Collector):
    def __init__(self, figures: IngestFigures) -> None:
        self._figures = figures

    def collect(self) -> Iterator[Metric]:
        stats = self._figures.stats
        events = CounterMetricFamily(
            "reelsight_ingest_events",
            "Ingest events by outcome (late: for a session already ended).",
            labels=["outcome"],
        )
        for outcome in ("accepted", "duplicate", "late", "rejected"):
            events.add_metric([outcome], getattr(stats, outcome))
        yield events
        ended = CounterMetricFamily("reelsight_sessions_ended", "Sessions ended, by how.", labels=["ended_status"])
        ended.add_metric(["By Player"], stats.ended_by_player)
        ended.add_metric(["By Expiration"], stats.ended_by_expiration)
        yield ended
        yield GaugeMetricFamily("reelsight_live_sessions", "Sessions in progress.", value=self._figures.live_sessions)
        requests = CounterMetricFamily(
            "reelsight_ingest_requests",
            "Ingest requests by protocol and outcome (e.g. Conviva heartbeats: content, probe, ad, unknown_key).",
            labels=["protocol", "outcome"],
        )
        for (protocol, outcome), count in sorted(stats.requests.items()):
            requests.add_metric([protocol, outcome], count)
        yield requests


def metrics_endpoint(sessionizer: Sessionizer) -> Callable[[Request], Awaitable[Response]]:
    async def metrics(_request: Request) -> Response:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_IngestCollector(await sessionizer.figures()))
        return Response(generate_latest(registry), media_type=CONTENT_TYPE)

    return metrics
