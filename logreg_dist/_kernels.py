"""Block kernels: sums of the logistic loss, its gradient and Hessian over one block of rows.

Everything here is NumPy, SciPy and the compiled column loops of
:mod:`._loops`, and sees one block (a partition) at a time. Every kernel
returns *sums*, never means, so that the results of any split of the rows add
up to the result on the whole: the engine adds them, the objective divides
once.

Standardization happens inside the kernels: the stored block keeps its raw
values (a float64 or float32 array, or a :class:`ColumnRuns` of a pandas
partition's own columns, each run in its dtype). On a column-major block (what
pandas hands over) the linear predictor, the gradient and the moments come
from the compiled loops, which read each value in its own dtype and centre it
on its column's mean as they go; on a row-major block, from matrix-vector
products on the stored rows (centred chunk by chunk first when a column's mean
dwarfs its spread). The Hessian comes from chunks of a few thousand rows in a
small float64 buffer that stays in cache. Where a column's mean is large
against its standard deviation the chunks are centred first: the expanded
formula ``X.T W X - n m m.T`` would lose digits to cancellation.

Shapes: ``X`` is ``(n_rows, n_features)``; ``y`` holds 0.0/1.0, ``(n_rows,)``;
``sample_weight`` is ``(n_rows,)`` or None; ``coef``, ``mean`` and
``inv_scale`` are ``(n_features,)``. Gradients and Hessians carry the
intercept as their last entry, its own block: no column of ones is appended.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace

import numpy as np
from scipy.linalg.blas import dsyrk


__all__ = ["ColumnRuns", "LossSums", "MomentSums", "loss_sums", "moment_sums"]

#: Rows standardized at a time: the float64 buffer stays in cache (~2.7 MB at 85 features).
CHUNK_ROWS = 4096


class ColumnRuns:
    """A block's features held as runs of consecutive columns, each a column-major ``(n_rows, k)`` array
    of its own dtype (bool, integers or floats): what a pandas partition mixing dtypes holds.

    The runs are usually views of the partition's own arrays, so a block costs no copy and no new
    memory, whose first write (fresh pages) would cost more than the rest of the loading. The compiled
    loops of :mod:`._loops` read each run in its own dtype; for the Hessian they write each chunk of
    rows, centred and scaled, into a float64 buffer run by run. Every product and sum is float64.
    """

    def __init__(self, runs):
        self.runs = [run if run.ndim == 2 else run[:, None] for run in runs]
        stops = np.cumsum([run.shape[1] for run in self.runs])
        self.spans = [(int(stop) - run.shape[1], int(stop)) for run, stop in zip(self.runs, stops)]
        self.shape = (self.runs[0].shape[0] if self.runs else 0, int(stops[-1]) if self.runs else 0)

    ndim = 2

    @property
    def nbytes(self) -> int:
        return sum(run.nbytes for run in self.runs)

    def __sizeof__(self) -> int:  # what Dask counts for the block (``sizeof`` falls back to it)
        return self.nbytes + 64 * (1 + len(self.runs))

    def __len__(self) -> int:
        return self.shape[0]

    def __array__(self, dtype=None, copy=None):
        out = np.empty(self.shape, dtype=dtype or np.result_type(*self.runs), order="F")
        self.rows_into(0, self.shape[0], out)
        return out

    def rows_into(self, start: int, stop: int, out: np.ndarray) -> np.ndarray:
        """Copy rows ``start:stop`` into ``out`` (``(stop - start, n_features)``), run by run."""
        for (first, last), run in zip(self.spans, self.runs):
            np.copyto(out[:, first:last], run[start:stop], casting="unsafe")
        return out

    def take(self, index: np.ndarray) -> ColumnRuns:
        """The rows ``index`` (a copy, each run column-major in its own dtype)."""
        return ColumnRuns([_take_columns(run, index) for run in self.runs])

    def rows(self, start: int, stop: int) -> ColumnRuns:
        """The rows ``start:stop`` (views of the runs)."""
        return ColumnRuns([run[start:stop] for run in self.runs])

    def aligned(self) -> ColumnRuns:
        """Itself, or a copy whose runs are aligned (arrays arriving from the network may not be)."""
        if all(run.flags.aligned for run in self.runs):
            return self
        return ColumnRuns([np.require(run, requirements="A") for run in self.runs])


@dataclass(frozen=True)
class MomentSums:
    """Weighted first and second moments of the feature columns of some rows.

    ``mean`` is the weighted mean and ``m2`` the weighted sum of squared
    deviations from it; two of them combine exactly (Chan, Golub and LeVeque's
    pairwise update), so the result does not depend on how rows are split.

    Two more sums give the loss, gradient and Hessian at the intercept-only
    start without a pass of their own: ``y_dev``, the positives' weighted
    deviations ``sum w y (x - mean)``, and the weighted co-moment matrix of
    a sample of the rows (every ``hessian_every``-th chunk), about the
    sample's own mean ``sample_mean``, with its weight ``sample_weight_sum``.
    """

    n_rows: int
    weight_sum: float
    mean: np.ndarray  # (n_features,)
    m2: np.ndarray  # (n_features,)
    y_sum: float = 0.0  # weighted count of positive rows
    y_dev: np.ndarray | None = None  # (n_features,)
    sample_weight_sum: float = 0.0
    sample_mean: np.ndarray | None = None  # (n_features,)
    sample_comoment: np.ndarray | None = None  # (n_features, n_features); a block of codes': its numeric columns'

    def __add__(self, other: MomentSums) -> MomentSums:
        if other.weight_sum == 0.0 and other.sample_weight_sum == 0.0:
            return replace(self, n_rows=self.n_rows + other.n_rows, y_sum=self.y_sum + other.y_sum)
        if self.weight_sum == 0.0 and self.sample_weight_sum == 0.0:
            return replace(other, n_rows=self.n_rows + other.n_rows, y_sum=self.y_sum + other.y_sum)
        weight_sum = self.weight_sum + other.weight_sum
        mean, m2 = _combine(self.weight_sum, self.mean, self.m2, other.weight_sum, other.mean, other.m2)
        y_dev = None
        if self.y_dev is not None and other.y_dev is not None:
            # sum w y (x - mean) = sum w y (x - own mean) + (own mean - mean) * sum w y, for each side.
            y_dev = self.y_dev + (self.mean - mean) * self.y_sum + other.y_dev + (other.mean - mean) * other.y_sum
        sample_mean, sample_comoment = _combine(
            self.sample_weight_sum, self.sample_mean, self.sample_comoment,
            other.sample_weight_sum, other.sample_mean, other.sample_comoment, outer=True,
        )
        return MomentSums(
            self.n_rows + other.n_rows, weight_sum, mean, m2, self.y_sum + other.y_sum, y_dev,
            self.sample_weight_sum + other.sample_weight_sum, sample_mean, sample_comoment,
        )

    @property
    def variance(self) -> np.ndarray:
        """Population (weighted) variance of each column."""
        if self.weight_sum == 0.0:
            return np.zeros_like(self.m2)
        return self.m2 / self.weight_sum


def _combine(weight_a, mean_a, m2_a, weight_b, mean_b, m2_b, *, outer=False):
    """Chan, Golub and LeVeque: the mean and (co-)moment sum of two sets of rows."""
    if weight_b == 0.0 or mean_b is None:
        return mean_a, m2_a
    if weight_a == 0.0 or mean_a is None:
        return mean_b, m2_b
    weight = weight_a + weight_b
    delta = mean_b - mean_a
    share = weight_b / weight
    spread = np.outer(delta, delta) if outer else delta**2
    return mean_a + delta * share, m2_a + m2_b + spread * (weight_a * share)


@dataclass(frozen=True)
class LossSums:
    """Sums over some rows of the weighted log-loss and its derivatives.

    ``grad_sum`` has ``n_features + 1`` entries and ``hess_sum`` is square of
    that size, the intercept last; either is None when it was not asked for.
    ``hess_weight_sum`` is the weight of the rows that ``hess_sum`` covers:
    all of them, or the sampled chunks when ``hessian_every > 1``.
    """

    weight_sum: float
    loss_sum: float
    grad_sum: np.ndarray | None = None
    hess_sum: np.ndarray | None = None
    hess_weight_sum: float = 0.0

    def __add__(self, other: LossSums) -> LossSums:
        return LossSums(
            self.weight_sum + other.weight_sum,
            self.loss_sum + other.loss_sum,
            None if self.grad_sum is None else self.grad_sum + other.grad_sum,
            None if self.hess_sum is None else self.hess_sum + other.hess_sum,
            self.hess_weight_sum + other.hess_weight_sum,
        )


def moment_sums(
    X: np.ndarray,
    y: np.ndarray | None,
    sample_weight: np.ndarray | None,
    *,
    hessian_every: int = 0,
    chunk_rows: int = CHUNK_ROWS,
) -> MomentSums:
    """Weighted mean and sum of squared deviations of each column of ``X``: two passes over the block.

    Also the weighted sum of ``y`` (the positives) and their deviations
    ``y_dev``, and, with ``hessian_every >= 1``, the co-moment matrix of every
    ``hessian_every``-th chunk of ``chunk_rows`` rows: from these the solver
    has the loss, gradient and Hessian at the intercept-only start.

    The deviations are taken from the block's own mean (the first pass), so
    ``sum x**2 - n mean**2`` never cancels. Blocks merge by the pairwise
    update of :class:`MomentSums`, exact for any split. A column-major block
    (what pandas hands over) is read a column at a time by the compiled loops
    of :mod:`._loops`, each value in its own dtype, which is faster than NumPy
    on a float64 copy of each column (bench/README.md). A row-major block goes chunk by chunk through
    a float64 buffer (NumPy's pairwise sums).
    """
    from ._codes import CodedBlock, coded_moment_sums  # a block of codes: its numeric columns come back here

    if isinstance(X, CodedBlock):
        return coded_moment_sums(X, y, sample_weight, chunk_rows=chunk_rows, hessian_every=hessian_every)
    X = _aligned(X)
    n_rows, n_features = X.shape
    y = _labels(y)
    y_weight = None if y is None else (y if sample_weight is None else sample_weight * y)
    y_sum = 0.0 if y_weight is None else float(y_weight.sum())
    weight = float(n_rows) if sample_weight is None else float(sample_weight.sum())
    if weight == 0.0:
        zeros = np.zeros(n_features)
        return MomentSums(n_rows, 0.0, zeros, zeros.copy(), y_sum, None if y is None else zeros.copy())
    columns = _column_moments if _layout(X) == "F" else _chunk_moments
    mean, m2, y_dev = columns(X, y_weight, sample_weight, weight, chunk_rows)
    total = MomentSums(n_rows, weight, mean, m2, y_sum, y_dev)
    if hessian_every:
        total = _with_sample(total, X, sample_weight, hessian_every, chunk_rows)
    return total


def _column_moments(X, y_weight, sample_weight, weight, chunk_rows):
    """``(mean, m2, y_dev)`` of a column-major block, by the compiled column loops (each value read in its dtype)."""
    from ._loops import column_moments  # here: a row-major block never needs numba, nor its start-up
    n_features = X.shape[1]
    mean, m2 = np.empty(n_features), np.empty(n_features)
    y_dev = None if y_weight is None else np.empty(n_features)
    none = np.empty(0)
    for (first, last), run in _runs(X):
        column_moments(
            run, none if sample_weight is None else sample_weight, weight, none if y_weight is None else y_weight,
            mean[first:last], m2[first:last], none if y_dev is None else y_dev[first:last],
        )
    return mean, m2, y_dev


def _chunk_moments(X, y_weight, sample_weight, weight, chunk_rows):
    """``(mean, m2, y_dev)`` of a row-major block, chunk by chunk through a float64 buffer."""
    n_rows, n_features = X.shape
    buffer = np.empty((min(chunk_rows, n_rows), n_features))
    chunks = [(start, min(start + chunk_rows, n_rows)) for start in range(0, n_rows, chunk_rows)]

    def rows(start, stop):
        Z = _rows_into(X, start, stop, buffer[: stop - start])
        return Z, None if sample_weight is None else sample_weight[start:stop]

    total = np.zeros(n_features)
    for start, stop in chunks:
        Z, w_rows = rows(start, stop)
        total += Z.sum(axis=0) if w_rows is None else w_rows @ Z
    mean = total / weight
    m2 = np.zeros(n_features)
    y_dev = None if y_weight is None else np.zeros(n_features)
    for start, stop in chunks:
        Z, w_rows = rows(start, stop)
        Z -= mean
        if y_weight is not None:
            y_dev += y_weight[start:stop] @ Z
        m2 += np.einsum("ij,ij->j", Z, Z) if w_rows is None else w_rows @ (Z * Z)
    return mean, m2, y_dev


def _with_sample(total: MomentSums, X, sample_weight, hessian_every: int, chunk_rows: int) -> MomentSums:
    """``total`` with the co-moment matrix of every ``hessian_every``-th chunk, each about its own mean."""
    n_rows, n_features = X.shape
    layout = _layout(X)
    for index, start in enumerate(range(0, n_rows, chunk_rows)):
        if index % hessian_every:
            continue
        stop = min(start + chunk_rows, n_rows)
        w_rows = None if sample_weight is None else sample_weight[start:stop]
        weight = float(stop - start) if w_rows is None else float(w_rows.sum())
        if weight == 0.0:
            continue
        Z = _rows_into(X, start, stop, _work("chunk", (stop - start, n_features), order=layout))
        mean = (Z.sum(axis=0) if w_rows is None else w_rows @ Z) / weight
        np.subtract(Z, mean, out=Z)
        if w_rows is not None:
            _scale_rows(Z, np.sqrt(w_rows), out=Z)
        gram = _add_gram(np.zeros((n_features, n_features), order="F"), Z)
        sample_mean, comoment = _combine(
            total.sample_weight_sum, total.sample_mean, total.sample_comoment,
            weight, mean, np.triu(gram) + np.triu(gram, 1).T, outer=True,
        )
        total = replace(total, sample_weight_sum=total.sample_weight_sum + weight, sample_mean=sample_mean,
                        sample_comoment=comoment)
    return total


#: Beyond this ``|mean| / std`` the kernels centre each chunk before the products (see :func:`loss_sums`).
UNCENTRED_MAX_OFFSET = 1e2
#: Beyond this ``|mean| / std`` the Hessian is summed from centred rows; below it from raw rows, then
#: shifted, which costs at most about ``(1 + offset**2) * eps`` of each entry (2e-14 at 10).
UNCENTRED_HESSIAN_MAX_OFFSET = 1e1


def loss_sums(
    X: np.ndarray,
    y: np.ndarray,
    sample_weight: np.ndarray | None,
    *,
    coef: np.ndarray,
    intercept: float,
    mean: np.ndarray,
    inv_scale: np.ndarray,
    derivatives: int = 2,
    hessian_every: int = 1,
    chunk_rows: int = CHUNK_ROWS,
    columns: np.ndarray | None = None,
) -> LossSums:
    """Loss sum of one block, with ``derivatives=1`` plus the gradient sum, with ``derivatives=2`` plus the Hessian sum.

    The linear predictor of row ``i`` is
    ``eta_i = intercept + sum_j (X_ij - mean_j) * inv_scale_j * coef_j``,
    so ``coef`` lives on the standardized scale; a column with
    ``inv_scale_j == 0`` (a constant one) contributes nothing. The loss of a
    row is ``log(1 + exp(eta)) - y * eta``, computed as a softplus so that
    margins of any size neither overflow nor lose digits.

    The loss and gradient are always exact sums over every row. The Hessian
    sums the rows of every ``hessian_every``-th chunk of ``chunk_rows`` rows
    (all rows when 1), and ``hess_weight_sum`` says what weight they carry:
    divided by it, the sum is an unbiased estimate of the mean Hessian.

    ``columns`` (sorted feature indices), if given, are the features whose
    gradient and Hessian entries are needed: a column-major numeric block
    sums those only (the others are 0), which is what a path's passes over
    its active set cost; other blocks may sum them all. The loss and the
    intercept's entries are always summed.

    How the products are formed. With ``beta = coef * inv_scale``, a
    column-major block (an array or :class:`ColumnRuns`) gives
    ``eta = intercept + (X - mean) @ beta`` and the standardized gradient
    ``inv_scale * ((X - mean).T @ r)`` from the compiled loops of
    :mod:`._loops`, a column at a time, each value centred as it is read and
    every product and sum in float64: matrix-vector products would need float64
    copies of its chunks, and the copies would be most of the pass
    (bench/README.md). A row-major block goes chunk by chunk: with
    ``offset = intercept - mean . beta``, ``eta = X @ beta + offset`` and the
    gradient ``inv_scale * (X.T @ r - mean * sum(r))``, two matrix-vector
    products on the stored rows. That subtraction loses about
    ``eps * |mean| / std`` of the gradient, nothing at the solver's tolerance
    while ``|mean| / std <= UNCENTRED_MAX_OFFSET``; beyond it each chunk is
    centred into a float64 buffer first. float32 storage is copied chunk by
    chunk into a float64 buffer, so every product is float64. The Hessian
    ``G = sum h (x - m)(x - m)^T`` is formed by ``dsyrk`` on chunks scaled by
    ``sqrt(h)``: from raw rows, then shifted by ``c m^T + m c^T - (sum h) m m^T``
    with ``c = sum h x``, while ``|mean| / std <= UNCENTRED_HESSIAN_MAX_OFFSET``
    (a loss of at most ``(1 + offset**2) * eps`` of an entry, and one
    elementwise pass fewer per chunk); from centred rows beyond it. Then it is
    scaled by ``inv_scale`` on both sides.

    Returns
    -------
    LossSums
        ``grad_sum`` is ``(n_features + 1,)`` and ``hess_sum``
        ``(n_features + 1, n_features + 1)``, derivatives with respect to
        ``(coef, intercept)``.
    """
    from ._codes import CodedBlock, coded_loss_sums  # a block of codes: its numeric columns come back here

    if isinstance(X, CodedBlock):
        return coded_loss_sums(X, y, sample_weight, coef=coef, intercept=intercept, mean=mean, inv_scale=inv_scale,
                               derivatives=derivatives, hessian_every=hessian_every, chunk_rows=chunk_rows)
    return _loss_sums(X, y, sample_weight, coef, intercept, mean, inv_scale, derivatives, hessian_every, chunk_rows,
                      columns=columns)


def _loss_sums(X, y, sample_weight, coef, intercept, mean, inv_scale, derivatives, hessian_every, chunk_rows, *,
               offset=None, rows=None, on_chunk=None, columns=None) -> LossSums:
    """:func:`loss_sums` of a numeric block, with ``offset`` (per row) added to the linear predictor; ``rows``, a
    dict, receives the weighted residuals ``"resid"`` and Hessian weights ``"hess"`` of every row (work arrays;
    the Hessian weights only in the summed chunks). ``on_chunk(chunk, factors, start)``, if given, sees each
    summed chunk of a column-major block as the Hessian does (rows ``start:start + len(factors)`` centred and
    scaled by ``factors = sqrt(h)``), so a caller's sums over the same rows need no second read of them."""
    X = _aligned(X)
    n_rows, n_features = X.shape
    y = _labels(y)
    weight_sum = float(n_rows) if sample_weight is None else float(sample_weight.sum())
    ratio = np.max(np.abs(mean) * inv_scale, initial=0.0)
    column_major = _layout(X) == "F"
    # Only a column-major block's loops read a column at a time: there the columns not asked for are skipped.
    picked = np.arange(n_features) if columns is None or not column_major else np.asarray(columns, dtype=np.intp)
    hessian = None
    if derivatives >= 2:
        hessian = _HessianSums(picked.size, mean[picked], centre=ratio > UNCENTRED_HESSIAN_MAX_OFFSET)
    if column_major:
        loss_sum, grad = _column_loss_grad(X, y, sample_weight, coef, intercept, mean, inv_scale, derivatives, hessian,
                                           hessian_every, chunk_rows, offset, rows, on_chunk, picked)
    else:
        loss_sum, grad = _row_loss_grad(X, y, sample_weight, coef, intercept, mean, inv_scale, derivatives, hessian,
                                        hessian_every, chunk_rows, offset, rows, centre=ratio > UNCENTRED_MAX_OFFSET)
    if hessian is None:
        return LossSums(weight_sum, loss_sum, grad)
    hess_sum = hessian.total(inv_scale[picked])
    if picked.size < n_features:
        index = np.append(picked, n_features)
        full = np.zeros((n_features + 1, n_features + 1))
        full[np.ix_(index, index)] = hess_sum
        hess_sum = full
    return LossSums(weight_sum, loss_sum, grad, hess_sum, hessian.weight_sum)


def _column_loss_grad(X, y, sample_weight, coef, intercept, mean, inv_scale, derivatives, hessian, hessian_every, chunk_rows,
                      offset, rows, on_chunk, picked):
    """Loss and gradient sums of a column-major block (an array or :class:`ColumnRuns`) from the compiled column
    loops, each value read in its own dtype and centred as it is read; the Hessian (``hessian``) from chunks of
    float64 rows. The gradient and Hessian cover the columns ``picked`` (the gradient's others are 0). Every
    row-length temporary is a work array of this thread (see :func:`_work`)."""
    from ._loops import add_centred_products, centred_dots, scaled_centred_rows  # see _column_moments

    n_rows, n_features = X.shape
    runs = _runs(X)
    beta = coef * inv_scale
    eta = _work("eta", (n_rows,))
    eta.fill(intercept)
    if offset is not None:
        eta += offset
    for (first, last), run in runs:
        add_centred_products(run, mean[first:last], beta[first:last], eta)
    tail, loss_rows = _link(eta, y, _work("tail", (n_rows,)), _work("loss", (n_rows,)))
    loss_sum = float(loss_rows.sum() if sample_weight is None else sample_weight @ loss_rows)
    if derivatives == 0:
        return loss_sum, None
    hess = None if hessian is None else _work("hess", (n_rows,))
    resid = _residuals(eta, tail, y, sample_weight, _work("resid", (n_rows,)), hess)
    # Each run's picked columns, and where their entries start among the picked ones.
    in_runs = []
    for (first, last), run in runs:
        at, stop = np.searchsorted(picked, (first, last))
        in_runs.append((run, first, picked[at:stop] - first, int(at)))
    cross = np.empty(picked.size)
    for run, first, local, at in in_runs:
        centred_dots(run, local, mean[first:first + run.shape[1]], resid, cross[at:at + local.size])
    grad_sum = np.zeros(n_features + 1)
    grad_sum[picked] = inv_scale[picked] * cross
    grad_sum[n_features] = resid.sum()
    if rows is not None:
        rows["resid"] = resid
    if hessian is not None:
        if rows is not None:
            rows["hess"] = hess
        for start in range(0, n_rows, chunk_rows * hessian_every):
            stop = min(start + chunk_rows, n_rows)
            buffer = _work("chunk", (stop - start, picked.size), order="F")
            hess_rows = hess[start:stop]
            factors = np.sqrt(hess_rows)
            cross = np.zeros(picked.size)
            for run, first, local, at in in_runs:
                scaled_centred_rows(run, local, start, mean[first:first + run.shape[1]], factors, buffer, at,
                                    cross[at:at + local.size])
            weight = float(stop - start) if sample_weight is None else float(sample_weight[start:stop].sum())
            hessian.add_scaled(buffer, cross, float(hess_rows.sum()), weight)
            if on_chunk is not None:
                on_chunk(buffer, factors, start)
    return loss_sum, grad_sum


def _row_loss_grad(X, y, sample_weight, coef, intercept, mean, inv_scale, derivatives, hessian, hessian_every, chunk_rows,
                   offset=None, rows=None, *, centre):
    """Loss and gradient sums of a row-major block, chunk by chunk: matrix-vector products on the stored rows (or
    on a float64 copy of each chunk, centred when ``centre``); the Hessian (``hessian``) from the same chunks."""
    n_rows, n_features = X.shape
    beta = coef * inv_scale
    offset_value = intercept - (0.0 if centre else float(mean @ beta))
    loss_sum, resid_sum = 0.0, 0.0
    cross = np.zeros(n_features)  # sum r * x (or r * (x - m) when centred)
    copy = centre or X.dtype != np.float64
    buffer = np.empty((min(chunk_rows, n_rows), n_features)) if copy or hessian is not None else None
    if rows is not None:
        rows["resid"] = _work("resid", (n_rows,))
        rows["hess"] = _work("hess", (n_rows,))

    for index, start in enumerate(range(0, n_rows, chunk_rows)):
        stop = min(start + chunk_rows, n_rows)
        if buffer is not None and stop - start != buffer.shape[0]:
            buffer = np.empty((stop - start, n_features))  # the last, shorter chunk
        if copy:
            X_rows = _rows_into(X, start, stop, buffer)
            if centre:
                X_rows -= mean
        else:
            X_rows = X[start:stop]
        eta = X_rows @ beta
        eta += offset_value
        if offset is not None:
            eta += offset[start:stop]
        y_rows = y[start:stop]
        w_rows = None if sample_weight is None else sample_weight[start:stop]
        tail, loss_rows = _link(eta, y_rows, np.empty_like(eta), np.empty_like(eta))
        loss_sum += float(loss_rows.sum() if w_rows is None else w_rows @ loss_rows)
        if derivatives == 0:
            continue
        summed = hessian is not None and index % hessian_every == 0
        hess_rows = np.empty_like(eta) if summed else None
        resid_rows = _residuals(eta, tail, y_rows, w_rows, np.empty_like(eta), hess_rows)
        cross += resid_rows @ X_rows
        resid_sum += float(resid_rows.sum())
        if rows is not None:
            rows["resid"][start:stop] = resid_rows
        if not summed:
            continue
        if rows is not None:
            rows["hess"][start:stop] = hess_rows
        if centre and X_rows is buffer:  # already centred: the accumulator must not centre (or shift) it again
            hessian.add(X_rows, hess_rows, w_rows, buffer, centred=True)
        else:
            hessian.add(X_rows, hess_rows, w_rows, buffer)

    if derivatives == 0:
        return loss_sum, None
    grad_sum = np.empty(n_features + 1)
    grad_sum[:n_features] = inv_scale * (cross if centre else cross - mean * resid_sum)
    grad_sum[n_features] = resid_sum
    return loss_sum, grad_sum


def shared_read_loss_sums(X, y, sample_weight, *, models, mean, inv_scale) -> list[LossSums] | None:
    """:func:`loss_sums` (``derivatives`` 0 or 1) of several models over one column-major numeric block, each over
    the rows outside its own span: ``models`` holds ``(coef, intercept, derivatives, columns, (start, stop))``, the
    span's rows left out (``(0, 0)`` for none). None when the block is not one whose runs are column-major arrays.

    Every model's linear predictor and gradient come from one read of the block
    (:func:`~._loops.add_centred_products_many`): cross-validation's folds each ask for a pass over most of the rows,
    and reading the block once per fold made its passes several times a full pass (bench/README.md). A model's
    sums are those of :func:`loss_sums` over its rows before and after its span, added."""
    from ._loops import add_centred_dots_many, add_centred_products_many  # see _column_moments

    if not isinstance(X, (np.ndarray, ColumnRuns)) or _layout(X) != "F":
        return None
    X = _aligned(X)
    runs = _runs(X)
    if not all(run.flags.f_contiguous for _, run in runs):
        return None
    n_rows, n_features = X.shape
    y = _labels(y)
    n_models = len(models)
    betas = np.stack([coef * inv_scale for coef, *_ in models])
    etas = _work("etas", (n_models, n_rows))
    for q, (_, intercept, *_) in enumerate(models):
        etas[q].fill(intercept)
    for (first, last), run in runs:
        add_centred_products_many(run, mean[first:last], np.ascontiguousarray(betas[:, first:last]), etas)
    asked = [q for q, (_, _, derivatives, _, _) in enumerate(models) if derivatives >= 1]
    resids = _work("resids", (len(asked), n_rows))  # row k: model asked[k]'s
    rows_of_asked = iter(resids)
    tail, loss_rows = _work("tail", (n_rows,)), _work("loss", (n_rows,))
    out = []
    for q, (_, _, derivatives, _, (skip_start, skip_stop)) in enumerate(models):
        weight_sum = loss_sum = 0.0
        if derivatives >= 1:
            resid = next(rows_of_asked)
            resid[skip_start:skip_stop] = 0.0
        for a, b in ((0, skip_start), (skip_stop, n_rows)):
            w_rows = None if sample_weight is None else sample_weight[a:b]
            eta = etas[q, a:b]
            _link(eta, y[a:b], tail[a:b], loss_rows[a:b])
            weight_sum += float(b - a) if w_rows is None else float(w_rows.sum())
            loss_sum += float(loss_rows[a:b].sum() if w_rows is None else w_rows @ loss_rows[a:b])
            if derivatives >= 1:
                _residuals(eta, tail[a:b], y[a:b], w_rows, resid[a:b])
        out.append(LossSums(weight_sum, loss_sum))
    if not asked:
        return out
    # Each asking model's columns; the dot products cover their union once, a model keeps its own (the others
    # stay 0, as loss_sums leaves them).
    own = [np.arange(n_features) if models[q][3] is None else np.asarray(models[q][3], dtype=np.intp) for q in asked]
    picked = np.unique(np.concatenate(own))
    cross = np.zeros((len(asked), picked.size))
    for (first, last), run in runs:
        at, stop = np.searchsorted(picked, (first, last))
        add_centred_dots_many(run, picked[at:stop] - first, mean[first:last], resids, cross[:, at:stop])
    for k, (q, columns) in enumerate(zip(asked, own)):
        grad_sum = np.zeros(n_features + 1)
        grad_sum[columns] = inv_scale[columns] * cross[k, np.searchsorted(picked, columns)]
        grad_sum[n_features] = resids[k].sum()
        out[q] = LossSums(out[q].weight_sum, out[q].loss_sum, grad_sum)
    return out


class _HessianSums:
    """``sum h (x - m)(x - m)^T`` and ``sum h (x - m)`` over chunks of float64 rows, by ``dsyrk`` on chunks scaled
    by ``sqrt(h)``.

    From raw rows, then shifted by ``c m^T + m c^T - (sum h) m m^T`` with ``c = sum h x``, unless ``centre``
    (a column's ``|mean| / std`` above :data:`UNCENTRED_HESSIAN_MAX_OFFSET`), where each chunk is centred first.
    """

    def __init__(self, n_features: int, mean: np.ndarray, *, centre: bool):
        self.mean, self.centre = mean, centre
        self.gram = np.zeros((n_features, n_features), order="F")  # dsyrk updates it in place
        self.cross = np.zeros(n_features)
        self.intercept = 0.0
        self.weight_sum = 0.0
        self.shifted = False  # whether some chunk was summed uncentred

    def add(self, X_rows, hess_rows, w_rows, buffer, *, centred: bool = False) -> None:
        """Add a chunk: ``X_rows`` (float64, may be ``buffer``), ``hess_rows`` (weighted ``p (1 - p)``)."""
        self.weight_sum += float(X_rows.shape[0]) if w_rows is None else float(w_rows.sum())
        if self.centre and not centred:
            X_rows = np.subtract(X_rows, self.mean, out=buffer)
        self.shifted |= not (self.centre or centred)
        self.cross += hess_rows @ X_rows  # sum h x (uncentred) or sum h (x - m)
        self.intercept += float(hess_rows.sum())
        self.gram = _add_gram(self.gram, _scale_rows(X_rows, np.sqrt(hess_rows), out=buffer))

    def add_scaled(self, Z, cross, hess_sum: float, weight: float) -> None:
        """Add a chunk already centred and scaled by ``sqrt(h)`` (``Z``), its ``sum h (x - m)`` and ``sum h``."""
        self.weight_sum += weight
        self.cross += cross
        self.intercept += hess_sum
        self.gram = _add_gram(self.gram, Z)

    def total(self, inv_scale: np.ndarray) -> np.ndarray:
        """The Hessian sum with respect to ``(coef, intercept)``, the intercept last."""
        n_features = self.cross.size
        full = np.triu(self.gram) + np.triu(self.gram, 1).T
        cross = self.cross
        if self.shifted:
            # sum h (x - m)(x - m)^T = sum h x x^T - c m^T - m c^T + (sum h) m m^T, with c = sum h x.
            mean = self.mean
            full -= np.outer(cross, mean) + np.outer(mean, cross) - self.intercept * np.outer(mean, mean)
            cross = cross - self.intercept * mean
        hess_sum = np.empty((n_features + 1, n_features + 1))
        hess_sum[:n_features, :n_features] = full * np.outer(inv_scale, inv_scale)  # symmetric to the last bit
        hess_sum[:n_features, n_features] = cross * inv_scale
        hess_sum[n_features, :n_features] = hess_sum[:n_features, n_features]
        hess_sum[n_features, n_features] = self.intercept
        return hess_sum


def _runs(X) -> list:
    """``[((first, last), run), ...]``: the column-major runs of ``X`` and the columns each holds."""
    if isinstance(X, ColumnRuns):
        return list(zip(X.spans, X.runs))
    return [((0, X.shape[1]), X)]


def take_rows(X, index: np.ndarray):
    """The rows ``index`` of a block's features, in the block's own form (a copy): an array keeps its memory order,
    :class:`ColumnRuns` and :class:`~._codes.CodedBlock` their dtypes."""
    if isinstance(X, np.ndarray):
        return _take_columns(X, index) if _layout(X) == "F" else X[index]
    return X.take(index)


def slice_rows(X, start: int, stop: int):
    """The rows ``start:stop`` of a block's features, in the block's own form, as views of its memory."""
    return X[start:stop] if isinstance(X, np.ndarray) else X.rows(start, stop)


def _take_columns(X: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Rows ``index`` of a column-major 2-D ``X``, written once into a column-major copy (``X[index]`` is row-major).

    Taken from the transpose, whose rows are ``X``'s columns: each is gathered along its contiguous memory, about
    nine times as fast as ``np.take`` along the strided axis into a column-major ``out`` (bench/README.md)."""
    return np.take(X.T, index, axis=1).T


def _aligned(X):
    """``X``, copied if its memory is unaligned (as arrays arrive from the network): BLAS refuses
    unaligned arrays and NumPy falls back to loops much slower than one copy."""
    if isinstance(X, ColumnRuns):
        return X.aligned()
    return X if X.flags.aligned else np.require(X, requirements="A")


def _rows_into(X, start: int, stop: int, out: np.ndarray) -> np.ndarray:
    """Rows ``start:stop`` of ``X`` (an array or :class:`ColumnRuns`) copied into the float64 ``out``."""
    if isinstance(X, ColumnRuns):
        return X.rows_into(start, stop, out)
    np.copyto(out, X[start:stop])
    return out


def _labels(y: np.ndarray | None) -> np.ndarray | None:
    """``y`` as float64 (a work array when converted): labels 0 and 1 may arrive as bool or integers (they are
    their own encoding), and NumPy's products of mixed types skip BLAS."""
    if y is None or y.dtype == np.float64:
        return y
    labels = _work("labels", y.shape)
    np.copyto(labels, y, casting="unsafe")
    return labels


def _layout(X) -> str:
    """"F" for a column-major block (what pandas hands over), else "C": chunk buffers follow it, copies stay fast."""
    if isinstance(X, ColumnRuns):
        return "F"
    return "F" if X.flags.f_contiguous and not X.flags.c_contiguous else "C"


def _scale_rows(X_rows: np.ndarray, factors: np.ndarray, *, out: np.ndarray) -> np.ndarray:
    """``out = X_rows * factors[:, None]``, iterating along the rows' memory order.

    For a column-major chunk, NumPy's broadcast of ``factors[:, None]`` runs
    its inner loop across the columns, slower than the ``dsyrk`` that follows;
    written on the transposes, the inner loop runs down each column, in memory
    order. The products are the same either way.
    """
    if X_rows.flags.f_contiguous and out.flags.f_contiguous:
        np.multiply(X_rows.T, factors, out=out.T)
    else:
        np.multiply(X_rows, factors[:, None], out=out)
    return out


def _add_gram(gram: np.ndarray, Z: np.ndarray) -> np.ndarray:
    """``gram += Z.T @ Z`` (upper triangle) in place, for a row- or column-major ``Z``.

    Each layout is handed to ``dsyrk`` as it lies, so no transposed copy is
    made; OpenBLAS is faster on a column-major ``Z`` (``trans=1``).
    """
    if Z.shape[1] == 0 or Z.shape[0] == 0:
        return gram
    if Z.flags.f_contiguous:
        return dsyrk(1.0, Z, beta=1.0, c=gram, trans=1, lower=0, overwrite_c=1)
    return dsyrk(1.0, Z.T, beta=1.0, c=gram, trans=0, lower=0, overwrite_c=1)


def _link(eta: np.ndarray, y_rows: np.ndarray, tail: np.ndarray, loss_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(exp(-|eta|), log-loss of each row)``, written into ``tail`` and ``loss_rows``: the loss, the probability
    and its derivative all come from the one exponential, stable for any ``eta``.

    The loss is ``softplus(eta) - y * eta = log1p(exp(-|eta|)) + max((1 - 2 y) eta, 0)`` for labels 0 and 1: the
    last term is ``max(eta, 0) - y * eta`` exactly. One ``exp`` and one ``log1p`` serve the loss, the probability
    and its derivative, both in the compiled loop :func:`~._loops.link`.
    """
    from ._loops import link  # see _column_moments

    link(eta, y_rows, tail, loss_rows, _work("bits", eta.shape, dtype=np.int64))
    return tail, loss_rows


def _residuals(eta, tail, y_rows, w_rows, out: np.ndarray, hess: np.ndarray | None = None) -> np.ndarray:
    """Weighted ``p - y`` per row, written into ``out``, from :func:`_link`'s ``tail``; with ``hess``, the weighted
    ``p (1 - p)`` per row written into it as well (:func:`~._loops.residuals`)."""
    from ._loops import residuals

    residuals(eta, tail, y_rows, w_rows, out, _NO_ROWS if hess is None else hess)
    return out


#: What :func:`~._loops.residuals` takes for "no Hessian weights".
_NO_ROWS = np.zeros(0)


_scratch = threading.local()


def _work(name: str, shape: tuple, *, order: str = "C", dtype=np.float64) -> np.ndarray:
    """A work array of ``shape``, this thread's own, reused by the next call that asks for ``name``.

    Dask's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_=65536``, which
    also stops glibc from raising its mmap threshold: every array over 128 KB
    is then mapped afresh and its pages faulted in on first write, which
    nearly doubled a gradient pass with row-length temporaries
    (bench/README.md). Work arrays are written without new pages after the first pass.
    No result refers to one. They stay with the thread for later fits: six
    float64 vectors and a boolean one as long as the largest block it has seen,
    one chunk of rows, the path's scores of a span of rows (a few MB, see
    :data:`~._path.SCORE_CELLS`), and with cross-validation two float64 vectors
    per fold (:func:`shared_read_loss_sums`).
    """
    size = int(np.prod(shape))
    key = (name, np.dtype(dtype).str)
    store = _scratch.__dict__
    array = store.get(key)
    if array is None or array.size < size:
        array = store[key] = np.empty(size, dtype=dtype)
    return array[:size].reshape(shape, order=order)
