"""Path and query string of a metrics request -> validated :class:`MetricsQuery`; every rule lives here.

The filters are the sessions endpoint's (``parse.py`` validates them, ``selection.py`` makes them a
backend-neutral :class:`Selection`); this module adds the metrics, the range (up to the retention
window), the granularity and its buckets, and the group-by with its ``limit``, ``sort_by`` and ``order``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from typing import Literal

from reelsight.aggregates.metrics import METRICS_BY_NAME, Metric
from reelsight.errors import ConflictingParameters, InvalidParameter, UnknownParameter
from reelsight.query.dimensions import DIMENSIONS, Dimension
from reelsight.query.parse import MAX_VALUE_CHARS, parse_query
from reelsight.query.selection import Selection, selection
from reelsight.query.timerange import DAY_MS, MAX_AGE_MS, TIME_PARAMS, resolve_time_range

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
CUSTOM_SELECTION = "custom-selection"  # the path's metric name that reads the metrics from ?metric=
MAX_METRICS = 12
MAX_BUCKETS = 1500  # e.g. a day at PT1M, or 31 days at PT30M
MAX_CELLS = 100_000  # buckets x group-by limit: bounds the size of a grouped answer
DEFAULT_GROUPS = 50
MAX_GROUPS = 500
DEFAULT_RANGE_MS = DAY_MS  # a missing bound is this far from the other (both missing: the last 24 hours)
MAX_DAYS = MAX_AGE_MS // DAY_MS
GRANULARITY_MINUTES = (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30)
GRANULARITY_HOURS = tuple(range(1, 24))
_GRANULARITY = re.compile(r"PT(?P<m>[0-9]{1,2})M|PT(?P<h>[0-9]{1,2})H|P(?P<d>1)D|ALL", re.ASCII)
_SMALL_INT = re.compile(r"[0-9]{1,4}", re.ASCII)
# Parameters of the metrics endpoints that are not session filters.
METRICS_PARAMS: tuple[str, ...] = ("granularity", "days", "metric", *TIME_PARAMS)
GROUP_PARAMS: tuple[str, ...] = ("limit", "sort_by", "order")
GROUP_BY_DIMENSIONS: dict[str, Dimension] = {d.param.replace("_", "-"): d for d in DIMENSIONS}
GRANULARITIES: tuple[str, ...] = (
    *(f"PT{m}M" for m in GRANULARITY_MINUTES),
    *(f"PT{h}H" for h in GRANULARITY_HOURS),
    "P1D",
    "ALL",
)


@dataclasses.dataclass(frozen=True, slots=True)
class GroupBy:
    """Group by a dimension (``kind`` "dimension": ``name`` is its filter parameter, ``column`` its
    stored column, ``multi`` for a list such as ``cdn``) or a custom tag (``kind`` "tag": ``name`` is
    the key; a session without it is in the group ``""``)."""

    kind: Literal["dimension", "tag"]
    name: str
    column: str = ""
    multi: bool = False

    @property
    def label(self) -> str:
        """The filter parameter the group's values belong to (``device_os``, ``tag_genre``)."""
        return self.name if self.kind == "dimension" else "tag_" + self.name


@dataclasses.dataclass(frozen=True, slots=True)
class AggregateQuery:
    """What a store sums: the sessions the selection matches (content, ended, in the window), per
    bucket ``(end_ms - origin_ms) // bucket_ms`` (``bucket_ms`` None: one bucket, 0), per group."""

    selection: Selection
    origin_ms: int
    bucket_ms: int | None
    group_by: GroupBy | None = None

    @property
    def unfiltered(self) -> bool:
        return not self.selection.matches and self.group_by is None


@dataclasses.dataclass(frozen=True, slots=True)
class MetricsQuery:
    metrics: tuple[Metric, ...]
    aggregate: AggregateQuery
    buckets: int
    limit: int = DEFAULT_GROUPS
    sort_metric: Metric | None = None  # None: sort the groups by their dimension value
    sort_field: str = ""
    descending: bool = True

    @property
    def start_ms(self) -> int:
        return self.aggregate.selection.start_ms

    @property
    def end_ms(self) -> int:
        return self.aggregate.selection.end_ms

    def bucket_start_ms(self, index: int) -> int:
        """The timestamp of bucket ``index``: its start (the range's start for ``ALL``)."""
        bucket = self.aggregate.bucket_ms
        return self.start_ms if bucket is None else self.aggregate.origin_ms + index * bucket


def parse_granularity(value: str) -> int | None:
    """The bucket length in ms, or None for ``ALL``."""
    m = _GRANULARITY.fullmatch(value)
    ok = m is not None and (
        value == "ALL"
        or (m["m"] is not None and int(m["m"]) in GRANULARITY_MINUTES and not m["m"].startswith("0"))
        or (m["h"] is not None and int(m["h"]) in GRANULARITY_HOURS and not m["h"].startswith("0"))
        or m["d"] is not None
    )
    if not ok or m is None:
        raise InvalidParameter(
            "granularity must be an ISO 8601 duration: PT1M-PT6M, PT10M, PT12M, PT15M, PT20M, PT30M, PT1H-PT23H,"
            " P1D, or ALL",
            "granularity",
        )
    if value == "ALL":
        return None
    if m["m"] is not None:
        return int(m["m"]) * MINUTE_MS
    if m["h"] is not None:
        return int(m["h"]) * HOUR_MS
    return DAY_MS


def metric_named(name: str, parameter: str = "metric") -> Metric:
    found = METRICS_BY_NAME.get(name)
    if found is None:
        raise InvalidParameter(f"unknown metric {name!r}; the metrics are {', '.join(METRICS_BY_NAME)}", parameter)
    return found


