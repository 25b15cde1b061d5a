"""Headless Chromium driven from the command line, without Python dependencies.

Chromium's ``--enable-logging=stderr --v=0`` prints every console message of
the page to stderr as ``...:INFO:CONSOLE:<line>] "<message>", source: <url>``
(older builds: ``INFO:CONSOLE(<line>)``), whatever its level: a
``console.error``, an uncaught exception and a Content-Security-Policy
violation all look alike.  The report has no script and loads nothing, so it
should produce no console message at all: :func:`console_messages` returns
every one, and a test fails on any.  (Failed resource loads are not printed
there, but the report's CSP blocks every load, and a blocked load *is*
printed.)
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pytest

CANDIDATES: Final = ("chromium", "chromium-browser", "google-chrome", "chrome")
TIMEOUT_S: Final = 120
FLAGS: Final = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--enable-logging=stderr",
    "--v=0",
)
_CONSOLE: Final = re.compile(r":CONSOLE(?::\d+|\(\d+\))\]\s*(.*)")


def find_chromium() -> str:
    """The Chromium binary ($ALIGNLAB_CHROMIUM or on PATH); skip locally, fail in CI."""
    override = os.environ.get("ALIGNLAB_CHROMIUM")
    found = override or next(filter(None, (shutil.which(name) for name in CANDIDATES)), None)
    if found:
        return found
    message = "headless Chromium not found (Debian: apt-get install -y chromium)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message}; CI must install it")
    pytest.skip(message)


@dataclass(frozen=True)
class Result:
    stdout: str
    stderr: str

    @property
    def console(self) -> list[str]:
        return console_messages(self.stderr)


def console_messages(stderr: str) -> list[str]:
    """Every page console message Chromium logged to stderr."""
    return [match.group(1) for match in map(_CONSOLE.search, stderr.splitlines()) if match]


def run_chromium(binary: str, page: Path, scratch: Path, *args: str) -> Result:
    """Load ``page`` headless with ``args`` (e.g. ``--dump-dom``), return its output."""
    profile = scratch / "chromium-profile"
    profile.mkdir(parents=True, exist_ok=True)
    completed = subprocess.run(
        [binary, *FLAGS, f"--user-data-dir={profile}", *args, page.resolve().as_uri()],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
        env={**os.environ, "HOME": str(scratch)},
    )
    assert completed.returncode == 0, f"chromium exited {completed.returncode}:\n{completed.stderr}"
    return Result(completed.stdout, completed.stderr)
