"""Scripting one session: a scenario becomes a list of timed native events, decided up front.

Pure and deterministic for a ``random.Random``: the player (``player.py``) only plays the script in
real time, and ``expect.py`` reads the intended durations back from it.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

from reelsight.generate.catalogue import WARNINGS, Asset, Cdn, cdns
from reelsight.generate.population import Weighted
from reelsight.ingest.events import (
    AdBreakEnd,
    AdBreakStart,
    AdEnd,
    AdPosition,
    AdStart,
    Bitrate,
    CdnChange,
    Content,
    End,
    Event,
    Framerate,
    Heartbeat,
    PlayerError,
    PlayerState,
    Playhead,
    SeekEnd,
    SeekStart,
    Start,
    StateChange,
)
from reelsight.simulate.identity import (
    Viewer,
    ad_start,
    choose_asset,
    choose_preroll,
    content_of,
    custom_tags,
    standard_metadata,
)
from reelsight.simulate.scenarios import (
    BUSINESS_PLAYBACK_FAILURES,
    BUSINESS_SHARE,
    BUSINESS_START_FAILURES,
    TECH_PLAYBACK_FAILURES,
    TECH_START_FAILURES,
    Pacing,
    Scenario,
    draw_ms,
)

E = TypeVar("E", bound=Event)
_CDNS = Weighted((c, c.weight) for c in cdns())
_PLAYING = PlayerState.PLAYING
_WARNING_CHANCE = 0.08
_CDN_SWITCH_CHANCE = 0.07
_STOPPED_BEFORE_END_CHANCE = 0.4


class Ending(StrEnum):
    END = "end"  # the player reports the end
    VANISH = "vanish"  # the player goes silent after its last step


@dataclass(frozen=True, slots=True)
class Step:
    """One event at ``at_ms`` after the session start; its ids, ``seq`` and ``t_ms`` are filled in
    when it is sent."""

    at_ms: int
    event: Event
    ad: bool = False  # an event of the session's ad session (its pre-roll), not of the content session


@dataclass(frozen=True)
class Script:
    scenario: Scenario
    steps: tuple[Step, ...]
    ending: Ending
    asset: Asset
    content: Content
    dimensions: dict[str, str]  # metadata keys that are standard dimensions
    custom_tags: dict[str, str]  # every other metadata key

    @property
    def has_ad(self) -> bool:
        return any(step.ad for step in self.steps)

    @property
    def content_steps(self) -> tuple[Step, ...]:
        """The content session's own steps (what its expected outcome is folded from)."""
        return tuple(step for step in self.steps if not step.ad)

    @property
    def ad_steps(self) -> tuple[Step, ...]:
        return tuple(step for step in self.steps if step.ad)


def blank(cls: type[E], **fields: Any) -> E:
    """An event of a script: session ids, ``seq`` and ``t_ms`` are set when it is sent."""
    return cls(session_id="", seq=0, t_ms=0, **fields)


class _Timeline:
    """The script being written: a clock, the player state and the content position."""

    def __init__(self, pacing: Pacing, position_ms: int | None) -> None:
        self.at_ms = 0
        self.steps: list[Step] = []
        self.state: PlayerState | None = None
        self.position_ms = position_ms  # None: no playhead reports (live content)
        self._heartbeat_ms = round(pacing.heartbeat_s * 1000)
        self._playhead_ms = round(pacing.playhead_s * 1000)
        self._content_ms = 0  # the time of the content session's last step (heartbeats are its own)

    def emit(self, event: Event, *, ad: bool = False) -> None:
        self.steps.append(Step(self.at_ms, event, ad))
        if not ad:
            self._content_ms = self.at_ms

    def set_state(self, state: PlayerState) -> None:
        self.state = state
        self.emit(blank(StateChange, state=state))

    def report_playhead(self) -> None:
        if self.position_ms is not None:
            self.emit(blank(Playhead, playhead_ms=self.position_ms))

    def wait(self, duration_ms: int) -> None:
        """Let time pass in the current state, reporting the playhead (or a heartbeat) periodically."""
        end_ms = self.at_ms + duration_ms
        while True:
            reporting = self.state is _PLAYING and self.position_ms is not None
            period_ms = self._playhead_ms if reporting else self._heartbeat_ms
            due_ms = max(self._content_ms + period_ms, self.at_ms)
            if due_ms >= end_ms:
                break
            self._move_to(due_ms)
            if reporting:
                self.report_playhead()
            else:
                self.emit(blank(Heartbeat))
        self._move_to(end_ms)

    def _move_to(self, at_ms: int) -> None:
        if self.state is _PLAYING and self.position_ms is not None:
            self.position_ms += at_ms - self.at_ms
        self.at_ms = at_ms


def _split(rng: random.Random, total_ms: int, parts: int) -> list[int]:
    """``total_ms`` cut into ``parts`` pieces of uneven length."""
    weights = [rng.uniform(0.5, 1.5) for _ in range(parts)]
    scale = total_ms / sum(weights)
    pieces = [round(w * scale) for w in weights[:-1]]
    return [*pieces, total_ms - sum(pieces)]


