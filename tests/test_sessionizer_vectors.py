"""The sessionizer against hand-computed vectors: one JSON file per case in ``tests/vectors/``.

Each vector's events are folded in ``(t_ms, seq)`` order, summarized with one fixed enrichment,
and every expected path (a dotted field path or a whole section) is compared with the document.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import msgspec
import pytest

from reelsight.ingest.events import Event, event_sort_key
from reelsight.sessions.context import BusinessRules, DeviceFields, Enrichment
from reelsight.sessions.document import Asn, Country, GeoInfo, LifetimeMetrics, SessionDocument, State, StatusInfo
from reelsight.sessions.summary import summarize
from reelsight.sessions.timeline import apply, new_state
from tests.vector_checks import assert_document_matches, assert_expected_is_complete

VECTORS_DIR = Path(__file__).parent / "vectors"
VECTOR_PATHS = sorted(VECTORS_DIR.glob("*.json"))
_EVENTS = msgspec.json.Decoder(list[Event])

# The one enrichment every vector is summarized with (a native iPhone app in Chicago).
ENRICHMENT = Enrichment(
    device=DeviceFields(
        hardware_type="Mobile Phone",
        manufacturer="Apple",
        model="iPhone15,4",
        marketing_name="Apple iPhone 15",
        name="Apple iPhone",
        os="iOS",
        os_family="iOS",
        os_version="iOS 17.4",
        browser_name="",
        browser_version="",
    ),
    geo=GeoInfo(
        city="Chicago, Illinois, United States",
        state=State(name="Illinois, United States", code="IL"),
        country=Country(name="United States", code="US"),
        continent="North America",
        postal_code="60609",
        dma="Chicago",
    ),
    asn=Asn(value="7922", description="COMCAST-7922"),
    isp="Comcast",
    ip="203.0.113.7",
    ipv6="",
)


def load_vector(path: Path) -> dict[str, Any]:
    vector: dict[str, Any] = json.loads(path.read_text())
    return vector


def run_vector(vector: dict[str, Any]) -> SessionDocument:
    events = _EVENTS.decode(json.dumps(vector["events"]))
    state = new_state()
    for event in sorted(events, key=event_sort_key):
        apply(state, event)
    first = events[0]
    return summarize(
        state,
        client_id=first.client_id,
        session_id=first.session_id,
        enrichment=ENRICHMENT,
        rules=BusinessRules(vector["rules"]["business_error_patterns"]),
        ended_status=vector["ended_status"],
        end_ms=vector["end_ms"],
    )


def test_there_are_enough_vectors() -> None:
    assert len(VECTOR_PATHS) >= 25


@pytest.mark.parametrize("path", VECTOR_PATHS, ids=[p.stem for p in VECTOR_PATHS])
def test_vector_is_complete(path: Path) -> None:
    """A vector states every field of the sections it is about, so no formula goes unchecked."""
    vector = load_vector(path)
    assert {"description", "rules", "ended_status", "end_ms", "events", "expected"} <= vector.keys()
    assert_expected_is_complete(vector["expected"])


@pytest.mark.parametrize("path", VECTOR_PATHS, ids=[p.stem for p in VECTOR_PATHS])
def test_vector(path: Path) -> None:
    vector = load_vector(path)
    assert_document_matches(run_vector(vector), vector["expected"])


@pytest.mark.parametrize("path", VECTOR_PATHS, ids=[p.stem for p in VECTOR_PATHS])
def test_vector_document_round_trips_as_json(path: Path) -> None:
    """What the sessionizer produces is exactly what the API serves and the store decodes."""
    document = run_vector(load_vector(path))
    assert msgspec.json.decode(msgspec.json.encode(document), type=SessionDocument) == document


def test_docs_link_every_vector_and_field() -> None:
    """``docs/metrics.md`` states every field's rule and points at every vector; no link is dead."""
    docs_path = Path(__file__).parent.parent / "docs" / "metrics.md"
    text = docs_path.read_text()
    links = set(re.findall(r"\(\.\./tests/vectors/([^)]+\.json)\)", text))
    assert {p.name for p in VECTOR_PATHS} <= links
    assert all((VECTORS_DIR / name).is_file() for name in links)
    for struct in (StatusInfo, LifetimeMetrics):
        missing = [name for name in struct.__struct_fields__ if f"`{name}`" not in text and f"`{name}` /" not in text]
        assert not missing or missing == ["is_video_playback_failure_business", "is_video_playback_failure_tech"], (
            missing
        )
