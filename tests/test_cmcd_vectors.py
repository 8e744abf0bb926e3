"""CMCD v2 reports against hand-computed vectors: one JSON file per case in ``tests/vectors/cmcd/``.

A vector holds the report lines exactly as a player sends them (one line per POST, in arrival order,
each with its receive time) and the account's business-error patterns. Each line goes through the
real decoder (``ingest/cmcd.py``); the events are folded and summarized as
``tests/test_sessionizer_vectors.py`` folds its vectors, and the same lines are also posted one per
round through the real live registry. Both documents must have the vector's expected fields.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import msgspec
import pytest

from reelsight.ingest import cmcd
from reelsight.ingest.decoded import DecodedBatch
from reelsight.ingest.events import End, Event, Start
from reelsight.sessions.context import BusinessRules, Enrichment
from reelsight.sessions.document import SessionDocument
from reelsight.sessions.live import BY_EXPIRATION, BY_PLAYER, IncomingBatch, LiveRegistry
from reelsight.store.sqlite.live_log import SqliteLiveLog
from tests.test_live_registry import ACCOUNT, TIMEOUT_MS, Harness
from tests.test_sessionizer_vectors import ENRICHMENT, VECTORS_DIR, load_vector, run_vector
from tests.vector_checks import assert_document_matches, assert_expected_is_complete

CMCD_VECTORS_DIR = VECTORS_DIR / "cmcd"
CMCD_VECTOR_PATHS = sorted(CMCD_VECTORS_DIR.glob("*.json"))
DOCS_DIR = Path(__file__).parent.parent / "docs"


def decode(vector: dict[str, Any]) -> list[DecodedBatch]:
    """Each POST's decoded batch, in arrival order: one newline-terminated line per POST (batchSize 1)."""
    batches = []
    for report in vector["reports"]:
        reports, refused = cmcd.parse_body(f"{report['line']}\n".encode(), "application/cmcd", max_lines=1)
        batch = cmcd.decode_reports(reports, refused, receive_ms=report["receive_ms"])
        assert batch.rejected == {}, (report["line"], batch.rejected)
        batches.append(batch)
    return batches


def fold(vector: dict[str, Any]) -> SessionDocument:
    """The events as the caller hands them to the sessionizer, folded by ``run_vector``.

    The caller keeps each sequence number once (they derive from ``sn``, so a resent report is a
    duplicate); the fold orders them by ``(ts, seq)`` and ignores what follows an ``End``. A session
    with an ``End`` ends "By Player" at it; any other ends "By Expiration" at its last report."""
    seen: set[int] = set()
    events: list[Event] = []
    for batch in decode(vector):
        for _index, event in batch.events:
            if event.seq not in seen:
                seen.add(event.seq)
                events.append(event)
    ends = [event.t_ms for event in events if isinstance(event, End)]
    return run_vector(
        {
            "events": msgspec.to_builtins(events),
            "rules": vector["rules"],
            "ended_status": BY_PLAYER if ends else BY_EXPIRATION,
            "end_ms": min(ends) if ends else max(event.t_ms for event in events),
        }
    )


def _enrich(*, start: Start | None, user_agent: str, ip: str, ip_privacy: str) -> Enrichment:
    return ENRICHMENT


def through_the_registry(vector: dict[str, Any], tmp_path: Path) -> SessionDocument:
    """The lines posted one per round at their receive times through the live registry over SQLite, then
    the session timeout passes; the one stored document."""
    harness = Harness(tmp_path / "live.db")
    try:
        rules = BusinessRules(vector["rules"]["business_error_patterns"])
        registry = LiveRegistry(SqliteLiveLog(harness.store), _enrich, lambda _account: rules, timeout_ms=TIMEOUT_MS)
        for report, batch in zip(vector["reports"], decode(vector), strict=True):
            receive_ms = report["receive_ms"]
            registry.process([IncomingBatch(ACCOUNT, receive_ms, "", "", batch.events, batch.claims)], receive_ms)
        registry.process([], vector["reports"][-1]["receive_ms"] + TIMEOUT_MS + 1000)
        (document,) = harness.stored()
        return document
    finally:
        harness.close()


def test_there_are_enough_vectors() -> None:
    assert len(CMCD_VECTOR_PATHS) >= 12


@pytest.mark.parametrize("path", CMCD_VECTOR_PATHS, ids=[p.stem for p in CMCD_VECTOR_PATHS])
def test_vector_is_complete(path: Path) -> None:
    vector = load_vector(path)
    assert {"description", "rules", "reports", "expected"} <= vector.keys()
    assert_expected_is_complete(vector["expected"])
    assert all(report.keys() == {"receive_ms", "line"} for report in vector["reports"])


@pytest.mark.parametrize("path", CMCD_VECTOR_PATHS, ids=[p.stem for p in CMCD_VECTOR_PATHS])
def test_vector(path: Path) -> None:
    vector = load_vector(path)
    assert_document_matches(fold(vector), vector["expected"])


@pytest.mark.parametrize("path", CMCD_VECTOR_PATHS, ids=[p.stem for p in CMCD_VECTOR_PATHS])
def test_vector_through_the_live_registry(path: Path, tmp_path: Path) -> None:
    vector = load_vector(path)
    assert_document_matches(through_the_registry(vector, tmp_path), vector["expected"])


def test_the_category_from_st_of_a_later_report_through_the_live_registry(tmp_path: Path) -> None:
    vector = load_vector(CMCD_VECTORS_DIR / "shaka_startup_buffering_is_start_time.json")
    assert "st=" not in vector["reports"][0]["line"]
    document = through_the_registry(vector, tmp_path)
    assert document.content_info.category == vector["expected"]["content_info"]["category"] == "VoD"


def test_docs_state_the_cmcd_rules_with_their_vectors() -> None:
    """``docs/metrics.md`` has a "CMCD reports" section linking every CMCD vector (no dead link), and
    ``docs/ingest-cmcd.md`` points at it."""
    metrics = (DOCS_DIR / "metrics.md").read_text()
    section = metrics.split("\n## CMCD reports\n", 1)[1].split("\n## ", 1)[0]
    links = set(re.findall(r"\(\.\./tests/vectors/cmcd/([^)]+\.json)\)", section))
    assert {path.name for path in CMCD_VECTOR_PATHS} <= links
    assert all((CMCD_VECTORS_DIR / name).is_file() for name in links)
    assert "(metrics.md#cmcd-reports)" in (DOCS_DIR / "ingest-cmcd.md").read_text()
