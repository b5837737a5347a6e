#!/usr/bin/env python
"""Benchmark logreg-dist against the peers a user would pick instead, on one generated data set.

Every peer fits the same problem: features standardized with the population
standard deviation of the training rows, the objective

    mean log-loss + (l2 / 2) * ||coef_standardized||^2,   intercept unpenalized,

at the peer's own default tolerance, with its parameters mapped to this
problem (bench/README.md says how). Each peer runs in its own subprocess, so
its peak memory is that process tree's (Spark's JVM and Dask's worker
processes included). The reference is scikit-learn newton-cholesky at
tol=1e-10 on the same standardized rows in memory, independent of our
solver. Then the limit (one gradient pass and one Hessian pass with NumPy /
SciPy BLAS on the same rows in memory) and the scoring throughput against
pyarrow reading and writing the same files.

Run with ``make bench`` or
``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python bench/run.py --rows ...``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.metadata
import importlib.util
import json
import math
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

DEFAULT_ROWS = 4_200_000
DEFAULT_POSITIVES = 18_000  # per DEFAULT_ROWS: the lookalike case's 0.43 %
#: A light ridge: with 0.43 % positives the curvature per standardized feature is about
#: p (1 - p) = 4.3e-3, so 1e-4 adds ~2 % to the Hessian's diagonal (the demo's and README's value).
DEFAULT_L2 = 1e-4
REFERENCE_TOL = 1e-10
GB = 1e9

#: name -> (modules it needs, what it is, how its parameters map to our problem)
PEERS = {
    "logreg-dist": (
        [],
        "logreg_dist.LogisticRegression(l2=l2), solver auto (Newton at 85 features), tol 1e-12",
        "ours: LocalCluster of 2 worker processes x 1 thread, Dask DataFrame from read_parquet",
    ),
    "logreg-dist-lbfgs": (
        [],
        "logreg_dist.LogisticRegression(l2=l2, solver='lbfgs'), tol 1e-12",
        "ours, L-BFGS; not in the default list",
    ),
    "sklearn-newton-cholesky": (
        ["sklearn"],
        "sklearn LogisticRegression(solver='newton-cholesky'), tol 1e-4, max_iter 100",
        "standardized X in memory, C = 1 / (l2 * n_train): exact",
    ),
    "sklearn-lbfgs": (
        ["sklearn"],
        "sklearn LogisticRegression(solver='lbfgs'), tol 1e-4, max_iter 100",
        "standardized X in memory, C = 1 / (l2 * n_train): exact",
    ),
    "glum": (
        ["glum"],
        "glum GeneralizedLinearRegressor(family='binomial'), solver auto (irls-ls), gradient_tol 1e-4",
        "raw X in memory, alpha = l2, l1_ratio = 0, scale_predictors=True: exact",
    ),
    "dask-ml-lbfgs": (
        ["dask_ml", "dask_glm"],
        "dask_ml LogisticRegression(solver='lbfgs'), tol 1e-4 (pgtol on the summed gradient), max_iter 100",
        "C = 1 / (l2 * n_train) on the summed loss; penalizes the intercept too (not mappable)",
    ),
    "dask-ml-newton": (
        ["dask_ml", "dask_glm"],
        "dask_ml LogisticRegression(solver='newton'), tol 1e-4 on the coefficient change, max_iter 100",
        "dask-glm's newton drops the penalty: it fits l2 = 0 whatever C is",
    ),
    "spark": (
        ["pyspark"],
        "Spark MLlib LogisticRegression on local[2], maxIter 100, tol 1e-6 (defaults)",
        "regParam = l2 * (n - 1) / n, elasticNetParam 0, standardization=True (Spark scales by the sample std)",
    ),
}
DEFAULT_PEERS = [name for name in PEERS if name != "logreg-dist-lbfgs"]


# -- memory of a process tree -----------------------------------------------------------------


class TreeMemory:
    """Samples the resident memory of this process and all its descendants; peaks per named phase."""

    def __init__(self, interval: float = 0.05, *, root: int | None = None):
        import psutil

        self._psutil = psutil
        self._process = psutil.Process(root)  # None: this process
        self._interval = interval
        self._active: set[str] = set()
        self.peaks: dict[str, int] = {}
        self.starts: dict[str, int] = {}  # memory when each phase began (an idle cluster's, say)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def current(self) -> int:
        total = self._process.memory_info().rss
        for child in self._process.children(recursive=True):
            try:
                total += child.memory_info().rss
            except self._psutil.Error:
                pass
        return total

    def _sample(self) -> int:
        try:
            return self.current()
        except self._psutil.Error:  # the root has exited (a command's process, say): nothing to count
            return 0

    def _run(self) -> None:
        while not self._stop.is_set():
            value = self._sample()
            with self._lock:
                for name in self._active:
                    self.peaks[name] = max(self.peaks.get(name, 0), value)
            self._stop.wait(self._interval)

    @contextlib.contextmanager
    def phase(self, name: str):
        value = self._sample()
        with self._lock:
            self._active.add(name)
            self.starts.setdefault(name, value)
            self.peaks[name] = max(self.peaks.get(name, 0), value)
        try:
            yield
        finally:
            value = self._sample()
            with self._lock:
                self.peaks[name] = max(self.peaks.get(name, 0), value)
                self._active.discard(name)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


# -- data ------------------------------------------------------------------------------------


def parquet_rows(data: Path) -> int:
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(f).metadata.num_rows for f in sorted(data.glob("*.parquet")))


def ensure_data(data: Path, rows: int, positives: int) -> tuple[int, float]:
    """Generate the customer base at ``data`` unless it is there; returns (rows, seconds spent generating)."""
    if data.exists() and any(data.glob("*.parquet")):
        found = parquet_rows(data)
        if found != rows:
            print(f"note: {data} holds {found:,} rows (not --rows {rows:,}); using it as it is", flush=True)
        return found, 0.0
    from logreg_dist.synth import generate

    print(f"generating {rows:,} rows ({positives:,} positives) into {data} ...", flush=True)
    started = time.perf_counter()
    generate(data, rows=rows, positives=positives, seed=0)
    seconds = time.perf_counter() - started
    print(f"generated in {seconds:.1f} s", flush=True)
    return rows, seconds


def load_arrays(data: str, valid_fraction: float, seed: int = 0):
    """Parquet -> float64 row-major (X_train, y_train, X_valid, y_valid), split by the hashed customer_id.

    The split is logreg-dist's own rule (``logreg_dist.training._validation_rows``).
    Rows are converted a batch at a time, so the whole table never exists twice.
    """
    import numpy as np
    import pandas as pd
    import pyarrow.parquet as pq

    from logreg_dist.synth import FEATURE_NAMES, ID_COLUMN, TARGET
    from logreg_dist.training import _validation_rows

    table = pq.read_table(data, columns=[ID_COLUMN, *FEATURE_NAMES, TARGET])
    ids = table.column(ID_COLUMN).to_numpy()
    valid = _validation_rows(pd.DataFrame({ID_COLUMN: ids}), ID_COLUMN, valid_fraction, seed)
    n_valid = int(valid.sum())
    n_train = valid.size - n_valid
    p = len(FEATURE_NAMES)
    X_train, X_valid = np.empty((n_train, p)), np.empty((n_valid, p))
    y_all = table.column(TARGET).to_numpy().astype(np.float64)
    i_train = i_valid = start = 0
    for batch in table.select(list(FEATURE_NAMES)).to_batches(max_chunksize=65_536):
        n = batch.num_rows
        block = np.empty((n, p))
        for j, column in enumerate(batch.columns):
            block[:, j] = column.to_numpy(zero_copy_only=False)
        mask = valid[start : start + n]
        k = int(mask.sum())
        X_valid[i_valid : i_valid + k] = block[mask]
        X_train[i_train : i_train + n - k] = block[~mask]
        i_valid, i_train, start = i_valid + k, i_train + n - k, start + n
    del table
    return X_train, y_all[~valid], X_valid, y_all[valid]


def column_moments(X, chunk: int = 65_536):
    """Mean and population standard deviation (ddof=0) of each column, in chunks (no full-size temporary)."""
    import numpy as np

    mean = X.sum(axis=0) / X.shape[0]
    m2 = np.zeros(X.shape[1])
    for start in range(0, X.shape[0], chunk):
        m2 += ((X[start : start + chunk] - mean) ** 2).sum(axis=0)
    return mean, np.sqrt(m2 / X.shape[0])


def standardize_inplace(X, mean, std, chunk: int = 65_536) -> None:
    for start in range(0, X.shape[0], chunk):
        block = X[start : start + chunk]
        block -= mean
        block /= std


def roc_auc(y, score) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, score))


def _caught(record) -> list[str]:
    return sorted({f"{w.category.__name__}: {str(w.message).splitlines()[0][:200]}" for w in record})


# -- children: the reference (and the limit), then one per peer; ours also times scoring ---------------


def child_reference(spec: dict, memory: TreeMemory) -> dict:
    """The reference solve (sklearn newton-cholesky, tol 1e-10) and then the limit on the same rows in memory."""
    import numpy as np
    from scipy.special import expit
    from sklearn.linear_model import LogisticRegression

    out: dict = {}
    started = time.perf_counter()
    X_train, y_train, X_valid, y_valid = load_arrays(spec["data"], spec["valid_fraction"])
    mean, std = column_moments(X_train)
    standardize_inplace(X_train, mean, std)
    standardize_inplace(X_valid, mean, std)
    out["load_s"] = time.perf_counter() - started
    n_train, l2 = X_train.shape[0], spec["l2"]
    C = 1.0 / (l2 * n_train) if l2 > 0 else np.inf
    reference = LogisticRegression(solver="newton-cholesky", C=C, tol=REFERENCE_TOL, max_iter=100)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        started = time.perf_counter()
        reference.fit(X_train, y_train)
        out["fit_s"] = time.perf_counter() - started
    coef_std, intercept_std = reference.coef_[0].astype(float), float(reference.intercept_[0])
    # The gradient of the exact objective at the reference, computed here in float64, in chunks.
    grad = np.zeros(X_train.shape[1] + 1)
    loss = 0.0
    for start in range(0, n_train, 65_536):
        Z, y = X_train[start : start + 65_536], y_train[start : start + 65_536]
        eta = Z @ coef_std + intercept_std
        resid = expit(eta) - y
        grad[:-1] += resid @ Z
        grad[-1] += resid.sum()
        loss += np.logaddexp(0.0, (1.0 - 2.0 * y) * eta).sum()
    grad /= n_train
    grad[:-1] += l2 * coef_std
    out.update(
        n_train=n_train,
        n_valid=int(X_valid.shape[0]),
        positives_train=int(y_train.sum()),
        positives_valid=int(y_valid.sum()),
        feature_mean=mean.tolist(),
        feature_std=std.tolist(),
        coef_standardized=coef_std.tolist(),
        intercept_standardized=intercept_std,
        coef=(coef_std / std).tolist(),
        intercept=intercept_std - float(mean @ (coef_std / std)),
        iterations=int(reference.n_iter_[0]),
        objective=loss / n_train + 0.5 * l2 * float(coef_std @ coef_std),
        grad_max=float(np.max(np.abs(grad))),
        auc=roc_auc(y_valid, X_valid @ coef_std + intercept_std),
        warnings=_caught(record),
        how=f"sklearn LogisticRegression(solver='newton-cholesky', C=1/(l2*n_train), tol={REFERENCE_TOL:g}) "
        "on the standardized training rows in memory (float64)",
    )
    del X_valid
    if not spec.get("skip_limit"):
        out["limit"] = limit_passes(X_train, y_train, coef_std, intercept_std, repeats=spec.get("repeats", 3))
    return out


def _best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def limit_passes(X, y, coef, intercept, *, repeats: int) -> dict:
    """Seconds of one gradient pass and of the fastest Hessian pass with NumPy / SciPy BLAS, on X in memory."""
    import numpy as np
    from scipy.linalg.blas import dsyrk, ssyrk
    from scipy.special import expit
    from threadpoolctl import threadpool_info, threadpool_limits

    n, p = X.shape
    eta = X @ coef + intercept
    prob = expit(eta)
    resid = prob - y
    weight = prob * (1.0 - prob)
    sqrt_weight = np.sqrt(weight)
    result: dict = {"rows": n, "features": p, "repeats": repeats, "threadpools": threadpool_info()}

    result["matvec_s"] = _best(lambda: X @ coef, repeats)  # X @ b
    result["rmatvec_s"] = _best(lambda: X.T @ resid, repeats)  # X.T @ r
    result["gradient_pass_s"] = result["matvec_s"] + result["rmatvec_s"]

    def full_pass():
        e = X @ coef + intercept
        r = expit(e) - y
        return X.T @ r

    result["gradient_pass_with_expit_s"] = _best(full_pass, repeats)

    def syrk_chunks(A, rows, syrk, dtype):
        def run():
            gram = np.zeros((p, p), dtype=dtype, order="F")
            w = sqrt_weight.astype(dtype)
            for start in range(0, n, rows):
                block = A[start : start + rows] * w[start : start + rows, None]
                gram = syrk(1.0, block.T, beta=1.0, c=gram, trans=0, lower=0, overwrite_c=1)
            return gram

        return run

    def syrk_whole():
        block = X * sqrt_weight[:, None]
        return dsyrk(1.0, block.T, trans=0, lower=0)

    def syrk_column_major(rows):
        # Column-major chunks, Z.T @ Z with trans=1: how our kernels form it (OpenBLAS is faster this way round).
        def run():
            gram = np.zeros((p, p), order="F")
            block = np.empty((rows, p), order="F")
            for start in range(0, n - rows + 1, rows):
                np.multiply(X[start : start + rows], sqrt_weight[start : start + rows, None], out=block)
                gram = dsyrk(1.0, block, beta=1.0, c=gram, trans=1, lower=0, overwrite_c=1)
            tail = X[n - n % rows :] * sqrt_weight[n - n % rows :, None]
            return dsyrk(1.0, np.asfortranarray(tail), beta=1.0, c=gram, trans=1, lower=0, overwrite_c=1)

        return run

    hessian = {
        "float64 X.T @ (X * w[:, None])": lambda: X.T @ (X * weight[:, None]),
        "float64 dsyrk, whole sqrt(w)-scaled copy": syrk_whole,
        "float64 dsyrk, chunks of 4096 rows": syrk_chunks(X, 4096, dsyrk, np.float64),
        "float64 dsyrk, chunks of 65536 rows": syrk_chunks(X, 65_536, dsyrk, np.float64),
        "float64 dsyrk trans=1, column-major chunks of 4096 rows": syrk_column_major(4096),
    }
    seconds = {name: _best(fn, repeats) for name, fn in hessian.items()}
    X32 = X.astype(np.float32)
    weight32 = weight.astype(np.float32)
    hessian32 = {
        "float32 X.T @ (X * w[:, None])": lambda: X32.T @ (X32 * weight32[:, None]),
        "float32 ssyrk, chunks of 4096 rows": syrk_chunks(X32, 4096, ssyrk, np.float32),
        "float32 ssyrk, chunks of 65536 rows": syrk_chunks(X32, 65_536, ssyrk, np.float32),
    }
    seconds.update({name: _best(fn, repeats) for name, fn in hessian32.items()})
    del X32
    XF = np.asfortranarray(X)

    def syrk_fortran(rows):
        # Column-major X (as our blocks are), each chunk copied and scaled down its columns (the transposed
        # broadcast: NumPy runs a column-major chunk's [:, None] broadcast across the columns, 7x slower).
        def run():
            gram = np.zeros((p, p), order="F")
            block = np.empty((rows, p), order="F")
            for start in range(0, n, rows):
                stop = min(start + rows, n)
                out = block[: stop - start]
                np.multiply(XF[start:stop].T, sqrt_weight[start:stop], out=out.T)
                gram = dsyrk(1.0, out, beta=1.0, c=gram, trans=1, lower=0, overwrite_c=1)
            return gram

        return run

    name = "float64 dsyrk trans=1, column-major X, chunks of 4096 rows"
    hessian[name] = syrk_fortran(4096)  # kept: the one-thread timing below reruns the fastest float64 line
    seconds[name] = _best(hessian[name], repeats)
    result["hessian_variants_s"] = seconds
    float64 = {k: v for k, v in seconds.items() if k.startswith("float64")}
    result["hessian_best"] = min(float64, key=float64.get)
    result["hessian_pass_s"] = float64[result["hessian_best"]]
    result["hessian_best_any"] = min(seconds, key=seconds.get)
    result["hessian_pass_any_s"] = seconds[result["hessian_best_any"]]
    # One BLAS thread: what each of our single-threaded worker processes gets.
    with threadpool_limits(limits=1, user_api="blas"):
        result["single_thread"] = {
            "gradient_pass_s": _best(lambda: X @ coef, repeats) + _best(lambda: X.T @ resid, repeats),
            "hessian_pass_s": _best(hessian[result["hessian_best"]], repeats),
            "hessian_variant": result["hessian_best"],
        }
    del XF
    return result


def _cluster():
    from distributed import Client

    from logreg_dist import local_cluster

    cluster = local_cluster(2)
    return cluster, Client(cluster, set_as_default=False)


def child_logreg_dist(spec: dict, memory: TreeMemory, solver: str = "auto") -> dict:
    """Ours, as a user runs it: read_parquet -> split -> fit(client=..., validation=...) -> AUC; then a fit on
    persisted rows."""
    from distributed import wait

    from logreg_dist import LogisticRegression
    from logreg_dist.synth import FEATURE_NAMES, TARGET, ID_COLUMN
    from logreg_dist.tables import read_table
    from logreg_dist.training import split

    features = list(FEATURE_NAMES)
    out: dict = {}
    started = time.perf_counter()
    cluster, client = _cluster()
    out["startup_s"] = time.perf_counter() - started
    try:
        with memory.phase("e2e"):
            started = time.perf_counter()
            frame = read_table(spec["data"])
            train, valid = split(frame, id_column=ID_COLUMN, valid_fraction=spec["valid_fraction"], seed=0)
            fit_started = time.perf_counter()
            # The held-out rows are loaded with the training rows (each file read once) and scored where
            # they lie after the fit: exact AUC from sums, no row comes to this process.
            model = LogisticRegression(l2=spec["l2"], solver=solver).fit(
                train[features], train[TARGET], client=client, validation=(valid[features], valid[TARGET])
            )
            out["fit_from_parquet_s"] = time.perf_counter() - fit_started  # validation included
            out["auc"] = model.validation_metrics_["auc"]
            out["e2e_s"] = time.perf_counter() - started
        # Fit time with the rows already on the workers: persist the training frame, then fit.
        with memory.phase("fit"):
            persisted = client.persist(train[[*features, TARGET]])
            with client.as_current():
                wait(persisted)
            with warnings.catch_warnings(record=True) as record:
                warnings.simplefilter("always")
                started = time.perf_counter()
                again = LogisticRegression(l2=spec["l2"], solver=solver).fit(persisted[features], persisted[TARGET], client=client)
                out["fit_s"] = time.perf_counter() - started
            del persisted
        out.update(fitted_summary(model, again))
        if not spec.get("skip_scoring"):
            out["scoring"] = score_ours(spec, client, out, memory)
    finally:
        client.close()
        cluster.close()
    if "scoring" in out:
        scoring = out["scoring"]
        scoring.update(pyarrow_copy(spec, memory))
        scoring["ours_rows_per_s"] = scoring["rows"] / scoring["score_s"]
        scoring["pyarrow_rows_per_s"] = scoring["rows"] / scoring["pyarrow_s"]
        scoring["ratio"] = scoring["ours_rows_per_s"] / scoring["pyarrow_rows_per_s"]
        scoring["reasons_ratio"] = scoring["score_s"] / scoring["score_reasons_s"]  # rows/s with reasons / without
        scoring["ok"] = True
    out["warnings"] = _caught(record)
    return out


def _record(entry) -> dict:
    """One ``history_`` entry as a plain dict (a dict, or a record with ``as_dict``)."""
    if isinstance(entry, dict):
        return dict(entry)
    if hasattr(entry, "as_dict"):
        return entry.as_dict()
    import dataclasses

    return dataclasses.asdict(entry)


def fitted_summary(model, again) -> dict:
    """What the parent needs of our two fits (the one from Parquet and the one on persisted rows)."""
    import numpy as np

    history = [_record(h) for h in again.history_]
    return dict(
        coef=model.coef_[0].tolist(),
        intercept=float(model.intercept_[0]),
        coef_refit_max_diff=float(np.max(np.abs(again.coef_[0] - model.coef_[0]))),
        feature_mean=model.feature_mean_.tolist(),
        feature_scale=model.feature_scale_.tolist(),
        coef_standardized=model.coef_standardized_[0].tolist(),
        iterations=int(again.n_iter_),
        passes=int(again.n_passes_),
        hessian_every=int(getattr(again, "hessian_every_", 1)),
        converged=bool(again.converged_),
        solver=again.solver_,
        solver_s=float(sum(record_["seconds"] for record_ in history)),
        history=history,
        n_train=int(again.n_samples_fit_),
    )


def child_in_memory(spec: dict, memory: TreeMemory, peer: str) -> dict:
    """scikit-learn and glum: Parquet -> float64 arrays in memory -> fit -> AUC, one process."""
    import numpy as np

    out: dict = {}
    with memory.phase("e2e"):
        started = time.perf_counter()
        X_train, y_train, X_valid, y_valid = load_arrays(spec["data"], spec["valid_fraction"])
        n_train, l2 = X_train.shape[0], spec["l2"]
        if peer.startswith("sklearn"):
            from sklearn.linear_model import LogisticRegression

            mean, std = column_moments(X_train)  # population std, in place: no copy of X
            standardize_inplace(X_train, mean, std)
            estimator = LogisticRegression(solver=peer.removeprefix("sklearn-"), C=1.0 / (l2 * n_train) if l2 > 0 else np.inf)
        else:
            from glum import GeneralizedLinearRegressor

            estimator = GeneralizedLinearRegressor(family="binomial", alpha=l2, l1_ratio=0.0, fit_intercept=True, scale_predictors=True)
        out["load_s"] = time.perf_counter() - started
        with memory.phase("fit"), warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            fit_started = time.perf_counter()
            estimator.fit(X_train, y_train)
            out["fit_s"] = time.perf_counter() - fit_started
        if peer.startswith("sklearn"):
            standardize_inplace(X_valid, mean, std)
            score = estimator.predict_proba(X_valid)[:, 1]
            coef = estimator.coef_[0] / std
            intercept = float(estimator.intercept_[0]) - float(mean @ coef)
            iterations = int(estimator.n_iter_[0])
        else:
            score = estimator.predict(X_valid)
            coef, intercept = np.asarray(estimator.coef_, dtype=float), float(estimator.intercept_)
            iterations = int(estimator.n_iter_)
        out["auc"] = roc_auc(y_valid, score)
        out["e2e_s"] = time.perf_counter() - started
    out.update(coef=coef.tolist(), intercept=intercept, iterations=iterations, n_train=n_train, warnings=_caught(record))
    return out


def child_dask_ml(spec: dict, memory: TreeMemory, solver: str) -> dict:
    """dask-ml on the same LocalCluster as ours: Parquet -> persisted Dask arrays -> fit -> AUC."""
    import numpy as np
    from distributed import wait
    from dask_ml.linear_model import LogisticRegression

    from logreg_dist.synth import FEATURE_NAMES, ID_COLUMN, TARGET
    from logreg_dist.tables import read_table
    from logreg_dist.training import split

    out: dict = {}
    started = time.perf_counter()
    cluster, client = _cluster()
    client.close()
    from distributed import Client

    client = Client(cluster)  # dask-glm computes on the default client
    out["startup_s"] = time.perf_counter() - started
    columns = [*FEATURE_NAMES, TARGET]
    try:
        with memory.phase("e2e"):
            started = time.perf_counter()
            frame = read_table(spec["data"])
            train, valid = split(frame, id_column=ID_COLUMN, valid_fraction=spec["valid_fraction"], seed=0)
            # dask-ml takes arrays with known chunk sizes (DataFrames are refused); one Parquet read for X and y.
            both = train[columns].astype("float64").to_dask_array(lengths=True)
            X, y = client.persist([both[:, :-1], both[:, -1]])
            wait([X, y])
            n_train = int(X.shape[0])
            estimator = LogisticRegression(penalty="l2", C=1.0 / (spec["l2"] * n_train) if spec["l2"] > 0 else np.inf, solver=solver)
            with memory.phase("fit"), warnings.catch_warnings(record=True) as record:
                warnings.simplefilter("always")
                fit_started = time.perf_counter()
                estimator.fit(X, y)
                out["fit_s"] = time.perf_counter() - fit_started
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
        warnings=_caught(record),
    )
    return out


def child_spark(spec: dict, memory: TreeMemory) -> dict:
    """Spark MLlib on local[2]: Parquet -> assembled, cached training rows -> fit -> AUC."""
    import pandas as pd

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.feature import VectorAssembler
    from pyspark.ml.functions import vector_to_array
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    from logreg_dist.synth import FEATURE_NAMES, ID_COLUMN, TARGET

    fraction = spec["valid_fraction"]
    out: dict = {}
    started = time.perf_counter()
    spark = (
        SparkSession.builder.master("local[2]")
        .appName("logreg-dist-bench")
        .config("spark.driver.memory", spec["spark_driver_memory"])
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.local.dir", spec["tmp"])
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    out["startup_s"] = time.perf_counter() - started

    def validation_rows(ids):
        from logreg_dist.training import _validation_rows  # logreg-dist's split rule, on each Arrow batch

        return pd.Series(_validation_rows(pd.DataFrame({ID_COLUMN: ids}), ID_COLUMN, fraction, 0))

    validation_rows.__annotations__ = {"ids": pd.Series, "return": pd.Series}  # real types, not strings
    is_valid = F.pandas_udf(validation_rows, "boolean")

    try:
        with memory.phase("e2e"):
            started = time.perf_counter()
            frame = spark.read.parquet(spec["data"]).withColumn("_valid", is_valid(F.col(ID_COLUMN)))
            assembler = VectorAssembler(inputCols=list(FEATURE_NAMES), outputCol="features")
            train = assembler.transform(frame.filter(~F.col("_valid"))).select(
                "features", F.col(TARGET).cast("double").alias("label")
            ).cache()
            n_train = train.count()
            reg = spec["l2"] * (n_train - 1) / n_train  # Spark standardizes by the sample std (ddof=1)
            estimator = LogisticRegression(regParam=reg, elasticNetParam=0.0, standardization=True, fitIntercept=True)
            with memory.phase("fit"):
                fit_started = time.perf_counter()
                model = estimator.fit(train)
                out["fit_s"] = time.perf_counter() - fit_started
            valid = assembler.transform(frame.filter(F.col("_valid")))
            scored = model.transform(valid).select(
                vector_to_array("probability")[1].alias("p"), F.col(TARGET).alias("y")
            ).toPandas()
            out["auc"] = roc_auc(scored["y"].to_numpy(), scored["p"].to_numpy())
            out["e2e_s"] = time.perf_counter() - started
        out.update(
            coef=model.coefficients.toArray().astype(float).tolist(),
            intercept=float(model.intercept),
            iterations=int(model.summary.totalIterations),
            n_train=int(n_train),
            reg_param=reg,
            warnings=[],
        )
    finally:
        spark.stop()
    return out


def score_ours(spec: dict, client, ours: dict, memory: TreeMemory) -> dict:
    """Seconds of logreg-dist's score_to_parquet over every file, with a model holding our fitted coefficients."""
    from logreg_dist.scoring import score_to_parquet
    from logreg_dist.synth import FEATURE_NAMES, ID_COLUMN, TARGET
    from logreg_dist.training import TrainingRows

    out: dict = {}
    rows = TrainingRows.read(spec["data"], client=client, id_column=ID_COLUMN, valid_fraction=spec["valid_fraction"])
    try:
        preparation = rows.discover(target=TARGET, id_column=ID_COLUMN)
        if preparation.feature_names != list(FEATURE_NAMES):
            raise RuntimeError(f"unexpected preparation features {preparation.feature_names[:5]} ...")
        model = _model_of(ours, preparation, spec["l2"])
        model.score_distribution = rows.profile(model)  # as a trained model has it: drift bins
    finally:
        rows.close()
    target = Path(spec["tmp"]) / "scores"
    with memory.phase("score"):
        started = time.perf_counter()
        summary = score_to_parquet(client, model, spec["data"], target)
        out["score_s"] = time.perf_counter() - started
    shutil.rmtree(target, ignore_errors=True)
    with memory.phase("score with reasons"):
        started = time.perf_counter()
        score_to_parquet(client, model, spec["data"], target, reasons=3)  # `logreg-dist score --reasons 3`
        out["score_reasons_s"] = time.perf_counter() - started
    shutil.rmtree(target, ignore_errors=True)
    out["rows"] = int(summary["rows"])
    return out


