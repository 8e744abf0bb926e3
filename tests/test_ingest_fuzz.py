"""Fuzzing the ingest endpoint: malformed JSON, wrong types, huge strings and arrays, unknown event
types, absurd timestamps. Always a clear 4xx or a 202 with per-event results, never a 5xx, and
nothing stored from a rejected event."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reelsight.clock import FakeClock
from reelsight.settings import Settings
from reelsight.store.sqlite import SqliteStore
from tests.conftest import NOW_MS, Credentials, LiveServer, add_account

INGEST = "/ingest/v1/events"
CODES = {"invalid_batch", "payload_too_large", "unauthorized"}

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=30),
    st.text(min_size=3000, max_size=3000, alphabet="x"),
)
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
_types = st.sampled_from(
    ["start", "state", "bitrate", "framerate", "playhead", "seek_start", "seek_end", "cdn", "error", "metadata",
     "heartbeat", "end", "warp", "", "START"]
)  # fmt: skip
_times = st.one_of(
    st.just(NOW_MS), st.integers(NOW_MS - 10**9, NOW_MS + 10**9), st.integers(-(2**63), 2**63), st.just("soon")
)


@st.composite
def events(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 9)) == 0:
        return draw(_json)
    event: dict[str, Any] = {
        "type": draw(_types),
        "client_id": draw(st.sampled_from(["1.2.3.4", "", "1.2.3", "4294967296.1.1.1", "1.2.3.4\n", 5])),
        "session_id": draw(st.sampled_from(["1", "-2147483648", "2147483648", "x", "", None])),
        "seq": draw(st.one_of(st.integers(-5, 5), st.integers(2**31 - 2, 2**33), st.just("1"))),
        "t_ms": draw(_times),
    }
    extra = draw(
        st.dictionaries(
            st.sampled_from(["state", "bitrate_bps", "fps", "playhead_ms", "cdn", "message", "fatal", "content",
                             "metadata", "device", "viewer_id", "user_agent", "surprise"]),
            _json,
            max_size=3,
        )
    )  # fmt: skip
    event.update(extra)
    if draw(st.booleans()):
        event.pop(draw(st.sampled_from(sorted(event))), None)
    return event


@st.composite
def bodies(draw: st.DrawFn, ingest_key: str) -> bytes:
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return draw(st.binary(max_size=200))
    if kind == 1:
        return json.dumps(draw(_json)).encode()
    envelope: dict[str, Any] = {
        "v": draw(st.sampled_from([1, 1, 1, 2, "1"])),
        "ingest_key": draw(st.sampled_from([ingest_key, ingest_key, "ik_wrong", ""])),
        "sent_at_ms": draw(_times),
        "events": draw(st.lists(events(), max_size=12)),
    }
    if draw(st.integers(0, 5)) == 0:
        envelope.pop(draw(st.sampled_from(sorted(envelope))))
    return json.dumps(envelope).encode()


@pytest.fixture
def fuzz_server(db_path: str, store: SqliteStore, clock: FakeClock) -> Iterator[tuple[LiveServer, Credentials]]:
    creds = add_account(store, "fuzz")
    with LiveServer(Settings(db=db_path, ingest_max_batch_bytes=20_000, ingest_max_events=10), store, clock) as live:
        yield live, creds


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(data=st.data())
def test_ingest_never_fails_and_stores_only_accepted_events(
    fuzz_server: tuple[LiveServer, Credentials], db_path: str, data: st.DataObject
) -> None:
    live, creds = fuzz_server
    body = data.draw(bodies(creds.account.ingest_key))
    with sqlite3.connect(db_path) as conn:
        before = conn.execute("SELECT count(*) FROM live_events").fetchone()[0]
        ended_before = conn.execute("SELECT count(*) FROM sessions").fetchone()[0]
    r = httpx.post(live.url + INGEST, content=body, headers={"content-type": "application/json"}, timeout=30)
    assert r.status_code in (202, 400, 401, 413), (r.status_code, r.text)
    payload = r.json()
    with sqlite3.connect(db_path) as conn:
        after = conn.execute("SELECT count(*) FROM live_events").fetchone()[0]
        ended_after = conn.execute("SELECT count(*) FROM sessions").fetchone()[0]
    if r.status_code == 202:
        statuses = [x["status"] for x in payload["results"]]
        assert set(statuses) <= {"accepted", "duplicate", "late", "rejected"}
        assert all("reason" in x for x in payload["results"] if x["status"] == "rejected")
        accepted = statuses.count("accepted")
        # Accepted events are logged, unless their session ended in the same batch (then it was stored).
        assert after - before <= accepted
        assert after - before == accepted or ended_after > ended_before
    else:
        assert after == before
        assert ended_after == ended_before
        if r.status_code == 401:
            assert payload == {"message": "unknown ingest key", "code": "unauthorized"}
        else:
            assert payload["code"] in CODES
            assert isinstance(payload["message"], str)
