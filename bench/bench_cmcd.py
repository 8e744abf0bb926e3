"""Benchmark of the CMCD v2 collector (``POST /ingest/cmcd/v2?key=...``): reports through the real HTTP
server, beside its floor, in one run.

The issue's sizing: 50,000 live sessions, one report per POST (the players' default ``batchSize``),
at least 5,000 reports/s. Reports shaped as hls.js, dash.js and Shaka send them (``cmcd_workload.py``)
go to three servers one after the other, with exactly the same phases:

- sink: a bare asyncio protocol that answers a canned 204 (``floor_app.py --kind raw --protocol
  cmcd``): the load generator's own ceiling;
- floor: Starlette under uvicorn configured exactly as ``reelsight serve`` (``floor_app.py --kind
  starlette --serve-config``), whose route reads the key, parses the report lines with ``http-sf``
  as the collector's decoder does (``cmcd.parse_body``) and answers a canned 204 with its CORS headers;
- server: the real ``reelsight serve`` on a fresh SQLite file under ``bench/data/``, default settings
  (durable answers: a 204 comes back once the report's events are committed to the live-session
  log), the bundled GeoIP databases (or none if they are not installed: the run says which), each
  player's public address in ``X-Forwarded-For`` from a trusted 127.0.0.1.

The phases (``bench_ingest.py``'s machinery: ``ingest_load.LoadClient``, ``bench_ingest.drive``):

1. fill: open ``--sessions`` sessions through their players' start-up (about 4.4 reports each),
   closed loop;
2. warm-up (not reported), then open loop: ``--rate`` reports/s for ``--duration`` s on a fixed
   schedule; latency counts from each report's scheduled time;
3. saturation: closed loop, ``--connections`` reports always in flight, for ``--saturation`` s;
4. for the server, ``--profile`` s under py-spy (at the rate if the open loop kept pace, else closed
   loop; not in the table), if py-spy is installed.

It prints reports/s sustained and at saturation per target, the server / floor ratio, latency
percentiles, CPU per report (server, floor, by server thread), the server's memory with the live
sessions, a py-spy profile, an in-process split of the server's per-report work (parse, decode, live
registry, SQLite log), and checks: every report answered 204; ``/metrics`` counted the reports and
exactly the accepted / duplicate / late outcomes they make; every session a player ended with
``sta=e`` is stored, so is every silent one past the session timeout, and nothing else; every stored
document says what its session's reports say (status, start, end, start-up, playing, paused,
rebuffering, restart time, bitrate switches, failure). Results: ``docs/benchmarks.md``.

Run: ``.venv/bin/python bench/bench_cmcd.py`` (full size, about 12 minutes), ``--smoke`` for a quick
run (2,000 sessions, 500 reports/s, 10 s phases).
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
from cmcd_workload import Session, Workload
from ingest_load import LoadClient, PhaseResult
from ingest_split import split_registry
from reelsight.ingest import cmcd
from reelsight.sessions.live import IncomingBatch
from reelsight.settings import Settings
from reelsight.store.sqlite.documents import add_stored_doc_function

PROFILE = DATA_DIR / "cmcd-profile.txt"  # py-spy's raw (collapsed stacks) output
SPLIT_SESSIONS = 5000  # sessions of the in-process split (their start-up, then three reports each)
TARGETS = Targets(per_s=5000, floor_share=0.5, p99_ms=50.0, rss_mb=500.0, live_sessions=50_000)
CONTENT_TYPE = "application/cmcd"
EXPIRY_MARGIN_S = 2.0  # a silent session within this of the timeout may or may not have expired yet
# What a stored document says, in the order of cmcd_workload.Expected.document().
DOC = "CAST(stored_doc(d.dict_id, d.doc) AS TEXT)"  # the document, decompressed (documents.py)
DOCUMENT_FIELDS = (
    ("ended_status", f"json_extract({DOC}, '$.status_info.ended_status')"),
    ("asset", f"json_extract({DOC}, '$.content_info.asset')"),
    ("start_ms", "s.start_ms"),
    ("end_ms", "s.end_ms"),
    ("video_start_time_ms", f"json_extract({DOC}, '$.lifetime_metrics.video_start_time_ms')"),
    ("playing_time_ms", f"json_extract({DOC}, '$.lifetime_metrics.playing_time_ms')"),
    ("paused_time_ms", f"json_extract({DOC}, '$.lifetime_metrics.paused_time_ms')"),
    ("rebuffering_time_ms", f"json_extract({DOC}, '$.lifetime_metrics.rebuffering_time_ms')"),
    (
        "connection_induced_rebuffering_time_ms",
        f"json_extract({DOC}, '$.lifetime_metrics.connection_induced_rebuffering_time_ms')",
    ),
    ("video_restart_time_ms", f"json_extract({DOC}, '$.lifetime_metrics.video_restart_time_ms')"),
    ("bitrate_switches_count", f"json_extract({DOC}, '$.lifetime_metrics.bitrate_switches_count')"),
    ("is_video_playback_failure", "s.is_video_playback_failure"),
)


class ReportClient(LoadClient):
    """The load client for CMCD reports: an answer acknowledges one when it is a 204."""

    def acknowledged(self, status: int, body: bytes) -> tuple[int, bool]:
        return 0, status == 204


# -- the profile and the split ----------------------------------------------------------------------


def collector_profile_parts() -> tuple[tuple[str, str], ...]:
    """``bench_ingest``'s rules (registry, log, worker), with the collector's before the catch-all."""
    parts = profile_parts()
    collector = (
        ("collector: parse the lines (cmcd.parse_body, http-sf)", "parse_body ("),
        ("collector: reports -> internal events (decode_reports)", "decode_reports ("),
        ("collector: account, sender, intake (count, submit)", "Intake."),
        ("collector: CORS (with_cors)", "with_cors ("),
        ("collector: rest of the handler (await, answer)", "CmcdCollector."),
    )
    return (*parts[:-1], *collector, parts[-1])


@dataclasses.dataclass
class ReportSplit:
    """CPU microseconds per report of each stage of the server's work, without HTTP."""

    kind: str  # "start-up" (the fill's reports) or "steady" (the reports after it)
    round_size: int
    reports: int
    parse_us: float = 0.0  # cmcd.parse_body (http-sf): what the floor does too
    decode_us: float = 0.0  # cmcd.decode_reports: lines -> internal events
    registry_us: float = 0.0  # LiveRegistry.process without the log's commit
    commit_us: float = 0.0  # SqliteLiveLog.commit (CPU; wall time below)
    commit_wall_us: float = 0.0

    @property
    def total_us(self) -> float:
        return self.parse_us + self.decode_us + self.registry_us + self.commit_us


