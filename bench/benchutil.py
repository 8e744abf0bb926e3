"""What the benchmarks share besides their phases: the code version measured, a process's memory, the
server's GeoIP mode, reading requests and ``/metrics``, and the report's table, comparisons and targets."""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import os
import statistics
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ingest_load import PhaseResult, percentile
from reelsight.sessions.enrich.bundled import bundled_database

if TYPE_CHECKING:
    from bench_ingest import Check, TargetRun

ROOT = Path(__file__).resolve().parent.parent
# The load generator holds every session, device and latency of the run: with the default thresholds,
# collections of the old generation grew to 0.2-1 s during an open loop and showed in the baselines'
# p99 (a stall of the client, not of the target). It makes no reference cycles worth collecting.
GC_THRESHOLDS = (10_000, 50, 1_000)


def code_version() -> str:
    """The commit measured, and whether src/ had uncommitted changes (results belong to that state)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return f"{head} + {len(dirty)} uncommitted files under src/" if dirty else head


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (the HTTP processes of a server with ``http_processes`` >= 2)."""
    out = [pid]
    for parent in out:
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{parent}/task").iterdir():
                with contextlib.suppress(OSError):
                    out += [int(c) for c in (task / "children").read_text().split()]
    return out


def memory_mb(pid: int) -> dict[str, float]:
    """VmRSS (now), VmHWM (peak), and RssAnon / RssFile (the part backed by files, such as the
    memory-mapped GeoIP databases) of a server, in MiB: summed over its process and the processes it
    started (``http_processes`` >= 2; the sum of peaks bounds the peak of the sum). ``Pss`` adds each
    process's proportional share of the pages they share, the fair total of several processes."""
    values: dict[str, float] = collections.defaultdict(float)
    for member in process_tree(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                key, _, rest = line.partition(":")
                if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                    values[key] += int(rest.split()[0]) / 1024
            for line in Path(f"/proc/{member}/smaps_rollup").read_text().splitlines():
                key, _, rest = line.partition(":")
                if key == "Pss":
                    values[key] += int(rest.split()[0]) / 1024
    values["processes"] = len(process_tree(pid))
    return dict(values)


def geoip_mode(env: dict[str, str]) -> tuple[dict[str, str], str]:
    """The server's environment, and what its GeoIP enrichment uses: the bundled databases when they are
    installed (the default settings), else none."""
    env = dict(env)
    city, asn = bundled_database("city"), bundled_database("asn")
    if city and asn:
        return env, f"bundled DB-IP Lite databases ({Path(city).name}, {Path(asn).name})"
    env["REELSIGHT_GEOIP_CITY_DB"] = env["REELSIGHT_GEOIP_ASN_DB"] = ""
    return env, "disabled (the bundled databases are not installed)"


def request_parts(request: bytes) -> tuple[str, str, bytes]:
    """The X-Forwarded-For address, the User-Agent and the body of one of the workloads' requests."""
    head, _, body = request.partition(b"\r\n\r\n")
    headers = {k.lower(): v for k, v in (line.split(": ", 1) for line in head.decode().split("\r\n")[1:])}
    return headers["x-forwarded-for"], headers["user-agent"], body


def sample(metrics: dict[str, float], name: str, **labels: str) -> int:
    """A sample of ``GET /metrics`` by name and labels, in whatever order the labels come."""
    wanted = {f'{key}="{value}"' for key, value in labels.items()}
    for key, value in metrics.items():
        if key.startswith(name + "{") and wanted <= set(key[len(name) + 1 : -1].split(",")):
            return int(value)
    return 0


def value_text(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def mark(ok: bool) -> str:
    return "pass" if ok else "**FAIL**"


# -- the report -------------------------------------------------------------------------------------


def report_table(runs: Sequence[TargetRun], unit: str, events: str | None = None) -> None:
    """One row per target and reported phase; ``events``: the name of what a request carries several
    of (a column of its own), or None when a request is one."""
    print()
    events_head, events_align = (f" {events}/s |", "--:|") if events else ("", "")
    print(
        f"| target | phase | offered {unit}/s | {unit}/s |{events_head} latency p50 / p95 / p99 / max ms"
        f" | server CPU ms/{unit.removesuffix('s')} | server CPU s/s | load generator CPU s/s"
        " | other processes CPU s/s |"
    )
    print(f"|---|---|--:|--:|{events_align}--:|--:|--:|--:|--:|")
    for run in runs:
        for p in run.phases:
            if p.name == "warm-up" or p.name.startswith("under py-spy"):
                continue
            offered = f"{p.offered_per_s:,.0f}" if p.mode == "open" else f"max ({p.connections} in flight)"
            latency = " / ".join(f"{percentile(p.latency_ms, q):.1f}" for q in (50, 95, 99))
            others_s = max(0.0, p.machine_busy_s - p.server_cpu_s - p.client_cpu_s)  # tick rounding
            cpu = " | ".join(f"{s / p.wall_s:.2f}" for s in (p.server_cpu_s, p.client_cpu_s, others_s))
            events_cell = f" {p.events_per_s:,.0f} |" if events else ""
            print(
                f"| {run.name} | {p.name} | {offered} | {p.batches_per_s:,.0f} |{events_cell} {latency}"
                f" / {max(p.latency_ms):.0f} | {1000 * p.server_cpu_s / p.batches:.3f} | {cpu} |"
            )


def report_baselines(runs: Sequence[TargetRun], unit: str) -> float | None:
    """The server against the floor (saturation throughput, open-loop latency and CPU per request) and
    the load generator's ceiling against the sink; returns the saturation ratio (None without a floor)."""
    by_target = {run.name: run for run in runs}
    server = by_target["server"]
    open_loop, saturation = server.phase("open loop"), server.phase("saturation")
    ratio: float | None = None
    one = unit.removesuffix("s")
    if "floor" in by_target:
        floor_open, floor_saturation = by_target["floor"].phase("open loop"), by_target["floor"].phase("saturation")
        ratio = saturation.batches_per_s / floor_saturation.batches_per_s
        server_us, floor_us = (1e6 * p.server_cpu_s / p.batches for p in (open_loop, floor_open))
        print(
            f"server / floor: saturation throughput {ratio:.3f}x (floor {floor_saturation.batches_per_s:,.0f},"
            f" server {saturation.batches_per_s:,.0f} {unit}/s); open-loop latency p50"
            f" {statistics.median(open_loop.latency_ms) / statistics.median(floor_open.latency_ms):.1f}x,"
            f" p99 {percentile(open_loop.latency_ms, 99) / percentile(floor_open.latency_ms, 99):.1f}x;"
            f" CPU per {one} in the open loop {server_us:.0f} µs vs {floor_us:.0f} µs ({server_us / floor_us:.1f}x)"
        )
    if "sink" in by_target:
        sink = by_target["sink"].phase("saturation")
        print(
            f"load generator ceiling (against the sink): {sink.batches_per_s:,.0f} {unit}/s at"
            f" {sink.client_cpu_s / sink.wall_s:.2f} CPU s/s"
        )
    return ratio


def report_memory(memory_mib: dict[str, dict[str, float]]) -> None:
    for moment, mem in memory_mib.items():
        processes = int(mem.get("processes", 1))
        print(
            f"server memory {moment}: VmRSS {mem['VmRSS']:.0f} MiB (anonymous {mem['RssAnon']:.0f},"
            f" files {mem['RssFile']:.0f}), VmHWM {mem['VmHWM']:.0f} MiB"
            + (f", PSS {mem.get('Pss', 0):.0f} MiB ({processes} processes, summed)" if processes > 1 else "")
        )


@dataclasses.dataclass(frozen=True)
class Targets:
    """An issue's targets for one protocol's ingest."""

    per_s: float  # requests/s sustained (open loop kept pace) and at saturation
    floor_share: float  # server saturation throughput / the floor's, same run
    p99_ms: float  # open-loop latency at that rate
    rss_mb: float  # peak VmHWM ...
    live_sessions: int  # ... with this many live sessions


def report_targets(
    targets: Targets,
    unit: str,
    server: TargetRun,
    ratio: float | None,
    live_after_fill: int,
    live_end: int,
    *,
    full_size: bool,
) -> None:
    """Pass or fail per target; a run smaller than the targets' load is not judged."""
    open_loop, saturation = server.phase("open loop"), server.phase("saturation")
    kept = kept_pace(open_loop)
    p99 = percentile(open_loop.latency_ms, 99)
    peak_mb = max(m["VmHWM"] for m in server.memory_mib.values()) * 2**20 / 1e6

    def verdict(ok: bool) -> str:
        return mark(ok) if full_size else "(not judged: smaller than the targets' load)"

    print(
        f"target >= {targets.per_s:,.0f} {unit}/s sustained: open loop {open_loop.batches_per_s:,.0f} of"
        f" {open_loop.offered_per_s:,.0f} offered, saturation {saturation.batches_per_s:,.0f}:"
        f" {verdict(kept and saturation.batches_per_s >= targets.per_s)}"
    )
    if ratio is not None:
        print(
            f"target server saturation >= {targets.floor_share:g} x the floor's (same run): {ratio:.3f}x"
            f" {verdict(ratio >= targets.floor_share)}"
        )
    print(f"target p99 < {targets.p99_ms:g} ms at that rate: {p99:,.1f} ms {verdict(kept and p99 < targets.p99_ms)}")
    memory_ok = peak_mb < targets.rss_mb and live_after_fill >= targets.live_sessions
    print(
        f"target memory < {targets.rss_mb:g} MB with {targets.live_sessions:,} live sessions: peak VmHWM"
        f" {peak_mb:,.0f} MB with {live_after_fill:,} live after the fill, {live_end:,} at the end"
        f" {verdict(memory_ok)}"
    )


def report_checks(checks: Sequence[Check]) -> bool:
    """Print every check; whether all passed."""
    for check in checks:
        expected, found = value_text(check.expected), value_text(check.found)
        print(f"  {check.what}: expected {expected}, found {found} {mark(check.ok)}")
    ok = all(c.ok for c in checks)
    print(f"correct: {mark(ok)}")
    return ok


def kept_pace(phase: PhaseResult) -> bool:
    """An open loop that answered (almost) everything it offered within its schedule."""
    return phase.batches_per_s >= 0.99 * phase.offered_per_s


def http_processes() -> int:
    """The server's ``http_processes`` as this run gives it (``REELSIGHT_HTTP_PROCESSES``, default 1):
    the floor then runs on as many processes, so the ratio compares like with like."""
    return int(os.environ.get("REELSIGHT_HTTP_PROCESSES", "1") or "1")
