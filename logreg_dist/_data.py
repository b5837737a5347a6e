"""From what a user passes (NumPy, pandas, Dask DataFrame or Array) to blocks an engine can use.

A block is ``(X, y, sample_weight)``: ``X`` a 2-D float64 or float32 array, or
for a frame mixing dtypes a :class:`~logreg_dist._kernels.ColumnRuns` of the
partition's own columns,
``y`` float64 holding 0.0 and 1.0 (1.0 for ``classes[1]``), ``sample_weight``
float64 or None. :func:`load_block` builds and checks one block with the
target as given; once the labels of all blocks are known
(:func:`labels_seen`), :func:`encode_target` turns it into 0.0/1.0 where the
block lies. On a cluster both run on the worker that holds the partition, so
an error names the partition it came from, and the data are read once.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ._kernels import ColumnRuns
from .exceptions import InputError

__all__ = [
    "DaskInput", "LabelsSeen", "dask_input", "dask_inputs", "encode_labels", "encode_target", "frame_columns", "is_dask_collection", "labels_seen",
    "load_block", "load_frame_block",
]


def is_dask_collection(obj) -> bool:
    import dask

    return dask.is_dask_collection(obj)


def partition_where(partition: int, n_partitions: int, source: str | None = None) -> str:
    """How errors name a partition: ``partition i of n`` (``of <source>`` when given; the source alone when it is
    one partition, where "partition 0 of 1" tells a user nothing)."""
    where = f"partition {partition} of {n_partitions}"
    if source and n_partitions == 1:
        return source
    return f"{where} of {source}" if source else where


def _plain_numpy(frame: pd.DataFrame) -> bool:
    """Every column held by NumPy as bool, integers or floats (no nullable or Arrow-backed columns)."""
    return all(isinstance(dtype, np.dtype) and dtype.kind in "biuf" for dtype in frame.dtypes)


def _column_runs(frame: pd.DataFrame):
    """The frame's columns as column-major ``(n_rows, k)`` arrays, one per run of consecutive columns of one
    dtype: views of pandas' own arrays when a run lies in one of its blocks (pyarrow and Dask hand frames
    over that way). One run is returned as the array itself, several as :class:`ColumnRuns`."""
    dtypes = list(frame.dtypes)
    if not dtypes:
        return np.empty((len(frame), 0))
    starts = [j for j in range(len(dtypes)) if j == 0 or dtypes[j] != dtypes[j - 1]]
    runs = [frame.iloc[:, a:b].to_numpy() for a, b in zip(starts, [*starts[1:], len(dtypes)])]
    if len(runs) == 1:
        return runs[0]
    return ColumnRuns(runs)


def _finite_columns(X) -> np.ndarray:
    """Whether each column of ``X`` (an array or :class:`ColumnRuns`) holds finite values only."""
    if isinstance(X, ColumnRuns):
        return np.concatenate([_finite_columns(run) for run in X.runs]) if X.runs else np.ones(0, dtype=bool)
    if X.dtype.kind in "biu":
        return np.ones(X.shape[1], dtype=bool)
    return np.isfinite(X).all(axis=0)


def _feature_matrix(X_part, feature_names: list[str], where: str) -> np.ndarray:
    if isinstance(X_part, pd.DataFrame):
        if list(X_part.columns) != feature_names:
            missing = [c for c in feature_names if c not in X_part.columns]
            raise InputError(f"{where} does not have the feature columns {missing or feature_names}.")
        if _plain_numpy(X_part):
            # The partition's own columns, as they are: one column-major view per run of columns of one
            # dtype (no copy, no new memory); the kernels turn each chunk of rows into float64.
            X = _column_runs(X_part)
        else:
            try:
                X = X_part.to_numpy(dtype=np.float64, na_value=np.nan)
            except (TypeError, ValueError) as error:
                bad = [c for c in feature_names if not pd.api.types.is_numeric_dtype(X_part[c])]
                raise InputError(
                    f"feature columns {bad} in {where} are not numeric; expected numbers or booleans."
                ) from error
    else:
        X = np.asarray(X_part)
        if X.ndim != 2:
            raise InputError(f"features in {where} must be 2-D; got shape {X.shape}.")
        if X.dtype not in (np.float32, np.float64):
            try:
                X = X.astype(np.float64)
            except (TypeError, ValueError) as error:
                raise InputError(f"features in {where} are not numeric; got dtype {X.dtype}.") from error
    finite = _finite_columns(X)
    if not finite.all():
        bad = [feature_names[j] for j in np.flatnonzero(~finite)]
        raise InputError(
            f"feature columns {bad} in {where} hold NaN or infinite values; expected finite numbers "
            "(impute or drop the missing values first)."
        )
    return X


def load_block(
    X_part,
    y_part,
    w_part,
    *,
    feature_names: list[str],
    partition: int,
    n_partitions: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Turn one partition into a checked block ``(X, y, sample_weight)``, ``y`` as given (see :func:`encode_target`)."""
    where = partition_where(partition, n_partitions)
    X = _feature_matrix(X_part, feature_names, where)
    y = np.asarray(y_part).ravel()
    if y.shape[0] != X.shape[0]:
        raise InputError(f"{where} has {X.shape[0]} feature rows but {y.shape[0]} target values; they must match.")
    w = None
    if w_part is not None:
        w = np.asarray(w_part, dtype=np.float64).ravel()
        if w.shape[0] != X.shape[0]:
            raise InputError(f"{where} has {X.shape[0]} rows but {w.shape[0]} sample weights; they must match.")
        if not (np.isfinite(w).all() and (w >= 0).all()):
            raise InputError(f"sample_weight in {where} must be finite and >= 0; found {w[~(np.isfinite(w) & (w >= 0))][:3].tolist()}.")
    return X, y, w


