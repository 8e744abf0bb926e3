"""The OpenAPI paths of the metrics endpoints, from the tables that parse them (metrics, dimensions,
granularities)."""

from __future__ import annotations

from typing import Any

from reelsight.aggregates.metrics import METRICS
from reelsight.query.aggregates import CUSTOM_SELECTION, GRANULARITIES, GROUP_BY_DIMENSIONS, MAX_DAYS, MAX_GROUPS

_VALUE = {"type": "object", "additionalProperties": {"type": "number"}}
_SERIES = {
    "type": "object",
    "required": ["time_series", "total"],
    "properties": {
        "time_series": {"type": "array", "items": {"type": "object", "required": ["timestamp"]}},
        "total": {"type": "object"},
    },
}


def _query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}


def _path(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description, "schema": schema}


def metrics_paths(filters: list[dict[str, Any]], errors: dict[str, Any]) -> dict[str, Any]:
    """``filters``: the content endpoint's filter parameters (the time range is added here)."""
    metric = _path(
        "metric",
        f"A metric (kebab-case), or {CUSTOM_SELECTION} with the metric parameter.",
        {"type": "string", "enum": [CUSTOM_SELECTION, *(m.name for m in METRICS)]},
    )
    common = [
        *(
            _query(n, f"{'Start (inclusive)' if n.startswith('start') else 'End (exclusive)'} of the range.", t)
            for n, t in (
                ("start_date", {"type": "string"}),
                ("start_epoch", {"type": "number"}),
                ("start_epoch_ms", {"type": "integer"}),
                ("end_date", {"type": "string"}),
                ("end_epoch", {"type": "number"}),
                ("end_epoch_ms", {"type": "integer"}),
            )
        ),
        _query("days", "The last DAYS days up to now.", {"type": "integer", "minimum": 1, "maximum": MAX_DAYS}),
        _query("granularity", "Bucket length.", {"type": "string", "enum": list(GRANULARITIES), "default": "PT1H"}),
        _query(
            "metric",
            "custom-selection only: the metrics, repeated (at most 12).",
            {"type": "array", "items": {"type": "string", "enum": [m.name for m in METRICS]}},
        )
        | {"style": "form", "explode": True},
        *filters,
    ]
    group = [
        _query("limit", "How many groups.", {"type": "integer", "minimum": 1, "maximum": MAX_GROUPS, "default": 50}),
        _query("sort_by", "METRIC, METRIC.FIELD or dimension.", {"type": "string"}),
        _query("order", "desc (default) or asc.", {"type": "string", "enum": ["desc", "asc"]}),
    ]
    ok = {"200": {"description": "The series and its total.", "content": {"application/json": {"schema": _SERIES}}}}

    def operation(op_id: str, summary: str, parameters: list[dict[str, Any]]) -> dict[str, Any]:
        return {"get": {"operationId": op_id, "summary": summary, "parameters": parameters, "responses": ok | errors}}

    from reelsight.web import metrics_api_route as route

    return {
        route.PATH: operation("getMetrics", "Aggregate metrics over ended content sessions", [metric, *common]),
        route.GROUP_BY_PATH: operation(
            "getMetricsGroupBy",
            "Aggregate metrics grouped by a dimension",
            [
                metric,
                _path("dimension", "A dimension (kebab-case).", {"type": "string", "enum": list(GROUP_BY_DIMENSIONS)}),
                *common,
                *group,
            ],
        ),
        route.TAG_PATH: operation(
            "getMetricsGroupByTag",
            "Aggregate metrics grouped by a custom tag",
            [metric, _path("custom_tag", "A custom tag key.", {"type": "string"}), *common, *group],
        ),
    }
