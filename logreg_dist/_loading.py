"""The training rows: loaded once into blocks where they lie, their labels learned and encoded, in one record.

Loading decides the labels (two, ``classes[1]`` the positive one; labels 0
and 1 held as numbers or booleans are their own encoding), the feature names,
and which rows choose the penalty of ``alpha='auto'``: held-out blocks, or the
training blocks with each row's fold.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import numpy as np

from ._data import dask_inputs, encode_target, is_dask_collection, labels_seen, load_block
from ._engine import DaskEngine, LocalEngine
from ._path import by_fold, hashed_folds
from .exceptions import InputError

__all__ = ["LoadedRows", "check_classes", "load_dask", "load_local", "selection_rows", "validation_pair"]

logger = logging.getLogger("logreg_dist")


@dataclass(frozen=True, eq=False)
class LoadedRows:
    """What the fit reads: blocks ``(X, y, sample_weight)`` with ``y`` 0.0/1.0, and what is known of them."""

    engine: LocalEngine | DaskEngine
    n_rows: int
    classes: np.ndarray  # (2,): classes[1] is the positive label
    feature_names: list[str]
    #: The number of levels of each categorical column held as codes.
    levels: tuple[int, ...] = ()
    #: Marks the features that are levels of a categorical column (penalized on their own scale), or None.
    level_features: np.ndarray | None = None
    #: Dask validation rows loaded in the same graph as the training rows, labels as given (scored after the fit).
    held_out: DaskEngine | None = None
    #: ``alpha='auto'``: the held-out blocks ``(X, y, None)``, ``y`` 0.0/1.0, on which the penalty is chosen.
    validation: LocalEngine | DaskEngine | None = None
    #: ``alpha='auto'`` with ``n_folds``: the training blocks with each row's fold, ``(X, y, w, fold)``.
    folds: LocalEngine | DaskEngine | None = None

    def with_selection(self, *, validation=None, folds=None) -> LoadedRows:
        """These rows, with the rows that choose the penalty."""
        return replace(self, validation=validation, folds=folds)

    def close(self) -> None:
        for engine in (self.engine, self.held_out, self.validation, self.folds):
            if engine is not None:
                engine.close()


def check_classes(classes) -> np.ndarray:
    """The two labels, sorted, or an error saying how many ``y`` holds."""
    classes = np.asarray(classes)
    if classes.size < 2:
        raise InputError(f"y holds one class only ({classes.tolist()}); logistic regression needs two classes.")
    if classes.size > 2:
        shown = classes.tolist()[:10]
        raise InputError(
            "Only binary classification is supported. "
            f"y holds {classes.size} distinct values ({shown}{' ...' if classes.size > 10 else ''}); expected two."
        )
    return classes


def load_local(X: np.ndarray, y: np.ndarray, sample_weight, *, feature_names: list[str]) -> LoadedRows:
    """In-memory rows (already validated) as one block, labels encoded 0/1."""
    from sklearn.utils.multiclass import type_of_target  # here: workers unpickle with_row_folds from this module

    target_type = type_of_target(y, input_name="y")
    if target_type not in ("binary", "multiclass") and not (target_type == "continuous" and np.unique(y).size <= 2):
        raise InputError(f"Unknown label type: y must hold two class labels; got a {target_type} target.")
    classes = check_classes(np.unique(y))
    if sample_weight is not None:
        sample_weight = np.asarray(sample_weight, dtype=np.float64)
        if sample_weight.ndim != 1:
            raise InputError(f"sample_weight must be 1-D; got shape {sample_weight.shape}.")
    block = load_block(X, y, sample_weight, feature_names=feature_names, partition=0, n_partitions=1)
    engine = LocalEngine([block])
    engine.transform(encode_target, classes=tuple(classes.tolist()))
    return LoadedRows(engine, X.shape[0], classes, feature_names)


def load_dask(client, X, y, sample_weight, validation=None, *, split_every: int) -> LoadedRows:
    """Load every partition once into a block on its worker, learn the labels from the blocks, encode them.

    Dask ``validation`` rows are loaded in the same graph (``held_out``), so
    that partitions split from one read are read once.
    """
    inputs = [(X, y, sample_weight)]
    if validation is not None and is_dask_collection(validation[0]):
        X_valid, y_valid = validation
        if hasattr(X, "columns") and hasattr(X_valid, "columns"):
            missing = [c for c in X.columns if c not in X_valid.columns]
            if missing:
                raise InputError(f"the validation rows lack the feature columns {missing} of X.")
            X_valid = X_valid[list(X.columns)]
        inputs.append((X_valid, y_valid, None))
    parts = dask_inputs(*inputs)
    names = parts[0].feature_names
    if len(parts) > 1 and len(parts[1].feature_names) != len(names):
        raise InputError(
            f"the validation rows have {len(parts[1].feature_names)} feature columns; X has {len(names)}."
        )
    engine, *held_out = DaskEngine.persisted_together(client, *[p.blocks() for p in parts], split_every=split_every)
    held_out = held_out[0] if held_out else None
    try:
        engine.wait()
        seen = engine.map_reduce(labels_seen)
        labels = seen.values
        if labels.size and labels.dtype.kind == "f" and np.isnan(labels).any():
            raise InputError(
                "y holds missing values (NaN); every row needs a label (a Dask y is aligned to X by index, "
                "so a row of X whose index is not in y has none)."
            )
        classes = check_classes(np.unique(labels))
        if not (labels.dtype.kind in "biuf" and tuple(classes.tolist()) == (0, 1)):
            # Labels 0 and 1 held as numbers (or False and True) are their own encoding: the kernels compute
            # with them as they are, and a pass that would rewrite every block is saved.
            engine.transform(encode_target, classes=tuple(classes.tolist()))
        moved = engine.balance()
        if moved:
            logger.info("moved %d of %d blocks between workers to even out the passes", moved, engine.n_blocks)
    except BaseException:
        engine.close()
        if held_out is not None:
            held_out.close()
        raise
    return LoadedRows(engine, seen.n_rows, classes, names, held_out=held_out)


def selection_rows(rows: LoadedRows, validation, *, n_folds: int | None, validate) -> LoadedRows:
    """``rows`` with what ``alpha='auto'`` chooses on: the training blocks with each row's fold for ``n_folds``, or
    the validation rows with labels 0/1 (those loaded with the training rows, or the in-memory ``validation`` pair,
    whose ``X`` ``validate`` checks against the fitted features)."""
    if n_folds is not None:
        return rows.with_selection(folds=rows.engine.derive(with_row_folds, n_folds=int(n_folds)))
    classes = tuple(rows.classes.tolist())
    if rows.held_out is not None:
        return rows.with_selection(validation=rows.held_out.derive(encode_target, classes=classes))
    X_valid, y_valid = validation
    if is_dask_collection(X_valid):
        raise InputError("validation rows held by Dask need training rows held by Dask too.")
    block = load_block(validate(X_valid), np.asarray(y_valid), None, feature_names=rows.feature_names, partition=0,
                       n_partitions=1)
    local = LocalEngine([block])
    local.transform(encode_target, classes=classes)
    return rows.with_selection(validation=local)


def validation_pair(validation) -> tuple:
    """``(X_valid, y_valid)`` of ``fit(validation=...)``."""
    if not (isinstance(validation, (tuple, list)) and len(validation) == 2):
        raise InputError(f"validation must be a pair (X_valid, y_valid); got {type(validation).__name__}.")
    return tuple(validation)


def with_row_folds(block: tuple, *, n_folds: int, partition: int, n_partitions: int) -> tuple:
    """``(X, y, w, fold)`` in fold order (:func:`~._path.by_fold`): each row's fold from a hash of its values and
    label, whatever the partitioning."""
    import pandas as pd

    from ._kernels import ColumnRuns

    X, y, w = block
    # Each column hashed in its own dtype: a float64 copy of the block cost three times the hashing.
    if isinstance(X, ColumnRuns):
        columns = [run[:, k] for run in X.runs for k in range(run.shape[1])]
    else:
        columns = list(np.asarray(X, dtype=np.float64).T)
    keys = pd.DataFrame(dict(enumerate(columns)), copy=False)
    keys["label"] = np.asarray(y, dtype=np.float64)
    return by_fold(X, y, w, hashed_folds(keys, n_folds))
