"""Solvers: they see only an oracle and a starting point (and, when known without a pass, the values there).

The oracle (:class:`Oracle`) offers ``loss(theta)``, ``loss_grad(theta)``
and ``loss_grad_hess(theta)``, each one pass over the data, ``passes``, a
counter of them, and ``hessian_every``, how its sampled Hessians sample. A solver returns a :class:`SolverResult`; it never warns
about convergence itself (the estimator does, with the figures).

- :func:`newton`: one pass per iteration computes loss, gradient and Hessian
  at the trial point. Cholesky solve; when the Hessian is singular, the
  minimum-norm step from its eigendecomposition, and the result says which
  parameters span the null space. Backtracking uses loss-only passes.
- :func:`lbfgs`: limited-memory BFGS on the driver, one pass per
  loss-and-gradient evaluation, with a Wolfe line search that keeps working
  where loss values run out of digits.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

import numpy as np
from scipy import linalg

from .exceptions import InputError, SingularHessianError

__all__ = ["SOLVERS", "IterationRecord", "Oracle", "SolverResult", "Start", "lbfgs", "newton"]

logger = logging.getLogger("logreg_dist")

_EPS = np.finfo(np.float64).eps
_ARMIJO = 1e-4


class Passes(Protocol):
    @property
    def total(self) -> int: ...


class Oracle(Protocol):
    """What a solver may ask of the problem (:class:`logreg_dist._objective.Objective` is the one the estimator
    gives; tests give small in-memory ones). Each call is one pass over the data."""

    #: A sampled Hessian sums every ``hessian_every``-th chunk of rows; 1 means it is the full one.
    hessian_every: int
    #: The passes made so far (``passes.total``), for the history.
    passes: Passes
    #: The largest step in each parameter (see :func:`_within_limit`), or None for no limit.
    step_limit: np.ndarray | None

    def loss(self, theta: np.ndarray) -> float: ...

    def loss_grad(self, theta: np.ndarray) -> tuple[float, np.ndarray]: ...

    def loss_grad_hess(self, theta: np.ndarray, *, sampled: bool = False) -> tuple[float, np.ndarray, object]: ...


class Start(NamedTuple):
    """The oracle's values at ``theta0`` known without a pass (the intercept-only model, from the moments pass).

    ``sampled`` says that ``hess`` is an estimate from a sample of the rows: :func:`newton` then uses it only where
    it would have asked for a sampled Hessian, and otherwise sums the full one in its first pass.
    """

    loss: float
    grad: np.ndarray
    hess: np.ndarray | None = None
    sampled: bool = False


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
    #: Whether this iterate's pass computed the Hessian (Newton keeps the last one where it pays).
    hessian: bool = False
    #: Whether that Hessian was summed over a sample of the rows (Newton, far from the optimum).
    hessian_sampled: bool = False

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
    #: The exact (full) Hessian of the objective at ``theta`` when the solver has it (Newton), else None.
    hess: np.ndarray | None = None
    #: The Hessian the last step was taken with (exact, sampled or kept): a warm start's first model.
    last_hess: np.ndarray | None = None


def _report(record: IterationRecord, solver: str, theta: np.ndarray, callback) -> None:
    """Log the iteration and hand it to the caller's ``callback(record, theta)`` (which may stop the fit by raising)."""
    _log(record, solver)
    if callback is not None:
        callback(record, theta)


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


#: Columns are nearly collinear when their co-moment matrix scaled to unit diagonal (their correlations) has an
#: eigenvalue below this fraction of its largest (a variance inflation near 1 / NEAR_COLLINEAR_RTOL). mlc_churn's four
#: charge and minutes pairs (correlation 0.99999) give 2.3e-8 to 3.4e-6, its next eigenvalue 1.6e-2.
NEAR_COLLINEAR_RTOL = 1e-4
#: Below this fraction the eigenvalue is rounding: the columns are exactly collinear (wa_churn's repeated "No internet
#: service" levels give 1e-17), which the singular Hessian reports.
EXACTLY_COLLINEAR_RTOL = 1e-10


