"""Headless Chromium for tests that look at a page as a person's browser would.

Chromium (Debian's ``chromium`` package) prints every console message of the
page, whatever its level, to stderr as ``...:INFO:CONSOLE:<line>] "<message>",
source: <url>`` when started with ``--enable-logging=stderr --v=0``; uncaught
exceptions read ``"Uncaught Error: ..."`` and blocked loads name the
Content-Security-Policy they violate. Its other stderr lines (D-Bus, GPU,
sandbox) are noise on a headless machine.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

NOT_INSTALLED = "Chromium is not installed; apt-get install chromium to run the browser check"
_CONSOLE = re.compile(r":CONSOLE(?::\d+)?\]|Uncaught")


def chromium_or_skip() -> str:
    """Path of the Chromium executable, or skip the calling test."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip(NOT_INSTALLED)


def run_chromium(page: Path, *args: str, profile: Path, timeout: float = 60.0) -> subprocess.CompletedProcess:
    """Open ``page`` (a local file) in headless Chromium with ``args``; console messages go to stderr."""
    command = [chromium_or_skip(), "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
               f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", *args, page.resolve().as_uri()]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)


def console_lines(stderr: str) -> list[str]:
    """The page's console messages (errors, warnings, logs, CSP violations) in Chromium's stderr."""
    return [line for line in stderr.splitlines() if _CONSOLE.search(line)]
