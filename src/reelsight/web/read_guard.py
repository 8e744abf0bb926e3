"""The one guard in front of every read endpoint: the per-IP limit, authentication, the per-account
limit on requests in flight, and the store's read threads. Every read endpoint enters the same
guard, so a client has one budget for all of them, not one per endpoint."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import TypeVar

import anyio
import anyio.to_thread
from starlette.requests import Request

from reelsight.clock import Clock
from reelsight.errors import ReadTimeout, Unavailable
from reelsight.settings import Settings
from reelsight.store.base import Account, AccountStore
from reelsight.web.auth import Authenticator
from reelsight.web.ratelimit import InFlightLimiter, IpRateLimiter

T = TypeVar("T")


class ReadGuard:
    def __init__(self, settings: Settings, store: AccountStore, clock: Clock) -> None:
        self._auth = Authenticator(store, clock, settings.auth_cache_s)
        self._ip_limiter = IpRateLimiter(settings.rate_limit_ip_requests, settings.rate_limit_ip_window_s, clock)
        self._in_flight = InFlightLimiter(settings.rate_limit_account_in_flight)
        self._readers = anyio.CapacityLimiter(max(1, settings.reader_threads))

    @contextlib.asynccontextmanager
    async def enter(self, request: Request) -> AsyncIterator[Account]:
        """The authenticated account, counted against the client's limits while the block runs
        (``RateLimited`` or ``Unauthorized`` before it, in that order: a flood of bad credentials is limited too)."""
        self._ip_limiter.hit(request.client.host if request.client else "")
        account = await self._auth.authenticate(request.headers.get("authorization"))
        with self._in_flight.enter(account.id):
            yield account

    async def read(self, func: Callable[..., T], *args: object) -> T:
        """Run one store read on a reader thread; one that outlives the read time limit is a 503."""
        try:
            return await anyio.to_thread.run_sync(func, *args, limiter=self._readers)
        except ReadTimeout:
            raise Unavailable("the query took too long; narrow the time range or add filters") from None
