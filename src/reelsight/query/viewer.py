"""Query string -> validated :class:`ViewerQuery`, for ``GET /insights/3.0/sessions/content/viewer``.

One viewer's content sessions, found by ``viewer_id`` or by client address (``ip``): exactly one of
the two. The window is ``days`` (1-31, counted back from now) or the time-range forms of the content
endpoint (``start_*`` / ``end_*``), up to 31 days long and starting at most 31 days ago; without
either, the last 31 days. ``limit`` as for content. No dimension, flag or tag filters: the hosted
service documents none for this endpoint, and a parameter it does not take is refused.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections.abc import Sequence
from typing import Literal

from reelsight.errors import ConflictingParameters, InvalidParameter, UnknownParameter
from reelsight.query.parse import DEFAULT_LIMIT, MAX_VALUE_CHARS, parse_limit
from reelsight.query.timerange import DAY_MS, MAX_AGE_MS, TIME_PARAMS, resolve_time_range

MAX_DAYS = MAX_AGE_MS // DAY_MS
VIEWER_PARAMS: tuple[str, ...] = ("viewer_id", "ip", "days", "limit", *TIME_PARAMS)
_DAYS = re.compile(r"[0-9]{1,3}", re.ASCII)
LookupKind = Literal["viewer_id", "ip"]


@dataclasses.dataclass(frozen=True, slots=True)
class ViewerQuery:
    """Sessions of one viewer (``kind`` "viewer_id") or one client address (``kind`` "ip", the
    address in its canonical text form) that ended in ``[start_ms, end_ms)``, newest first."""

    kind: LookupKind
    value: str
    start_ms: int
    end_ms: int
    limit: int = DEFAULT_LIMIT


def canonical_ip(text: str) -> str:
    """The address as the store keeps it (``ipaddress``'s compressed form), or ``InvalidParameter``."""
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise InvalidParameter("ip must be an IPv4 or IPv6 address", "ip") from None


def parse_viewer_query(items: Sequence[tuple[str, str]], now_ms: int) -> ViewerQuery:
    given: dict[str, str] = {}
    for name, value in items:
        if name not in VIEWER_PARAMS:
            raise UnknownParameter(f"unknown parameter {name!r}: the viewer endpoint takes no dimension filters", name)
        if name in given:
            raise InvalidParameter(f"{name} must be given at most once", name)
        if len(value) > MAX_VALUE_CHARS:
            raise InvalidParameter(f"{name} is longer than {MAX_VALUE_CHARS} characters", name)
        given[name] = value
    if ("viewer_id" in given) == ("ip" in given):
        raise (
            ConflictingParameters("give viewer_id or ip, not both", "ip")
            if "ip" in given
            else InvalidParameter("give viewer_id or ip: the viewer whose sessions to list", "viewer_id")
        )
    kind: LookupKind = "viewer_id" if "viewer_id" in given else "ip"
    value = given[kind] if kind == "viewer_id" else canonical_ip(given["ip"])
    if not value:
        raise InvalidParameter("viewer_id must not be empty", "viewer_id")
    times = {k: v for k, v in given.items() if k in TIME_PARAMS}
    if "days" in given:
        if times:
            raise ConflictingParameters("give days or a start/end time, not both", "days")
        days = given["days"]
        if not _DAYS.fullmatch(days) or not 1 <= int(days) <= MAX_DAYS:
            raise InvalidParameter(f"days must be an integer from 1 to {MAX_DAYS}", "days")
        start_ms, end_ms = now_ms - int(days) * DAY_MS, now_ms
    else:
        start_ms, end_ms = resolve_time_range(times, now_ms, max_range_ms=MAX_AGE_MS)
    limit = parse_limit(given["limit"]) if "limit" in given else DEFAULT_LIMIT
    return ViewerQuery(kind, value, start_ms, end_ms, limit)
