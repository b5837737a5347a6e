"""Prefect's temporary local server, started before Prefect is imported so that its start overlaps the command's.

A command that runs a flow needs a Prefect API. Without a configured one,
Prefect starts its own temporary server on first use, after the command has
imported Prefect, and waits for it: the two start-ups, each mostly imports in
one process, run one after the other. :class:`LocalPrefectServer`
starts the same server (Prefect's ASGI app under uvicorn, as Prefect's
``SubprocessASGIServer`` runs it) as the command's first act, from the
standard library alone, so that it imports on the second core while the
command imports Prefect, Dask and the data; :meth:`LocalPrefectServer.connect`
then points Prefect at it and waits until it answers.

Its process is tied to ours: its own process group (a Ctrl-C at the terminal
reaches only us, and the server stays up while the run reports its end),
``PR_SET_PDEATHSIG`` (the kernel stops it if we are killed), and stopped when
the command ends. A user who configured a Prefect API (``PREFECT_API_URL`` in
the environment or the active profile) gets theirs: no server is started, or
the one started is stopped before it is used.

Prefect's temporary server runs no background services, its scheduler among
them: a served cron schedule would never get a run. ``serve`` therefore starts
it with its services (``scheduler=True``), as ``prefect server start`` runs
them, for as long as the command serves.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from ._interrupts import die_with_parent
from .exceptions import LogregDistError

__all__ = ["LocalPrefectServer", "drain_prefect"]

logger = logging.getLogger("logreg_dist")


class LocalPrefectServer:
    """One temporary Prefect server process on 127.0.0.1; see the module docstring."""

    def __init__(self, *, quiet: bool, scheduler: bool = False):
        self.port = _free_port()
        self.api_url = f"http://127.0.0.1:{self.port}/api"
        self.connected = False
        # Quiet, its output goes to a file (its database reports tracebacks while it stops), whose last lines
        # explain a server that fails to start; otherwise it shares our console.
        self._output = tempfile.TemporaryFile() if quiet else None
        env = {key: value for key, value in os.environ.items() if key != "PREFECT_API_URL"}
        env.update(PREFECT_UI_ENABLED="0", PREFECT__SERVER_FINAL="1")
        if not scheduler:  # an ephemeral server skips the background services, which a run needs none of
            env["PREFECT__SERVER_EPHEMERAL"] = "1"
        self.scheduler = scheduler
        logger.info("starting Prefect's temporary server%s", " with its scheduler" if scheduler else "")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "prefect.server.api.server:create_app",
             "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "error", "--lifespan", "on",
             "--timeout-graceful-shutdown", "1"],
            env=env, process_group=0, preexec_fn=die_with_parent(), stdin=subprocess.DEVNULL,
            stdout=self._output, stderr=subprocess.STDOUT if quiet else None,
        )

    @classmethod
    def unless_configured(cls, *, quiet: bool, scheduler: bool = False) -> LocalPrefectServer | None:
        """A server started now, or None when the environment (or Prefect, if imported already) names a Prefect API;
        otherwise the active profile is checked in :meth:`connect`, once Prefect is imported."""
        if os.environ.get("PREFECT_API_URL"):
            return None
        if "prefect.context" in sys.modules:  # Prefect is imported already (a caller's process): ask it, at no cost
            from prefect.settings import get_current_settings

            settings = get_current_settings()
            if settings.api.url or not settings.server.ephemeral.enabled:
                return None
        return cls(quiet=quiet, scheduler=scheduler)

    def connect(self, *, timeout: float) -> None:
        """Point Prefect at this server, unless the active Prefect profile names an API (then stop it), and wait
        up to ``timeout`` seconds for it to answer."""
        import prefect.context
        from prefect.settings import get_current_settings

        settings = get_current_settings()
        if settings.api.url or not settings.server.ephemeral.enabled:
            self.stop()
            return
        os.environ["PREFECT_API_URL"] = self.api_url
        prefect.context.refresh_global_settings_context()  # the settings Prefect read at import, again
        # Heartbeats let a lasting server find runs whose process died; this one dies with the process, and a flow
        # run's end waits for its heartbeat thread's one-second sleep (half a second on average).
        from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

        self._settings = temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None})
        self._settings.__enter__()
        self.connected = True
        deadline = time.monotonic() + timeout
        while not self._answers():
            if self.process.poll() is not None:
                raise LogregDistError(f"Prefect's temporary server exited with status {self.process.returncode} "
                                      f"while starting; its last output: {self._last_output()!r}")
            if time.monotonic() > deadline:
                raise LogregDistError(f"Prefect's temporary server did not answer within {timeout:g} s "
                                      "(PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS)")
            time.sleep(0.05)
        logger.info("Prefect's temporary server is ready at %s", self.api_url)

    def stop(self) -> None:
        """Send the run's last logs and events, stop the server (SIGTERM to its group, SIGKILL after 5 s) and give
        Prefect back its own settings."""
        if self.connected:
            # Prefect's log and event workers send what they hold at interpreter exit, and retry a server that is
            # gone before they give up: they send it now, while it is up.
            drain_prefect()
            self._settings.__exit__(None, None, None)
            os.environ.pop("PREFECT_API_URL", None)
            import prefect.context

            prefect.context.refresh_global_settings_context()
            self.connected = False
        if self.process.poll() is None:
            logger.info("stopping Prefect's temporary server")
            with contextlib.suppress(ProcessLookupError):  # its group may have exited meanwhile
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        if self._output is not None:
            self._output.close()

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.api_url}/health", timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def _last_output(self) -> str:
        if self._output is None:
            return "(shown above)"
        self._output.seek(0)
        return self._output.read().decode(errors="replace").strip()[-600:]


def drain_prefect() -> None:
    """Send what Prefect's log and event workers hold (they would at interpreter exit), if Prefect was used."""
    if "prefect.logging.handlers" not in sys.modules:
        return
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=5)
    EventsWorker.drain_all(timeout=5)


def _free_port() -> int:
    """A port free on 127.0.0.1 now (the kernel's choice); the server binds it a moment later."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
