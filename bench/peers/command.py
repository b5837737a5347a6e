"""Ours as the command users run: ``logreg-dist train`` in its own process tree, timed from its start to
its exit, with where its wall time went read from the flow's log lines."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench.harness import GB, ROOT, TreeMemory
from bench.problem import Spec, parquet_rows

COMMAND = "logreg-dist train"
_LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) (\S+) (.*)$")


def lookalike(spec: Spec, memory: TreeMemory) -> dict:
    """`logreg-dist train DATA --target converted --id-column customer_id --l2 L2 --out TMP` on the bench's data."""
    from logreg_dist.synth import FEATURE_NAMES, ID_COLUMN, TARGET

    data = Path(spec.data)
    out = Path(spec.tmp) / "command-lookalike" / "model"
    argv = train_argv(data, target=TARGET, id_column=ID_COLUMN, l2=spec.l2, out=out)
    result = run_train_command(argv, memory=memory, workdir=out.parent, out=out, timeout=spec.timeout,
                               valid=spec.valid_fraction > 0)
    result["shown"] = shown(argv, DATA=data, TMP=out)
    if result.get("ok") and sorted(result["features"]) == sorted(FEATURE_NAMES):
        coef = dict(zip(result["features"], result["model_coef"]))
        result["coef"] = [coef[name] for name in FEATURE_NAMES]  # in the reference's order, for compare()
    return result


def on_small_data(path: Path | None, target: str, tmp: Path, timeout: float) -> dict:
    """`logreg-dist train DATA --target TARGET --out TMP` on a copy of a small data set (defaults otherwise)."""
    if path is None:
        print("skipping the small-data run: --small-data ''", flush=True)
        return {"ok": False, "skipped": "--small-data ''"}
    if not path.exists():
        print(f"skipping the small-data run: {path} does not exist (--small-data)", flush=True)
        return {"ok": False, "skipped": f"{path} does not exist"}
    folder = tmp / "command-small"
    folder.mkdir(parents=True, exist_ok=True)
    copy = folder / path.name
    shutil.copy2(path, copy)
    argv = train_argv(copy, target=target, id_column=None, l2=None, out=folder / "model")
    memory = TreeMemory()
    try:
        result = run_train_command(argv, memory=memory, workdir=folder, out=folder / "model", timeout=timeout, valid=True)
    finally:
        memory.close()
    result.update(data=str(path), source_rows=parquet_rows(path), shown=shown(argv, DATA=copy, TMP=folder / "model"))
    return result


def command_env() -> dict:
    """The environment of a user's shell on this machine: no OpenBLAS overrides, no Prefect telemetry, no
    Prefect server given (so the command starts its temporary one), this checkout's code first."""
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "PREFECT_API_URL")}
    env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    return env


def train_argv(data: Path, *, target: str, id_column: str | None, l2: float | None, out: Path) -> list[str]:
    """``logreg-dist train DATA --target ... [--id-column ...] [--l2 ...] --out OUT``, by the installed script when
    there is one beside this Python (as a user types it), else by ``python -m logreg_dist.cli``."""
    script = Path(sys.executable).parent / "logreg-dist"
    argv = [str(script)] if script.exists() else [sys.executable, "-m", "logreg_dist.cli"]
    # --verbose: the console then carries the flow's log lines, whose times give the steps' breakdown.
    argv += ["--verbose", "train", str(data), "--target", target]
    if id_column:
        argv += ["--id-column", id_column]
    if l2 is not None:
        argv += ["--l2", repr(l2)]
    return argv + ["--out", str(out)]


def shown(argv: list[str], **names: Path) -> str:
    """The command as a user types it, with the given paths shown by name (``DATA=path``: DATA)."""
    words = ["logreg-dist", *argv[argv.index("train"):]]
    by_path = {str(path): name for name, path in names.items()}
    return " ".join(by_path.get(word, shlex.quote(word)) for word in words)


