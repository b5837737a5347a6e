"""The elastic-net solver: proximal Newton with coordinate descent on the driver.

The problem adds an L1 term to the smooth objective the oracle evaluates::

    F(theta) = f(theta) + sum_j l1_j * |theta_j|

where ``f`` is the oracle's penalized mean log-loss (its ``l2`` carries the
ridge part of the elastic net) and ``l1_j`` is 0 for the intercept. Each outer
iteration is one pass returning ``f``, its gradient ``g`` and Hessian ``H``
(``p`` and ``p x p`` numbers); the driver then minimizes the quadratic model
``g . d + d' H d / 2 + sum_j l1_j |theta_j + d_j|`` by cyclic coordinate
descent with covariance updates (glmnet's, glum's ``irls-cd``), and a line
search on ``F`` along ``d`` accepts the step. Converged means the elastic-net
optimality conditions hold: the minimum-norm subgradient of ``F``
(:func:`subgradient`) is at most ``tol`` in every entry, the condition
``max|grad| <= tol`` of the smooth solvers once the zeros are accounted for.

The Hessian is spent as :func:`logreg_dist._solvers.newton` spends it: a
sampled one far from the optimum, one kept and updated by BFGS from the exact
gradients after a step that contracted tenfold, the full one on the pass
expected to converge (it is the Hessian of the standard errors).
"""

from __future__ import annotations

import time

import numpy as np
from numba import njit
from scipy import linalg

from ._solvers import (
    _ARMIJO, _EPS, MAX_SAMPLED_HESSIANS, IterationRecord, Oracle, SolverResult, _bfgs_update, _report,
)

__all__ = ["composite", "kkt_gap", "owlqn", "prox_newton", "subgradient"]

#: Coordinate-descent sweeps of one quadratic model before its answer is taken as it is.
MAX_SWEEPS = 10_000
#: With ``restrict``, a pass whose step starts this many times ``tol`` away from the optimality conditions sums the
#: eligible coordinates' entries only: one step cuts the violation 4- to 100-fold on a path (bench/README.md), so such
#: a pass is not the last, and a full one judges convergence.
RESTRICT_ABOVE = 100.0


def subgradient(theta: np.ndarray, grad: np.ndarray, l1: np.ndarray) -> np.ndarray:
    """The minimum-norm subgradient of ``F`` at ``theta``: zero exactly where the elastic-net conditions hold.

    A nonzero coefficient needs ``grad_j + l1_j * sign(theta_j) = 0``; a zero
    one needs ``|grad_j| <= l1_j``, and is off by what exceeds it.
    """
    at_zero = np.sign(grad) * np.maximum(np.abs(grad) - l1, 0.0)
    return np.where(theta != 0.0, grad + l1 * np.sign(theta), at_zero)


def kkt_gap(theta: np.ndarray, grad: np.ndarray, l1: np.ndarray) -> float:
    """The largest entry of :func:`subgradient` (0 at the exact optimum): what ``tol`` bounds."""
    return float(np.max(np.abs(subgradient(theta, grad, l1))))


def composite(loss: float, theta: np.ndarray, l1: np.ndarray) -> float:
    """``F(theta)`` from the oracle's loss ``f(theta)``."""
    return loss + float(l1 @ np.abs(theta))


@njit(cache=True, nogil=True)
def _coordinate_descent(H, g, theta, l1, eligible, tol, max_sweeps, u):  # pragma: no cover - compiled
    """Minimize ``g . (u - theta) + (u - theta)' H (u - theta) / 2 + sum_j l1_j |u_j|`` over ``u`` (in place).

    ``r`` is the model's gradient at ``u``, kept current by adding a column of
    ``H`` per change (covariance updates). A full sweep over the eligible
    coordinates finds the active set; sweeps over it alone follow until they
    converge; a full sweep then confirms. Returns the sweeps made, -1 if
    ``max_sweeps`` ran out first.
    """
    p = u.size
    r = g.copy()
    order = np.empty(p, np.int64)
    sweeps = 0
    while sweeps < max_sweeps:
        # One full sweep, then sweeps over the coordinates that are nonzero or unpenalized.
        for full in (True, False):
            while sweeps < max_sweeps:
                sweeps += 1
                n = 0
                for j in range(p):
                    if eligible[j] and (full or u[j] != 0.0 or l1[j] == 0.0):
                        order[n] = j
                        n += 1
                for a in range(n):
                    j = order[a]
                    h = H[j, j]
                    if h <= 0.0:
                        continue
                    z = h * u[j] - r[j]
                    new = 0.0
                    if z > l1[j]:
                        new = (z - l1[j]) / h
                    elif z < -l1[j]:
                        new = (z + l1[j]) / h
                    delta = new - u[j]
                    if delta != 0.0:
                        u[j] = new
                        for k in range(p):
                            r[k] += delta * H[j, k]
                worst = 0.0
                for a in range(n):
                    j = order[a]
                    if u[j] != 0.0:
                        v = abs(r[j] + (l1[j] if u[j] > 0.0 else -l1[j]))
                    else:
                        v = max(abs(r[j]) - l1[j], 0.0)
                    worst = max(worst, v)
                if full or worst <= tol:
                    break
        worst = 0.0
        for j in range(p):
            if not eligible[j]:
                continue
            if u[j] != 0.0:
                v = abs(r[j] + (l1[j] if u[j] > 0.0 else -l1[j]))
            else:
                v = max(abs(r[j]) - l1[j], 0.0)
            worst = max(worst, v)
        if worst <= tol:
            return sweeps
    return -1


