"""The command line as a user runs it: accounts, keys, generate, serve and demo (real processes)."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.conftest import PATH

CLI = [sys.executable, "-m", "reelsight.cli"]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=120, check=False, env={**os.environ, **(env or {})}
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "reelsight"
    assert script.exists() or shutil.which("reelsight")


def test_accounts_create_json_prints_exactly_one_object(db_path: str) -> None:
    r = run("--db", db_path, "accounts", "create", "acme", "--viewer-module", "--business-error", "geo", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert set(out) == {"account", "key_id", "secret", "ingest_key"}
    assert out["account"] == "acme"
    assert r.stdout.strip().count("\n") == 0


def test_account_names_must_be_unique(db_path: str) -> None:
    assert run("--db", db_path, "accounts", "create", "acme").returncode == 0
    again = run("--db", db_path, "accounts", "create", "acme")
    assert again.returncode == 1
    assert "already exists" in again.stderr


def test_keys_create_list_disable(db_path: str) -> None:
    created = json.loads(run("--db", db_path, "accounts", "create", "acme", "--json").stdout)
    second = json.loads(run("--db", db_path, "keys", "create", "acme", "--json").stdout)
    assert second["key_id"] != created["key_id"]
    assert run("--db", db_path, "keys", "disable", second["key_id"]).returncode == 0
    listing = run("--db", db_path, "accounts", "list").stdout
    assert created["key_id"] in listing
    assert f"disabled={second['key_id']}" in listing
    assert run("--db", db_path, "keys", "disable", "rk_missing").returncode == 1
    assert run("--db", db_path, "keys", "create", "ghost").returncode == 1


def test_db_from_environment(tmp_path: Path) -> None:
    db = tmp_path / "env.db"
    assert run("accounts", "create", "acme", env={"REELSIGHT_DB": str(db)}).returncode == 0
    assert db.exists()


def test_generate_is_deterministic_for_a_seed() -> None:
    a = run("generate", "--sessions", "20", "--seed", "5", "--end", "1795176000000")
    b = run("generate", "--sessions", "20", "--seed", "5", "--end", "1795176000000")
    c = run("generate", "--sessions", "20", "--seed", "6", "--end", "1795176000000")
    assert a.returncode == 0, a.stderr
    assert a.stdout == b.stdout
    assert a.stdout != c.stdout
    lines = a.stdout.splitlines()
    content = [line for line in lines if not json.loads(line)["tags"]["selected_dimensions"]["content_session_id"]]
    assert len(content) == 20  # 20 content sessions, and the ads played in them
    assert len(lines) > 20
    plain = run("generate", "--sessions", "20", "--seed", "5", "--end", "1795176000000", "--ads", "0")
    assert len(plain.stdout.splitlines()) == 20
    assert all(json.loads(line)["timestamps"]["end"]["epoch_ms"] < 1795176000000 for line in lines)


@contextmanager
def process(args: list[str], env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, **(env or {})}
    )
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()


def wait_healthy(url: str, deadline_s: float = 60) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)  # also after a non-200 answer (a server still starting), not a busy loop
    raise AssertionError("server did not come up")


def test_serve_answers_with_imported_data(db_path: str, tmp_path: Path) -> None:
    creds = json.loads(run("--db", db_path, "accounts", "create", "acme", "--json").stdout)
    now_ms = int(time.time() * 1000)
    data = run("generate", "--sessions", "300", "--days", "0.1", "--end", str(now_ms)).stdout
    (tmp_path / "s.jsonl").write_text(data)
    assert run("--db", db_path, "import", "--account", "acme", str(tmp_path / "s.jsonl")).returncode == 0
    port = free_port()
    with process(["--db", db_path, "serve", "--port", str(port)]):
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url)
        r = httpx.get(url + PATH, auth=(creds["key_id"], creds["secret"]), params={"limit": 1500})
        assert r.status_code == 200
        assert len(r.json()["sessions"]) == 300


def test_demo_serves_real_data_with_a_working_curl(tmp_path: Path) -> None:
    port = free_port()
    db = str(tmp_path / "demo.db")
    with process(["--db", db, "demo", "--port", str(port), "--sessions", "20000"]) as proc:
        assert proc.stdout is not None
        seen: list[str] = []
        curls: list[str] = []
        deadline = time.monotonic() + 60
        while len(curls) < 3 and time.monotonic() < deadline:  # content, ad sessions, one viewer
            line = proc.stdout.readline()
            seen.append(line)
            if line.strip().startswith("curl "):
                curls.append(line.strip())
        assert len(curls) == 3, "".join(seen)
        wait_healthy(f"http://127.0.0.1:{port}")
        answers = []
        for curl in curls:
            match = re.match(r"curl -u '([^:]+):([^']+)' '([^']+)'", curl)
            assert match, curl
            key_id, secret, url = match.groups()
            r = httpx.get(url, auth=(key_id, secret))
            assert r.status_code == 200, (curl, r.text)
            answers.append(r.json()["sessions"])
        content, ads, viewer = answers
        assert len(content) == 5
        assert all("viewer_id" in s for s in content)
        assert len(ads) == 5  # the generator's ad sessions, through the ad endpoint
        assert all(s["tags"]["selected_dimensions"]["content_session_id"] for s in ads)
        assert len(viewer) >= 2  # a viewer with a history
        assert len({s["viewer_id"] for s in viewer}) == 1


def test_accounts_create_with_privacy_and_business_patterns(db_path: str) -> None:
    ok = run("--db", db_path, "accounts", "create", "acme", "--ip-privacy", "truncate", "--business-error", "re:^geo")
    assert ok.returncode == 0, ok.stderr
    assert "ip_privacy=truncate" in run("--db", db_path, "accounts", "list").stdout
    bad = run("--db", db_path, "accounts", "create", "other", "--business-error", "re:(unclosed")
    assert bad.returncode == 2
    assert "invalid regular expression" in bad.stderr
    assert run("--db", db_path, "accounts", "create", "third", "--ip-privacy", "some").returncode == 2


def test_permissions_at_creation_and_later(db_path: str) -> None:
    assert run("--db", db_path, "accounts", "create", "acme", "--ad-insights").returncode == 0
    assert "permissions=ad_insights\t" in run("--db", db_path, "accounts", "list").stdout
    granted = run("--db", db_path, "accounts", "set", "acme", "--viewer-module")
    assert (granted.returncode, granted.stdout) == (0, "acme\tviewer_module=True\tad_insights=True\n")
    assert "permissions=viewer_module,ad_insights\t" in run("--db", db_path, "accounts", "list").stdout
    assert run("--db", db_path, "accounts", "set", "acme", "--no-viewer-module", "--no-ad-insights").returncode == 0
    assert "permissions=-\t" in run("--db", db_path, "accounts", "list").stdout
    assert run("--db", db_path, "accounts", "set", "acme").returncode == 2  # nothing to set
    missing = run("--db", db_path, "accounts", "set", "nobody", "--ad-insights")
    assert missing.returncode == 1
    assert "no account" in missing.stderr


def test_serve_on_a_clickhouse_store_with_its_checks(tmp_path: Path) -> None:
    """``--store chdb:///DIR``: accounts, import, serve and ``store check`` against ClickHouse in-process
    (each command its own process: chDB allows one engine per process); the live log stays in --db."""
    store = ["--store", f"chdb://{tmp_path / 'ch'}", "--db", str(tmp_path / "live.db")]
    creds = json.loads(run(*store, "accounts", "create", "acme", "--json").stdout)
    now_ms = int(time.time() * 1000)
    data = run("generate", "--sessions", "200", "--days", "0.1", "--end", str(now_ms)).stdout
    (tmp_path / "s.jsonl").write_text(data)
    assert run(*store, "import", "--account", "acme", str(tmp_path / "s.jsonl")).returncode == 0
    port = free_port()
    with process([*store, "serve", "--port", str(port)]):
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url)
        r = httpx.get(url + PATH, auth=(creds["key_id"], creds["secret"]), params={"limit": 1500})
        assert r.status_code == 200
        assert len(r.json()["sessions"]) == 200
    checked = run(*store, "store", "check")
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.splitlines()[-1] == "all checks passed"
    assert "replace on rewrite" in checked.stdout


def test_a_bad_store_url_is_a_usage_error_without_its_password(db_path: str) -> None:
    result = run("--store", "clickhouse://rs:s3cret@host:port/db", "accounts", "list")
    assert result.returncode == 2
    assert "s3cret" not in result.stderr + result.stdout
    assert "port is not a number" in result.stderr
