"""Chaos run of the ingest path: concurrent players, a server killed and restarted under them, and a
check that every acknowledged event is reflected exactly once and every session ended exactly once.

The run creates a fresh SQLite file (and an account, through the real CLI), starts the real
``reelsight serve`` as a child process, and plays ``--sessions`` synthetic sessions through
``POST /ingest/v1/events`` (docs/ingest.md): each sends a sequence of native batches, and every batch
carries a marker, a non-fatal ``error`` event with the message ``mark-<batch>``, so the session's final
document (``status_info.errors``) proves which batches were applied, and how often. Sessions overlap
in time; about two thirds end with an ``end`` event ("By Player"), the rest vanish and must expire
("By Expiration"). A player resends a batch until it gets a 202 (exponential backoff capped at 0.5 s,
on connection errors, timeouts, 429 and 503), like a real player; any other 4xx is a harness error.
A share of the acknowledged batches is sent once more, as if the 202 had been lost: those events
must come back ``duplicate``. Every 202's per-event statuses are kept (``BatchAck``).

Meanwhile a chaos thread, at random (seeded) moments, sends the server SIGKILL or SIGTERM, waits for
it to exit, and starts it again at once on the same file and port (a start refused because the file
is still in use is retried briefly). The seed fixes the sessions and the sequence of pauses and
signals; how many kills fit in ``--duration`` still depends on how fast each restart is, unless
``--sigkills``/``--sigterms`` fix the counts. At the end the chaos stops, every player finishes, every session
ends (the vanished ones after ``session_timeout_s``), the server stops with SIGTERM, and the SQLite
file is read directly: one stored session per player session, its markers exactly the acknowledged
batches, each once and in order, the expected ``ended_status``, and an empty live-session log.
``late`` events would mean a session expired while its player was still sending: the players'
``max ack`` and ``loop lag`` figures tell whether the load generator itself fell behind.

Run: ``.venv/bin/python bench/chaos.py --sessions 200 --duration 60 --seed 1``; exit status 1 if
anything was lost, duplicated or wrong. ``tests/test_chaos.py`` runs a short version with a fixed
number of kills of each kind.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import dataclasses
import json
import os
import random
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

import httpx

from reelsight.store.sqlite.documents import add_stored_doc_function

CLI = [sys.executable, "-m", "reelsight.cli"]
MARK_PREFIX = "mark-"
BACKOFF_FIRST_S = 0.02
BACKOFF_CAP_S = 0.5
BATCH_DEADLINE_S = 90.0  # a batch not acknowledged within this is a harness error (the player gives up)
START_ATTEMPTS = 5  # a start refused (the previous owner still holds the file) is retried this often
HEALTHY_WITHIN_S = 30.0  # a server not answering /healthz within this after its start is a failure
SIGTERM_BOUND_S = 30.0  # a server still running this long after SIGTERM is killed and counted as a hang
MIN_UPTIME_S = 0.3  # the server answers for at least this long between two kills
END_GRACE_S = 30.0  # beyond session_timeout_s, how long the sessions may take to end after the last batch

Json = dict[str, Any]


# -- the workload --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class SessionPlan:
    """One synthetic session: when it starts, how many batches it sends, how far apart, how it ends."""

    session: int
    start_s: float  # offset from the start of the run
    batches: int
    gap_s: float  # pause after each acknowledged batch
    ends_by_player: bool  # the last batch carries an `end` event; otherwise the player vanishes

    @property
    def client_id(self) -> str:
        return f"7.7.{self.session // 65536}.{self.session % 65536}"

    @property
    def expected_end(self) -> str:
        return "By Player" if self.ends_by_player else "By Expiration"


def plan_sessions(count: int, duration_s: float, seed: int) -> list[SessionPlan]:
    """``count`` overlapping sessions spread over ``duration_s``: each lives 10-60 % of it (at least a
    few batches), sends a batch every 0.25-0.75 s, and two thirds of them end by player."""
    rng = random.Random(f"{seed}-sessions")
    plans = []
    for session in range(count):
        gap = rng.uniform(0.25, 0.75)
        lifetime = rng.uniform(0.1, 0.6) * duration_s
        batches = max(3, round(lifetime / gap))
        start = rng.uniform(0.0, max(0.0, duration_s - batches * gap))
        plans.append(SessionPlan(session, start, batches, gap, ends_by_player=rng.random() < 2 / 3))
    return plans


def marker_event(ids: Json, seq: int, t_ms: int, batch: int) -> Json:
    """The non-fatal error that proves batch ``batch`` was applied (its message lands in the document)."""
    return {"type": "error", **ids, "seq": seq, "t_ms": t_ms, "message": f"{MARK_PREFIX}{batch}", "fatal": False}


def marker_batches(doc: Json) -> list[int]:
    """The batches whose markers a session document holds, in the document's order (repeats kept)."""
    errors = doc["status_info"]["errors"]
    return [int(e["message"][len(MARK_PREFIX) :]) for e in errors if e["message"].startswith(MARK_PREFIX)]