def _model_of(ours: dict, preparation, l2: float):
    """A model holding our fitted coefficients (no standard errors), for scoring."""
    import numpy as np

    from logreg_dist.model import Model

    p = len(preparation.feature_names)
    return Model(
        preparation=preparation,
        coef=np.asarray(ours["coef"]),
        intercept=float(ours["intercept"]),
        std_errors=np.full(p, np.nan),
        intercept_std_error=float("nan"),
        feature_mean=np.asarray(ours["feature_mean"]),
        feature_scale=np.asarray(ours["feature_scale"]),
        coef_standardized=np.asarray(ours["coef_standardized"]),
        l2=l2,
        solver=ours["solver"],
        n_iter=int(ours["iterations"]),
        converged=True,
        version="bench",
    )


def pyarrow_copy(spec: dict, memory: TreeMemory) -> dict:
    """Seconds of pyarrow reading and writing the same files, every column, no scoring, in this process."""
    import pyarrow.parquet as pq

    copy = Path(spec["tmp"]) / "pyarrow-copy"
    copy.mkdir(parents=True, exist_ok=True)
    read_s = write_s = 0.0
    with memory.phase("pyarrow"):
        for path in sorted(Path(spec["data"]).glob("*.parquet")):
            started = time.perf_counter()
            table = pq.read_table(path)
            read_s += time.perf_counter() - started
            started = time.perf_counter()
            pq.write_table(table, copy / path.name)
            write_s += time.perf_counter() - started
            del table
    shutil.rmtree(copy, ignore_errors=True)
    return {"pyarrow_read_s": read_s, "pyarrow_write_s": write_s, "pyarrow_s": read_s + write_s}