def _cdn_event(rng: random.Random) -> CdnChange:
    cdn: Cdn = _CDNS.pick(rng)
    edge = cdn.edge_servers[rng.randrange(len(cdn.edge_servers))] if rng.random() < 0.75 else ""
    group = cdn.group_ids[rng.randrange(len(cdn.group_ids))] if rng.random() < 0.6 else ""
    return blank(CdnChange, cdn=cdn.name, edge_server=edge, group_id=group)


def _fatal(rng: random.Random, *, business: tuple[str, ...], tech: tuple[str, ...]) -> PlayerError:
    messages = business if rng.random() < BUSINESS_SHARE else tech
    return blank(PlayerError, message=messages[rng.randrange(len(messages))], fatal=True)


def _warning(rng: random.Random, has_ad: bool) -> PlayerError:
    choices = WARNINGS if has_ad else WARNINGS[:-1]  # the last one is about ads
    return blank(PlayerError, message=choices[rng.randrange(len(choices))], fatal=False)


@dataclass
class _Session:
    """What the body of a session needs while it is written."""

    rng: random.Random
    pacing: Pacing
    timeline: _Timeline
    ladder_bps: tuple[int, ...]
    rung: int
    fps: float
    asset: Asset
    ad: AdStart | None  # the pre-roll's ad session

    @property
    def has_ad(self) -> bool:
        return self.ad is not None

    def play(self, duration_ms: int) -> None:
        self.timeline.wait(duration_ms)

    def switch_to(self, rung: int) -> None:
        self.rung = max(0, min(len(self.ladder_bps) - 1, rung))
        self.timeline.emit(blank(Bitrate, bitrate_bps=self.ladder_bps[self.rung]))

    def between_segments(self) -> None:
        """Occasional events between two stretches of play: a CDN switch, a warning."""
        if self.rng.random() < _CDN_SWITCH_CHANCE:
            self.timeline.emit(_cdn_event(self.rng))
        if self.rng.random() < _WARNING_CHANCE:
            self.timeline.emit(_warning(self.rng, self.has_ad))


