"""The oracle: the penalized mean log-loss of the standardized problem, from reduced sums.

The solvers see only this object. Its parameter vector is
``theta = (coef_standardized[active], intercept)``; inactive (constant)
columns are held at 0 and never reach the solver.

Objective, with ``z_i`` the standardized features of row ``i`` and weights ``w_i``::

    f(theta) = sum_i w_i * logloss(y_i, intercept + z_i . coef) / sum_i w_i
               + (l2 / 2) * sum_j (penalty_j * coef_j)^2

The intercept is not penalized. At the intercept-only model the loss,
gradient and Hessian follow from the moments pass (:func:`intercept_only`):
the solvers take them as their start, so their first pass is saved.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._kernels import LossSums, loss_sums
from ._schur import SchurHessian
from ._solvers import Start

__all__ = ["Objective", "intercept_only", "intercept_only_start"]

#: A problem with categorical columns held as codes and more features than this gets its Hessian by structure
#: (:class:`~._schur.SchurHessian`: the largest column's diagonal block eliminated); up to it, as a dense matrix.
DENSE_HESSIAN_MAX_FEATURES = 3000


@dataclass
class PassCounter:
    """How many passes over the data each kind of evaluation made."""

    loss: int = 0
    gradient: int = 0
    hessian: int = 0
    #: Hessian passes that summed the Hessian over a sample of the rows (counted in ``hessian`` too).
    sampled_hessian: int = 0
    #: Gradient and Hessian passes that summed a part of the parameters' entries (counted in those too).
    restricted: int = 0

    @property
    def total(self) -> int:
        return self.loss + self.gradient + self.hessian


#: How far one Newton step may move a row's log-odds through one 0/1 column (a level's indicator, a flag).
MAX_INDICATOR_STEP = 4.0


def _step_limit(mean: np.ndarray, inv_scale: np.ndarray) -> np.ndarray | None:
    """Per parameter, the largest step Newton takes in it (see :func:`~._solvers._within_limit`): for a 0/1
    column, the step that moves a row's log-odds by :data:`MAX_INDICATOR_STEP`; unlimited for the others and
    the intercept. A column is 0/1 when its variance is ``mean (1 - mean)``, which among columns in [0, 1]
    only 0/1 columns reach (the standardization knows no more of the data); a column taken for 0/1 wrongly
    costs passes, never the answer, since convergence is judged on the gradient alone."""
    variance = np.divide(1.0, inv_scale * inv_scale, out=np.zeros_like(inv_scale), where=inv_scale > 0)
    bernoulli = mean * (1.0 - mean)
    binary = (bernoulli > 0) & (np.abs(variance - bernoulli) <= 1e-9 * bernoulli)
    if not binary.any():
        return None
    reach = np.maximum(mean, 1.0 - mean) * inv_scale  # the largest |z| of a 0/1 column
    limit = np.full(mean.size + 1, np.inf)
    limit[:-1][binary] = MAX_INDICATOR_STEP / reach[binary]
    return limit


class Objective:
    """Penalized mean log-loss evaluated by an engine, one pass per call.

    Parameters
    ----------
    engine : LocalEngine or DaskEngine
        Maps :func:`loss_sums` over the blocks and adds the results.
    mean, inv_scale : ndarray of shape (n_features,)
        Standardization; ``inv_scale`` is 0 for constant columns.
    active : ndarray of bool, shape (n_features,)
        Columns whose coefficient is fitted.
    l2 : float
        Penalty on the standardized coefficients (each weighted by ``penalty``).
    penalty : ndarray of shape (n_features,), optional
        Each standardized coefficient's weight in the penalty (see
        :class:`~._standardization.Standardization`); 1 for every one if None.
    hessian_every : int, default=1
        A sampled Hessian (``loss_grad_hess(theta, sampled=True)``) sums the
        rows of every ``hessian_every``-th chunk of each block; 1 means the
        sampled Hessian is the full one.
    weight_sum : float, default=nan
        The sum of the weights until a pass gives its own (the moments' sum,
        for a solver that starts from values known without a pass).
    """

    def __init__(
        self, engine, *, mean: np.ndarray, inv_scale: np.ndarray, active: np.ndarray, l2: float,
        penalty: np.ndarray | None = None, hessian_every: int = 1, weight_sum: float = float("nan"),
    ):
        self.engine = engine
        self.mean = np.asarray(mean, dtype=np.float64)
        self.inv_scale = np.asarray(inv_scale, dtype=np.float64)
        self.active = np.asarray(active, dtype=bool)
        self.l2 = float(l2)
        self.hessian_every = int(hessian_every)
        self.passes = PassCounter()
        self.weight_sum = float(weight_sum)  # of the last pass
        # Indices of theta within the full (coef, intercept) vector.
        self._index = np.append(np.flatnonzero(self.active), self.active.size)
        weights = np.ones(self.active.size) if penalty is None else np.asarray(penalty, dtype=np.float64)
        self._ridge_weights = np.append(weights[self.active] ** 2, 0.0)  # each parameter's weight in the ridge term
        self.step_limit = _step_limit(self.mean[self.active], self.inv_scale[self.active])

    @property
    def n_params(self) -> int:
        return self._index.size

    def full_coef(self, theta: np.ndarray) -> tuple[np.ndarray, float]:
        """Standardized coefficients of every column (0 for inactive ones) and the intercept."""
        coef = np.zeros(self.active.size)
        coef[self.active] = theta[:-1]
        return coef, float(theta[-1])

    def _sums(self, theta: np.ndarray, derivatives: int, hessian_every: int = 1, restrict=None) -> LossSums:
        coef, intercept = self.full_coef(theta)
        part = {}
        if restrict is not None:
            self.passes.restricted += 1
            part["columns"] = self._index[:-1][np.asarray(restrict, dtype=bool)[:-1]]
        sums = self.engine.map_reduce(
            loss_sums,
            coef=coef,
            intercept=intercept,
            mean=self.mean,
            inv_scale=self.inv_scale,
            derivatives=derivatives,
            hessian_every=hessian_every,
            **part,
        )
        if sums.weight_sum <= 0.0:
            raise ValueError("the sample weights sum to 0: there is nothing to fit.")
        self.weight_sum = sums.weight_sum
        return sums

    def _penalty(self, theta: np.ndarray) -> float:
        return 0.5 * self.l2 * float(self._ridge_weights @ (theta * theta))

    def loss(self, theta: np.ndarray) -> float:
        """Objective value only (the cheapest pass)."""
        self.passes.loss += 1
        sums = self._sums(theta, 0)
        return sums.loss_sum / sums.weight_sum + self._penalty(theta)

    def loss_grad(self, theta: np.ndarray, *, restrict: np.ndarray | None = None) -> tuple[float, np.ndarray]:
        """Objective and gradient, shape (n_params,).

        ``restrict``, a boolean mask of the parameters, asks for those entries only (the intercept's always
        comes): the pass may skip the others' columns, and their entries are then not to be used.
        """
        self.passes.gradient += 1
        sums = self._sums(theta, 1, restrict=restrict)
        grad = sums.grad_sum[self._index] / sums.weight_sum + self.l2 * self._ridge_weights * theta
        return sums.loss_sum / sums.weight_sum + self._penalty(theta), grad

    def loss_grad_hess(self, theta: np.ndarray, *, sampled: bool = False,
                       restrict: np.ndarray | None = None) -> tuple[float, np.ndarray, np.ndarray]:
        """Objective, gradient and Hessian, shape (n_params, n_params), in one pass (``restrict`` as for
        :meth:`loss_grad`: the Hessian's rows and columns of the others are then not to be used either).

        The Hessian is an array, or a :class:`~._schur.SchurHessian` for a
        coded problem wider than :data:`DENSE_HESSIAN_MAX_FEATURES`.

        The objective and gradient are always exact. With ``sampled=True`` the
        Hessian is the mean over every ``hessian_every``-th chunk of rows: an
        estimate that costs that fraction of the Hessian's arithmetic.
        """
        every = self.hessian_every if sampled else 1
        self.passes.hessian += 1
        self.passes.sampled_hessian += every > 1
        sums = self._sums(theta, 2, every, restrict)
        if every > 1 and sums.hess_weight_sum <= 0.0:  # the sampled chunks carry no weight: sum them all
            self.passes.sampled_hessian -= 1
            self.passes.restricted -= restrict is not None
            sums = self._sums(theta, 2, restrict=restrict)
        grad = sums.grad_sum[self._index] / sums.weight_sum + self.l2 * self._ridge_weights * theta
        loss = sums.loss_sum / sums.weight_sum + self._penalty(theta)
        if not isinstance(sums.hess_sum, np.ndarray) and self.active.size > DENSE_HESSIAN_MAX_FEATURES:
            ridge = np.zeros(self.active.size)
            ridge[self.active] = self.l2 * self._ridge_weights[:-1]
            hess = SchurHessian(sums.hess_sum, weight_sum=sums.hess_weight_sum, l2=ridge, active=self.active)
            return loss, grad, hess
        hess_sum = sums.hess_sum if isinstance(sums.hess_sum, np.ndarray) else sums.hess_sum.dense()
        hess = hess_sum[np.ix_(self._index, self._index)] / sums.hess_weight_sum
        hess[np.diag_indices_from(hess)] += self.l2 * self._ridge_weights
        return loss, grad, hess


def intercept_only(moments, theta0: np.ndarray, *, rate: float, inv_scale: np.ndarray,
                   active: np.ndarray) -> tuple | None:
    """``(loss, grad, hess)`` of the unpenalized mean log-loss at the intercept-only model ``theta0``, from the
    moments pass (no pass of their own); None without the co-moments (categorical columns held as codes).

    There every row has the probability ``rate``, so the mean loss is
    ``softplus(b0) - rate * b0``, the gradient is ``-inv_scale * y_dev / W``
    (the intercept's is 0), and the Hessian is ``rate * (1 - rate)`` times
    the standardized co-moment matrix, with the intercept as a column of
    ones: of the sampled chunks when ``hessian_every > 1``, an estimate.
    """
    if moments.y_dev is None or moments.sample_comoment is None or moments.sample_comoment.shape != (active.size,) * 2:
        return None  # no co-moments, or a block of codes' numeric ones only
    index = np.flatnonzero(active)
    inv = inv_scale[index]
    weight = moments.weight_sum
    intercept = float(theta0[-1])
    loss = float(np.logaddexp(0.0, intercept)) - rate * intercept
    grad = np.zeros(index.size + 1)
    grad[:-1] = -inv * moments.y_dev[index] / weight
    shift = moments.sample_mean - moments.mean
    comoment = (moments.sample_comoment + moments.sample_weight_sum * np.outer(shift, shift)) / moments.sample_weight_sum
    curvature = rate * (1.0 - rate)
    hess = np.empty((index.size + 1, index.size + 1))
    hess[:-1, :-1] = curvature * comoment[np.ix_(index, index)] * np.outer(inv, inv)
    hess[:-1, -1] = hess[-1, :-1] = curvature * inv * shift[index]
    hess[-1, -1] = curvature
    return loss, grad, hess


def intercept_only_start(moments, theta0: np.ndarray, *, rate: float, inv_scale: np.ndarray, active: np.ndarray,
                         l2, hessian_every: int) -> Start | None:
    """Newton's and L-BFGS's :class:`~._solvers.Start`: :func:`intercept_only` with the ridge ``l2`` (a number, or
    one per active feature) on the Hessian, sampled where ``hessian_every > 1``; None without the co-moments."""
    values = intercept_only(moments, theta0, rate=rate, inv_scale=inv_scale, active=active)
    if values is None:
        return None
    loss, grad, hess = values
    hess[np.diag_indices(hess.shape[0] - 1)] += l2
    return Start(loss, grad, hess, sampled=hessian_every > 1)
