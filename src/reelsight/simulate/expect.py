"""What the simulator knows it did: each session's outcome read back from the steps it played.

``fold`` walks the scripted steps (at their scripted offsets) with the rules of ``docs/metrics.md``
for the kinds of streams the simulator writes; comparing it with the served session checks the
whole ingest path. It is the simulator's own account, not the server's code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from reelsight.ingest.events import (
    AdBreakEnd,
    AdBreakStart,
    Bitrate,
    CdnChange,
    Content,
    Device,
    End,
    Framerate,
    PlayerError,
    PlayerState,
    Playhead,
    SeekEnd,
    SeekStart,
    StateChange,
)
from reelsight.simulate.scenarios import Scenario, is_business_message
from reelsight.simulate.script import Step

NEVER_JOINED_START_MS = -3000
BY_PLAYER = "By Player"
BY_EXPIRATION = "By Expiration"


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """Status and metrics of one session as scripted; times in ms on the session's own timeline."""

    joined: bool
    start_failure: bool
    exit_before_start: bool
    playback_failure: bool
    business: bool  # the failure's fatal error is a business error (False without a failure)
    ended_by_player: bool  # False: the player vanished and the server expires the session
    duration_ms: int  # start -> end; for a vanished session, start -> its last report
    startup_ms: int  # video start time: first frame - start - pre-roll ad; -3000 when never joined
    ad_ms: int  # not_monitored before joining
    playing_ms: int
    rebuffering_ms: int
    seek_rebuffering_ms: int  # the part of rebuffering inside seek windows
    paused_ms: int
    seeks: int  # seeks after joining that reached playing again
    restart_ms: int  # mean seek start -> playing, halves up; 0 without seeks
    bitrate_switches: int
    average_bitrate_bps: float
    average_fps: float
    last_playhead_ms: int  # -1 when never reported
    cdns: tuple[str, ...]
    last_edge_server: str
    last_group_id: str
    errors: tuple[tuple[str, bool], ...]  # (message, fatal) in order

    @property
    def ended_status(self) -> str:
        return BY_PLAYER if self.ended_by_player else BY_EXPIRATION

    @property
    def connection_induced_rebuffering_ms(self) -> int:
        return self.rebuffering_ms - self.seek_rebuffering_ms


@dataclass(frozen=True, kw_only=True)
class Expectation:
    """One simulated session: who played what, how it went as scripted, and how it was cut."""

    conviva_session_id: str
    client_id: str
    session_id: str
    scenario: Scenario
    assigned_client_id: bool  # the session started without a client id and the server assigned it
    truncated: bool  # the end of the run cut the script short: the player ended the session
    # Sum over the steps of |time sent - time scripted| on the session's clock: a bound on how far a
    # served duration can drift from the scripted one through the simulator's own scheduling.
    schedule_slip_ms: int
    # Summed round trips of the batches that carried the session's events: a bound on how far the
    # server's clock-skew correction (it counts each batch's transit) can move a served duration.
    transport_delay_ms: int
    outcome: Outcome
    content: Content
    device: Device  # native device metadata as sent (empty for browser players)
    user_agent: str  # a browser player's User-Agent ("" for native apps)
    actual_device: Device  # what the device is (a browser player's: what its User-Agent says)
    viewer_id: str
    dimensions: dict[str, str] = field(default_factory=dict)
    custom_tags: dict[str, str] = field(default_factory=dict)
    events: int = 0  # the content session's events sent
    ad_session_id: str = ""  # the pre-roll's ad session ("" when the session showed no ad)
    ad_events: int = 0  # ... and its events sent