def measure_split(db: Path, *, sessions: int, round_size: int) -> list[ReportSplit]:
    """Open ``sessions`` sessions through their start-up, then send three reports per session,
    ``round_size`` per round, through the collector's decoder, the real live registry and the real
    SQLite live-session log."""
    settings = Settings()
    splits = []
    with split_registry(db, settings) as (account, registry, log):
        workload = Workload(sessions, seed=SEED, end_share=0.03, host_header="bench", ingest_key=account.ingest_key)
        for kind, limit in (("start-up", 0), ("steady", 3 * sessions)):
            split = ReportSplit(kind, round_size, 0)
            log.cpu_s = log.wall_s = 0.0
            parse_s = decode_s = process_s = 0.0
            pending: list[IncomingBatch] = []
            while not (workload.filled() if kind == "start-up" else split.reports == limit):
                split.reports += 1
                ip, user_agent, body = request_parts(workload.request(workload.next_session()))
                started = time.thread_time()
                receive_ms = int(time.time() * 1000)
                lines, refused = cmcd.parse_body(body, CONTENT_TYPE, max_lines=settings.ingest_max_events)
                parsed = time.thread_time()
                decoded = cmcd.decode_reports(lines, refused, receive_ms=receive_ms)
                parse_s += parsed - started
                decode_s += time.thread_time() - parsed
                pending.append(IncomingBatch(account, receive_ms, ip, user_agent, decoded.events, decoded.claims))
                if len(pending) == round_size:
                    started = time.thread_time()
                    registry.process(pending, int(time.time() * 1000))
                    process_s += time.thread_time() - started
                    pending = []
            if pending:
                started = time.thread_time()
                registry.process(pending, int(time.time() * 1000))
                process_s += time.thread_time() - started
            per = 1e6 / split.reports
            split.parse_us, split.decode_us = parse_s * per, decode_s * per
            split.registry_us = (process_s - log.cpu_s) * per
            split.commit_us, split.commit_wall_us = log.cpu_s * per, log.wall_s * per
            splits.append(split)
    return splits


