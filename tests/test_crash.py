"""Crash safety: a real server killed with SIGKILL mid-load and restarted loses no acknowledged event,
and every session ends exactly once."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from reelsight.store.sqlite.documents import add_stored_doc_function
from tests.test_cli import free_port, run
from tests.test_http_processes import alive, http_children

SESSIONS = 30
BATCHES_PER_SESSION = 10


def _events(session: int, batch: int, t0: int) -> list[dict[str, Any]]:
    """Batch ``batch`` of session ``session``: three events, one of them a marker error."""
    ids = {"client_id": f"9.9.9.{session}", "session_id": str(session)}
    t = t0 + batch * 1000
    seq = batch * 3
    events: list[dict[str, Any]] = []
    if batch == 0:
        events.append({"type": "start", **ids, "seq": seq, "t_ms": t, "content": {"asset": "A", "is_live": True}})
    else:
        events.append({"type": "heartbeat", **ids, "seq": seq, "t_ms": t})
    state = "playing" if batch % 2 else "buffering"
    events.append({"type": "state", **ids, "seq": seq + 1, "t_ms": t + 10, "state": state})
    events.append({"type": "error", **ids, "seq": seq + 2, "t_ms": t + 20, "message": f"mark-{batch}", "fatal": False})
    if batch == BATCHES_PER_SESSION - 1 and session % 3:  # two thirds end by player, the rest vanish
        events.append({"type": "end", **ids, "seq": seq + 3, "t_ms": t + 30})
    return events


class Player(threading.Thread):
    """Sends its session's batches in order, retrying each until acknowledged (like a real player)."""

    def __init__(self, session: int, ingest_key: str, url: list[str], t0: int) -> None:
        super().__init__(daemon=True)
        self.session, self.ingest_key, self.url, self.t0 = session, ingest_key, url, t0
        self.acked: list[int] = []

    def run(self) -> None:
        with httpx.Client(timeout=5) as client:
            for batch in range(BATCHES_PER_SESSION):
                body = {
                    "v": 1,
                    "ingest_key": self.ingest_key,
                    "sent_at_ms": int(time.time() * 1000),
                    "events": _events(self.session, batch, self.t0),
                }
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    body["sent_at_ms"] = int(time.time() * 1000)
                    try:
                        if client.post(self.url[0], json=body).status_code == 202:
                            self.acked.append(batch)
                            break
                    except httpx.TransportError:
                        pass
                    time.sleep(0.05)
                time.sleep(0.01)


def _serve(db: str, port: int, http_processes: int, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "REELSIGHT_SESSION_TIMEOUT_S": "2",
        "REELSIGHT_GEOIP_CITY_DB": "",
        "REELSIGHT_GEOIP_ASN_DB": "",
        "REELSIGHT_HTTP_PROCESSES": str(http_processes),
    }
    with log.open("ab") as stderr:
        return subprocess.Popen(
            [sys.executable, "-m", "reelsight.cli", "--db", db, "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )


def _wait_up(server: subprocess.Popen[bytes], port: int, log: Path) -> None:
    """Healthy; a server that exits instead (a port still taken, say) fails at once, with its log."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert server.poll() is None, f"the server exited with {server.returncode}:\n{log.read_text()}"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"the server did not come up:\n{log.read_text()}")


@pytest.mark.parametrize("http_processes", [1, 2])
def test_sigkill_mid_load_loses_no_acknowledged_event(tmp_path: Path, http_processes: int) -> None:
    """With several HTTP processes the SIGKILL hits the coordinator alone: its HTTP processes see
    the link close and stop by themselves, so the restart binds the same port."""
    db = str(tmp_path / "crash.db")
    creds = json.loads(run("--db", db, "accounts", "create", "acme", "--json").stdout)
    port = free_port()
    url = [f"http://127.0.0.1:{port}/ingest/v1/events"]
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    server = _serve(db, port, http_processes, first_log)
    try:
        _wait_up(server, port, first_log)
        orphans = http_children(server.pid)
        assert len(orphans) == (http_processes if http_processes > 1 else 0)
        t0 = int(time.time() * 1000) - 60_000
        players = [Player(s, creds["ingest_key"], url, t0) for s in range(SESSIONS)]
        for p in players:
            p.start()
        while sum(len(p.acked) for p in players) < SESSIONS * BATCHES_PER_SESSION // 3:
            time.sleep(0.01)
        server.send_signal(signal.SIGKILL)  # mid-load: some batches are in flight
        server.wait(10)
        acked_before = sum(len(p.acked) for p in players)
        assert acked_before < SESSIONS * BATCHES_PER_SESSION
        with sqlite3.connect(db) as conn:  # the kill caught sessions mid-way: their state is in the log
            assert conn.execute("SELECT count(*) FROM live_sessions").fetchone()[0] > 0
        server = _serve(db, port, http_processes, second_log)  # at once, on the same port
        _wait_up(server, port, second_log)
        deadline = time.monotonic() + 10
        while any(alive(pid) for pid in orphans):
            assert time.monotonic() < deadline, "HTTP processes outlived their coordinator"
            time.sleep(0.05)
        for p in players:
            p.join(120)
        assert all(len(p.acked) == BATCHES_PER_SESSION for p in players)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # the vanished third expires after 2 s
            with sqlite3.connect(db) as conn:
                if conn.execute("SELECT count(*) FROM sessions").fetchone()[0] == SESSIONS:
                    break
            time.sleep(0.2)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(10)

    with sqlite3.connect(db) as conn:
        add_stored_doc_function(conn)
        rows = conn.execute(
            "SELECT s.conviva_session_id, stored_doc(d.dict_id, d.doc)"
            " FROM sessions s JOIN session_docs d ON d.id = s.doc_id"
        ).fetchall()
        assert conn.execute("SELECT count(*) FROM live_sessions").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM live_events").fetchone() == (0,)
    assert len(rows) == SESSIONS  # every session ended, exactly once
    assert len({csid for csid, _doc in rows}) == SESSIONS
    for csid, doc in rows:
        session = int(csid.rsplit(".", 1)[1])
        parsed = json.loads(doc)
        marks = [e["message"] for e in parsed["status_info"]["errors"]]
        assert marks == [f"mark-{b}" for b in range(BATCHES_PER_SESSION)], csid  # every acked event, once
        expected = "By Player" if session % 3 else "By Expiration"
        assert parsed["status_info"]["ended_status"] == expected, csid
