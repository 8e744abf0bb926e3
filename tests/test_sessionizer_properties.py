"""Invariants of the sessionizer over random event streams (hypothesis).

Whatever a player reports: exactly one of joined / start failure / exit before video start;
business and tech partition each failure; ratios stay in [0, 100]; time totals are never negative
and never exceed the session; folding and summarizing are deterministic and side-effect free.
"""

from __future__ import annotations

import tracemalloc
from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from reelsight.ingest.events import (
    Bitrate,
    CdnChange,
    Content,
    End,
    Event,
    Framerate,
    MetadataUpdate,
    PlayerError,
    PlayerState,
    Playhead,
    SeekEnd,
    SeekStart,
    Start,
    StateChange,
    event_sort_key,
)
from reelsight.sessions.context import BusinessRules
from reelsight.sessions.document import PERCENT_FIELDS, SessionDocument, decode_document, validate
from reelsight.sessions.summary import summarize
from reelsight.sessions.timeline import SessionState, apply, new_state
from tests.test_sessionizer_vectors import ENRICHMENT

T0_MS = 1_795_176_000_000
CLIENT_ID = "1.2.3.4"
SESSION_ID = "77"
MESSAGES = ("geo-blocked", "Entitlement_denied", "HTTP 500", "decode error", "GEO-BLOCKED here")
PATTERNS = ("geo-blocked", "re:^entitlement(_| )denied", "re:http 5\\d\\d", "re:decode")
STATES = tuple(PlayerState)
# Event kinds after the Start; state changes are drawn more often, as players send them more.
_KINDS = ("state", "state", "state", "state", "bitrate", "framerate", "playhead", "seek_start", "seek_end")
_KINDS += ("cdn", "error", "metadata", "end")

_content = st.builds(
    Content,
    asset=st.sampled_from(("", "A", "B")),
    stream_url=st.sampled_from(("", "https://cdn.example.com/a.m3u8")),
    is_live=st.sampled_from((None, True, False)),
    length_ms=st.sampled_from((0, 1, 60_000, 900_000)),
)
_metadata = st.dictionaries(
    st.sampled_from(("player_name", "app_version", "genre", "season", "device_os", "content_category")),
    st.sampled_from(("", "x", "y")),
    max_size=4,
)


def _body(draw: st.DrawFn) -> dict[str, Any]:
    """The type and payload of one event after the Start."""
    kind = draw(st.sampled_from(_KINDS))
    if kind == "state":
        return {"cls": StateChange, "state": draw(st.sampled_from(STATES))}
    if kind == "bitrate":
        return {"cls": Bitrate, "bitrate_bps": draw(st.sampled_from((0, 800_000, 1_500_000, 3_000_000, 10**10)))}
    if kind == "framerate":
        return {"cls": Framerate, "fps": draw(st.sampled_from((0.0, 23.976, 30.0, 60.0, 1000.0)))}
    if kind == "playhead":
        return {"cls": Playhead, "playhead_ms": draw(st.integers(0, 10**11))}
    if kind == "seek_start":
        return {"cls": SeekStart}
    if kind == "seek_end":
        return {"cls": SeekEnd}
    if kind == "cdn":
        return {
            "cls": CdnChange,
            "cdn": draw(st.sampled_from(("", "AKAMAI", "FASTLY", "INHOUSE"))),
            "edge_server": draw(st.sampled_from(("", "e1", "e2"))),
        }
    if kind == "error":
        return {"cls": PlayerError, "message": draw(st.sampled_from(MESSAGES)), "fatal": draw(st.booleans())}
    if kind == "metadata":
        content = draw(st.none() | _content)
        return {"cls": MetadataUpdate, "content": content, "metadata": draw(_metadata)}
    return {"cls": End}


