"""What a simulated session does: the weighted scenario mix and the pacing of scripted time.

Scripted durations are wall-clock (a session's events are sent as they happen), so they are short:
a demo shows results within a minute.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from reelsight.generate.population import Weighted


class Scenario(StrEnum):
    SMOOTH = "smooth"  # startup, steady play, end
    ABR_SWITCHES = "abr_switches"  # the bitrate climbs (and sometimes drops) the ladder
    REBUFFERING = "rebuffering"  # stalls after joining, the ABR steps down, frame rate dips
    SEEKS = "seeks"  # seek_start, buffering, playing, seek_end (on-demand content only)
    PAUSES = "pauses"  # the viewer pauses and resumes
    START_FAILURE = "start_failure"  # a fatal error before the first frame
    PLAYBACK_FAILURE = "playback_failure"  # a fatal error after joining
    EXIT_BEFORE_START = "exit_before_start"  # the viewer leaves during startup (or the pre-roll ad)
    VANISH = "vanish"  # the player stops reporting mid-session: the server expires it


# Session shares in percent. Failures are far more frequent than in real traffic so that a short
# demo shows every kind of session.
SCENARIO_WEIGHTS: dict[Scenario, float] = {
    Scenario.SMOOTH: 26,
    Scenario.ABR_SWITCHES: 16,
    Scenario.REBUFFERING: 14,
    Scenario.SEEKS: 11,
    Scenario.PAUSES: 11,
    Scenario.START_FAILURE: 6,
    Scenario.PLAYBACK_FAILURE: 5,
    Scenario.EXIT_BEFORE_START: 6,
    Scenario.VANISH: 5,
}

# Fatal messages. The account must list BUSINESS_ERROR_PATTERNS (the demo account does) for the
# business ones to be served as business failures; no technical message matches them.
BUSINESS_START_FAILURES: tuple[str, ...] = ("Geo-blocked content", "Entitlement check failed")
BUSINESS_PLAYBACK_FAILURES: tuple[str, ...] = ("Concurrent stream limit reached", "Entitlement check failed")
TECH_START_FAILURES: tuple[str, ...] = ("Manifest 404", "DRM license error", "Network timeout")
TECH_PLAYBACK_FAILURES: tuple[str, ...] = ("Segment 404", "Decoder error", "Network timeout")
BUSINESS_ERROR_PATTERNS: tuple[str, ...] = ("geo-blocked", "entitlement", "concurrent stream")
BUSINESS_SHARE = 0.4


class ScenarioMix:
    """Draws scenarios in proportion to their weights (default: :data:`SCENARIO_WEIGHTS`)."""

    def __init__(self, weights: Mapping[Scenario, float] | None = None) -> None:
        self.weights = dict(SCENARIO_WEIGHTS if weights is None else weights)
        self._draw = Weighted(self.weights.items())

    def choose(self, rng: random.Random) -> Scenario:
        return self._draw.pick(rng)


def is_business_message(message: str) -> bool:
    folded = message.casefold()
    return any(pattern in folded for pattern in BUSINESS_ERROR_PATTERNS)


@dataclass(frozen=True)
class Pacing:
    """Ranges (min, max) of scripted wall-clock durations, in seconds, drawn uniformly."""

    playback_s: tuple[float, float] = (5.0, 40.0)  # total playing time of a joined session
    startup_s: tuple[float, float] = (0.25, 4.0)  # bounds of the (log-normal) video start time
    ad_s: tuple[float, float] = (2.0, 6.0)  # a pre-roll ad break
    stall_s: tuple[float, float] = (0.5, 3.0)  # one rebuffering stall
    pause_s: tuple[float, float] = (1.0, 5.0)  # one pause
    seek_buffer_s: tuple[float, float] = (0.2, 1.5)  # buffering after a seek
    think_s: tuple[float, float] = (0.5, 3.0)  # between two sessions of a player
    heartbeat_s: float = 5.0  # longest silence while a session is open
    playhead_s: float = 3.0  # playhead report period while playing on-demand content

    def __post_init__(self) -> None:
        for name in ("playback_s", "startup_s", "ad_s", "stall_s", "pause_s", "seek_buffer_s", "think_s"):
            low, high = getattr(self, name)
            if not 0 <= low <= high:
                raise ValueError(f"{name} must be a range 0 <= min <= max, got {(low, high)}")
        if self.heartbeat_s <= 0 or self.playhead_s <= 0:
            raise ValueError("heartbeat_s and playhead_s must be positive")

    @classmethod
    def quick(cls) -> Pacing:
        """Sessions of a few seconds (tests, smoke runs): every scenario within a short run."""
        return cls(
            playback_s=(1.5, 4.0),
            startup_s=(0.2, 1.2),
            ad_s=(0.4, 1.2),
            stall_s=(0.3, 0.8),
            pause_s=(0.3, 0.9),
            seek_buffer_s=(0.2, 0.6),
            think_s=(0.1, 0.4),
            heartbeat_s=1.0,
            playhead_s=0.8,
        )


def draw_ms(rng: random.Random, range_s: tuple[float, float]) -> int:
    return round(rng.uniform(*range_s) * 1000)
