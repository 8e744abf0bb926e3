"""In-process cost of the HTTP side's per-request work for the Conviva gateway, without HTTP: parsing a
heartbeat (what the floor does too: the baseline), turning it into internal events, and finding the
client address behind a trusted proxy, on the heartbeats ``bench_conviva.py`` sends.

The client address is timed twice in the same run: through ``client_ip`` (plain dotted quads take
the IPv4 fast path) and through the general walk over ``ipaddress`` objects it falls back to (the
baseline). Each measurement is the median of ``--rounds`` rounds over every request, rounds
interleaved. To compare with another tree, run this file with ``PYTHONPATH=OTHER/src`` as well
(``bench/bench_import_ab.py`` shows the worktree set-up). Results: ``docs/benchmarks.md``, "Conviva
SDK gateway". Run: ``.venv/bin/python bench/bench_gateway_decode.py`` (about a minute).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Sequence

from benchutil import code_version, request_parts
from conviva_workload import Workload
from reelsight.ingest import conviva
from reelsight.sessions.enrich import network

TRUSTED = ("127.0.0.1",)  # the load generator's proxy, as in bench_conviva.py
RECEIVE_MS = 1_796_000_000_000  # any time: the decoder places events by the heartbeat's own age


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=5000, help="sessions, opened before the timed heartbeats")
    parser.add_argument("--heartbeats", type=int, default=20_000, help="timed heartbeats (after the openings)")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)
    workload = Workload(args.sessions, seed=1, end_share=0.03, host_header="bench", customer_key="k")
    for _ in range(args.sessions):
        workload.request(workload.next_session())
    requests = [request_parts(workload.request(workload.next_session())) for _ in range(args.heartbeats)]
    bodies = [body for _ip, _ua, body in requests]
    forwarded = [ip for ip, _ua, _body in requests]
    heartbeats = [conviva.decode_heartbeat(body) for body in bodies]

    def parse() -> None:
        for body in bodies:
            conviva.decode_heartbeat(body)

    def events() -> None:
        for heartbeat in heartbeats:
            conviva.decode_events(heartbeat, receive_ms=RECEIVE_MS, new_client_id=lambda _h: "", interval_ms=20_000)

    def address() -> None:
        for ip in forwarded:
            network.client_ip("127.0.0.1", ip, TRUSTED)

    walk = getattr(network, "_client_ip_walk", None)  # absent in a tree before the fast path: client_ip is the walk

    def address_walk() -> None:
        for ip in forwarded:
            walk("127.0.0.1", ip, TRUSTED)

    steps: dict[str, Callable[[], None]] = {
        "decode_heartbeat (baseline: the floor parses too)": parse,
        "decode_events": events,
        "client_ip": address,
    }
    if walk is not None:
        steps["client_ip through the general walk (baseline)"] = address_walk
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(args.rounds):
        for name, step in steps.items():
            started = time.perf_counter()
            step()
            times[name].append((time.perf_counter() - started) / len(requests) * 1e6)
    print(f"code: {code_version()}; {len(requests):,} heartbeats after {args.sessions:,} openings")
    print(f"{args.rounds} rounds, interleaved")
    print("| step | µs per heartbeat, median / min |")
    print("|---|--:|")
    for name, values in times.items():
        print(f"| {name} | {statistics.median(values):.1f} / {min(values):.1f} |")
    median = {name: statistics.median(values) for name, values in times.items()}
    names = list(steps)
    print(f"decode_events / decode_heartbeat: {median[names[1]] / median[names[0]]:.1f}x")
    if walk is not None:
        print(f"client_ip / the general walk: {median[names[2]] / median[names[3]]:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
