"""The ridge fit: Newton or L-BFGS on the ``l2``-penalized problem, from the intercept-only start or a checkpoint.

It decides where the solver starts (the last iterate of a checkpoint of the
same problem, else the intercept-only optimum with its values from the
moments pass) and what the solver could not settle is worth a warning
(collinear columns, no convergence). It returns a record; the estimator
copies it into its attributes and removes the checkpoint once all is done.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import numpy as np

from ._checkpoint import _Checkpoint, _fingerprint
from ._objective import Objective, intercept_only_start
from ._solvers import SOLVERS, SolverResult
from ._standardization import Standardization
from .exceptions import CollinearityWarning, ConvergenceWarning, column_groups

__all__ = ["RidgeFit", "fit_ridge"]

logger = logging.getLogger("logreg_dist")


@dataclass(frozen=True, eq=False)
class RidgeFit:
    """The solution, the oracle it was solved with, the solver, and the checkpoint to remove when all is done.

    It answers what :class:`~._penalty.ElasticNetFit` answers, so that the estimator reads either alike.
    """

    result: SolverResult
    objective: Objective
    solver: str  # "newton" or "lbfgs"
    alpha: float  # the l2
    checkpoint: _Checkpoint
    l1_ratio = 0.0
    path = None

    @property
    def resumed_from(self) -> int | None:
        """The checkpoint's iteration the fit resumed from, or None."""
        return self.checkpoint.offset or None

    @property
    def n_passes(self) -> int:
        """Passes over the data so far, the moments pass included (read after the standard errors: theirs counts)."""
        return self.objective.passes.total + 1


def fit_ridge(rows, moments, scaling: Standardization, *, l2: float, solver: str, tol: float, max_iter: int,
              hessian_every: int, checkpoint: str | None, callback=None) -> RidgeFit:
    """Solve with ``solver`` (``"newton"`` or ``"lbfgs"``); warns about collinear columns and no convergence."""
    names, active = rows.feature_names, scaling.active
    objective = Objective(rows.engine, mean=moments.mean, inv_scale=scaling.inv_scale, active=active, l2=l2,
                          penalty=scaling.penalty, hessian_every=hessian_every, weight_sum=moments.weight_sum)
    # 1. The start: the checkpoint's last iterate, or the intercept-only optimum, logit of the (weighted) positive
    #    rate, with its values from the moments pass; it saves the first iterations on rare-event data, where the
    #    intercept travels furthest.
    theta0 = np.zeros(objective.n_params)
    rate = moments.y_sum / moments.weight_sum
    if 0.0 < rate < 1.0:
        theta0[-1] = np.log(rate) - np.log1p(-rate)
    saver = _Checkpoint(checkpoint, _fingerprint(moments, names, l2, solver, active, scaling.penalty), callback)
    start = None
    if saver.resumed is not None:
        theta0 = saver.resumed
        logger.info("resuming from the checkpoint %s at iteration %d", checkpoint, saver.offset)
    elif 0.0 < rate < 1.0:
        start = intercept_only_start(moments, theta0, rate=rate, inv_scale=scaling.inv_scale, active=active,
                                     l2=l2 * scaling.penalty[active] ** 2, hessian_every=hessian_every)
    # 2. Solve; after a crash the checkpoint stays for a rerun.
    try:
        result = SOLVERS[solver](objective, theta0, tol=tol, max_iter=max_iter, start=start, callback=saver)
    except BaseException as error:
        saver.failed(error)
        raise
    result.history = saver.history
    # 3. What the solver could not settle: collinear columns, no convergence.
    param_names = [names[j] for j in np.flatnonzero(active)] + ["intercept"]
    if result.singular_groups:
        groups = [[param_names[k] for k in group] for group in result.singular_groups]
        warnings.warn(
            f"the Hessian is singular: these columns are collinear (or constant): {column_groups(groups)}. "
            "Newton took the minimum-norm step; the coefficients of these columns are not identified on their own. "
            "Drop one column of each group or set l2 > 0.",
            CollinearityWarning,
            stacklevel=4,
        )
    if not result.converged:
        warnings.warn(
            f"{solver} did not converge after {result.n_iter} iterations ({result.message}): max|grad| "
            f"{np.max(np.abs(result.grad)):.3e} > tol {tol:.1e}. Increase max_iter, or check the data for "
            "perfect separation (set l2 > 0).",
            ConvergenceWarning,
            stacklevel=4,
        )
    return RidgeFit(result, objective, solver, l2, saver)