def script_session(rng: random.Random, viewer: Viewer, scenario: Scenario, pacing: Pacing) -> Script:
    """The whole session of ``scenario`` for ``viewer``: events at scripted offsets, and how it ends."""
    asset = choose_asset(rng, on_demand=scenario is Scenario.SEEKS)
    ad = None if scenario is Scenario.START_FAILURE else choose_preroll(rng, viewer, asset)
    ad_ms = draw_ms(rng, pacing.ad_s) if ad is not None else 0
    dimensions = standard_metadata(viewer, asset)
    tags = custom_tags(rng, viewer, ad, scenario.value)
    resume_ms = 0
    if not asset.is_live and rng.random() < 0.2:
        resume_ms = rng.randrange(asset.length_ms * 6 // 10)
    timeline = _Timeline(pacing, None if asset.is_live else resume_ms)
    content = content_of(viewer, asset)
    start = blank(
        Start,
        content=content,
        device=viewer.device,
        user_agent=viewer.user_agent,
        viewer_id=viewer.client.viewer_id,
        metadata={**dimensions, **tags},
    )
    timeline.emit(start)
    profile = viewer.client.device.profile
    ladder = profile.ladder_bps
    top = len(ladder) - 1
    if scenario is Scenario.ABR_SWITCHES:
        rung = rng.randrange(2)
    else:
        rung = max(0, top - int(rng.expovariate(1.2) * viewer.client.quality))
    session = _Session(
        rng=rng,
        pacing=pacing,
        timeline=timeline,
        ladder_bps=ladder,
        rung=rung,
        fps=float(min(asset.fps, profile.max_fps)),
        asset=asset,
        ad=ad_start(viewer, ad, ad_ms, AdPosition.PRE) if ad is not None else None,
    )
    ending = _script_body(session, scenario, ad_ms, viewer.client.log_startup_ms)
    return Script(scenario, tuple(timeline.steps), ending, asset, content, dimensions, tags)


def _script_body(s: _Session, scenario: Scenario, ad_ms: int, log_startup_ms: float) -> Ending:
    rng, t = s.rng, s.timeline
    low_ms, high_ms = (round(x * 1000) for x in s.pacing.startup_s)
    startup_ms = min(high_ms, max(low_ms, round(math.exp(rng.gauss(log_startup_ms, 0.5)))))
    t.emit(_cdn_event(rng))
    if s.ad is not None:
        # The pre-roll: an ad break on the content session, holding one ad session.
        t.emit(blank(AdBreakStart, position=AdPosition.PRE))
        t.emit(s.ad, ad=True)
        t.emit(blank(StateChange, state=PlayerState.BUFFERING), ad=True)
        ad_startup_ms = min(ad_ms // 2, rng.randrange(200, 900))
        if scenario is Scenario.EXIT_BEFORE_START and rng.random() < 0.5:
            t.wait(round(ad_ms * rng.uniform(0.3, 0.9)))  # left during the ad: both sessions end
            t.emit(blank(End), ad=True)
            t.emit(blank(End))
            return Ending.END
        t.wait(ad_startup_ms)
        t.emit(blank(StateChange, state=_PLAYING), ad=True)
        t.wait(ad_ms - ad_startup_ms)
        t.emit(blank(AdEnd), ad=True)
        t.emit(blank(AdBreakEnd))
    t.set_state(PlayerState.BUFFERING)
    t.emit(blank(Bitrate, bitrate_bps=s.ladder_bps[s.rung]))
    if scenario is Scenario.START_FAILURE:
        t.wait(round(startup_ms * rng.uniform(0.3, 1.0)))
        if rng.random() < 0.3:
            t.emit(blank(PlayerError, message=WARNINGS[0], fatal=False))
        t.emit(_fatal(rng, business=BUSINESS_START_FAILURES, tech=TECH_START_FAILURES))
        t.emit(blank(End))
        return Ending.END
    if scenario is Scenario.EXIT_BEFORE_START or (scenario is Scenario.VANISH and rng.random() < 0.3):
        t.wait(round(startup_ms * rng.uniform(0.3, 0.9)))
        if scenario is Scenario.VANISH:
            t.emit(blank(Heartbeat))  # the last report before the player disappears
            return Ending.VANISH
        t.emit(blank(End))
        return Ending.END
    t.wait(startup_ms)
    t.set_state(_PLAYING)
    t.emit(blank(Framerate, fps=s.fps))
    t.report_playhead()
    return _script_joined(s, scenario, draw_ms(rng, s.pacing.playback_s))


def _script_joined(s: _Session, scenario: Scenario, playing_ms: int) -> Ending:
    rng, t = s.rng, s.timeline
    if scenario is Scenario.ABR_SWITCHES:
        segments = _split(rng, playing_ms, rng.randint(3, 5))
        for segment_ms in segments[:-1]:
            s.play(segment_ms)
            top = s.rung == len(s.ladder_bps) - 1
            s.switch_to(s.rung - 1 if top or rng.random() < 0.25 else s.rung + 1)
            s.between_segments()
        s.play(segments[-1])
    elif scenario is Scenario.REBUFFERING:
        segments = _split(rng, playing_ms, rng.randint(2, 4))
        dipped = False
        for number, segment_ms in enumerate(segments[:-1]):
            s.play(segment_ms)
            t.set_state(PlayerState.BUFFERING)
            if rng.random() < 0.5:
                s.switch_to(s.rung - 1)
            t.wait(draw_ms(rng, s.pacing.stall_s))
            t.set_state(_PLAYING)
            if number == 0 and rng.random() < 0.5:
                t.emit(blank(Framerate, fps=round(s.fps * 0.8, 2)))
                dipped = True
            s.between_segments()
        if dipped:
            half_ms = segments[-1] // 2
            s.play(half_ms)
            t.emit(blank(Framerate, fps=s.fps))
            s.play(segments[-1] - half_ms)
        else:
            s.play(segments[-1])
    elif scenario is Scenario.SEEKS:
        segments = _split(rng, playing_ms, rng.randint(2, 4))
        for segment_ms in segments[:-1]:
            s.play(segment_ms)
            t.emit(blank(SeekStart))
            t.position_ms = rng.randrange(max(1, s.asset.length_ms - 60_000))
            t.report_playhead()
            t.set_state(PlayerState.BUFFERING)
            t.wait(draw_ms(rng, s.pacing.seek_buffer_s))
            t.set_state(_PLAYING)
            t.emit(blank(SeekEnd))
            s.between_segments()
        s.play(segments[-1])
    elif scenario is Scenario.PAUSES:
        segments = _split(rng, playing_ms, rng.randint(2, 3))
        for segment_ms in segments[:-1]:
            s.play(segment_ms)
            t.set_state(PlayerState.PAUSED)
            t.wait(draw_ms(rng, s.pacing.pause_s))
            t.set_state(_PLAYING)
            s.between_segments()
        s.play(segments[-1])
    elif scenario is Scenario.PLAYBACK_FAILURE:
        s.play(round(playing_ms * rng.uniform(0.2, 0.8)))
        t.emit(_fatal(rng, business=BUSINESS_PLAYBACK_FAILURES, tech=TECH_PLAYBACK_FAILURES))
        t.emit(blank(End))
        return Ending.END
    elif scenario is Scenario.VANISH:
        s.play(round(playing_ms * rng.uniform(0.2, 0.8)))
        if rng.random() < 0.4:  # lost while stalled
            t.set_state(PlayerState.BUFFERING)
            t.wait(draw_ms(rng, s.pacing.stall_s))
        t.emit(blank(Heartbeat))  # the last report before the player disappears
        return Ending.VANISH
    else:
        segments = _split(rng, playing_ms, 2)
        s.play(segments[0])
        s.between_segments()
        s.play(segments[1])
    t.report_playhead()
    if rng.random() < _STOPPED_BEFORE_END_CHANCE:
        t.set_state(PlayerState.STOPPED)
    t.emit(blank(End))
    return Ending.END
