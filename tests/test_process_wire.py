"""The frames between HTTP processes and their coordinator: every message survives the trip, frames
split anywhere are rebuilt, and a broken length is refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reelsight.ingest.events import Content, Device, Heartbeat, Snapshot, Start, StateChange
from reelsight.processes import wire
from reelsight.sessions.seqs import SeqClaim
from reelsight.store.base import Account

ACCOUNT = Account(7, "acme", True, ("geo-blocked", "re:^DRM"), "ik_x", 1_795_176_000_000, "truncate", True)
EVENTS = [
    (
        0,
        Start(
            client_id="1.2.3.4",
            session_id="9",
            seq=0,
            t_ms=1_795_176_000_000,
            content=Content(asset="A", is_live=True),
            device=Device(os="Linux", hardware_type="Desktop"),
            metadata={"tier": "gold"},
        ),
    ),
    (1, StateChange(client_id="1.2.3.4", session_id="9", seq=1, t_ms=1_795_176_000_100, state="playing")),
    (2, Snapshot(client_id="1.2.3.4", session_id="9", seq=2, t_ms=1_795_176_000_200, bitrate_bps=3_000_000)),
    (4, Heartbeat(client_id="1.2.3.4", session_id="9", seq=3, t_ms=1_795_176_000_300)),
]
TO_COORDINATOR: list[wire.ToCoordinator] = [
    wire.Submit(
        1, ACCOUNT, 1_795_176_001_000, "203.0.113.9", "Mozilla/5.0", EVENTS, [SeqClaim("1.2.3.4", "9", 0, 512)]
    ),
    wire.Counts([("conviva", "content", 3), ("cmcd", "stored", 1)], 2),
    wire.StatsQuery(2),
    wire.Check(3),
    wire.Admit(4, "2001:db8::1"),
    wire.Enter(5, 7),
    wire.Leave(7),
]
TO_HTTP: list[wire.ToHttp] = [
    wire.Applied(1, [(0, "accepted"), (1, "duplicate"), (2, "late"), (4, "rejected")]),
    wire.Failed(2, "storage", "disk full"),
    wire.Limited(4, "more than 3 requests in 300 s from this address", 12),
    wire.Done(5),
    wire.Stats(6, [("conviva", "content", 3)], 10, 2, 1, 0, 4, 1, 12),
]


@pytest.mark.parametrize("message", TO_COORDINATOR, ids=lambda m: type(m).__name__)
def test_every_message_to_the_coordinator_round_trips(message: wire.ToCoordinator) -> None:
    (body,) = wire.FrameSplitter().feed(wire.frame(message))
    assert wire.to_coordinator.decode(body) == message


@pytest.mark.parametrize("message", TO_HTTP, ids=lambda m: type(m).__name__)
def test_every_answer_round_trips(message: wire.ToHttp) -> None:
    (body,) = wire.FrameSplitter().feed(wire.frame(message))
    assert wire.to_http.decode(body) == message


@given(st.lists(st.integers(min_value=0, max_value=4000), max_size=12))
def test_frames_split_anywhere_are_rebuilt_in_order(cuts: list[int]) -> None:
    stream = wire.frames(TO_COORDINATOR)
    points = sorted({min(c, len(stream)) for c in cuts})
    splitter = wire.FrameSplitter()
    bodies: list[bytes] = []
    start = 0
    for point in [*points, len(stream)]:
        bodies += splitter.feed(stream[start:point])
        start = point
    assert [wire.to_coordinator.decode(b) for b in bodies] == TO_COORDINATOR


def test_a_frame_announcing_more_than_the_limit_is_refused_before_it_is_buffered() -> None:
    with pytest.raises(wire.FrameTooLarge):
        wire.FrameSplitter().feed((wire.MAX_FRAME_BYTES + 1).to_bytes(4, "big") + b"x")
