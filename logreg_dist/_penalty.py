"""The elastic-net fit: one penalty, or the path of ``alpha='auto'`` and the penalty chosen on held-out rows.

It decides where the fit starts (the intercept-only model, from the moments
pass where the co-moments allow), which penalties the path visits (glmnet's
grid from ``alpha_max``), how each point is scored (held-out deviance, or
k-fold cross-validated deviance) and which point is chosen (the lowest, or
with ``alpha_rule='1se'`` the largest penalty within one standard error of
it). It returns a record; the estimator copies it into its attributes.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import linalg

from ._checkpoint import _Checkpoint
from ._enet import kkt_gap, prox_newton
from ._objective import Objective, intercept_only
from ._path import RIDGE_SPAN_RATIO, alpha_grid, fold_path_scores, keeps_hessians, path_scores, run_folds, run_path
from ._solver_choice import AUTO_NEWTON_MAX_FEATURES
from ._solvers import SolverResult, _null_space_groups
from ._standardization import Standardization, coefficients
from .exceptions import CollinearityWarning, ConvergenceWarning, InputError, column_groups

__all__ = ["ChosenPath", "ElasticNetFit", "PATH_RTOL", "fit_elastic_net"]

#: The path's points are solved until the largest entry of the subgradient is at most this fraction of the
#: largest gradient at the intercept-only model (the chosen point then to ``tol``).
PATH_RTOL = 1e-4

#: A fold's path gives only its held-out deviance, so its points are solved to this looser fraction (bench/README.md,
#: "The penalty path": on the 4.2M lookalike the 5-fold CV deviance moved by at most 1e-6, its standard error 2.7e-4).
FOLD_RTOL = 1e-3
#: From this many parameters the chosen point is made exact from the Hessian its path kept (gradient passes, then
#: the full Hessian once): a full Hessian's arithmetic grows as their square, a gradient's as their number, and at
#: 85 features the full pass took four to five gradient passes' time (bench/README.md). Below it, two full passes.
KEPT_START_MIN_PARAMS = 50


@dataclass(frozen=True, eq=False)
class ChosenPath:
    """The path of ``alpha='auto'``: its penalties, each point's fit and scores, and the one chosen."""

    alphas: np.ndarray
    alpha_rule: str
    points: list[dict]
    chosen: int
    coef_path_standardized: np.ndarray  # (n_alphas, n_features)
    point_tol: float  # the largest tolerance a point was solved to; the chosen one is then solved to ``exact_tol``
    exact_tol: float
    fold_tol: float | None  # the folds' points' tolerance under cross-validation (they only score the path)
    active: np.ndarray  # the features whose coefficients the solver fits
    key: str  # the held-out deviance the choice ranks: "valid_deviance" or "cv_deviance"

    def not_exact(self, result: SolverResult, passes: int) -> None:
        """Flag the chosen point: its fit to ``exact_tol`` did not converge, so it is not chosen (as a point that
        did not converge on the path is not)."""
        point = self.points[self.chosen]
        point.update(converged=False, passes=point["passes"] + passes,
                     message=f"solved to the path's tolerance, but not to {self.exact_tol:.1e} from there "
                             f"({result.message})")

    def made_exact(self, result: SolverResult, *, loss: float, gap: float, passes: int) -> None:
        """Record the chosen point solved to ``tol``: its coefficients, training deviance (``loss`` without the
        penalty), gap and work; its held-out scores stay those of the path's point, which differ from the exact
        point's by far less than their standard error."""
        point = self.points[self.chosen]
        self.coef_path_standardized[self.chosen] = 0.0
        self.coef_path_standardized[self.chosen, self.active] = result.theta[:-1]
        point.update(n_nonzero=int(np.count_nonzero(result.theta[:-1])),
                     intercept_standardized=float(result.theta[-1]), train_deviance=2.0 * loss,
                     converged=bool(result.converged), max_subgradient=gap, tol=self.exact_tol,
                     n_iter=point["n_iter"] + result.n_iter,
                     passes=point["passes"] + passes, made_exact=True)
        if result.converged:
            point.pop("message", None)
        else:
            point["message"] = result.message


@dataclass(frozen=True, eq=False)
class ElasticNetFit:
    """The solution at the chosen penalty, the oracle it was solved with, and how it was reached."""

    result: SolverResult
    objective: Objective
    solver: str  # "prox-newton", "owl-qn"; "newton" or "lbfgs" for them without an L1 part
    alpha: float
    l1_ratio: float
    n_passes: int  # the moments pass included
    path: ChosenPath | None
    resumed_from = None  # an elastic net keeps no checkpoint
    checkpoint = None


def fit_elastic_net(rows, moments, scaling: Standardization, *, solve, alpha, l1_ratio: float, tol: float,
                    max_iter: int, hessian_every: int, n_alphas: int, min_alpha_ratio: float | None,
                    n_folds: int | None, alpha_rule: str, callback=None) -> ElasticNetFit:
    """Fit ``alpha`` (a float, or ``"auto"`` for the path and its choice on ``rows.validation`` or ``rows.folds``)
    with ``solve`` (:func:`~._enet.prox_newton` or :func:`~._enet.owlqn`); warns when the fit did not converge."""
    levels = rows.levels
    active, inv_scale = scaling.active, scaling.inv_scale
    n_active = int(active.sum())
    # Each parameter's weight in the L1 term, and its square in the ridge term (0 for the intercept).
    l1_weights = np.append(scaling.penalty[active], 0.0)
    ridge_weights = l1_weights**2

    def make_objective(l2, on=rows.engine):
        return Objective(on, mean=moments.mean, inv_scale=inv_scale, active=active, l2=l2, penalty=scaling.penalty,
                         hessian_every=hessian_every)

    # 1. The start: the intercept-only model, its values from the moments pass where the co-moments allow.
    theta0 = np.zeros(n_active + 1)
    rate = moments.y_sum / moments.weight_sum
    if 0.0 < rate < 1.0:
        theta0[-1] = np.log(rate) - np.log1p(-rate)
    start = None
    if 0.0 < rate < 1.0 and solve is prox_newton:
        start = intercept_only(moments, theta0, rate=rate, inv_scale=inv_scale, active=active)
    passes = 1  # the moments
    if start is None and 0.0 < rate < 1.0:  # no co-moments (categorical codes), or OWL-QN's: one pass
        first = make_objective(0.0)
        start = first.loss_grad_hess(theta0) if solve is prox_newton else (*first.loss_grad(theta0), None)
        passes += first.passes.total
    saver = _Checkpoint(None, {}, callback)
    path = None
    # The Hessian at the optimum (standard errors, and the collinearity check below) where p x p is affordable: the
    # estimator would take the same pass otherwise; OWL-QN on a wide problem is there to avoid it.
    hessian_affordable = solve is prox_newton or bool(levels) or n_active <= AUTO_NEWTON_MAX_FEATURES
    if alpha == "auto":
        # 2. The path: every penalty fitted to the path's tolerance and scored, then the chosen point made exact.
        points, path, passes_path = _path(
            make_objective, rows, theta0, start, moments, scaling, l1_ratio=l1_ratio, tol=tol, max_iter=max_iter,
            n_alphas=n_alphas, min_alpha_ratio=min_alpha_ratio, n_folds=n_folds, alpha_rule=alpha_rule,
            callback=saver, solve=solve, l1_weights=l1_weights)
        passes += passes_path
        while True:
            point = points[path.chosen]
            alpha = point.alpha
            l2 = alpha * (1.0 - l1_ratio)
            objective = make_objective(l2)
            # From the Hessian the path's point kept, its first passes are gradient passes (a full Hessian costs
            # several of them) until the next is expected to converge, which sums the standard errors' Hessian.
            # Without one, its first two passes sum the full Hessian: near the optimum a full Hessian's step keeps
            # Newton's quadratic rate.
            known = None
            if point.start is not None and solve is prox_newton and n_active + 1 >= KEPT_START_MIN_PARAMS:
                loss0, grad0, hess0 = point.start
                ridge = 0.5 * l2 * float(ridge_weights @ point.theta**2)
                known = (loss0 + ridge, grad0 + l2 * ridge_weights * point.theta,
                         hess0 + np.diag(l2 * ridge_weights))
            result = solve(objective, point.theta, l1=alpha * l1_ratio * l1_weights, tol=tol, max_iter=max_iter,
                           start=known, first_hessian="full", first_trial="full" if known is None else "none",
                           callback=saver)
            result.history = saver.history
            if result.converged:
                break
            # Not exact within max_iter from there: the point is flagged and the next choice tried, so that the model
            # is never a point short of tol while another converges.
            point.converged = False
            following = _choose(points, path.key, alpha_rule)
            if following is None:
                break  # the last attempt stands, flagged, with the warning below
            path.not_exact(result, objective.passes.total)
            passes += objective.passes.total
            path = dataclasses.replace(path, chosen=following)
        if result.hess is None and hessian_affordable:
            _, _, result.hess = objective.loss_grad_hess(result.theta)
        l2 = alpha * (1.0 - l1_ratio)
        path.made_exact(result, loss=result.loss - 0.5 * l2 * float(ridge_weights @ result.theta**2),
                        gap=kkt_gap(result.theta, result.grad, alpha * l1_ratio * l1_weights),
                        passes=objective.passes.total)
    else:
        # 2. One penalty, from the start.
        alpha = float(alpha)
        objective = make_objective(alpha * (1.0 - l1_ratio))
        known = None
        if start is not None and solve is prox_newton:
            loss0, grad0, hess0 = start
            known = (loss0, grad0, hess0 + np.diag(alpha * (1.0 - l1_ratio) * ridge_weights))
        result = solve(objective, theta0, l1=alpha * l1_ratio * l1_weights, tol=tol, max_iter=max_iter,
                       start=known, callback=saver)
        result.history = saver.history
        if result.hess is None and hessian_affordable:
            _, _, result.hess = objective.loss_grad_hess(result.theta)
    passes += objective.passes.total
    # 3. Collinear columns among the nonzero coefficients: an L1 penalty alone does not settle how their weight is
    #    split, and their Hessian has no inverse, so there are no standard errors (as for Newton without a penalty).
    if l1_ratio > 0 and isinstance(result.hess, np.ndarray):
        result.singular_groups = _collinear_nonzero(result.hess, result.theta)
        if result.singular_groups:
            names = [rows.feature_names[j] for j in np.flatnonzero(active)] + ["intercept"]
            warnings.warn(
                f"the Hessian of the nonzero coefficients is singular: these columns are collinear: "
                f"{column_groups([[names[k] for k in group] for group in result.singular_groups])}. The L1 penalty "
                "does not settle how their weight is split, and no coefficient has a standard error. Drop one column "
                "of each group, or add a ridge part (l1_ratio < 1).",
                CollinearityWarning,
                stacklevel=4,
            )
    # 4. Convergence, judged on the optimality conditions.
    if not result.converged:
        warnings.warn(
            f"{'proximal Newton' if solve is prox_newton else 'OWL-QN'} did not converge at alpha={alpha:.6g} after {result.n_iter} iterations "
            f"({result.message}): the optimality conditions are off by {kkt_gap(result.theta, result.grad, alpha * l1_ratio * l1_weights):.3e} "
            f"> tol {tol:.1e}. Increase max_iter.",
            ConvergenceWarning,
            stacklevel=4,
        )
    # Without an L1 part proximal Newton is Newton (each model's minimum is the Newton step): named as such.
    # (OWL-QN without one is L-BFGS.)
    name = ("prox-newton" if l1_ratio > 0 else "newton") if solve is prox_newton else "owl-qn" if l1_ratio > 0 else "lbfgs"
    return ElasticNetFit(result, objective, name, float(alpha),
                         l1_ratio, passes, path)


