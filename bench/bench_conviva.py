"""Benchmark of the Conviva SDK gateway (``POST /0/wsg``): heartbeats through the real HTTP server,
beside its floor, in one run.

The issue's sizing: 100,000 concurrent viewers at the SDK's default 20 s interval send 5,000
heartbeats/s. Here 50,000 live sessions get 5,000 heartbeats/s (one every 10 s each): heartbeats
shaped as SDK 4.8.0 sends them (``conviva_workload.py``), with 2-6 events each, go to three servers
one after the other, with exactly the same phases:

- sink: a bare asyncio protocol that answers a canned 200 (``floor_app.py --kind raw --protocol
  conviva``): the load generator's own ceiling;
- floor: Starlette under uvicorn configured exactly as ``reelsight serve`` (``floor_app.py --kind
  starlette --serve-config``), whose route parses the heartbeat JSON with msgspec (the gateway's own
  ``conviva.decode_heartbeat``) and answers a canned 200 ``{"err":"ok","cfg":{"hbi":20}}``;
- server: the real ``reelsight serve`` on a fresh SQLite file under ``bench/data/``, default settings
  (durable answers: a 200 comes back once the heartbeat's events are committed to the live-session
  log), the bundled GeoIP databases (or none if they are not installed: the run says which), each
  player's public address in ``X-Forwarded-For`` from a trusted 127.0.0.1.

The phases (``bench_ingest.py``'s machinery: ``ingest_load.LoadClient``, ``bench_ingest.drive``):

1. fill: open ``--sessions`` sessions, one heartbeat 0 each, closed loop;
2. warm-up (not reported), then open loop: ``--rate`` heartbeats/s for ``--duration`` s on a fixed
   schedule; latency counts from each heartbeat's scheduled time;
3. saturation: closed loop, ``--connections`` heartbeats always in flight, for ``--saturation`` s;
4. for the server, ``--profile`` s under py-spy (at the rate if the open loop kept pace, else closed
   loop; not in the table), if py-spy is installed.

It prints heartbeats/s sustained and at saturation per target, the server / floor ratio, latency
percentiles, CPU per heartbeat (server, floor, by server thread), the server's memory with the live
sessions, a py-spy profile, an in-process split of the server's per-heartbeat work (decode, live
registry, SQLite log), and checks: every heartbeat answered 200 ``err: ok``; ``/metrics`` counted the
heartbeats and exactly the accepted / duplicate / late events they carry; every session a player
ended is stored, and nothing else. Results: ``docs/benchmarks.md``.

Run: ``.venv/bin/python bench/bench_conviva.py`` (full size, about 11 minutes), ``--smoke`` for a quick
run (2,000 sessions, 500 heartbeats/s, 10 s phases).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gc
import json
import os
import sqlite3
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import uvloop

from bench_ingest import (
    DATA_DIR,
    FLOOR_APP,
    MAX_GAP_S,
    PY_SPY,
    PYTHON,
    REELSIGHT,
    SEED,
    Check,
    Options,
    TargetRun,
    _metric,
    answer_checks,
    fresh_database,
    profile_parts,
    profile_phase,
    read_profile,
    reelsight_env,
    report_profile,
    report_threads,
    run_load,
    running,
    server_metrics,
    settled_metrics,
    store_checks,
    thread_names,
)
from benchutil import (
    GC_THRESHOLDS,
    Targets,
    code_version,
    geoip_mode,
    http_processes,
    kept_pace,
    report_baselines,
    report_checks,
    report_memory,
    report_table,
    report_targets,
    request_parts,
    sample,
)
from conviva_workload import Workload
from ingest_load import LoadClient, PhaseResult
from ingest_split import split_registry
from reelsight.ingest import conviva
from reelsight.sessions.live import IncomingBatch
from reelsight.settings import Settings

PROFILE = DATA_DIR / "conviva-profile.txt"  # py-spy's raw (collapsed stacks) output
SPLIT_SESSIONS = 5000  # sessions of the in-process split (opened, then three more heartbeats each)

TARGETS = Targets(per_s=5000, floor_share=0.5, p99_ms=50.0, rss_mb=500.0, live_sessions=50_000)
ANSWER_PREFIX = b'{"err":"ok"'


class HeartbeatClient(LoadClient):
    """The load client for heartbeats: an answer acknowledges one when it is a 200 saying ``err: ok``."""

    def acknowledged(self, status: int, body: bytes) -> tuple[int, bool]:
        return 0, status == 200 and body.startswith(ANSWER_PREFIX)


# -- the profile and the split ----------------------------------------------------------------------


def gateway_profile_parts() -> tuple[tuple[str, str], ...]:
    """``bench_ingest``'s rules (registry, log, worker), with the gateway's before the catch-all."""
    parts = profile_parts()
    gateway = (
        ("gateway: parse the heartbeat (decode_heartbeat)", "decode_heartbeat ("),
        ("gateway: heartbeat -> internal events (decode_events)", "decode_events ("),
        ("gateway: account, sender, intake (count, submit)", "Intake."),
        ("gateway: rest of the handler (await, CORS, answer)", "ConvivaGateway."),
    )
    return (*parts[:-1], *gateway, parts[-1])


@dataclasses.dataclass
class HeartbeatSplit:
    """CPU microseconds per heartbeat of each stage of the server's work, without HTTP."""

    kind: str  # "opening" (heartbeat 0) or "later" (heartbeats 1-3)
    round_size: int
    heartbeats: int
    parse_us: float = 0.0  # decode_heartbeat: what the floor does too
    events_us: float = 0.0  # decode_events: SDK events -> internal events
    registry_us: float = 0.0  # LiveRegistry.process without the log's commit
    commit_us: float = 0.0  # SqliteLiveLog.commit (CPU; wall time below)
    commit_wall_us: float = 0.0

    @property
    def total_us(self) -> float:
        return self.parse_us + self.events_us + self.registry_us + self.commit_us


def measure_split(db: Path, *, sessions: int, round_size: int) -> list[HeartbeatSplit]:
    """Open ``sessions`` sessions, then send each three more heartbeats, ``round_size`` per round,
    through the gateway's decoder, the real live registry and the real SQLite live-session log."""
    settings = Settings()
    interval_ms = settings.conviva_heartbeat_interval_s * 1000
    splits = []
    with split_registry(db, settings) as (account, registry, log):
        workload = Workload(sessions, seed=SEED, end_share=0.03, host_header="bench", customer_key=account.ingest_key)
        for kind, heartbeats in (("opening", sessions), ("later", 3 * sessions)):
            split = HeartbeatSplit(kind, round_size, heartbeats)
            log.cpu_s = log.wall_s = 0.0
            parse_s = events_s = process_s = 0.0
            pending: list[IncomingBatch] = []
            for number in range(heartbeats):
                ip, user_agent, body = request_parts(workload.request(workload.next_session()))
                started = time.thread_time()
                receive_ms = int(time.time() * 1000)
                heartbeat = conviva.decode_heartbeat(body)
                parsed = time.thread_time()
                decoded = conviva.decode_events(
                    heartbeat, receive_ms=receive_ms, new_client_id=lambda _hb: "", interval_ms=interval_ms
                )
                parse_s += parsed - started
                events_s += time.thread_time() - parsed
                pending.append(IncomingBatch(account, receive_ms, ip, user_agent, decoded.batch.events))
                if len(pending) == round_size or number == heartbeats - 1:
                    started = time.thread_time()
                    registry.process(pending, int(time.time() * 1000))
                    process_s += time.thread_time() - started
                    pending = []
            per = 1e6 / heartbeats
            split.parse_us, split.events_us = parse_s * per, events_s * per
            split.registry_us = (process_s - log.cpu_s) * per
            split.commit_us, split.commit_wall_us = log.cpu_s * per, log.wall_s * per
            splits.append(split)
    return splits


# -- checks -----------------------------------------------------------------------------------------


def kept_repeated_starts(metrics: dict[str, float], workload: Workload) -> int:
    """Repeated starts the server accepted rather than counted duplicate: those placed before the
    session's start so far (``live._moves_start``; each heartbeat's start is placed with its own skew
    estimate, which includes the heartbeat's time in transit, so a faster one moves the start earlier)."""
    return _metric(metrics, 'reelsight_ingest_events_total{outcome="accepted"}') - workload.counts.expected_accepted


