"""Helpers for tests that start servers as real processes: a free port, a health wait, a stop by process group."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

# The served-deployment tests' cron, with croniter's sixth field (the second): Prefect's scheduler service makes a
# run at :00, :20 and :40 of each minute, so a test waits seconds for its first run, not for the next whole minute.
# Not more often: the runner starts a run's process up to 10 s early, and two runs at once would share the cores.
EVERY_20_SECONDS = "* * * * * */20"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(url: str, server: subprocess.Popen, timeout: float = 120, log: Path | None = None) -> None:
    """Wait until the Prefect API at ``url`` answers ``/health``; raise if ``server`` exits or time runs out.

    The server's output is read from ``log`` if given, else from its stdout pipe.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            output = log.read_text(errors="replace") if log is not None else server.stdout.read()
            raise RuntimeError(f"prefect server exited with {server.returncode}: {output[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"prefect server at {url} did not answer within {timeout} s")


def stop(process: subprocess.Popen) -> None:
    """SIGTERM to the process group ``process`` leads (started with ``start_new_session=True``), SIGKILL after 30 s."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:  # the whole group has exited
        process.wait()
        return
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
