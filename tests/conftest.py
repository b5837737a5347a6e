"""Shared fixtures: the churn data sets in tests/data and two real Dask clusters.

- ``local_client``: the embedded default, a LocalCluster with 2 worker processes.
- ``process_client``: ``dask scheduler`` and two ``dask worker`` processes
  started here on 127.0.0.1 (every port 0), stopped by PID at the end.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
# The data sets live in the repository (tests/data/README.md: provenance, licence), so no test skips for a missing file.
DATA = ROOT / "tests" / "data"


@pytest.fixture(scope="session")
def wa_churn() -> pd.DataFrame:
    return pd.read_parquet(DATA / "wa_churn.parquet")


@pytest.fixture(scope="session")
def mlc_churn() -> pd.DataFrame:
    return pd.read_parquet(DATA / "mlc_churn.parquet")


# A test that asks for a cluster fixture is a `cluster` test whether or not it says so (`make test-fast`
# leaves those out); tests that start a cluster of their own carry the marker themselves.
CLUSTER_FIXTURES = {"local_client", "process_client", "process_cluster"}


def pytest_collection_modifyitems(items):
    for item in items:
        if CLUSTER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.cluster)


def numeric_problem(frame: pd.DataFrame, target: str, positive: str) -> tuple[pd.DataFrame, np.ndarray]:
    """The numeric columns of a churn data set (rows with a gap dropped) and a 0/1 target."""
    numeric = frame.select_dtypes("number").dropna()
    y = (frame.loc[numeric.index, target] == positive).astype(np.int64).to_numpy()
    return numeric.reset_index(drop=True), y


def make_classification(n_rows=4000, n_features=8, seed=0, rare=False):
    """Generated data with a known logistic signal, correlated columns and varied scales."""
    rng = np.random.default_rng(seed)
    latent = rng.standard_normal((n_rows, n_features))
    X = latent + 0.5 * np.roll(latent, 1, axis=1)
    X = X * rng.uniform(0.1, 50.0, n_features) + rng.uniform(-100.0, 100.0, n_features)
    beta = rng.normal(0.0, 0.6, n_features)
    eta = ((X - X.mean(0)) / X.std(0)) @ beta + (-4.0 if rare else -0.3)
    y = (rng.uniform(size=n_rows) < 1.0 / (1.0 + np.exp(-eta))).astype(np.int64)
    return X, y


@pytest.fixture(scope="session")
def local_client():
    from distributed import Client

    from logreg_dist import local_cluster

    with local_cluster(2) as cluster, Client(cluster, set_as_default=False) as client:
        yield client


def _start(args: list[str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(args, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)


@pytest.fixture(scope="session")
def process_cluster(tmp_path_factory):
    """Address of a scheduler and two workers started as separate processes on 127.0.0.1."""
    from distributed import Client

    tmp = tmp_path_factory.mktemp("cluster")
    dask_cli = str(Path(sys.executable).with_name("dask"))
    scheduler_file = tmp / "scheduler.json"
    processes = [
        _start(
            [dask_cli, "scheduler", "--host", "127.0.0.1", "--port", "0",
             "--dashboard-address", "127.0.0.1:0", "--scheduler-file", str(scheduler_file)],
            tmp / "scheduler.log",
        )
    ]
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        address = json.loads(scheduler_file.read_text())["address"]
        for k in range(2):
            processes.append(
                _start(
                    [dask_cli, "worker", address, "--host", "127.0.0.1", "--nthreads", "1",
                     "--dashboard-address", "127.0.0.1:0", "--nanny-port", "0", "--worker-port", "0",
                     "--name", f"worker-{k}"],
                    tmp / f"worker-{k}.log",
                )
            )
        with Client(address, set_as_default=False) as client:
            client.wait_for_workers(2, timeout=60)
        yield {"address": address, "pids": [p.pid for p in processes], "processes": processes}
    finally:
        for process in reversed(processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture(scope="session")
def process_client(process_cluster):
    from distributed import Client

    with Client(process_cluster["address"], set_as_default=False) as client:
        yield client


@pytest.fixture(scope="session")
def prefect_harness():
    """One temporary Prefect database and local server for the whole session (its start costs 15-25 s)."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # The scheduler service makes runs from cron schedules every loop (60 s by default).
    os.environ.setdefault("PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS", "5")
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield
