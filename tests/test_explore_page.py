"""The explorer page (/explore) in a real headless browser (Debian's Chromium, driven by Playwright)
against a real server: sign in, see the sample of sessions the API serves, sort, filter, open a
session, sign out; bad credentials shown as an error. Screenshots of each step go to
``$REELSIGHT_SCREENSHOTS`` (default: the test's temporary directory)."""

from __future__ import annotations

import collections
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import sync_playwright

from reelsight.clock import SystemClock
from reelsight.generate.sessions import generate_sessions
from reelsight.settings import Settings
from reelsight.store.records import is_ad_session, to_record
from reelsight.store.sqlite import SqliteStore
from tests.conftest import PATH, Credentials, LiveServer, add_account

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

HOUR_MS = 3_600_000


@pytest.fixture
def explore_server(db_path: str, store: SqliteStore) -> Iterator[tuple[LiveServer, Credentials, list[dict[str, Any]]]]:
    creds = add_account(store, "media", viewer_module=True, ad_insights=True)
    now_ms = SystemClock().now_ms()
    docs = list(generate_sessions(400, seed=5, end_ms=now_ms - 60_000, span_ms=2 * HOUR_MS))
    store.write_sessions(creds.account.id, (to_record(d) for d in docs))
    with LiveServer(Settings(db=db_path), store, SystemClock()) as live:
        with httpx.Client(base_url=live.url) as client:
            served = client.get(PATH, auth=creds.auth, params={"limit": 1500}).json()["sessions"]
        assert len(served) == sum(not is_ad_session(d) for d in docs)
        yield live, creds, served


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Any]:
    assert CHROMIUM is not None, "Debian's chromium is needed (scripts/setup installs it)"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.requests_seen = []  # type: ignore[attr-defined]
        page.on("request", lambda r: page.requests_seen.append(r))  # type: ignore[attr-defined]
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" and "401" not in m.text else None)
        yield page
        context.close()
        browser.close()
    assert not [e for e in errors if "Failed to load resource" not in e], errors


