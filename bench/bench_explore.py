"""The explorer page's first useful paint on localhost with the demo's data, beside its floor.

A real server (``reelsight serve`` in-process, SQLite) over the demo's data set (``prepare_demo``:
50,000 content sessions of the last 31 days and their ad sessions) and headless Chromium (Debian's,
through Playwright). Each run opens ``/explore`` in a fresh page already signed in (the credentials
put in ``sessionStorage`` before the page's scripts run) and reads ``document.body.dataset.readyMs``:
the page's own mark, in ms since navigation, of the moment the charts, the breakdown and the session
table are all drawn ("first useful paint").

The floor, measured in the same run and interleaved run by run: the page's four API requests made
directly from this process, concurrently as the page makes them (the custom selection of six
metrics, the two group-by requests of the breakdown, the 1,500-session sample), so what the page
adds on top of the API it waits for is the difference. Target: p50 < 1 s.

Run: ``.venv/bin/python bench/bench_explore.py`` (``--runs N``, ``--sessions N``). Results:
``docs/benchmarks.md`` ("The explorer page").
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

from benchutil import code_version
from reelsight.clock import SystemClock
from reelsight.demo import prepare_demo
from reelsight.settings import Settings
from reelsight.store.sqlite import SqliteStore

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.conftest import LiveServer  # the tests' real uvicorn server on loopback

TARGET_MS = 1000.0
HOUR_MS = 3_600_000
CHART_METRICS = (
    "plays",
    "video-start-time",
    "rebuffering-ratio",
    "video-start-failures",
    "video-playback-failures",
    "bitrate",
)


def floor_ms(client: httpx.Client, pool: ThreadPoolExecutor) -> float:
    """The page's four API requests, made concurrently from here: their wall time in ms."""
    now = SystemClock().now_ms()
    window = [("start_epoch_ms", str(now - 24 * HOUR_MS)), ("end_epoch_ms", str(now))]
    requests = [
        (
            "/insights/3.0/metrics/custom-selection",
            [*(("metric", m) for m in CHART_METRICS), ("granularity", "PT1H"), *window],
        ),
        ("/insights/3.0/metrics/rebuffering-ratio/group-by/cdn", [("granularity", "ALL"), ("limit", "15"), *window]),
        ("/insights/3.0/metrics/plays/group-by/cdn", [("granularity", "ALL"), ("limit", "500"), *window]),
        ("/insights/3.0/sessions/content", [("limit", "1500"), ("start_epoch_ms", str(now - 3 * HOUR_MS)), window[1]]),
    ]
    started = time.perf_counter()
    answers = list(pool.map(lambda r: client.get(r[0], params=r[1]), requests))
    elapsed = (time.perf_counter() - started) * 1000
    assert all(a.status_code == 200 for a in answers), [a.text[:200] for a in answers if a.status_code != 200]
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--sessions", type=int, default=50_000, help="content sessions of the demo data [50,000]")
    args = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("needs Debian's chromium (apt-get install chromium)", file=sys.stderr)
        return 2
    print(f"code {code_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "explore.db")
        settings = Settings(db=db)
        store = SqliteStore(db)
        key_id, secret = prepare_demo(store, settings, count=args.sessions, seed=1, echo=lambda _line: None)
        with (
            LiveServer(settings, store, SystemClock()) as live,
            sync_playwright() as p,
            httpx.Client(base_url=live.url, auth=(key_id, secret), timeout=30) as client,
            ThreadPoolExecutor(4) as pool,
        ):
            browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            credentials = json.dumps({"keyId": key_id, "secret": secret})
            paints: list[float] = []
            floors: list[float] = []
            for run in range(args.runs + 2):  # two warm-up runs
                context = browser.new_context(viewport={"width": 1400, "height": 1000})
                context.add_init_script(
                    f"sessionStorage.setItem('reelsight.explore.credentials', {json.dumps(credentials)})"
                )
                page = context.new_page()
                page.goto(f"{live.url}/explore")
                page.wait_for_selector("body[data-ready-ms]", timeout=30_000)
                paint = float(page.get_attribute("body", "data-ready-ms") or "nan")
                rows = page.eval_on_selector_all("#sessions tbody tr", "rows => rows.length")
                assert rows > 0, "the table is empty"
                context.close()
                floor = floor_ms(client, pool)
                if run >= 2:
                    paints.append(paint)
                    floors.append(floor)
            browser.close()
        store.close()
    p50, p95 = statistics.median(paints), statistics.quantiles(paints, n=20)[-1]
    f50 = statistics.median(floors)
    print(f"sessions in the table: {rows}; {args.runs} runs")
    print(f"first useful paint  p50 {p50:7.1f} ms  p95 {p95:7.1f} ms  (target p50 < {TARGET_MS:.0f} ms)")
    print(f"floor (the 4 API requests, concurrent)  p50 {f50:7.1f} ms")
    print(f"page over floor: {p50 / f50:.2f}x  ({p50 - f50:+.1f} ms)  {'PASS' if p50 < TARGET_MS else 'MISS'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
