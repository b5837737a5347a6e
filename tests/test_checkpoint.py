"""A fit that dies resumes from its last completed iteration, with the same answer (issue 7)."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from logreg_dist import LogisticRegression

from .conftest import make_classification


class Interrupted(Exception):
    pass


def _stop_at(k):
    def callback(entry):
        if entry["iteration"] == k:
            raise Interrupted(f"stopped at iteration {k}")

    return callback


@pytest.mark.parametrize("solver", ["newton", "lbfgs"])
def test_an_interrupted_fit_resumes_at_its_last_iteration(tmp_path, solver):
    X, y = make_classification(n_rows=5000, n_features=10, seed=11, rare=True)
    checkpoint = str(tmp_path / "fit.json")
    undisturbed = LogisticRegression(l2=1e-4, solver=solver).fit(X, y)
    with pytest.raises(Interrupted):
        LogisticRegression(l2=1e-4, solver=solver, checkpoint=checkpoint).fit(X, y, callback=_stop_at(3))
    saved = json.loads(open(checkpoint).read())
    assert [entry["iteration"] for entry in saved["history"]] == [0, 1, 2, 3]

    resumed = LogisticRegression(l2=1e-4, solver=solver, checkpoint=checkpoint).fit(X, y)
    assert resumed.resumed_from_ == 3
    assert [entry["iteration"] for entry in resumed.history_] == list(range(len(resumed.history_)))
    assert resumed.history_[:4] == saved["history"]
    assert resumed.converged_ and not os.path.exists(checkpoint)
    np.testing.assert_allclose(resumed.coef_, undisturbed.coef_, rtol=0, atol=1e-10)
    np.testing.assert_allclose(resumed.intercept_standardized_, undisturbed.intercept_standardized_, rtol=0, atol=1e-10)


def test_a_checkpoint_of_another_problem_is_ignored(tmp_path):
    X, y = make_classification(n_rows=3000, n_features=6, seed=2)
    checkpoint = str(tmp_path / "fit.json")
    with pytest.raises(Interrupted):
        LogisticRegression(l2=1e-4, checkpoint=checkpoint).fit(X, y, callback=_stop_at(2))
    model = LogisticRegression(l2=1e-2, checkpoint=checkpoint).fit(X, y)  # another l2: start over
    assert model.resumed_from_ is None
    np.testing.assert_allclose(model.coef_, LogisticRegression(l2=1e-2).fit(X, y).coef_, rtol=0, atol=1e-10)


@pytest.mark.slow
@pytest.mark.cluster
def test_a_killed_training_run_resumes_where_it_died(tmp_path, local_client):
    """`logreg-dist train` is killed by PID after its fit saved iteration 2; the same command again resumes there."""
    from logreg_dist import synth
    from logreg_dist.jobs import checkpoint_path
    from logreg_dist.model import load_model

    synth.generate(tmp_path / "base", rows=400_000, positives=2_000, partitions=4)
    out = tmp_path / "model"
    command = [sys.executable, "-m", "logreg_dist.cli", "train", str(tmp_path / "base"), "--target", "converted",
               "--id-column", "customer_id", "--l2", "1e-4", "--valid-fraction", "0", "--out", str(out),
               "--scheduler", local_client.scheduler.address]
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)
    checkpoint = checkpoint_path(str(out))
    run = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    killed_at = None
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and run.poll() is None:
        try:
            with open(checkpoint) as handle:
                iteration = json.load(handle)["history"][-1]["iteration"]
        except (OSError, ValueError, KeyError, IndexError):
            time.sleep(0.02)
            continue
        if iteration >= 2:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
            killed_at = iteration
            break
        time.sleep(0.02)
    assert killed_at is not None, "the run ended before it could be killed mid-fit"
    assert not out.exists()

    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    model = load_model(out)
    history = model.training["history"]
    assert model.training["resumed_from"] >= killed_at
    assert [entry["iteration"] for entry in history] == list(range(len(history)))
    assert not os.path.exists(checkpoint)

    import dask.dataframe as dd

    frame = dd.read_parquet(tmp_path / "base")
    reference = LogisticRegression(l2=1e-4).fit(frame[model.features], frame["converted"], client=local_client)
    np.testing.assert_allclose(model.coef_standardized, reference.coef_standardized_[0], rtol=0, atol=1e-10)