def nearly_collinear_groups(comoment: np.ndarray, *, exactly: bool = False) -> list[list[int]]:
    """Groups of columns (indices into the rows of ``comoment``, their co-moment matrix) that are nearly collinear;
    with ``exactly``, the exactly collinear ones as well (one group per set of columns the null directions join)."""
    if comoment.size == 0:
        return []
    scale = np.sqrt(np.clip(np.diag(comoment), np.finfo(float).tiny, None))
    values, vectors = linalg.eigh(comoment / np.outer(scale, scale))
    # Each nearly null direction, as its eigenvector: the columns that carry it (a tenth of its largest loading; it
    # loads a little on others too, 0.7% on mlc_churn). The echelon form _null_space_groups uses for exact null
    # spaces would divide by those small loadings here.
    # Exactly null directions (collinear columns) are the singular Hessian's to name: only the nearly null ones here.
    top = max(values[-1], 0.0)
    floor = -np.inf if exactly else EXACTLY_COLLINEAR_RTOL * top
    near = vectors[:, (values > floor) & (values <= NEAR_COLLINEAR_RTOL * top)].T
    groups = _merged(set(np.flatnonzero(np.abs(v) > 0.1 * np.abs(v).max()).tolist()) for v in near)
    return [group for group in groups if len(group) > 1]


def _null_space_groups(hess: np.ndarray, rel_tol: float) -> list[list[int]]:
    """Groups of parameters that span each (numerical) null direction of ``hess``."""
    values, vectors = linalg.eigh(hess)
    cutoff = rel_tol * max(values[-1], 0.0)
    basis = vectors[:, values <= cutoff].T.copy()
    # Eigenvectors of a repeated (zero) eigenvalue mix every dependency, so each one would name all the columns
    # of all of them; the reduced row-echelon form of the null basis gives one sparse dependency per row.
    row = 0
    for col in range(basis.shape[1]):
        if row == len(basis):
            break
        pivot = row + int(np.argmax(np.abs(basis[row:, col])))
        if abs(basis[pivot, col]) <= 1e-8:
            continue
        basis[[row, pivot]] = basis[[pivot, row]]
        basis[row] /= basis[row, col]
        others = np.arange(len(basis)) != row
        basis[others] -= np.outer(basis[others, col], basis[row])
        row += 1
    return _merged(set(np.flatnonzero(vector > 1e-3 * vector.max()).tolist()) for vector in np.abs(basis))


def _merged(member_sets) -> list[list[int]]:
    """The sets, those sharing a column merged (dependencies that share a column are one group), each sorted."""
    groups: list[set[int]] = []
    for members in member_sets:
        for group in [g for g in groups if g & members]:
            members |= group
            groups.remove(group)
        groups.append(members)
    return [sorted(group) for group in groups]


def _newton_step(hess: np.ndarray, grad: np.ndarray, rel_tol: float) -> tuple[np.ndarray, bool]:
    """Solve ``hess @ step = -grad``; fall back to the minimum-norm solution when singular.

    Returns the step and whether the fallback was used. A Hessian held by structure (a
    :class:`~._schur.SchurHessian`) is solved by its own factorization; singular, it returns no step.
    """
    if not isinstance(hess, np.ndarray):
        return (-hess.solve(grad), False) if hess.well_conditioned(rel_tol) else (None, True)
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


#: Newton's sampled Hessians: at most this many before it takes full ones only (a poor sample costs passes, not accuracy).
MAX_SAMPLED_HESSIANS = 6


