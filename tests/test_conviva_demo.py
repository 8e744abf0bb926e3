"""The promise to a new user: a fresh ``reelsight demo`` (a real process) takes a real Conviva SDK
session with nothing but the gateway URL and customer key it prints, and serves it in the read API."""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import httpx

from tests.conftest import PATH
from tests.conviva_sdk import ensure_sdk, run_driver
from tests.test_cli import CLI, free_port, wait_healthy


def test_the_demo_serves_a_session_reported_by_the_real_sdk(tmp_path: Path) -> None:
    ensure_sdk()
    port = free_port()
    out_path = tmp_path / "demo.out"
    with out_path.open("wb") as out:
        demo = subprocess.Popen(
            [
                *CLI,
                "--db",
                str(tmp_path / "demo.db"),
                "demo",
                "--port",
                str(port),
                "--sessions",
                "20",
                "--viewers",
                "0",
            ],
            env={**os.environ, "REELSIGHT_GEOIP_CITY_DB": "", "REELSIGHT_GEOIP_ASN_DB": ""},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_healthy(f"http://127.0.0.1:{port}")
            printed = out_path.read_text()
            gateway = re.search(r"gatewayUrl '([^']+)' and customer key '([^']+)'", printed)
            assert gateway is not None, printed
            auth = re.search(r"curl -u '([^:]+):([^']+)'", printed)
            assert auth is not None, printed
            session = {
                "name": "demo",
                "contentInfo": {"Conviva.assetName": "Demo Film", "Conviva.streamType": "VOD", "Conviva.duration": 60},
                "steps": [[0, "requested"], [100, "state", "BUFFERING"], [600, "state", "PLAYING"], [1600, "ended"]],
            }
            ran = run_driver(gateway.group(1), gateway.group(2), [session], timeout_s=30)
            sid = str(ran["sessions"][0]["sid"])
            deadline = time.monotonic() + 10
            while True:
                found = httpx.get(
                    f"http://127.0.0.1:{port}{PATH}", params={"session_id": sid}, auth=(auth.group(1), auth.group(2))
                ).json()["sessions"]
                if found or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
        finally:
            demo.terminate()
            demo.wait(20)
    (doc,) = found
    assert doc["content_info"]["asset"] == "Demo Film"
    assert doc["status_info"]["ended_status"] == "By Player"
    assert abs(doc["lifetime_metrics"]["video_start_time_ms"] - 600) <= 150
    assert abs(doc["lifetime_metrics"]["playing_time_ms"] - 1000) <= 150
