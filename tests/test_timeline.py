"""The session timeline: hand-computed vectors (``tests/vectors/timeline/``), its invariants over random
streams, the entry cap, the stored form, and re-folds in the live registry giving the same timeline."""

from __future__ import annotations

import itertools
import json
import random
import sqlite3
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reelsight.ingest.events import Bitrate, End, Event, PlayerState, Start, StateChange, event_sort_key
from reelsight.sessions.context import BusinessRules
from reelsight.sessions.recorder import MAX_TIMELINE_ENTRIES, TimelineRecorder, apply_recorded, build_timeline
from reelsight.sessions.summary import summarize
from reelsight.sessions.timeline import SessionState, apply, new_state
from reelsight.sessions.timeline_codec import STATE_NAMES, Timeline, decode_timeline, encode_timeline
from reelsight.web.timeline_route import render_timeline
from tests.test_live_registry import TIMEOUT_MS, Harness
from tests.test_sessionizer_properties import streams
from tests.test_sessionizer_vectors import ENRICHMENT

VECTORS = sorted((Path(__file__).parent / "vectors" / "timeline").glob("*.json"))
_EVENTS = msgspec.json.Decoder(list[Event])
T0_MS = 1_795_176_000_000


def fold(events: list[Event]) -> tuple[SessionState, TimelineRecorder]:
    state, recorder = new_state(), TimelineRecorder()
    for event in sorted(events, key=event_sort_key):
        apply_recorded(state, recorder, event)
    return state, recorder


def served(events: list[Event], ended_status: str, end_ms: int) -> dict[str, Any]:
    """The endpoint's JSON for the session: its timeline as stored and read back, rendered against its document."""
    state, recorder = fold(events)
    first = events[0]
    doc = summarize(
        state,
        client_id=first.client_id,
        session_id=first.session_id,
        enrichment=ENRICHMENT,
        rules=BusinessRules(()),
        ended_status=ended_status,
        end_ms=end_ms,
    )
    stored = decode_timeline(encode_timeline(build_timeline(recorder, state, end_ms)))
    body = msgspec.json.encode(render_timeline(doc.conviva_session_id, stored, msgspec.json.encode(doc)))
    result: dict[str, Any] = json.loads(body)
    return result


def test_there_are_timeline_vectors() -> None:
    assert len(VECTORS) >= 6


@pytest.mark.parametrize("path", VECTORS, ids=[p.stem for p in VECTORS])
def test_timeline_vector(path: Path) -> None:
    vector = json.loads(path.read_text())
    assert {"description", "ended_status", "end_ms", "events", "expected"} <= vector.keys()
    events = _EVENTS.decode(json.dumps(vector["events"]))
    assert served(events, vector["ended_status"], vector["end_ms"]) == vector["expected"]


def test_docs_link_every_timeline_vector() -> None:
    text = (Path(__file__).parent.parent / "docs" / "metrics.md").read_text()
    for path in VECTORS:
        assert f"(../tests/vectors/timeline/{path.name})" in text, path.name


def _end_ms(events: list[Event]) -> int:
    end = next((e for e in events if isinstance(e, End)), None)
    return end.t_ms if end is not None else events[-1].t_ms


@settings(deadline=None)
@given(stream=streams(), linger_ms=st.sampled_from((0, 1, 45_000)))
def test_states_tile_the_session_and_the_stored_form_round_trips(stream: list[Event], linger_ms: int) -> None:
    end_ms = _end_ms(stream) + linger_ms
    state, recorder = fold(stream)
    timeline = build_timeline(recorder, state, end_ms)
    assert decode_timeline(encode_timeline(timeline)) == timeline
    at = timeline.start_ms
    for span in timeline.states:
        assert span.start_ms == at < span.end_ms
        assert span.state in STATE_NAMES
        at = span.end_ms
    assert at == (timeline.end_ms if timeline.states else timeline.start_ms)
    assert all(a.state != b.state for a, b in itertools.pairwise(timeline.states))
    for spans in (timeline.bitrates, timeline.cdns):
        for a, b in itertools.pairwise(spans):
            assert a.end_ms <= b.start_ms
    for span in [*timeline.bitrates, *timeline.cdns, *timeline.seeks, *timeline.ad_breaks]:
        assert timeline.start_ms <= span.start_ms <= span.end_ms <= timeline.end_ms
    assert [e.index for e in timeline.errors] == list(range(len(state.errors)))
    # the recorder never changes the fold
    plain = new_state()
    for event in sorted(stream, key=event_sort_key):
        apply(plain, event)
    assert plain == state