def batch_events(plan: SessionPlan, batch: int, seq: int, t_ms: int) -> list[Json]:
    """Batch ``batch`` of a session, its events numbered from ``seq``: the first opens the session, every
    one changes the state or bitrate and carries its marker, the last ends it if the player ends it."""
    ids = {"client_id": plan.client_id, "session_id": str(plan.session)}
    events: list[Json] = []
    if batch == 0:
        content = {"asset": f"Chaos {plan.session % 7}", "stream_url": "https://cdn.example/c.m3u8", "is_live": False}
        events.append({"type": "start", **ids, "seq": seq, "t_ms": t_ms, "content": content, "viewer_id": "chaos"})
        events.append({"type": "state", **ids, "seq": seq + 1, "t_ms": t_ms + 5, "state": "playing"})
    elif batch % 3 == 1:
        events.append({"type": "bitrate", **ids, "seq": seq, "t_ms": t_ms, "bitrate_bps": 1_000_000 * (batch % 5 + 1)})
    elif batch % 3 == 2:
        state = "buffering" if batch % 2 else "playing"
        events.append({"type": "state", **ids, "seq": seq, "t_ms": t_ms, "state": state})
    else:
        events.append({"type": "heartbeat", **ids, "seq": seq, "t_ms": t_ms})
    events.append(marker_event(ids, seq + len(events), t_ms + 10, batch))
    if batch == plan.batches - 1 and plan.ends_by_player:
        events.append({"type": "end", **ids, "seq": seq + len(events), "t_ms": t_ms + 20})
    return events


# -- the server ----------------------------------------------------------------------------------


