"""A small run of bench/run.py: our solver, `logreg-dist train` and scikit-learn on tiny generated data, in a
subprocess.

The benchmark itself is run by hand or by ``make bench``, never here; this only
checks that the script works end to end and that the answers agree.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.cluster
def test_bench_script_runs_on_tiny_data(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    completed = subprocess.run(
        [
            sys.executable, str(ROOT / "bench" / "run.py"),
            "--rows", "20000", "--positives", "400", "--l2", "1e-4",
            "--data", str(tmp_path / "data"), "--out", str(tmp_path / "results"),
            "--peers", "logreg-dist,sklearn-newton-cholesky",
            "--wait-idle", "0", "--repeats", "1", "--timeout", "300", "--small-data", "",
        ],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    (written,) = (tmp_path / "results").glob("*-20000.json")
    result = json.loads(written.read_text())

    assert result["data"]["rows"] == 20000
    reference = result["reference"]
    assert reference["ok"] and reference["grad_max"] < 1e-8
    ours = result["results"]["logreg-dist"]
    assert ours["ok"] and ours["converged"]
    # Our coefficients against scikit-learn newton-cholesky at tol 1e-10 on the same standardized problem.
    assert ours["coef_err"] < 1e-6 and ours["intercept_err"] < 1e-6
    assert abs(ours["auc"] - reference["auc"]) < 1e-6
    peer = result["results"]["sklearn-newton-cholesky"]
    assert peer["ok"] and peer["coef_err"] < 1e-2 and peer["peak_bytes"]["e2e"] > 0
    assert result["limit"]["fit_multiple"] > 0 and result["limit"]["gradient_pass_s"] > 0
    assert result["scoring"]["ok"] and result["scoring"]["rows"] == 20000
    assert result["scoring"]["reasons_ratio"] > 0 and "| rescoring with --reasons 3 / without" in result["markdown"]
    assert "| logreg-dist |" in result["markdown"] and "| sklearn-newton-cholesky |" in result["markdown"]
    # The targets table: ours within 1e-6 is met; peers that did not run leave their ratios n/a.
    assert "| coefficients within 1e-6 of the reference | " in result["markdown"]
    assert "| fit: Spark / ours >= 8 | n/a | n/a |" in result["markdown"]

    # `logreg-dist train` on the same rows: the command's model solves the same problem (same hashed split, same l2).
    command = result["results"]["logreg-dist train"]
    assert command["ok"] and command["returncode"] == 0 and not command["left_running"]
    assert command["coef_err"] < 1e-6 and abs(command["auc"] - reference["auc"]) < 1e-6
    assert 0 < command["fit_s"] < command["wall_s"] and command["peak_bytes"]["e2e"] > 0
    steps = dict(command["phases"])
    assert {"Prefect temporary server start", "read data", "fit", "validate + short model + training profile (side by side)",
            "cluster close, write model"} <= set(steps)
    assert abs(sum(steps.values()) - command["wall_s"]) < 0.5  # the steps cover the wall time
    assert "| logreg-dist train |" in result["markdown"]
    assert "| `logreg-dist train` wall / ours from Parquet <= 2 | n/a |" not in result["markdown"]
    assert "| Spark from Parquet / `logreg-dist train` wall >= 5 | n/a | n/a |" in result["markdown"]
    assert result["small_data"]["skipped"] and "| small data: `logreg-dist train` fit <= 0.5 s | n/a | n/a |" in result["markdown"]