@st.composite
def streams(draw: st.DrawFn) -> list[Event]:
    """A Start, then up to 40 events at non-decreasing times, in (t_ms, seq) order."""
    ids = {"client_id": CLIENT_ID, "session_id": SESSION_ID}
    t_ms = T0_MS + draw(st.integers(0, 10_000))
    events: list[Event] = [
        Start(**ids, seq=0, t_ms=t_ms, content=draw(_content), viewer_id="v", metadata=draw(_metadata))
    ]
    for seq in range(1, draw(st.integers(0, 40)) + 1):
        t_ms += draw(st.sampled_from((0, 0, 1, 7, 250, 1000, 30_000, 600_000)))
        body = _body(draw)
        cls = body.pop("cls")
        events.append(cls(**ids, seq=seq, t_ms=t_ms, **body))
    return sorted(events, key=event_sort_key)


@st.composite
def sessions(draw: st.DrawFn) -> tuple[list[Event], BusinessRules, str, int]:
    """A stream with how it ended: by the player at its End, or by expiration."""
    events = draw(streams())
    rules = BusinessRules(draw(st.lists(st.sampled_from(PATTERNS), unique=True)))
    end = next((e for e in events if isinstance(e, End)), None)
    if end is not None:
        return events, rules, "By Player", end.t_ms
    # Expired: the caller last heard from the player at its last event, or later (a report without events).
    return events, rules, "By Expiration", events[-1].t_ms + draw(st.sampled_from((0, 0, 1, 45_000)))


def fold(events: list[Event]) -> SessionState:
    state = new_state()
    for event in events:
        apply(state, event)
    return state


def document(events: list[Event], rules: BusinessRules, ended_status: str, end_ms: int) -> SessionDocument:
    return summarize(
        fold(events),
        client_id=CLIENT_ID,
        session_id=SESSION_ID,
        enrichment=ENRICHMENT,
        rules=rules,
        ended_status=ended_status,
        end_ms=end_ms,
    )


def joined_in(events: list[Event]) -> bool:
    """Independent oracle: a `playing` report before any End."""
    for event in events:
        if isinstance(event, End):
            return False
        if isinstance(event, StateChange) and event.state is PlayerState.PLAYING:
            return True
    return False


@settings(deadline=None)
@given(sessions())
def test_exactly_one_outcome_and_failures_partition(session: tuple[list[Event], BusinessRules, str, int]) -> None:
    doc = document(*session)
    status = doc.status_info
    joined = doc.lifetime_metrics.video_start_time_ms != -3000
    assert joined == joined_in(session[0])
    assert [joined, status.is_video_start_failure, status.is_exit_before_video_start].count(True) == 1
    for kind in ("start", "playback"):
        failed = getattr(status, f"is_video_{kind}_failure")
        business = getattr(status, f"is_video_{kind}_failure_business")
        tech = getattr(status, f"is_video_{kind}_failure_tech")
        assert [business, tech].count(True) == (1 if failed else 0)
    if status.is_video_playback_failure:
        assert joined
    assert validate(doc) == doc
    assert decode_document(msgspec.json.encode(doc)) == doc


@settings(deadline=None)
@given(sessions())
def test_ratios_and_totals_are_bounded(session: tuple[list[Event], BusinessRules, str, int]) -> None:
    doc = document(*session)
    m = doc.lifetime_metrics
    duration_ms = doc.timestamps.end.epoch_ms - doc.timestamps.start.epoch_ms
    assert duration_ms >= 0
    for name in PERCENT_FIELDS:
        assert 0 <= getattr(m, name) <= 100, name
    for name in (
        "playing_time_ms",
        "rebuffering_time_ms",
        "connection_induced_rebuffering_time_ms",
        "paused_time_ms",
        "video_restart_time_ms",
        "bitrate_switches_count",
    ):
        assert getattr(m, name) >= 0, name
    assert m.playing_time_ms + m.rebuffering_time_ms + m.paused_time_ms <= duration_ms
    assert m.connection_induced_rebuffering_time_ms <= m.rebuffering_time_ms
    assert m.connection_induced_rebuffering_ratio_percent <= m.rebuffering_ratio_percent
    assert m.video_start_time_ms == -3000 or 0 <= m.video_start_time_ms <= duration_ms
    assert m.video_restart_time_ms <= duration_ms
    assert m.last_play_head_time_ms >= -1
    assert 0 <= m.average_framerate_fps <= 1000
    assert 0 <= m.average_peak_bitrate_bps <= 10**10


