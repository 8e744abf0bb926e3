"""Run the real Conviva JS core SDK (npm, pinned in tests/conviva/package.json) in Node.js.

``run_driver`` feeds ``tests/conviva/driver.mjs`` a set of scripted playback sessions, lets the SDK
post its heartbeats to ``gateway_url`` and returns the driver's ground truth: per session the
SDK's ``sid``/``clid``, each action with the client epoch ms at which the SDK API was called, and
how many heartbeats were sent and how they were answered. See the header of driver.mjs for the
scenario format and the output's shape.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

SDK_PACKAGE = "@convivainc/conviva-js-coresdk"
SDK_VERSION = "4.8.0"
DRIVER_DIR = Path(__file__).resolve().parent / "conviva"
DRIVER = DRIVER_DIR / "driver.mjs"

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
    path = shutil.which(name)
    if path is None:
        raise AssertionError(
            f"`{name}` is not on PATH: the Conviva SDK tests need Node.js >= 18 with npm "
            "(e.g. `apt-get install nodejs npm`)"
        )
    return path


def _installed_version() -> str | None:
    manifest = DRIVER_DIR / "node_modules" / SDK_PACKAGE / "package.json"
    try:
        version = json.loads(manifest.read_text(encoding="utf-8")).get("version")
    except (OSError, ValueError):
        return None
    return version if isinstance(version, str) else None


def ensure_sdk() -> Path:
    """Install the pinned SDK into tests/conviva/node_modules if needed; return the driver's path."""
    _tool("node")
    if _installed_version() != SDK_VERSION:
        npm = _tool("npm")
        proc = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=DRIVER_DIR,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if proc.returncode != 0:
            raise AssertionError(
                f"`npm ci` in {DRIVER_DIR} failed (exit {proc.returncode}); it installs "
                f"{SDK_PACKAGE}@{SDK_VERSION} from the npm registry:\n{proc.stdout}\n{proc.stderr}"
            )
        found = _installed_version()
        if found != SDK_VERSION:
            raise AssertionError(f"after `npm ci`, {SDK_PACKAGE} is {found!r}, expected {SDK_VERSION}")
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
