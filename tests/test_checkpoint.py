"""A fit that dies resumes from its last completed iteration, with the same answer (issue 7).

A killed `logreg-dist train` that resumes is tested in test_signals.py, beside the interrupted ones.
"""

import json
import os

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