def newton(
    oracle: Oracle,
    theta0: np.ndarray,
    *,
    tol: float,
    max_iter: int,
    singular_tol: float = 1e-12,
    start: Start | None = None,
    reuse_hessian: bool = True,
    callback=None,
) -> SolverResult:
    """Damped Newton's method with an Armijo backtracking line search.

    ``start`` gives the loss, gradient and Hessian at ``theta0`` when they
    are known without a pass (:class:`Start`); the first pass is then saved.

    Each iteration is one pass over the data returning the exact loss and
    gradient at the trial point. The gradient decides convergence, so the
    answer does not depend on the Hessian used for the step, only the number
    of passes does; with ``reuse_hessian`` the Hessian is spent where it pays:

    - Far from the optimum (a step that did not cut max|grad| tenfold) the
      pass also returns a *sampled* Hessian when the oracle offers one
      (``loss_grad_hess(theta, sampled=True)``: the rows of every k-th chunk,
      a fraction of the arithmetic).
    - After a full step that cut max|grad| tenfold, the Hessian is kept and the
      next passes return loss and gradient only, each step updating it with the
      exact gradient difference (BFGS); a step that contracts less takes a
      fresh (sampled) Hessian.
    - When the next pass is expected to converge (max|grad| times the last
      contraction is below ``tol``), it returns the full Hessian, so that the
      result carries the exact Hessian at the returned point (for standard
      errors) without a pass of its own. A sampled Hessian that is singular is
      replaced by the full one before a minimum-norm step is taken, so
      collinearity is judged on all the rows.

    Stops when ``max |grad| <= tol`` (converged) or after ``max_iter`` steps.
    Near the optimum the loss can no longer fall by more than its rounding
    error; a full step is then accepted when it lowers ``max |grad|``.
    """
    theta = np.array(theta0, dtype=np.float64)
    sampling = reuse_hessian and oracle.hessian_every > 1
    sampled_left = MAX_SAMPLED_HESSIANS

    def hessian_pass(point, kind):
        nonlocal sampled_left
        sampled = kind == "sampled" and sampling and sampled_left > 0
        sampled_left -= sampled
        return (*oracle.loss_grad_hess(point, sampled=sampled), "sampled" if sampled else "full")

    started = time.perf_counter()
    wanted = sampling and sampled_left > 0  # what the first pass would sum: a sampled Hessian or the full one
    if start is not None and start.hess is not None and (wanted or not start.sampled):
        sampled_left -= wanted
        loss, grad, hess = start.loss, np.array(start.grad, dtype=np.float64), np.array(start.hess, dtype=np.float64)
        hess_kind = "sampled" if wanted else "full"
    else:
        loss, grad, hess, hess_kind = hessian_pass(theta, "sampled")
    history = [IterationRecord(0, loss, float(np.max(np.abs(grad))), 0.0, 0.0, time.perf_counter() - started,
                               oracle.passes.total, True, hess_kind == "sampled")]
    _report(history[-1], "newton", theta, callback)
    singular_groups: list[list[int]] = []
    message = "max_iter reached"
    converged = False

    fresh = True  # hess was computed at theta (not kept from an earlier iterate)
    next_kind = "sampled"  # what the next pass computes besides loss and gradient: "none", "sampled" or "full"
    for iteration in range(1, max_iter + 1):
        if history[-1].grad_max <= tol:
            converged, message = True, f"max|grad| {history[-1].grad_max:.3e} <= tol {tol:.1e}"
            break
        started = time.perf_counter()
        step, singular = _newton_step(hess, grad, singular_tol)
        if singular and hess_kind == "sampled":
            # A rare column may have no rows in the sample: judge singularity on all of them.
            sampling = False
            loss, grad, hess, hess_kind = hessian_pass(theta, "full")
            fresh = True
            continue
        if singular and step is None:
            raise SingularHessianError(
                f"the Hessian of the {grad.size} parameters is singular (collinear columns, or a level whose rows all "
                "have one label); it is too large for a minimum-norm step. Set l2 > 0."
            )
        if singular and not singular_groups:
            singular_groups = _null_space_groups(hess, singular_tol)
        slope = float(grad @ step)
        if not slope < 0.0:  # not a descent direction: use the gradient
            step, slope = -grad, -float(grad @ grad)
        step, slope = _within_limit(step, slope, grad, oracle.step_limit)

        step_size = 1.0
        trial = theta + step
        kind = next_kind if reuse_hessian else "full"
        if kind == "none":
            new_loss, new_grad = oracle.loss_grad(trial)
            new_hess = new_kind = None
        else:
            new_loss, new_grad, new_hess, new_kind = hessian_pass(trial, kind)
        roundoff = 16 * _EPS * abs(loss)
        accepted = new_loss <= loss + _ARMIJO * slope or (
            abs(new_loss - loss) <= roundoff and np.max(np.abs(new_grad)) < history[-1].grad_max
        )
        if not accepted and not fresh:
            # The kept Hessian is too far off: take a fresh one at theta and step again (no backtracking).
            loss, grad, hess, hess_kind = hessian_pass(theta, "sampled")
            fresh, next_kind = True, "sampled"
            continue
        while not accepted and step_size > 1e-10:
            step_size *= 0.5
            trial = theta + step_size * step
            trial_loss = oracle.loss(trial)
            accepted = trial_loss <= loss + _ARMIJO * step_size * slope
        if not accepted:
            message = "line search could not lower the loss"
            break
        if step_size < 1.0:
            new_loss, new_grad, new_hess, new_kind = hessian_pass(trial, "sampled")

        step_max = float(np.max(np.abs(trial - theta)))
        grad_max = float(np.max(np.abs(new_grad)))
        contraction = grad_max / history[-1].grad_max
        secant = new_grad - grad
        theta, loss, grad = trial, new_loss, new_grad
        fresh = new_hess is not None
        if fresh:
            hess, hess_kind = new_hess, new_kind
        else:
            # A kept Hessian learns from the exact gradients it steps between (BFGS): the tail converges faster.
            hess = _bfgs_update(hess, step_size * step, secant)
        # After a full step that cut the gradient at least tenfold the Hessian has nearly stopped
        # changing: keep it (a gradient pass costs a fraction of a Hessian pass), except that the
        # pass expected to converge brings the full Hessian at the final point. A step that
        # contracts less takes a fresh (sampled) Hessian.
        if step_size == 1.0 and contraction <= 0.1 and not singular_groups:
            # A Hessian held by structure takes no BFGS update: it is summed afresh (sampled) instead.
            kept = "none" if isinstance(hess, np.ndarray) else "sampled"
            next_kind = "full" if grad_max * contraction <= tol else kept
        else:
            next_kind = "sampled"
        history.append(
            IterationRecord(
                len(history),  # not the loop count: a retry with a fresh Hessian is not an iteration
                loss,
                grad_max,
                step_max,
                step_size,
                time.perf_counter() - started,
                oracle.passes.total,
                fresh,
                fresh and new_kind == "sampled",
            )
        )
        _report(history[-1], "newton", theta, callback)
    else:
        if history[-1].grad_max <= tol:
            converged, message = True, f"max|grad| {history[-1].grad_max:.3e} <= tol {tol:.1e}"

    exact = fresh and hess_kind == "full"
    return SolverResult(theta, loss, grad, converged, len(history) - 1, history, message, singular_groups,
                        hess if exact else None)


