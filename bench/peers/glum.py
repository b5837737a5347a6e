"""glum's GeneralizedLinearRegressor (binomial): raw X in memory, ``scale_predictors=True``, ``alpha = l2``,
``l1_ratio = 0``: our problem exactly. On the categorical data set, pandas categoricals."""

from __future__ import annotations

import time

from bench.harness import TreeMemory, timed_fit
from bench.problem import Spec, load_arrays, load_categorical_frame, roc_auc


def lookalike(spec: Spec, memory: TreeMemory) -> dict:
    """Parquet -> float64 arrays in memory -> fit -> AUC, in one process; glum's default solver and tolerance."""
    import numpy as np
    from glum import GeneralizedLinearRegressor

    out: dict = {}
    with memory.phase("e2e"):
        started = time.perf_counter()
        X_train, y_train, X_valid, y_valid = load_arrays(spec.data, spec.valid_fraction)
        n_train = X_train.shape[0]
        estimator = GeneralizedLinearRegressor(family="binomial", alpha=spec.l2, l1_ratio=0.0, fit_intercept=True,
                                               scale_predictors=True)
        out["load_s"] = time.perf_counter() - started
        with memory.phase("fit"), timed_fit(out):
            estimator.fit(X_train, y_train)
        score = estimator.predict(X_valid)
        out["auc"] = roc_auc(y_valid, score)
        out["e2e_s"] = time.perf_counter() - started
    out.update(coef=np.asarray(estimator.coef_, dtype=float).tolist(), intercept=float(estimator.intercept_),
               iterations=int(estimator.n_iter_), n_train=n_train)
    return out


def categorical(spec: Spec, memory: TreeMemory) -> dict:
    """The training rows as a pandas frame with categorical columns; ``drop_first=True`` (its reference level is
    the first, ours the most frequent)."""
    import numpy as np
    from glum import GeneralizedLinearRegressor

    from logreg_dist.synth import TARGET

    out: dict = {}
    with memory.phase("e2e"):
        started = time.perf_counter()
        train = load_categorical_frame(spec)
        out["load_s"] = time.perf_counter() - started
        estimator = GeneralizedLinearRegressor(family="binomial", alpha=spec.l2, l1_ratio=0.0, fit_intercept=True,
                                               scale_predictors=True, drop_first=True)
        with memory.phase("fit"):
            fit_started = time.perf_counter()
            estimator.fit(train.drop(columns=TARGET), train[TARGET].to_numpy(np.float64))
            out["fit_s"] = time.perf_counter() - fit_started
        out.update(iterations=int(estimator.n_iter_), features=int(np.size(estimator.coef_)))
        out["e2e_s"] = time.perf_counter() - started
    return out