# -- checks -----------------------------------------------------------------------------------------


def _within(what: str, low: int, high: int, found: int) -> Check:
    """A count that timing leaves a little open: anything from ``low`` to ``high`` passes."""
    span = f"{low:,} to {high:,}"
    return Check(f"{what}: {found:,}", span, span if low <= found <= high else found)


def _silent_for(sessions: Sequence[Session], at_s: float) -> list[float]:
    return [at_s - s.last_sent_s for s in sessions]


def metric_checks(metrics: dict[str, float], workload: Workload, *, read_at_s: float, timeout_s: float) -> list[Check]:
    events = 'reelsight_ingest_events_total{outcome="%s"}'
    ended = 'reelsight_sessions_ended_total{ended_status="%s"}'
    counts = workload.counts
    refused = sum(
        int(value)
        for key, value in metrics.items()
        if key.startswith("reelsight_ingest_requests_total{") and 'protocol="cmcd"' in key and "line refused" in key
    )
    silent = _silent_for(workload.expiring, read_at_s)
    by_expiration = _metric(metrics, ended % "By Expiration")
    return [
        Check(
            "/metrics cmcd stored requests == reports sent",
            counts.batches,
            sample(metrics, "reelsight_ingest_requests_total", protocol="cmcd", outcome="stored"),
        ),
        Check("/metrics cmcd lines refused", 0, refused),
        Check(
            "/metrics accepted + duplicate == reports before their session's end",
            counts.makes_events + counts.start_only,
            _metric(metrics, events % "accepted") + _metric(metrics, events % "duplicate"),
        ),
        Check(
            "/metrics duplicate: 0, or the reports that make nothing but their repeated start",
            True,
            _metric(metrics, events % "duplicate") in (0, counts.start_only),
        ),
        Check("/metrics late (reports after a session's e)", counts.expected_late, _metric(metrics, events % "late")),
        Check("/metrics rejected events", 0, _metric(metrics, events % "rejected")),
        Check("/metrics ended By Player == sessions ended with e", counts.ends, _metric(metrics, ended % "By Player")),
        _within(
            "/metrics sessions ended By Expiration (silent sessions past the timeout, ± 2 s, when read)",
            sum(1 for age in silent if age >= timeout_s + EXPIRY_MARGIN_S),
            sum(1 for age in silent if age >= timeout_s - EXPIRY_MARGIN_S),
            by_expiration,
        ),
        Check(
            "/metrics live sessions == sessions open + silent ones not yet expired",
            len(workload.live) + len(workload.expiring) - by_expiration,
            _metric(metrics, "reelsight_live_sessions"),
        ),
    ]


def expiry_store_checks(
    db: Path, workload: Workload, *, stopping_s: float, stopped_s: float, timeout_s: float
) -> list[Check]:
    """After a clean stop: the sessions table holds the sessions ended with ``e`` and the silent ones
    past the timeout when the server stopped (those within ``EXPIRY_MARGIN_S`` of it either way), and
    nothing else; the live-session log holds the open ones and the silent ones not yet expired."""
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        stored = {row[0] for row in conn.execute("SELECT conviva_session_id FROM sessions")}
    expired, young, boundary = set(), set(), set()
    for session in workload.expiring:
        if stopping_s - session.last_sent_s >= timeout_s + EXPIRY_MARGIN_S:
            expired.add(session.conviva_session_id)
        elif stopped_s - session.last_sent_s < timeout_s - EXPIRY_MARGIN_S:
            young.add(session.conviva_session_id)
        else:
            boundary.add(session.conviva_session_id)
    checks = store_checks(
        db,
        {*workload.ended, *expired, *(boundary & stored)},
        len(workload.live) + len(young) + len(boundary - stored),
        ended="ended with e, or silent past the timeout",
    )
    checks.append(Check("silent sessions short of the timeout are not stored", 0, len(young & stored)))
    return checks


