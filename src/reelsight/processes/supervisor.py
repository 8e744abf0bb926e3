"""``reelsight serve`` with ``http_processes`` >= 2: one coordinator and N HTTP processes.

The coordinator (this process) binds the listening socket, recovers the live log, starts the
ingest worker, the background jobs (retention purge, store watch, outbox drain) and the links'
Unix socket, then starts the HTTP processes (``spawn``: fresh interpreters, no inherited threads or
SQLite handles) on the shared socket. Each HTTP process runs the whole HTTP side (parsing,
decoding, authentication, reads from the store) and sends its decoded ingest batches to the
coordinator, which applies them in its one ingest worker: one live log, one writer, group commits
across all processes, sessions ended exactly once.

An HTTP process that dies is started again. SIGTERM or SIGINT stops the HTTP processes first
(each finishes its requests within ``shutdown_grace_s``), then the worker (its last round is
committed) and the outbox drain, as a single process would.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import logging.config
import multiprocessing
import multiprocessing.process
import os
import signal
import socket
import tempfile
import time
from collections.abc import AsyncIterator, Callable

import anyio
import anyio.to_thread

from reelsight.background import start_jobs
from reelsight.clock import SystemClock
from reelsight.ingest.build import build_worker
from reelsight.processes.client import CoordinatorClient
from reelsight.processes.coordinator import Coordinator
from reelsight.sessions.enrich import Enricher
from reelsight.settings import Settings
from reelsight.stores import OpenStores, open_stores
from reelsight.web.ratelimit import LocalReadLimits
from reelsight.web.server import logging_config

log = logging.getLogger("reelsight.processes")
_SUPERVISE_INTERVAL_S = 0.5
_RESTART_PAUSE_S = 1.0  # an HTTP process that keeps dying is started again at most once a second
_BACKLOG = 2048


def bind(settings: Settings) -> socket.socket:
    """The listening socket every HTTP process accepts on."""
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    sock = socket.create_server((settings.host, settings.port), family=family, backlog=_BACKLOG)
    sock.set_inheritable(True)
    return sock


def serve_processes(settings: Settings, stores: OpenStores, enricher: Enricher) -> None:
    logging.config.dictConfig(logging_config())
    sock = bind(settings)
    try:
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            received = runner.run(_coordinate(settings, stores, enricher, sock))
    finally:
        sock.close()
    if received is not None:  # exit by the signal after a clean stop, as uvicorn does in one process
        stores.close()
        signal.signal(received, signal.SIG_DFL)
        signal.raise_signal(received)


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop where installed (as uvicorn uses it in the HTTP processes), else asyncio's own loop."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


class _Children:
    def __init__(self, settings: Settings, sock: socket.socket, link_path: str) -> None:
        self._context = multiprocessing.get_context("spawn")
        self._settings = settings
        self._sock = sock
        self._link_path = link_path
        self.processes: list[multiprocessing.process.BaseProcess] = []
        self._started: list[float] = []

    def start(self, count: int) -> None:
        for index in range(count):
            self.processes.append(self._spawn(index))
            self._started.append(time.monotonic())

    def _spawn(self, index: int) -> multiprocessing.process.BaseProcess:
        process = self._context.Process(
            target=http_process_main,
            args=(self._settings, self._sock, self._link_path, index),
            name=f"reelsight-http-{index}",
        )
        process.start()
        return process

    def restart_dead(self) -> None:
        for index, process in enumerate(self.processes):
            if process.is_alive() or time.monotonic() - self._started[index] < _RESTART_PAUSE_S:
                continue
            log.warning(
                "HTTP process %d (pid %s) exited with %s; starting another", index, process.pid, process.exitcode
            )
            self.processes[index] = self._spawn(index)
            self._started[index] = time.monotonic()

    def stop(self, grace_s: float) -> None:
        for process in self.processes:
            if process.is_alive():
                process.terminate()  # SIGTERM: uvicorn's graceful stop
        deadline = time.monotonic() + grace_s
        for process in self.processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                log.warning("HTTP process %s did not stop in time; killed", process.pid)
                process.kill()
                process.join()


async def _coordinate(settings: Settings, stores: OpenStores, enricher: Enricher, sock: socket.socket) -> int | None:
    """Serve until SIGTERM or SIGINT; the signal that stopped it (``None``: none did)."""
    clock = SystemClock()
    live_log = stores.live_log()
    worker = build_worker(settings, stores.main, live_log, enricher, clock)
    coordinator = Coordinator(worker, LocalReadLimits.from_settings(settings, clock))
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    received: list[int] = []

    def stop(signum: int) -> None:
        received.append(signum)
        stopping.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop, signum)
    started = False
    try:
        with tempfile.TemporaryDirectory(prefix="reelsight-") as directory:
            link_path = os.path.join(directory, "coordinator.sock")
            server = await loop.create_unix_server(coordinator.link, link_path)
            children = _Children(settings, sock, link_path)
            try:
                async with anyio.create_task_group() as tasks:
                    start_jobs(tasks, settings, stores.main, clock, live_log.check, live_log.outbox)
                    await anyio.to_thread.run_sync(children.start, settings.http_processes)
                    host, port = sock.getsockname()[:2]
                    log.info(
                        "serving on http://%s:%d with %d HTTP processes (pids %s) and this coordinator (pid %d)",
                        host,
                        port,
                        settings.http_processes,
                        ", ".join(str(p.pid) for p in children.processes),
                        os.getpid(),
                    )
                    while not stopping.is_set():
                        if not started and coordinator.linked.is_set():
                            # Recover only now: a recovered session's fresh timeout must count from when
                            # players can reach it, not from before the HTTP processes started (a fresh
                            # interpreter takes seconds on a busy machine). Earlier batches wait in the queue.
                            await anyio.to_thread.run_sync(worker.start)
                            started = True
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(
                                stopping.wait() if started else _first(stopping, coordinator.linked),
                                _SUPERVISE_INTERVAL_S,
                            )
                        if not stopping.is_set():
                            children.restart_dead()
                    log.info("stopping the HTTP processes")
                    await anyio.to_thread.run_sync(children.stop, settings.shutdown_grace_s + 5.0)
                    tasks.cancel_scope.cancel()
            finally:
                server.close()
    finally:
        if started:
            await anyio.to_thread.run_sync(worker.stop)
        if live_log.outbox is not None:
            await anyio.to_thread.run_sync(live_log.outbox.drain_all, clock.now_ms())
        log.info("stopped")
    return received[0] if received else None


async def _first(*events: asyncio.Event) -> None:
    """Until one of the events is set."""
    waits = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()


def http_process_main(settings: Settings, sock: socket.socket, link_path: str, index: int) -> None:
    """One HTTP process: the routes over the coordinator's client, on the shared socket."""
    import uvicorn

    from reelsight.web.app import build_app
    from reelsight.web.server import server_config

    stores = open_stores(settings)
    client = CoordinatorClient(link_path)

    @contextlib.asynccontextmanager
    async def running() -> AsyncIterator[None]:
        await client.connect()
        try:
            yield
        finally:
            await client.close()

    try:
        app = build_app(settings, stores.main, SystemClock(), client, client, running)
        uvicorn.Server(server_config(app, settings)).run(sockets=[sock])
    finally:
        stores.close()
