"""Training steps over a Dask DataFrame, each one library call that a flow task makes.

:func:`read_table` → :func:`split` → :func:`discover_preparation` (one pass:
levels, means, missing counts, labels) → :func:`fit_model` (the preparation
applied inside each partition, then the distributed fit) → scoring with
:meth:`Model.predict_proba` on each partition.
"""

from __future__ import annotations

import glob
import hashlib
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ._data import partition_where
from ._engine import DaskEngine
from .exceptions import InputError
from .model import Model
from .prepare import Preparation, discover, plan_columns, summarize_partition

__all__ = ["discover_preparation", "fit_model", "read_table", "score_frame", "split"]

#: The key of the hash that splits rows into training and validation; fixed, so a customer always lands on the same side.
SPLIT_HASH_KEY = "logreg-dist-split"


#: A file with more rows than this is read as several partitions, a run of row groups each.
PARTITION_ROWS = 1_000_000


def read_table(path: str | os.PathLike, columns: list[str] | None = None):
    """A lazy Dask DataFrame of the Parquet at ``path``: a file, a folder of files, or a glob.

    Plain files (a file, a glob, or a folder holding only Parquet files) are
    read with ``pyarrow.parquet`` directly, one partition per file (or per
    run of row groups of about ``PARTITION_ROWS`` rows), with column
    projection: inside a Dask worker that took 0.13-0.23 s per file of the
    bench data (reading and conversion) against 0.19-0.66 s for
    ``dask.dataframe.read_parquet``. Anything
    else (folders of folders, as in hive partitioning; files whose schemas
    differ) goes to ``dask.dataframe.read_parquet``.
    """
    import dask.dataframe as dd

    text = str(path)
    matches = glob.glob(text) if any(ch in text for ch in "*?[") else [text] if Path(text).exists() else []
    if not matches:
        raise InputError(f"no Parquet data at {text}: no such file, folder or glob match.")
    files = _plain_files(sorted(matches))
    if files == []:
        raise InputError(f"no Parquet files in {text}.")
    pieces, schema = _pieces(files) if files else ([], None)
    if schema is None:  # folders of folders, or files whose schemas differ: Dask's reader handles both
        try:
            return dd.read_parquet(matches if len(matches) > 1 else matches[0], columns=columns)
        except (OSError, ValueError) as error:
            raise InputError(f"cannot read Parquet at {text}: {error}") from error
    meta = schema.empty_table().to_pandas()
    frame = dd.from_map(_read_piece, pieces, meta=meta, label="read-parquet", enforce_metadata=False)
    return frame if columns is None else frame[list(columns)]


def _plain_files(matches: list[str]) -> list[str] | None:
    """The Parquet files behind ``matches``, or None when a folder holds folders (hive partitioning)."""
    files = []
    for match in matches:
        if not os.path.isdir(match):
            files.append(match)
            continue
        for entry in sorted(os.scandir(match), key=lambda e: e.name):
            if entry.name.startswith(("_", ".")):  # _SUCCESS, _metadata, our _summary.json, hidden files
                continue
            if entry.is_dir():
                return None
            files.append(entry.path)
    return files


def _pieces(files: list[str]):
    """``(path, row_groups or None)`` per partition, and the common schema (None if the files differ)."""
    import pyarrow.parquet as pq

    pieces, schema = [], None
    for file in files:
        try:
            metadata = pq.read_metadata(file)
        except (OSError, ValueError) as error:
            raise InputError(f"cannot read Parquet file {file}: {error}") from error
        file_schema = metadata.schema.to_arrow_schema()
        if schema is None:
            schema = file_schema
        elif not file_schema.equals(schema, check_metadata=False):
            return [], None
        if metadata.num_rows <= PARTITION_ROWS or metadata.num_row_groups <= 1:
            pieces.append((file, None))
            continue
        run, rows = [], 0
        for group in range(metadata.num_row_groups):
            run.append(group)
            rows += metadata.row_group(group).num_rows
            if rows >= PARTITION_ROWS:
                pieces.append((file, tuple(run)))
                run, rows = [], 0
        if run:
            pieces.append((file, tuple(run)))
    return pieces, schema


def _read_piece(piece: tuple, columns: list[str] | None = None) -> pd.DataFrame:
    """One partition: a whole file, or a run of its row groups; the index as pandas stored it."""
    import pyarrow.parquet as pq

    path, row_groups = piece
    if row_groups is None:
        table = pq.read_table(path, columns=columns, use_pandas_metadata=True)
    else:
        table = pq.ParquetFile(path).read_row_groups(list(row_groups), columns=columns, use_pandas_metadata=True)
    return table.to_pandas()


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