def shot(page: Any, tmp_path: Path, name: str) -> None:
    folder = Path(os.environ.get("REELSIGHT_SCREENSHOTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"explore-{name}.png"), full_page=True)


def wait_rows(page: Any, n: int, timeout_s: float = 15) -> None:
    """Until the sessions table shows ``n`` rows (polled from here: the page's policy forbids the
    string evaluation ``wait_for_function`` would use)."""
    deadline = time.monotonic() + timeout_s
    while (shown := page.eval_on_selector_all("#sessions tbody tr", "rows => rows.length")) != n:
        assert time.monotonic() < deadline, f"{shown} rows shown, expected {n}"
        time.sleep(0.05)


def sign_in(page: Any, key_id: str, secret: str) -> None:
    page.fill("#key-id", key_id)
    page.fill("#secret", secret)
    page.click("#sign-in-form button[type=submit]")


def test_the_page_signs_in_shows_the_sample_and_signs_out(
    explore_server: tuple[LiveServer, Credentials, list[dict[str, Any]]], page: Any, tmp_path: Path
) -> None:
    live, creds, served = explore_server
    page.goto(f"{live.url}/explore")
    assert page.is_visible("#sign-in")
    shot(page, tmp_path, "1-sign-in")

    sign_in(page, creds.key_id, "not-the-secret")
    page.wait_for_selector("#sign-in-error:not([hidden])")
    assert "not right" in page.inner_text("#sign-in-error")
    assert page.is_hidden("#app")
    shot(page, tmp_path, "2-bad-credentials")

    sign_in(page, creds.key_id, creds.secret)
    page.wait_for_selector("#app:not([hidden])")
    wait_rows(page, len(served))
    page.wait_for_selector("#charts figure[data-metric='plays']")
    shot(page, tmp_path, "3-signed-in")
    # The charts' whole-window figures are the metrics API's for the same window and filters.
    now_ms = SystemClock().now_ms()
    with httpx.Client(base_url=live.url) as client:
        metrics = [("metric", m) for m in ("plays", "rebuffering-ratio", "video-start-failures", "bitrate")]
        window = [("start_epoch_ms", str(now_ms - 24 * HOUR_MS)), ("end_epoch_ms", str(now_ms))]
        total = client.get(
            "/insights/3.0/metrics/custom-selection",
            params=[*metrics, *window, ("granularity", "PT1H")],
            auth=creds.auth,
        ).json()["total"]
    assert total["plays"]["count"] > 100

    def shown_total(metric: str) -> float:
        return float(page.get_attribute(f"#charts figure[data-metric='{metric}'] .total", "data-total") or "nan")

    assert shown_total("plays") == total["plays"]["count"]
    assert shown_total("rebuffering-ratio") == total["rebuffering_ratio"]["ratio"]
    assert shown_total("video-start-failures") == total["video_start_failures"]["percentage"]
    assert shown_total("bitrate") == total["bitrate"]["bps"]
    # The breakdown by CDN lists the CDNs of the sample.
    page.wait_for_selector("#breakdown tbody tr")
    cdns = set(page.eval_on_selector_all("#breakdown tbody tr td:first-child", "tds => tds.map(t => t.textContent)"))
    assert cdns <= {c for s in served for c in s["network_info"]["cdn"]} | {"(none)"}
    assert len(cdns) >= 2
    shown = page.eval_on_selector_all("#sessions tbody tr", "rows => rows.map(r => r.dataset.session)")
    assert sorted(shown) == sorted(s["conviva_session_id"] for s in served)

    # Sorting by start time, longest first: the page's order is the API's numbers in order.
    page.click("#sessions thead button:has-text('Start time')")
    first = page.eval_on_selector_all("#sessions tbody tr", "rows => rows.slice(0, 5).map(r => r.dataset.session)")
    by_id = {s["conviva_session_id"]: s for s in served}
    times = [by_id[i]["lifetime_metrics"]["video_start_time_ms"] for i in first]
    assert times == sorted((s["lifetime_metrics"]["video_start_time_ms"] for s in served), reverse=True)[:5]
    assert page.get_attribute("#sessions thead th:has-text('Start time')", "aria-sort") == "descending"

    # One session's detail opens from the keyboard.
    page.focus("#sessions tbody tr:first-child")
    page.keyboard.press("Enter")
    page.wait_for_selector("#detail:not([hidden])")
    assert first[0] in page.inner_text("#detail-title")
    shot(page, tmp_path, "4-session")

    # The credentials never travel in a URL, and signing out forgets them.
    assert all(creds.secret not in r.url and creds.key_id not in r.url for r in page.requests_seen)
    page.click("#sign-out")
    assert page.is_visible("#sign-in")
    assert page.evaluate("sessionStorage.length") == 0
    page.reload()
    assert page.is_visible("#sign-in")
    shot(page, tmp_path, "5-signed-out")


def test_a_filter_narrows_the_sample_as_the_api_does(
    explore_server: tuple[LiveServer, Credentials, list[dict[str, Any]]], page: Any
) -> None:
    live, creds, served = explore_server
    counts = collections.Counter(c for s in served for c in s["network_info"]["cdn"])
    cdn = counts.most_common(1)[0][0]
    expected = sorted(s["conviva_session_id"] for s in served if cdn in s["network_info"]["cdn"])
    page.goto(f"{live.url}/explore")
    sign_in(page, creds.key_id, creds.secret)
    page.wait_for_selector("#app:not([hidden])")
    page.select_option("#filter-dimension", "cdn")
    page.fill("#filter-value", cdn)
    page.click("#filter-form button[type=submit]")
    wait_rows(page, len(expected))
    shown = page.eval_on_selector_all("#sessions tbody tr", "rows => rows.map(r => r.dataset.session)")
    assert sorted(shown) == expected
    assert f"cdn = {cdn}" in page.inner_text("#filters")


def test_the_page_and_its_assets_are_served_with_a_strict_policy(
    explore_server: tuple[LiveServer, Credentials, list[dict[str, Any]]],
) -> None:
    live, creds, _served = explore_server
    with httpx.Client(base_url=live.url) as client:
        page = client.get("/explore")
        assert page.status_code == 200
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert page.headers["cache-control"] == "no-store"
        assets = [part.split('"')[0] for part in page.text.split('"/explore/assets/')[1:]]
        assert len(assets) == 2
        served: dict[str, httpx.Response] = {}
        for asset in assets:
            r = served[asset.split("?")[0]] = client.get(f"/explore/assets/{asset}")
            assert r.status_code == 200, asset
            assert "immutable" in r.headers["cache-control"]
        # The module the page links imports the charts by their own hash, so a new release of either
        # is never served from a stale cache.
        charts_etag = client.get("/explore/assets/charts.js").headers["etag"].strip('"')
        assert f'"./charts.js?v={charts_etag}"' in served["explore.js"].text
        assert client.get("/explore/assets/nope.js").status_code == 404
        # A script that signs in itself gets a 401 without a Basic challenge (no browser prompt).
        plain = client.get(PATH, auth=(creds.key_id, "wrong"))
        scripted = client.get(PATH, auth=(creds.key_id, "wrong"), headers={"X-Requested-With": "reelsight-explore"})
        assert plain.status_code == scripted.status_code == 401
        assert "www-authenticate" in plain.headers
        assert "www-authenticate" not in scripted.headers


def test_one_ingested_session_shows_its_timeline(
    explore_server: tuple[LiveServer, Credentials, list[dict[str, Any]]], page: Any, tmp_path: Path
) -> None:
    """A session computed by the sessionizer: its timeline drawn from the extension endpoint, each
    state band, the bitrate steps and the error where the API puts them."""
    live, creds, _served = explore_server
    t0 = SystemClock().now_ms() - 200_000
    sid = "4242"

    def ev(kind: str, seq: int, dt_ms: int, **fields: Any) -> dict[str, Any]:
        return {"type": kind, "client_id": "7.7.7.7", "session_id": sid, "seq": seq, "t_ms": t0 + dt_ms, **fields}

    events = [
        ev("start", 0, 0, content={"asset": "Timeline Film", "is_live": False, "length_ms": 600_000}),
        ev("ad_break_start", 1, 500, position="pre"),
        ev("ad_break_end", 2, 15_500),
        ev("state", 3, 15_600, state="buffering"),
        ev("bitrate", 4, 16_000, bitrate_bps=1_500_000),
        ev("state", 5, 17_000, state="playing"),
        ev("bitrate", 6, 60_000, bitrate_bps=4_000_000),
        ev("error", 7, 90_000, message="Segment 404", fatal=False),
        ev("state", 8, 100_000, state="buffering"),
        ev("state", 9, 104_000, state="playing"),
        ev("end", 10, 150_000),
    ]
    batch = {"v": 1, "ingest_key": creds.account.ingest_key, "sent_at_ms": SystemClock().now_ms(), "events": events}
    with httpx.Client(base_url=live.url) as client:
        assert client.post("/ingest/v1/events", json=batch).status_code == 202
        timeline_path = f"/reelsight/v1/sessions/content/7.7.7.7.{sid}/timeline"
        deadline = time.monotonic() + 10
        while (r := client.get(timeline_path, auth=creds.auth)).status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert r.status_code == 200, r.text
        timeline = r.json()
    page.goto(f"{live.url}/explore")
    sign_in(page, creds.key_id, creds.secret)
    row = f"#sessions tbody tr[data-session='7.7.7.7.{sid}']"
    page.wait_for_selector(row)
    page.click(row)
    page.wait_for_selector("#timeline svg")
    shot(page, tmp_path, "6-timeline")
    drawn = page.eval_on_selector_all("#timeline rect[data-state]", "rects => rects.map(r => r.dataset.state)")
    assert drawn == [s["state"] for s in timeline["states"]]
    assert "playing" in drawn
    assert "buffering" in drawn
    steps = page.eval_on_selector_all(
        "#timeline path[data-bitrate]", "paths => paths.map(p => Number(p.dataset.bitrate))"
    )
    assert steps == [b["bitrate_bps"] for b in timeline["bitrates"]] == [1_500_000, 4_000_000]
    assert page.eval_on_selector_all("#timeline [data-band='ad']", "x => x.length") == 1
    assert page.eval_on_selector_all("#timeline circle[data-event='error']", "x => x.length") == 1