def metric_checks(metrics: dict[str, float], workload: Workload) -> list[Check]:
    events = 'reelsight_ingest_events_total{outcome="%s"}'
    ended = 'reelsight_sessions_ended_total{ended_status="%s"}'
    counts = workload.counts
    heartbeats = sample(metrics, "reelsight_ingest_requests_total", protocol="conviva", outcome="content")
    kept = kept_repeated_starts(metrics, workload)
    return [
        Check("/metrics conviva content heartbeats == heartbeats sent", counts.batches, heartbeats),
        Check(
            "/metrics accepted + duplicate events == SDK events with content, starts, snapshots, repeated starts",
            counts.expected_accepted + counts.expected_duplicate,
            _metric(metrics, events % "accepted") + _metric(metrics, events % "duplicate"),
        ),
        Check(
            "/metrics accepted events beyond those are repeated starts (0 <= kept <= heartbeats after the first)",
            True,
            0 <= kept <= counts.expected_duplicate,
        ),
        Check(
            "/metrics late events (a heartbeat that ends its session carries no snapshot)",
            counts.expected_late,
            _metric(metrics, events % "late"),
        ),
        Check("/metrics rejected events", 0, _metric(metrics, events % "rejected")),
        Check("/metrics sessions ended By Player == ends sent", counts.ends, _metric(metrics, ended % "By Player")),
        Check("/metrics sessions ended By Expiration", 0, _metric(metrics, ended % "By Expiration")),
        Check(
            "/metrics live sessions == sessions open", len(workload.live), _metric(metrics, "reelsight_live_sessions")
        ),
    ]


def document_checks(db: Path, workload: Workload, geoip: bool) -> list[Check]:
    """What the stored sessions say: a fatal error made a playback failure (the players ended with one
    after playing), and the heartbeats' metadata and the sender's address filled the dimensions."""
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        failures = conn.execute("SELECT count(*) FROM sessions WHERE is_video_playback_failure = 1").fetchone()[0]
        stored, asset, cdn, player, country = conn.execute(
            "SELECT count(*), count(NULLIF(d_asset, '')), count(NULLIF(cdn, '')),"
            " count(NULLIF(d_player_name, '')), count(NULLIF(d_geo_country_code, '')) FROM sessions"
        ).fetchone()
    checks = [
        Check("stored sessions ended after a fatal error are playback failures", workload.counts.failures, failures),
        Check("stored sessions with an asset (an)", stored, asset),
        Check("stored sessions with a CDN (rs)", stored, cdn),
        Check("stored sessions with a player name (pn)", stored, player),
    ]
    if geoip:
        checks.append(Check("stored sessions with a country (GeoIP)", stored, country))
    return checks


# -- the report -------------------------------------------------------------------------------------