class ServerStartError(RuntimeError):
    """The server could not be (re)started."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def create_account(db: Path, name: str = "chaos") -> tuple[str, str]:
    """An account through the real CLI (``name``, or ``name-N`` if the file already has one); returns
    its name and ingest key."""
    for attempt in range(20):
        candidate = name if attempt == 0 else f"{name}-{attempt}"
        r = subprocess.run(
            [*CLI, "--db", str(db), "accounts", "create", candidate, "--json"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if r.returncode == 0:
            created = json.loads(r.stdout)
            return str(created["account"]), str(created["ingest_key"])
        if "already exists" not in r.stderr:
            raise ServerStartError(f"accounts create failed: {r.stderr.strip()}")
    raise ServerStartError(f"{db} already has accounts {name} .. {name}-19")


class Server:
    """The real ``reelsight serve`` as a child process on one file and port, stopped and restarted at
    will; its stderr is appended to ``log_path``, each start introduced by a line of its own."""

    def __init__(self, db: Path, port: int, log_path: Path, session_timeout_s: int) -> None:
        self.db, self.port, self.log_path = db, port, log_path
        self.url = f"http://127.0.0.1:{port}"
        self._env = {
            **os.environ,
            "REELSIGHT_SESSION_TIMEOUT_S": str(session_timeout_s),
            "REELSIGHT_GEOIP_CITY_DB": "",
            "REELSIGHT_GEOIP_ASN_DB": "",
        }
        self._log: IO[bytes] = log_path.open("ab")
        self._lock = threading.Lock()
        self._closed = False
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.refused_starts = 0  # starts that exited before answering, then retried
        self.odd_exits: list[str] = []  # exit codes after SIGTERM other than 0

    def _note(self, line: str) -> None:
        now = time.time()
        stamp = time.strftime("%H:%M:%S", time.localtime(now)) + f".{int(now * 1000) % 1000:03d}"
        self._log.write(f"--- chaos {stamp} {line}\n".encode())
        self._log.flush()

    def start(self) -> float:
        """Start the server and wait until ``/healthz`` answers 200; returns the seconds that took.
        A start that exits first (e.g. the file is still owned) is retried a few times."""
        began = time.monotonic()
        for attempt in range(START_ATTEMPTS):
            with self._lock:
                if self._closed:
                    raise ServerStartError("the run is closing")
                self.starts += 1
                self._note(f"start #{self.starts} (attempt {attempt + 1})")
                proc = subprocess.Popen(
                    [*CLI, "--db", str(self.db), "serve", "--port", str(self.port)],
                    env=self._env,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=self._log,
                )
                self.proc = proc
            if self._wait_healthy(proc):
                return time.monotonic() - began
            self.refused_starts += 1
            self._note(f"start #{self.starts} exited with {proc.returncode} before answering")
            time.sleep(0.2 * (attempt + 1))
        raise ServerStartError(f"the server did not start in {START_ATTEMPTS} attempts; see {self.log_path}")

    def _wait_healthy(self, proc: subprocess.Popen[bytes]) -> bool:
        deadline = time.monotonic() + HEALTHY_WITHIN_S
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return False
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return True
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        proc.kill()
        proc.wait()
        raise ServerStartError(f"the server did not answer /healthz within {HEALTHY_WITHIN_S:.0f} s")

    def stop(self, sig: signal.Signals) -> float:
        """Send ``sig`` and wait for the process to exit; returns the seconds it took. A process still
        running ``SIGTERM_BOUND_S`` after SIGTERM is killed and raises ``TimeoutError``."""
        with self._lock:
            proc = self.proc
        if proc is None:
            return 0.0
        self._note(f"{sig.name} to pid {proc.pid}")
        began = time.monotonic()
        proc.send_signal(sig)
        try:
            code = proc.wait(SIGTERM_BOUND_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise TimeoutError(f"pid {proc.pid} still running {SIGTERM_BOUND_S:.0f} s after {sig.name}") from None
        took = time.monotonic() - began
        if sig == signal.SIGTERM and code not in (0, -signal.SIGTERM):  # uvicorn re-raises the signal it handled
            self.odd_exits.append(f"exit {code} after SIGTERM (pid {proc.pid})")
        self._note(f"pid {proc.pid} exited with {code} after {took:.2f} s")
        return took

    def live_sessions(self) -> int | None:
        """The ``reelsight_live_sessions`` gauge, or ``None`` while the server does not answer."""
        try:
            text = httpx.get(self.url + "/metrics", timeout=2).text
        except httpx.TransportError:
            return None
        found = re.search(r"^reelsight_live_sessions (\S+)$", text, re.MULTILINE)
        return int(float(found.group(1))) if found else None

    def close(self) -> None:
        """Kill the child process if it still runs; no start succeeds after this."""
        with self._lock:
            self._closed = True
            proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        self._log.close()


# -- chaos ---------------------------------------------------------------------------------------


@dataclasses.dataclass
class ChaosCounts:
    sigkill: int = 0
    sigterm: int = 0
    restarts: int = 0
    sigterm_exit_s: list[float] = dataclasses.field(default_factory=list)
    restart_s: list[float] = dataclasses.field(default_factory=list)  # signal sent -> healthy again
    errors: list[str] = dataclasses.field(default_factory=list)


class Chaos(threading.Thread):
    """Kills and restarts the server: ``forced`` (an exact list of signals at evenly spread moments of
    the run), or at random moments (1.5-6 s of uptime apart) until the run's ``duration_s``."""

    def __init__(
        self,
        server: Server,
        duration_s: float,
        rng: random.Random,
        abort: threading.Event,
        forced: list[signal.Signals] | None,
    ) -> None:
        super().__init__(name="chaos", daemon=True)
        self.server, self.duration_s, self.rng, self.abort, self.forced = server, duration_s, rng, abort, forced
        self.counts = ChaosCounts()
        self._stop_random = threading.Event()
        self._t0 = time.monotonic()

    def run(self) -> None:
        try:
            self._loop()
        except Exception as exc:  # a failed start, a SIGTERM that hangs: the run cannot go on
            self.counts.errors.append(f"chaos: {exc}")
            self.abort.set()

    def _loop(self) -> None:
        up_since = time.monotonic()
        if self.forced is not None:
            n = len(self.forced)
            for i, sig in enumerate(self.forced):
                at = max(self._t0 + self.duration_s * (i + 1) / (n + 1), up_since + MIN_UPTIME_S)
                if self.abort.wait(max(0.0, at - time.monotonic())):
                    return
                up_since = self._kill_and_restart(sig)
            return
        while True:
            at = up_since + self.rng.uniform(1.5, 6.0)
            if at > self._t0 + self.duration_s:
                return
            if self._stop_random.wait(max(0.0, at - time.monotonic())) or self.abort.is_set():
                return
            up_since = self._kill_and_restart(self.rng.choice((signal.SIGKILL, signal.SIGTERM)))

    def _kill_and_restart(self, sig: signal.Signals) -> float:
        began = time.monotonic()
        took = self.server.stop(sig)
        if sig == signal.SIGKILL:
            self.counts.sigkill += 1
        else:
            self.counts.sigterm += 1
            self.counts.sigterm_exit_s.append(took)
        self.server.start()
        self.counts.restarts += 1
        now = time.monotonic()
        self.counts.restart_s.append(now - began)
        return now

    def finish(self) -> None:
        """Stop: random chaos at once, forced chaos after its last kill (both bounded)."""
        self._stop_random.set()
        bound = 5.0 if self.abort.is_set() else self.duration_s + 2 * (HEALTHY_WITHIN_S + SIGTERM_BOUND_S)
        self.join(bound)
        if self.is_alive():
            self.abort.set()
            self.counts.errors.append("the chaos thread did not finish")


