"""Where the work runs: an existing Dask cluster by address, or the embedded default.

The embedded default is a :class:`distributed.LocalCluster` with one worker
process per core and one thread per worker (a BLAS call at tens of features
holds the GIL, so only processes use every core), every port bound to
127.0.0.1 and no dashboard. Its workers ignore SIGINT (:func:`dask_setup`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
from collections.abc import Iterator

__all__ = ["connect", "local_cluster"]

logger = logging.getLogger("logreg_dist")


def local_cluster(n_workers: int | None = None, *, memory_limit: str | float = "auto"):
    """Start the embedded default: a LocalCluster of worker processes on 127.0.0.1."""
    import dask
    from distributed import LocalCluster

    # Distributed sets MALLOC_TRIM_THRESHOLD_ in its workers, and a fixed threshold turns off glibc's adaptive mmap
    # threshold: every temporary of more than 128 KiB is then mapped afresh and faulted in page by page, which made
    # the discovery pass 1.6x slower (bench/README.md). The embedded cluster's workers keep glibc's default.
    with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
        return LocalCluster(
            n_workers=n_workers or os.cpu_count() or 1,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            scheduler_port=0,
            dashboard_address="127.0.0.1:0",  # the HTTP server starts anyway; keep it off 8787 and on loopback
            memory_limit=memory_limit,
            silence_logs=_worker_log_level(),
            preload=[__name__],  # runs dask_setup below in each worker process
        )


def _worker_log_level() -> int:
    """The level below which the embedded cluster's processes log nothing: Dask's ``logging.distributed`` where it
    names a level (the command line sets ``critical`` without ``--verbose``: a task's failure is the command's one
    line, not also a worker's traceback), else warnings and up."""
    import dask

    level = dask.config.get("logging.distributed", None)
    number = logging.getLevelName(level.upper()) if isinstance(level, str) else None
    return number if isinstance(number, int) else logging.WARNING


def dask_setup(worker) -> None:
    """Dask's preload hook, run in each worker process of the embedded cluster: ignore SIGINT.

    A Ctrl-C at the terminal reaches every process of the command's group. The
    command handles it and closes the cluster; workers that died of it first
    would print their own tracebacks and be restarted by their nannies.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def dask_teardown(worker) -> None:
    """Dask's preload hook at a worker's close: its process then ends as soon as the interpreter begins to exit.

    What is left then is freeing the modules a worker loaded (pandas, pyarrow, numba, SciPy): half a second of the
    cluster's close, which the command waits for (bench/README.md). The worker has released its directory and
    said goodbye by then.
    """
    import atexit

    atexit.register(_exit_now)


def _exit_now() -> None:
    with contextlib.suppress(OSError):
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(0)


@contextlib.contextmanager
def connect(scheduler_address: str | None = None, *, n_workers: int | None = None) -> Iterator:
    """A :class:`distributed.Client` for the duration of the block.

    Parameters
    ----------
    scheduler_address : str, optional
        ``tcp://host:8786`` (or ``tls://...``) of a running scheduler. When
        None, an embedded LocalCluster is started and closed afterwards.
    n_workers : int, optional
        Worker processes of the embedded cluster (default: one per core).
    """
    from distributed import Client

    with embedded_or_given(scheduler_address, n_workers=n_workers) as address:
        try:
            client = Client(address, set_as_default=False)
        except OSError as error:  # distributed's connect timeout; a refused connection is retried until then
            if not scheduler_address:
                raise
            from .exceptions import InputError

            raise InputError(f"cannot reach the Dask scheduler at {scheduler_address} (--scheduler): {error}. Check the "
                             "address and that the scheduler runs, or leave --scheduler out to start a cluster on this "
                             "machine.") from None
        try:
            yield client
        finally:
            client.close()


@contextlib.contextmanager
def resolve_client(client=None, scheduler_address: str | None = None) -> Iterator:
    """The client to use: the one given, one to ``scheduler_address``, the current one, or an embedded cluster."""
    if client is not None:
        yield client
        return
    if scheduler_address:
        with connect(scheduler_address) as connected:
            yield connected
        return
    from distributed import default_client

    try:
        current = default_client()
    except ValueError:
        current = None
    if current is not None:
        yield current
        return
    with connect() as embedded:
        yield embedded


@contextlib.contextmanager
def embedded_or_given(scheduler_address: str | None = None, *, n_workers: int | None = None) -> Iterator[str]:
    """The address of ``scheduler_address``'s cluster, or of an embedded LocalCluster kept for the block."""
    if scheduler_address:
        yield scheduler_address
        return
    with local_cluster(n_workers) as cluster:
        logger.info("started an embedded LocalCluster: %d worker processes at %s", len(cluster.workers), cluster.scheduler_address)
        try:
            yield cluster.scheduler_address
        except BaseException as error:
            if not isinstance(error, Exception):  # an interrupt: KeyboardInterrupt, SystemExit, Prefect's TerminationSignal
                _stop_workers_now(cluster)
            raise


def _stop_workers_now(cluster) -> None:
    """Kill the worker processes of an interrupted run after 0.8 s, not the 4 s a graceful close may wait for a task.

    Their results are not wanted. The nanny's warning that it killed them is
    left out: the command says it was interrupted.
    """
    nanny_logger = logging.getLogger("distributed.nanny")
    level = nanny_logger.level
    nanny_logger.setLevel(logging.ERROR)
    try:
        cluster.sync(_close_nannies, list(cluster.workers.values()))
    except Exception as error:  # the cluster's own close, next, tries again
        logger.warning("could not stop the embedded cluster's workers at once: %s", error)
    finally:
        nanny_logger.setLevel(level)


async def _close_nannies(nannies) -> None:
    import asyncio

    await asyncio.gather(*(nanny.close(timeout=1, reason="interrupted") for nanny in nannies))