def document_checks(db: Path, workload: Workload, geoip: bool) -> tuple[list[Check], list[str]]:
    """Every stored document against what its session's reports say; the browser from the User-Agent
    and the country from the address. Returns the checks and a few mismatches to show."""
    columns = ", ".join(sql for _name, sql in DOCUMENT_FIELDS)
    query = f"SELECT s.conviva_session_id, {columns}, s.d_browser_name, s.d_geo_country_code,"
    query += f" json_extract({DOC}, '$.content_info.category')"
    query += " FROM sessions s JOIN session_docs d ON d.id = s.doc_id"
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        add_stored_doc_function(conn)
        rows = conn.execute(query).fetchall()
    matching, browser, country, category = 0, 0, 0, 0
    mismatches: list[str] = []
    for conviva_session_id, *found, browser_name, country_code, stored_category in rows:
        expected = workload.expected.get(conviva_session_id)
        browser += bool(browser_name) and browser_name != "Native App"
        country += bool(country_code)
        category += expected is not None and stored_category == expected.category
        if expected is not None and tuple(found) == expected.document():
            matching += 1
        elif len(mismatches) < 3:
            wanted = expected.document() if expected is not None else (None,) * len(DOCUMENT_FIELDS)
            differ = [
                f"{name} {got!r} (reports say {want!r})"
                for (name, _sql), got, want in zip(DOCUMENT_FIELDS, found, wanted, strict=True)
                if got != want
            ]
            mismatches.append(f"{conviva_session_id}: " + ", ".join(differ))
    checks = [
        Check("stored documents saying what their reports say (status, times, switches, failure)", len(rows), matching),
        Check("stored sessions with a browser (User-Agent)", len(rows), browser),
        # The first report of every player carries no `st`: a later report's must reach the session.
        Check("stored sessions with the content category their st says (VoD / Live)", len(rows), category),
    ]
    if geoip:
        checks.append(Check("stored sessions with a country (GeoIP)", len(rows), country))
    return checks, mismatches


# -- the report -------------------------------------------------------------------------------------


