"""How soon a session ended by ingest can be read: ``POST /ingest/v1/events`` to ``GET .../sessions/content``.

Issue 9's ClickHouse target: a session ended by ingest is queryable within 5 s. On ClickHouse the
ended session goes from the node's SQLite live-session log to an outbox, which the server drains into
the store about twice a second (``OUTBOX_DRAIN_INTERVAL_S``); on SQLite it lands in the sessions table
in the commit that ends it, so SQLite is the baseline.

For each backend (``--backends``, default both) the run makes a fresh store under
``bench/data/ingest-to-query/``, creates an account with the CLI (``reelsight accounts create --json``;
before the server starts: a chDB directory belongs to one process), and starts ``reelsight serve`` on
it (``--db FILE``, or ``--store chdb:///DIR`` with a node file beside it). Then, for each of
``--sessions`` sessions, alternating the backends: one native batch with the session's ``start`` and
``state: playing``, a pause, one batch with its ``end``; from the ``end`` batch's 202 the read API is
polled (``client_id`` + ``session_id``, default 3-hour window) until the session is there. The delay
counts from the 202 to the answer that held it; each poll's duration bounds the resolution (printed).
Run: ``.venv/bin/python bench/bench_ingest_to_query.py`` (about a minute). Results: ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

from bench_sessions_api import BACKENDS, DATA_DIR, REELSIGHT, percentile, running_server
from benchutil import code_version
from reelsight.background import OUTBOX_DRAIN_INTERVAL_S
from reelsight.web.sessions_route import PATH

TARGET_QUERYABLE_S = 5.0
POLL_PAUSE_S = 0.005  # between polls
GIVE_UP_S = 60.0
PLAY_MS = 300  # between the start batch and the end batch


def _store_options(backend: str, root: Path) -> list[str]:
    if backend == "sqlite":
        return ["--db", str(root / "sqlite.db")]
    return ["--store", f"chdb://{root / 'chdb'}", "--db", str(root / "chdb-node.db")]


def _create_account(options: Sequence[str]) -> dict[str, str]:
    out = subprocess.run(
        [str(REELSIGHT), *options, "accounts", "create", "itq", "--json"], capture_output=True, text=True, check=True
    ).stdout
    created: dict[str, str] = json.loads(out)
    return created


class Backend:
    """One server under test and the account made for it."""

    def __init__(self, name: str, url: str, account: dict[str, str]) -> None:
        self.name = name
        self.ingest_key = account["ingest_key"]
        self.client = httpx.Client(base_url=url, timeout=30)
        self.auth = (account["key_id"], account["secret"])
        self.delays_s: list[float] = []
        self.from_send_s: list[float] = []
        self.polls: list[int] = []
        self.poll_ms: list[float] = []

    def _post(self, events: list[dict[str, object]]) -> None:
        body = {"v": 1, "ingest_key": self.ingest_key, "sent_at_ms": int(time.time() * 1000), "events": events}
        response = self.client.post("/ingest/v1/events", json=body)
        if response.status_code != 202:
            raise RuntimeError(f"{self.name}: ingest answered {response.status_code}: {response.text[:300]}")
        outcome = response.json()
        if outcome.get("rejected"):
            raise RuntimeError(f"{self.name}: events rejected: {outcome}")

    def one_session(self, rng: random.Random, number: int) -> None:
        client_id = ".".join(str(rng.randrange(2**32)) for _ in range(4))
        session_id = str(number + 1)
        ids = {"client_id": client_id, "session_id": session_id}
        start_ms = int(time.time() * 1000)
        start = {
            "type": "start",
            **ids,
            "seq": 0,
            "t_ms": start_ms,
            "content": {"asset": f"bench asset {number}", "stream_url": "https://cdn.example/a.m3u8", "length_ms": 0},
            "device": {"os": "iOS", "hardware_type": "Mobile Phone"},
            "viewer_id": f"viewer-{number}",
        }
        self._post([start, {"type": "state", **ids, "seq": 1, "t_ms": start_ms + 10, "state": "playing"}])
        time.sleep(PLAY_MS / 1000)
        sent = time.perf_counter()
        self._post([{"type": "end", **ids, "seq": 2, "t_ms": int(time.time() * 1000)}])
        acked = time.perf_counter()
        polls = 0
        while True:
            polls += 1
            t0 = time.perf_counter()
            response = self.client.get(PATH, params=ids, auth=self.auth)
            done = time.perf_counter()
            self.poll_ms.append((done - t0) * 1000)
            if response.status_code != 200:
                raise RuntimeError(f"{self.name}: read answered {response.status_code}: {response.text[:300]}")
            if response.json()["sessions"]:
                break
            if done - acked > GIVE_UP_S:
                raise RuntimeError(f"{self.name}: session {client_id}.{session_id} not readable after {GIVE_UP_S} s")
            time.sleep(POLL_PAUSE_S)
        self.delays_s.append(done - acked)
        self.from_send_s.append(done - sent)
        self.polls.append(polls)

    def close(self) -> None:
        self.client.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", default=",".join(BACKENDS), help="comma-separated: sqlite, chdb [both]")
    parser.add_argument("--sessions", type=int, default=20, help="sessions per backend [20]")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    names = [b.strip() for b in args.backends.split(",") if b.strip()]
    if not names or any(b not in BACKENDS for b in names):
        parser.error(f"--backends is a comma-separated list of {', '.join(BACKENDS)}")

    print(
        f"code: {code_version()}; {args.sessions} sessions per backend; outbox drain every {OUTBOX_DRAIN_INTERVAL_S} s"
    )
    root = DATA_DIR / "ingest-to-query"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    rng = random.Random(args.seed)
    backends: list[Backend] = []
    with contextlib.ExitStack() as stack:
        for name in names:
            options = _store_options(name, root)
            account = _create_account(options)
            _proc, url = stack.enter_context(running_server(options, root / f"server-{name}.log"))
            backends.append(Backend(name, url, account))
        for number in range(args.sessions):
            for backend in backends if number % 2 == 0 else backends[::-1]:
                backend.one_session(rng, number)
        for backend in backends:
            backend.close()

    print()
    print(
        "| backend | sessions | ack → readable p50 / p95 / max s | end sent → readable p50 / max s | polls p50 / max"
        " | one poll p50 / max ms | target |"
    )
    print("|---|--:|--:|--:|--:|--:|---|")
    for b in backends:
        d, s = b.delays_s, b.from_send_s
        if b.name == "chdb":
            ok = max(d) < TARGET_QUERYABLE_S
            target = f"max < {TARGET_QUERYABLE_S:g} s {'pass' if ok else '**FAIL**'}"
        else:
            target = "baseline"
        print(
            f"| {b.name} | {len(d)} | {statistics.median(d):.3f} / {percentile(d, 95):.3f} / {max(d):.3f}"
            f" | {statistics.median(s):.3f} / {max(s):.3f} | {statistics.median(b.polls):.0f} / {max(b.polls)}"
            f" | {statistics.median(b.poll_ms):.1f} / {max(b.poll_ms):.1f} | {target} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
