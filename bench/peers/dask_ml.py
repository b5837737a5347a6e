"""dask-ml's LogisticRegression on the same LocalCluster as ours: Parquet -> persisted Dask arrays -> fit -> AUC.

``C = 1 / (l2 * n_train)`` on the summed loss; it penalizes the intercept too, and dask-glm's newton drops the
penalty altogether (bench/README.md, "How each peer is mapped")."""

from __future__ import annotations

import time

from bench.harness import TreeMemory, local_cluster, timed_fit
from bench.problem import Spec, inverse_c, roc_auc


def lbfgs(spec: Spec, memory: TreeMemory) -> dict:
    return _fit(spec, memory, solver="lbfgs")


def newton(spec: Spec, memory: TreeMemory) -> dict:
    return _fit(spec, memory, solver="newton")


def _fit(spec: Spec, memory: TreeMemory, *, solver: str) -> dict:
    import numpy as np
    from dask_ml.linear_model import LogisticRegression
    from distributed import Client, wait

    from logreg_dist.synth import FEATURE_NAMES, ID_COLUMN, TARGET
    from logreg_dist.tables import read_table
    from logreg_dist.training import split

    out: dict = {}
    started = time.perf_counter()
    cluster, client = local_cluster()
    client.close()
    client = Client(cluster)  # dask-glm computes on the default client
    out["startup_s"] = time.perf_counter() - started
    columns = [*FEATURE_NAMES, TARGET]
    try:
        with memory.phase("e2e"):
            started = time.perf_counter()
            frame = read_table(spec.data)
            train, valid = split(frame, id_column=ID_COLUMN, valid_fraction=spec.valid_fraction, seed=0)
            # dask-ml takes arrays with known chunk sizes (DataFrames are refused); one Parquet read for X and y.
            both = train[columns].astype("float64").to_dask_array(lengths=True)
            X, y = client.persist([both[:, :-1], both[:, -1]])
            wait([X, y])
            n_train = int(X.shape[0])
            estimator = LogisticRegression(penalty="l2", C=inverse_c(spec.l2, n_train), solver=solver)
            with memory.phase("fit"), timed_fit(out):
                estimator.fit(X, y)
            del X, y
            both_valid = valid[columns].astype("float64").to_dask_array(lengths=True)
            proba = estimator.predict_proba(both_valid[:, :-1])
            proba, y_valid = client.compute([proba, both_valid[:, -1]], sync=True)
            proba = np.asarray(proba)
            out["auc"] = roc_auc(y_valid, proba[:, 1] if proba.ndim == 2 else proba)
            out["e2e_s"] = time.perf_counter() - started
    finally:
        client.close()
        cluster.close()
    out.update(
        coef=np.asarray(estimator.coef_, dtype=float).tolist(),
        intercept=float(estimator.intercept_),
        iterations=None,  # dask-ml reports no iteration count (dask-ml #77)
        n_train=n_train,
    )
    return out
