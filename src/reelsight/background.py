"""The jobs that run beside the server for as long as it serves: the retention purge, the watch on
the live log's file, and the outbox drain into a separate session store. Run by the process that
owns the live log (the only process, or the coordinator of several HTTP processes)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import anyio
import anyio.abc
import anyio.to_thread

from reelsight.clock import Clock
from reelsight.errors import StorageFailure
from reelsight.settings import Settings
from reelsight.store.base import Store
from reelsight.store.sqlite.outbox import DRAIN_BATCH, Outbox

log = logging.getLogger("reelsight.web")
STORE_CHECK_INTERVAL_S = 1.0  # how soon a deleted or replaced store file is noticed without traffic
OUTBOX_DRAIN_INTERVAL_S = 0.5  # how soon an ended session reaches a ClickHouse store


async def purge_forever(settings: Settings, store: Store, clock: Clock) -> None:
    while True:
        cutoff = clock.now_ms() - settings.retention_days * 86_400_000
        try:
            removed = await anyio.to_thread.run_sync(store.purge_ended_before, cutoff)
        except StorageFailure as exc:  # a full disk or a lost file must not take the server down
            log.warning("retention purge failed, next try in %d s: %s", max(1, settings.purge_interval_s), exc)
        else:
            if removed:
                log.info("retention purge removed %d sessions", removed)
        await anyio.sleep(max(1, settings.purge_interval_s))


async def watch_store(check: Callable[[], None]) -> None:
    """Notice within a second that the live log's file is gone, even with no traffic (the store logs it)."""
    while True:
        try:
            await anyio.to_thread.run_sync(check)
        except StorageFailure:
            return
        await anyio.sleep(STORE_CHECK_INTERVAL_S)


async def drain_forever(outbox: Outbox, clock: Clock) -> None:
    """Move ended sessions from the local outbox into the session store, about twice a second; a
    failing store keeps them waiting (logged once a minute) and is retried."""
    next_warning = 0.0
    while True:
        try:
            moved = await anyio.to_thread.run_sync(outbox.drain, clock.now_ms())
        except StorageFailure as exc:
            moved = 0
            if time.monotonic() >= next_warning:
                next_warning = time.monotonic() + 60
                log.warning("ended sessions wait in the outbox (retrying): %s", exc)
        if moved < DRAIN_BATCH:
            await anyio.sleep(OUTBOX_DRAIN_INTERVAL_S)


def start_jobs(
    tasks: anyio.abc.TaskGroup,
    settings: Settings,
    store: Store,
    clock: Clock,
    check_live_log: Callable[[], None],
    outbox: Outbox | None,
) -> None:
    tasks.start_soon(purge_forever, settings, store, clock)
    tasks.start_soon(watch_store, check_live_log)
    if outbox is not None:
        tasks.start_soon(drain_forever, outbox, clock)
