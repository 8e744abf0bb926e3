"""Request limits: a fixed-window counter per client IP, and a cap on requests in flight per account."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

from reelsight.clock import Clock
from reelsight.errors import RateLimited

_PRUNE_AT = 100_000


class IpRateLimiter:
    """At most ``limit`` requests per ``window_s`` seconds per IP (windows aligned to first use)."""

    def __init__(self, limit: int, window_s: int, clock: Clock) -> None:
        self._limit = limit
        self._window_s = window_s
        self._clock = clock
        self._windows: dict[str, tuple[float, int]] = {}

    def hit(self, ip: str) -> None:
        now = self._clock.monotonic_s()
        started, count = self._windows.get(ip, (now, 0))
        if now - started >= self._window_s:
            started, count = now, 0
        if count >= self._limit:
            retry = math.ceil(started + self._window_s - now)
            raise RateLimited(f"more than {self._limit} requests in {self._window_s} s from this address", retry)
        self._windows[ip] = (started, count + 1)
        if len(self._windows) > _PRUNE_AT:
            self._windows = {k: v for k, v in self._windows.items() if now - v[0] < self._window_s}


class InFlightLimiter:
    """At most ``limit`` requests of one account being answered at the same time."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._in_flight: dict[int, int] = {}

    @contextlib.contextmanager
    def enter(self, account_id: int) -> Iterator[None]:
        current = self._in_flight.get(account_id, 0)
        if current >= self._limit:
            raise RateLimited(f"more than {self._limit} requests of this account in flight", 1)
        self._in_flight[account_id] = current + 1
        try:
            yield
        finally:
            remaining = self._in_flight[account_id] - 1
            if remaining:
                self._in_flight[account_id] = remaining
            else:
                del self._in_flight[account_id]
