"""Categorical columns held as one integer code per row: the block, its sums and its structured Hessian.

A :class:`CodedBlock` holds a partition's numeric columns (an array or a
:class:`~logreg_dist._kernels.ColumnRuns`, read by the numeric kernels) and,
for each categorical column, one code per row: 0 for the reference (and for
a level folded into it or unseen in training), ``k`` for its ``k``-th level.
Feature ``start + k - 1`` of the model is the indicator of level ``k``, so
the features keep the order of ``preparation.feature_names``.

The kernels never form an indicator column. With residuals ``r`` and
Hessian weights ``h`` per row:

- the gradient of a level is ``sum r`` over its rows (a ``bincount``);
- its Hessian diagonal is ``sum h`` over its rows: a categorical's own block
  is diagonal, and the indicators of two levels of one column never meet;
- a numeric column meets a level in ``sum h (x - mean)`` over the level's rows
  (a scatter-add), and two categorical columns meet in the weight of each
  pair of levels (a ``bincount`` of the pairs, or their distinct pairs when
  the table would be large).

The sums are taken on indicators *uncentred* (each row adds to the entries of
its own levels only) and scaled by ``inv_scale``; the standardization's
centring is a change of the intercept coordinate only (``z = u - s m``), so
it is applied to the reduced p x p numbers, never to rows:
``H_z = M H_u M^T`` and ``g_z = M g_u`` with ``M = I - (s m) e_intercept^T``
on the categorical features. Levels' means lie in (0, 1/2] (the reference is
the most frequent level), so the uncentred sums lose no digits that matter.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace

import numpy as np

__all__ = ["CodedBlock", "CodedHessian", "CodedLayout", "code_dtype"]

#: A pair table of two categorical columns is held dense up to this many cells, else as its distinct pairs.
DENSE_PAIR_CELLS = 10_000_000


def code_dtype(n_levels: int) -> np.dtype:
    """The smallest signed integer type that holds codes ``0..n_levels``."""
    for dtype in (np.int8, np.int16, np.int32):
        if n_levels <= np.iinfo(dtype).max:
            return np.dtype(dtype)
    return np.dtype(np.int64)


@dataclass(frozen=True, eq=False)  # compared by identity: it holds an array
class CodedLayout:
    """Where a block's columns sit among the model's features.

    ``numeric_index`` holds the feature positions of the numeric columns in
    their order; categorical ``c`` has ``n_levels[c]`` features starting at
    ``starts[c]`` (its code ``k >= 1`` is feature ``starts[c] + k - 1``).
    """

    n_features: int
    numeric_index: np.ndarray
    starts: tuple[int, ...]
    n_levels: tuple[int, ...]

    def level_index(self, c: int) -> np.ndarray:
        return np.arange(self.starts[c], self.starts[c] + self.n_levels[c])

    @property
    def categorical_index(self) -> np.ndarray:
        parts = [self.level_index(c) for c in range(len(self.starts))]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


class CodedBlock:
    """A block's features: numeric columns as the numeric kernels read them, categorical columns as codes.

    Parameters
    ----------
    numeric : ndarray or ColumnRuns of shape (n_rows, n_numeric)
    codes : list of ndarray of shape (n_rows,)
        One integer array per categorical column, values in ``0..n_levels``.
    layout : CodedLayout
    """

    ndim = 2

    def __init__(self, numeric, codes: list, layout: CodedLayout):
        self.numeric, self.codes, self.layout = numeric, list(codes), layout
        self.shape = (numeric.shape[0], layout.n_features)
        self._table_codes = None

    @property
    def nbytes(self) -> int:
        return int(self.numeric.nbytes) + sum(int(c.nbytes) for c in self.codes)

    def __sizeof__(self) -> int:  # what Dask counts for the block, the table codes once made included
        table = 0 if self._table_codes is None else self._table_codes.nbytes
        return self.nbytes + table + 64 * (2 + len(self.codes))

    def __len__(self) -> int:
        return self.shape[0]

    def take(self, index: np.ndarray) -> CodedBlock:
        """The rows ``index`` (a copy: the numeric columns in their form, the codes as they are)."""
        from ._kernels import take_rows

        return CodedBlock(take_rows(self.numeric, index), [codes[index] for codes in self.codes], self.layout)

    def rows(self, start: int, stop: int) -> CodedBlock:
        """The rows ``start:stop`` (views of the numeric columns and the codes)."""
        from ._kernels import slice_rows

        return CodedBlock(slice_rows(self.numeric, start, stop), [codes[start:stop] for codes in self.codes],
                          self.layout)

    def __array__(self, dtype=None, copy=None):
        """The indicator design (one column per level) as one row-major array: small data in one process is
        fitted on it (``training.DENSE_DESIGN_CELLS``), and tests inspect it; the kernels never build it."""
        out = np.zeros(self.shape, dtype=dtype or np.float64)
        out[:, self.layout.numeric_index] = np.asarray(self.numeric)
        rows = np.arange(self.shape[0])
        for c, codes in enumerate(self.codes):
            seen = codes > 0
            out[rows[seen], self.layout.starts[c] + codes[seen].astype(np.int64) - 1] = 1
        return out

    def table_codes(self) -> np.ndarray:
        """``(n_rows, n_categorical)`` int32: each row's entry, per categorical column, in one table of every
        column's levels (column ``c``'s code plus the levels, reference included, of the columns before it).

        Made on first use and kept with the block: the Hessian's scatter-adds read a row's entries together."""
        if self._table_codes is None:
            table = np.empty((self.shape[0], len(self.codes)), dtype=np.int32)
            offset = 0
            for c, codes in enumerate(self.codes):
                table[:, c] = codes
                table[:, c] += offset
                offset += self.layout.n_levels[c] + 1
            self._table_codes = table
        return self._table_codes

    def aligned(self) -> CodedBlock:
        """Itself, or a copy whose arrays are aligned (arrays arriving from the network may not be)."""
        from ._kernels import _aligned

        numeric, codes = _aligned(self.numeric), [_aligned(c) for c in self.codes]
        unchanged = numeric is self.numeric and all(new is old for new, old in zip(codes, self.codes))
        return self if unchanged else CodedBlock(numeric, codes, self.layout)



# -- the structured Hessian ----------------------------------------------------------------


@dataclass
class _Pairs:
    """The weight of each pair of levels of two categorical columns: a dense table, or its distinct pairs
    (``keys = code_a * (n_b + 1) + code_b`` sorted, with their ``values``)."""

    shape: tuple[int, int]  # (n_a + 1, n_b + 1), the reference's code 0 included
    table: np.ndarray | None = None
    keys: np.ndarray | None = None
    values: np.ndarray | None = None

    @classmethod
    def of(cls, codes_a, codes_b, weights, shape) -> _Pairs:
        keys = codes_a.astype(np.int64) * shape[1] + codes_b
        if shape[0] * shape[1] <= DENSE_PAIR_CELLS:
            return cls(shape, np.bincount(keys, weights=weights, minlength=shape[0] * shape[1]).reshape(shape))
        unique, inverse = np.unique(keys, return_inverse=True)
        return cls(shape, None, unique, np.bincount(inverse, weights=weights, minlength=unique.size))

    def __add__(self, other: _Pairs) -> _Pairs:
        if self.table is not None:
            return _Pairs(self.shape, self.table + other.table)
        keys = np.concatenate([self.keys, other.keys])
        unique, inverse = np.unique(keys, return_inverse=True)
        values = np.bincount(inverse, weights=np.concatenate([self.values, other.values]), minlength=unique.size)
        return _Pairs(self.shape, None, unique, values)

    def levels(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(rows, cols, values)`` of the pairs of two non-reference levels, as level indices ``0..n - 1``."""
        if self.table is not None:
            rows, cols = np.nonzero(self.table[1:, 1:])
            return rows, cols, self.table[1:, 1:][rows, cols]
        rows, cols = np.divmod(self.keys, self.shape[1])
        keep = (rows > 0) & (cols > 0)
        return rows[keep] - 1, cols[keep] - 1, self.values[keep]


@dataclass
class CodedHessian:
    """Sums over rows of ``h`` times the products of a coded block's features, held by structure; ``+`` adds.

    ``numeric`` is the standardized Hessian of the numeric columns and the
    intercept (last), ``(n_numeric + 1, n_numeric + 1)``, as
    :func:`~logreg_dist._kernels.loss_sums` forms it. Per categorical ``c``:
    ``level_sums[c]`` is ``sum h`` by code (``(n_levels + 1,)``, code 0 the
    reference), ``numeric_cross[c]`` is ``sum h (x - mean)`` by code and
    numeric column (``(n_levels + 1, n_numeric)``); ``pairs[(c, d)]`` the weight
    of each pair of levels of ``c < d``. ``mean`` and ``inv_scale`` (all
    features) are the standardization the sums are read with.
    """

    layout: CodedLayout
    mean: np.ndarray
    inv_scale: np.ndarray
    numeric: np.ndarray
    level_sums: list
    numeric_cross: list
    pairs: dict = field(default_factory=dict)

    def __add__(self, other: CodedHessian) -> CodedHessian:
        return replace(
            self,
            numeric=self.numeric + other.numeric,
            level_sums=[a + b for a, b in zip(self.level_sums, other.level_sums)],
            numeric_cross=[a + b for a, b in zip(self.numeric_cross, other.numeric_cross)],
            pairs={key: pair + other.pairs[key] for key, pair in self.pairs.items()},
        )

    @property
    def shift(self) -> np.ndarray:
        """``s m`` of every categorical feature (0 elsewhere), ``(n_features + 1,)``: the centring ``z = u - s m``."""
        shift = np.zeros(self.layout.n_features + 1)
        index = self.layout.categorical_index
        shift[index] = self.inv_scale[index] * self.mean[index]
        return shift

    def uncentred(self) -> np.ndarray:
        """The Hessian sum in the coordinates of uncentred, scaled indicators ``u = s x`` (numeric columns
        centred), intercept last: ``(n_features + 1, n_features + 1)``."""
        return self.blocks(None)[4]

    def blocks(self, big: int | None) -> tuple:
        """``(big_index, rest_index, diagonal, cross, rest)``: the uncentred Hessian sum (see :meth:`uncentred`)
        split into the diagonal block of categorical ``big``'s levels (``diagonal``, ``(n_big,)``), the block of
        every other coordinate, intercept last (``rest``, ``(n_rest, n_rest)``) and their cross terms
        (``cross``, ``(n_rest, n_big)``); ``big=None`` puts every coordinate in ``rest``."""
        layout, p, s = self.layout, self.layout.n_features, self.inv_scale
        big_index = layout.level_index(big) if big is not None else np.zeros(0, dtype=np.int64)
        rest_index = np.setdiff1d(np.arange(p + 1), big_index)
        at = np.full(p + 1, -1)  # coordinate -> its row in rest, or its entry in the diagonal block
        at[rest_index] = np.arange(rest_index.size)
        at[big_index] = np.arange(big_index.size)
        rest = np.zeros((rest_index.size, rest_index.size))
        cross = np.zeros((rest_index.size, big_index.size))
        diagonal = np.zeros(big_index.size)
        num = at[layout.numeric_index]
        rest[np.ix_(np.append(num, at[p]), np.append(num, at[p]))] = self.numeric
        s_num = s[layout.numeric_index]
        for c in range(len(layout.starts)):
            index = layout.level_index(c)
            s_c = s[index]
            weight = self.level_sums[c][1:]
            by_numeric = s_c[:, None] * self.numeric_cross[c][1:] * s_num[None, :]
            if c == big:
                diagonal[:] = s_c * s_c * weight
                cross[at[p], :] = s_c * weight
                cross[num, :] = by_numeric.T
                continue
            rows = at[index]
            rest[rows, rows] = s_c * s_c * weight
            rest[rows, at[p]] = rest[at[p], rows] = s_c * weight
            rest[np.ix_(rows, num)] = by_numeric
            rest[np.ix_(num, rows)] = by_numeric.T
        for (c, d), pair in self.pairs.items():
            rows, cols, values = pair.levels()
            a, b = layout.starts[c] + rows, layout.starts[d] + cols
            values = s[a] * values * s[b]
            if c == big:
                cross[at[b], at[a]] = values
            elif d == big:
                cross[at[a], at[b]] = values
            else:
                rest[at[a], at[b]] = rest[at[b], at[a]] = values
        return big_index, rest_index, diagonal, cross, rest

    def dense(self) -> np.ndarray:
        """The standardized Hessian sum ``(n_features + 1, n_features + 1)``, intercept last, as for a dense block:
        ``M H_u M^T`` with ``M = I - shift e_intercept^T``."""
        out = self.uncentred()
        a = -self.shift
        row = out[-1].copy()
        # a row^T + row a^T + row[-1] a a^T as one rank-2 term u a^T + a u^T, summed with its transpose so the
        # result stays symmetric to the last bit.
        term = np.outer(a, row + 0.5 * row[-1] * a)
        term += term.T.copy()
        out += term
        return out


# -- the kernels ---------------------------------------------------------------------------


def coded_moment_sums(X: CodedBlock, y, sample_weight, *, chunk_rows: int, hessian_every: int = 0):
    """:func:`~logreg_dist._kernels.moment_sums` of a coded block: the numeric columns' from their kernel, each
    level's from the weight of its rows (``mean = W_k / W``, ``m2 = W_k (1 - mean)``, exact).

    The sampled co-moment matrix is the numeric columns' alone: a p x p one over the levels is what codes avoid
    (the first Newton pass computes the Hessian at the start instead); the numeric one finds collinear columns."""
    from ._kernels import MomentSums, _labels, moment_sums

    layout = X.layout
    numeric = moment_sums(X.numeric, y, sample_weight, hessian_every=hessian_every if X.numeric.shape[1] else 0,
                          chunk_rows=chunk_rows)
    p = layout.n_features
    mean, m2 = np.zeros(p), np.zeros(p)
    y_dev = None if numeric.y_dev is None else np.zeros(p)
    mean[layout.numeric_index], m2[layout.numeric_index] = numeric.mean, numeric.m2
    if y_dev is not None:
        y_dev[layout.numeric_index] = numeric.y_dev
    weight = numeric.weight_sum
    if weight > 0.0:
        y = _labels(y)
        y_weight = None if y is None else (y if sample_weight is None else sample_weight * y)
        for c, codes in enumerate(X.codes):
            index, size = layout.level_index(c), layout.n_levels[c] + 1
            level_weight = np.bincount(codes, weights=sample_weight, minlength=size)[1:].astype(np.float64)
            share = level_weight / weight
            mean[index], m2[index] = share, level_weight * (1.0 - share)
            if y_dev is not None:
                y_dev[index] = np.bincount(codes, weights=y_weight, minlength=size)[1:] - share * numeric.y_sum
    return MomentSums(numeric.n_rows, weight, mean, m2, numeric.y_sum, y_dev, numeric.sample_weight_sum,
                      numeric.sample_mean, numeric.sample_comoment)


def coded_loss_sums(X: CodedBlock, y, sample_weight, *, coef, intercept, mean, inv_scale, derivatives, hessian_every,
                    chunk_rows):
    """:func:`~logreg_dist._kernels.loss_sums` of a coded block; ``hess_sum`` is a :class:`CodedHessian`.

    The levels' part of the linear predictor is a gather of their scaled coefficients by code (the
    centring moves into the intercept); the numeric columns go through the numeric kernel with it as an
    offset, which also hands back every row's residual and Hessian weight for the sums by code.
    """
    from ._kernels import LossSums, _layout, _loss_sums, _work

    layout, n_rows, p = X.layout, X.shape[0], X.layout.n_features
    num = layout.numeric_index
    offset = _work("offset", (n_rows,))
    offset.fill(0.0)
    gathered = _work("gathered", (n_rows,))
    centring = 0.0
    for c, codes in enumerate(X.codes):
        index = layout.level_index(c)
        table = np.zeros(layout.n_levels[c] + 1)
        table[1:] = coef[index] * inv_scale[index]
        centring += float(mean[index] @ table[1:])
        offset += np.take(table, codes, out=gathered)
    rows: dict = {}
    cross_table = on_chunk = None
    if derivatives >= 2 and num.size and _layout(X.numeric) == "F":
        # The numeric columns meet the levels in the Hessian's own chunks, as they are summed: no second read.
        cross_table = np.zeros((sum(layout.n_levels) + len(layout.n_levels), num.size))
        on_chunk = functools.partial(_scatter_chunk, table_codes=X.table_codes(), out=cross_table)
    sums = _loss_sums(X.numeric, y, sample_weight, coef[num], intercept - centring, mean[num], inv_scale[num],
                      derivatives, hessian_every, chunk_rows, offset=offset, rows=rows, on_chunk=on_chunk)
    if derivatives == 0:
        return sums
    resid, resid_sum = rows["resid"], float(sums.grad_sum[-1])
    grad = np.zeros(p + 1)
    grad[num], grad[p] = sums.grad_sum[:-1], resid_sum
    for c, codes in enumerate(X.codes):
        index = layout.level_index(c)
        by_level = np.bincount(codes, weights=resid, minlength=layout.n_levels[c] + 1)[1:]
        grad[index] = inv_scale[index] * (by_level - mean[index] * resid_sum)
    if derivatives < 2:
        return LossSums(sums.weight_sum, sums.loss_sum, grad)
    hess = rows["hess"]
    sampled = _sampled_rows(n_rows, chunk_rows, hessian_every)
    h = hess if sampled is None else hess[sampled]
    codes = [c if sampled is None else c[sampled] for c in X.codes]
    sizes = [n + 1 for n in layout.n_levels]
    structured = CodedHessian(
        layout, mean, inv_scale, sums.hess_sum,
        level_sums=[np.bincount(c, weights=h, minlength=size) for c, size in zip(codes, sizes)],
        numeric_cross=(_numeric_cross(X.numeric, X.codes, hess, mean[num], sizes, chunk_rows, hessian_every)
                       if cross_table is None else np.split(cross_table, np.cumsum(sizes)[:-1])),
        pairs={(a, b): _Pairs.of(codes[a], codes[b], h, (sizes[a], sizes[b]))
               for a in range(len(codes)) for b in range(a + 1, len(codes))},
    )
    return LossSums(sums.weight_sum, sums.loss_sum, grad, structured, sums.hess_weight_sum)


def _scatter_chunk(chunk, factors, start: int, *, table_codes, out) -> None:
    """Add a Hessian chunk's rows (centred, scaled by ``factors = sqrt(h)``) to their levels' rows of ``out``."""
    from ._loops import scatter_scaled_rows

    scatter_scaled_rows(chunk, factors, table_codes[start:start + factors.size], out)


def _sampled_rows(n_rows: int, chunk_rows: int, every: int) -> np.ndarray | None:
    """The rows of every ``every``-th chunk (the rows the numeric Hessian sums), or None for all rows."""
    if every <= 1:
        return None
    starts = range(0, n_rows, chunk_rows * every)
    return np.concatenate([np.arange(start, min(start + chunk_rows, n_rows)) for start in starts] + [np.zeros(0, int)])


def _numeric_cross(numeric, codes_list, hess, mean, sizes, chunk_rows: int, every: int) -> list:
    """Per categorical column, ``sum h (x - mean)`` by code (rows) and numeric column over the summed chunks of a
    row-major block (small data, NumPy alone): ``(n_levels + 1, n_numeric)`` each, chunk by chunk as a sparse
    product of the chunk's codes with its centred rows. (A column-major block's come with its Hessian chunks.)"""
    from scipy import sparse

    from ._kernels import _rows_into

    n_rows, n_numeric = numeric.shape
    out = [np.zeros((size, n_numeric)) for size in sizes]
    if n_numeric == 0 or n_rows == 0:
        return out
    buffer = np.empty((min(chunk_rows, n_rows), n_numeric))
    for start in range(0, n_rows, chunk_rows * every):
        stop = min(start + chunk_rows, n_rows)
        rows = _rows_into(numeric, start, stop, buffer[: stop - start])
        rows -= mean
        for codes, size, cross in zip(codes_list, sizes, out):
            indicator = sparse.csr_matrix((hess[start:stop], (codes[start:stop], np.arange(stop - start))),
                                          shape=(size, stop - start))
            cross += indicator @ rows
    return out
