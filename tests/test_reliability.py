"""The server's promises as real processes keep them: one owner per store file, a store file lost
under a running server, bounded shutdown, bounded memory against trickled heads, quiet logs."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import PATH
from tests.test_cli import CLI, free_port, run, wait_healthy

INGEST = "/ingest/v1/events"
QUIET_ENV = {"REELSIGHT_GEOIP_CITY_DB": "", "REELSIGHT_GEOIP_ASN_DB": ""}


class Server:
    """``reelsight serve`` (or ``demo``) as a child process; its log goes to a file."""

    def __init__(self, db: str, log: Path, *, command: str = "serve", env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log
        extra = ["--sessions", "10", "--viewers", "0"] if command == "demo" else []
        self._log = log.open("wb")
        self.proc = subprocess.Popen(
            [*CLI, "--db", db, command, "--port", str(self.port), *extra],
            env={**os.environ, **QUIET_ENV, **(env or {})},
            stdout=subprocess.DEVNULL,
            stderr=self._log,
        )

    def wait_up(self) -> Server:
        wait_healthy(self.url, 60)
        return self

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 20) -> float:
        """Send ``sig`` and wait for the exit; returns how long it took."""
        started = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout_s)
        self._log.close()
        return time.monotonic() - started


@contextlib.contextmanager
def serving(db: str, log: Path, **kwargs: Any) -> Iterator[Server]:
    server = Server(db, log, **kwargs)
    try:
        yield server.wait_up()
    finally:
        server.stop(signal.SIGKILL)


@pytest.fixture
def account(db_path: str) -> dict[str, str]:
    created: dict[str, str] = json.loads(run("--db", db_path, "accounts", "create", "acme", "--json").stdout)
    return created


def start_batch(ingest_key: str, session: int, seq: int = 0) -> dict[str, Any]:
    now = int(time.time() * 1000)
    ids = {"client_id": "1.2.3.4", "session_id": str(session)}
    kind: dict[str, Any] = {"type": "start", "content": {"asset": "A"}} if seq == 0 else {"type": "heartbeat"}
    return {"v": 1, "ingest_key": ingest_key, "sent_at_ms": now, "events": [{**kind, **ids, "seq": seq, "t_ms": now}]}


# -- one owner per store file ------------------------------------------------------------------


@pytest.mark.parametrize("second", ["serve", "demo"])
def test_a_second_server_on_the_same_file_is_refused(
    db_path: str, tmp_path: Path, account: dict[str, str], second: str
) -> None:
    with serving(db_path, tmp_path / "first.log") as first:
        other = Server(db_path, tmp_path / "second.log", command=second)
        assert other.proc.wait(30) == 1
        other.stop()
        message = other.log
        assert f"{db_path} is already served by another Reelsight process (pid {first.proc.pid} (serve," in message
        assert "Traceback" not in message
        # the first server is untouched and still owns its live sessions
        assert httpx.post(first.url + INGEST, json=start_batch(account["ingest_key"], 1)).status_code == 202
        with sqlite3.connect(db_path) as conn:
            assert conn.execute("SELECT count(*) FROM live_sessions").fetchone() == (1,)
            assert conn.execute("SELECT count(*) FROM sessions").fetchone() == (0,)


def test_after_kill_9_a_restart_claims_the_file_at_once(db_path: str, tmp_path: Path, account: dict[str, str]) -> None:
    first = Server(db_path, tmp_path / "first.log").wait_up()
    assert httpx.post(first.url + INGEST, json=start_batch(account["ingest_key"], 1)).status_code == 202
    first.stop(signal.SIGKILL)
    started = time.monotonic()
    with serving(db_path, tmp_path / "second.log") as second:
        assert time.monotonic() - started < 30  # at once: no stale lock to wait out
        assert "already served" not in second.log
        assert httpx.post(second.url + INGEST, json=start_batch(account["ingest_key"], 1, 1)).status_code == 202


def test_admin_commands_work_beside_a_running_server(db_path: str, tmp_path: Path, account: dict[str, str]) -> None:
    """accounts, keys and import are safe beside a server: SQLite serializes their writes, they
    never touch the live log, and the server sees their effect."""
    with serving(db_path, tmp_path / "server.log") as server:
        created = run("--db", db_path, "accounts", "create", "beta", "--json")
        assert created.returncode == 0, created.stderr
        beta = json.loads(created.stdout)
        assert httpx.post(server.url + INGEST, json=start_batch(beta["ingest_key"], 5)).status_code == 202

        key = json.loads(run("--db", db_path, "keys", "create", "acme", "--json").stdout)
        auth = (key["key_id"], key["secret"])
        assert httpx.get(server.url + PATH, auth=auth).status_code == 200

        now_ms = int(time.time() * 1000)
        data = run("generate", "--sessions", "40", "--days", "0.05", "--end", str(now_ms)).stdout
        (tmp_path / "s.jsonl").write_text(data)
        imported = run("--db", db_path, "import", "--account", "acme", str(tmp_path / "s.jsonl"))
        assert imported.returncode == 0, imported.stderr
        served = httpx.get(server.url + PATH, auth=auth, params={"limit": 1500}).json()["sessions"]
        assert len(served) == 40

        assert run("--db", db_path, "keys", "disable", key["key_id"]).returncode == 0
        assert httpx.get(server.url + PATH, auth=auth).status_code == 401  # at once
        listed = run("--db", db_path, "accounts", "list")
        assert listed.returncode == 0
        assert "beta" in listed.stdout
        assert "Traceback" not in server.log


# -- the store file lost under a running server ------------------------------------------------


@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_a_store_file_lost_under_a_running_server_stops_acknowledging(
    db_path: str, tmp_path: Path, account: dict[str, str], how: str
) -> None:
    with serving(db_path, tmp_path / "server.log") as server:
        key = account["ingest_key"]
        assert httpx.post(server.url + INGEST, json=start_batch(key, 1)).status_code == 202
        if how == "deleted":
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(db_path + suffix)
        else:
            shutil.copy(db_path, db_path + ".new")
            os.replace(db_path + ".new", db_path)
        deadline = time.monotonic() + 5
        while httpx.get(server.url + "/healthz").status_code == 200:  # noticed within seconds, no traffic
            assert time.monotonic() < deadline, "the lost file was not noticed"
            time.sleep(0.1)
        health = httpx.get(server.url + "/healthz")
        assert health.status_code == 503
        assert health.json()["code"] == "unavailable"
        assert f"{db_path} was {how}" in health.json()["message"]
        answers = [httpx.post(server.url + INGEST, json=start_batch(key, 2 + n)).status_code for n in range(20)]
        assert answers == [503] * 20
        time.sleep(1.5)  # a few more watchdog rounds: still one log line
        log = server.log
    assert log.count("store file lost") == 1, log
    assert f"{db_path} was {how}" in log
    assert "Traceback" not in log
    if how == "replaced":
        with sqlite3.connect(db_path) as conn:  # nothing was written into the file now at the path
            assert conn.execute("SELECT count(*) FROM live_sessions").fetchone() == (1,)


# -- bounded shutdown, memory and logs ---------------------------------------------------------


def test_sigterm_with_a_stalled_upload_exits_within_the_bound(
    db_path: str, tmp_path: Path, account: dict[str, str]
) -> None:
    server = Server(db_path, tmp_path / "server.log", env={"REELSIGHT_SHUTDOWN_GRACE_S": "1"}).wait_up()
    try:
        stalled = socket.create_connection(("127.0.0.1", server.port))
        stalled.sendall(b'POST /ingest/v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{"v": 1,')
        assert httpx.post(server.url + INGEST, json=start_batch(account["ingest_key"], 1)).status_code == 202
        time.sleep(0.2)
        took = server.stop(signal.SIGTERM, timeout_s=15)
        stalled.settimeout(5)
        answer = stalled.recv(65536)
        stalled.close()
    finally:
        server.stop(signal.SIGKILL)
    assert server.proc.returncode == -signal.SIGTERM  # uvicorn re-raises the signal after a clean stop
    assert took < 4, f"SIGTERM took {took:.1f} s"
    assert answer.startswith(b"HTTP/1.1 503 ")  # the stalled upload is told to send again elsewhere
    assert b'"code":"unavailable"' in answer
    log = server.log
    assert "Application shutdown complete" in log  # the ingest worker finished and stopped
    assert "Traceback" not in log
    with sqlite3.connect(db_path) as conn:  # the acknowledged start is durable
        assert conn.execute("SELECT count(*) FROM live_sessions").fetchone() == (1,)


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_trickled_unfinished_heads_do_not_grow_the_server(db_path: str, tmp_path: Path) -> None:
    with serving(db_path, tmp_path / "server.log") as server:
        before = _rss_kib(server.proc.pid)
        chunk = b"v" * 65536
        sockets = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(4)]
        sent = 0
        try:
            for sock in sockets:
                sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Never-Ends: ")
            for _ in range(200):  # up to 4 x 12.5 MB, as the reported attack
                for sock in sockets:
                    with contextlib.suppress(OSError):
                        sock.sendall(chunk)
                        sent += len(chunk)
            after = _rss_kib(server.proc.pid)
        finally:
            for sock in sockets:
                sock.close()
        assert httpx.get(server.url + "/healthz").status_code == 200
    assert after - before < 20_000, f"RSS grew from {before} to {after} KiB after {sent} bytes of headers"


def test_clients_that_disconnect_mid_body_leave_no_traceback(
    db_path: str, tmp_path: Path, account: dict[str, str]
) -> None:
    with serving(db_path, tmp_path / "server.log") as server:
        before = server.log.count("\n")
        for _ in range(20):
            with socket.create_connection(("127.0.0.1", server.port)) as sock:
                sock.sendall(b'POST /ingest/v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n{"v": 1,')
                time.sleep(0.02)
        time.sleep(0.5)
        assert httpx.post(server.url + INGEST, json=start_batch(account["ingest_key"], 1)).status_code == 202
        log = server.log
    assert "Traceback" not in log
    assert log.count("\n") - before <= 1, log


def test_the_cli_refuses_to_run_as_a_second_demo_on_the_file_it_serves(db_path: str, tmp_path: Path) -> None:
    """`demo` claims the file before it writes anything: a second demo changes nothing."""
    with serving(db_path, tmp_path / "first.log", command="demo"):
        with sqlite3.connect(db_path) as conn:
            before = conn.execute("SELECT count(*) FROM sessions").fetchone()
        second = Server(db_path, tmp_path / "second.log", command="demo")
        assert second.proc.wait(30) == 1
        second.stop()
        with sqlite3.connect(db_path) as conn:
            assert conn.execute("SELECT count(*) FROM sessions").fetchone() == before


# -- a full disk ----------------------------------------------------------------------------------


@contextlib.contextmanager
def small_disk(where: Path, size: str) -> Iterator[Path]:
    """A real file system of ``size`` (tmpfs), so ENOSPC is the kernel's, not a simulation."""
    where.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True)
    if mounted.returncode != 0:
        pytest.fail(f"this test mounts a small tmpfs and needs root (as CI runs): {mounted.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def test_a_full_disk_is_503_and_nothing_is_lost_once_space_is_freed(tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk", "6m") as disk:
        db = str(disk / "full.db")
        creds = json.loads(run("--db", db, "accounts", "create", "acme", "--json").stdout)
        with serving(db, tmp_path / "server.log") as server:
            for before in (100, 101, 102):
                assert httpx.post(server.url + INGEST, json=start_batch(creds["ingest_key"], before)).status_code == 202
            filler = disk / "filler"
            with filler.open("wb", buffering=0) as f, contextlib.suppress(OSError):
                while True:  # take every free block
                    f.write(b"\0" * 65536)
            session = 0
            answers: list[int] = []
            for session in range(1, 40):  # new sessions need new pages: the disk refuses them
                r = httpx.post(server.url + INGEST, json=start_batch(creds["ingest_key"], session), timeout=30)
                answers.append(r.status_code)
                if r.status_code == 503:
                    break
            assert answers[-1] == 503, answers
            assert set(answers) <= {202, 503}
            refused = session
            assert httpx.get(server.url + "/healthz").status_code == 200  # full is not lost: it recovers

            filler.unlink()  # space freed: the same batch is taken, with no restart
            again = httpx.post(server.url + INGEST, json=start_batch(creds["ingest_key"], refused), timeout=30)
            assert again.status_code == 202
            log = server.log
        with sqlite3.connect(db) as conn:
            live = {row[0] for row in conn.execute("SELECT session_id FROM live_sessions")}
    acknowledged = {"100", "101", "102", *(str(n) for n, code in enumerate(answers, 1) if code == 202)}
    assert live == acknowledged | {str(refused)}  # every acknowledged session, and the refused one once resent
    assert "Traceback" not in log
    assert "database or disk is full" in log