def report_split(splits: Sequence[ReportSplit], server: PhaseResult, floor: PhaseResult | None) -> None:
    print()
    print("in-process split (no HTTP; CPU microseconds per report; a fresh, small database):")
    print("| reports | per round | parse (parse_body, http-sf) | decode (decode_reports) | registry"
          " | log commit (CPU / wall) | total |")  # fmt: skip
    print("|---|--:|--:|--:|--:|--:|--:|")
    for s in splits:
        print(
            f"| {s.kind} | {s.round_size} | {s.parse_us:.0f} | {s.decode_us:.0f} | {s.registry_us:.0f}"
            f" | {s.commit_us:.0f} / {s.commit_wall_us:.0f} | {s.total_us:.0f} |"
        )
    per = {name: 1e6 * cpu_s / server.batches for name, cpu_s in server.server_threads.items()}
    split = ", ".join(f"{name} {us:.0f}" for name, us in per.items())
    floor_text = f"; the floor: {1e6 * floor.server_cpu_s / floor.batches:.0f}" if floor else ""
    print(f"server CPU per report in the open loop, microseconds: {split}{floor_text}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=50_000, help="live sessions kept open [50,000]")
    parser.add_argument("--rate", type=float, default=5000.0, help="open-loop reports/s [5000]")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of the open-loop phase [60]")
    parser.add_argument("--saturation", type=float, default=20.0, help="seconds of the closed-loop phase [20]")
    parser.add_argument("--connections", type=int, default=128, help="keep-alive connections [128]")
    parser.add_argument(
        "--end-share", type=float, default=0.03, help="share of a playing session's visits that end it [0.03]"
    )
    parser.add_argument("--warmup", type=float, default=5.0, help="unreported open-loop seconds first [5]")
    parser.add_argument("--profile", type=float, default=20.0, help="seconds of py-spy sampling, 0: none [20]")
    parser.add_argument(
        "--session-timeout",
        type=int,
        default=None,
        help="the server's session_timeout_s [its default, 90; --smoke: 15, so that silent sessions expire]",
    )
    parser.add_argument("--skip-baselines", action="store_true", help="measure only the real server")
    parser.add_argument("--smoke", action="store_true", help="a quick run: 2,000 sessions, 500 reports/s, 10 s")
    parser.add_argument("--json", type=Path, default=None, help="also write the raw results to this JSON file")
    args = parser.parse_args(argv)
    gc.set_threshold(*GC_THRESHOLDS)
    if args.smoke:
        args.sessions, args.rate, args.duration, args.saturation, args.warmup, args.profile = 2000, 500, 10, 10, 2, 5
        args.session_timeout = args.session_timeout or 15
    settings = Settings()
    env, geoip = geoip_mode(reelsight_env())
    if args.session_timeout:
        env["REELSIGHT_SESSION_TIMEOUT_S"] = str(args.session_timeout)
    timeout_s = float(args.session_timeout or settings.session_timeout_s)
    if args.sessions < 4 * args.connections:
        parser.error("--sessions must be at least 4 x --connections")
    if args.sessions / args.rate > timeout_s * 0.45:
        parser.error(
            f"--sessions / --rate sets the gap between a session's interval reports (about 1.3 times it: the"
            f" stories' reports come between); keep it under {timeout_s * 0.45:.0f} s"
        )
    if timeout_s <= 12:
        parser.error("--session-timeout must leave room for a player's last report after its end (up to 10 s)")
    # The profile runs after the phases, in its own client: drive() itself profiles nothing.
    options = Options(
        args.sessions, args.rate, args.duration, args.saturation, args.connections, args.end_share, args.warmup, 0.0,
        unit="reports",
    )  # fmt: skip
    version = code_version()
    print(f"code: {version}; python {sys.version.split()[0]}, SQLite {sqlite3.sqlite_version}")
    print(
        f"workload: {args.sessions:,} live sessions, {args.rate:,.0f} reports/s (one POST each), a visit per session"
        f" about every {1.3 * args.sessions / args.rate:.0f} s, {args.end_share:.0%} of a playing session's visits"
        f" end it; {args.connections} connections; load average {os.getloadavg()[0]:.2f}"
    )
    print(
        f"server: default settings (sqlite_synchronous={settings.sqlite_synchronous}), session_timeout_s="
        f"{timeout_s:.0f}"
        + (" (--session-timeout)" if args.session_timeout else "")
        + f"; GeoIP: {geoip}"
        + f"; http_processes={http_processes()} (the floor runs as many uvicorn processes)"
    )
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    log_path = DATA_DIR / "cmcd-server.log"
    log_path.unlink(missing_ok=True)
    host_header = "127.0.0.1"
    runs: list[TargetRun] = []
    floor_argv = [str(PYTHON), str(FLOOR_APP), "--kind"]
    floor_kind = ["starlette", "--serve-config", "--processes", str(http_processes())]
    baselines = (("sink", ["raw", "--protocol", "cmcd"]), ("floor", floor_kind))
    if not args.skip_baselines:
        for name, kind in baselines:
            workload = Workload(
                args.sessions,
                seed=SEED,
                end_share=args.end_share,
                host_header=host_header,
                ingest_key="ik_floor",
                keepalive_s=timeout_s / 2,
            )
            gc.freeze()  # what exists now is never collected: leave it out of every collection
            with running(name, [*floor_argv, *kind], log_path) as target:
                runs.append(run_load(target, workload, options, client_type=ReportClient, filled=workload.filled))

    db = DATA_DIR / "cmcd.db"
    if code_version() != version:  # others edit src/ while the baselines run; the server measures what is there now
        print(f"code changed before the server started: now {code_version()}")
    ingest_key = fresh_database(db)
    workload = Workload(
        args.sessions,
        seed=SEED,
        end_share=args.end_share,
        host_header=host_header,
        ingest_key=ingest_key,
        keepalive_s=timeout_s / 2,
    )
    gc.freeze()
    live: dict[str, int] = {}
    PROFILE.unlink(missing_ok=True)
    profiled = ""
    with running("server", [str(REELSIGHT), "--db", str(db), "serve"], log_path, env) as server:
        server.threads = thread_names(server.pid)

        def after_fill() -> None:
            live["after fill"] = _metric(server_metrics(server.port), "reelsight_live_sessions")

        server_run = run_load(
            server, workload, options, after_fill=after_fill, client_type=ReportClient, filled=workload.filled
        )
        open_loop = server_run.phase("open loop")
        at_rate = kept_pace(open_loop)
        if args.profile and PY_SPY.exists():
            profiled = f"at {args.rate:,.0f} reports/s" if at_rate else "at saturation (closed loop)"
            profiling = dataclasses.replace(options, profile_s=args.profile)
            profile = profile_phase(server, workload, profiling, PROFILE, at_rate=at_rate, client_type=ReportClient)
            server_run.phases.append(uvloop.run(profile))
        metrics = settled_metrics(server.port)
        metrics_read_s = time.monotonic()
        live["end"] = _metric(metrics, "reelsight_live_sessions")
        stopping_s = time.monotonic()
    stopped_s = time.monotonic()
    runs.append(server_run)
    checks = answer_checks(runs, "every report answered 204")
    checks += metric_checks(metrics, workload, read_at_s=metrics_read_s, timeout_s=timeout_s)
    checks += expiry_store_checks(db, workload, stopping_s=stopping_s, stopped_s=stopped_s, timeout_s=timeout_s)
    documents, mismatches = document_checks(db, workload, geoip=not geoip.startswith("disabled"))
    checks += documents
    splits = [
        split
        for round_size in (1, 32)
        for split in measure_split(DATA_DIR / "cmcd-split.db", sessions=SPLIT_SESSIONS, round_size=round_size)
    ]
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        live_events = conn.execute("SELECT count(*) FROM live_events").fetchone()[0]
    db_mib = sum(os.path.getsize(f) for f in (db, Path(f"{db}-wal")) if f.exists()) / 2**20

    report_table(runs, "reports")
    ratio = report_baselines(runs, "reports")
    report_threads(server_run)
    if PROFILE.exists():
        report_profile(read_profile(PROFILE, collector_profile_parts()), profiled)
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
    by_event = sorted(counts.by_event.items(), key=lambda kv: -kv[1])
    kinds = ", ".join(f"{kind} {n / counts.batches:.1%}" for kind, n in by_event)
    print(
        f"workload: {counts.batches:,} reports (e= {kinds}), {counts.starts:,} sessions opened; {counts.ends:,}"
        f" ended with e, {counts.closed:,} closed silently, {counts.failures:,} silent after a fatal error"
        f" ({len(workload.live):,} open at the end); longest silence of an open session"
        f" {workload.longest_gap_s:.0f} s"
        + (f" **over the {timeout_s:.0f} s timeout**" if workload.longest_gap_s >= timeout_s else "")
    )

    print()
    full_size = args.sessions >= TARGETS.live_sessions and args.rate >= TARGETS.per_s
    report_targets(TARGETS, "reports", server_run, ratio, live["after fill"], live["end"], full_size=full_size)
    events = 'reelsight_ingest_events_total{outcome="%s"}'
    print(
        f"reports that make nothing but their repeated start: {counts.start_only:,} of {counts.batches:,};"
        f" /metrics duplicate {_metric(metrics, events % 'duplicate'):,} (0 when the decoder adds a heartbeat to them)"
    )
    for mismatch in mismatches:
        print(f"  document mismatch: {mismatch}")
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
