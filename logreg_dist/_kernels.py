"""Block kernels: sums of the logistic loss, its gradient and Hessian over one block of rows.

Everything here is NumPy and SciPy and sees one block (a partition) at a time.
Every kernel returns *sums*, never means, so that the results of any split of
the rows add up to the result on the whole: the engine adds them, the
objective divides once.

Standardization happens inside the kernels, a few thousand rows at a time:
the stored block keeps its raw values (float64 or float32), and each row chunk
is centered and scaled into a small float64 buffer before it is used. The
centered form keeps the Hessian free of the cancellation that the expanded
formula ``X.T W X - n m m.T`` suffers when a column's mean is large against its
standard deviation.

Shapes: ``X`` is ``(n_rows, n_features)``; ``y`` holds 0.0/1.0, ``(n_rows,)``;
``sample_weight`` is ``(n_rows,)`` or None; ``coef``, ``mean`` and
``inv_scale`` are ``(n_features,)``. Gradients and Hessians carry the
intercept as their last entry, its own block: no column of ones is appended.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg.blas import dsyrk
from scipy.special import expit

__all__ = ["LossSums", "MomentSums", "loss_sums", "moment_sums"]

#: Rows standardized at a time: the float64 buffer stays in cache (~2.7 MB at 85 features).
CHUNK_ROWS = 4096


@dataclass(frozen=True)
class MomentSums:
    """Weighted first and second moments of the feature columns of some rows.

    ``mean`` is the weighted mean and ``m2`` the weighted sum of squared
    deviations from it; two of them combine exactly (Chan, Golub and LeVeque's
    pairwise update), so the result does not depend on how rows are split.
    """

    n_rows: int
    weight_sum: float
    mean: np.ndarray  # (n_features,)
    m2: np.ndarray  # (n_features,)
    y_sum: float = 0.0  # weighted count of positive rows

    def __add__(self, other: MomentSums) -> MomentSums:
        weight_sum = self.weight_sum + other.weight_sum
        n_rows, y_sum = self.n_rows + other.n_rows, self.y_sum + other.y_sum
        if other.weight_sum == 0.0:
            return MomentSums(n_rows, weight_sum, self.mean, self.m2, y_sum)
        if self.weight_sum == 0.0:
            return MomentSums(n_rows, weight_sum, other.mean, other.m2, y_sum)
        delta = other.mean - self.mean
        share = other.weight_sum / weight_sum
        mean = self.mean + delta * share
        m2 = self.m2 + other.m2 + delta**2 * self.weight_sum * share
        return MomentSums(n_rows, weight_sum, mean, m2, y_sum)

    @property
    def variance(self) -> np.ndarray:
        """Population (weighted) variance of each column."""
        if self.weight_sum == 0.0:
            return np.zeros_like(self.m2)
        return self.m2 / self.weight_sum


@dataclass(frozen=True)
class LossSums:
    """Sums over some rows of the weighted log-loss and its derivatives.

    ``grad_sum`` has ``n_features + 1`` entries and ``hess_sum`` is square of
    that size, the intercept last; either is None when it was not asked for.
    """

    weight_sum: float
    loss_sum: float
    grad_sum: np.ndarray | None = None
    hess_sum: np.ndarray | None = None

    def __add__(self, other: LossSums) -> LossSums:
        return LossSums(
            self.weight_sum + other.weight_sum,
            self.loss_sum + other.loss_sum,
            None if self.grad_sum is None else self.grad_sum + other.grad_sum,
            None if self.hess_sum is None else self.hess_sum + other.hess_sum,
        )


def moment_sums(X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None) -> MomentSums:
    """Weighted mean and sum of squared deviations of each column of ``X``.

    Also the weighted sum of ``y`` (the positives), from which the solver
    starts at the intercept-only optimum.
    """
    n_rows, n_features = X.shape
    y_sum = 0.0 if y is None else float(y.sum() if sample_weight is None else sample_weight @ y)
    if n_rows == 0:
        zeros = np.zeros(n_features)
        return MomentSums(0, 0.0, zeros, zeros.copy())
    if sample_weight is None:
        weight_sum = float(n_rows)
        mean = X.mean(axis=0, dtype=np.float64)
        m2 = ((X - mean) ** 2).sum(axis=0)
    else:
        weight_sum = float(sample_weight.sum())
        if weight_sum == 0.0:
            zeros = np.zeros(n_features)
            return MomentSums(n_rows, 0.0, zeros, zeros.copy())
        mean = (sample_weight @ X) / weight_sum
        m2 = sample_weight @ ((X - mean) ** 2)
    return MomentSums(n_rows, weight_sum, np.asarray(mean, dtype=np.float64), np.asarray(m2, dtype=np.float64), y_sum)


#: The uncentred gradient pass loses about ``eps * |mean| / std`` of the gradient; beyond this ratio centre.
UNCENTRED_MAX_OFFSET = 1e2


def loss_sums(
    X: np.ndarray,
    y: np.ndarray,
    sample_weight: np.ndarray | None,
    *,
    coef: np.ndarray,
    intercept: float,
    mean: np.ndarray,
    inv_scale: np.ndarray,
    order: int = 2,
    chunk_rows: int = CHUNK_ROWS,
) -> LossSums:
    """Loss sum (order 0), plus gradient sum (1), plus Hessian sum (2) of one block.

    The linear predictor of row ``i`` is
    ``eta_i = intercept + sum_j (X_ij - mean_j) * inv_scale_j * coef_j``,
    so ``coef`` lives on the standardized scale; a column with
    ``inv_scale_j == 0`` (a constant one) contributes nothing. The loss of a
    row is ``log(1 + exp(eta)) - y * eta``, computed as
    ``log1p(exp(-|eta|))``-style softplus so that margins of any size neither
    overflow nor lose digits.

    Returns
    -------
    LossSums
        ``grad_sum`` is ``(n_features + 1,)`` and ``hess_sum``
        ``(n_features + 1, n_features + 1)``, derivatives with respect to
        ``(coef, intercept)``.
    """
    n_rows, n_features = X.shape
    weight_sum = float(n_rows) if sample_weight is None else float(sample_weight.sum())
    if order <= 1 and np.max(np.abs(mean) * inv_scale, initial=0.0) <= UNCENTRED_MAX_OFFSET:
        return _loss_grad_sums(X, y, sample_weight, weight_sum, coef, intercept, mean, inv_scale, order, 8 * chunk_rows)
    loss_sum = 0.0
    grad_sum = np.zeros(n_features + 1) if order >= 1 else None
    # Fortran order: dsyrk updates its upper triangle in place.
    gram = np.zeros((n_features, n_features), order="F") if order >= 2 else None
    hess_cross = np.zeros(n_features) if order >= 2 else None
    hess_intercept = 0.0
    buffer = np.empty((min(chunk_rows, n_rows), n_features))

    for start in range(0, n_rows, chunk_rows):
        stop = min(start + chunk_rows, n_rows)
        Z = buffer[: stop - start]
        np.subtract(X[start:stop], mean, out=Z)
        Z *= inv_scale
        eta = Z @ coef
        eta += intercept
        y_rows = y[start:stop]
        w_rows = None if sample_weight is None else sample_weight[start:stop]
        loss_sum += _loss_sum(eta, y_rows, w_rows)
        if order == 0:
            continue

        prob_rows = expit(eta)
        resid_rows = _residuals(prob_rows, y_rows, w_rows)
        grad_sum[:n_features] += resid_rows @ Z
        grad_sum[n_features] += resid_rows.sum()
        if order == 1:
            continue

        # p (1 - p) written as expit(eta) * expit(-eta): no cancellation near 0 or 1.
        hess_rows = prob_rows * expit(-eta)
        if w_rows is not None:
            hess_rows *= w_rows
        hess_cross += hess_rows @ Z
        hess_intercept += float(hess_rows.sum())
        Z *= np.sqrt(hess_rows)[:, None]
        # Z is C-ordered (rows x features), i.e. Z.T is Fortran-ordered: gram += Z.T @ Z.
        gram = dsyrk(1.0, Z.T, beta=1.0, c=gram, trans=0, lower=0, overwrite_c=1)

    hess_sum = None
    if order >= 2:
        hess_sum = np.empty((n_features + 1, n_features + 1))
        upper = np.triu(gram)
        hess_sum[:n_features, :n_features] = upper + np.triu(gram, 1).T
        hess_sum[:n_features, n_features] = hess_cross
        hess_sum[n_features, :n_features] = hess_cross
        hess_sum[n_features, n_features] = hess_intercept
    return LossSums(weight_sum, loss_sum, grad_sum, hess_sum)


def _loss_grad_sums(X, y, sample_weight, weight_sum, coef, intercept, mean, inv_scale, order, chunk_rows) -> LossSums:
    """Loss (and gradient) sums without forming the standardized rows.

    With ``beta = coef * inv_scale`` and ``offset = intercept - mean . beta``,
    ``eta = X @ beta + offset`` and the standardized gradient is
    ``inv_scale * (X.T @ r - mean * sum(r))``: two matrix-vector products per
    chunk instead of a centred copy. The subtraction loses at most
    ``eps * |mean| * sum|r|`` per column, far below the solver's tolerance once
    divided by the weight sum.
    """
    n_features = X.shape[1]
    beta = coef * inv_scale
    offset = intercept - float(mean @ beta)
    loss_sum, resid_sum = 0.0, 0.0
    cross = np.zeros(n_features)
    for start in range(0, X.shape[0], chunk_rows):
        stop = min(start + chunk_rows, X.shape[0])
        X_rows = X[start:stop]
        eta = X_rows @ beta
        eta += offset
        y_rows = y[start:stop]
        w_rows = None if sample_weight is None else sample_weight[start:stop]
        loss_sum += _loss_sum(eta, y_rows, w_rows)
        if order == 0:
            continue
        resid_rows = _residuals(expit(eta), y_rows, w_rows)
        cross += resid_rows @ X_rows
        resid_sum += float(resid_rows.sum())
    grad_sum = None
    if order == 1:
        grad_sum = np.empty(n_features + 1)
        grad_sum[:n_features] = inv_scale * (cross - mean * resid_sum)
        grad_sum[n_features] = resid_sum
    return LossSums(weight_sum, loss_sum, grad_sum)


def _loss_sum(eta: np.ndarray, y_rows: np.ndarray, w_rows: np.ndarray | None) -> float:
    """Weighted sum of the rows' log-loss, softplus((1 - 2y) * eta): stable for any eta."""
    loss_rows = np.logaddexp(0.0, (1.0 - 2.0 * y_rows) * eta)
    return float(loss_rows.sum() if w_rows is None else w_rows @ loss_rows)


def _residuals(prob_rows: np.ndarray, y_rows: np.ndarray, w_rows: np.ndarray | None) -> np.ndarray:
    """Weighted ``p - y`` per row (a new array)."""
    resid_rows = prob_rows - y_rows
    if w_rows is not None:
        resid_rows *= w_rows
    return resid_rows