# -- the players ---------------------------------------------------------------------------------


@dataclasses.dataclass
class BatchAck:
    """The 202 a player took as the acknowledgement of one batch."""

    statuses: list[str]  # per event, in the batch's order
    attempts: int  # sends until that 202 (more than 1: an earlier attempt may have been stored)
    sent_ms: int  # wall clock of the first send
    acked_ms: int  # wall clock of the 202
    resent: list[str] | None = None  # statuses of a deliberate second send after the 202


@dataclasses.dataclass
class SessionRecord:
    """What one player saw: per acknowledged batch, the 202's status of each of its events."""

    plan: SessionPlan
    acked: dict[int, BatchAck] = dataclasses.field(default_factory=dict)
    retries: int = 0
    server_errors: int = 0  # 5xx answers other than 503 (retried)
    errors: list[str] = dataclasses.field(default_factory=list)  # harness errors

    def ends_session(self, batch: int) -> bool:
        return self.plan.ends_by_player and batch == self.plan.batches - 1

    def marker_status(self, batch: int) -> str:
        return self.acked[batch].statuses[-2 if self.ends_session(batch) else -1]

    def late_after_lost_ack(self, batch: int) -> bool:
        """Late, and rightly so: the session's `end` batch, resent after an attempt that was stored but
        whose 202 never arrived (the session had ended meanwhile)."""
        ack = self.acked[batch]
        return self.ends_session(batch) and ack.attempts > 1 and set(ack.statuses) == {"late"}

    def must_show(self) -> set[int]:
        """Batches whose marker the session's document must hold, once."""
        return {b for b in self.acked if self.marker_status(b) in ("accepted", "duplicate")}

    def may_show(self) -> set[int]:
        """Batches whose marker the document may hold (at most once)."""
        return self.must_show() | {b for b in self.acked if self.late_after_lost_ack(b)}