def _model_minimum(hess, grad, theta, l1, eligible, tol) -> np.ndarray:
    """The minimizer of the quadratic model around ``theta`` (coordinates not ``eligible`` stay where they are)."""
    hess = np.ascontiguousarray(hess, dtype=np.float64)
    if not np.any(l1 > 0.0) and eligible.all():
        # No L1 term: the model's minimum is the Newton step, solved directly (coordinate descent is Gauss-Seidel
        # there, slow on correlated columns).
        try:
            factor = linalg.cho_factor(hess, check_finite=False)
            return theta - linalg.cho_solve(factor, grad, check_finite=False)
        except linalg.LinAlgError:
            pass
    u = theta.copy()
    _coordinate_descent(hess, grad, theta, l1, eligible, tol, MAX_SWEEPS, u)
    return u


def _merged(before: np.ndarray, fresh: np.ndarray, part: np.ndarray) -> np.ndarray:
    """``before`` (positive semidefinite) with its block of the coordinates ``part`` replaced by ``fresh``'s, and its
    entries between those and the others scaled by ``sqrt(c)``, ``c`` the smallest generalized eigenvalue of the new
    block against the old one (at most 1).

    Replaced alone, the block beside the old cross entries need not be semidefinite: along a path the eligible
    block's curvature shrinks while the old cross entries keep their size (a kept Hessian's eigenvalue reached -0.22,
    and the folds following it diverged; bench/README.md). With ``D = diag(sqrt(c) I, I)`` the merged matrix is
    ``D before D`` plus ``[[new - c old, 0], [0, 0]]``, both semidefinite.
    """
    index, rest = np.flatnonzero(part), np.flatnonzero(~part)
    new_block, old_block = fresh[np.ix_(index, index)], before[np.ix_(index, index)]
    # A tiny ridge makes the old block definite, as the eigenproblem needs; new >= c (old + ridge) >= c old still.
    ridge = 1e-12 * max(float(np.trace(old_block)) / max(index.size, 1), np.finfo(float).tiny)
    try:
        smallest = linalg.eigh(new_block, old_block + ridge * np.eye(index.size), eigvals_only=True,
                               subset_by_index=[0, 0], check_finite=False)[0]
        c = min(max(float(smallest), 0.0), 1.0)
    except (linalg.LinAlgError, ValueError):
        c = 0.0  # the blocks then meet only on the diagonal: semidefinite all the same
    merged = np.array(before, dtype=np.float64)
    merged[np.ix_(index, rest)] *= np.sqrt(c)
    merged[np.ix_(rest, index)] *= np.sqrt(c)
    merged[np.ix_(index, index)] = new_block
    return merged


def _limited_step(theta, target, grad, l1, limit) -> tuple[np.ndarray, np.ndarray, float]:
    """``(target, step, decrease)``: the step to ``target`` with each coordinate held to ``limit`` (as Newton's,
    see :func:`~logreg_dist._solvers._within_limit`) while that still lowers the objective."""
    step = target - theta
    decrease = float(grad @ step) + float(l1 @ (np.abs(target) - np.abs(theta)))
    if limit is None:
        return target, step, decrease
    held = np.clip(step, -limit, limit)
    if np.array_equal(held, step):
        return target, step, decrease
    held_target = theta + held
    held_decrease = float(grad @ held) + float(l1 @ (np.abs(held_target) - np.abs(theta)))
    return (held_target, held, held_decrease) if held_decrease < 0.0 else (target, step, decrease)


