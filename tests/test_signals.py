"""Stopped or failing commands leave nothing behind and say so in one line (issue 17).

Real ``logreg-dist`` processes on generated data, each with its embedded
Prefect server and (but for the failing command) its embedded LocalCluster:
SIGINT goes to the command's process group, as a terminal's Ctrl-C sends it;
SIGTERM and SIGKILL go to its pid, as ``kill`` sends them.
"""

from __future__ import annotations

import glob
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import pytest

from logreg_dist import InputError, LogisticRegression, synth
from logreg_dist._interrupts import Interrupted, raise_on_signals

from .conftest import make_classification

pytestmark = [pytest.mark.slow, pytest.mark.cluster]

ROOT = Path(__file__).resolve().parents[1]
STOP_SECONDS = 15  # from the signal to the command's exit
GONE_SECONDS = 10  # from its exit to the last process of its tree gone


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("signals")
    synth.generate(folder / "base", rows=200_000, positives=2_000, partitions=4)
    return folder


class _Command:
    """One ``logreg-dist`` process in a session of its own, its output collected as it comes."""

    def __init__(self, workdir: Path, *args: str):
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
               "PREFECT_HOME": str(workdir / "prefect"), "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120"}
        env.pop("PREFECT_API_URL", None)
        self.name = args[0]
        self.process = subprocess.Popen([sys.executable, "-m", "logreg_dist.cli", *args], cwd=workdir, env=env,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._readers = [threading.Thread(target=self._read, args=(stream, lines), daemon=True)
                         for stream, lines in ((self.process.stdout, self.stdout), (self.process.stderr, self.stderr))]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream, lines) -> None:
        for line in stream:
            lines.append(line.rstrip("\n"))

    def wait_for(self, ready, what: str, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if self.process.poll() is not None:
                pytest.fail(f"{self.name} ended with {self.process.returncode} before {what}: {self.error_text()[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"{self.name} did not reach {what} in {timeout} s")
            time.sleep(0.01)

    def finish(self, timeout: float) -> int:
        code = self.process.wait(timeout=timeout)
        for reader in self._readers:
            reader.join(timeout=10)
        return code

    def error_text(self) -> str:
        return "\n".join(self.stderr)

    def session(self) -> list[psutil.Process]:
        """Every process of the command's session: its tree, and children that left it when their parent died."""
        members = []
        for process in psutil.process_iter():
            try:
                if os.getsid(process.pid) == self.process.pid:
                    members.append(process)
            except (ProcessLookupError, PermissionError):
                pass
        return members

    def kill_leftovers(self) -> None:
        for process in self.session():
            try:
                process.kill()
            except psutil.NoSuchProcess:
                pass
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def command(workdir):
    """Start commands in ``workdir``; whatever of theirs is still running at the end is killed."""
    started: list[_Command] = []

    def start(*args: str) -> _Command:
        started.append(_Command(workdir, *args))
        return started[-1]

    yield start
    for run in started:
        run.kill_leftovers()


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _stop(run: _Command, signum: int, *, group: bool) -> tuple[int, list[psutil.Process]]:
    """Send ``signum``; the exit status, and the processes of the command alive just before."""
    tree = [psutil.Process(run.process.pid), *psutil.Process(run.process.pid).children(recursive=True), *run.session()]
    (os.killpg if group else os.kill)(run.process.pid, signum)
    try:
        code = run.finish(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{run.name} still ran {STOP_SECONDS} s after {signal.Signals(signum).name}: {run.error_text()[-3000:]}")
    return code, tree


def _assert_all_gone(run: _Command, tree: list[psutil.Process]) -> None:
    deadline = time.monotonic() + GONE_SECONDS
    while (alive := [p for p in {*tree, *run.session()} if _alive(p)]) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not alive, [" ".join(p.cmdline())[:160] for p in alive if _alive(p)]


def _assert_interrupted(run: _Command, code: int, signum: int) -> None:
    name = signal.Signals(signum).name
    assert code == 128 + signum, run.error_text()[-3000:]
    assert run.stderr and run.stderr[-1] == f"logreg-dist {run.name}: interrupted by {name}", run.error_text()[-3000:]
    assert "Traceback" not in run.error_text(), run.error_text()[-3000:]


def _hidden(workdir: Path) -> list[str]:
    """Staging folders (``.<name>-staging@host@pid-...``), the fit's checkpoint (``.<out>.fit-checkpoint.json``)."""
    return sorted(name for name in os.listdir(workdir) if name.startswith("."))


def _train(workdir: Path) -> list[str]:
    return ["train", str(workdir / "base"), "--target", "converted", "--id-column", "customer_id", "--l2", "1e-4",
            "--valid-fraction", "0", "--out", str(workdir / "model")]


def _checkpoint(workdir: Path) -> Path:
    return workdir / ".model.fit-checkpoint.json"


@pytest.mark.parametrize("signum, group", [(signal.SIGINT, True), (signal.SIGTERM, False)], ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_training_stops_and_leaves_nothing(workdir, command, signum, group):
    run = command(*_train(workdir))
    run.wait_for(_checkpoint(workdir).exists, "its fit's first checkpoint")
    server = [p for p in psutil.Process(run.process.pid).children() if "uvicorn" in " ".join(p.cmdline())]
    assert len(server) == 1 and os.getpgid(server[0].pid) == server[0].pid  # a Ctrl-C reaches only the command
    code, tree = _stop(run, signum, group=group)
    _assert_interrupted(run, code, signum)
    _assert_all_gone(run, tree)
    assert _hidden(workdir) == [] and not (workdir / "model").exists()


def _saved_iteration(workdir: Path) -> int:
    """The last iteration in the fit's checkpoint, or -1 while there is none."""
    try:
        return json.loads(_checkpoint(workdir).read_text())["history"][-1]["iteration"]
    except (OSError, ValueError, KeyError, IndexError):
        return -1


def test_a_killed_training_resumes_where_it_died_and_the_rerun_succeeds(workdir, command, local_client):
    """After the interrupts: the command is killed with its process group by SIGKILL once its fit saved iteration 2,
    so nothing cleans up and the checkpoint stays (issue 7); the same command again resumes there, writes the model
    an undisturbed fit finds, and leaves nothing behind. (One rerun serves both: each command costs a Prefect start.)"""
    from logreg_dist.model import load_model

    run = command(*_train(workdir))
    run.wait_for(lambda: _saved_iteration(workdir) >= 2, "its fit's checkpoint of iteration 2")
    killed_at = _saved_iteration(workdir)
    os.killpg(run.process.pid, signal.SIGKILL)
    assert run.finish(timeout=STOP_SECONDS) == -signal.SIGKILL
    assert _checkpoint(workdir).exists() and not (workdir / "model").exists()

    run = command(*_train(workdir))
    assert run.finish(timeout=400) == 0, run.error_text()[-3000:]
    assert "model written to" in "\n".join(run.stdout)
    assert _hidden(workdir) == [] and (workdir / "model" / "model.json").exists()
    model = load_model(workdir / "model")
    history = model.training["history"]
    assert model.training["resumed_from"] >= killed_at >= 2
    assert [entry["iteration"] for entry in history] == list(range(len(history)))

    import dask.dataframe as dd

    frame = dd.read_parquet(workdir / "base")
    reference = LogisticRegression(l2=1e-4).fit(frame[model.features], frame["converted"], client=local_client)
    np.testing.assert_allclose(model.coef_standardized, reference.coef_standardized_[0], rtol=0, atol=1e-10)


@pytest.fixture
def model(workdir, command) -> Path:
    """The model the training tests wrote (trained here if they did not run)."""
    if not (workdir / "model" / "model.json").exists():
        assert command(*_train(workdir)).finish(timeout=400) == 0
    return workdir / "model"


@pytest.mark.parametrize("signum, group", [(signal.SIGINT, True), (signal.SIGTERM, False)], ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_scoring_stops_and_leaves_nothing(workdir, model, command, signum, group):
    run = command("score", str(model), str(workdir / "base"), "--out", str(workdir / "scores"))
    run.wait_for(lambda: glob.glob(str(workdir / ".scores-staging@*")), "its staging folder")
    code, tree = _stop(run, signum, group=group)
    _assert_interrupted(run, code, signum)
    _assert_all_gone(run, tree)
    assert _hidden(workdir) == [] and not (workdir / "scores").exists()


def test_serve_stops_on_sigterm_and_leaves_nothing(workdir, model, command):
    run = command("serve", "--model", str(model), "--data", str(workdir / "base"), "--out", str(workdir / "scores"))
    run.wait_for(lambda: any("polling for scheduled runs" in line for line in run.stdout), "serving")
    code, tree = _stop(run, signal.SIGTERM, group=False)
    _assert_interrupted(run, code, signal.SIGTERM)
    _assert_all_gone(run, tree)
    assert _hidden(workdir) == []


def test_a_failing_command_says_what_failed_first_and_in_one_line(workdir, command, local_client):
    run = command("train", str(workdir / "base"), "--target", "convertd", "--out", str(workdir / "other"),
                  "--scheduler", local_client.scheduler.address)
    assert run.finish(timeout=300) == 2
    assert run.stderr[0].startswith("logreg-dist train: error: the target 'convertd' is not a column of the data"), \
        run.error_text()[-3000:]
    assert "Traceback" not in run.error_text()


def test_a_child_started_with_die_with_parent_dies_with_a_killed_parent(tmp_path):
    """What stops the Prefect server when the command gets SIGKILL (PR_SET_PDEATHSIG)."""
    parent = subprocess.Popen(
        [sys.executable, "-c", "import subprocess, sys, time\n"
         "from logreg_dist._interrupts import die_with_parent\n"
         "child = subprocess.Popen(['sleep', '120'], preexec_fn=die_with_parent())\n"
         "print(child.pid, flush=True)\n"
         "time.sleep(120)\n"],
        env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, text=True, start_new_session=True,
    )
    child = psutil.Process(int(parent.stdout.readline()))
    try:
        assert _alive(child)
        parent.kill()
        parent.wait()
        deadline = time.monotonic() + 5
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(child)
    finally:
        if _alive(child):
            child.kill()


class _SlowFinalizer:
    def __del__(self):
        time.sleep(1.0)


def test_an_interrupt_that_lands_in_a_finalizer_is_delivered_again():
    """Python drops an exception raised in ``__del__`` (or a gc callback); the interrupt must not be lost there."""
    with raise_on_signals() as received:
        threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGTERM)).start()
        with pytest.raises(Interrupted) as raised:
            _SlowFinalizer()  # dropped at once: its __del__ runs here, and the signal arrives during it
            time.sleep(5)
    assert raised.value.signum == signal.SIGTERM and received.signum == signal.SIGTERM


@pytest.mark.parametrize("error, kept", [(KeyboardInterrupt(), False), (InputError("bad"), False), (OSError("io"), True)])
def test_the_checkpoint_is_kept_for_a_crash_only(tmp_path, error, kept):
    X, y = make_classification(n_rows=3000, n_features=6, seed=5)
    checkpoint = tmp_path / "fit.json"

    def fail_at_two(entry):
        if entry["iteration"] == 2:
            assert checkpoint.exists()
            raise error

    with pytest.raises(type(error)):
        LogisticRegression(l2=1e-4, checkpoint=str(checkpoint)).fit(X, y, callback=fail_at_two)
    assert checkpoint.exists() is kept
