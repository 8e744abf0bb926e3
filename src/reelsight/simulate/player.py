"""One simulated player: plays its scripts in real time, session after session, on one device.

At the end of the run a player in the middle of a session ends it right away (the viewer closes the
app: an ``end`` event now, recorded as ``truncated``); a player that already vanished stays silent.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Iterator

import msgspec

from reelsight.clock import Clock
from reelsight.generate.population import Population
from reelsight.ingest.events import AdStart, End
from reelsight.simulate.expect import Expectation, fold
from reelsight.simulate.identity import Viewer
from reelsight.simulate.scenarios import Pacing, ScenarioMix
from reelsight.simulate.script import Script, Step, blank, script_session
from reelsight.simulate.transport import Outbox


def player_rng(seed: int, index: int) -> random.Random:
    """Player ``index``'s own random stream: its scenarios do not depend on the other players."""
    return random.Random(f"reelsight-simulate:{seed}:{index}")


def session_plan(
    rng: random.Random, viewer: Viewer, pacing: Pacing, mix: ScenarioMix
) -> Iterator[tuple[Script, float]]:
    """The endless, deterministic sequence of (session script, think time in s before the next)."""
    while True:
        script = script_session(rng, viewer, mix.choose(rng), pacing)
        yield script, rng.uniform(*pacing.think_s)


class Stop:
    """The end of the run: an event set at the deadline, or by whoever runs the simulation."""

    def __init__(self, event: asyncio.Event) -> None:
        self.event = event

    async def wait_until(self, when_s: float) -> bool:
        """Sleep until loop time ``when_s``; ``False`` when the run stopped first."""
        if self.event.is_set():
            return False
        delay_s = when_s - asyncio.get_running_loop().time()
        if delay_s <= 0:
            return True
        try:
            async with asyncio.timeout(delay_s):
                await self.event.wait()
        except TimeoutError:
            return True
        return False


class Player:
    def __init__(
        self,
        viewer: Viewer,
        population: Population,
        plan: Iterator[tuple[Script, float]],
        outbox: Outbox,
        clock: Clock,
        stop: Stop,
        record: Callable[[Expectation], None],
    ) -> None:
        self._viewer = viewer
        self._population = population
        self._plan = plan
        self._outbox = outbox
        self._clock = clock
        self._stop = stop
        self._record = record

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for script, think_s in self._plan:
            if self._stop.event.is_set():
                return
            await self._play(script)
            if not await self._stop.wait_until(loop.time() + think_s):
                return

    async def _play(self, script: Script) -> None:
        loop = asyncio.get_running_loop()
        assigned = not self._outbox.client_id
        session_id = self._population.next_session_id(self._viewer.client)
        # The pre-roll's ad session, if the script has one: its own id and sequence numbers.
        ad_session_id = self._population.next_session_id(self._viewer.client) if script.has_ad else ""
        seqs = {False: 0, True: 0}
        ad_open = False
        began_s = loop.time()
        start_ms = self._clock.now_ms()
        played: list[Step] = []
        truncated = False
        slip_ms = 0
        sent_ms = start_ms  # the time of the last event sent: times never go back
        for index, step in enumerate(script.steps):
            if index and not await self._stop.wait_until(began_s + step.at_ms / 1000):
                # The run is over: the viewer closes the app now (the open ad too).
                sent_ms = max(sent_ms, self._clock.now_ms())
                at_ms = max(played[-1].at_ms, sent_ms - start_ms)
                if ad_open:
                    self._send(Step(at_ms, blank(End), ad=True), ad_session_id, seqs[True], sent_ms)
                    seqs[True] += 1
                played.append(Step(at_ms, blank(End)))
                self._send(played[-1], session_id, seqs[False], sent_ms)
                truncated = True
                break
            sent_ms = max(sent_ms, self._clock.now_ms())
            slip_ms += abs(sent_ms - start_ms - step.at_ms)
            event = step.event
            if step.ad:
                if isinstance(event, AdStart):
                    event = msgspec.structs.replace(event, content_session_id=session_id)
                    ad_open = True
                elif isinstance(event, End):
                    ad_open = False
                self._send(Step(step.at_ms, event, ad=True), ad_session_id, seqs[True], sent_ms)
                seqs[True] += 1
                continue
            self._send(step, session_id, seqs[False], sent_ms)
            seqs[False] += 1
            played.append(step)
        await self._outbox.flushed()  # the client id the server assigned, the batches' delays
        client_id = self._outbox.client_id
        self._record(
            Expectation(
                conviva_session_id=f"{client_id}.{session_id}",
                client_id=client_id,
                session_id=session_id,
                scenario=script.scenario,
                assigned_client_id=assigned,
                truncated=truncated,
                schedule_slip_ms=slip_ms,
                transport_delay_ms=self._outbox.take_delay_ms(session_id),
                outcome=fold(played),
                content=script.content,
                device=self._viewer.device,
                user_agent=self._viewer.user_agent,
                actual_device=self._viewer.actual_device,
                viewer_id=self._viewer.client.viewer_id,
                dimensions=script.dimensions,
                custom_tags=script.custom_tags,
                events=len(played),
                ad_session_id=ad_session_id if seqs[True] else "",
                ad_events=seqs[True],
            )
        )

    def _send(self, step: Step, session_id: str, seq: int, t_ms: int) -> None:
        self._outbox.put(msgspec.structs.replace(step.event, session_id=session_id, seq=seq, t_ms=t_ms))