def report_split(splits: Sequence[HeartbeatSplit], server: PhaseResult, floor: PhaseResult | None) -> None:
    print()
    print("in-process split (no HTTP; CPU microseconds per heartbeat; a fresh, small database):")
    print("| heartbeats | per round | parse (decode_heartbeat) | events (decode_events) | registry"
          " | log commit (CPU / wall) | total |")  # fmt: skip
    print("|---|--:|--:|--:|--:|--:|--:|")
    for s in splits:
        print(
            f"| {s.kind} | {s.round_size} | {s.parse_us:.0f} | {s.events_us:.0f} | {s.registry_us:.0f}"
            f" | {s.commit_us:.0f} / {s.commit_wall_us:.0f} | {s.total_us:.0f} |"
        )
    per = {name: 1e6 * cpu_s / server.batches for name, cpu_s in server.server_threads.items()}
    split = ", ".join(f"{name} {us:.0f}" for name, us in per.items())
    floor_text = f"; the floor: {1e6 * floor.server_cpu_s / floor.batches:.0f}" if floor else ""
    print(f"server CPU per heartbeat in the open loop, microseconds: {split}{floor_text}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=50_000, help="live sessions kept open [50,000]")
    parser.add_argument("--rate", type=float, default=5000.0, help="open-loop heartbeats/s [5000]")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of the open-loop phase [60]")
    parser.add_argument("--saturation", type=float, default=20.0, help="seconds of the closed-loop phase [20]")
    parser.add_argument("--connections", type=int, default=128, help="keep-alive connections [128]")
    parser.add_argument("--end-share", type=float, default=0.03, help="share of heartbeats that end a session [0.03]")
    parser.add_argument("--warmup", type=float, default=5.0, help="unreported open-loop seconds first [5]")
    parser.add_argument("--profile", type=float, default=20.0, help="seconds of py-spy sampling, 0: none [20]")
    parser.add_argument("--skip-baselines", action="store_true", help="measure only the real server")
    parser.add_argument("--smoke", action="store_true", help="a quick run: 2,000 sessions, 500 heartbeats/s, 10 s")
    parser.add_argument("--json", type=Path, default=None, help="also write the raw results to this JSON file")
    args = parser.parse_args(argv)
    gc.set_threshold(*GC_THRESHOLDS)
    if args.smoke:
        args.sessions, args.rate, args.duration, args.saturation, args.warmup, args.profile = 2000, 500, 10, 10, 2, 5
    if args.sessions < 4 * args.connections:
        parser.error("--sessions must be at least 4 x --connections")
    if args.sessions / args.rate > MAX_GAP_S * 0.6:
        parser.error(
            f"--sessions / --rate is the gap between a session's heartbeats; keep it under {MAX_GAP_S * 0.6:.0f} s"
        )
    # The profile runs after the phases, in its own client: drive() itself profiles nothing.
    options = Options(
        args.sessions, args.rate, args.duration, args.saturation, args.connections, args.end_share, args.warmup, 0.0,
        unit="heartbeats",
    )  # fmt: skip
    settings = Settings()
    env, geoip = geoip_mode(reelsight_env())
    version = code_version()
    print(f"code: {version}; python {sys.version.split()[0]}, SQLite {sqlite3.sqlite_version}")
    print(
        f"workload: {args.sessions:,} live sessions, {args.rate:,.0f} heartbeats/s (one per session every"
        f" {args.sessions / args.rate:.0f} s), {args.end_share:.0%} of heartbeats from seq 2 end their session;"
        f" {args.connections} connections; load average {os.getloadavg()[0]:.2f}"
    )
    print(
        f"server: default settings (sqlite_synchronous={settings.sqlite_synchronous},"
        f" session_timeout_s={settings.session_timeout_s}, conviva_heartbeat_interval_s="
        f"{settings.conviva_heartbeat_interval_s}); GeoIP: {geoip}"
        + f"; http_processes={http_processes()} (the floor runs as many uvicorn processes)"
    )
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    log_path = DATA_DIR / "conviva-server.log"
    log_path.unlink(missing_ok=True)
    host_header = "127.0.0.1"
    runs: list[TargetRun] = []
    floor_argv = [str(PYTHON), str(FLOOR_APP), "--kind"]
    floor_kind = ["starlette", "--serve-config", "--processes", str(http_processes())]
    baselines = (("sink", ["raw", "--protocol", "conviva"]), ("floor", floor_kind))
    if not args.skip_baselines:
        for name, kind in baselines:
            workload = Workload(
                args.sessions, seed=SEED, end_share=args.end_share, host_header=host_header, customer_key="ik_floor"
            )
            gc.freeze()  # what exists now is never collected: leave it out of every collection
            with running(name, [*floor_argv, *kind], log_path) as target:
                runs.append(run_load(target, workload, options, client_type=HeartbeatClient))

    db = DATA_DIR / "conviva.db"
    if code_version() != version:  # others edit src/ while the baselines run; the server measures what is there now
        print(f"code changed before the server started: now {code_version()}")
    ingest_key = fresh_database(db)
    workload = Workload(
        args.sessions, seed=SEED, end_share=args.end_share, host_header=host_header, customer_key=ingest_key
    )
    gc.freeze()
    live: dict[str, int] = {}
    PROFILE.unlink(missing_ok=True)
    profiled = ""
    with running("server", [str(REELSIGHT), "--db", str(db), "serve"], log_path, env) as server:
        server.threads = thread_names(server.pid)

        def after_fill() -> None:
            live["after fill"] = _metric(server_metrics(server.port), "reelsight_live_sessions")

        server_run = run_load(server, workload, options, after_fill=after_fill, client_type=HeartbeatClient)
        open_loop = server_run.phase("open loop")
        at_rate = kept_pace(open_loop)
        if args.profile and PY_SPY.exists():
            profiled = f"at {args.rate:,.0f} heartbeats/s" if at_rate else "at saturation (closed loop)"
            profiling = dataclasses.replace(options, profile_s=args.profile)
            profile = profile_phase(server, workload, profiling, PROFILE, at_rate=at_rate, client_type=HeartbeatClient)
            server_run.phases.append(uvloop.run(profile))
        metrics = settled_metrics(server.port)
        live["end"] = _metric(metrics, "reelsight_live_sessions")
    runs.append(server_run)
    checks = answer_checks(runs, "every heartbeat answered 200 err ok") + metric_checks(metrics, workload)
    checks += store_checks(db, workload.ended, len(workload.live))  # after a clean stop
    checks += document_checks(db, workload, geoip=not geoip.startswith("disabled"))
    splits = [
        split
        for round_size in (1, 32)
        for split in measure_split(DATA_DIR / "conviva-split.db", sessions=SPLIT_SESSIONS, round_size=round_size)
    ]
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        live_events = conn.execute("SELECT count(*) FROM live_events").fetchone()[0]
    db_mib = sum(os.path.getsize(f) for f in (db, Path(f"{db}-wal")) if f.exists()) / 2**20

    report_table(runs, "heartbeats", "SDK events")
    ratio = report_baselines(runs, "heartbeats")
    report_threads(server_run)
    if PROFILE.exists():
        report_profile(read_profile(PROFILE, gateway_profile_parts()), profiled)
    floor_open = next((run.phase("open loop") for run in runs if run.name == "floor"), None)
    report_split(splits, open_loop, floor_open)
    print()
    report_memory(server_run.memory_mib)
    print(
        f"live sessions (/metrics): {live['after fill']:,} after the fill, {live['end']:,} at the end;"
        f" {live_events:,} rows in the live-session log (one per session and round;"
        f" {live_events / max(1, live['end']):.0f} per live"
        f" session), DB + WAL {db_mib:,.0f} MiB"
    )
    counts = workload.counts
    print(
        f"workload: {counts.batches:,} heartbeats, {counts.events:,} SDK events"
        f" ({counts.events / max(1, counts.batches - counts.starts):.1f} per heartbeat after the first),"
        f" {counts.starts:,} sessions opened, {counts.ends:,} ended by their players ({counts.failures:,} after a"
        f" fatal error); longest silence of a session {workload.longest_gap_s:.0f} s"
        + (f" **over the {MAX_GAP_S:.0f} s timeout**" if workload.longest_gap_s >= MAX_GAP_S else "")
    )

    print()
    full_size = args.sessions >= TARGETS.live_sessions and args.rate >= TARGETS.per_s
    report_targets(TARGETS, "heartbeats", server_run, ratio, live["after fill"], live["end"], full_size=full_size)
    kept = kept_repeated_starts(metrics, workload)
    print(
        f"repeated starts accepted because they moved a session's start earlier: {kept:,} of"
        f" {counts.expected_duplicate:,} ({kept / max(1, counts.expected_duplicate):.1%}); the rest were duplicates"
    )
    ok = report_checks(checks)
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "options": dataclasses.asdict(options),
                    "geoip": geoip,
                    "runs": [dataclasses.asdict(run) for run in runs],
                    "checks": [dataclasses.asdict(c) for c in checks],
                    "splits": [dataclasses.asdict(s) for s in splits],
                    "live_sessions": live,
                    "live_events": live_events,
                    "workload": dataclasses.asdict(counts) | {"longest_gap_s": workload.longest_gap_s},
                },
                indent=1,
            )
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