def _within_limit(step, slope: float, grad, limit) -> tuple[np.ndarray, float]:
    """The step with each coordinate held to ``limit`` (the oracle's ``step_limit``, or None), and its slope.

    A level seen on a few rows has almost no curvature where its rows' probabilities sit far from their labels,
    so Newton's step moves its coefficient by thousands in log-odds: the whole step then has to be halved a
    dozen times, one pass each, and every other coordinate crawls with it. Holding only the coordinates past
    their limit keeps the others' full Newton step. Kept only while it is a descent direction.
    """
    if limit is None:
        return step, slope
    capped = np.clip(step, -limit, limit)
    if np.array_equal(capped, step):
        return step, slope
    capped_slope = float(grad @ capped)
    return (capped, capped_slope) if capped_slope < 0.0 else (step, slope)


def _bfgs_update(hess: np.ndarray, step: np.ndarray, secant: np.ndarray) -> np.ndarray:
    """BFGS update of a kept Hessian with an exact gradient difference: the new matrix maps ``step`` to ``secant``."""
    curvature = float(step @ secant)
    hs = hess @ step
    shs = float(step @ hs)
    if not (curvature > 0.0 and shs > 0.0):
        return hess
    return hess + np.outer(secant, secant) / curvature - np.outer(hs, hs) / shs


def _two_loop(grad: np.ndarray, pairs: deque) -> np.ndarray:
    """L-BFGS inverse-Hessian approximation applied to ``grad`` (Nocedal & Wright, Algorithm 7.4)."""
    q = grad.copy()
    alphas = []
    for s, y, rho in reversed(pairs):
        alpha = rho * (s @ q)
        q -= alpha * y
        alphas.append(alpha)
    if pairs:
        s, y, _ = pairs[-1]
        q *= (s @ y) / (y @ y)
    for (s, y, rho), alpha in zip(pairs, reversed(alphas)):
        q += (alpha - rho * (y @ q)) * s
    return q