# -- the second data set: the lookalike plus categorical columns (issue 19) ---------------------------

#: Level counts of the categorical columns added to the lookalike: a state, a product and a 3-digit zip code.
CATEGORICAL_LEVELS = (51, 300, 900)
CATEGORICAL_PEERS = ("cat-logreg-dist", "cat-logreg-dist-numeric", "cat-glum", "cat-h2o")


def ensure_categorical_data(base: Path, out: Path, levels) -> Path:
    """``out``: the files of ``base`` each with one string column per entry of ``levels`` (``cat0``, ``cat1``...),
    Zipf-like level frequencies (share of level k ~ 1 / k), drawn with a seed per file and column."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    if out.exists() and any(out.glob("*.parquet")):
        return out
    out.mkdir(parents=True, exist_ok=True)
    print(f"adding categorical columns of {list(levels)} levels to {base} into {out} ...", flush=True)
    for index, path in enumerate(sorted(base.glob("*.parquet"))):
        table = pq.read_table(path)
        for k, n_levels in enumerate(levels):
            rng = np.random.default_rng([index, k])
            share = 1.0 / np.arange(1, n_levels + 1)
            codes = rng.choice(n_levels, size=table.num_rows, p=share / share.sum())
            names = np.array([f"c{k}-{j:05d}" for j in range(n_levels)], dtype=object)
            table = table.append_column(f"cat{k}", pa.array(names[codes], type=pa.string()))
        pq.write_table(table, out / path.name)
    return out


def child_categorical(spec: dict, memory: TreeMemory, peer: str) -> dict:
    """The categorical data set: ours as `logreg-dist train` fits (the preparation, codes in the design) on a
    LocalCluster of 2 workers, with every column or the numeric ones only; glum on pandas categoricals; H2O GLM."""
    import numpy as np

    from logreg_dist.synth import FEATURE_NAMES, ID_COLUMN, TARGET

    out: dict = {}
    categorical = [f"cat{k}" for k in range(len(spec["levels"]))]
    if peer.startswith("cat-logreg-dist"):
        from logreg_dist.training import TrainingRows

        cluster, client = _cluster()
        try:
            with memory.phase("e2e"):
                started = time.perf_counter()
                rows = TrainingRows.read(spec["data"], client=client, id_column=ID_COLUMN,
                                         valid_fraction=spec["valid_fraction"])
                exclude = categorical if peer.endswith("numeric") else ()
                preparation = rows.discover(target=TARGET, id_column=ID_COLUMN, exclude=exclude)
                out["load_s"] = time.perf_counter() - started
                with memory.phase("fit"):
                    fit_started = time.perf_counter()
                    model = rows.fit(preparation, l2=spec["l2"])
                    out["fit_s"] = time.perf_counter() - fit_started
                out["e2e_s"] = time.perf_counter() - started
                rows.close()
        finally:
            client.close()
            cluster.close()
        out.update(features=len(model.features), solver=model.solver, iterations=model.n_iter,
                   passes=model.training["passes"], converged=model.converged)
        return out
    import pandas as pd

    from logreg_dist.training import _validation_rows

    with memory.phase("e2e"):
        started = time.perf_counter()
        frame = pd.read_parquet(spec["data"], columns=[ID_COLUMN, *FEATURE_NAMES, *categorical, TARGET])
        valid = _validation_rows(frame[[ID_COLUMN]], ID_COLUMN, spec["valid_fraction"], 0)
        train = frame[~valid].drop(columns=ID_COLUMN)
        del frame
        for name in categorical:
            train[name] = train[name].astype("category")
        out["load_s"] = time.perf_counter() - started
        if peer == "cat-glum":
            from glum import GeneralizedLinearRegressor

            estimator = GeneralizedLinearRegressor(family="binomial", alpha=spec["l2"], l1_ratio=0.0, fit_intercept=True,
                                                   scale_predictors=True, drop_first=True)
            with memory.phase("fit"):
                fit_started = time.perf_counter()
                estimator.fit(train.drop(columns=TARGET), train[TARGET].to_numpy(np.float64))
                out["fit_s"] = time.perf_counter() - fit_started
            out.update(iterations=int(estimator.n_iter_), features=int(np.size(estimator.coef_)))
        else:
            import h2o
            from h2o.estimators import H2OGeneralizedLinearEstimator

            h2o.init(nthreads=2, max_mem_size="8g", verbose=False)
            try:
                data = h2o.H2OFrame(train)
                data[TARGET] = data[TARGET].asfactor()
                n_train = len(train)
                estimator = H2OGeneralizedLinearEstimator(family="binomial", solver="IRLSM", lambda_=spec["l2"],
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


def categorical_main(args, data: Path) -> int:
    """Time the categorical data set (``--categorical``): ours with and without the categorical columns, glum and
    H2O, each in its own process tree; print the table and write the JSON."""
    levels = [int(v) for v in args.levels.split(",")]
    cat_data = ensure_categorical_data(data, data.with_name(f"{data.name}-cat-{'-'.join(map(str, levels))}"), levels)
    tmp = Path(tempfile.mkdtemp(prefix="logreg-dist-bench-cat-"))
    spec = {"data": str(cat_data), "l2": args.l2, "valid_fraction": args.valid_fraction, "levels": levels}
    results = {}
    for peer in CATEGORICAL_PEERS:
        module = {"cat-glum": "glum", "cat-h2o": "h2o"}.get(peer)
        if module and importlib.util.find_spec(module) is None:
            results[peer] = {"ok": False, "error": f"{module} is not installed"}
            print(f"skipping {peer}: {module} is not installed", flush=True)
            continue
        results[peer] = spawn(peer, spec, tmp, args.timeout)
    lines = [f"Categorical data set: {cat_data} ({parquet_rows(cat_data):,} rows), levels {levels}, l2 = {args.l2:g}.",
             "", "| peer | features | fit s | from Parquet s | peak GB (fit) | iterations | solver |", "|---|---|---|---|---|---|---|"]
    for peer, r in results.items():
        if not r.get("ok"):
            lines.append(f"| {peer} | failed or skipped: {r.get('error')} | | | | | |")
            continue
        peak = r.get("peak_bytes", {}).get("fit")
        lines.append(f"| {peer} | {r.get('features')} | {_fmt(r.get('fit_s'))} | {_fmt(r.get('e2e_s'))} | "
                     f"{_fmt(peak / GB if peak else None, '{:.2f}')} | {r.get('iterations')} | {r.get('solver', '')} |")
    ours, numeric = results.get("cat-logreg-dist", {}), results.get("cat-logreg-dist-numeric", {})
    if ours.get("ok") and numeric.get("ok"):
        lines += ["", f"fit with the categoricals / numeric only: {ours['fit_s'] / numeric['fit_s']:.2f}x (target <= 2); "
                  f"peak memory of the fit: {ours['peak_bytes']['fit'] / numeric['peak_bytes']['fit']:.2f}x (target <= 1.3)"]
    markdown = "\n".join(lines)
    print("\n" + markdown + "\n", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"{dt.date.today():%Y-%m-%d}-categorical-{parquet_rows(cat_data)}.json"
    path.write_text(json.dumps({"levels": levels, "results": results, "markdown": markdown}, indent=1, default=str))
    print(f"wrote {path}", flush=True)
    shutil.rmtree(tmp, ignore_errors=True)
    return 0 if all(r.get("ok") or "not installed" in str(r.get("error")) for r in results.values()) else 1


def run_child(kind: str, spec_path: str, result_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    memory = TreeMemory()
    started = time.perf_counter()
    try:
        with memory.phase("all"):
            if kind == "reference":
                result = child_reference(spec, memory)
            elif kind == "logreg-dist":
                result = child_logreg_dist(spec, memory)
            elif kind == "logreg-dist-lbfgs":
                result = child_logreg_dist(spec, memory, solver="lbfgs")
            elif kind in ("sklearn-newton-cholesky", "sklearn-lbfgs", "glum"):
                result = child_in_memory(spec, memory, kind)
            elif kind == "dask-ml-lbfgs":
                result = child_dask_ml(spec, memory, "lbfgs")
            elif kind == "dask-ml-newton":
                result = child_dask_ml(spec, memory, "newton")
            elif kind == "spark":
                result = child_spark(spec, memory)
            elif kind in CATEGORICAL_PEERS:
                result = child_categorical(spec, memory, kind)
            else:
                raise ValueError(f"unknown child {kind!r}")
        result["ok"] = True
    except Exception as error:  # reported, not raised: the parent goes on with the other peers
        traceback.print_exc()
        result = {"ok": False, "error": f"{type(error).__name__}: {error}"}
    finally:
        memory.close()
    result["peak_bytes"] = {name: int(value) for name, value in memory.peaks.items()}
    result["start_bytes"] = {name: int(value) for name, value in memory.starts.items()}
    result["child_s"] = time.perf_counter() - started
    Path(result_path).write_text(json.dumps(result))
    return 0 if result["ok"] else 1


# -- the command users run: `logreg-dist train` in its own process tree ---------------------------

COMMAND = "logreg-dist train"
#: The flow's tasks in the order they finish (flows/train.py); without validation rows the middle two do not run.
TRAIN_TASKS = ("read data", "discover preparation", "fit", "validate", "short model", "training profile", "write model")
_LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) (\S+) (.*)$")


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


def run_train_command(argv: list[str], *, workdir: Path, out: Path, timeout: float, valid: bool) -> dict:
    """Run the command once: wall seconds, the peak memory of its process tree, what model.json records of the
    fit, and where the wall time went (from the flow's log lines on stderr)."""
    workdir.mkdir(parents=True, exist_ok=True)
    stdout_path, stderr_path = workdir / "command.out", workdir / "command.err"
    print(f"[{time.strftime('%H:%M:%S')}] {shlex.join(argv)} ...", flush=True)
    result: dict = {"argv": argv, "log": str(stderr_path)}
    with stdout_path.open("wb") as stdout, stderr_path.open("wb") as stderr:
        started_at, started = time.time(), time.perf_counter()
        process = subprocess.Popen(argv, cwd=workdir, env=command_env(), stdout=stdout, stderr=stderr,
                                   start_new_session=True)
        memory = TreeMemory(root=process.pid)
        try:
            with memory.phase("command"):
                returncode = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait()
            returncode = None
        finally:
            ended_at, wall = time.time(), time.perf_counter() - started
            memory.close()
    result["left_running"] = _end_group(process.pid)
    result.update(wall_s=wall, returncode=returncode, peak_bytes={"e2e": memory.peaks.get("command", 0)})
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
    print(f"  done in {wall:.1f} s (fit {_fmt(result['fit_s'], '{:.2f}')} s, peak {result['peak_bytes']['e2e'] / GB:.2f} GB)",
          flush=True)
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
    names = list(TRAIN_TASKS) if valid else [n for n in TRAIN_TASKS if n not in ("validate", "short model")]
    if len(tasks) != len(names):  # a retried or failed task: name them by position
        names = [f"task {i + 1}" for i in range(len(tasks))]
    # The server starts first thing; our imports (and the column check) run alongside it, up to "ready".
    marks = [("process start", started_at), ("Prefect temporary server start", server),
             ("flow run creation", ready), ("flow start: output check, row count, cluster start", flow_start)]
    labels = {"write model": "cluster close, write model"}  # the flow leaves the cluster before writing
    marks += [(labels.get(name, name), stamp) for name, stamp in zip(names, [working, *tasks[:-1]])] if working and tasks else []
    marks += [("flow end: summary, artifacts", tasks[-1] if tasks else None),
              ("server stop, process exit", flow_end)]
    phases = []
    stamps = [stamp for _, stamp in marks] + [ended_at]
    for i, (name, stamp) in enumerate(marks):
        following = next((s for s in stamps[i + 1 :] if s is not None), None)
        if stamp is not None and following is not None:
            phases.append([name, round(following - stamp, 3)])
    return phases


def command_on_lookalike(data: Path, tmp: Path, args) -> dict:
    """`logreg-dist train DATA --target converted --id-column customer_id --l2 L2 --out TMP` on the bench's data."""
    from logreg_dist.synth import FEATURE_NAMES, ID_COLUMN, TARGET

    out = tmp / "command-lookalike" / "model"
    argv = train_argv(data, target=TARGET, id_column=ID_COLUMN, l2=args.l2, out=out)
    result = run_train_command(argv, workdir=out.parent, out=out, timeout=args.timeout, valid=args.valid_fraction > 0)
    result["shown"] = shown(argv, DATA=data, TMP=out)
    if result.get("ok") and sorted(result["features"]) == sorted(FEATURE_NAMES):
        coef = dict(zip(result["features"], result["model_coef"]))
        result["coef"] = [coef[name] for name in FEATURE_NAMES]  # in the reference's order, for compare()
    return result


def command_on_small_data(path: Path | None, target: str, tmp: Path, timeout: float) -> dict:
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
    result = run_train_command(argv, workdir=folder, out=folder / "model", timeout=timeout, valid=True)
    result.update(data=str(path), source_rows=parquet_rows_of(path), shown=shown(argv, DATA=copy, TMP=folder / "model"))
    return result


def parquet_rows_of(path: Path) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows if path.is_file() else parquet_rows(path)



# -- the parent: run the children, compare, print, write ---------------------------------------


def spawn(kind: str, spec: dict, tmp: Path, timeout: float) -> dict:
    spec_path, result_path, log_path = tmp / f"{kind}.spec.json", tmp / f"{kind}.result.json", tmp / f"{kind}.log"
    spec_path.write_text(json.dumps(spec))
    print(f"[{time.strftime('%H:%M:%S')}] {kind} ...", flush=True)
    started = time.perf_counter()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--child", kind, "--spec", str(spec_path), "--result", str(result_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            _, status, usage = _wait4(process.pid, timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait()
            return {"ok": False, "error": f"timed out after {timeout:.0f} s (log: {log_path})"}
    wall = time.perf_counter() - started
    if result_path.exists():
        result = json.loads(result_path.read_text())
    else:
        result = {"ok": False, "error": f"exited with status {status} and no result"}
    result["wall_s"] = wall
    result["max_single_process_rss_bytes"] = usage.ru_maxrss * 1024 if usage else None
    if not result.get("ok"):
        tail = log_path.read_text(errors="replace").splitlines()[-15:]
        print(f"  FAILED: {result.get('error')}\n    " + "\n    ".join(tail), flush=True)
    else:
        print(f"  done in {wall:.1f} s", flush=True)
    return result


def _wait4(pid: int, timeout: float):
    deadline = time.monotonic() + timeout
    while True:
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            return done, status, usage
        if time.monotonic() > deadline:
            raise subprocess.TimeoutExpired(str(pid), timeout)
        time.sleep(0.2)


def other_pytests() -> list[int]:
    """PIDs of pytest processes that are not this process's ancestors (other people's test runs)."""
    import psutil

    mine = {p.pid for p in psutil.Process().parents()} | {os.getpid()}
    found = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        cmdline = " ".join(process.info.get("cmdline") or [])
        if "pytest" in cmdline and process.info["pid"] not in mine:
            found.append(process.info["pid"])
    return found


def wait_until_idle(minutes: float, max_load: float) -> dict:
    """Wait (up to ``minutes``) for a 1-minute load average below ``max_load`` and no other pytest run."""
    started = time.monotonic()
    while True:
        load = os.getloadavg()
        others = other_pytests()
        if load[0] < max_load and not others:
            return {"idle": True, "waited_s": round(time.monotonic() - started, 1), "load": load}
        if time.monotonic() - started >= minutes * 60:
            print(f"warning: machine still busy after {minutes} min (load {load[0]:.2f}, pytest pids {others}); running anyway", flush=True)
            return {"idle": False, "waited_s": round(time.monotonic() - started, 1), "load": load, "pytest_pids": others}
        print(f"waiting for an idle machine: load {load[0]:.2f}, other pytest processes {others}", flush=True)
        time.sleep(20)


def machine_info() -> dict:
    import numpy  # noqa: F401  (loads the BLAS threadpoolctl reports)
    import scipy.linalg  # noqa: F401

    info = {
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": _cpu_model(),
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GB, 1),
        "env": {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")},
    }
    try:
        from threadpoolctl import threadpool_info

        info["threadpools"] = threadpool_info()
    except ImportError:
        info["threadpools"] = "threadpoolctl not installed"
    versions = {}
    for dist in ("logreg-dist", "numpy", "scipy", "pandas", "pyarrow", "dask", "distributed", "scikit-learn", "glum",
                 "tabmat", "dask-ml", "dask-glm", "pyspark", "threadpoolctl", "psutil"):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = None
    java = shutil.which("java")
    if java:
        probe = subprocess.run([java, "-version"], capture_output=True, text=True)
        versions["java"] = (probe.stderr or probe.stdout).splitlines()[0] if (probe.stderr or probe.stdout) else None
    info["versions"] = versions
    info["git"] = _git_state()
    return info


def _git_state() -> dict:
    """The commit of the checkout and whether the library differs from it (it is measured as it is on disk)."""
    def git(*args):
        probe = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return probe.stdout.strip() if probe.returncode == 0 else None

    changed = git("status", "--porcelain", "--", "logreg_dist")
    return {"commit": git("rev-parse", "HEAD"), "library_changed_since_commit": changed.splitlines() if changed else []}


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def blas_summary(threadpools) -> str:
    if not isinstance(threadpools, list):
        return str(threadpools)
    parts = []
    for pool in threadpools:
        if pool.get("user_api") == "blas":
            parts.append(f"{pool.get('internal_api')} {pool.get('version')} {pool.get('architecture')} x{pool.get('num_threads')} ({Path(pool.get('filepath', '')).parent.name})")
    return "; ".join(dict.fromkeys(parts)) or "no BLAS found"


def unavailable(peer: str) -> str | None:
    modules, _, _ = PEERS[peer]
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        return f"not installed ({', '.join(missing)}): pip install -e '.[bench]'"
    if peer == "spark" and shutil.which("java") is None:
        return "no java on PATH (Spark needs Java 17+)"
    return None


def compare(results: dict, reference: dict) -> None:
    """Add the coefficient errors against the reference, on the standardized scale and the original one."""
    import numpy as np

    std = np.asarray(reference["feature_std"])
    mean = np.asarray(reference["feature_mean"])
    ref_coef = np.asarray(reference["coef"])
    ref_std = np.asarray(reference["coef_standardized"])
    for result in results.values():
        if not result.get("ok") or "coef" not in result:
            continue
        coef = np.asarray(result["coef"])
        result["coef_err"] = float(np.max(np.abs(coef * std - ref_std)))
        result["coef_err_original"] = float(np.max(np.abs(coef - ref_coef)))
        intercept_std = result["intercept"] + float(mean @ coef)
        result["intercept_err"] = abs(intercept_std - reference["intercept_standardized"])


def limit_report(ours: dict, limit: dict) -> dict:
    """Our fit time as a multiple of (passes our solver made x seconds per pass of NumPy BLAS in memory).

    The standardization pass counts as one gradient pass. Of the solver's passes, those that
    computed the Hessian count as gradient + Hessian passes, the others as gradient passes.
    ``history_`` marks the iterates whose pass computed the Hessian (``hessian``) when the
    library records it; passes after the solver's last iterate (the covariance's Hessian) count as
    Hessian passes.
    """
    grad, hess = limit["gradient_pass_s"], limit["hessian_pass_s"]
    history = ours["history"]
    passes = ours["passes"]  # the standardization (moments) pass included
    every = max(int(ours.get("hessian_every") or 1), 1)
    solver_passes = int(history[-1]["passes"]) if history else passes - 1
    after = max(passes - 1 - solver_passes, 0)
    backtracked = any(0.0 < h["step_size"] < 1.0 for h in history[1:])
    # The start's values come from the moments pass when its record counts no pass of its own.
    records = [h for h in history if not (h["iteration"] == 0 and h.get("passes", 1) == 0)]
    sampled_passes = 0
    if ours["solver"] != "newton":
        hessian_passes, how = after, "L-BFGS: every solver pass is a loss-and-gradient pass"
    elif history and "hessian" in history[0]:
        sampled_passes = sum(bool(h.get("hessian_sampled")) for h in records)
        hessian_passes = sum(bool(h["hessian"]) and not h.get("hessian_sampled") for h in records) + after
        how = (
            "history_ marks the iterates whose pass computed the Hessian, over all rows or (hessian_sampled) "
            f"every {every}th chunk, counted as a gradient pass plus 1/{every} of a Hessian pass; the other "
            "solver passes are gradient passes"
        )
    else:
        hessian_passes = solver_passes + after
        how = "every solver pass computed loss, gradient and Hessian"
    if backtracked:
        how += "; some steps backtracked, so the count of Hessian and loss-only passes is approximate"
    if after:
        how += f"; {after} pass(es) after the last iterate counted as Hessian passes (the covariance)"
    gradient_passes = passes - hessian_passes - sampled_passes  # the moments pass included

    def floor(g, h):
        return gradient_passes * g + hessian_passes * (g + h) + sampled_passes * (g + h / every)

    report = {
        "passes": passes,
        "hessian_passes": hessian_passes,
        "sampled_hessian_passes": sampled_passes,
        "hessian_every": every,
        "gradient_passes": gradient_passes,
        "how_counted": how,
        "gradient_pass_s": grad,
        "hessian_pass_s": hess,
        "hessian_best": limit["hessian_best"],
        "floor_s": floor(grad, hess),
        "fit_s": ours["fit_s"],
        "solver_s": ours["solver_s"],
        "floor_any_s": floor(grad, limit["hessian_pass_any_s"]),
    }
    report["fit_multiple"] = ours["fit_s"] / report["floor_s"]
    solver_floor = report["floor_s"] - grad - after * (grad + hess)
    report["solver_multiple"] = ours["solver_s"] / solver_floor if solver_floor > 0 else None
    single = limit.get("single_thread")
    if single:
        # Two single-threaded worker processes, as our cluster runs: half the one-thread time per pass.
        report["floor_2x1_s"] = floor(single["gradient_pass_s"], single["hessian_pass_s"]) / 2
        report["fit_multiple_2x1"] = ours["fit_s"] / report["floor_2x1_s"]
    return report


def _fmt(value, spec="{:.1f}", none="n/a") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return none
    return spec.format(value)


def _ratio(value, base) -> str:
    if value is None or not base:
        return "n/a"
    return f"{value / base:.2f}x"


def results_table(results: dict, order: list[str]) -> str:
    ours = results.get("logreg-dist", {})
    base_fit, base_e2e = ours.get("fit_s"), ours.get("e2e_s")
    base_mem = ours.get("peak_bytes", {}).get("e2e")
    lines = [
        "| peer | fit s | fit vs ours | from Parquet s | vs ours | peak GB | vs ours | iterations | max abs coef err | intercept err | AUC |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in order:
        r = results.get(name)
        if r is None:
            continue
        if not r.get("ok"):
            lines.append(f"| {name} | failed: {r.get('error', '')[:80]} |||||||||")
            continue
        mem = r.get("peak_bytes", {}).get("e2e")
        iterations = r.get("iterations")
        if r.get("passes"):
            iterations = f"{iterations} ({r['passes']} passes)"
        lines.append(
            "| {name} | {fit} | {rfit} | {e2e} | {re2e} | {mem} | {rmem} | {it} | {err} | {ierr} | {auc} |".format(
                name=name,
                fit=_fmt(r.get("fit_s")),
                rfit=_ratio(r.get("fit_s"), base_fit),
                e2e=_fmt(r.get("e2e_s")),
                re2e=_ratio(r.get("e2e_s"), base_e2e),
                mem=_fmt(mem / GB if mem else None, "{:.2f}"),
                rmem=_ratio(mem, base_mem),
                it=_fmt(iterations, "{}", "not reported"),
                err=_fmt(r.get("coef_err"), "{:.1e}"),
                ierr=_fmt(r.get("intercept_err"), "{:.1e}"),
                auc=_fmt(r.get("auc"), "{:.4f}"),
            )
        )
    return "\n".join(lines)


#: Issue 6's targets as (what, peer, measure, how many times ours at least): a ratio peer / ours.
SPEED_TARGETS = [
    ("fit: glum / ours >= 2 (at most half of glum's time)", "glum", "fit_s", 2.0),
    ("fit: dask-ml lbfgs / ours >= 5", "dask-ml-lbfgs", "fit_s", 5.0),
    ("fit: dask-ml newton / ours >= 5", "dask-ml-newton", "fit_s", 5.0),
    ("fit: Spark / ours >= 8", "spark", "fit_s", 8.0),
    ("from Parquet: Spark / ours >= 10", "spark", "e2e_s", 10.0),
]


#: The small-data targets of `logreg-dist train` (issue 18): (what, measure, at most seconds).
SMALL_TARGETS = [
    (f"small data: `{COMMAND}` wall <= 8 s", "wall_s", 8.0),
    (f"small data: `{COMMAND}` fit <= 0.5 s", "fit_s", 0.5),
]


def targets_table(results: dict, scoring: dict | None, small: dict | None = None) -> str:
    """Issue 6's targets against this run: the measured ratio and whether it is met."""
    ours = results.get("logreg-dist", {})
    lines = ["| target | measured | met |", "|---|---:|:---:|"]

    def row(what, measured, met):
        lines.append(f"| {what} | {measured} | {'n/a' if met is None else ('yes' if met else 'no')} |")

    error = ours.get("coef_err")
    row("coefficients within 1e-6 of the reference", _fmt(error, "{:.1e}"), None if error is None else error <= 1e-6)
    for what, peer, measure, at_least in SPEED_TARGETS:
        theirs, base = results.get(peer, {}).get(measure), ours.get(measure)
        ratio = theirs / base if theirs and base and results.get(peer, {}).get("ok") else None
        row(what, _fmt(ratio, "{:.2f}x"), None if ratio is None else ratio >= at_least)
    command = results.get(COMMAND, {})
    wall = command.get("e2e_s") if command.get("ok") else None
    ratio = wall / ours["e2e_s"] if wall and ours.get("e2e_s") else None
    row(f"`{COMMAND}` wall / ours from Parquet <= 2", _fmt(ratio, "{:.2f}x"), None if ratio is None else ratio <= 2.0)
    spark = results.get("spark", {})
    ratio = spark["e2e_s"] / wall if wall and spark.get("ok") and spark.get("e2e_s") else None
    row(f"Spark from Parquet / `{COMMAND}` wall >= 5", _fmt(ratio, "{:.2f}x"), None if ratio is None else ratio >= 5.0)
    small = small or {}
    for what, key, at_most in SMALL_TARGETS:
        value = small.get(key) if small.get("ok") else None
        row(what, _fmt(value, "{:.2f} s"), None if value is None else value <= at_most)
    mine = ours.get("peak_bytes", {}).get("e2e")
    others = [r.get("peak_bytes", {}).get("e2e") for name, r in results.items() if not name.startswith("logreg-dist") and r.get("ok")]
    others = [m for m in others if m]
    row("peak memory under every peer's", f"{mine / GB:.2f} GB vs {min(others) / GB:.2f} GB" if mine and others else "n/a",
        None if not (mine and others) else mine < min(others))
    ratio = scoring.get("ratio") if scoring and scoring.get("ok") else None
    row("rescoring: ours / pyarrow's read + write rows per second >= 0.5", _fmt(ratio, "{:.2f}x"), None if ratio is None else ratio >= 0.5)
    reasons = scoring.get("reasons_ratio") if scoring and scoring.get("ok") else None
    row("rescoring with --reasons 3 / without, rows per second >= 0.5", _fmt(reasons, "{:.2f}x"),
        None if reasons is None else reasons >= 0.5)
    return "\n".join(lines)


def command_tables(command: dict | None, small: dict | None) -> str:
    """The small-data run as a row, then where each command's wall time went, step by step."""
    lines = []
    if small and small.get("ok"):
        lines += [
            f"`{COMMAND}` on small data: `{small['shown']}` with DATA a copy of {Path(small['data']).name} "
            f"({small['source_rows']:,} rows) in a temporary folder, in this process (no cluster at this size):",
            "",
            "| run | wall s | fit s | peak GB | iterations | AUC |",
            "|---|---:|---:|---:|---:|---:|",
            f"| small data | {small['wall_s']:.2f} | {_fmt(small.get('fit_s'), '{:.3f}')} | {small['peak_bytes']['e2e'] / GB:.2f} | "
            f"{_fmt(small.get('iterations'), '{}')} | {_fmt(small.get('auc'), '{:.4f}')} |",
            "",
        ]
    elif small and small.get("skipped"):
        lines += [f"`{COMMAND}` on small data: skipped ({small['skipped']}).", ""]
    elif small:
        lines += [f"`{COMMAND}` on small data failed: {small.get('error')} (log: {small.get('log')}).", ""]
    runs = [(label, r) for label, r in (("lookalike", command), ("small data", small)) if r and r.get("phases")]
    if runs:
        steps = list(dict.fromkeys(step for _, r in runs for step, _ in r["phases"]))
        lines += [f"Where `{COMMAND}`'s wall time went (from its log lines' times):", "",
                  "| step | " + " | ".join(f"{label} s" for label, _ in runs) + " |",
                  "|---|" + "---:|" * len(runs)]
        for step in steps:
            cells = [_fmt(dict(r["phases"]).get(step), "{:.2f}", "") for _, r in runs]
            lines.append(f"| {step} | " + " | ".join(cells) + " |")
        lines.append("| **wall** | " + " | ".join(f"**{r['wall_s']:.2f}**" for _, r in runs) + " |")
    return "\n".join(lines).rstrip()


def limit_table(limit: dict, report: dict | None) -> str:
    lines = ["| what | seconds |", "|---|---:|"]
    lines.append(f"| gradient pass: X @ b + X.T @ r (float64, {limit['rows']:,} x {limit['features']}) | {limit['gradient_pass_s']:.3f} |")
    lines.append(f"| ... with expit and the residual | {limit['gradient_pass_with_expit_s']:.3f} |")
    for name, seconds in limit["hessian_variants_s"].items():
        mark = " (fastest float64)" if name == limit["hessian_best"] else ""
        lines.append(f"| Hessian pass: {name}{mark} | {seconds:.3f} |")
    if report:
        lines.append(
            f"| floor for our fit: {report['gradient_passes']} gradient passes + {report['sampled_hessian_passes']} passes with a Hessian of every {report['hessian_every']}th chunk + {report['hessian_passes']} gradient-and-Hessian passes | {report['floor_s']:.2f} |"
        )
        lines.append(f"| our fit (rows on the workers) | {report['fit_s']:.2f} = {report['fit_multiple']:.1f}x the floor |")
        if report.get("floor_2x1_s"):
            single = limit["single_thread"]
            lines.append(
                f"| one BLAS thread: gradient pass {single['gradient_pass_s']:.3f} s, Hessian pass {single['hessian_pass_s']:.3f} s; "
                f"floor for 2 single-threaded processes | {report['floor_2x1_s']:.2f}; our fit = {report['fit_multiple_2x1']:.1f}x |"
            )
        if report.get("solver_multiple"):
            lines.append(
                f"| our solver iterations only (history_ seconds) | {report['solver_s']:.2f} = {report['solver_multiple']:.1f}x their floor |"
            )
    return "\n".join(lines)


def scoring_table(scoring: dict) -> str:
    return "\n".join(
        [
            "| what | seconds | rows/s |",
            "|---|---:|---:|",
            f"| logreg-dist score_to_parquet ({scoring['rows']:,} rows, 2 workers) | {scoring['score_s']:.2f} | {scoring['ours_rows_per_s']:,.0f} |",
            f"| pyarrow read_table + write_table of the same files (no scoring) | {scoring['pyarrow_s']:.2f} | {scoring['pyarrow_rows_per_s']:,.0f} |",
            f"| ... of which reading | {scoring['pyarrow_read_s']:.2f} | |",
            f"| ours / pyarrow | | {scoring['ratio']:.2f}x |",
            f"| logreg-dist score_to_parquet with reasons=3 (`score --reasons 3`) | {scoring['score_reasons_s']:.2f} | "
            f"{scoring['rows'] / scoring['score_reasons_s']:,.0f} |",
            f"| with reasons / without | | {scoring['reasons_ratio']:.2f}x |",
        ]
    )


def update_readme(markdown: str) -> None:
    readme = HERE / "README.md"
    text = readme.read_text()
    start, end = "<!-- results:start -->", "<!-- results:end -->"
    if start not in text or end not in text:
        print(f"note: {readme} has no {start} ... {end} markers; not updated", flush=True)
        return
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    readme.write_text(f"{head}{start}\n{markdown}\n{end}{tail}")
    print(f"updated {readme}", flush=True)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS, help="rows to generate (default 4,200,000)")
    parser.add_argument("--positives", type=int, default=None,
                        help="positives to generate (default 18,000 per 4.2M rows, i.e. 18,000 at the default --rows)")
    parser.add_argument("--data", type=Path, default=None,
                        help="folder of the customer base; generated there if missing (default bench/data/lookalike-ROWS)")
    parser.add_argument("--l2", type=float, default=DEFAULT_L2, help=f"penalty on standardized coefficients (default {DEFAULT_L2:g})")
    parser.add_argument("--peers", default=None,
                        help=f"comma list among {', '.join(PEERS)} (default: all importable but logreg-dist-lbfgs); logreg-dist always runs")
    parser.add_argument("--valid-fraction", type=float, default=0.2, help="share of customer ids held out (hashed, as logreg-dist train does)")
    parser.add_argument("--out", type=Path, default=HERE / "results", help="where the JSON goes (default bench/results/)")
    parser.add_argument("--skip-limit", action="store_true", help="do not time the NumPy gradient / Hessian passes")
    parser.add_argument("--skip-scoring", action="store_true", help="do not time scoring against pyarrow")
    parser.add_argument("--repeats", type=int, default=3, help="repeats of each limit timing (the best is kept)")
    parser.add_argument("--spark-driver-memory", default="12g", help="Spark's driver (= executor in local mode) heap")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds allowed to each subprocess")
    parser.add_argument("--wait-idle", type=float, default=20, metavar="MINUTES",
                        help="first wait up to this long for load average < --max-load and no other pytest run (0: do not wait)")
    parser.add_argument("--max-load", type=float, default=1.0)
    parser.add_argument("--small-data", type=lambda value: Path(value) if value else None,
                        default=ROOT / "tests" / "data" / "wa_churn.parquet",
                        help="a small Parquet data set to time `logreg-dist train` on, copied to a temporary folder "
                        "(default tests/data/wa_churn.parquet; '' skips it); skipped with a note if absent")
    parser.add_argument("--small-target", default="churn", help="the small data set's target column (default churn)")
    parser.add_argument("--skip-command", action="store_true", help="do not time the `logreg-dist train` command")
    parser.add_argument("--update-readme", action="store_true", help="put the tables between the markers in bench/README.md")
    parser.add_argument("--categorical", action="store_true",
                        help="time the second data set instead: the lookalike plus categorical columns of --levels levels "
                        "(ours with and without them, glum, H2O)")
    parser.add_argument("--levels", default=",".join(map(str, CATEGORICAL_LEVELS)),
                        help="level counts of the categorical columns (default 51,300,900)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.child:
        return run_child(args.child, args.spec, args.result)

    command = " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv])
    unset = [k for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ]
    if unset:
        print(f"warning: {', '.join(unset)} set; they slow a current NumPy (run with env -u {' -u '.join(unset)})", flush=True)
    positives = args.positives or max(1, round(args.rows * DEFAULT_POSITIVES / DEFAULT_ROWS))
    data = (args.data or HERE / "data" / f"lookalike-{args.rows}").resolve()
    rows, generate_s = ensure_data(data, args.rows, positives)
    if args.categorical:
        return categorical_main(args, data)

    requested = [p.strip() for p in args.peers.split(",") if p.strip()] if args.peers else list(DEFAULT_PEERS)
    unknown = [p for p in requested if p not in PEERS]
    if unknown:
        print(f"unknown peers {unknown}; choose among {list(PEERS)}", file=sys.stderr)
        return 2
    if "logreg-dist" not in requested:
        requested.insert(0, "logreg-dist")
    skipped = {}
    peers = []
    for peer in requested:
        reason = unavailable(peer)
        if reason:
            skipped[peer] = reason
            print(f"skipping {peer}: {reason}", flush=True)
        else:
            peers.append(peer)

    idle = wait_until_idle(args.wait_idle, args.max_load) if args.wait_idle > 0 else {"idle": None, "load": os.getloadavg()}
    load_start = os.getloadavg()
    started_at = dt.datetime.now().astimezone()
    machine = machine_info()
    print(f"machine: {machine['cores']} cores, {machine['cpu']}; BLAS {blas_summary(machine['threadpools'])}", flush=True)
    print(f"data: {data} ({rows:,} rows); l2 {args.l2:g}; load average {load_start[0]:.2f}", flush=True)

    tmp = Path(tempfile.mkdtemp(prefix="logreg-dist-bench-"))
    spec = {
        "data": str(data),
        "l2": args.l2,
        "valid_fraction": args.valid_fraction,
        "skip_limit": args.skip_limit,
        "skip_scoring": args.skip_scoring,
        "repeats": args.repeats,
        "spark_driver_memory": args.spark_driver_memory,
        "tmp": str(tmp),
    }
    results: dict = {}
    reference = spawn("reference", spec, tmp, args.timeout)
    if not reference.get("ok"):
        print("the reference failed; no coefficient errors can be computed", file=sys.stderr)
    small = None
    for peer in peers:
        results[peer] = spawn(peer, spec, tmp, args.timeout)
        if peer == "logreg-dist" and not args.skip_command:  # run beside ours, in the same state of the machine
            results[COMMAND] = command_on_lookalike(data, tmp, args)
    if not args.skip_command:
        small = command_on_small_data(args.small_data.resolve() if args.small_data else None, args.small_target, tmp, args.timeout)
    ours = results.get("logreg-dist", {})
    scoring = ours.get("scoring")
    load_end = os.getloadavg()
    if reference.get("ok"):
        compare(results, reference)
    limit = reference.get("limit") if reference.get("ok") else None
    report = limit_report(ours, limit) if limit and ours.get("ok") else None

    order = [p for p in PEERS if p in results]
    if COMMAND in results:
        order.insert(order.index("logreg-dist") + 1 if "logreg-dist" in order else 0, COMMAND)
    table = results_table(results, order)
    sections = [
        f"Run {started_at:%Y-%m-%d %H:%M %Z} on {machine['cores']} cores ({machine['cpu']}), BLAS {blas_summary(machine['threadpools'])}; "
        f"{rows:,} rows x 85 features ({reference.get('n_train', 0):,} training, {reference.get('n_valid', 0):,} validation, "
        f"{reference.get('positives_train', 0):,} training positives), l2 = {args.l2:g}; load average {load_start[0]:.2f} at start, {load_end[0]:.2f} at end.",
        f"Command: `{command}`; logreg-dist at commit {str(machine['git']['commit'])[:10]}"
        + (f" with uncommitted changes to {', '.join(machine['git']['library_changed_since_commit'])}." if machine["git"]["library_changed_since_commit"] else "."),
        "",
        table,
    ]
    if COMMAND in results:
        sections += [
            "",
            f"`{COMMAND}` is the command users run, timed as a subprocess from its start to its exit: "
            f"`{results[COMMAND].get('shown', '')}`, no `--scheduler`, so it starts Prefect's temporary server and, above "
            "250,000 rows, an embedded LocalCluster. Its from-Parquet figure is that wall time, which also "
            "covers the short model, the training profile and writing the model; its fit is model.json's "
            "`training.fit_seconds`; its peak memory is its process tree's (the server and the workers included).",
        ]
    sections += ["", targets_table(results, scoring, small)]
    commands = command_tables(results.get(COMMAND), small)
    if commands:
        sections += ["", commands]
    if reference.get("ok"):
        sections += [
            "",
            f"Reference: {reference['how']}: {reference['iterations']} iterations, {reference['fit_s']:.1f} s, "
            f"max|gradient| of the exact objective at it {reference['grad_max']:.1e}, validation AUC {reference['auc']:.4f}. "
            "Coefficient errors are max |coef - reference| on the standardized scale (coef x population std); "
            "intercept error likewise on the standardized intercept.",
        ]
    if limit:
        sections += ["", limit_table(limit, report)]
    if scoring and scoring.get("ok"):
        sections += ["", scoring_table(scoring)]
    markdown = "\n".join(sections)
    print("\n" + markdown + "\n", flush=True)

    payload = {
        "date": started_at.isoformat(timespec="seconds"),
        "command": command,
        "machine": machine,
        "idle_wait": idle,
        "load_average_start": load_start,
        "load_average_end": load_end,
        "data": {"path": str(data), "rows": rows, "positives_requested": positives, "generate_s": generate_s},
        "l2": args.l2,
        "valid_fraction": args.valid_fraction,
        "peers_skipped": skipped,
        "peer_mapping": {name: {"what": PEERS[name][1], "mapping": PEERS[name][2]} for name in PEERS},
        "reference": reference,
        "results": results,
        "limit": report,
        "scoring": scoring,
        "small_data": small,
        "markdown": markdown,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"{started_at:%Y-%m-%d}-{rows}.json"
    path.write_text(json.dumps(payload, indent=1, default=str))
    print(f"wrote {path}", flush=True)
    if args.update_readme:
        update_readme(markdown)
    failed = [name for name, r in results.items() if not r.get("ok")]
    failed += [kind for kind, r in (("reference", reference), ("scoring", scoring)) if r is not None and not r.get("ok")]
    failed += ["small data"] if small and not small.get("ok") and not small.get("skipped") else []
    if failed:
        print(f"failed: {', '.join(failed)}; logs kept in {tmp}", file=sys.stderr)
        return 1
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
