"""Benchmark of ``POST /ingest/v1/events``: sustained ingest through the real HTTP server, beside its floor.

Players' batches of 20 events of one session each go to three servers, one after the other, with
exactly the same phases and the same kind of requests:

- sink: a bare asyncio protocol that answers a canned 202 (``bench/floor_app.py --kind raw``).
  It costs almost nothing, so this run measures the load generator's own ceiling;
- floor: a minimal Starlette app under uvicorn with ``reelsight serve``'s options that reads the
  body, decodes the native envelope and answers 202 (``bench/floor_app.py --kind starlette``);
- server: the real ``reelsight serve`` on a fresh SQLite file under ``bench/data/``, with default
  enrichment (the bundled GeoIP databases). Its acknowledgements are durable: a 202 comes back once
  the batch is committed to the live-session log.

The phases are:

1. fill: open ``--sessions`` sessions, one start batch each, closed-loop;
2. open loop: ``--rate`` batches/s for ``--duration`` s, on a fixed schedule. Latency counts from
   each request's scheduled time, so a stalled server cannot hide behind a waiting client;
3. saturation: closed loop, ``--connections`` requests always in flight, for ``--saturation`` s.

Every live session gets a batch at least every ``--sessions / --rate`` s (under the 90 s session
timeout). ``--end-share`` of the batches end their session, and a new session replaces it at once,
so enrichment, finalization and store writes are part of the load. The load generator is this
process: uvloop, raw sockets, many keep-alive connections, each request built when it is sent
(``sent_at_ms`` = now). For the server the run also records its memory with the live sessions, the
CPU of each of its threads, a py-spy profile at the target rate, the ``/metrics`` counters and the
stored sessions (every acknowledged event was accepted once; every session a player ended is in the
sessions table), and how long a restart takes to recover the live sessions. Last, an in-process split
(``ingest_split.py``) times the same kind of batches through decoding, the live registry and the
SQLite log without HTTP. Results: ``docs/benchmarks.md``.

Run: ``.venv/bin/python bench/bench_ingest.py`` (full size, about 7 minutes), ``--smoke`` for a quick
run.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import dataclasses
import http.client
import json
import os
import resource
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from pathlib import Path

import uvloop

from benchutil import code_version, mark, memory_mb, process_tree
from ingest_load import LoadClient, PhaseResult, Players, percentile
from ingest_split import Split, measure_split
from ingest_workload import EVENTS_PER_BATCH, Workload
from reelsight.processes.client import COUNTS_INTERVAL_S

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "bench" / "data"
PYTHON = ROOT / ".venv" / "bin" / "python"
REELSIGHT = ROOT / ".venv" / "bin" / "reelsight"
PY_SPY = ROOT / ".venv" / "bin" / "py-spy"
FLOOR_APP = ROOT / "bench" / "floor_app.py"
PROFILE = DATA_DIR / "ingest-profile.txt"  # py-spy's raw (collapsed stacks) output: feed it to a flame graph tool
SEED = 1
SPLIT_SESSIONS = 5000  # sessions of the in-process split (opened, then two more batches each)
MAX_GAP_S = 90.0  # the server's default session_timeout_s: a session must hear from its player sooner

TARGET_EVENTS_PER_S = 20_000
TARGET_P99_MS = 50.0
TARGET_RSS_MB = 500.0
TARGET_LIVE_SESSIONS = 50_000


# -- measuring a process ----------------------------------------------------------------------------


def _ticks_s(fields: list[str]) -> float:
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _one_process_cpu_s(pid: int) -> float:
    try:
        return _ticks_s(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split())
    except OSError:  # it exited
        return 0.0


def process_cpu_s(pid: int) -> float:
    """CPU seconds of the server: its process and every process it started."""
    return sum(_one_process_cpu_s(p) for p in process_tree(pid))


def _child_label(pid: int) -> str:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "child processes (exited)"
    return "multiprocessing resource tracker" if b"resource_tracker" in cmdline else "HTTP processes (all threads)"


def children_cpu_s(pid: int) -> dict[int, float]:
    """CPU seconds of each process the server started (none in single-process mode)."""
    return {p: _one_process_cpu_s(p) for p in process_tree(pid)[1:]}


def thread_cpu_s(pid: int) -> dict[int, float]:
    out: dict[int, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            out[int(task.name)] = _ticks_s((task / "stat").read_text().rsplit(")", 1)[1].split())
    return out


def machine_busy_s() -> float:
    """CPU seconds all processes used since boot (user + nice + system + irq + softirq)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(fields[:3]) + sum(fields[5:7])) / os.sysconf("SC_CLK_TCK")


