"""Solvers: they see only an oracle and a starting point.

The oracle offers ``loss(theta)``, ``loss_grad(theta)`` and
``loss_grad_hess(theta)``, each one pass over the data, and ``passes``, a
counter of them. A solver returns a :class:`SolverResult`; it never warns
about convergence itself (the estimator does, with the figures).

- :func:`newton`: one pass per iteration computes loss, gradient and Hessian
  at the trial point. Cholesky solve; when the Hessian is singular, the
  minimum-norm step from its eigendecomposition, and the result says which
  parameters span the null space. Backtracking uses loss-only passes.
- :func:`lbfgs`: SciPy's L-BFGS-B on the driver, one pass per
  loss-and-gradient evaluation.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
from scipy import linalg, optimize

__all__ = ["SOLVERS", "IterationRecord", "SolverResult", "lbfgs", "newton"]

logger = logging.getLogger("logreg_dist")

_EPS = np.finfo(np.float64).eps
_ARMIJO = 1e-4
#: How far above tol L-BFGS may stall at the loss's rounding floor and still count as converged.
STALL_FACTOR = 100.0


@dataclass(frozen=True)
class IterationRecord:
    """One iteration: objective, max |gradient|, step length (max |change|), step size, seconds."""

    iteration: int
    loss: float
    grad_max: float
    step_max: float
    step_size: float
    seconds: float
    passes: int

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class SolverResult:
    theta: np.ndarray
    loss: float
    grad: np.ndarray
    converged: bool
    n_iter: int
    history: list[IterationRecord] = field(default_factory=list)
    message: str = ""
    #: Parameter indices in the Hessian's null space, one group per null direction.
    singular_groups: list[list[int]] = field(default_factory=list)


def _log(record: IterationRecord, solver: str) -> None:
    logger.info(
        "%s iter %3d  loss %.12g  max|grad| %.3e  max|step| %.3e  t %.3g  %.2fs",
        solver,
        record.iteration,
        record.loss,
        record.grad_max,
        record.step_max,
        record.step_size,
        record.seconds,
    )


def _null_space_groups(hess: np.ndarray, rel_tol: float) -> list[list[int]]:
    """Groups of parameters that span each (numerical) null direction of ``hess``."""
    values, vectors = linalg.eigh(hess)
    cutoff = rel_tol * max(values[-1], 0.0)
    groups = []
    for k in np.flatnonzero(values <= cutoff):
        vector = np.abs(vectors[:, k])
        groups.append(sorted(np.flatnonzero(vector > 1e-3 * vector.max()).tolist()))
    return groups


def _newton_step(hess: np.ndarray, grad: np.ndarray, rel_tol: float) -> tuple[np.ndarray, bool]:
    """Solve ``hess @ step = -grad``; fall back to the minimum-norm solution when singular.

    Returns the step and whether the fallback was used.
    """
    try:
        factor = linalg.cho_factor(hess, lower=False, check_finite=False)
        diag = np.abs(np.diag(factor[0]))
        # A Cholesky factor can exist for a matrix that is singular to working precision.
        if diag.min() ** 2 > rel_tol * diag.max() ** 2:
            return linalg.cho_solve(factor, -grad, check_finite=False), False
    except linalg.LinAlgError:
        pass
    values, vectors = linalg.eigh(hess)
    keep = values > rel_tol * max(values[-1], 0.0)
    coords = vectors[:, keep].T @ grad
    return -(vectors[:, keep] @ (coords / values[keep])), True


def newton(
    oracle,
    theta0: np.ndarray,
    *,
    tol: float,
    max_iter: int,
    singular_tol: float = 1e-12,
) -> SolverResult:
    """Damped Newton's method with an Armijo backtracking line search.

    Stops when ``max |grad| <= tol`` (converged) or after ``max_iter`` steps.
    Near the optimum the loss can no longer fall by more than its rounding
    error; a full step is then accepted when it lowers ``max |grad|``.
    """
    theta = np.array(theta0, dtype=np.float64)
    started = time.perf_counter()
    loss, grad, hess = oracle.loss_grad_hess(theta)
    history = [IterationRecord(0, loss, float(np.max(np.abs(grad))), 0.0, 0.0, time.perf_counter() - started, oracle.passes.total)]
    _log(history[-1], "newton")
    singular_groups: list[list[int]] = []
    message = "max_iter reached"
    converged = False

    for iteration in range(1, max_iter + 1):
        if history[-1].grad_max <= tol:
            converged, message = True, f"max|grad| {history[-1].grad_max:.3e} <= tol {tol:.1e}"
            break
        started = time.perf_counter()
        step, singular = _newton_step(hess, grad, singular_tol)
        if singular and not singular_groups:
            singular_groups = _null_space_groups(hess, singular_tol)
        slope = float(grad @ step)
        if not slope < 0.0:  # not a descent direction: use the gradient
            step, slope = -grad, -float(grad @ grad)

        step_size = 1.0
        trial = theta + step
        new_loss, new_grad, new_hess = oracle.loss_grad_hess(trial)
        roundoff = 16 * _EPS * abs(loss)
        accepted = new_loss <= loss + _ARMIJO * slope or (
            abs(new_loss - loss) <= roundoff and np.max(np.abs(new_grad)) < history[-1].grad_max
        )
        while not accepted and step_size > 1e-10:
            step_size *= 0.5
            trial = theta + step_size * step
            trial_loss = oracle.loss(trial)
            accepted = trial_loss <= loss + _ARMIJO * step_size * slope
        if not accepted:
            message = "line search could not lower the loss"
            break
        if step_size < 1.0:
            new_loss, new_grad, new_hess = oracle.loss_grad_hess(trial)

        step_max = float(np.max(np.abs(trial - theta)))
        theta, loss, grad, hess = trial, new_loss, new_grad, new_hess
        history.append(
            IterationRecord(
                iteration,
                loss,
                float(np.max(np.abs(grad))),
                step_max,
                step_size,
                time.perf_counter() - started,
                oracle.passes.total,
            )
        )
        _log(history[-1], "newton")
    else:
        if history[-1].grad_max <= tol:
            converged, message = True, f"max|grad| {history[-1].grad_max:.3e} <= tol {tol:.1e}"

    return SolverResult(theta, loss, grad, converged, len(history) - 1, history, message, singular_groups)


def lbfgs(oracle, theta0: np.ndarray, *, tol: float, max_iter: int, memory: int = 20) -> SolverResult:
    """SciPy's L-BFGS-B (no bounds), one data pass per loss-and-gradient evaluation.

    Stops when ``max |grad| <= tol``; the relative-decrease test of L-BFGS-B
    is switched off so that a flat objective does not read as converged.
    """
    last: dict = {}
    history: list[IterationRecord] = []
    clock = [time.perf_counter()]

    def fun(theta):
        loss, grad = oracle.loss_grad(theta)
        last.update(theta=theta.copy(), loss=loss, grad=grad)
        return loss, grad

    def record(theta_before, theta_after):
        now = time.perf_counter()
        history.append(
            IterationRecord(
                len(history),
                last["loss"],
                float(np.max(np.abs(last["grad"]))),
                float(np.max(np.abs(theta_after - theta_before))) if theta_before is not None else 0.0,
                1.0,
                now - clock[0],
                oracle.passes.total,
            )
        )
        clock[0] = now
        _log(history[-1], "lbfgs")

    theta = np.array(theta0, dtype=np.float64)
    fun(theta)
    record(None, theta)
    previous = [theta]

    def callback(intermediate_result):
        x = intermediate_result.x
        if not np.array_equal(last["theta"], x):
            fun(x)
        record(previous[0], x)
        previous[0] = x.copy()

    result = optimize.minimize(
        fun,
        theta,
        jac=True,
        method="L-BFGS-B",
        callback=callback,
        options={"maxiter": max_iter, "gtol": tol, "ftol": 0.0, "maxcor": memory, "maxls": 50},
    )
    if not np.array_equal(last["theta"], result.x):
        fun(result.x)
    grad_max = float(np.max(np.abs(last["grad"])))
    # L-BFGS-B's line search compares loss values, whose rounding error (about
    # 1e-16 of the loss) stops it once a step would lower the loss by less than
    # that: the gradient then rests a little above a tight tol. That stall counts
    # as converged when max|grad| is within STALL_FACTOR * tol.
    stalled = "REDUCTION OF F" in str(result.message)
    converged = grad_max <= tol or (stalled and grad_max <= STALL_FACTOR * tol)
    return SolverResult(
        result.x, last["loss"], last["grad"], converged, len(history) - 1, history, str(result.message)
    )


SOLVERS = {"newton": newton, "lbfgs": lbfgs}
