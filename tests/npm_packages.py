"""The npm packages the tests run (the Conviva SDK, the CMCD players): install a folder's pinned
packages with ``npm ci`` when what is installed differs from what its lock file pins."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path


def tool(name: str, *alternatives: str, hint: str) -> str:
    """Path of a program on PATH, or AssertionError saying what to install (``hint``)."""
    for candidate in (name, *alternatives):
        path = shutil.which(candidate)
        if path is not None:
            return path
    raise AssertionError(f"`{name}` is not on PATH: {hint}")


def installed_versions(directory: Path, packages: dict[str, str]) -> dict[str, str | None]:
    """The version of each package installed under ``directory/node_modules`` (None: missing)."""
    found: dict[str, str | None] = {}
    for package in packages:
        manifest = directory / "node_modules" / package / "package.json"
        try:
            version = json.loads(manifest.read_text(encoding="utf-8")).get("version")
        except (OSError, ValueError):
            version = None
        found[package] = version if isinstance(version, str) else None
    return found


def ensure_installed(directory: Path, packages: dict[str, str], *, hint: str, timeout_s: float = 600) -> None:
    """``npm ci`` in ``directory`` unless exactly ``packages`` (name -> version) are installed."""
    if installed_versions(directory, packages) == packages:
        return
    proc = subprocess.run(
        [tool("npm", hint=hint), "ci", "--no-audit", "--no-fund"],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    if proc.returncode != 0:
        raise AssertionError(
            f"`npm ci` in {directory} failed (exit {proc.returncode}); it installs {packages} from the npm "
            f"registry:\n{proc.stdout}\n{proc.stderr}"
        )
    found = installed_versions(directory, packages)
    if found != packages:
        raise AssertionError(f"after `npm ci` in {directory}: {found}, expected {packages}")