@dataclass(frozen=True)
class LabelsSeen:
    """The distinct target values and the row count of some blocks; ``+`` unites two."""

    values: np.ndarray
    n_rows: int

    def __add__(self, other: LabelsSeen) -> LabelsSeen:
        return LabelsSeen(pd.unique(np.concatenate([self.values, other.values])), self.n_rows + other.n_rows)


def labels_seen(X, y, sample_weight) -> LabelsSeen:
    """Kernel over a loaded block: its distinct labels and its number of rows."""
    return LabelsSeen(pd.unique(y), int(X.shape[0]))


def encode_labels(y, *, classes: tuple, partition: int, n_partitions: int) -> np.ndarray:
    """``y`` as float64: 1.0 for ``classes[1]``, 0.0 for ``classes[0]``; any other value is an error naming the partition."""
    y = np.asarray(y).ravel()
    y01 = (y == classes[1]).astype(np.float64)
    unknown = ~(y01.astype(bool) | (y == classes[0]))
    if unknown.any():
        others = pd.unique(y[unknown])
        raise InputError(
            f"target in {partition_where(partition, n_partitions)} holds {int(unknown.sum())} labels that are neither "
            f"of the classes {list(classes)}: {others[:3].tolist()}{' ...' if others.size > 3 else ''}."
        )
    return y01


def encode_target(block: tuple, *, classes: tuple, partition: int, n_partitions: int) -> tuple:
    """``(X, y01, sample_weight)``: the block's target through :func:`encode_labels` (X is not copied)."""
    X, y, w = block
    return X, encode_labels(y, classes=classes, partition=partition, n_partitions=n_partitions), w


@dataclass
class DaskInput:
    """Lazy partitions of a Dask input, one per block to load.

    A DataFrame input is a frame holding the features, the target and the
    weight (``source``, which may map it together with other frames of as
    many partitions; this input is its frame number ``index``); an array input
    is ``parts``, one tuple ``(X, y, sample_weight)`` of aligned lazy pieces
    per block.
    """

    parts: list
    feature_names: list[str]
    frames: bool
    source: _Frames | None = None
    index: int = 0

    def blocks(self) -> list:
        """One lazy block ``(X, y, sample_weight)`` per partition, each loaded by one task from its partition."""
        return self.map(load_frame_block, load_block)

    def map(self, frame_fn, array_fn, /, **params) -> list:
        """One lazy ``frame_fn(part, ...)`` per DataFrame partition, or ``array_fn(X, y, w, ...)`` per array
        partition, each called with ``feature_names``, ``partition``, ``n_partitions`` and ``params``."""
        from dask import delayed

        if self.frames:
            return self.source.map(self.index, frame_fn, params)
        common = dict(feature_names=self.feature_names, n_partitions=len(self.parts), **params)
        return [delayed(array_fn, pure=True)(X, y, w, partition=i, **common) for i, (X, y, w) in enumerate(self.parts)]


