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
from reelsight.web.ratelimit import LocalReadLimits, ReadLimits

T = TypeVar("T")


class ReadGuard:
    def __init__(self, settings: Settings, store: AccountStore, clock: Clock, limits: ReadLimits | None = None) -> None:
        """``limits``: the budgets, when they are shared with other processes (default: this process's own)."""
        self._auth = Authenticator(store, clock, settings.auth_cache_s)
        self._limits = limits if limits is not None else LocalReadLimits.from_settings(settings, clock)
        self._readers = anyio.CapacityLimiter(max(1, settings.reader_threads))

    @contextlib.asynccontextmanager
    async def enter(self, request: Request) -> AsyncIterator[Account]:
        """The authenticated account, counted against the client's limits while the block runs
        (``RateLimited`` or ``Unauthorized`` before it, in that order: a flood of bad credentials is limited too)."""
        await self._limits.admit(request.client.host if request.client else "")
        account = await self._auth.authenticate(request.headers.get("authorization"))
        await self._limits.acquire(account.id)
        try:
            yield account
        finally:
            self._limits.release(account.id)

    async def read(self, func: Callable[..., T], *args: object) -> T:
        """Run one store read on a reader thread; one that outlives the read time limit is a 503."""
        try:
            return await anyio.to_thread.run_sync(func, *args, limiter=self._readers)
        except ReadTimeout:
            raise Unavailable("the query took too long; narrow the time range or add filters") from None
