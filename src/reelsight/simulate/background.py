"""The simulator on its own thread and event loop, for a process that serves at the same time (the
demo): it waits for the server to answer, runs until stopped, and never keeps per-session records.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading

from reelsight.simulate.run import SimulationReport, run_simulation
from reelsight.simulate.scenarios import Pacing
from reelsight.simulate.transport import RetryPolicy

log = logging.getLogger("reelsight.simulate")
# The server runs in the same process: when it is gone it is not coming back, so give up quickly.
_RETRY = RetryPolicy(attempts=3, backoff_s=0.2, max_backoff_s=0.5)


class BackgroundSimulation:
    def __init__(
        self,
        url: str,
        ingest_key: str,
        *,
        viewers: int = 20,
        seed: int = 0,
        pacing: Pacing | None = None,
        wait_ready_s: float = 120.0,
    ) -> None:
        self.url = url
        self._ingest_key = ingest_key
        self._viewers = viewers
        self._seed = seed
        self._pacing = pacing
        self._wait_ready_s = wait_ready_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, name="reelsight-simulate", daemon=True)
        self.report: SimulationReport | None = None  # set once the run is over
        self.error: BaseException | None = None

    def start(self) -> BackgroundSimulation:
        self._thread.start()
        self._started.wait()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        """Let the players end their sessions and send them; give up waiting after ``timeout_s`` (the
        thread is a daemon: a server already gone leaves those sessions to expire)."""
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed in between: the run is over anyway
                loop.call_soon_threadsafe(stop.set)
        self._thread.join(timeout_s)

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._started.set()
        try:
            self.report = await run_simulation(
                self.url,
                self._ingest_key,
                viewers=self._viewers,
                duration_s=None,
                seed=self._seed,
                pacing=self._pacing,
                keep_expectations=False,
                stop=self._stop,
                retry=_RETRY,
                wait_ready_s=self._wait_ready_s,
            )
        except Exception as exc:  # a background thread has no caller to raise to
            self.error = exc
            log.error("the traffic simulator stopped: %s", exc)