def prox_newton(
    oracle: Oracle,
    theta0: np.ndarray,
    *,
    l1: np.ndarray,
    tol: float,
    max_iter: int,
    start: tuple | None = None,
    eligible: np.ndarray | None = None,
    reuse_hessian: bool = True,
    final_hessian: bool = True,
    first_hessian: str = "sampled",
    first_trial: str = "sampled",
    restrict: bool = False,
    callback=None,
) -> SolverResult:
    """Proximal Newton for ``F = f + sum_j l1_j |theta_j|``: one pass per iteration, exact at convergence.

    Parameters
    ----------
    oracle
        As for :func:`~logreg_dist._solvers.newton` (``f`` with its ``l2``).
    l1 : ndarray of shape (n_params,)
        The L1 weight of each parameter (0 for the intercept).
    start : tuple (loss, grad, hess), optional
        ``f``, its gradient and an approximate Hessian at ``theta0`` known
        without a pass (a path's previous point): the first step uses them.
    eligible : ndarray of bool, optional
        Coordinates the first model may move (a path's strong set); every
        later model may move those whose condition a full pass found
        violated as well, so the answer does not depend on it.
    final_hessian : bool, default=True
        Whether the pass expected to converge sums the full Hessian (the
        standard errors' Hessian); a path's points, which need none, keep
        taking gradient passes there.
    first_hessian : {"sampled", "full"}, default="sampled"
        The Hessian of the first pass when there is no ``start``.
    first_trial : {"sampled", "full", "none"}, default="sampled"
        What the pass at the first step's point sums besides the loss and
        gradient. A path's point starts from the previous point's Hessian,
        which stays near enough to take a gradient pass (``"none"``) and
        update it, as does the chosen point made exact from the Hessian
        the path kept for it; made exact without one, it starts with
        ``"full"`` twice (a full Hessian's step from there converges, and
        its pass brings the standard errors' Hessian).
    restrict : bool, default=False
        Whether a pass far from convergence (its step starts more than
        :data:`RESTRICT_ABOVE` times ``tol`` away) sums the eligible
        coordinates' gradient and Hessian entries only, as glmnet iterates
        over its active set: a path's points where few coefficients are
        nonzero then read few columns. The others' gradient is unknown until
        a full pass, and only a full pass's gradient ends the solve, so the
        answer is the same. The Hessian's block of the eligible coordinates
        is merged into the one before so that it stays positive
        semidefinite (:func:`_merged`).

    The history records ``F`` as ``loss`` and the largest entry of
    :func:`subgradient` as ``grad_max``. The result's ``grad`` is the smooth
    gradient; ``hess`` the full Hessian of ``f`` at ``theta`` when the last
    pass computed it.
    """
    theta = np.array(theta0, dtype=np.float64)
    l1 = np.asarray(l1, dtype=np.float64)
    eligible = np.ones(theta.size, dtype=bool) if eligible is None else np.array(eligible, dtype=bool)
    sampling = reuse_hessian and oracle.hessian_every > 1
    sampled_left = MAX_SAMPLED_HESSIANS

    def hessian_pass(point, kind, part=None, before=None):
        """A Hessian pass at ``point``; over the coordinates ``part`` only, merged into ``before`` (:func:`_merged`)."""
        nonlocal sampled_left
        sampled = kind == "sampled" and sampling and sampled_left > 0
        sampled_left -= sampled
        if part is None:
            return (*oracle.loss_grad_hess(point, sampled=sampled), "sampled" if sampled else "full")
        loss, grad, hess = oracle.loss_grad_hess(point, sampled=sampled, restrict=part)
        return loss, np.where(part, grad, 0.0), _merged(before, hess, part), "part"  # never the standard errors'

    def gradient_pass(point, part=None):
        if part is None:
            return oracle.loss_grad(point)
        loss, grad = oracle.loss_grad(point, restrict=part)
        return loss, np.where(part, grad, 0.0)

    def whole_gradient():
        """After a pass over part of the coordinates: the full gradient at theta, recorded (the point is the same)."""
        started = time.perf_counter()
        loss, grad = oracle.loss_grad(theta)
        history.append(IterationRecord(len(history), composite(loss, theta, l1), kkt_gap(theta, grad, l1), 0.0, 0.0,
                                       time.perf_counter() - started, oracle.passes.total))
        _report(history[-1], "prox-newton", theta, callback)
        return loss, grad

    started = time.perf_counter()
    if start is not None:
        loss, grad, hess = start
        grad, hess, hess_kind = np.array(grad, dtype=np.float64), np.array(hess, dtype=np.float64), "kept"
    else:
        loss, grad, hess, hess_kind = hessian_pass(theta, first_hessian)
    summed = hess  # the last Hessian a pass summed (or the start's): what a warm start passes on
    violation = kkt_gap(theta, grad, l1)
    history = [IterationRecord(0, composite(loss, theta, l1), violation, 0.0, 0.0, time.perf_counter() - started,
                               oracle.passes.total, start is None, hess_kind == "sampled")]
    _report(history[-1], "prox-newton", theta, callback)
    message, converged = "max_iter reached", False
    fresh = start is None
    next_kind = first_trial
    # The coordinates whose gradient the last pass summed, None for all: the others' entries of grad are 0, unknown.
    known = None
    for _ in range(max_iter):
        if history[-1].grad_max <= tol:
            if known is None:
                converged = True
                break
            # The summed coordinates' conditions hold: a full gradient pass at theta judges the others.
            (loss, grad), known = whole_gradient(), None
            continue
        started = time.perf_counter()
        # A coordinate left out of the model but violating its condition at theta joins it.
        eligible |= np.abs(subgradient(theta, grad, l1)) > 0.0
        # Far from convergence the pass at the step sums the eligible coordinates only (see ``restrict``).
        part = None
        if restrict and history[-1].grad_max > RESTRICT_ABOVE * tol and not eligible.all() and isinstance(
                hess, np.ndarray):
            part = eligible.copy()
        # The model's minimum to about the square of the current violation: the outer step then keeps Newton's
        # quadratic rate (coordinate descent on p x p numbers costs the driver little next to a pass).
        violation = history[-1].grad_max
        inner_tol = max(0.1 * tol, min(1e-3 * violation, violation**2))
        target = _model_minimum(hess, grad, theta, l1, eligible, inner_tol)
        value = composite(loss, theta, l1)
        target, step, decrease = _limited_step(theta, target, grad, l1, oracle.step_limit)
        if not decrease < 0.0 or not np.any(step):
            if fresh and hess_kind == "full":
                message = "the quadratic model offers no descent"
                break
            loss, grad, hess, hess_kind = hessian_pass(theta, "full")
            summed, known = hess, None
            fresh, next_kind = True, "sampled"
            continue

        step_size = 1.0
        kind = next_kind if reuse_hessian else "full"
        if kind == "full":
            part = None  # the pass expected to converge
        if kind == "none":
            new_loss, new_grad = gradient_pass(target, part)
            new_hess = new_kind = None
        else:
            new_loss, new_grad, new_hess, new_kind = hessian_pass(target, kind, part, hess)
        new_value = composite(new_loss, target, l1)
        roundoff = 16 * _EPS * abs(value)
        new_violation = kkt_gap(target, new_grad, l1)
        accepted = new_value <= value + _ARMIJO * decrease or (
            abs(new_value - value) <= roundoff and new_violation < history[-1].grad_max
        )
        if not accepted and not fresh:
            # The kept Hessian is too far off: take a fresh one at theta and step again (no backtracking).
            loss, grad, hess, hess_kind = hessian_pass(theta, "sampled", part, hess)
            summed, known = hess, part
            fresh, next_kind = True, "sampled"
            continue
        trial = target
        trial_value = new_value
        while not accepted and step_size > 1e-10:
            step_size *= 0.5
            trial = theta + step_size * step
            trial_value = composite(oracle.loss(trial), trial, l1)
            accepted = trial_value <= value + _ARMIJO * step_size * decrease
        if not accepted:
            message = "line search could not lower the objective"
            break
        if step_size < 1.0 and trial_value == value:
            # Armijo's test passes on an objective that rounding leaves unchanged: the violation left is at the
            # objective's rounding level, and more iterations would only repeat this search.
            message = (f"stalled at rounding level: max|subgradient| {history[-1].grad_max:.3e}, no step changes "
                       "the objective")
            break
        if step_size < 1.0:
            new_loss, new_grad, new_hess, new_kind = hessian_pass(trial, "sampled", part, hess)
            new_violation = kkt_gap(trial, new_grad, l1)

        contraction = new_violation / history[-1].grad_max
        secant = new_grad - grad
        # The change in gradient is known where both gradients are.
        if part is not None:
            secant[~part] = 0.0
        if known is not None:
            secant[~known] = 0.0
        known = part
        step_max = float(np.max(np.abs(trial - theta)))
        moved = trial - theta
        theta, loss, grad = trial, new_loss, new_grad
        fresh = new_hess is not None
        if fresh:
            hess, hess_kind = new_hess, new_kind
            summed = hess
        else:
            hess = _bfgs_update(hess, moved, secant)
        # As in Newton: after a full step that cut the violation tenfold, keep the Hessian (gradient passes only);
        # the pass expected to converge brings the full Hessian at the final point.
        if step_size == 1.0 and contraction <= 0.1:
            next_kind = "full" if final_hessian and new_violation * contraction <= tol else "none"
        else:
            next_kind = "sampled"
        history.append(IterationRecord(len(history), composite(loss, theta, l1), new_violation, step_max, step_size,
                                       time.perf_counter() - started, oracle.passes.total, fresh,
                                       fresh and new_kind == "sampled"))
        _report(history[-1], "prox-newton", theta, callback)
    else:
        converged = history[-1].grad_max <= tol and known is None
    if known is not None:  # stopped after a pass over part of the coordinates: the result's gradient is whole
        loss, grad = whole_gradient()
        converged = history[-1].grad_max <= tol
    if converged:
        message = f"max|subgradient| {history[-1].grad_max:.3e} <= tol {tol:.1e}"
    exact = fresh and hess_kind == "full"
    # A warm start gets the last Hessian a pass summed: BFGS updates from the final, tiny steps carry rounding noise.
    return SolverResult(theta, loss, grad, converged, len(history) - 1, history, message, [], hess if exact else None,
                        summed)