def group_by_dimension(name: str) -> GroupBy:
    dimension = GROUP_BY_DIMENSIONS.get(name)
    if dimension is None:
        raise InvalidParameter(
            f"unknown group-by dimension {name!r}: give the kebab-case name of a dimension filter (device-os,"
            " geo-city-name, ...), or dimension-tag/{key} for a custom tag",
            "dimension",
        )
    return GroupBy("dimension", dimension.param, dimension.column, dimension.multi)


def group_by_tag(key: str) -> GroupBy:
    if not key:
        raise InvalidParameter("the custom tag key to group by must not be empty", "dimension")
    return GroupBy("tag", key)


def _window(given: dict[str, str], now_ms: int) -> tuple[int, int]:
    times = {k: v for k, v in given.items() if k in TIME_PARAMS}
    if "days" in given:
        if times:
            raise ConflictingParameters("give days or a start/end time, not both", "days")
        days = given["days"]
        if not _SMALL_INT.fullmatch(days) or not 1 <= int(days) <= MAX_DAYS:
            raise InvalidParameter(f"days must be an integer from 1 to {MAX_DAYS}", "days")
        return now_ms - int(days) * DAY_MS, now_ms
    both = any(k.startswith("start_") for k in times) and any(k.startswith("end_") for k in times)
    # Both bounds: up to the retention window. One or none: the missing one is 24 hours from the other.
    return resolve_time_range(times, now_ms, max_range_ms=MAX_AGE_MS if both else DEFAULT_RANGE_MS)


def _sort(given: dict[str, str], metrics: tuple[Metric, ...]) -> tuple[Metric | None, str]:
    value = given.get("sort_by")
    if value is None:
        return metrics[0], metrics[0].fields[0]
    if value == "dimension":
        return None, ""
    name, _, field = value.partition(".")
    chosen = [m for m in metrics if m.name == name]
    if not chosen or (field and field not in chosen[0].fields):
        options = ", ".join(f"{m.name}[.{'|'.join(m.fields)}]" for m in metrics)
        raise InvalidParameter(f"sort_by must be dimension or a requested metric: {options}", "sort_by")
    return chosen[0], field or chosen[0].fields[0]


def parse_metrics_query(
    items: Sequence[tuple[str, str]],
    now_ms: int,
    *,
    metric: str,
    group_by: GroupBy | None = None,
) -> MetricsQuery:
    """Validate one request: ``metric`` is the path's metric name (``custom-selection``: the ``metric``
    parameters), ``group_by`` what the path groups by; ``items`` the decoded query, repeats kept."""
    given: dict[str, str] = {}
    names: list[str] = []
    filters: list[tuple[str, str]] = []
    for name, value in items:
        if len(value) > MAX_VALUE_CHARS:
            raise InvalidParameter(f"{name} is longer than {MAX_VALUE_CHARS} characters", name)
        if name == "metric":
            if metric != CUSTOM_SELECTION:
                raise UnknownParameter("metric is a parameter of /insights/3.0/metrics/custom-selection only", name)
            names.append(value)
        elif name in METRICS_PARAMS or name in GROUP_PARAMS:
            if name in GROUP_PARAMS and group_by is None:
                raise UnknownParameter(f"{name} is a parameter of the group-by endpoints only", name)
            if name in given:
                raise InvalidParameter(f"{name} must be given at most once", name)
            given[name] = value
        else:
            filters.append((name, value))
    if metric == CUSTOM_SELECTION:
        if not names:
            raise InvalidParameter("give the metrics to compute: metric=NAME, repeated (at most 12)", "metric")
        names = list(dict.fromkeys(names))
        if len(names) > MAX_METRICS:
            raise InvalidParameter(f"at most {MAX_METRICS} different metrics in one custom selection", "metric")
        metrics = tuple(metric_named(n) for n in names)
    else:
        metrics = (metric_named(metric),)
    bucket_ms = parse_granularity(given.get("granularity", "PT1H"))
    # The filters are exactly the sessions endpoint's (unknown names and bad values are refused there).
    session_query = parse_query(filters, now_ms)
    start_ms, end_ms = _window(given, now_ms)
    origin_ms = start_ms if bucket_ms is None else start_ms // bucket_ms * bucket_ms
    buckets = 1 if bucket_ms is None else -(-(end_ms - origin_ms) // bucket_ms)
    if buckets > MAX_BUCKETS:
        raise InvalidParameter(
            f"the range at this granularity is {buckets} buckets; at most {MAX_BUCKETS}: choose a coarser"
            " granularity or a shorter range",
            "granularity",
        )
    limit = DEFAULT_GROUPS
    if "limit" in given:
        if not _SMALL_INT.fullmatch(given["limit"]) or not 1 <= int(given["limit"]) <= MAX_GROUPS:
            raise InvalidParameter(f"limit must be an integer from 1 to {MAX_GROUPS}", "limit")
        limit = int(given["limit"])
    if group_by is not None and buckets * limit > MAX_CELLS:
        raise InvalidParameter(
            f"{buckets} buckets x limit {limit} groups is over {MAX_CELLS} values: lower the limit, choose a coarser"
            " granularity or a shorter range",
            "limit",
        )
    order = given.get("order", "desc")
    if order not in ("asc", "desc"):
        raise InvalidParameter("order must be asc or desc", "order")
    sort_metric, sort_field = _sort(given, metrics)
    window = dataclasses.replace(session_query, start_ms=start_ms, end_ms=end_ms)
    return MetricsQuery(
        metrics=metrics,
        aggregate=AggregateQuery(selection(window), origin_ms, bucket_ms, group_by),
        buckets=buckets,
        limit=limit,
        sort_metric=sort_metric,
        sort_field=sort_field,
        descending=order == "desc",
    )
