"""Request limits: a fixed-window counter per client IP, and a cap on requests in flight per account."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Protocol

from reelsight.clock import Clock
from reelsight.errors import RateLimited
from reelsight.settings import Settings

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

    def acquire(self, account_id: int) -> None:
        """One more request of the account in flight (``RateLimited`` at the cap); pair with ``release``."""
        current = self._in_flight.get(account_id, 0)
        if current >= self._limit:
            raise RateLimited(f"more than {self._limit} requests of this account in flight", 1)
        self._in_flight[account_id] = current + 1

    def release(self, account_id: int) -> None:
        remaining = self._in_flight.get(account_id, 0) - 1
        if remaining > 0:
            self._in_flight[account_id] = remaining
        else:
            self._in_flight.pop(account_id, None)

    @contextlib.contextmanager
    def enter(self, account_id: int) -> Iterator[None]:
        self.acquire(account_id)
        try:
            yield
        finally:
            self.release(account_id)


class ReadLimits(Protocol):
    """The read guard's budgets, wherever they are kept: in this process, or for several HTTP
    processes together in their coordinator (``processes/``), so a client has one budget."""

    async def admit(self, ip: str) -> None:
        """Count one request of ``ip``; ``RateLimited`` beyond its window's limit."""
        ...

    async def acquire(self, account_id: int) -> None:
        """One more request of the account in flight; ``RateLimited`` at the cap."""
        ...

    def release(self, account_id: int) -> None: ...


class LocalReadLimits:
    """``ReadLimits`` kept in this process."""

    def __init__(self, ip: IpRateLimiter, in_flight: InFlightLimiter) -> None:
        self.ip = ip
        self.in_flight = in_flight

    @classmethod
    def from_settings(cls, settings: Settings, clock: Clock) -> LocalReadLimits:
        return cls(
            IpRateLimiter(settings.rate_limit_ip_requests, settings.rate_limit_ip_window_s, clock),
            InFlightLimiter(settings.rate_limit_account_in_flight),
        )

    async def admit(self, ip: str) -> None:
        self.ip.hit(ip)

    async def acquire(self, account_id: int) -> None:
        self.in_flight.acquire(account_id)

    def release(self, account_id: int) -> None:
        self.in_flight.release(account_id)