def self_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def thread_names(pid: int) -> dict[int, str]:
    """Thread id -> Python thread name, from ``py-spy dump`` (an empty dict without py-spy)."""
    if not PY_SPY.exists():
        return {}
    dump = subprocess.run([str(PY_SPY), "dump", "--pid", str(pid)], capture_output=True, text=True, check=False)
    names: dict[int, str] = {}
    for line in dump.stdout.splitlines():
        if line.startswith("Thread ") and '"' in line:
            tid = line.split()[1]
            if tid.isdigit():
                names[int(tid)] = line.split('"')[1]
    return names


class Target:
    """A server under load: its process, address and (for Reelsight) its thread names."""

    def __init__(self, name: str, proc: subprocess.Popen[bytes], port: int) -> None:
        self.name = name
        self.proc = proc
        self.port = port
        self.threads: dict[int, str] = {}
        self.startup_s = 0.0  # from the process's start until it listened

    @property
    def pid(self) -> int:
        return self.proc.pid

    def thread_label(self, tid: int) -> str:
        name = self.threads.get(tid)
        if name is None:
            comm = Path(f"/proc/{self.pid}/task/{tid}/comm")
            name = comm.read_text().strip() if comm.exists() else "?"
            name = "SQLite/libuv helpers" if name == "libuv-worker" else f"other ({name})"
        return "event loop (MainThread)" if name == "MainThread" else name


async def measured(target: Target, phase: Awaitable[PhaseResult]) -> PhaseResult:
    """Run a phase and attach the CPU that the server, this client and the whole machine used during it."""
    server_before, threads_before = process_cpu_s(target.pid), thread_cpu_s(target.pid)
    children_before = children_cpu_s(target.pid)
    client_before, machine_before = self_cpu_s(), machine_busy_s()
    result = await phase
    result.server_cpu_s = process_cpu_s(target.pid) - server_before
    result.client_cpu_s = self_cpu_s() - client_before
    result.machine_busy_s = machine_busy_s() - machine_before
    split: dict[str, float] = collections.defaultdict(float)
    for tid, cpu_s in thread_cpu_s(target.pid).items():
        split[target.thread_label(tid)] += cpu_s - threads_before.get(tid, 0.0)
    for pid, cpu_s in children_cpu_s(target.pid).items():  # with http_processes >= 2 the main one coordinates
        split[_child_label(pid)] += cpu_s - children_before.get(pid, 0.0)
    result.server_threads = {k: v for k, v in sorted(split.items(), key=lambda kv: -kv[1]) if v >= 0.05}
    return result


# -- the servers ------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_listening(proc: subprocess.Popen[bytes], port: int, log_path: Path, timeout_s: float = 120) -> float:
    started = time.monotonic()
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}; see {log_path}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return time.monotonic() - started
        if time.monotonic() - started > timeout_s:
            raise RuntimeError(f"the server did not listen within {timeout_s:.0f} s; see {log_path}")
        time.sleep(0.05)