class Players:
    """Plays every planned session on one event loop over a bounded pool of connections. After a
    share of its 202s (``resend_share``) a player acts as if that answer had been lost and sends the
    batch again: every event of it must come back ``duplicate`` (``late`` for an `end` batch)."""

    def __init__(
        self, url: str, ingest_key: str, connections: int, seed: int, abort: threading.Event, resend_share: float
    ) -> None:
        self.url = url + "/ingest/v1/events"
        self.ingest_key = ingest_key
        self.connections = connections
        self.rng = random.Random(f"{seed}-players")
        self.abort = abort
        self.resend_share = resend_share
        self.max_loop_lag_s = 0.0
        # Never more requests than connections: httpx's pool scans its whole queue of waiting requests
        # on every change, and a long queue of them makes the players' own loop the bottleneck.
        self._slots = asyncio.Semaphore(connections)

    async def play(self, plans: Sequence[SessionPlan]) -> list[SessionRecord]:
        limits = httpx.Limits(max_connections=self.connections, max_keepalive_connections=self.connections)
        timeout = httpx.Timeout(10.0, connect=2.0, pool=None)
        t0 = time.monotonic()
        watch = asyncio.create_task(self._watch_loop())
        try:
            async with httpx.AsyncClient(limits=limits, timeout=timeout) as client:
                return list(await asyncio.gather(*(self._session(client, plan, t0) for plan in plans)))
        finally:
            watch.cancel()

    async def _watch_loop(self) -> None:
        """How late the players' own event loop runs: a busy load generator delays batches itself."""
        while True:
            before = time.monotonic()
            await asyncio.sleep(0.05)
            self.max_loop_lag_s = max(self.max_loop_lag_s, time.monotonic() - before - 0.05)

    async def _session(self, client: httpx.AsyncClient, plan: SessionPlan, t0: float) -> SessionRecord:
        record = SessionRecord(plan)
        try:
            await asyncio.sleep(max(0.0, t0 + plan.start_s - time.monotonic()))
            seq = 0
            for batch in range(plan.batches):
                events = batch_events(plan, batch, seq, int(time.time() * 1000))
                seq += len(events)
                ack = await self._deliver(client, events, record)
                if ack is None:
                    return record
                record.acked[batch] = ack
                if self.rng.random() < self.resend_share:
                    again = await self._deliver(client, events, record)
                    if again is None:
                        return record
                    ack.resent = again.statuses
                await asyncio.sleep(plan.gap_s)
        except Exception as exc:  # a harness bug must show in the figures, not end the run
            record.errors.append(f"session {plan.session}: {exc!r}")
        return record

    async def _deliver(self, client: httpx.AsyncClient, events: list[Json], record: SessionRecord) -> BatchAck | None:
        """Send a batch until a 202 acknowledges it, or ``None`` if the player gave up."""
        body: Json = {"v": 1, "ingest_key": self.ingest_key, "sent_at_ms": 0, "events": events}
        first_sent_ms = int(time.time() * 1000)
        deadline = time.monotonic() + BATCH_DEADLINE_S
        for attempt in range(1_000_000):
            if self.abort.is_set():
                return None
            if time.monotonic() > deadline:
                record.errors.append(f"session {record.plan.session}: batch not acknowledged in {BATCH_DEADLINE_S} s")
                return None
            body["sent_at_ms"] = int(time.time() * 1000)
            try:
                async with self._slots:
                    response = await client.post(self.url, json=body)
            except httpx.TransportError:
                pass
            else:
                if response.status_code == 202:
                    return self._ack(response, len(events), attempt + 1, first_sent_ms, record)
                if response.status_code >= 500 and response.status_code != 503:
                    record.server_errors += 1
                elif response.status_code not in (429, 503):
                    record.errors.append(f"session {record.plan.session}: {response.status_code} {response.text[:200]}")
                    return None
            record.retries += 1
            backoff = min(BACKOFF_CAP_S, BACKOFF_FIRST_S * 2 ** min(attempt, 10))
            await asyncio.sleep(backoff * self.rng.uniform(0.5, 1.0))
        return None

    @staticmethod
    def _ack(
        response: httpx.Response, count: int, attempts: int, sent_ms: int, record: SessionRecord
    ) -> BatchAck | None:
        results = sorted(response.json()["results"], key=lambda r: int(r["index"]))
        statuses = [str(r["status"]) for r in results]
        if len(statuses) != count:
            record.errors.append(f"session {record.plan.session}: 202 with {len(statuses)} results for {count} events")
            return None
        return BatchAck(statuses, attempts, sent_ms, int(time.time() * 1000))


# -- the run -------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ChaosConfig:
    sessions: int = 200
    duration_s: float = 60.0
    seed: int = 1
    db: Path | None = None  # default: a fresh file in a new temporary directory
    port: int | None = None  # default: a free port
    workdir: Path | None = None  # where the store (unless db) and the server log go
    sigkills: int | None = None  # with sigterms: exactly this many kills, at spread moments
    sigterms: int | None = None  # (both None: random kills until duration_s)
    session_timeout_s: int = 3
    connections: int = 32
    resend_share: float = 0.05  # acknowledged batches sent once more, as if their 202 had been lost


