"""Training steps over a Dask DataFrame, each one library call that a flow task makes.

:func:`read_table` → :func:`split` → :func:`discover_preparation` (one pass:
levels, means, missing counts, labels) → :func:`fit_model` (the preparation
applied inside each partition, then the distributed fit) → scoring with
:meth:`Model.predict_proba` on each partition.
"""

from __future__ import annotations

import hashlib
import time

import numpy as np
import pandas as pd

from ._data import partition_where
from ._engine import DaskEngine
from .exceptions import InputError
from .model import Model
from .prepare import Preparation, discover, plan_columns, summarize_partition
from .tables import read_table

__all__ = ["discover_preparation", "fit_model", "score_frame", "split"]

#: The key of the hash that splits rows into training and validation; fixed, so a customer always lands on the same side.
SPLIT_HASH_KEY = "logreg-dist-split"


def _hash_unit(values: pd.Series | pd.DataFrame, seed: int) -> np.ndarray:
    # pandas hashes numbers without its key, so the seed enters as a 64-bit mask and one more mixing round.
    mask = int.from_bytes(hashlib.blake2b(f"{SPLIT_HASH_KEY}-{seed}".encode(), digest_size=8).digest(), "little")
    hashed = pd.util.hash_pandas_object(values, index=False).to_numpy() ^ np.uint64(mask)
    hashed = pd.util.hash_array(hashed)
    return (hashed >> np.uint64(11)).astype(np.float64) / 2.0**53


def _validation_rows(part: pd.DataFrame, id_column: str | None, fraction: float, seed: int) -> np.ndarray:
    keys = part[id_column] if id_column else part
    return _hash_unit(keys, seed) < fraction


def split(frame, *, id_column: str | None, valid_fraction: float, seed: int = 0):
    """``(train, valid)``: rows whose hashed id falls below ``valid_fraction`` are validation.

    The hash depends only on the id (or, without an id column, on the whole
    row), so a customer lands on the same side whatever the partitioning.
    Each side is one operation per partition (hash, then keep its rows), not
    a frame indexed by a separately computed mask: Dask may read a projected
    mask in fewer, merged partitions than the frame, and the two would no
    longer line up.
    """
    if not 0.0 <= valid_fraction < 1.0:
        raise ValueError(f"valid_fraction must be in [0, 1); got {valid_fraction!r}.")
    if valid_fraction == 0.0:
        return frame, None
    sides = [
        frame.map_partitions(_side, id_column, valid_fraction, seed, validation, meta=frame._meta)
        for validation in (False, True)
    ]
    return sides[0], sides[1]


def _side(part: pd.DataFrame, id_column: str | None, fraction: float, seed: int, validation: bool) -> pd.DataFrame:
    held_out = _validation_rows(part, id_column, fraction, seed)
    return part[held_out if validation else ~held_out]


def _as_block(part):
    return (part,)


def _engine(client, frame, *, persist: bool = False) -> DaskEngine:
    from dask import delayed

    return DaskEngine(client, [delayed(_as_block)(part) for part in frame.to_delayed()], persist=persist)


def discover_preparation(
    client,
    frame,
    *,
    target: str,
    id_column: str | None = None,
    features: list[str] | None = None,
    exclude: list[str] = (),
    positive_label=None,
    min_frequency: float | None = None,
    missing: str = "impute",
) -> Preparation:
    """One pass over ``frame`` on the cluster: which columns, which levels, which means and labels."""
    dtypes = dict(frame.dtypes.items())
    numeric, text = plan_columns(dtypes, target=target, id_column=id_column, features=features, exclude=exclude)
    summary = _engine(client, frame).map_reduce(summarize_partition, numeric=numeric, text=text, target=target)
    if sum(summary.labels.values()) == 0:
        raise InputError("the data has no rows to train on.")
    order = [c for c in frame.columns if c in set(numeric) | set(text)]
    return discover(
        summary,
        numeric=numeric,
        text=text,
        target=target,
        id_column=id_column,
        positive_label=positive_label,
        min_frequency=min_frequency,
        missing=missing,
        order=order,
    )


def design_frame(frame, preparation: Preparation, *, source: str | None = None):
    """The encoded design (features as float64, target as 0.0/1.0), built inside each partition.

    An error in a partition names it: ``partition i of n of <source>``.
    """
    meta = pd.DataFrame({name: pd.Series(dtype=np.float64) for name in [*preparation.feature_names, preparation.target]})
    return frame.map_partitions(_design_partition, preparation, source, frame.npartitions, meta=meta)


def _partition_where(partition_info: dict | None, n_partitions: int, source: str | None = None) -> str:
    """:func:`partition_where` from the ``partition_info`` Dask passes to functions that take it."""
    if partition_info is None:
        return source or "the data"
    return partition_where(partition_info["number"], n_partitions, source)


def _design_partition(part, preparation: Preparation, source, n_partitions, partition_info=None):
    return preparation.transform_frame(part, where=_partition_where(partition_info, n_partitions, source))


def fit_model(
    client,
    frame,
    preparation: Preparation,
    *,
    l2: float = 0.0,
    solver: str = "auto",
    tol: float = 1e-12,
    max_iter: int = 100,
    checkpoint: str | None = None,
    source: str | None = None,
) -> Model:
    """Fit on the cluster; the preparation is applied inside each partition as it is loaded.

    ``source`` (the data's path, say) is named in errors with the partition.

    With ``checkpoint`` (a file path) the fit saves its iterate after every
    iteration and a rerun of the same problem resumes from it.
    """
    design = design_frame(frame, preparation, source=source)
    started = time.perf_counter()
    from ._estimator import LogisticRegression  # here, not at the top: workers import this module

    estimator = LogisticRegression(l2=l2, solver=solver, tol=tol, max_iter=max_iter, checkpoint=checkpoint)
    estimator.fit(design[preparation.feature_names], design[preparation.target], client=client)
    seconds = time.perf_counter() - started
    return Model(
        preparation=preparation,
        coef=estimator.coef_[0],
        intercept=float(estimator.intercept_[0]),
        std_errors=estimator.std_errors_[0],
        intercept_std_error=float(estimator.intercept_std_error_[0]),
        feature_mean=estimator.feature_mean_,
        feature_scale=estimator.feature_scale_,
        coef_standardized=estimator.coef_standardized_[0],
        l2=float(l2),
        solver=estimator.solver_,
        n_iter=int(estimator.n_iter_),
        converged=bool(estimator.converged_),
        separation=estimator.separation_,
        training={
            "rows": int(estimator.n_samples_fit_),
            "positives": preparation.label_counts.get("positive"),
            "passes": int(estimator.n_passes_),
            "fit_seconds": round(seconds, 3),
            "history": estimator.history_,
            "resumed_from": estimator.resumed_from_,
        },
    )


def score_frame(frame, model: Model):
    """Probabilities (and 0/1 targets when present) per partition, lazily, as a Dask DataFrame.

    An error in a partition names it (``partition i of n``); callers add which data it is.
    """
    n_partitions = frame.npartitions

    def score(part: pd.DataFrame, partition_info=None) -> pd.DataFrame:
        where = _partition_where(partition_info, n_partitions)
        out = pd.DataFrame({"probability": model.predict_proba(part, where=where)}, index=part.index)
        if model.preparation.target in part.columns:
            out["y"] = model.preparation.target_values(part, where=where)
        return out

    meta = {"probability": np.float64}
    if model.preparation.target in frame.columns:
        meta["y"] = np.float64
    return frame.map_partitions(score, meta=meta)