class _Frames:
    """Lazy frames of as many partitions, mapped together: partition ``i`` of every one in one task.

    A function mapped over them runs in the task that computes the partitions
    (Dask fuses it with the read, column selections and the split), so two
    frames split from one read (training and validation rows) read each file
    once, and loading a block costs no task of its own: a partition is two
    tasks (Dask keeps the feature selection apart), not one per selection and
    one for the load, so fewer tasks are scheduled (bench/README.md).
    """

    def __init__(self, frames: list, feature_names: list[list[str]]):
        self.frames, self.feature_names = frames, feature_names
        self._mapped: dict = {}

    def map(self, index: int, frame_fn, params: dict) -> list:
        from dask import delayed
        from dask.base import tokenize

        key = (frame_fn, tokenize(params))
        if key not in self._mapped:  # the inputs mapped together share these tasks
            self._mapped[key] = self._map(frame_fn, params)
        parts = self._mapped[key]
        if len(self.frames) == 1:
            return parts
        return [delayed(operator.getitem, pure=True)(part, index) for part in parts]

    def _map(self, frame_fn, params: dict) -> list:
        import dask.dataframe as dd

        n_partitions = self.frames[0].npartitions
        kwargs = [dict(feature_names=names, n_partitions=n_partitions, **params) for names in self.feature_names]
        mapped = dd.map_partitions(_map_partitions, *self.frames, frame_fn=frame_fn, kwargs=kwargs,
                                   meta=self.frames[0]._meta, enforce_metadata=False, align_dataframes=False)
        return list(mapped.to_delayed())


def _map_partitions(*parts, frame_fn, kwargs, partition_info=None):
    """``frame_fn`` of partition ``i`` of each frame (a tuple when there are several; see :class:`_Frames`)."""
    number = partition_info["number"]
    results = tuple(frame_fn(part, partition=number, **kw) for part, kw in zip(parts, kwargs))
    return results[0] if len(results) == 1 else results


def _parts(collection, name: str) -> list:
    import dask.array as da
    import dask.dataframe as dd

    if isinstance(collection, (dd.DataFrame, dd.Series)):
        return list(collection.to_delayed())
    if isinstance(collection, da.Array):
        return list(collection.to_delayed().ravel())
    raise InputError(f"{name} must be a Dask DataFrame, Series or Array like X; got {type(collection).__name__}.")


_TARGET, _WEIGHT = "__logreg_dist_target__", "__logreg_dist_weight__"


def _frame(X, y, sample_weight):
    """One lazy frame holding X's columns, the target and the weight: a block is then one task."""
    import dask.dataframe as dd

    extra = {_TARGET: y}
    if sample_weight is not None:
        if not isinstance(sample_weight, dd.Series):
            raise InputError(f"sample_weight must be a Dask Series like y; got {type(sample_weight).__name__}.")
        extra[_WEIGHT] = sample_weight
    try:
        return X.assign(**extra)
    except (ValueError, NotImplementedError) as error:
        raise InputError(
            "y (and sample_weight) must be partitioned like X: take them from the same DataFrame as X "
            f"({error})."
        ) from error


def frame_columns(part: pd.DataFrame, feature_names: list[str]) -> tuple:
    """``(features, target, weight or None)`` of one partition of the frame :func:`_frame` builds."""
    weight = part[_WEIGHT] if _WEIGHT in part.columns else None
    return part[feature_names], part[_TARGET], weight