@dataclasses.dataclass
class ChaosResult:
    sessions: int
    batches: int  # acknowledged
    events_acked: int  # in acknowledged batches
    statuses: dict[str, int]  # per-event statuses of the 202s the players took as acknowledgements
    late_after_lost_ack: int  # late events of `end` batches resent after a stored attempt (rightly late)
    resent_events: int  # events sent again after their 202
    resent_wrong: int  # of those, answered other than duplicate (or late, for an `end` batch)
    sigkill: int
    sigterm: int
    restarts: int
    refused_starts: int
    max_sigterm_exit_s: float
    max_restart_s: float
    final_sigterm_exit_s: float
    retries: int
    server_5xx: int
    max_ack_s: float  # longest first send -> 202 of a batch acknowledged at its first attempt
    max_loop_lag_s: float  # longest stall of the players' own event loop
    lost: int  # acknowledged batches whose marker is not in their session's document
    duplicated: int  # markers beyond the first of their batch
    unexpected: int  # markers of batches that were never acknowledged as stored
    misordered: int  # sessions whose markers are not in batch order
    wrong_end: int  # sessions whose ended_status is not the expected one
    not_ended: int  # player sessions without a stored session
    ended_twice: int  # player sessions stored more than once (or stored sessions no player sent)
    live_left: int  # rows left in live_sessions + live_events
    harness_errors: list[str]
    problems: list[str]  # one line per wrong session
    records: list[SessionRecord] = dataclasses.field(repr=False)
    wall_s: float
    db: Path
    server_log: Path

    @property
    def late(self) -> int:
        """Late events that no lost acknowledgement explains (none are expected in this workload)."""
        return self.statuses.get("late", 0) - self.late_after_lost_ack

    @property
    def rejected(self) -> int:
        return self.statuses.get("rejected", 0)

    @property
    def ok(self) -> bool:
        """Nothing lost, duplicated or wrong (late or rejected events are wrong in this workload too)."""
        wrong = (
            self.lost,
            self.duplicated,
            self.unexpected,
            self.misordered,
            self.wrong_end,
            self.not_ended,
            self.ended_twice,
            self.live_left,
            self.late,
            self.rejected,
            self.resent_wrong,
            len(self.harness_errors),
        )
        return not any(wrong)

    def figures(self) -> str:
        return (
            f"sessions {self.sessions}  batches {self.batches}  events acknowledged {self.events_acked}"
            f" (accepted {self.statuses.get('accepted', 0)}, duplicate {self.statuses.get('duplicate', 0)},"
            f" late after a lost 202 {self.late_after_lost_ack})  resent {self.resent_events}"
            f"  retries {self.retries}\n"
            f"sigkill {self.sigkill}  sigterm {self.sigterm}  restarts {self.restarts}"
            f"  max sigterm exit {self.max_sigterm_exit_s:.2f} s  max restart {self.max_restart_s:.2f} s"
            f"  final sigterm exit {self.final_sigterm_exit_s:.2f} s  refused starts {self.refused_starts}\n"
            f"lost {self.lost}  duplicated {self.duplicated}  unexpected {self.unexpected}"
            f"  misordered {self.misordered}  late {self.late}  rejected {self.rejected}"
            f"  resent wrong {self.resent_wrong}  wrong end {self.wrong_end}  not ended {self.not_ended}"
            f"  ended twice {self.ended_twice}  live left {self.live_left}  server 5xx {self.server_5xx}"
            f"  harness errors {len(self.harness_errors)}\n"
            f"max ack {self.max_ack_s:.2f} s  players' loop lag {self.max_loop_lag_s:.2f} s  wall {self.wall_s:.1f} s"
        )


@dataclasses.dataclass
class _Check:
    lost: int = 0
    duplicated: int = 0
    unexpected: int = 0
    misordered: int = 0
    wrong_end: int = 0
    not_ended: int = 0
    ended_twice: int = 0
    live_left: int = 0
    problems: list[str] = dataclasses.field(default_factory=list)  # one line per wrong session


def _describe(record: SessionRecord, status: str, end_ms: int, marks: list[int]) -> str:
    """A wrong session's story: how it ended, its first batch not answered accepted, its last accepted."""
    plan = record.plan
    line = f"session {plan.session}: {status} at {end_ms} (expected {plan.expected_end}), markers {len(marks)}"
    line += f" of {len(record.acked)} acknowledged batches"
    accepted = [b for b in sorted(record.acked) if record.marker_status(b) == "accepted"]
    if accepted:
        last = record.acked[accepted[-1]]
        line += f"; last accepted batch {accepted[-1]} acked at {last.acked_ms}"
    odd = [b for b in sorted(record.acked) if record.marker_status(b) not in ("accepted", "duplicate")]
    if odd:
        ack = record.acked[odd[0]]
        line += (
            f"; first {record.marker_status(odd[0])} batch {odd[0]} first sent at {ack.sent_ms},"
            f" acked at {ack.acked_ms} after {ack.attempts} attempts"
        )
    return line


