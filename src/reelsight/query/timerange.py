"""The time range of a sessions query: three forms per bound, defaults, and the range rules."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation

from reelsight.errors import ConflictingParameters, InvalidParameter, TimeRangeOutOfBounds

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
MAX_RANGE_MS = 3 * HOUR_MS
MAX_AGE_MS = 31 * DAY_MS

START_PARAMS = ("start_date", "start_epoch", "start_epoch_ms")
END_PARAMS = ("end_date", "end_epoch", "end_epoch_ms")
TIME_PARAMS = START_PARAMS + END_PARAMS

# ASCII digits only, and fullmatch: "$" alone would accept a trailing newline.
_ISO = re.compile(
    r"(?P<y>\d{4})-(?P<mo>\d{2})-(?P<d>\d{2})"
    r"(?:T(?P<h>\d{2}):(?P<mi>\d{2}):(?P<s>\d{2})(?:\.(?P<frac>\d{1,9}))?"
    r"(?P<tz>Z|[+-]\d{2}:\d{2})?)?",
    re.ASCII,
)
_EPOCH_S = re.compile(r"-?\d{1,15}(?:\.\d{1,9})?", re.ASCII)
_EPOCH_MS = re.compile(r"-?\d{1,18}", re.ASCII)


def parse_iso_ms(param: str, value: str) -> int:
    m = _ISO.fullmatch(value)
    if not m:
        raise InvalidParameter(f"{param} must be ISO 8601: YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS[.fff][Z|+HH:MM]", param)
    tz = dt.UTC
    if m["tz"] and m["tz"] != "Z":
        sign = 1 if m["tz"][0] == "+" else -1
        hours, minutes = int(m["tz"][1:3]), int(m["tz"][4:6])
        if hours > 23 or minutes > 59:
            raise InvalidParameter(f"{param} has an invalid UTC offset", param)
        tz = dt.timezone(sign * dt.timedelta(hours=hours, minutes=minutes))
    try:
        moment = dt.datetime(
            int(m["y"]),
            int(m["mo"]),
            int(m["d"]),
            int(m["h"] or 0),
            int(m["mi"] or 0),
            int(m["s"] or 0),
            tzinfo=tz,
        )
    except ValueError as exc:
        raise InvalidParameter(f"{param} is not a valid date and time: {exc}", param) from None
    millis = int((m["frac"] or "0").ljust(3, "0")[:3])
    return int(moment.timestamp()) * 1000 + millis


def parse_epoch_s_ms(param: str, value: str) -> int:
    if not _EPOCH_S.fullmatch(value):
        raise InvalidParameter(f"{param} must be Unix seconds (a number, fraction allowed)", param)
    try:
        return int(Decimal(value) * 1000)
    except InvalidOperation:  # pragma: no cover - the pattern admits only valid decimals
        raise InvalidParameter(f"{param} must be Unix seconds", param) from None


def parse_epoch_ms(param: str, value: str) -> int:
    if not _EPOCH_MS.fullmatch(value):
        raise InvalidParameter(f"{param} must be Unix milliseconds (an integer)", param)
    return int(value)


_PARSERS = {
    "start_date": parse_iso_ms,
    "end_date": parse_iso_ms,
    "start_epoch": parse_epoch_s_ms,
    "end_epoch": parse_epoch_s_ms,
    "start_epoch_ms": parse_epoch_ms,
    "end_epoch_ms": parse_epoch_ms,
}


def _bound(given: dict[str, str], names: tuple[str, ...]) -> int | None:
    present = [n for n in names if n in given]
    if len(present) > 1:
        raise ConflictingParameters(f"give at most one of {', '.join(names)}; got {', '.join(present)}", present[1])
    if not present:
        return None
    name = present[0]
    return _PARSERS[name](name, given[name])


def _length(ms: int) -> str:
    return f"{ms // DAY_MS} days" if ms % DAY_MS == 0 and ms > DAY_MS else f"{ms // HOUR_MS} hours"


def resolve_time_range(given: dict[str, str], now_ms: int, max_range_ms: int = MAX_RANGE_MS) -> tuple[int, int]:
    """``[start_ms, end_ms)`` from the time parameters present, after the defaults and rules: a
    missing bound is ``max_range_ms`` from the other (both missing: the ``max_range_ms`` up to now)."""
    start = _bound(given, START_PARAMS)
    end = _bound(given, END_PARAMS)
    if start is None and end is None:
        start, end = now_ms - max_range_ms, now_ms
    elif start is None:
        assert end is not None
        start = end - max_range_ms
    elif end is None:
        end = start + max_range_ms
    if end <= start:
        raise TimeRangeOutOfBounds("the end of the time range must be after its start")
    if end - start > max_range_ms:
        raise TimeRangeOutOfBounds(f"the time range must not be longer than {_length(max_range_ms)}")
    if start < now_ms - MAX_AGE_MS:
        raise TimeRangeOutOfBounds("the start must not be more than 31 days before now")
    if start > now_ms:
        raise TimeRangeOutOfBounds("the start must not be in the future")
    return start, end
