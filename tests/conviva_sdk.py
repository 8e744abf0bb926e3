"""Run the real Conviva JS core SDK (npm, pinned in tests/conviva/package.json) in Node.js.

``run_driver`` feeds ``tests/conviva/driver.mjs`` a set of scripted playback sessions, lets the SDK
post its heartbeats to ``gateway_url`` and returns the driver's ground truth: per session the
SDK's ``sid``/``clid``, each action with the client epoch ms at which the SDK API was called, and
how many heartbeats were sent and how they were answered. See the header of driver.mjs for the
scenario format and the output's shape.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tests import npm_packages

SDK_PACKAGE = "@convivainc/conviva-js-coresdk"
SDK_VERSION = "4.8.0"
DRIVER_DIR = Path(__file__).resolve().parent / "conviva"
DRIVER = DRIVER_DIR / "driver.mjs"
HINT = "the Conviva SDK tests need Node.js >= 18 with npm (e.g. `apt-get install nodejs npm`)"

DEFAULT_DEVICE: dict[str, Any] = {
    "brand": "Acme",
    "manufacturer": "AcmeCorp",
    "model": "Box 3",
    "type": "Settop",
    "version": "3.1",
    "osName": "Linux",
    "osVersion": "6.1",
    "category": "STB",
}


def _tool(name: str) -> str:
    return npm_packages.tool(name, hint=HINT)


def ensure_sdk() -> Path:
    """Install the pinned SDK into tests/conviva/node_modules if needed; return the driver's path."""
    _tool("node")
    npm_packages.ensure_installed(DRIVER_DIR, {SDK_PACKAGE: SDK_VERSION}, hint=HINT, timeout_s=300)
    return DRIVER


def run_driver(
    gateway_url: str,
    customer_key: str,
    sessions: list[dict[str, Any]],
    *,
    device: dict[str, Any] | None = DEFAULT_DEVICE,
    timeout_s: float = 60,
    debug: bool = False,
    block_hosts: bool = True,
) -> dict[str, Any]:
    """Run ``sessions`` (driver scenarios) concurrently in one SDK instance; return the driver's output.

    ``device`` (keys brand, manufacturer, model, type, version, osName, osVersion, category,
    screenWidth, screenHeight, scaleFactor) becomes the SDK's device metadata; ``None`` sets none.
    Raises AssertionError with the driver's stderr if it exits non-zero (1 bad input, 2 the hard
    timeout ``timeout_s`` was hit, 3 crash).
    """
    driver = ensure_sdk()
    payload: dict[str, Any] = {
        "gatewayUrl": gateway_url,
        "customerKey": customer_key,
        "sessions": sessions,
        "timeoutS": timeout_s,
        "debug": debug,
        "blockHosts": block_hosts,
    }
    if device is not None:
        payload["device"] = device
    proc = subprocess.run(
        [_tool("node"), str(driver)],
        cwd=DRIVER_DIR,
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        timeout=timeout_s + 30,
        check=False,
    )
    if proc.returncode != 0:
        raise AssertionError(
            f"conviva driver exited {proc.returncode}\n--- stderr ---\n{proc.stderr}\n--- stdout ---\n{proc.stdout}"
        )
    result: dict[str, Any] = json.loads(proc.stdout)
    return result