@dataclass
class _Fold:
    """The running account of a session's steps (ms on its own timeline)."""

    at_ms: int = 0
    state: str = "starting"
    joined: bool = False
    join_ms: int = 0
    ad_ms: int = 0
    playing_ms: int = 0
    rebuffering_ms: int = 0
    seek_rebuffering_ms: int = 0
    paused_ms: int = 0
    seek_from_ms: int | None = None
    seek_after_join: bool = False
    seek_ad_ms: int = 0
    seeks: int = 0
    restart_total_ms: int = 0
    bitrate_bps: int = 0
    last_bitrate_bps: int = 0
    bitrate_sum: int = 0
    bitrate_weight_ms: int = 0
    switches: int = 0
    fps: float = 0.0
    fps_sum: float = 0.0
    fps_weight_ms: int = 0
    playhead_ms: int = -1
    cdns: list[str] = field(default_factory=list)
    edge_server: str = ""
    group_id: str = ""
    errors: list[tuple[str, bool]] = field(default_factory=list)
    fatal_before_join: list[str] = field(default_factory=list)
    fatal_after_join: list[str] = field(default_factory=list)
    ended: bool = False
    resume_state: str | None = None  # in an ad break: the state the content resumes in

    def advance(self, at_ms: int) -> None:
        elapsed_ms = at_ms - self.at_ms
        self.at_ms = at_ms
        if elapsed_ms <= 0:
            return
        if self.state == PlayerState.PLAYING:
            self.playing_ms += elapsed_ms
            if self.bitrate_bps:
                self.bitrate_sum += self.bitrate_bps * elapsed_ms
                self.bitrate_weight_ms += elapsed_ms
            if self.fps:
                self.fps_sum += self.fps * elapsed_ms
                self.fps_weight_ms += elapsed_ms
        elif self.state == PlayerState.BUFFERING and self.joined:
            self.rebuffering_ms += elapsed_ms
            if self.seek_from_ms is not None:
                self.seek_rebuffering_ms += elapsed_ms
        elif self.state == PlayerState.PAUSED and self.joined:
            self.paused_ms += elapsed_ms
        elif self.state == PlayerState.NOT_MONITORED:
            if not self.joined:
                self.ad_ms += elapsed_ms
            if self.seek_from_ms is not None:
                self.seek_ad_ms += elapsed_ms

    def close_seek(self) -> None:
        if self.seek_from_ms is not None and self.seek_after_join:
            self.seeks += 1
            self.restart_total_ms += self.at_ms - self.seek_from_ms - self.seek_ad_ms
        self.seek_from_ms = None

    def change_state(self, state: str) -> None:
        if state == PlayerState.PLAYING:
            if not self.joined:
                self.joined, self.join_ms = True, self.at_ms
            self.close_seek()
        self.state = state

    def apply(self, step: Step) -> None:
        self.advance(step.at_ms)
        match step.event:
            case StateChange(state=state):
                if self.resume_state is not None:
                    self.resume_state = state
                else:
                    self.change_state(state)
            case AdBreakStart():
                if self.resume_state is None:
                    self.resume_state, self.state = self.state, PlayerState.NOT_MONITORED
            case AdBreakEnd():
                if self.resume_state is not None:
                    resume, self.resume_state = self.resume_state, None
                    self.change_state(resume)
            case Bitrate(bitrate_bps=bitrate_bps):
                if self.joined and self.last_bitrate_bps and bitrate_bps != self.last_bitrate_bps:
                    self.switches += 1
                self.bitrate_bps = self.last_bitrate_bps = bitrate_bps
            case Framerate(fps=fps):
                self.fps = fps
            case Playhead(playhead_ms=playhead_ms):
                self.playhead_ms = playhead_ms
            case SeekStart():
                if self.seek_from_ms is None:
                    self.seek_from_ms, self.seek_after_join, self.seek_ad_ms = self.at_ms, self.joined, 0
            case SeekEnd():
                if self.state == PlayerState.PLAYING:
                    self.close_seek()
            case CdnChange(cdn=cdn, edge_server=edge_server, group_id=group_id):
                if cdn and cdn not in self.cdns:
                    self.cdns.append(cdn)
                self.edge_server, self.group_id = edge_server, group_id
            case PlayerError(message=message, fatal=fatal):
                self.errors.append((message, fatal))
                if fatal:
                    (self.fatal_after_join if self.joined else self.fatal_before_join).append(message)
            case End():
                self.ended = True


def fold(steps: Sequence[Step]) -> Outcome:
    """The outcome of a session that played ``steps``: ended by the player when the last one is an
    ``End``, otherwise vanished after the last one (the server ends it at that step's time)."""
    account = _Fold()
    for step in steps:
        account.apply(step)
    start_failure = not account.joined and bool(account.fatal_before_join)
    playback_failure = account.joined and bool(account.fatal_after_join)
    fatal = account.fatal_before_join if start_failure else account.fatal_after_join
    return Outcome(
        joined=account.joined,
        start_failure=start_failure,
        exit_before_start=not account.joined and not start_failure,
        playback_failure=playback_failure,
        business=(start_failure or playback_failure) and any(is_business_message(m) for m in fatal),
        ended_by_player=account.ended,
        duration_ms=account.at_ms,
        startup_ms=account.join_ms - account.ad_ms if account.joined else NEVER_JOINED_START_MS,
        ad_ms=account.ad_ms,
        playing_ms=account.playing_ms,
        rebuffering_ms=account.rebuffering_ms,
        seek_rebuffering_ms=account.seek_rebuffering_ms,
        paused_ms=account.paused_ms,
        seeks=account.seeks,
        restart_ms=(2 * account.restart_total_ms + account.seeks) // (2 * account.seeks) if account.seeks else 0,
        bitrate_switches=account.switches,
        average_bitrate_bps=round(account.bitrate_sum / account.bitrate_weight_ms, 2)
        if account.bitrate_weight_ms
        else 0.0,
        average_fps=round(account.fps_sum / account.fps_weight_ms, 2) if account.fps_weight_ms else 0.0,
        last_playhead_ms=account.playhead_ms,
        cdns=tuple(account.cdns),
        last_edge_server=account.edge_server,
        last_group_id=account.group_id,
        errors=tuple(account.errors),
    )