@settings(deadline=None)
@given(stream=streams())
def test_the_timeline_is_a_function_of_the_events(stream: list[Event]) -> None:
    """Folding the same events again (a re-fold from the log), from copies, gives the same bytes."""
    end_ms = _end_ms(stream)
    state, recorder = fold(stream)
    again_state, again_recorder = fold([msgspec.structs.replace(e) for e in stream])
    first = encode_timeline(build_timeline(recorder, state, end_ms))
    assert encode_timeline(build_timeline(again_recorder, again_state, end_ms)) == first


def test_past_the_entry_cap_the_timeline_is_cut_and_says_where() -> None:
    ids = {"client_id": "1.2.3.4", "session_id": "9"}
    events: list[Event] = [
        Start(**ids, seq=0, t_ms=T0_MS),
        StateChange(**ids, seq=1, t_ms=T0_MS, state=PlayerState.PLAYING),
    ]
    for n in range(2 * MAX_TIMELINE_ENTRIES):  # a bitrate switch every 5 s: one entry each
        events.append(
            Bitrate(**ids, seq=2 + n, t_ms=T0_MS + 5000 * (n + 1), bitrate_bps=1_000_000 + (n % 2) * 1_000_000)
        )
    end_ms = T0_MS + 5000 * (2 * MAX_TIMELINE_ENTRIES + 1)
    events.append(End(**ids, seq=len(events), t_ms=end_ms))
    state, recorder = fold(events)
    assert len(recorder) == MAX_TIMELINE_ENTRIES
    # entry 1 is the state change at T0, entries 2..1000 the first 999 switches; the 1000th switch is cut
    cut_ms = T0_MS + 5000 * MAX_TIMELINE_ENTRIES
    timeline = build_timeline(recorder, state, end_ms)
    assert timeline.truncated_ms == cut_ms
    assert timeline.end_ms == end_ms
    assert timeline.states[-1].end_ms == cut_ms
    assert timeline.bitrates[-1].end_ms == cut_ms
    assert len(timeline.bitrates) == MAX_TIMELINE_ENTRIES - 1
    stored = encode_timeline(timeline)
    assert decode_timeline(stored) == timeline
    assert len(stored) < 10 * MAX_TIMELINE_ENTRIES  # at the cap a few KB (8,023 bytes here)
    assert state.bitrate_switches == 2 * MAX_TIMELINE_ENTRIES - 1  # the metrics are never cut


def test_a_stored_timeline_that_does_not_decode_is_a_value_error() -> None:
    for data in (b"", b"\x91\x02", msgspec.msgpack.encode([2, 0, 0, -1, [], [], [], [], [], []])):
        with pytest.raises(ValueError, match="timeline"):
            decode_timeline(data)


def _stored_timeline(path: str) -> Timeline:
    with sqlite3.connect(path) as conn:
        ((data,),) = conn.execute("SELECT timeline FROM session_docs").fetchall()
    return decode_timeline(data)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stream=streams(), seed=st.integers(0, 2**32 - 1), restart=st.booleans())
def test_any_arrival_order_and_restart_give_the_same_timeline(
    tmp_path_factory: pytest.TempPathFactory, stream: list[Event], seed: int, restart: bool
) -> None:
    """Out-of-order arrivals re-fold from the log; a restart re-folds every live session: the stored
    timeline is the one of the events folded once in order."""
    rng = random.Random(seed)
    h = Harness(tmp_path_factory.mktemp("timeline") / "live.db")
    try:
        end_at = next((i for i, e in enumerate(stream) if isinstance(e, End)), None)
        before_end = stream if end_at is None else stream[:end_at]
        shuffled = rng.sample(before_end, len(before_end))
        cut = rng.randint(0, len(shuffled))
        now = stream[-1].t_ms
        for part in (shuffled[:cut], shuffled[cut:]):
            if part:
                h.send(part, now)
            if restart:
                h.registry = h.new_registry()
                h.registry.recover(now)
        if end_at is not None:
            h.send(stream[end_at:], now)
            kept = stream[: end_at + 1]
        else:
            h.registry.process([], now + TIMEOUT_MS)  # expiry, at the last event
            kept = stream
        state, recorder = fold(kept)
        assert _stored_timeline(h.path) == build_timeline(recorder, state, _end_ms(kept))
    finally:
        h.close()
