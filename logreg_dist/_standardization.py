"""The standardization: how the features are scaled for the fit, and how the fit maps back to them.

It decides which columns are fitted: a column whose spread is 0, or at most
1e-12 of its mean's size, is constant, and its coefficient is held at 0.
The others are fitted as ``z = (x - mean) / scale``. Coefficients, their
covariance and their standard errors return to the original scale through
the functions here, which return values and set nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg

from ._schur import SchurHessian

__all__ = ["Coefficients", "Standardization", "Uncertainty", "coefficients", "uncertainty"]


@dataclass(frozen=True, eq=False)
class Standardization:
    """Each feature's mean and scale from the moments pass, which columns are fitted, and how each is penalized.

    ``scale`` is 1 and ``inv_scale`` 0 where a column is constant (not ``active``). ``penalty`` weighs each
    standardized coefficient in the L1 term (its square in the ridge term): 1 for a numeric column, whose
    standardized coefficient is penalized; ``inv_scale`` for a level of a categorical column, whose own
    coefficient (the level's shift in log-odds from the reference) is penalized, as H2O does. A level's
    indicator of frequency ``f`` has a standard deviation of ``sqrt(f (1 - f))``: penalized on the standardized
    scale, a level seen once in 900 rows would cost 30 times less in the L1 term than a unit-variance column (900
    times less in the ridge term), and the noise of rare levels would enter the model before the real features'
    full effects (bench/README.md, "noise"). Boolean inputs and ``__missing`` indicators are 0/1 columns too, but
    inputs the user gave as numbers: they keep the standardized penalty, as H2O keeps it for numeric columns.
    """

    mean: np.ndarray
    scale: np.ndarray
    inv_scale: np.ndarray
    active: np.ndarray
    penalty: np.ndarray

    @classmethod
    def from_moments(cls, moments, *, levels: np.ndarray | None = None) -> Standardization:
        """``levels`` marks the features that are levels of a categorical column (one-hot indicators)."""
        scale = np.sqrt(moments.variance)
        constant = (scale == 0) | (scale <= 1e-12 * np.abs(moments.mean))
        scale = np.where(constant, 1.0, scale)
        inv_scale = np.where(constant, 0.0, 1.0 / scale)
        penalty = np.ones(scale.size)
        if levels is not None:
            penalty = np.where(np.asarray(levels, dtype=bool) & ~constant, inv_scale, 1.0)
        return cls(moments.mean, scale, inv_scale, ~constant, penalty)


@dataclass(frozen=True, eq=False)
class Coefficients:
    """A solution on both scales: standardized (what the solver sees) and original."""

    coef_standardized: np.ndarray  # (n_features,), 0 for constant columns
    intercept_standardized: float
    coef: np.ndarray  # (n_features,)
    intercept: float


def coefficients(theta: np.ndarray, scaling: Standardization) -> Coefficients:
    """The coefficients of ``theta = (standardized active coefficients, standardized intercept)`` on both scales."""
    coef_std = np.zeros(scaling.active.size)
    coef_std[scaling.active] = theta[:-1]
    intercept_std = float(theta[-1])
    coef = coef_std * scaling.inv_scale
    return Coefficients(coef_std, intercept_std, coef, intercept_std - float(scaling.mean @ coef))


@dataclass(frozen=True, eq=False)
class Uncertainty:
    """Covariance and standard errors of ``(coef, intercept)`` on the original scale."""

    covariance: np.ndarray | None  # (n_features + 1, n_features + 1), intercept last; None for a structured Hessian
    std_errors: np.ndarray  # (1, n_features)
    intercept_std_error: np.ndarray  # (1,)


def uncertainty(hess, *, weight_sum: float, scaling: Standardization, singular: bool = False,
                zero: np.ndarray | None = None) -> Uncertainty:
    """Covariance of ``(coef, intercept)`` from the Hessian of the mean objective at the optimum.

    It is the inverse of ``weight_sum * hess``: the usual maximum-likelihood
    covariance when ``l2 = 0`` (frequency weights), and the inverse of the
    penalized Hessian, an approximation, when ``l2 > 0``. NaN where not
    defined: constant columns, or every entry when the Hessian is missing,
    ``singular`` or not positive definite. ``zero`` marks parameters an L1
    penalty holds at 0: they get NaN, and the others' covariance is that of
    the model with those columns left out. A Hessian held by structure
    (:class:`~._schur.SchurHessian`) gives standard errors only.
    """
    if isinstance(hess, SchurHessian):
        result = _structured_std_errors(hess, weight_sum, scaling)
        if zero is not None:
            result.std_errors[0, np.flatnonzero(scaling.active)[zero[:-1]]] = np.nan
        return result
    active, inv_scale, mean = scaling.active, scaling.inv_scale, scaling.mean
    n_features = active.size
    covariance = np.full((n_features + 1, n_features + 1), np.nan)
    if hess is not None and not singular:
        keep = np.ones(hess.shape[0], dtype=bool) if zero is None else ~zero
        cov_std = _inverse(hess[np.ix_(keep, keep)] * weight_sum)
        if cov_std is not None:
            # theta = (standardized active coefs, standardized intercept) -> original scale: the Jacobian is
            # diag(d) + e_intercept v^T, so J C J^T = D C D plus the intercept's row and column, in O(p^2).
            index = np.flatnonzero(active)[keep[:-1]]
            d = np.append(inv_scale[index], 1.0)
            v = np.append(-mean[index] * inv_scale[index], 0.0)
            c_v = cov_std @ v
            out = cov_std * np.outer(d, d)  # d_i d_j, not (c_ij d_i) d_j: symmetric to the last bit
            out[:, -1] += d * c_v
            out[-1, :] += c_v * d
            out[-1, -1] += float(v @ c_v)
            full = np.append(index, n_features)
            covariance[np.ix_(full, full)] = out
    variances = np.diag(covariance)
    return Uncertainty(covariance, np.sqrt(variances[:-1])[None, :], np.sqrt(variances[-1:]))


def _inverse(matrix: np.ndarray) -> np.ndarray | None:
    """The inverse of a symmetric positive definite matrix from its Cholesky factor (LAPACK ``potri``); None
    when it is not positive definite."""
    try:
        factor, lower = linalg.cho_factor(matrix)
    except linalg.LinAlgError:
        return None
    inverse, info = linalg.lapack.dpotri(factor, lower=lower)
    if info != 0:
        return None
    # potri fills one triangle: mirror it, so the covariance is symmetric to the last bit.
    return np.tril(inverse) + np.tril(inverse, -1).T if lower else np.triu(inverse) + np.triu(inverse, 1).T


def _structured_std_errors(hess: SchurHessian, weight_sum: float, scaling: Standardization) -> Uncertainty:
    """Standard errors from a Hessian held by structure: the diagonal of its inverse (exact, from its
    factorization), and the intercept's variance from one solve; no covariance (p x p is what the structure avoids)."""
    active, inv_scale, mean = scaling.active, scaling.inv_scale, scaling.mean
    index = np.flatnonzero(active)
    variances = np.full(active.size, np.nan)
    if hess.well_conditioned(1e-12):
        variances[index] = hess.inverse_diagonal() * inv_scale[index] ** 2 / weight_sum
        # intercept_ = theta_intercept - sum_j mean_j inv_scale_j theta_j
        direction = np.append(-mean[index] * inv_scale[index], 1.0)
        intercept_variance = float(direction @ hess.solve(direction)) / weight_sum
    else:
        intercept_variance = np.nan
    return Uncertainty(None, np.sqrt(variances)[None, :], np.sqrt([intercept_variance]))