def run_train_command(argv: list[str], *, memory: TreeMemory, workdir: Path, out: Path, timeout: float,
                      valid: bool) -> dict:
    """Run the command once: wall seconds, the peak memory of its process tree (``memory`` follows it), what
    model.json records of the fit, and where the wall time went (from the flow's log lines on stderr)."""
    workdir.mkdir(parents=True, exist_ok=True)
    stdout_path, stderr_path = workdir / "command.out", workdir / "command.err"
    print(f"[{time.strftime('%H:%M:%S')}] {shlex.join(argv)} ...", flush=True)
    result: dict = {"argv": argv, "log": str(stderr_path)}
    with stdout_path.open("wb") as stdout, stderr_path.open("wb") as stderr:
        started_at, started = time.time(), time.perf_counter()
        process = subprocess.Popen(argv, cwd=workdir, env=command_env(), stdout=stdout, stderr=stderr,
                                   start_new_session=True)
        memory.follow(process.pid)
        try:
            with memory.phase("e2e"):
                returncode = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait()
            returncode = None
        finally:
            ended_at, wall = time.time(), time.perf_counter() - started
    result["left_running"] = _end_group(process.pid)
    result.update(wall_s=wall, returncode=returncode, peak_bytes={"e2e": memory.peaks.get("e2e", 0)})
    log = stderr_path.read_text(errors="replace")
    result["phases"] = command_phases(log, started_at, ended_at, valid=valid)
    model_json = out / "model.json"
    if returncode != 0 or not model_json.exists():
        tail = log.splitlines()[-15:]
        result.update(ok=False, error=f"exited with status {returncode}" + ("" if model_json.exists() else ", no model.json"))
        print(f"  FAILED: {result['error']}\n    " + "\n    ".join(tail), flush=True)
        return result
    model = json.loads(model_json.read_text())
    training = model.get("training") or {}
    result.update(
        ok=True,
        fit_s=training.get("fit_seconds"),
        e2e_s=wall,
        rows=training.get("rows"),
        iterations=model.get("n_iter"),
        converged=model.get("converged"),
        solver=model.get("solver"),
        auc=(model.get("metrics") or {}).get("auc"),
        features=model.get("features"),
        model_coef=model.get("coef"),
        intercept=model.get("intercept"),
    )
    fit = "n/a" if result["fit_s"] is None else f"{result['fit_s']:.2f}"
    print(f"  done in {wall:.1f} s (fit {fit} s, peak {result['peak_bytes']['e2e'] / GB:.2f} GB)", flush=True)
    return result


def _end_group(pgid: int) -> list[str]:
    """Stop what the command left running in its session after it exited (none expected); return their command
    lines."""
    import psutil

    left = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        try:
            if os.getpgid(process.info["pid"]) == pgid:
                left.append(" ".join(process.info.get("cmdline") or [])[:200])
        except (ProcessLookupError, PermissionError):
            pass
    if left:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, 15)
    return left


def command_phases(log: str, started_at: float, ended_at: float, *, valid: bool) -> list[list]:
    """``[[step, seconds], ...]`` from the flow's log lines: process start up to the Prefect server's start, the
    server's start (our imports and the column check run alongside it) up to its answer, the flow run's
    creation, the flow's start up to its first task (output check, row count, cluster start),
    each task (from one task's end to the next's: Prefect's own bookkeeping included), then the flow's end and
    the process's exit. A step whose log line is missing is left out."""
    events: list[tuple[float, str, str]] = []
    for line in log.splitlines():
        match = _LOG_LINE.match(line)
        if match:
            stamp = dt.datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()  # local time, as logged
            events.append((stamp, match.group(2), match.group(3)))

    def first(logger: str, prefix: str) -> float | None:
        return next((t for t, name, message in events if name == logger and message.startswith(prefix)), None)

    server = first("logreg_dist", "starting Prefect's temporary server") or first("prefect", "Starting temporary server")
    ready = first("logreg_dist", "Prefect's temporary server is ready")
    flow_start = first("prefect.flow_runs", "Beginning flow run")
    working = first("prefect.flow_runs", "working ")
    tasks = [t for t, name, message in events if name == "prefect.task_runs" and message.startswith("Finished in state")]
    flow_end = next((t for t, name, message in events if name == "prefect.flow_runs" and message.startswith("Finished in state")), None)
    # Validation, the short model and the profile run side by side after the fit: one step, up to the last of them.
    side = ["validate", "short model", "training profile"] if valid else ["training profile"]
    names = ["read data", "discover preparation", "fit", " + ".join(side) + " (side by side)",
             "cluster close, write model"]
    ends = tasks[:3] + tasks[3 + len(side) - 1:]  # each step's end: a task's, the side-by-side ones' last
    if len(tasks) != 4 + len(side):  # a retried or failed task: name them by position
        names, ends = [f"task {i + 1}" for i in range(len(tasks))], tasks
    # The server starts first thing; our imports (and the column check) run alongside it, up to "ready".
    marks = [("process start", started_at), ("Prefect temporary server start", server),
             ("flow run creation", ready), ("flow start: output check, row count, cluster start", flow_start)]
    marks += [(name, stamp) for name, stamp in zip(names, [working, *ends[:-1]])] if working and ends else []
    marks += [("flow end: summary, artifacts", ends[-1] if ends else None),
              ("server stop, process exit", flow_end)]
    phases = []
    stamps = [stamp for _, stamp in marks] + [ended_at]
    for i, (name, stamp) in enumerate(marks):
        following = next((s for s in stamps[i + 1 :] if s is not None), None)
        if stamp is not None and following is not None:
            phases.append([name, round(following - stamp, 3)])
    return phases
