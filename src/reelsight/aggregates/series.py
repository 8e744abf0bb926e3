"""Rows of sums (per bucket and group, from a store) -> the metrics response: a time series with every
bucket, the total of the range, and for a group-by the ``limit`` groups chosen by ``sort_by``/``order``.

Totals are computed from summed inputs, never from the buckets' figures: the total rebuffering ratio is
the range's rebuffering over its playing plus rebuffering, not a mean of hourly ratios.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from reelsight.aggregates.inputs import ZERO, Sums, add
from reelsight.aggregates.metrics import Value, values
from reelsight.query.aggregates import MetricsQuery
from reelsight.sessions.document import iso_from_epoch_ms
from reelsight.store.base import AggregateRow


def timestamp(epoch_ms: int) -> dict[str, Any]:
    return {"epoch_ms": epoch_ms, "iso_date": iso_from_epoch_ms(epoch_ms)}


def _figures(query: MetricsQuery, sums: Sums) -> dict[str, Value]:
    return {m.key: values(m, sums) for m in query.metrics}


def chosen_groups(query: MetricsQuery, totals: dict[str, Sums]) -> list[str]:
    """The ``limit`` groups to show, in order: by the sort metric's field (ties by the group's value,
    ascending), or by the value itself for ``sort_by=dimension``."""
    if query.sort_metric is None:
        return sorted(totals, reverse=query.descending)[: query.limit]
    metric, field = query.sort_metric, query.sort_field
    keyed = [(values(metric, sums)[field], group) for group, sums in totals.items()]
    sign = -1 if query.descending else 1
    keyed.sort(key=lambda item: (sign * item[0], item[1]))
    return [group for _value, group in keyed[: query.limit]]


def render(query: MetricsQuery, rows: Sequence[AggregateRow]) -> dict[str, Any]:
    """The response body for the rows a store summed (empty buckets answer zeros)."""
    cells: dict[tuple[int, str], Sums] = {}
    for row in rows:
        if 0 <= row.bucket < query.buckets:
            key = (row.bucket, row.group)
            cells[key] = add(cells.get(key, ZERO), row.sums)
    stamps = [timestamp(query.bucket_start_ms(i)) for i in range(query.buckets)]
    group_by = query.aggregate.group_by
    if group_by is None:
        total = ZERO
        for sums in cells.values():
            total = add(total, sums)
        return {
            "time_series": [
                {"timestamp": stamps[i], **_figures(query, cells.get((i, ""), ZERO))} for i in range(query.buckets)
            ],
            "total": _figures(query, total),
        }
    totals: dict[str, Sums] = {}
    for (_bucket, group), sums in cells.items():
        totals[group] = add(totals.get(group, ZERO), sums)
    groups = chosen_groups(query, totals)

    def entry(group: str, sums: Sums) -> dict[str, Any]:
        return {
            "dimension": {"key": group, "value": group, "description": group_by.label},
            "metrics": _figures(query, sums),
        }

    return {
        "time_series": [
            {"timestamp": stamps[i], "dimensional_data": [entry(g, cells.get((i, g), ZERO)) for g in groups]}
            for i in range(query.buckets)
        ],
        "total": {"dimensional_data": [entry(g, totals[g]) for g in groups]},
    }
