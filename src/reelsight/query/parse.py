"""Query string -> validated :class:`SessionQuery`; every rule of the parameters lives here."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

from reelsight.errors import InvalidParameter, UnknownParameter
from reelsight.query.dimensions import DIMENSIONS_BY_PARAM
from reelsight.query.timerange import TIME_PARAMS, resolve_time_range

FLAG_PARAMS: tuple[str, ...] = (
    "is_exit_before_video_start",
    "is_video_start_failure",
    "is_video_start_failure_business",
    "is_video_start_failure_tech",
    "is_video_playback_failure",
    "is_video_playback_failure_business",
    "is_video_playback_failure_tech",
)
ID_PARAMS: tuple[str, ...] = ("session_id", "client_id")
SINGLE_PARAMS: tuple[str, ...] = ("limit", *TIME_PARAMS)
TAG_PREFIX = "tag_"
DEFAULT_LIMIT = 50
MAX_LIMIT = 1500
MAX_VALUE_CHARS = 4096
_LIMIT = re.compile(r"[0-9]{1,6}")


@dataclasses.dataclass(frozen=True)
class SessionQuery:
    """What to select, for one account the caller supplies separately.

    Each filter maps a name to the tuple of accepted values (repeat means OR); all filters must
    match (AND). ``start_ms`` is inclusive, ``end_ms`` exclusive, on the session's end time.
    """

    start_ms: int
    end_ms: int
    limit: int = DEFAULT_LIMIT
    flags: tuple[tuple[str, tuple[bool, ...]], ...] = ()
    session_ids: tuple[str, ...] = ()
    client_ids: tuple[str, ...] = ()
    tags: tuple[tuple[str, tuple[str, ...]], ...] = ()
    dimensions: tuple[tuple[str, tuple[str, ...]], ...] = ()


def parse_limit(value: str) -> int:
    if not _LIMIT.fullmatch(value) or not 1 <= int(value) <= MAX_LIMIT:
        raise InvalidParameter(f"limit must be an integer from 1 to {MAX_LIMIT}", "limit")
    return int(value)


def _parse_flag(name: str, value: str) -> bool:
    lowered = value.lower()
    if lowered not in ("true", "false"):
        raise InvalidParameter(f"{name} must be true or false", name)
    return lowered == "true"


def _kind(name: str) -> str:
    if name in SINGLE_PARAMS:
        return "single"
    if name in FLAG_PARAMS:
        return "flag"
    if name in ID_PARAMS:
        return "id"
    if name in DIMENSIONS_BY_PARAM:
        return "dimension"
    if name.startswith(TAG_PREFIX) and len(name) > len(TAG_PREFIX):
        return "tag"
    raise UnknownParameter(f"unknown parameter {name!r}", name)


def parse_query(items: Sequence[tuple[str, str]], now_ms: int) -> SessionQuery:
    """Validate the decoded query items (in order, repeats kept) against the contract."""
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in items:
        kind = _kind(name)
        if len(value) > MAX_VALUE_CHARS:
            raise InvalidParameter(f"{name} is longer than {MAX_VALUE_CHARS} characters", name)
        if kind == "single":
            if name in single:
                raise InvalidParameter(f"{name} must be given at most once", name)
            single[name] = value
        else:
            multi.setdefault(name, []).append(value)

    limit = parse_limit(single["limit"]) if "limit" in single else DEFAULT_LIMIT
    start_ms, end_ms = resolve_time_range(single, now_ms)

    def values(name: str) -> tuple[str, ...]:
        return tuple(dict.fromkeys(multi[name]))

    flags = tuple(
        (name, tuple(dict.fromkeys(_parse_flag(name, v) for v in multi[name]))) for name in FLAG_PARAMS if name in multi
    )
    return SessionQuery(
        start_ms=start_ms,
        end_ms=end_ms,
        limit=limit,
        flags=flags,
        session_ids=values("session_id") if "session_id" in multi else (),
        client_ids=values("client_id") if "client_id" in multi else (),
        tags=tuple((name[len(TAG_PREFIX) :], values(name)) for name in sorted(multi) if _kind(name) == "tag"),
        dimensions=tuple((name, values(name)) for name in sorted(multi) if _kind(name) == "dimension"),
    )
