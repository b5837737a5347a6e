"""H2O GLM (IRLSM, binomial) on the categorical data set: ``lambda_ = l2``, ``alpha = 0``, ``standardize=True``,
on a local H2O of 2 threads."""

from __future__ import annotations

import time

from bench.harness import TreeMemory
from bench.problem import Spec, load_categorical_frame


def categorical(spec: Spec, memory: TreeMemory) -> dict:
    import h2o
    from h2o.estimators import H2OGeneralizedLinearEstimator

    from logreg_dist.synth import TARGET

    out: dict = {}
    with memory.phase("e2e"):
        started = time.perf_counter()
        train = load_categorical_frame(spec)
        out["load_s"] = time.perf_counter() - started
        h2o.init(nthreads=2, max_mem_size="8g", verbose=False)
        try:
            data = h2o.H2OFrame(train)
            data[TARGET] = data[TARGET].asfactor()
            n_train = len(train)
            estimator = H2OGeneralizedLinearEstimator(family="binomial", solver="IRLSM", lambda_=spec.l2,
                                                      alpha=0.0, standardize=True, remove_collinear_columns=False)
            with memory.phase("fit"):
                fit_started = time.perf_counter()
                estimator.train(y=TARGET, training_frame=data)
                out["fit_s"] = time.perf_counter() - fit_started
            out.update(features=len(estimator.coef()) - 1, n_train=n_train)
        finally:
            h2o.cluster().shutdown()
        out["e2e_s"] = time.perf_counter() - started
    return out