def owlqn(
    oracle: Oracle,
    theta0: np.ndarray,
    *,
    l1: np.ndarray,
    tol: float,
    max_iter: int,
    memory: int = 10,
    callback=None,
    **_ignored,
) -> SolverResult:
    """Orthant-wise limited-memory quasi-Newton (Andrew and Gao 2007) for ``F = f + sum_j l1_j |theta_j|``.

    For problems too wide for a dense Hessian: one loss-and-gradient pass per
    trial point, as :func:`~logreg_dist._solvers.lbfgs`. The direction is
    L-BFGS applied to the minimum-norm subgradient, kept in its orthant; trial
    points are projected onto the orthant of the current point (a coordinate
    that would cross zero stops at zero). Converged means the same
    subgradient test as :func:`prox_newton`. Near the optimum, where values of
    ``F`` differ by less than their rounding error, a step is accepted when it
    lowers the subgradient instead.
    """
    from collections import deque

    from ._solvers import _two_loop

    theta = np.array(theta0, dtype=np.float64)
    l1 = np.asarray(l1, dtype=np.float64)
    started = time.perf_counter()
    loss, grad = oracle.loss_grad(theta)
    pseudo = subgradient(theta, grad, l1)
    history = [IterationRecord(0, composite(loss, theta, l1), float(np.max(np.abs(pseudo))), 0.0, 0.0,
                               time.perf_counter() - started, oracle.passes.total)]
    _report(history[-1], "owl-qn", theta, callback)
    pairs: deque = deque(maxlen=memory)
    converged, message = False, "max_iter reached"
    for iteration in range(1, max_iter + 2):
        if history[-1].grad_max <= tol:
            converged, message = True, f"max|subgradient| {history[-1].grad_max:.3e} <= tol {tol:.1e}"
            break
        if iteration > max_iter:
            break
        started = time.perf_counter()
        direction = -_two_loop(pseudo, pairs)
        direction[np.sign(direction) != -np.sign(pseudo)] = 0.0  # stay in the orthant the subgradient points to
        if not np.any(direction):
            pairs.clear()
            direction = -pseudo
        orthant = np.where(theta != 0.0, np.sign(theta), -np.sign(pseudo))
        value = composite(loss, theta, l1)
        step_size = 1.0 if pairs else min(1.0, 1.0 / float(np.max(np.abs(pseudo))))
        accepted = False
        for _ in range(60):
            trial = theta + step_size * direction
            trial[np.sign(trial) != orthant] = 0.0
            trial_loss, trial_grad = oracle.loss_grad(trial)
            trial_value = composite(trial_loss, trial, l1)
            trial_pseudo = subgradient(trial, trial_grad, l1)
            if trial_value <= value + _ARMIJO * float(pseudo @ (trial - theta)) or (
                abs(trial_value - value) <= 16 * _EPS * abs(value)
                and np.max(np.abs(trial_pseudo)) < history[-1].grad_max
            ):
                accepted = True
                break
            step_size *= 0.5
        if not accepted:
            message = "line search could not lower the objective"
            break
        s, y = trial - theta, trial_grad - grad
        curvature = float(s @ y)
        if curvature > _EPS * float(y @ y):
            pairs.append((s, y, 1.0 / curvature))
        theta, loss, grad, pseudo = trial, trial_loss, trial_grad, trial_pseudo
        history.append(IterationRecord(iteration, trial_value, float(np.max(np.abs(pseudo))),
                                       float(np.max(np.abs(s))), step_size, time.perf_counter() - started,
                                       oracle.passes.total))
        _report(history[-1], "owl-qn", theta, callback)
    return SolverResult(theta, loss, grad, converged, len(history) - 1, history, message)