@contextlib.contextmanager
def running(name: str, argv: list[str], log_path: Path, env: dict[str, str] | None = None) -> Iterator[Target]:
    port = _free_port()
    with log_path.open("ab") as log:
        proc = subprocess.Popen([*argv, "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            target = Target(name, proc, port)
            target.startup_s = _wait_listening(proc, port, log_path)
            yield target
        finally:
            proc.terminate()
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def reelsight_env() -> dict[str, str]:
    env = dict(os.environ)
    # Requests come from 127.0.0.1 carrying each player's public address, as behind a load balancer:
    # enrichment resolves the players' addresses (the GeoIP settings stay at their defaults).
    env["REELSIGHT_TRUSTED_PROXIES"] = "127.0.0.1"
    return env


def fresh_database(path: Path) -> str:
    """Delete ``path`` and its WAL, create the bench account; returns its ingest key."""
    for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        leftover.unlink(missing_ok=True)
    created = subprocess.run(
        [str(REELSIGHT), "--db", str(path), "accounts", "create", "bench", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    key: str = json.loads(created.stdout)["ingest_key"]
    return key


def http_get(port: int, path: str) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.read().decode()
    finally:
        conn.close()


def server_metrics(port: int) -> dict[str, float]:
    """The Prometheus samples of ``GET /metrics``, keyed by name with labels."""
    values: dict[str, float] = {}
    for line in http_get(port, "/metrics").splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


def settled_metrics(port: int) -> dict[str, float]:
    """``server_metrics`` once the load has stopped: with several HTTP processes, each one's counters
    reach the coordinator up to ``COUNTS_INTERVAL_S`` late (``docs/scaling.md``), so wait that twice."""
    time.sleep(2 * COUNTS_INTERVAL_S)
    return server_metrics(port)


def _metric(values: dict[str, float], name: str) -> int:
    return int(values.get(name, 0))


# -- the profile ------------------------------------------------------------------------------------


def _sweep_frames() -> tuple[str, ...]:
    """The py-spy frames of the registry's expiry sweep: the lines of ``LiveRegistry.process`` that walk
    every live session (found in the source, which others edit)."""
    source = ROOT / "src" / "reelsight" / "sessions" / "live.py"
    frames: list[str] = []
    lines = source.read_text().splitlines() if source.exists() else []
    for number, line in enumerate(lines, 1):
        if "in self.sessions.values()" in line:
            frames += [f"LiveRegistry.process (reelsight/sessions/live.py:{n})" for n in (number, number + 1)]
    return tuple(frames)


def profile_parts() -> tuple[tuple[str, str], ...]:
    """Where a sample of the server belongs: the first rule, in this order, whose frame text appears
    anywhere in the sample's stack. A rule is (label, substring of a frame "function (file:line)")."""
    sweep = tuple(("registry: expiry sweep over every live session", frame) for frame in _sweep_frames())
    return (
        *sweep,
        ("log: write ended sessions (insert_record)", "insert_record ("),
        ("log: SQLite BEGIN / COMMIT", "transaction (reelsight/store/sqlite/connection.py"),
        ("log: INSERT live_events, live_sessions", "SqliteLiveLog.commit ("),
        ("registry: has a new session ended already? (SQLite read)", "LiveRegistry._has_ended ("),
        ("registry: summarize ended sessions", "LiveRegistry._summarize ("),
        ("registry: enrichment (GeoIP, User-Agent)", "LiveRegistry._enrichment ("),
        ("registry: fold events (timeline)", "LiveRegistry._apply ("),
        ("registry: fold events (timeline)", "LiveRegistry._fold ("),
        ("registry: classify and encode events", "LiveRegistry.process ("),
        ("worker: take rounds, hand results back (call_soon_threadsafe)", "IngestWorker._"),
        ("edge: decode and check events (decode_batch)", "decode_batch ("),
        ("edge: decode envelope", "decode_envelope ("),
        ("edge: rest of the ingest handler (await, response)", "IngestEndpoint."),
        ("HTTP: uvicorn, Starlette, asyncio", ""),
    )


# Leaf frames of threads that wait: py-spy's idle detection misses these (a queue wait with a timeout,
# the event loop's poll). Samples ending in them are left out. uvloop's own socket I/O runs in C under
# Runner.run and is left out with the polling: the per-thread CPU from /proc is the exact total.
_WAITING = ("Condition.wait (threading.py", "Runner.run (asyncio/runners.py", "Event.wait (threading.py")


def profile_server(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes] | None:
    """Start py-spy sampling every thread of the server for ``seconds`` without pausing it (``--nonblocking``:
    pausing a server with 50,000 live sessions 100 times a second slowed it below the target rate)."""
    if not PY_SPY.exists():
        return None
    argv = [str(PY_SPY), "record", "--pid", str(pid), "--duration", str(max(1, round(seconds))), "--rate", "100"]
    argv += ["--format", "raw", "--threads", "--nonblocking", "--subprocesses", "--output", str(out)]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@dataclasses.dataclass
class Profile:
    samples: int  # samples of busy threads (waits left out)
    waiting: int  # samples left out
    by_thread: dict[str, int]
    by_part: dict[str, int]
    self_top: list[tuple[str, int]]  # leaf frames (function (file:line)) by samples


def read_profile(path: Path, parts: Sequence[tuple[str, str]] | None = None) -> Profile:
    by_thread: collections.Counter[str] = collections.Counter()
    by_part: collections.Counter[str] = collections.Counter()
    leaves: collections.Counter[str] = collections.Counter()
    total = waiting = 0
    parts = profile_parts() if parts is None else parts
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        if frames[-1].startswith(_WAITING):
            waiting += count
            continue
        thread = frames[0].split(": ", 1)[-1]
        total += count
        by_thread["event loop (MainThread)" if thread == "MainThread" else thread] += count
        leaves[frames[-1]] += count
        for label, marker in parts:
            if any(marker in frame for frame in reversed(frames[1:])):
                by_part[label] += count
                break
    return Profile(total, waiting, dict(by_thread.most_common()), dict(by_part.most_common()), leaves.most_common(15))


# -- running the phases -----------------------------------------------------------------------------


@dataclasses.dataclass
class TargetRun:
    name: str
    phases: list[PhaseResult] = dataclasses.field(default_factory=list)
    memory_mib: dict[str, dict[str, float]] = dataclasses.field(default_factory=dict)
    live_sessions: dict[str, int] = dataclasses.field(default_factory=dict)  # /metrics gauge at a moment

    def phase(self, name: str) -> PhaseResult:
        return next(p for p in self.phases if p.name == name)


@dataclasses.dataclass(frozen=True)
class Options:
    sessions: int
    rate: float
    duration_s: float
    saturation_s: float
    connections: int
    end_share: float
    warmup_s: float
    profile_s: float
    unit: str = "batches"  # what one request is, in the progress lines


def describe(result: PhaseResult, unit: str = "batches") -> str:
    p = result.latency_ms
    text = (
        f"  {result.name}: {result.batches:,} {unit} in {result.wall_s:.1f} s = {result.batches_per_s:,.0f}/s,"
        f" {result.events_per_s:,.0f} events/s; latency p50 {statistics.median(p):.1f} ms,"
        f" p99 {percentile(p, 99):.1f} ms, max {max(p):.0f} ms; CPU s/s: server"
        f" {result.server_cpu_s / result.wall_s:.2f}, load generator {result.client_cpu_s / result.wall_s:.2f},"
        f" whole machine {result.machine_busy_s / result.wall_s:.2f}"
    )
    if result.send_delay_ms:
        text += f"; sent p99 {percentile(result.send_delay_ms, 99):.1f} ms after their scheduled time"
    if result.not_accepted or result.failures:
        text += f"; **{result.not_accepted} not accepted** {result.failures[:3]}"
    return text


async def drive(
    target: Target,
    workload: Players,
    options: Options,
    *,
    after_fill: Callable[[], None] | None = None,
    client_type: type[LoadClient] = LoadClient,
    filled: Callable[[], bool] | None = None,
) -> TargetRun:
    """The phases against one target: fill, warm-up, open loop at the rate, saturation. The fill sends
    one request per session, or, with ``filled``, as many as the workload needs until it says so."""
    run = TargetRun(target.name)
    client = client_type(workload, "127.0.0.1", target.port, options.connections)

    async def phase(awaitable: Awaitable[PhaseResult]) -> None:
        await client.connect()
        result = await measured(target, awaitable)
        run.phases.append(result)
        print(describe(result, options.unit), flush=True)

    run.memory_mib["at start"] = memory_mb(target.pid)
    try:
        fill = (
            client.closed_loop("fill", until=filled)
            if filled
            else client.closed_loop("fill", requests=options.sessions)
        )
        await phase(fill)
        run.memory_mib["after fill"] = memory_mb(target.pid)
        if after_fill is not None:
            after_fill()
        if options.warmup_s:
            await phase(client.open_loop("warm-up", rate=options.rate, duration_s=options.warmup_s))
        await phase(client.open_loop("open loop", rate=options.rate, duration_s=options.duration_s))
        run.memory_mib["after open loop"] = memory_mb(target.pid)
        await phase(client.closed_loop("saturation", duration_s=options.saturation_s))
        run.memory_mib["after saturation"] = memory_mb(target.pid)
        if target.name == "server" and options.profile_s and PY_SPY.exists():
            spy = profile_server(target.pid, options.profile_s, PROFILE)
            await phase(client.open_loop("under py-spy", rate=options.rate, duration_s=options.profile_s))
            if spy is not None:
                spy.wait(60)
    finally:
        client.close()
    return run


def run_load(
    target: Target,
    workload: Players,
    options: Options,
    *,
    after_fill: Callable[[], None] | None = None,
    client_type: type[LoadClient] = LoadClient,
    filled: Callable[[], bool] | None = None,
) -> TargetRun:
    print(f"{target.name} (pid {target.pid}, port {target.port}):", flush=True)
    run = drive(target, workload, options, after_fill=after_fill, client_type=client_type, filled=filled)
    return uvloop.run(run)


async def profile_phase(
    target: Target,
    workload: Players,
    options: Options,
    out: Path,
    *,
    at_rate: bool,
    client_type: type[LoadClient] = LoadClient,
) -> PhaseResult:
    """``options.profile_s`` of load in a client of its own while py-spy samples the server into ``out``
    (not reported in the table): at ``options.rate`` if ``at_rate``, else closed loop."""
    spy = profile_server(target.pid, options.profile_s, out)
    client = client_type(workload, "127.0.0.1", target.port, options.connections)
    try:
        await client.connect()
        if at_rate:
            phase = client.open_loop("under py-spy", rate=options.rate, duration_s=options.profile_s)
        else:
            phase = client.closed_loop("under py-spy", duration_s=options.profile_s)
        result = await measured(target, phase)
    finally:
        client.close()
    print(describe(result, options.unit), flush=True)
    if spy is not None:
        spy.wait(60)
    return result


# -- checks on the real server ----------------------------------------------------------------------


@dataclasses.dataclass
class Check:
    what: str
    expected: object
    found: object

    @property
    def ok(self) -> bool:
        return self.expected == self.found


def metric_checks(metrics: dict[str, float], workload: Workload) -> list[Check]:
    events = 'reelsight_ingest_events_total{outcome="%s"}'
    ended = 'reelsight_sessions_ended_total{ended_status="%s"}'
    return [
        Check("/metrics accepted events == events sent", workload.counts.events, _metric(metrics, events % "accepted")),
        Check("/metrics duplicate events", 0, _metric(metrics, events % "duplicate")),
        Check("/metrics late events", 0, _metric(metrics, events % "late")),
        Check("/metrics rejected events", 0, _metric(metrics, events % "rejected")),
        Check(
            "/metrics sessions ended By Player == end events sent",
            workload.counts.ends,
            _metric(metrics, ended % "By Player"),
        ),
        Check("/metrics sessions ended By Expiration", 0, _metric(metrics, ended % "By Expiration")),
        Check(
            "/metrics live sessions == sessions open", len(workload.live), _metric(metrics, "reelsight_live_sessions")
        ),
    ]


def store_checks(db: Path, ended_by_players: Iterable[str], live: int, *, ended: str = "a player ended") -> list[Check]:
    """After a clean stop: the sessions table holds exactly the sessions the players ended (their conviva
    session ids; ``ended`` says which, for the checks' text); the live-session log the ``live`` others."""
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        stored = {row[0] for row in conn.execute("SELECT conviva_session_id FROM sessions")}
        live_rows = conn.execute("SELECT count(*) FROM live_sessions").fetchone()[0]
        ended_flags = conn.execute("SELECT count(*) FROM sessions WHERE is_ended = 1").fetchone()[0]
    expected = set(ended_by_players)
    return [
        Check(f"sessions table holds every session {ended}", len(expected), len(stored & expected)),
        Check("sessions table holds nothing else", 0, len(stored - expected)),
        Check("stored sessions are marked ended", len(stored), ended_flags),
        Check("live-session log rows == sessions open", live, live_rows),
    ]


def answer_checks(runs: Sequence[TargetRun], what: str) -> list[Check]:
    """Per target: every request was answered as acknowledged (``what``: how, for the check's text)."""
    return [Check(f"{run.name}: {what}", 0, sum(p.not_accepted + len(p.failures) for p in run.phases)) for run in runs]


# -- the report -------------------------------------------------------------------------------------


def _ms(values: Sequence[float], q: float) -> str:
    return f"{percentile(values, q):.1f}"


def report_table(runs: Sequence[TargetRun]) -> None:
    print()
    print(
        "| target | phase | offered batches/s | batches/s | events/s | ack p50 / p95 / p99 / max ms"
        " | server CPU ms/batch | server CPU s/s | load generator CPU s/s | other processes CPU s/s |"
    )
    print("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|")
    for run in runs:
        for p in run.phases:
            if p.name == "warm-up" or p.name.startswith("under py-spy"):
                continue
            offered = f"{p.offered_per_s:,.0f}" if p.mode == "open" else f"max ({p.connections} in flight)"
            latency = " / ".join(_ms(p.latency_ms, q) for q in (50, 95, 99)) + f" / {max(p.latency_ms):.0f}"
            others_s = max(0.0, p.machine_busy_s - p.server_cpu_s - p.client_cpu_s)  # tick rounding
            cpu = " | ".join(f"{s / p.wall_s:.2f}" for s in (p.server_cpu_s, p.client_cpu_s, others_s))
            print(
                f"| {run.name} | {p.name} | {offered} | {p.batches_per_s:,.0f} | {p.events_per_s:,.0f} | {latency}"
                f" | {1000 * p.server_cpu_s / p.batches:.2f} | {cpu} |"
            )


def report_threads(run: TargetRun) -> None:
    print()
    print("server CPU by thread (CPU seconds per wall second):")
    for p in run.phases:
        if p.name in ("open loop", "saturation", "fill"):
            split = ", ".join(f"{name} {cpu_s / p.wall_s:.2f}" for name, cpu_s in p.server_threads.items())
            print(f"  {p.name}: {split}")


def report_profile(profile: Profile, how: str = "at the target rate") -> None:
    print()
    print(
        f"py-spy, server {how}: {profile.samples:,} samples of busy threads"
        f" ({profile.waiting:,} samples in waits left out)"
    )
    print("| where | share of busy samples |")
    print("|---|--:|")
    for label, count in profile.by_part.items():
        print(f"| {label} | {count / profile.samples:.1%} |")
    threads = ", ".join(f"{t} {c / profile.samples:.0%}" for t, c in profile.by_thread.items())
    print(f"busy samples by thread: {threads}")
    print("hottest leaf frames: " + "; ".join(f"{f} {c / profile.samples:.1%}" for f, c in profile.self_top[:8]))


def report_split(splits: Sequence[Split], server_open: PhaseResult, floor_open: PhaseResult | None) -> None:
    """The in-process split, and the server's CPU per batch by thread beside it."""
    print()
    print("in-process split (no HTTP; CPU microseconds per batch; a fresh, small database):")
    print("| batches | per round | decode (edge) | registry | log commit (CPU / wall) | total |")
    print("|---|--:|--:|--:|--:|--:|")
    for s in splits:
        print(
            f"| {s.kind} | {s.round_size} | {s.decode_us:.0f} | {s.registry_us:.0f}"
            f" | {s.commit_us:.0f} / {s.commit_wall_us:.0f} | {s.total_us:.0f} |"
        )
    per_batch = {name: 1e6 * cpu_s / server_open.batches for name, cpu_s in server_open.server_threads.items()}
    split = ", ".join(f"{name} {us:.0f}" for name, us in per_batch.items())
    floor = f"; the floor: {1e6 * floor_open.server_cpu_s / floor_open.batches:.0f}" if floor_open else ""
    print(f"server CPU per batch in the open loop, microseconds: {split}{floor}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=50_000, help="live sessions kept open [50,000]")
    parser.add_argument("--rate", type=float, default=1000.0, help="open-loop batches/s of 20 events [1000]")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of the open-loop phase [60]")
    parser.add_argument("--saturation", type=float, default=20.0, help="seconds of the closed-loop phase [20]")
    parser.add_argument("--connections", type=int, default=64, help="keep-alive connections [64]")
    parser.add_argument("--end-share", type=float, default=0.03, help="share of batches that end their session [0.03]")
    parser.add_argument("--warmup", type=float, default=5.0, help="unreported open-loop seconds first [5]")
    parser.add_argument("--profile", type=float, default=20.0, help="seconds of py-spy sampling, 0: none [20]")
    parser.add_argument("--skip-baselines", action="store_true", help="measure only the real server")
    parser.add_argument("--smoke", action="store_true", help="a quick run: 2,000 sessions, 200 batches/s, 10 s")
    parser.add_argument("--json", type=Path, default=None, help="also write the raw results to this JSON file")
    args = parser.parse_args(argv)
    if args.smoke:
        args.sessions, args.rate, args.duration, args.saturation, args.warmup, args.profile = 2000, 200, 10, 5, 2, 5
    options = Options(
        args.sessions,
        args.rate,
        args.duration,
        args.saturation,
        args.connections,
        args.end_share,
        args.warmup,
        args.profile,
    )
    if args.sessions < 4 * args.connections:
        parser.error("--sessions must be at least 4 x --connections")
    if args.sessions / args.rate > MAX_GAP_S * 0.6:
        parser.error(
            f"--sessions / --rate is the gap between a session's batches; keep it under {MAX_GAP_S * 0.6:.0f} s"
        )

    version = code_version()
    print(f"code: {version}; python {sys.version.split()[0]}, SQLite {sqlite3.sqlite_version}")
    print(
        f"workload: {args.sessions:,} live sessions, batches of {EVENTS_PER_BATCH} events, {args.rate:,.0f} batches/s"
        f" = {args.rate * EVENTS_PER_BATCH:,.0f} events/s offered (a batch per session every"
        f" {args.sessions / args.rate:.0f} s), {args.end_share:.0%} of batches end their session;"
        f" {args.connections} connections; load average {os.getloadavg()[0]:.2f}"
    )
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    log_path = DATA_DIR / "ingest-server.log"
    log_path.unlink(missing_ok=True)
    host_header = "127.0.0.1"
    runs: list[TargetRun] = []
    floor_argv = [str(PYTHON), str(FLOOR_APP), "--kind"]
    if not args.skip_baselines:
        for name, kind in (("sink", "raw"), ("floor", "starlette")):
            workload = Workload(
                args.sessions, seed=SEED, end_share=args.end_share, host_header=host_header, ingest_key="ik_floor"
            )
            with running(name, [*floor_argv, kind], log_path) as target:
                runs.append(run_load(target, workload, options))

    db = DATA_DIR / "ingest.db"
    if code_version() != version:  # others edit src/ while the baselines run; the server measures what is there now
        print(f"code changed before the server started: now {code_version()}")
    ingest_key = fresh_database(db)
    workload = Workload(
        args.sessions, seed=SEED, end_share=args.end_share, host_header=host_header, ingest_key=ingest_key
    )
    argv_server = [str(REELSIGHT), "--db", str(db), "serve"]
    live: dict[str, int] = {}
    PROFILE.unlink(missing_ok=True)
    with running("server", argv_server, log_path, reelsight_env()) as server:
        server.threads = thread_names(server.pid)

        def after_fill() -> None:
            live["after fill"] = _metric(server_metrics(server.port), "reelsight_live_sessions")

        server_run = run_load(server, workload, options, after_fill=after_fill)
        metrics = settled_metrics(server.port)
        live["end"] = _metric(metrics, "reelsight_live_sessions")
    runs.append(server_run)
    checks = metric_checks(metrics, workload) + store_checks(db, workload.ended, len(workload.live))  # after a stop
    with running("server (restarted)", argv_server, log_path, reelsight_env()) as restarted:
        recovered = _metric(server_metrics(restarted.port), "reelsight_live_sessions")
        restart_memory = memory_mb(restarted.pid)
    checks.append(Check("live sessions recovered after a restart", len(workload.live), recovered))
    splits = [
        split
        for round_size in (1, 32)
        for split in measure_split(
            DATA_DIR / "ingest-split.db", sessions=SPLIT_SESSIONS, round_size=round_size, seed=SEED
        )
    ]

    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        live_events = conn.execute("SELECT count(*) FROM live_events").fetchone()[0]
    db_mib = sum(os.path.getsize(f) for f in (db, Path(f"{db}-wal")) if f.exists()) / 2**20

    report_table(runs)
    by_target = {run.name: run for run in runs}
    open_loop, saturation = server_run.phase("open loop"), server_run.phase("saturation")
    if "floor" in by_target:
        floor = by_target["floor"]
        floor_open, floor_saturation = floor.phase("open loop"), floor.phase("saturation")
        print(
            "server / floor: open-loop ack p50"
            f" {statistics.median(open_loop.latency_ms) / statistics.median(floor_open.latency_ms):.1f}x,"
            f" p99 {percentile(open_loop.latency_ms, 99) / percentile(floor_open.latency_ms, 99):.1f}x;"
            f" saturation throughput {saturation.events_per_s / floor_saturation.events_per_s:.3f}x"
            f" (the floor does {floor_saturation.events_per_s / saturation.events_per_s:.0f}x more)"
        )
    if "sink" in by_target:
        sink = by_target["sink"].phase("saturation")
        print(
            f"load generator ceiling (against the sink): {sink.batches_per_s:,.0f} batches/s ="
            f" {sink.events_per_s:,.0f} events/s at {sink.client_cpu_s / sink.wall_s:.2f} CPU s/s"
        )
    report_threads(server_run)
    if PROFILE.exists():
        report_profile(read_profile(PROFILE))
    report_split(splits, open_loop, by_target["floor"].phase("open loop") if "floor" in by_target else None)
    print()
    for moment, mem in server_run.memory_mib.items():
        print(
            f"server memory {moment}: VmRSS {mem['VmRSS']:.0f} MiB (anonymous {mem['RssAnon']:.0f},"
            f" files {mem['RssFile']:.0f}), VmHWM {mem['VmHWM']:.0f} MiB"
        )
    print(
        f"live sessions (/metrics): {live['after fill']:,} after the fill, {live['end']:,} at the end;"
        f" {live_events:,} rows in the live-session log (one per session and round;"
        f" {live_events / max(1, live['end']):.0f} per live session),"
        f" DB + WAL {db_mib:,.0f} MiB; a restart recovered {recovered:,} sessions and listened after"
        f" {restarted.startup_s:.1f} s (VmRSS {restart_memory['VmRSS']:.0f} MiB)"
    )
    counts = workload.counts
    print(
        f"workload: {counts.batches:,} batches, {counts.events:,} events, {counts.starts:,} sessions opened,"
        f" {counts.ends:,} ended by their players; longest silence of a session {workload.longest_gap_s:.0f} s"
        + (f" **over the {MAX_GAP_S:.0f} s timeout**" if workload.longest_gap_s >= MAX_GAP_S else "")
    )

    print()
    peak_mb = max(m["VmHWM"] for m in server_run.memory_mib.values()) * 2**20 / 1e6
    offered = open_loop.offered_per_s * EVENTS_PER_BATCH
    kept_pace = open_loop.events_per_s >= 0.99 * offered
    p99 = percentile(open_loop.latency_ms, 99)
    full_size = args.sessions >= TARGET_LIVE_SESSIONS and offered >= TARGET_EVENTS_PER_S

    def verdict(ok: bool) -> str:
        return mark(ok) if full_size else "(not judged: smaller than the targets' load)"

    print(
        f"target >= {TARGET_EVENTS_PER_S:,} events/s sustained: open loop {open_loop.events_per_s:,.0f} of"
        f" {offered:,.0f} offered, saturation {saturation.events_per_s:,.0f}:"
        f" {verdict(kept_pace and saturation.events_per_s >= TARGET_EVENTS_PER_S)}"
    )
    latency_ok = kept_pace and p99 < TARGET_P99_MS
    print(f"target p99 ack < {TARGET_P99_MS:g} ms at that rate: {p99:,.1f} ms {verdict(latency_ok)}")
    memory_ok = peak_mb < TARGET_RSS_MB and live["after fill"] >= TARGET_LIVE_SESSIONS
    print(
        f"target memory < {TARGET_RSS_MB:g} MB with {TARGET_LIVE_SESSIONS:,} live sessions: peak VmHWM"
        f" {peak_mb:,.0f} MB with {live['after fill']:,} live after the fill, {live['end']:,} at the end"
        f" {verdict(memory_ok)}"
    )
    for check in checks:
        print(f"  {check.what}: expected {check.expected:,}, found {check.found:,} {mark(check.ok)}")
    ok = all(c.ok for c in checks) and not any(p.not_accepted or p.failures for r in runs for p in r.phases)
    print(f"correct: {mark(ok)}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "options": dataclasses.asdict(options),
                    "runs": [dataclasses.asdict(run) for run in runs],
                    "checks": [dataclasses.asdict(c) for c in checks],
                    "live_sessions": live,
                    "live_events": live_events,
                    "restart": {"startup_s": restarted.startup_s, "recovered": recovered, "memory_mib": restart_memory},
                    "workload": dataclasses.asdict(counts) | {"longest_gap_s": workload.longest_gap_s},
                },
                indent=1,
            )
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