def load_frame_block(part: pd.DataFrame, *, feature_names: list[str], partition: int, n_partitions: int) -> tuple:
    """:func:`load_block` of one partition of the frame :func:`_frame` builds."""
    return load_block(*frame_columns(part, feature_names), feature_names=feature_names, partition=partition,
                      n_partitions=n_partitions)


def dask_input(X, y, sample_weight) -> DaskInput:
    """Split Dask ``X``, ``y`` and ``sample_weight`` into aligned lazy partitions."""
    (parts,) = dask_inputs((X, y, sample_weight))
    return parts


def dask_inputs(*inputs: tuple) -> list[DaskInput]:
    """:func:`dask_input` of several ``(X, y, sample_weight)`` at once.

    DataFrames of as many partitions are taken together (:class:`_Frames`):
    the blocks of partition ``i`` of every one of them come out of one task,
    so two frames split from one read (training and validation rows) read
    each file once, in one fused task, where separate graphs read it twice
    and a shared, unfused graph holds every intermediate frame in memory.
    """
    checked = [_checked_input(*triple) for triple in inputs]
    indices = [i for i, (X, y, _, _) in enumerate(checked) if _is_frame_input(X, y)]
    frames = [_frame(*checked[i][:3]) for i in indices]
    if len(frames) > 1 and len({frame.npartitions for frame in frames}) == 1:
        shared = _Frames(frames, [checked[i][3] for i in indices])
        sources = {i: (shared, k) for k, i in enumerate(indices)}
    else:
        sources = {i: (_Frames([frame], [checked[i][3]]), 0) for i, frame in zip(indices, frames)}
    result = []
    for i, (X, y, sample_weight, feature_names) in enumerate(checked):
        if i in sources:
            source, index = sources[i]
            result.append(DaskInput([], feature_names, frames=True, source=source, index=index))
            continue
        X_parts = _parts(X, "X")
        y_parts = _parts(y, "y")
        w_parts = [None] * len(X_parts) if sample_weight is None else _parts(sample_weight, "sample_weight")
        for name, parts in (("y", y_parts), ("sample_weight", w_parts)):
            if len(parts) != len(X_parts):
                raise InputError(
                    f"{name} has {len(parts)} partitions but X has {len(X_parts)}; they must be partitioned alike "
                    "(take both from one DataFrame)."
                )
        result.append(DaskInput(list(zip(X_parts, y_parts, w_parts)), feature_names, frames=False))
    return result


def _is_frame_input(X, y) -> bool:
    import dask.dataframe as dd

    return isinstance(X, dd.DataFrame) and isinstance(y, dd.Series)


def _checked_input(X, y, sample_weight) -> tuple:
    """``(X, y, sample_weight, feature_names)`` with Dask arrays chunked alike; bad input raises InputError."""
    import dask.array as da
    import dask.dataframe as dd

    if isinstance(X, dd.DataFrame):
        feature_names = [str(c) for c in X.columns]
        bad = [c for c, t in X.dtypes.items() if not (pd.api.types.is_numeric_dtype(t) or pd.api.types.is_bool_dtype(t))]
        if bad:
            raise InputError(
                f"feature columns {bad} are not numeric (dtypes {[str(X[c].dtype) for c in bad]}); "
                "expected numbers or booleans."
            )
    elif isinstance(X, da.Array):
        if X.ndim != 2:
            raise InputError(f"X must be 2-D (rows, features); got a Dask array of shape {X.shape}.")
        feature_names = [f"x{j}" for j in range(X.shape[1])]
        X = X.rechunk({1: -1})
        if any(np.isnan(c) for c in X.chunks[0]):
            X = X.compute_chunk_sizes()
        if isinstance(y, da.Array) and y.chunks[0] != X.chunks[0] and not any(np.isnan(c) for c in y.chunks[0]):
            y = y.rechunk({0: X.chunks[0]})
        if isinstance(sample_weight, da.Array) and sample_weight.chunks[0] != X.chunks[0]:
            sample_weight = sample_weight.rechunk({0: X.chunks[0]})
    else:
        raise InputError(f"X must be a Dask DataFrame or Array here; got {type(X).__name__}.")
    return X, y, sample_weight, feature_names