def _forced(config: ChaosConfig, rng: random.Random) -> list[signal.Signals] | None:
    if config.sigkills is None and config.sigterms is None:
        return None
    signals = [signal.SIGKILL] * (config.sigkills or 0) + [signal.SIGTERM] * (config.sigterms or 0)
    rng.shuffle(signals)
    return signals


def _wait_all_ended(server: Server, session_timeout_s: int, abort: threading.Event) -> str | None:
    """Wait until the server holds no live session; ``None``, or why it did not happen."""
    deadline = time.monotonic() + session_timeout_s + END_GRACE_S
    live = None
    while time.monotonic() < deadline and not abort.is_set():
        live = server.live_sessions()
        if live == 0:
            return None
        time.sleep(0.25)
    return f"{live} sessions still live {session_timeout_s + END_GRACE_S:.0f} s after the last batch"


def verify(db: Path, account: str, records: Sequence[SessionRecord]) -> _Check:
    """Compare the stored sessions of ``account`` with what the players had acknowledged."""
    check = _Check()
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        add_stored_doc_function(conn)
        (account_id,) = conn.execute("SELECT id FROM accounts WHERE name = ?", (account,)).fetchone()
        rows = conn.execute(
            "SELECT s.client_id, s.session_id, s.is_ended, s.end_ms, stored_doc(d.dict_id, d.doc)"
            " FROM sessions s JOIN session_docs d ON d.id = s.doc_id WHERE s.account_id = ?",
            (account_id,),
        ).fetchall()
        for query in (
            "SELECT count(*) FROM live_sessions WHERE account_id = ?",
            "SELECT count(*) FROM live_events WHERE account_id = ?",
        ):
            check.live_left += conn.execute(query, (account_id,)).fetchone()[0]
    stored: dict[tuple[str, str], list[tuple[int, int, Json]]] = collections.defaultdict(list)
    for client_id, session_id, is_ended, end_ms, doc in rows:
        stored[(client_id, session_id)].append((is_ended, end_ms, json.loads(doc)))
    for record in records:
        plan = record.plan
        found = stored.pop((plan.client_id, str(plan.session)), [])
        if not found:
            check.not_ended += 1
            check.lost += len(record.must_show())
            check.problems.append(f"session {plan.session}: not stored")
            continue
        wrong = len(found) > 1
        check.ended_twice += wrong
        is_ended, end_ms, doc = found[0]
        status = doc["status_info"]["ended_status"]
        if not is_ended or status != plan.expected_end:
            check.wrong_end += 1
            wrong = True
        marks = marker_batches(doc)
        counts = collections.Counter(marks)
        faults = (
            len(record.must_show() - counts.keys()),
            sum(n - 1 for n in counts.values()),
            len(counts.keys() - record.may_show()),
            marks != sorted(marks),
        )
        check.lost += faults[0]
        check.duplicated += faults[1]
        check.unexpected += faults[2]
        check.misordered += faults[3]
        late = any(
            s in ("late", "rejected")
            for b, ack in record.acked.items()
            if not record.late_after_lost_ack(b)
            for s in ack.statuses
        )
        if wrong or any(faults) or late:
            check.problems.append(_describe(record, status, end_ms, marks))
    check.ended_twice += len(stored)  # stored sessions that no player sent
    return check


def _resent_wrong(record: SessionRecord) -> int:
    wrong = 0
    for batch, ack in record.acked.items():
        allowed = {"duplicate", "late"} if record.ends_session(batch) else {"duplicate"}
        wrong += sum(status not in allowed for status in ack.resent or ())
    return wrong