@settings(deadline=None)
@given(sessions())
def test_folding_and_summarizing_are_deterministic(session: tuple[list[Event], BusinessRules, str, int]) -> None:
    events, rules, ended_status, end_ms = session
    assert fold(events) == fold(events)
    assert document(*session) == document(*session)
    state = fold(events)
    before = msgspec.msgpack.encode(state)
    kwargs: dict[str, Any] = {
        "client_id": CLIENT_ID,
        "session_id": SESSION_ID,
        "enrichment": ENRICHMENT,
        "rules": rules,
        "ended_status": ended_status,
        "end_ms": end_ms,
    }
    first = summarize(state, **kwargs)
    assert msgspec.msgpack.encode(state) == before  # summarizing changes nothing
    assert summarize(state, **kwargs) == first


@settings(deadline=None)
@given(sessions(), st.data())
def test_summarizing_midway_does_not_change_the_outcome(
    session: tuple[list[Event], BusinessRules, str, int], data: st.DataObject
) -> None:
    """The live registry may summarize a session it later keeps folding (e.g. a metrics preview)."""
    events, rules, ended_status, _end_ms = session
    cut = data.draw(st.integers(0, len(events)))
    state = new_state()
    for event in events[:cut]:
        apply(state, event)
    if cut:
        summarize(
            state,
            client_id=CLIENT_ID,
            session_id=SESSION_ID,
            enrichment=ENRICHMENT,
            rules=rules,
            ended_status=ended_status,
            end_ms=events[cut - 1].t_ms,
        )
    for event in events[cut:]:
        apply(state, event)
    assert state == fold(events)


@settings(deadline=None)
@given(sessions(), st.integers(1, 10**6))
def test_events_after_end_change_nothing(session: tuple[list[Event], BusinessRules, str, int], gap_ms: int) -> None:
    events, rules, ended_status, end_ms = session
    if ended_status != "By Player":
        return
    last = events[-1]
    late: list[Event] = [
        StateChange(
            client_id=CLIENT_ID, session_id=SESSION_ID, seq=10_000, t_ms=last.t_ms + gap_ms, state=PlayerState.PLAYING
        ),
        PlayerError(
            client_id=CLIENT_ID, session_id=SESSION_ID, seq=10_001, t_ms=last.t_ms + gap_ms, message="x", fatal=True
        ),
    ]
    assert document([*events, *late], rules, ended_status, end_ms) == document(events, rules, ended_status, end_ms)


def test_live_states_are_small() -> None:
    """50,000 live sessions must fit well under 500 MB: a typical state stays under 4 KB."""
    ids = {"client_id": CLIENT_ID, "session_id": SESSION_ID}
    content = Content(asset="Detective Memoirs: S1, E1", stream_url="https://cdn.example.com/a.m3u8", length_ms=9)
    count = 2000
    tracemalloc.start()
    try:
        baseline, _peak = tracemalloc.get_traced_memory()
        states = []
        for i in range(count):
            # Fresh strings per session, as decoding each session's events would produce.
            metadata = {"".join(("key_", str(k))): f"value {k} {i}" for k in range(12)}
            events: list[Event] = [
                Start(**ids, seq=0, t_ms=T0_MS, content=content, viewer_id=f"viewer-{i}", metadata=metadata),
                CdnChange(**ids, seq=1, t_ms=T0_MS, cdn="AKAMAI", edge_server=f"edge-{i}.akamai.net", group_id="g"),
                Bitrate(**ids, seq=2, t_ms=T0_MS, bitrate_bps=3_000_000),
                Framerate(**ids, seq=3, t_ms=T0_MS, fps=29.97),
                StateChange(**ids, seq=4, t_ms=T0_MS + 900, state=PlayerState.PLAYING),
                PlayerError(**ids, seq=5, t_ms=T0_MS + 5000, message=f"segment {i} 404", fatal=False),
                Playhead(**ids, seq=6, t_ms=T0_MS + 9000, playhead_ms=8100),
            ]
            state = new_state()
            for event in events:
                apply(state, event)
            del events
            states.append(state)
        used, _peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (used - baseline) / count < 4096
