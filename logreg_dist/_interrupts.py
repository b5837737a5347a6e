"""What stopping a command leaves behind: nothing.

- SIGINT and SIGTERM raise :class:`Interrupted` (a ``KeyboardInterrupt``)
  in the main thread, so every ``with`` block and ``except BaseException``
  on the way out runs: the Dask cluster is closed, staging folders and the
  fit's checkpoint are removed, Prefect marks the run crashed; the command
  then exits with 128 + the signal's number, as a shell reports it. (In a
  flow run, Prefect's own SIGTERM handler raises its TerminationSignal
  first, then sends the signal again, to ours; the embedded cluster's
  workers ignore SIGINT and are killed at once, see ``cluster.py``.)
- SIGKILL cannot be caught, so the children must notice on their own: the
  temporary Prefect server (``_local_prefect.py``) is started with
  :func:`die_with_parent` (the kernel sends it SIGTERM when we die) and in
  its own process group (a Ctrl-C at the terminal reaches only us, and the
  server stays up while the run reports its end); Dask's worker processes already exit when the pipe
  their nanny holds closes. A staging folder a killed run left is removed
  by the next write to the same place (``model.make_staging``).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
from collections.abc import Iterator

__all__ = ["Interrupted", "SignalRecord", "die_with_parent", "raise_on_signals"]

_PR_SET_PDEATHSIG = 1  # linux/prctl.h


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM (``signum``) arrived: a KeyboardInterrupt, so that libraries treat SIGTERM as they treat Ctrl-C."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class SignalRecord:
    """The first SIGINT or SIGTERM received, if any (``signum``), also when a library swallowed the exception."""

    signum: int | None = None


@contextlib.contextmanager
def raise_on_signals() -> Iterator[SignalRecord]:
    """SIGINT and SIGTERM raise :class:`Interrupted` in the main thread for the block; the handlers are restored after.

    Only the first signal raises: a second one (Ctrl-C pressed twice) must not
    cut short the cleanup the first one started. Python drops an exception
    raised in a gc callback or a ``__del__`` method (Dask's driver has a gc
    callback): the signal that landed there is delivered again, 50 ms later.
    Outside the main thread nothing is installed (Python only delivers signals
    there).
    """
    record = SignalRecord()

    def handler(signum, frame):
        if record.signum is None:
            record.signum = signum
            raise Interrupted(signum)

    def unraisable(info) -> None:
        if isinstance(info.exc_value, Interrupted) and info.exc_value.signum == record.signum:
            record.signum = None
            again = threading.Timer(0.05, os.kill, (os.getpid(), info.exc_value.signum))
            again.daemon = True
            again.start()
        else:
            previous_hook(info)

    if threading.current_thread() is not threading.main_thread():
        yield record
        return
    previous = {signum: signal.signal(signum, handler) for signum in (signal.SIGINT, signal.SIGTERM)}
    previous_hook, sys.unraisablehook = sys.unraisablehook, unraisable
    try:
        yield record
    finally:
        sys.unraisablehook = previous_hook
        for signum, old in previous.items():
            signal.signal(signum, old)


def die_with_parent():
    """A ``preexec_fn`` for ``subprocess.Popen``: the child gets SIGTERM when this process dies (Linux), or None elsewhere."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up here: the child between fork and exec only calls it
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the line above: nobody will send the signal
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec
