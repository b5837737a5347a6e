"""Compiled loops over the columns of a column-major block: what NumPy cannot do without a float64 copy.

A partition's columns arrive as float32, integers or booleans (see
:class:`~logreg_dist._kernels.ColumnRuns`). NumPy's products of such a column
with float64 coefficients first copy it into float64, and that copy is most of
a gradient pass (bench/README.md has the figures). These loops read each value
in its own dtype and compute in float64, so the sums are the float64 sums,
without the copy.

Every loop reads one column at a time (one memory stream, which the hardware
prefetches) and centres each value on its column's mean as it goes, so no sum
loses digits to cancellation however large a column's mean is against its
spread. Sums run in spans of :data:`SPAN` rows whose partial sums are then
added: the compiler keeps several partial sums per span in vector lanes
(``fastmath`` allows only reassociation and fused multiply-adds: no finite-math
or sign assumptions), and no running total grows over more than a span.
Compiled once per dtype and cached on disk (numba's ``cache=True``).
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = [
    "SPAN", "add_bin_counts", "add_centred_dots_many", "add_centred_products", "add_centred_products_many",
    "add_point_scores", "add_grouped_contributions", "centred_dots", "column_moments", "largest_per_row", "link", "residuals", "scaled_centred_rows", "scatter_scaled_rows",
]

#: Rows summed into one partial sum before it joins the column's total.
SPAN = 4096

_OPTIONS = dict(cache=True, nogil=True, fastmath={"reassoc", "contract"}, error_model="numpy", boundscheck=False)


@njit(**_OPTIONS)
def _column(X, j):
    """Column ``j`` of ``X`` as a contiguous array: itself when it is one (a view), else a copy.

    A row slice of a column-major block (a fold's span, a chunk) has contiguous columns but no contiguous layout as a
    whole; indexed as it is, the compiled loops cannot assume unit strides and ran up to four times slower
    (bench/README.md)."""
    return np.ascontiguousarray(X[:, j])


@njit(**_OPTIONS)
def add_centred_products(X, mean, beta, out):
    """``out += (X - mean) @ beta`` for a column-major ``X`` (columns with ``beta == 0`` skipped).

    Four columns per sweep: ``out`` is read and written once for four columns' products, where one column per sweep
    spent most of its time on ``out`` (half the time on float32 and int32 columns, bench/README.md).
    """
    n_rows = X.shape[0]
    columns = np.flatnonzero(beta != 0.0)
    n_used = columns.shape[0]
    first = 0
    while first + 4 <= n_used:
        j0, j1, j2, j3 = columns[first], columns[first + 1], columns[first + 2], columns[first + 3]
        c0, c1, c2, c3 = _column(X, j0), _column(X, j1), _column(X, j2), _column(X, j3)
        m0, m1, m2, m3 = mean[j0], mean[j1], mean[j2], mean[j3]
        b0, b1, b2, b3 = beta[j0], beta[j1], beta[j2], beta[j3]
        for i in range(n_rows):
            out[i] += ((c0[i] - m0) * b0 + (c1[i] - m1) * b1) + ((c2[i] - m2) * b2 + (c3[i] - m3) * b3)
        first += 4
    for a in range(first, n_used):
        j = columns[a]
        column, m, b = _column(X, j), mean[j], beta[j]
        for i in range(n_rows):
            out[i] += (column[i] - m) * b


@njit(**_OPTIONS)
def centred_dots(X, columns, mean, r, out):
    """``out[a] = sum_i (X[i, j] - mean[j]) * r[i]`` with ``j = columns[a]``, for a column-major ``X``: the columns
    asked for only (a path's passes over its active set)."""
    for a in range(columns.shape[0]):
        j = columns[a]
        out[a] = _centred_dot(_column(X, j), mean[j], r)


@njit(**_OPTIONS)
def _centred_span(X, columns, start, stop, mean, buffer):
    """Rows ``start:stop`` of the ``columns`` of a column-major ``X``, centred, into the rows of ``buffer``."""
    for a in range(columns.shape[0]):
        j = columns[a]
        column, m, row = X[start:stop, j], mean[j], buffer[a]
        for i in range(stop - start):
            row[i] = column[i] - m


@njit(**_OPTIONS)
def add_centred_products_many(X, mean, betas, out):
    """``out[q] += (X - mean) @ betas[q]`` for every model ``q`` (``betas`` is ``(models, columns)``, ``out``
    ``(models, rows)``), for a column-major ``X``; columns whose every ``beta`` is 0 are skipped.

    Rows go in spans of :data:`SPAN`, four columns at a time: each span of a column is read from memory and centred
    once for every model, and the models' spans of ``out`` stay in cache, where one model at a time read the block
    once per model (cross-validation's folds, bench/README.md)."""
    n_rows, n_columns = X.shape
    n_models = betas.shape[0]
    used = np.zeros(n_columns, dtype=np.bool_)
    for q in range(n_models):
        for j in range(n_columns):
            if betas[q, j] != 0.0:
                used[j] = True
    columns = np.flatnonzero(used)
    n_used = columns.shape[0]
    buffer = np.empty((4, SPAN))
    for start in range(0, n_rows, SPAN):
        stop = min(start + SPAN, n_rows)
        for first in range(0, n_used, 4):
            group = columns[first : first + 4]
            _centred_span(X, group, start, stop, mean, buffer)
            x0, x1, x2, x3 = buffer[0], buffer[1], buffer[2], buffer[3]
            for q in range(n_models):
                o = out[q, start:stop]
                if group.shape[0] == 4:
                    b0, b1, b2, b3 = betas[q, group[0]], betas[q, group[1]], betas[q, group[2]], betas[q, group[3]]
                    for i in range(stop - start):
                        o[i] += (x0[i] * b0 + x1[i] * b1) + (x2[i] * b2 + x3[i] * b3)
                else:
                    for a in range(group.shape[0]):
                        b, x = betas[q, group[a]], buffer[a]
                        for i in range(stop - start):
                            o[i] += x[i] * b


@njit(**_OPTIONS)
def add_centred_dots_many(X, columns, mean, R, out):
    """``out[q, a] += sum_i (X[i, j] - mean[j]) * R[q, i]`` with ``j = columns[a]``, for a column-major ``X`` and
    every model ``q`` (a row of ``R``): as :func:`add_centred_products_many`, each span of four columns read and
    centred once for every model, each column's products summed per span of :data:`SPAN` rows."""
    n_rows = X.shape[0]
    n_models = R.shape[0]
    buffer = np.empty((4, SPAN))
    for start in range(0, n_rows, SPAN):
        stop = min(start + SPAN, n_rows)
        for first in range(0, columns.shape[0], 4):
            group = columns[first : first + 4]
            _centred_span(X, group, start, stop, mean, buffer)
            x0, x1, x2, x3 = buffer[0], buffer[1], buffer[2], buffer[3]
            for q in range(n_models):
                r = R[q, start:stop]
                if group.shape[0] == 4:
                    p0 = p1 = p2 = p3 = 0.0
                    for i in range(stop - start):
                        v = r[i]
                        p0 += x0[i] * v
                        p1 += x1[i] * v
                        p2 += x2[i] * v
                        p3 += x3[i] * v
                    out[q, first] += p0
                    out[q, first + 1] += p1
                    out[q, first + 2] += p2
                    out[q, first + 3] += p3
                else:
                    for a in range(group.shape[0]):
                        x = buffer[a]
                        part = 0.0
                        for i in range(stop - start):
                            part += x[i] * r[i]
                        out[q, first + a] += part


@njit(**_OPTIONS)
def _centred_dot(column, m, weights):
    """``sum_i (column[i] - m) * weights[i]``, in spans of :data:`SPAN` rows."""
    total = 0.0
    for start in range(0, column.shape[0], SPAN):
        values = column[start : start + SPAN]
        w = weights[start : start + SPAN]
        part = 0.0
        for i in range(values.shape[0]):
            part += (values[i] - m) * w[i]
        total += part
    return total


@njit(**_OPTIONS)
def scaled_centred_rows(X, columns, start, mean, factors, out, first, cross):
    """Rows ``start:start + len(factors)`` of the ``columns`` of a column-major ``X``, centred and scaled: what
    ``dsyrk`` sums.

    ``out[:, first + a] = (X[start + i, j] - mean[j]) * factors[i]`` with
    ``j = columns[a]``, for the float64 column-major buffer ``out``, and
    ``cross[a] += sum_i out[i, first + a] * factors[i]``: with
    ``factors = sqrt(h)``, the Hessian's cross term ``sum h (x - mean)``. One
    read of each value, in its dtype, where NumPy copies the chunk, centres
    it, scales it and multiplies it again.
    """
    n_rows = factors.shape[0]
    OT = out.T
    for a in range(columns.shape[0]):
        j = columns[a]
        column = _column(X, j)[start : start + n_rows]
        target = OT[first + a, :n_rows]
        m = mean[j]
        total = 0.0
        for i in range(n_rows):
            value = (column[i] - m) * factors[i]
            target[i] = value
            total += value * factors[i]
        cross[a] += total


@njit(**_OPTIONS)
def scatter_scaled_rows(rows, factors, codes, out):
    """``out[codes[i, c]] += factors[i] * rows[i]`` for every row ``i`` of the float64 column-major chunk ``rows``
    and every column ``c`` of ``codes``.

    With the Hessian's chunk (rows centred and scaled by ``sqrt(h)``) and ``factors = sqrt(h)``, the numeric
    columns' cross terms ``sum h (x - mean)`` with the levels of every categorical column at once: ``codes``
    holds each row's entry in one table of all their levels, ``out`` is that table, row-major. A row's values
    are formed once and added to each of its levels' rows as contiguous runs; a column at a time instead reads
    the codes once per column and chains its adds through one entry whenever neighbouring rows share a level.
    """
    n_rows, n_cols = rows.shape
    n_cat = codes.shape[1]
    tile = 32
    values = np.empty((tile, n_cols))
    for first in range(0, n_rows, tile):
        last = min(first + tile, n_rows)
        # A tile of rows is transposed column by column: reading a row of the chunk across its columns touches
        # addresses a chunk's length apart, which alias to one cache set and evict each other.
        for j in range(n_cols):
            for i in range(first, last):
                values[i - first, j] = factors[i] * rows[i, j]
        for i in range(first, last):
            row = values[i - first]
            for c in range(n_cat):
                target = out[codes[i, c]]
                for j in range(n_cols):
                    target[j] += row[j]


@njit(**_OPTIONS)
def _column_sum(column):
    """``sum_i column[i]``, in spans of :data:`SPAN` rows."""
    total = 0.0
    for start in range(0, column.shape[0], SPAN):
        values = column[start : start + SPAN]
        part = 0.0
        for i in range(values.shape[0]):
            part += values[i]
        total += part
    return total


@njit(**_OPTIONS)
def _centred_squares(column, m, weights, weighted):
    total = 0.0
    for start in range(0, column.shape[0], SPAN):
        values = column[start : start + SPAN]
        part = 0.0
        if weighted:
            w = weights[start : start + SPAN]
            for i in range(values.shape[0]):
                d = values[i] - m
                part += d * d * w[i]
        else:
            for i in range(values.shape[0]):
                d = values[i] - m
                part += d * d
        total += part
    return total


@njit(**_OPTIONS)
def column_moments(X, weights, weight_sum, y_weight, mean, m2, y_dev):
    """Per column of a column-major ``X``: the weighted mean, ``sum w (x - mean)**2`` and ``sum y_weight (x - mean)``.

    ``weights`` and ``y_weight`` of length 0 mean "all ones" and "no labels" (``y_dev`` is then left as it is).
    The deviations are taken from the mean of the first pass, so ``sum x**2 - n mean**2`` never cancels.
    """
    n_cols = X.shape[1]
    weighted = weights.shape[0] > 0
    labelled = y_weight.shape[0] > 0
    for j in range(n_cols):
        column = _column(X, j)
        m = (_centred_dot(column, 0.0, weights) if weighted else _column_sum(column)) / weight_sum
        mean[j] = m
        m2[j] = _centred_squares(column, m, weights, weighted)
        if labelled:
            y_dev[j] = _centred_dot(column, m, y_weight)


@njit(**_OPTIONS)
def add_grouped_contributions(X, start, mean, coef, group, out):
    """``out[i, group[j]] += (X[start + i, j] - mean[j]) * coef[j]`` for the rows ``start:start + len(out)`` of a
    column-major ``X`` and a column-major float64 ``out``: each encoded feature's contribution to the log-odds,
    added into its input column's (:mod:`logreg_dist.reasons`)."""
    n_rows = out.shape[0]
    OT = out.T
    for j in range(X.shape[1]):
        b = coef[j]
        m = mean[j]
        column = _column(X, j)[start : start + n_rows]
        target = OT[group[j], :n_rows]
        for i in range(n_rows):
            target[i] += (column[i] - m) * b


@njit(**_OPTIONS)
def largest_per_row(C, sign, index, value):
    """Per row of the column-major ``C``, the ``k = index.shape[1]`` columns with the largest ``sign * C[i, g]``,
    largest first, into ``index`` and ``value`` (``sign * C``); of equal values the lower column comes first.

    Column by column (one memory stream), keeping each row's best ``k`` sorted: a value enters only if it is
    strictly larger than the row's ``k``-th, so a later column never displaces an equal earlier one.
    """
    n_rows, n_cols = C.shape
    k = index.shape[1]
    value[:, :] = -np.inf
    index[:, :] = 0
    CT = C.T
    for g in range(n_cols):
        column = CT[g]
        for i in range(n_rows):
            v = sign * column[i]
            if v > value[i, k - 1]:
                s = k - 1
                while s > 0 and v > value[i, s - 1]:
                    value[i, s] = value[i, s - 1]
                    index[i, s] = index[i, s - 1]
                    s -= 1
                value[i, s] = v
                index[i, s] = g


@njit(cache=True, nogil=True, error_model="numpy", boundscheck=False)  # no fastmath: NaN is a value here
def add_bin_counts(column, cuts, counts):
    """``counts[b] +=`` the values of ``column`` in ``[cuts[b - 1], cuts[b])`` (below ``cuts[0]`` for ``b = 0``, at
    or above ``cuts[-1]`` for ``b = len(cuts)``) and ``counts[-1] +=`` its NaNs, each value compared in float64.

    A span of :data:`SPAN` values is counted against one cut at a time, while it is in the cache: each count is
    a comparison the compiler runs in vector lanes, where finding each value's bin would not be.
    """
    n_cuts, n = cuts.shape[0], column.shape[0]
    present = 0
    for start in range(0, n, SPAN):
        stop = min(start + SPAN, n)
        for i in range(start, stop):
            v = np.float64(column[i])
            present += v == v
        for k in range(n_cuts):
            c = cuts[k]
            above = 0
            for i in range(start, stop):
                above += np.float64(column[i]) >= c
            counts[k] -= above
            counts[k + 1] += above
    counts[0] += present
    counts[n_cuts + 1] += n - present


@njit(cache=True, nogil=True, error_model="numpy", boundscheck=False)
def add_point_scores(etas, y, w, logit_range, loss, loss_sq, positives, negatives):  # pragma: no cover - compiled
    """For each model ``k`` (a row of ``etas``, its linear predictor on these rows): ``loss[k] +=`` the weighted
    log-losses, ``loss_sq[k] +=`` their weighted squares, and each row's weight added to its label's count in the
    bin of its linear predictor (``positives[k]`` or ``negatives[k]``; bins evenly over ``[-logit_range,
    logit_range]``, the ends taking what lies beyond).

    One loop per value, where NumPy made a temporary per step (the loss, then the bins, then a count per model and
    label) and spent most of the path's scoring pass on them (bench/README.md). ``w`` holds the rows' weights.
    The loss is the fit's own, from :func:`link`.
    """
    n_models, n_rows = etas.shape
    n_bins = positives.shape[1]
    width = 2.0 * logit_range
    tail, values, bits = np.empty(n_rows), np.empty(n_rows), np.empty(n_rows, dtype=np.int64)
    for k in range(n_models):
        link(etas[k], y, tail, values, bits)
        total = 0.0
        total_sq = 0.0
        for i in range(n_rows):
            eta = etas[k, i]
            label = y[i]
            weight = w[i]
            value = values[i]
            total += weight * value
            total_sq += weight * value * value
            unit = (min(max(eta, -logit_range), logit_range) + logit_range) / width
            b = min(int(unit * n_bins), n_bins - 1)
            if label != 0.0:
                positives[k, b] += weight * label
            if label != 1.0:
                negatives[k, b] += weight * (1.0 - label)
        loss[k] += total
        loss_sq[k] += total_sq


# -- the link: exp and log1p in vector lanes --------------------------------------------
#
# NumPy's float64 ``exp`` and ``log1p`` run one value at a time on CPUs without AVX-512 (its vector versions need
# it), and they were most of a gradient pass's link. Written as below, with no call into libm, the compiler runs
# them four values per instruction; both are within one unit in the last place of NumPy's (tests/test_kernels.py).
# Compiled without reassociation: the compensated steps must be evaluated as written.

_EXACT = dict(cache=True, nogil=True, fastmath={"contract"}, error_model="numpy", boundscheck=False)

_LOG2E = 1.4426950408889634
#: ln 2 in two parts, the first with trailing zero bits so that ``k * _LN2_HI`` is exact for |k| < 2**11.
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
#: 1.5 * 2**52: a double near it holds an integer in its low bits, so adding it rounds to an integer.
_SHIFTER = 6755399441055744.0
_SHIFTER_BITS = 0x4338000000000000
#: Reciprocal factorials 1/3! ... 1/13!: Taylor's series of exp on |r| <= ln(2)/2 to below half a unit.
_E3, _E4, _E5, _E6 = 1.0 / 6.0, 1.0 / 24.0, 1.0 / 120.0, 1.0 / 720.0
_E7, _E8, _E9, _E10 = 1.0 / 5040.0, 1.0 / 40320.0, 1.0 / 362880.0, 1.0 / 3628800.0
_E11, _E12, _E13 = 1.0 / 39916800.0, 1.0 / 479001600.0, 1.0 / 6227020800.0
#: Below exp(-700) the result is scaled by 2**54 and back, so that 2**k stays a normal number.
_SUBNORMAL_BELOW = 700.0
_UNSCALE = 2.0**-54
#: fdlibm's minimax coefficients of log(1 + f) on [sqrt(2)/2 - 1, sqrt(2) - 1] (Sun Microsystems, 1993).
_LG1, _LG2, _LG3, _LG4 = 6.666666666666735130e-01, 3.999999999940941908e-01, 2.857142874366239149e-01, 2.222219843214978396e-01
_LG5, _LG6, _LG7 = 1.818357216161805012e-01, 1.531383769920937332e-01, 1.479819860511658591e-01
_SQRT2 = 1.4142135623730951


@njit(inline="always", **_EXACT)
def _log1p_unit(t):  # pragma: no cover - compiled
    """``log1p(t)`` for ``0 <= t <= 1``: ``1 + t = 2**k (1 + f)`` with ``k`` 0 or 1, then fdlibm's ``log(1 + f)``;
    ``c`` is what rounding ``1 + t`` lost, added back as ``c / (1 + t)``."""
    u = 1.0 + t
    c = t - (u - 1.0)
    high = u > _SQRT2
    f = 0.5 * u - 1.0 if high else u - 1.0
    k = 1.0 if high else 0.0
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    r = z * (_LG1 + w * (_LG3 + w * (_LG5 + w * _LG7))) + w * (_LG2 + w * (_LG4 + w * _LG6))
    half_square = 0.5 * f * f
    return k * _LN2_HI - ((half_square - (s * (half_square + r) + (k * _LN2_LO + c / u))) - f)


@njit(**_EXACT)
def link(eta, y, tail, loss, bits):  # pragma: no cover - compiled
    """Per row: ``tail = exp(-|eta|)`` and the log-loss ``loss = log1p(tail) + max((1 - 2 y) eta, 0)`` (labels 0
    and 1); ``bits`` is an int64 work array as long. NaN stays NaN.

    ``exp(x) = 2**k exp(r)`` with ``k`` the nearest integer to ``x / ln 2`` and ``|r| <= ln(2) / 2``: ``exp(r)`` by
    its Taylor polynomial, ``2**k`` by writing ``k + 1023`` into a double's exponent bits.
    """
    n = eta.shape[0]
    shifted = bits.view(np.float64)
    for i in range(n):
        x = -abs(eta[i])
        if x < -745.5:  # exp underflows to 0 below about -745.13 anyway
            x = -745.5
        s = x * _LOG2E + _SHIFTER
        k = s - _SHIFTER
        r = (x - k * _LN2_HI) - k * _LN2_LO
        tail[i] = 1.0 + r * (1.0 + r * (0.5 + r * (_E3 + r * (_E4 + r * (_E5 + r * (_E6 + r * (_E7 + r * (_E8 + r * (
            _E9 + r * (_E10 + r * (_E11 + r * (_E12 + r * _E13))))))))))))
        shifted[i] = s
    for i in range(n):
        k = bits[i] - _SHIFTER_BITS
        bits[i] = (k + (54 if abs(eta[i]) > _SUBNORMAL_BELOW else 0) + 1023) << 52
    for i in range(n):
        e = eta[i]
        t = tail[i] * shifted[i]
        if abs(e) > _SUBNORMAL_BELOW:
            t *= _UNSCALE
        tail[i] = t
        margin = (1.0 - 2.0 * y[i]) * e
        loss[i] = _log1p_unit(t) + (margin if margin > 0.0 else 0.0)


@njit(**_EXACT)
def residuals(eta, tail, y, w, resid, hess):  # pragma: no cover - compiled
    """Per row, from :func:`link`'s ``tail``: ``resid = w (p - y)`` and, where ``hess`` is as long as ``eta``,
    ``hess = w p (1 - p)``, with ``p = 1 / (1 + tail)`` where ``eta >= 0``, else ``tail / (1 + tail)`` (no
    cancellation near 0 or 1). ``w`` None weighs every row 1."""
    curvature = hess.shape[0] == eta.shape[0]
    for i in range(eta.shape[0]):
        t = tail[i]
        share = 1.0 / (1.0 + t)
        p = share if eta[i] >= 0.0 else t * share
        weight = 1.0 if w is None else w[i]
        resid[i] = weight * (p - y[i])
        if curvature:
            hess[i] = weight * (t * share * share)


#: Column dtypes the loops are compiled for ahead of use by :func:`warm`.
COMMON_DTYPES = ("float64", "float32", "int64", "int32", "int16", "int8", "uint8", "bool")


def warm(dtypes=COMMON_DTYPES) -> None:
    """Compile the loops for column-major columns of ``dtypes`` (or load them from numba's cache).

    A first use compiles the loops for its dtype (bench/README.md has the
    cost); a container image runs this once when it is built, so that its
    workers start from the cache.
    """
    import numpy as np

    rows = np.ones(3)
    for dtype in dtypes:
        X = np.ones((3, 2), dtype=dtype, order="F")
        # A row span of a block (a fold's rows, see _path.by_fold) is its own type to numba: compiled as well.
        for block in (X, np.ones((4, 2), dtype=dtype, order="F")[1:]):
            add_centred_products(block, np.zeros(2), np.ones(2), np.zeros(3))
            both = np.arange(2)
            centred_dots(block, both, np.zeros(2), rows, np.zeros(2))
            scaled_centred_rows(block, both, 0, np.zeros(2), rows, np.zeros((3, 2), order="F"), 0, np.zeros(2))
        column_moments(X, rows, 3.0, rows, np.zeros(2), np.zeros(2), np.zeros(2))
        # A run of one column is both C- and F-contiguous, its own type to numba; the totals arrive as a run's
        # columns of all models' totals: a strided view, or a contiguous one where the run holds every column.
        for run in (X, np.ones((3, 1), dtype=dtype, order="F")):
            k = run.shape[1]
            add_centred_products_many(run, np.zeros(k), np.ones((2, k)), np.zeros((2, 3)))
            for totals in (np.zeros((2, k + 1))[:, :k], np.zeros((2, k))):
                add_centred_dots_many(run, np.arange(k), np.zeros(k), np.ones((2, 3)), totals)
        group = np.zeros(2, dtype=np.intp)
        add_grouped_contributions(X, 0, np.zeros(2), np.ones(2), group, np.zeros((3, 1), order="F"))
        add_bin_counts(np.ones(3, dtype=dtype), np.zeros(2), np.zeros(4, dtype=np.int64))
    largest_per_row(np.zeros((3, 2), order="F"), 1.0, np.zeros((3, 1), dtype=np.intp), np.zeros((3, 1)))
    add_point_scores(np.zeros((1, 3)), rows, rows, 1.0, np.zeros(1), np.zeros(1), np.zeros((1, 2)), np.zeros((1, 2)))
    scatter_scaled_rows(np.zeros((3, 2), order="F"), rows, np.zeros((3, 1), dtype=np.int32), np.zeros((1, 2)))
    link(rows, rows, np.zeros(3), np.zeros(3), np.zeros(3, dtype=np.int64))
    for weights in (None, rows):
        for curvature in (np.zeros(0), np.zeros(3)):
            residuals(rows, rows, rows, weights, np.zeros(3), curvature)


if __name__ == "__main__":  # ``python -m logreg_dist._loops``: what the container image runs when it is built
    from logreg_dist._loops import warm as _warm  # the package's module, so that the cache is the one workers load

    _warm()