def _wolfe_search(oracle, theta, loss, grad, direction, step_size, *, max_trials=40):
    """Find a step satisfying the weak Wolfe conditions, or their approximate form near the optimum.

    Each trial is one loss-and-gradient pass. Near the optimum, loss values
    differ by less than their rounding error, so Armijo's test on them says
    nothing; there a step is accepted on the directional derivative alone
    (Hager and Zhang's approximate Wolfe conditions), which stays accurate:
    ``sigma * slope <= slope(t) <= (2 * delta - 1) * slope`` with the loss not
    above its start by more than its rounding error. The objective is convex,
    so a negative slope at ``t`` means the loss fell. Brackets are narrowed by
    the secant of the slope, which is exact for a quadratic.
    """
    slope = float(grad @ direction)
    delta, sigma = _ARMIJO, 0.9
    tolerance = 1e3 * _EPS * abs(loss)
    low, low_slope, high, high_slope = 0.0, slope, np.inf, np.nan
    for _ in range(max_trials):
        trial = theta + step_size * direction
        trial_loss, trial_grad = oracle.loss_grad(trial)
        trial_slope = float(trial_grad @ direction)
        armijo = trial_loss <= loss + delta * step_size * slope
        approximate = trial_loss <= loss + tolerance and trial_slope <= (2 * delta - 1) * slope
        if (armijo or approximate) and trial_slope >= sigma * slope:
            return step_size, trial, trial_loss, trial_grad
        if (armijo or approximate) and trial_slope < sigma * slope:
            low, low_slope = step_size, trial_slope  # still steep: go further
        else:
            high, high_slope = step_size, trial_slope  # overshot
        if np.isinf(high):
            step_size *= 4.0
            continue
        width = high - low
        if np.isfinite(high_slope) and high_slope > low_slope:
            secant = low - low_slope * width / (high_slope - low_slope)
            step_size = min(max(secant, low + 0.05 * width), high - 0.05 * width)
        else:
            step_size = low + 0.5 * width
    return None


def lbfgs(oracle: Oracle, theta0: np.ndarray, *, tol: float, max_iter: int, memory: int = 10,
          start: Start | None = None, callback=None) -> SolverResult:
    """Limited-memory BFGS on the driver, one data pass per loss-and-gradient evaluation.

    ``start`` gives the loss and gradient at ``theta0`` when they are known
    without a pass (its Hessian is not used); the first pass is then saved.

    Stops when ``max |grad| <= tol``. The line search (:func:`_wolfe_search`)
    works on directional derivatives where loss values run out of digits, so
    the gradient can be driven to a tight ``tol`` (SciPy's L-BFGS-B stalls
    near ``1e-9`` on the same problems).
    """
    theta = np.array(theta0, dtype=np.float64)
    started = time.perf_counter()
    if start is not None:
        loss, grad = start.loss, np.array(start.grad, dtype=np.float64)
    else:
        loss, grad = oracle.loss_grad(theta)
    history = [IterationRecord(0, loss, float(np.max(np.abs(grad))), 0.0, 0.0, time.perf_counter() - started, oracle.passes.total)]
    _report(history[-1], "lbfgs", theta, callback)
    pairs: deque = deque(maxlen=memory)
    converged, message = False, "max_iter reached"

    for iteration in range(1, max_iter + 2):
        if history[-1].grad_max <= tol:
            converged, message = True, f"max|grad| {history[-1].grad_max:.3e} <= tol {tol:.1e}"
            break
        if iteration > max_iter:
            break
        started = time.perf_counter()
        direction = -_two_loop(grad, pairs)
        if not float(grad @ direction) < 0.0:
            pairs.clear()
            direction = -grad
        first = 1.0 if pairs else min(1.0, 1.0 / float(np.max(np.abs(grad))))
        found = _wolfe_search(oracle, theta, loss, grad, direction, first)
        if found is None:
            message = "line search found no acceptable step"
            break
        step_size, trial, new_loss, new_grad = found
        s, y = trial - theta, new_grad - grad
        curvature = float(s @ y)
        if curvature > _EPS * float(y @ y):
            pairs.append((s, y, 1.0 / curvature))
        theta, loss, grad = trial, new_loss, new_grad
        history.append(
            IterationRecord(
                iteration,
                loss,
                float(np.max(np.abs(grad))),
                float(np.max(np.abs(s))),
                step_size,
                time.perf_counter() - started,
                oracle.passes.total,
            )
        )
        _report(history[-1], "lbfgs", theta, callback)

    return SolverResult(theta, loss, grad, converged, len(history) - 1, history, message)


SOLVERS = {"newton": newton, "lbfgs": lbfgs}