def _path(make_objective, rows, theta0, start, moments, scaling, *, l1_ratio, tol, max_iter, n_alphas,
          min_alpha_ratio, n_folds, alpha_rule, callback, solve, l1_weights):
    """Fit the path, score it on the held-out rows or folds, choose; returns (points, :class:`ChosenPath`, passes)."""
    active = scaling.active
    if start is None:
        raise InputError("the path cannot start: the training rows hold one label only.")
    gradient = np.abs(start[1][:-1])
    # The smallest penalty that zeroes every coefficient: each one's gradient against its weight in the L1 term.
    alpha_max = float((gradient / l1_weights[:-1]).max(initial=0.0)) / max(l1_ratio, RIDGE_SPAN_RATIO)
    if not alpha_max > 0.0:
        raise InputError(
            "the path cannot start: no feature's gradient is nonzero at the intercept-only model (every feature "
            "is constant, or unrelated to the label in the training rows); there is no penalty to choose."
        )
    min_ratio = min_alpha_ratio
    if min_ratio is None:  # glmnet's default: a shorter span where features outnumber rows
        min_ratio = 1e-4 if moments.n_rows > active.sum() else 1e-2
        if l1_ratio == 0.0:
            # A ridge path starts 1/RIDGE_SPAN_RATIO above the lasso's alpha_max; it ends as low as the lasso's
            # would, or its best penalty lies below its end on most data (wa_churn chose its last point).
            min_ratio *= RIDGE_SPAN_RATIO
    alphas = alpha_grid(alpha_max, n_alphas=n_alphas, min_ratio=min_ratio)
    index = np.flatnonzero(active)
    # The points are solved to a tolerance relative to the gradient's scale at the intercept-only model (tighter
    # near the path's end, see run_path): enough to rank their held-out deviance (its error is far below its
    # standard error), at a pass or two each where tol itself takes four to six; the chosen point is then solved
    # to tol.
    point_tol = max(tol, PATH_RTOL * float(gradient.max()))
    fold_tol = max(tol, FOLD_RTOL * float(gradient.max())) if rows.folds is not None else None
    # A block of codes sums every column's entries whatever a pass asks (its levels' come from one bincount per
    # column): passes over the eligible columns would save nothing there and could cost a full pass to check.
    settings = dict(alphas=alphas, l1_ratio=l1_ratio, tol_floor=tol, max_iter=max_iter, solve=solve,
                    l1_weights=l1_weights, restrict=not rows.levels)

    def original(points):
        """The points' original-scale coefficients ``(n_points, n_features)`` and intercepts ``(n_points,)``."""
        solutions = [coefficients(p.theta, scaling) for p in points]
        return np.array([s.coef for s in solutions]), np.array([s.intercept for s in solutions])

    if rows.folds is not None:
        def fold_path(fold, fold_engine, guide=None):
            return run_path(lambda l2: make_objective(l2, fold_engine), theta0, None, tol=fold_tol,
                            keep_hessians=False, guide=guide, **settings)

        if solve is prox_newton and not rows.levels and keeps_hessians(theta0.size, len(alphas)):
            # The path on all rows first, keeping its points' Hessians: the folds' paths then follow it (run_path).
            points = run_path(make_objective, theta0, start, tol=point_tol, callback=callback, **settings)
            guide = points if all(p.start is not None for p in points) else None
            paths, passes = run_folds(rows.folds, n_folds, lambda fold, engine: fold_path(fold, engine, guide))
            passes += sum(p.passes for p in points)
        else:
            # No Hessians to follow (codes, OWL-QN, or too many to keep): each fold solves its points from its own,
            # and the full path shares the folds' passes.
            def work(fold, fold_engine):
                if fold >= 0:
                    return fold_path(fold, fold_engine)
                return run_path(lambda l2: make_objective(l2, fold_engine), theta0,
                                start if solve is prox_newton else None, tol=point_tol, callback=callback,
                                **settings)

            results, passes = run_folds(rows.folds, n_folds, work, with_all_rows=True)
            *paths, points = results
        coefs, intercepts = zip(*[original(path) for path in paths])
        per_fold = [scores.per_point() for scores in rows.folds.map_reduce(
            fold_path_scores, coefs=list(coefs), intercepts=list(intercepts))]
        passes += 1
        for k, point in enumerate(points):
            deviance = np.array([fold[k]["deviance"] for fold in per_fold])
            auc = np.array([fold[k]["auc"] for fold in per_fold])
            point.scores = {
                "cv_deviance": float(deviance.mean()),
                "cv_deviance_se": float(deviance.std(ddof=1) / np.sqrt(n_folds)),
                "cv_auc": float(np.nanmean(auc)), "cv_auc_sd": float(np.nanstd(auc, ddof=1)),
                "fold_converged": bool(all(path[k].converged for path in paths)),
            }
        key = "cv_deviance"
    elif rows.validation is not None:
        points = run_path(make_objective, theta0, start if solve is prox_newton else None, tol=point_tol,
                          callback=callback, **settings)
        passes = sum(p.passes for p in points)
        coefs, intercepts = original(points)
        scores = rows.validation.map_reduce(path_scores, coefs=coefs, intercepts=intercepts)
        passes += 1
        for point, score in zip(points, scores.per_point()):
            point.scores = {"valid_deviance": score["deviance"], "valid_deviance_se": score["deviance_se"],
                            "valid_auc": score["auc"]}
        key = "valid_deviance"
    else:
        raise InputError(
            "alpha='auto' chooses the penalty on held-out rows: pass validation=(X_valid, y_valid) to fit, or "
            "n_folds=k for k-fold cross-validation."
        )
    chosen = _choose(points, key, alpha_rule)
    if chosen is None:
        raise InputError(f"no point of the penalty path converged within max_iter={max_iter}; increase max_iter.")
    coef_path = np.zeros((len(points), active.size))
    for k, point in enumerate(points):
        coef_path[k, index] = point.theta[:-1]
    return points, ChosenPath(alphas, alpha_rule, [p.as_dict() for p in points], chosen, coef_path, point_tol,
                              tol, fold_tol, active.copy(), key), passes


def _collinear_nonzero(hess: np.ndarray, theta: np.ndarray) -> list[list[int]]:
    """Groups of collinear parameters (indices into ``theta``) among the nonzero coefficients and the intercept:
    none when their Hessian has a Cholesky factor."""
    keep = np.flatnonzero(np.append(theta[:-1] != 0.0, True))
    kept = hess[np.ix_(keep, keep)]
    try:
        linalg.cho_factor(kept, check_finite=False)
        return []
    except linalg.LinAlgError:
        return [[int(keep[k]) for k in group] for group in _null_space_groups(kept, 1e-12)]


def _choose(points, key: str, alpha_rule: str) -> int | None:
    """The index of the chosen point among those that converged (in every fold too): the least held-out deviance
    ``key``, or with ``alpha_rule='1se'`` the largest penalty within one standard error of it; None if none did."""
    usable = [k for k, p in enumerate(points) if p.converged and p.scores.get("fold_converged", True)]
    if not usable:
        return None
    best = min(usable, key=lambda k: points[k].scores[key])
    if alpha_rule != "1se":
        return best
    limit = points[best].scores[key] + points[best].scores[key + "_se"]
    return min(k for k in usable if points[k].scores[key] <= limit)
