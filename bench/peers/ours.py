"""Ours as a library call: ``logreg_dist.LogisticRegression`` on a LocalCluster of 2 workers, as a user runs it,
and (on the categorical data set) the preparation and fit that `logreg-dist train` makes."""

from __future__ import annotations

import time

from bench.harness import TreeMemory, local_cluster, timed_fit
from bench.problem import Spec


def newton(spec: Spec, memory: TreeMemory) -> dict:
    """The default solver (auto: Newton at 85 features), then scoring against pyarrow."""
    return _fit(spec, memory, solver="auto")


def lbfgs(spec: Spec, memory: TreeMemory) -> dict:
    """L-BFGS, then scoring against pyarrow."""
    return _fit(spec, memory, solver="lbfgs")


def _fit(spec: Spec, memory: TreeMemory, *, solver: str) -> dict:
    """read_parquet -> split -> fit(client=..., validation=...) -> AUC; then a fit on persisted rows; then
    (unless ``spec.skip_scoring``) rescoring every file."""
    from distributed import wait

    from bench.scoring import pyarrow_copy, score_ours
    from logreg_dist import LogisticRegression
    from logreg_dist.synth import FEATURE_NAMES, ID_COLUMN, TARGET
    from logreg_dist.tables import read_table
    from logreg_dist.training import split

    features = list(FEATURE_NAMES)
    out: dict = {}
    started = time.perf_counter()
    cluster, client = local_cluster()
    out["startup_s"] = time.perf_counter() - started
    try:
        with memory.phase("e2e"):
            started = time.perf_counter()
            frame = read_table(spec.data)
            train, valid = split(frame, id_column=ID_COLUMN, valid_fraction=spec.valid_fraction, seed=0)
            fit_started = time.perf_counter()
            # The held-out rows are loaded with the training rows (each file read once) and scored where
            # they lie after the fit: exact AUC from sums, no row comes to this process.
            model = LogisticRegression(l2=spec.l2, solver=solver).fit(
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
            with timed_fit(out):
                again = LogisticRegression(l2=spec.l2, solver=solver).fit(persisted[features], persisted[TARGET], client=client)
            del persisted
        out.update(_fitted(model, again))
        if not spec.skip_scoring:
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
    return out


def _history_record(entry) -> dict:
    """One ``history_`` entry as a plain dict (a dict, or a record with ``as_dict``)."""
    if isinstance(entry, dict):
        return dict(entry)
    if hasattr(entry, "as_dict"):
        return entry.as_dict()
    import dataclasses

    return dataclasses.asdict(entry)


def _fitted(model, again) -> dict:
    """What the parent needs of our two fits (the one from Parquet and the one on persisted rows)."""
    import numpy as np

    history = [_history_record(h) for h in again.history_]
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
        solver_s=float(sum(record["seconds"] for record in history)),
        history=history,
        n_train=int(again.n_samples_fit_),
    )


# -- the categorical data set ---------------------------------------------------------------------


def categorical(spec: Spec, memory: TreeMemory) -> dict:
    """Every column: the categorical ones as codes in the design, as `logreg-dist train` fits them."""
    return _fit_prepared(spec, memory, numeric_only=False)


def categorical_numeric(spec: Spec, memory: TreeMemory) -> dict:
    """The numeric columns only, the categorical ones excluded: the base of the categorical ratios."""
    return _fit_prepared(spec, memory, numeric_only=True)


def _fit_prepared(spec: Spec, memory: TreeMemory, *, numeric_only: bool) -> dict:
    from logreg_dist.synth import ID_COLUMN, TARGET
    from logreg_dist.training import TrainingRows

    out: dict = {}
    categorical_columns = [f"cat{k}" for k in range(len(spec.levels))]
    cluster, client = local_cluster()
    try:
        with memory.phase("e2e"):
            started = time.perf_counter()
            rows = TrainingRows.read(spec.data, client=client, id_column=ID_COLUMN, valid_fraction=spec.valid_fraction)
            exclude = categorical_columns if numeric_only else ()
            preparation = rows.discover(target=TARGET, id_column=ID_COLUMN, exclude=exclude)
            out["load_s"] = time.perf_counter() - started
            with memory.phase("fit"):
                fit_started = time.perf_counter()
                model = rows.fit(preparation, l2=spec.l2)
                out["fit_s"] = time.perf_counter() - fit_started
            out["e2e_s"] = time.perf_counter() - started
            rows.close()
    finally:
        client.close()
        cluster.close()
    out.update(features=len(model.features), solver=model.solver, iterations=model.n_iter,
               passes=model.training["passes"], converged=model.converged)
    return out
