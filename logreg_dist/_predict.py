"""Row functions of a fitted model that Dask maps over blocks of X on the workers.

Kept apart from the estimator, which imports scikit-learn: a worker that
unpickles these imports NumPy, SciPy and the compiled loops, not scikit-learn.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit


#: A column-major block of at most this many values is converted to float64 and multiplied: cheaper than starting
#: the compiled loops in a process that has not used them yet.
SMALL_BLOCK_CELLS = 1_000_000


def decision(X, coef, intercept):
    """``intercept + X @ coef`` for each row, in float64.

    A column-major block (a :class:`~logreg_dist._kernels.ColumnRuns` of a
    partition's own columns, or an F-ordered array) is read a column at a time
    by the compiled loop the fit uses, each value in its own dtype; a small
    block, or anything else, is converted to float64 rows and multiplied. A
    :class:`~logreg_dist._codes.CodedBlock` adds to its numeric columns' part
    each level's coefficient gathered by code (0 for the reference and an
    unseen level).
    """
    from ._codes import CodedBlock
    from ._kernels import ColumnRuns

    if isinstance(X, CodedBlock):
        coef = np.asarray(coef, dtype=np.float64)
        layout = X.layout
        eta = decision(X.numeric, coef[layout.numeric_index], intercept)
        for c, codes in enumerate(X.codes):
            eta += np.take(np.concatenate([[0.0], coef[layout.level_index(c)]]), codes)
        return eta

    column_major = isinstance(X, ColumnRuns) or (isinstance(X, np.ndarray) and X.ndim == 2 and X.flags.f_contiguous)
    if column_major and X.shape[0] * X.shape[1] > SMALL_BLOCK_CELLS:
        from ._loops import add_centred_products

        runs = X.runs if isinstance(X, ColumnRuns) else [X]
        coef = np.asarray(coef, dtype=np.float64)
        eta = np.full(X.shape[0], float(intercept))
        start = 0
        for run in runs:
            stop = start + run.shape[1]
            add_centred_products(run, np.zeros(stop - start), coef[start:stop], eta)
            start = stop
        return eta
    return np.asarray(X, dtype=np.float64) @ coef + intercept


def decisions(X, coefs, intercepts):
    """:func:`decision` of several models at once, ``(n_models, n_rows)``: ``coefs`` is ``(n_models, n_features)``.

    A large numeric block is read once for all the models: a chunk of rows at a time is copied into a float64
    buffer that stays in cache and multiplied by every model's coefficients in one matrix product (a model at a
    time would read the block once each).
    """
    from ._codes import CodedBlock
    from ._kernels import CHUNK_ROWS, _rows_into, _work

    coefs = np.asarray(coefs, dtype=np.float64).reshape(len(intercepts), -1)
    intercepts = np.asarray(intercepts, dtype=np.float64)
    if isinstance(X, CodedBlock):
        return np.stack([decision(X, coef, b) for coef, b in zip(coefs, intercepts)]).reshape(len(intercepts), -1)
    if X.shape[0] * X.shape[1] <= SMALL_BLOCK_CELLS:  # converted to float64 once for all the models
        return (np.asarray(X, dtype=np.float64) @ coefs.T + intercepts).T
    n_rows, n_features = X.shape
    out = np.empty((len(intercepts), n_rows))
    for start in range(0, n_rows, CHUNK_ROWS):
        stop = min(start + CHUNK_ROWS, n_rows)
        rows = _rows_into(X, start, stop, _work("chunk", (stop - start, n_features), order="F"))
        out[:, start:stop] = np.matmul(rows, coefs.T, out=_work("scores", (stop - start, len(intercepts)))).T
    out += intercepts[:, None]
    return out


def proba(X, coef, intercept):
    """Probabilities of the two classes, ``(n_rows, 2)``."""
    prob = expit(decision(X, coef, intercept))
    return np.column_stack([1.0 - prob, prob])


def log_proba(X, coef, intercept):
    """Log-probabilities of the two classes without underflow, ``(n_rows, 2)``."""
    eta = decision(X, coef, intercept)
    return np.column_stack([-np.logaddexp(0.0, eta), -np.logaddexp(0.0, -eta)])


def float_rows(X):
    """What :func:`decision` takes: a DataFrame's rows as float64, converted block by block (``part.values`` of a
    frame mixing bool, integer and float columns is an *object* array); a loaded block's
    :class:`~logreg_dist._kernels.ColumnRuns` as it is (read in its own dtypes); an array as float64."""
    from ._codes import CodedBlock
    from ._kernels import ColumnRuns

    if isinstance(X, (ColumnRuns, CodedBlock)):
        return X
    if hasattr(X, "columns"):
        return X.to_numpy(dtype=np.float64, na_value=np.nan)
    return np.asarray(X, dtype=np.float64)


def frame_rows(part, fn, coef, intercept):
    """``fn`` of a DataFrame partition's rows (see :func:`float_rows`)."""
    return fn(float_rows(part), coef, intercept)


def scored_block(X, y, w, *, feature_names, coef, intercept, classes, partition: int, n_partitions: int):
    """``(probability of classes[1], y as 0.0/1.0)`` of one partition: a block of :mod:`logreg_dist.metrics`.

    ``X`` is a DataFrame (converted block by block) or an array; ``w`` is ignored (the metrics are unweighted).
    """
    from ._data import encode_labels, partition_where
    from .exceptions import InputError

    score = proba(float_rows(X), coef, intercept)[:, 1]
    y01 = encode_labels(y, classes=classes, partition=partition, n_partitions=n_partitions)
    if y01.shape != score.shape:
        raise InputError(
            f"{partition_where(partition, n_partitions)} has {score.size} feature rows but {y01.size} labels; "
            "they must match."
        )
    return score, y01


def scored_loaded_block(block: tuple, **params):
    """:func:`scored_block` of a block loaded by :func:`logreg_dist._data.load_block` (the engine's ``transform``)."""
    return scored_block(*block, **params)


def scored_frame_block(part, *, feature_names, **params):
    """:func:`scored_block` of one partition of a frame holding the features and the target."""
    from ._data import frame_columns

    return scored_block(*frame_columns(part, feature_names), feature_names=feature_names, **params)


def pick(eta, classes):
    """``classes[1]`` where ``eta > 0``, else ``classes[0]``."""
    return classes[(eta > 0).astype(int)]
