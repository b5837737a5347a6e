"""How each measurement is taken: a fresh child process per peer, the peak memory of a process tree by
phase, best-of and median timings, the wait for an idle machine, and what the machine is.

A child is ``bench/run.py --child NAME --spec SPEC --result RESULT``: it reads the
:class:`~bench.problem.Spec`, runs the peer's function under a :class:`TreeMemory` of its own process
tree and writes the result as JSON, which the parent reads back. A failure is reported in the result,
not raised, so the parent goes on with the other peers.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path

from bench.problem import Spec

ROOT = Path(__file__).resolve().parents[1]
ENTRY = ROOT / "bench" / "run.py"
GB = 1e9


# -- memory of a process tree -----------------------------------------------------------------


class TreeMemory:
    """Samples the resident memory of a process and all its descendants; peaks per named phase.

    The root is this process unless ``root`` or :meth:`follow` names another one (a command the peer starts).
    """

    def __init__(self, interval: float = 0.05, *, root: int | None = None):
        import psutil

        self._psutil = psutil
        self._process = psutil.Process(root)  # None: this process
        self._interval = interval
        self._active: set[str] = set()
        self.peaks: dict[str, int] = {}
        self.starts: dict[str, int] = {}  # memory when each phase began (an idle cluster's, say)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def follow(self, pid: int) -> None:
        """Sample the tree of process ``pid`` from now on instead (a command's, not the process that started it)."""
        process = self._psutil.Process(pid)
        with self._lock:
            self._process = process

    def current(self) -> int:
        with self._lock:
            process = self._process
        total = process.memory_info().rss
        for child in process.children(recursive=True):
            try:
                total += child.memory_info().rss
            except self._psutil.Error:
                pass
        return total

    def _sample(self) -> int:
        try:
            return self.current()
        except self._psutil.Error:  # the root has exited (a command's process, say): nothing to count
            return 0

    def _run(self) -> None:
        while not self._stop.is_set():
            value = self._sample()
            with self._lock:
                for name in self._active:
                    self.peaks[name] = max(self.peaks.get(name, 0), value)
            self._stop.wait(self._interval)

    @contextlib.contextmanager
    def phase(self, name: str):
        value = self._sample()
        with self._lock:
            self._active.add(name)
            self.starts.setdefault(name, value)
            self.peaks[name] = max(self.peaks.get(name, 0), value)
        try:
            yield
        finally:
            value = self._sample()
            with self._lock:
                self.peaks[name] = max(self.peaks.get(name, 0), value)
                self._active.discard(name)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


# -- timing and what a peer shares -------------------------------------------------------------


def best_of(fn: Callable[[], object], repeats: int) -> float:
    """The fewest seconds of ``repeats`` calls: the limit is what the machine can do at best."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def median_of(fn: Callable[[], object], repeats: int) -> float:
    """The median seconds of ``repeats`` calls after one call to warm up."""
    fn()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def caught(record) -> list[str]:
    """The distinct warnings of a ``warnings.catch_warnings(record=True)`` block, one line each."""
    return sorted({f"{w.category.__name__}: {str(w.message).splitlines()[0][:200]}" for w in record})


@contextlib.contextmanager
def timed_fit(out: dict, key: str = "fit_s"):
    """Time the block into ``out[key]`` and add the distinct warnings it raised to ``out["warnings"]``: what every
    peer reports of its fit."""
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        started = time.perf_counter()
        yield
        out[key] = time.perf_counter() - started
    out["warnings"] = sorted(set(out.get("warnings", [])) | set(caught(record)))


def warn_if_openblas_tuned() -> None:
    """Print a warning when this machine's OpenBLAS settings for old builds, which slow a current NumPy, are set."""
    unset = [k for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ]
    if unset:
        print(f"warning: {', '.join(unset)} set; they slow a current NumPy (run with env -u {' -u '.join(unset)})",
              flush=True)


def local_cluster():
    """``(cluster, client)``: the LocalCluster ours and dask-ml run on, 2 worker processes x 1 thread."""
    from distributed import Client

    from logreg_dist import local_cluster

    cluster = local_cluster(2)
    return cluster, Client(cluster, set_as_default=False)


# -- children -----------------------------------------------------------------------------------


def spawn(name: str, spec: Spec, *, tmp: Path, timeout: float) -> dict:
    """Run ``name``'s function in a fresh ``bench/run.py --child`` process; its result, with ``wall_s``."""
    spec_path, result_path, log_path = tmp / f"{name}.spec.json", tmp / f"{name}.result.json", tmp / f"{name}.log"
    spec.write(spec_path)
    print(f"[{time.strftime('%H:%M:%S')}] {name} ...", flush=True)
    started = time.perf_counter()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, str(ENTRY), "--child", name, "--spec", str(spec_path), "--result", str(result_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            _, status, usage = _wait4(process.pid, timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait()
            return {"ok": False, "error": f"timed out after {timeout:.0f} s (log: {log_path})"}
    wall = time.perf_counter() - started
    if result_path.exists():
        result = json.loads(result_path.read_text())
    else:
        result = {"ok": False, "error": f"exited with status {status} and no result"}
    result["wall_s"] = wall
    result["max_single_process_rss_bytes"] = usage.ru_maxrss * 1024 if usage else None
    if not result.get("ok"):
        tail = log_path.read_text(errors="replace").splitlines()[-15:]
        print(f"  FAILED: {result.get('error')}\n    " + "\n    ".join(tail), flush=True)
    else:
        print(f"  done in {wall:.1f} s", flush=True)
    return result


def _wait4(pid: int, timeout: float):
    deadline = time.monotonic() + timeout
    while True:
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            return done, status, usage
        if time.monotonic() > deadline:
            raise subprocess.TimeoutExpired(str(pid), timeout)
        time.sleep(0.2)


def run_child(run: Callable[[Spec, TreeMemory], dict], spec_path: str, result_path: str) -> int:
    """The child's side of :func:`spawn`: ``run(spec, memory)`` with the peaks of each phase and the whole."""
    return run_measured(run, Spec.read(Path(spec_path)), result_path)


def run_measured(run: Callable[[object, TreeMemory], dict], settings, result_path: str) -> int:
    """``run(settings, memory)`` in this (child) process, its result written as JSON to ``result_path`` with the
    peak memory of each phase and the whole; an exception is reported in the result, not raised."""
    memory = TreeMemory()
    started = time.perf_counter()
    try:
        with memory.phase("all"):
            result = run(settings, memory)
        result["ok"] = True
    except Exception as error:  # reported, not raised: the parent goes on with the other peers
        traceback.print_exc()
        result = {"ok": False, "error": f"{type(error).__name__}: {error}"}
    finally:
        memory.close()
    result["peak_bytes"] = {name: int(value) for name, value in memory.peaks.items()}
    result["start_bytes"] = {name: int(value) for name, value in memory.starts.items()}
    result["child_s"] = time.perf_counter() - started
    Path(result_path).write_text(json.dumps(result))
    return 0 if result["ok"] else 1


def in_this_process(run: Callable[[Spec, TreeMemory], dict], spec: Spec) -> dict:
    """``run(spec, memory)`` here, for a peer that starts its own process (a command): ``memory`` is to follow
    that process, so this one's is not counted, and the peer reports the peaks itself."""
    memory = TreeMemory()
    try:
        return run(spec, memory)
    finally:
        memory.close()


# -- the machine ----------------------------------------------------------------------------------


def other_pytests() -> list[int]:
    """PIDs of pytest processes that are not this process's ancestors (other people's test runs)."""
    import psutil

    mine = {p.pid for p in psutil.Process().parents()} | {os.getpid()}
    found = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        cmdline = " ".join(process.info.get("cmdline") or [])
        if "pytest" in cmdline and process.info["pid"] not in mine:
            found.append(process.info["pid"])
    return found


def wait_until_idle(minutes: float, max_load: float) -> dict:
    """Wait (up to ``minutes``) for a 1-minute load average below ``max_load`` and no other pytest run."""
    started = time.monotonic()
    while True:
        load = os.getloadavg()
        others = other_pytests()
        if load[0] < max_load and not others:
            return {"idle": True, "waited_s": round(time.monotonic() - started, 1), "load": load}
        if time.monotonic() - started >= minutes * 60:
            print(f"warning: machine still busy after {minutes} min (load {load[0]:.2f}, pytest pids {others}); running anyway", flush=True)
            return {"idle": False, "waited_s": round(time.monotonic() - started, 1), "load": load, "pytest_pids": others}
        print(f"waiting for an idle machine: load {load[0]:.2f}, other pytest processes {others}", flush=True)
        time.sleep(20)


def machine_info() -> dict:
    import numpy  # noqa: F401  (loads the BLAS threadpoolctl reports)
    import scipy.linalg  # noqa: F401

    info = {
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": _cpu_model(),
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GB, 1),
        "env": {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")},
    }
    try:
        from threadpoolctl import threadpool_info

        info["threadpools"] = threadpool_info()
    except ImportError:
        info["threadpools"] = "threadpoolctl not installed"
    versions = {}
    for dist in ("logreg-dist", "numpy", "scipy", "pandas", "pyarrow", "dask", "distributed", "scikit-learn", "glum",
                 "tabmat", "dask-ml", "dask-glm", "pyspark", "threadpoolctl", "psutil"):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = None
    java = shutil.which("java")
    if java:
        probe = subprocess.run([java, "-version"], capture_output=True, text=True)
        versions["java"] = (probe.stderr or probe.stdout).splitlines()[0] if (probe.stderr or probe.stdout) else None
    info["versions"] = versions
    info["git"] = _git_state()
    return info


def _git_state() -> dict:
    """The commit of the checkout and whether the library differs from it (it is measured as it is on disk)."""
    def git(*args):
        probe = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return probe.stdout.strip() if probe.returncode == 0 else None

    changed = git("status", "--porcelain", "--", "logreg_dist")
    return {"commit": git("rev-parse", "HEAD"), "library_changed_since_commit": changed.splitlines() if changed else []}


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def blas_summary(threadpools) -> str:
    if not isinstance(threadpools, list):
        return str(threadpools)
    parts = []
    for pool in threadpools:
        if pool.get("user_api") == "blas":
            parts.append(f"{pool.get('internal_api')} {pool.get('version')} {pool.get('architecture')} x{pool.get('num_threads')} ({Path(pool.get('filepath', '')).parent.name})")
    return "; ".join(dict.fromkeys(parts)) or "no BLAS found"