def run_chaos(config: ChaosConfig, echo: Callable[[str], None] = print) -> ChaosResult:
    """The whole run (see the module docstring); every child process is gone when it returns."""
    began = time.monotonic()
    workdir = config.workdir or Path(tempfile.mkdtemp(prefix="reelsight-chaos-"))
    workdir.mkdir(parents=True, exist_ok=True)
    db = config.db or workdir / "chaos.db"
    account, ingest_key = create_account(db)
    server = Server(db, config.port or free_port(), workdir / "server.log", config.session_timeout_s)
    echo(f"store {db}  account {account}  server {server.url}  server log {server.log_path}")
    plans = plan_sessions(config.sessions, config.duration_s, config.seed)
    abort = threading.Event()
    chaos_rng = random.Random(f"{config.seed}-chaos")
    chaos = Chaos(server, config.duration_s, chaos_rng, abort, _forced(config, chaos_rng))
    players = Players(server.url, ingest_key, config.connections, config.seed, abort, config.resend_share)
    harness_errors: list[str] = []
    final_exit = 0.0
    try:
        server.start()
        chaos.start()
        try:
            records = asyncio.run(players.play(plans))
        except BaseException:  # Ctrl+C included: the chaos stops at once, the finally kills the server
            abort.set()
            raise
        finally:
            chaos.finish()
        if not abort.is_set():
            not_ended = _wait_all_ended(server, config.session_timeout_s, abort)
            if not_ended:
                harness_errors.append(not_ended)
        try:
            final_exit = server.stop(signal.SIGTERM)
        except TimeoutError as exc:
            harness_errors.append(f"final stop: {exc}")
    finally:
        abort.set()
        server.close()
    harness_errors += chaos.counts.errors + server.odd_exits
    harness_errors += [e for r in records for e in r.errors]
    check = verify(db, account, records)
    statuses: collections.Counter[str] = collections.Counter()
    for r in records:
        for ack in r.acked.values():
            statuses.update(ack.statuses)
    counts = chaos.counts
    return ChaosResult(
        sessions=len(plans),
        batches=sum(len(r.acked) for r in records),
        events_acked=sum(statuses.values()),
        statuses=dict(statuses),
        late_after_lost_ack=sum(len(r.acked[b].statuses) for r in records for b in r.acked if r.late_after_lost_ack(b)),
        resent_events=sum(len(ack.resent or ()) for r in records for ack in r.acked.values()),
        resent_wrong=sum(_resent_wrong(r) for r in records),
        sigkill=counts.sigkill,
        sigterm=counts.sigterm,
        restarts=counts.restarts,
        refused_starts=server.refused_starts,
        max_sigterm_exit_s=max(counts.sigterm_exit_s, default=0.0),
        max_restart_s=max(counts.restart_s, default=0.0),
        final_sigterm_exit_s=final_exit,
        retries=sum(r.retries for r in records),
        server_5xx=sum(r.server_errors for r in records),
        max_ack_s=max(
            ((a.acked_ms - a.sent_ms) / 1000 for r in records for a in r.acked.values() if a.attempts == 1), default=0.0
        ),
        max_loop_lag_s=players.max_loop_lag_s,
        records=records,
        harness_errors=harness_errors,
        wall_s=time.monotonic() - began,
        db=db,
        server_log=server.log_path,
        **dataclasses.asdict(check),
    )


def _interrupted(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=200, help="player sessions [200]")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of traffic and chaos [60]")
    parser.add_argument("--seed", type=int, default=1, help="seed of the sessions and of the chaos [1]")
    parser.add_argument("--db", type=Path, default=None, help="store file [a fresh one in a temporary directory]")
    parser.add_argument("--port", type=int, default=None, help="server port [a free one]")
    parser.add_argument("--sigkills", type=int, default=None, help="exactly this many SIGKILLs (with --sigterms)")
    parser.add_argument("--sigterms", type=int, default=None, help="exactly this many SIGTERMs [random kills]")
    parser.add_argument("--session-timeout", type=int, default=3, help="server's session_timeout_s [3]")
    parser.add_argument("--connections", type=int, default=32, help="players' connection pool [32]")
    parser.add_argument(
        "--resend-share",
        type=float,
        default=0.05,
        help="acknowledged batches sent again, as if the 202 was lost [0.05]",
    )
    args = parser.parse_args(argv)
    config = ChaosConfig(
        sessions=args.sessions,
        duration_s=args.duration,
        seed=args.seed,
        db=args.db,
        port=args.port,
        sigkills=args.sigkills,
        sigterms=args.sigterms,
        session_timeout_s=args.session_timeout,
        connections=args.connections,
        resend_share=args.resend_share,
    )
    signal.signal(signal.SIGTERM, _interrupted)  # stopped from outside: clean up as on Ctrl+C
    try:
        result = run_chaos(config)
    except ServerStartError as exc:
        print(f"chaos run failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted (the server was stopped)", file=sys.stderr)
        return 130
    print(result.figures())
    for kind, lines in (("error", result.harness_errors), ("wrong", result.problems)):
        for line in lines[:20]:
            print(f"  {kind}: {line}")
        if len(lines) > 20:
            print(f"  ... {len(lines) - 20} more")
    print("OK" if result.ok else "FAILED")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
