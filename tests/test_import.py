"""`reelsight import`: validation with line numbers, replace-not-duplicate, and the byte-exact round trip."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import msgspec

from reelsight.generate.sessions import encode_jsonl, generate_sessions
from reelsight.store.sqlite import SqliteStore
from tests.conftest import NOW_MS, PATH, LiveServer, add_account
from tests.factories import make_doc_dict

H = 3_600_000


def run_cli(db_path: str, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "reelsight.cli", "--db", db_path, *args],
        input=stdin,
        capture_output=True,
        timeout=120,
        check=False,
    )


def _count(db_path: str) -> int:
    with sqlite3.connect(db_path) as conn:
        return int(conn.execute("SELECT count(*) FROM sessions").fetchone()[0])


def test_round_trip_is_byte_exact_in_every_field(
    store: SqliteStore, db_path: str, tmp_path: Path, clock: object
) -> None:
    from reelsight.clock import FakeClock
    from reelsight.settings import Settings

    assert isinstance(clock, FakeClock)
    media = add_account(store, "media", viewer_module=True)
    docs = list(generate_sessions(400, seed=11, end_ms=NOW_MS, span_ms=3 * H, ads=0.0))
    lines = b"".join(encode_jsonl(docs))
    (tmp_path / "in.jsonl").write_bytes(lines)
    result = run_cli(db_path, "import", "--account", "media", str(tmp_path / "in.jsonl"))
    assert result.returncode == 0, result.stderr
    assert b"imported 400 sessions, skipped 0 bad lines" in result.stdout

    with LiveServer(Settings(db=db_path), store, clock) as live:
        r = httpx.get(live.url + PATH, auth=media.auth, params={"limit": 1500}, timeout=30)
    served = {s["conviva_session_id"]: s for s in r.json()["sessions"]}
    assert len(served) == 400
    encoder = msgspec.json.Encoder()
    for line in lines.splitlines():
        original = json.loads(line)
        got = served[original["conviva_session_id"]]
        assert list(got) == list(original)  # same keys in the same order
        for key, value in original.items():
            assert encoder.encode(got[key]) == encoder.encode(value), key


def test_bad_lines_are_reported_with_number_and_skipped(store: SqliteStore, db_path: str, tmp_path: Path) -> None:
    add_account(store, "acme")
    good = json.dumps(make_doc_dict(session_id="1", end_ms=NOW_MS - 1000))
    wrong_type = make_doc_dict(session_id="2", end_ms=NOW_MS - 1000)
    wrong_type["lifetime_metrics"]["playing_time_ms"] = "lots"
    missing = make_doc_dict(session_id="3", end_ms=NOW_MS - 1000)
    del missing["geo_info"]
    extra = make_doc_dict(session_id="4", end_ms=NOW_MS - 1000)
    extra["surprise"] = 1
    mismatch = make_doc_dict(session_id="5", end_ms=NOW_MS - 1000)
    mismatch["conviva_session_id"] = "9.9.9.9.5"
    lines = [
        good,
        json.dumps(wrong_type),
        "{not json",
        "",
        json.dumps(missing),
        json.dumps(extra),
        json.dumps(mismatch),
    ]
    (tmp_path / "in.jsonl").write_text("\n".join(lines) + "\n")
    result = run_cli(db_path, "import", "--account", "acme", str(tmp_path / "in.jsonl"))
    assert result.returncode == 1
    assert b"imported 1 sessions, skipped 5 bad lines" in result.stdout
    errors = result.stderr.decode().splitlines()
    assert [e.split(":")[0] for e in errors] == ["line 2", "line 3", "line 5", "line 6", "line 7"]
    assert "playing_time_ms" in errors[0]
    assert "malformed JSON" in errors[1]
    assert "geo_info" in errors[2]
    assert "surprise" in errors[3]
    assert "conviva_session_id" in errors[4]
    assert _count(db_path) == 1


def test_reimport_replaces_and_never_duplicates(store: SqliteStore, db_path: str) -> None:
    add_account(store, "acme")
    data = b"".join(encode_jsonl(generate_sessions(50, seed=3, end_ms=NOW_MS)))
    for _ in range(2):
        result = run_cli(db_path, "import", "--account", "acme", "-", stdin=data)
        assert result.returncode == 0, result.stderr
    assert _count(db_path) == 50


def test_sessions_not_ended_are_stored_but_not_served(store: SqliteStore, db_path: str, clock: object) -> None:
    from reelsight.clock import FakeClock
    from reelsight.settings import Settings

    assert isinstance(clock, FakeClock)
    acme = add_account(store, "acme")
    live_doc = make_doc_dict(session_id="1", end_ms=NOW_MS - 1000, set_paths={"status_info.is_ended": False})
    result = run_cli(db_path, "import", "--account", "acme", "-", stdin=json.dumps(live_doc).encode())
    assert result.returncode == 0, result.stderr
    assert _count(db_path) == 1
    with LiveServer(Settings(db=db_path), store, clock) as live:
        assert httpx.get(live.url + PATH, auth=acme.auth).json() == {"sessions": []}


def test_an_oversized_line_is_rejected_and_the_rest_imported(store: SqliteStore, db_path: str) -> None:
    add_account(store, "acme")
    good = json.dumps(make_doc_dict(session_id="1", end_ms=NOW_MS - 1000)).encode()
    huge = b'{"x": "' + b"a" * 5000 + b'"}'
    result = run_cli(
        db_path, "--max-import-line-bytes", "4000", "import", "--account", "acme", "-", stdin=huge + b"\n" + good
    )
    assert result.returncode == 1
    assert b"line 1: line is longer than 4000 bytes" in result.stderr
    assert _count(db_path) == 1


def test_import_into_an_unknown_account_fails_clearly(db_path: str, store: SqliteStore) -> None:
    result = run_cli(db_path, "import", "--account", "ghost", "-", stdin=b"")
    assert result.returncode == 1
    assert b"no account with name 'ghost'" in result.stderr
