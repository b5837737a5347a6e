"""scikit-learn's LogisticRegression: Parquet -> float64 arrays in memory, standardized in place -> fit -> AUC,
in one process. ``C = 1 / (l2 * n_train)`` maps our penalty exactly."""

from __future__ import annotations

import time

from bench.harness import TreeMemory, timed_fit
from bench.problem import Spec, column_moments, inverse_c, load_arrays, roc_auc, standardize_inplace


def newton_cholesky(spec: Spec, memory: TreeMemory) -> dict:
    return _fit(spec, memory, solver="newton-cholesky")


def lbfgs(spec: Spec, memory: TreeMemory) -> dict:
    return _fit(spec, memory, solver="lbfgs")


def _fit(spec: Spec, memory: TreeMemory, *, solver: str) -> dict:
    """The solver at scikit-learn's default tolerance and iteration limit."""
    from sklearn.linear_model import LogisticRegression

    out: dict = {}
    with memory.phase("e2e"):
        started = time.perf_counter()
        X_train, y_train, X_valid, y_valid = load_arrays(spec.data, spec.valid_fraction)
        n_train = X_train.shape[0]
        mean, std = column_moments(X_train)  # population std, in place: no copy of X
        standardize_inplace(X_train, mean, std)
        estimator = LogisticRegression(solver=solver, C=inverse_c(spec.l2, n_train))
        out["load_s"] = time.perf_counter() - started
        with memory.phase("fit"), timed_fit(out):
            estimator.fit(X_train, y_train)
        standardize_inplace(X_valid, mean, std)
        score = estimator.predict_proba(X_valid)[:, 1]
        coef = estimator.coef_[0] / std
        intercept = float(estimator.intercept_[0]) - float(mean @ coef)
        out["auc"] = roc_auc(y_valid, score)
        out["e2e_s"] = time.perf_counter() - started
    out.update(coef=coef.tolist(), intercept=intercept, iterations=int(estimator.n_iter_[0]), n_train=n_train)
    return out
