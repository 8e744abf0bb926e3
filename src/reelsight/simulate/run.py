"""Running a simulation: N players over one shared HTTP client until the deadline (or a stop event),
and the report of what they did.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx

from reelsight.clock import Clock, SystemClock
from reelsight.simulate.expect import Expectation
from reelsight.simulate.identity import new_viewers
from reelsight.simulate.player import Player, Stop, player_rng, session_plan
from reelsight.simulate.scenarios import SCENARIO_WEIGHTS, Pacing, Scenario, ScenarioMix
from reelsight.simulate.transport import Counters, Outbox, RetryPolicy, SimulationAborted, Transport

# The outcome counters of a report, in the order the summary prints them.
OUTCOMES: tuple[str, ...] = (
    "joined",
    "start failure",
    "start failure (business)",
    "exit before start",
    "playback failure",
    "playback failure (business)",
    "ended by player",
    "vanished",
    "cut by the end of the run",
    "client id assigned by the server",
)
USER_AGENT = "reelsight-simulate/1"  # the request header; browser players send their own in `user_agent`


@dataclass
class SimulationReport:
    url: str
    viewers: int
    seed: int
    elapsed_s: float = 0.0
    counters: Counters = field(default_factory=Counters)
    expectations: list[Expectation] = field(default_factory=list)  # empty unless kept
    scenarios: Counter[str] = field(default_factory=Counter)  # sessions per scenario
    outcomes: Counter[str] = field(default_factory=Counter)  # joined, start failures, vanished, ...
    worst_slip_ms: int = 0  # the largest schedule slip of one session (see Expectation)

    @property
    def sessions(self) -> int:
        return self.scenarios.total()

    @property
    def events_per_s(self) -> float:
        return self.counters.events / self.elapsed_s if self.elapsed_s else 0.0

    def add(self, expectation: Expectation, *, keep: bool) -> None:
        self.scenarios[expectation.scenario.value] += 1
        outcome = expectation.outcome
        flags: dict[str, bool] = {
            "joined": outcome.joined,
            "start failure": outcome.start_failure,
            "start failure (business)": outcome.start_failure and outcome.business,
            "exit before start": outcome.exit_before_start,
            "playback failure": outcome.playback_failure,
            "playback failure (business)": outcome.playback_failure and outcome.business,
            "ended by player": outcome.ended_by_player,
            "vanished": not outcome.ended_by_player,
            "cut by the end of the run": expectation.truncated,
            "client id assigned by the server": expectation.assigned_client_id,
        }
        self.outcomes.update(name for name, value in flags.items() if value)
        self.worst_slip_ms = max(self.worst_slip_ms, expectation.schedule_slip_ms)
        if keep:
            self.expectations.append(expectation)

    def summary(self) -> str:
        c = self.counters
        lines = [
            f"Simulated {self.viewers} viewers for {self.elapsed_s:.1f} s (seed {self.seed}) against {self.url}",
            f"sessions: {self.sessions}",
        ]
        width = max(len(s.value) for s in SCENARIO_WEIGHTS)
        lines += [f"  {s.value:<{width}}  {self.scenarios[s.value]:>6}" for s in SCENARIO_WEIGHTS]
        lines.append("outcomes:")
        lines += [f"  {name:<32}  {self.outcomes[name]:>6}" for name in OUTCOMES]
        statuses = ", ".join(f"{k} {v}" for k, v in sorted(c.statuses.items())) or "none"
        lines += [
            f"batches: {c.batches} acknowledged, {c.retries} retries, {c.failed_batches} failed",
            f"events: {c.events} sent ({statuses}), {self.events_per_s:.1f} events/s",
            f"timing: worst schedule slip {self.worst_slip_ms} ms in one session (sum over its events)",
        ]
        if c.http_errors:
            lines.append("HTTP errors: " + ", ".join(f"{k} x{v}" for k, v in sorted(c.http_errors.items())))
        lines += [f"  ! {reason} (x{count})" for reason, count in c.reasons.most_common()]
        if self.outcomes["vanished"]:
            lines.append("Vanished sessions end 'By Expiration' once the server's session_timeout_s has passed.")
        return "\n".join(lines)


async def wait_until_ready(client: httpx.AsyncClient, url: str, timeout_s: float) -> None:
    """Poll ``GET /healthz`` until the server answers 200 (it may still be starting)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if (await client.get(url.rstrip("/") + "/healthz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise SimulationAborted(f"{url} did not answer GET /healthz within {timeout_s:.0f} s")
        await asyncio.sleep(0.2)


async def run_simulation(
    url: str,
    ingest_key: str,
    *,
    viewers: int = 20,
    duration_s: float | None = 60.0,
    seed: int = 0,
    pacing: Pacing | None = None,
    mix: Mapping[Scenario, float] | None = None,
    max_connections: int = 32,
    assigned_client_id_share: float = 0.3,
    keep_expectations: bool = True,
    stop: asyncio.Event | None = None,
    clock: Clock | None = None,
    retry: RetryPolicy | None = None,
    wait_ready_s: float = 0.0,
    request_timeout_s: float = 10.0,
) -> SimulationReport:
    """Run ``viewers`` players against ``url`` for ``duration_s`` seconds (``None``: until ``stop`` is
    set), then end the sessions in progress and wait for every batch to be sent.

    Scenario choice (weights ``mix``, default the realistic mix) and scripts are deterministic for
    ``seed``; how many sessions fit in the time is not. ``assigned_client_id_share`` of the players
    start without a client id and adopt the one the server assigns. Raises
    :class:`SimulationAborted` when the server refuses the ingest key.
    """
    if viewers < 1:
        raise ValueError("viewers must be at least 1")
    if duration_s is None and stop is None:
        raise ValueError("without duration_s, pass a stop event")
    pacing = pacing or Pacing()
    scenario_mix = ScenarioMix(mix)
    clock = clock or SystemClock()
    report = SimulationReport(url=url, viewers=viewers, seed=seed)
    population, players_viewers = new_viewers(random.Random(seed), viewers, assigned_share=assigned_client_id_share)
    stop_event = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
    async with httpx.AsyncClient(
        limits=limits, timeout=request_timeout_s, headers={"user-agent": USER_AGENT}
    ) as client:
        if wait_ready_s:
            await wait_until_ready(client, url, wait_ready_s)
        began_s = loop.time()
        deadline = loop.call_later(duration_s, stop_event.set) if duration_s is not None else None
        transport = Transport(client, url, ingest_key, clock, report.counters, retry or RetryPolicy())

        def record(expectation: Expectation) -> None:
            report.add(expectation, keep=keep_expectations)

        async def play(player: Player, outbox: Outbox) -> None:
            try:
                await player.run()
            finally:
                await outbox.close()

        try:
            async with asyncio.TaskGroup() as tasks:
                for index, viewer in enumerate(players_viewers):
                    outbox = Outbox(
                        transport, viewer.client.client_id if viewer.reports_client_id else "", viewer.address
                    )
                    plan = session_plan(player_rng(seed, index), viewer, pacing, scenario_mix)
                    player = Player(viewer, population, plan, outbox, clock, Stop(stop_event), record)
                    tasks.create_task(outbox.run())
                    tasks.create_task(play(player, outbox))
        except* SimulationAborted as group:
            raise group.exceptions[0] from None
        finally:
            if deadline is not None:
                deadline.cancel()
        report.elapsed_s = loop.time() - began_s
    return report
