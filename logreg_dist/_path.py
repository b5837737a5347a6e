"""The regularization path and its choice: points solved to the path's tolerance, the folds' sums in the same passes.

A path is a log-spaced sequence of penalties ``alpha`` from ``alpha_max``
down. With ``l1_ratio > 0``, ``alpha_max`` is the smallest penalty at which
every coefficient is zero (``max_j |g_j| / w_j / l1_ratio`` at the
intercept-only model, with ``w_j`` the coefficient's weight in the L1 term;
glmnet's ``lambda_max``); for ridge the same formula with an
``l1_ratio`` of 0.001 fixes the span, as glmnet and glum do. Each point
starts from the previous one's coefficients, gradient and Hessian, with the
ridge part adjusted to the new penalty, so its first step costs no pass; the
sequential strong rule leaves out of the first model the coefficients that
are expected to stay at zero, and the solver checks them on every full pass.
Far from a point's optimum its passes read the eligible columns only (as
glmnet iterates over its active set; their Hessian block is merged into the
one before, see :func:`~._enet._merged`): where few coefficients are
nonzero such a pass costs a fraction of a full one, and a full pass ends
each point.

Cross-validation first fits the path on all rows, then every fold's path
follows it (``guide``): a fold's solution moves with the penalty almost as
the full path's does, so each fold point starts where the full path's step
from the previous point predicts, corrected by one step of the quadratic
model from the full path's gradient change and Hessian, all without a pass.
The fold's own gradient pass there then finds most points within their
tolerance: one pass per point, where solving from the previous point took
two or three (bench/README.md). Every fold's solver runs in its own thread
over one :class:`FoldEngine` each: a pass waits until each live fold has
asked for its sums, and one map over the blocks then computes all of them
(:func:`fold_loss_sums`, over the rows outside fold ``g``; the requests
without a Hessian from one read of each block). Every point is
still judged by its own fold's gradient at it. Where the path keeps no
Hessians to follow (categorical codes, OWL-QN, too many parameters), each
fold solves its points from its own previous one, and the full path runs
beside the folds in the same passes (``run_folds(with_all_rows=True)``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ._enet import _model_minimum, kkt_gap, prox_newton
from ._kernels import CHUNK_ROWS, loss_sums, shared_read_loss_sums, slice_rows, take_rows
from ._loops import add_point_scores
from ._predict import decisions

__all__ = ["FoldEngine", "PathPoint", "alpha_grid", "by_fold", "fold_loss_sums", "path_scores", "run_path"]

#: A path's point is solved until its violation is at most this fraction of its warm start's (see :func:`run_path`).
MIN_CUT = 0.25
#: The path keeps each point's Hessian for the chosen point's exact fit while all of them hold at most this many values.
KEEP_HESSIAN_VALUES = 1 << 23
#: ``l1_ratio`` used to size a ridge path (glmnet's and glum's convention).
RIDGE_SPAN_RATIO = 1e-3
#: Logit bins of the path's AUC estimate (the chosen model's AUC is exact, from the validation metrics).
AUC_BINS = 8192
AUC_LOGIT_RANGE = 20.0


@dataclass
class PathPoint:
    """One fit on the path, solved to the path's tolerance (``gap`` is how close it came)."""

    alpha: float
    theta: np.ndarray
    loss: float  # the mean log-loss of the training rows, without the penalty
    n_nonzero: int
    converged: bool
    n_iter: int
    passes: int
    screened: int  # coefficients the strong rule left out of the first model
    gap: float  # the largest entry of the minimum-norm subgradient at theta (0 at the exact optimum)
    tol: float  # what the gap had to reach
    message: str = ""
    scores: dict = field(default_factory=dict)
    #: ``(loss, grad, hess)`` of the unpenalized mean log-loss at ``theta`` (the Hessian the last pass summed), what
    #: the chosen point's exact fit starts from; None where the path's Hessians would take too much memory.
    start: tuple | None = field(default=None, repr=False)

    def as_dict(self) -> dict:
        return {
            "alpha": self.alpha, "n_nonzero": self.n_nonzero, "intercept_standardized": float(self.theta[-1]),
            "train_deviance": 2.0 * self.loss, "converged": self.converged, "max_subgradient": self.gap,
            "tol": self.tol, "n_iter": self.n_iter, "passes": self.passes, "screened": self.screened,
            **({} if self.converged else {"message": self.message}), **self.scores,
        }


def alpha_grid(alpha_max: float, *, n_alphas: int, min_ratio: float) -> np.ndarray:
    """``n_alphas`` penalties, log-spaced from ``alpha_max`` down to ``alpha_max * min_ratio``."""
    return alpha_max * np.logspace(0.0, np.log10(min_ratio), n_alphas)


def run_path(make_objective, theta0: np.ndarray, start: tuple | None, *, alphas, l1_ratio: float, tol: float,
             tol_floor: float, max_iter: int, l1_weights: np.ndarray | None = None, keep_hessians: bool = True,
             callback=None, solve=prox_newton, guide: list[PathPoint] | None = None,
             restrict: bool = True) -> list[PathPoint]:
    """Fit every penalty of ``alphas`` in turn, warm-started; ``start`` is ``(loss, grad, hess)`` of the
    unpenalized mean log-loss at ``theta0`` (the intercept-only model), or None to compute them in the first pass.

    A point is solved until the largest entry of its subgradient is at most ``tol`` and at most
    :data:`MIN_CUT` times what it was at the warm start (never below ``tol_floor``, the exact fit's tolerance).

    ``make_objective(l2)`` gives the oracle of the mean log-loss with ridge
    ``l2`` (the intercept last, never penalized). ``l1_weights`` is each
    parameter's weight in the L1 term (its square in the ridge term; 0 for
    the intercept), all ones for the features if None. With
    ``keep_hessians`` the points keep their Hessians for the chosen one's
    exact fit (a fold's path is never made exact). ``solve`` is
    :func:`~._enet.prox_newton`, or :func:`~._enet.owlqn` (warm-started from
    the coefficients alone: it keeps no Hessian to pass on).

    ``guide``, the points of the same ``alphas`` on all rows with their kept
    Hessians, makes this a fold's path that follows it (see the module
    docstring): each point starts from the guide's prediction, at the cost of
    one gradient pass, and its first step uses the guide's Hessian.

    ``restrict``: the passes far from a point's optimum read the eligible
    columns only (see the module docstring); False where the blocks sum every
    column whatever they are asked (blocks of codes).
    """
    theta = np.array(theta0, dtype=np.float64)
    if l1_weights is None:
        l1_weights = np.append(np.ones(theta.size - 1), 0.0)
    l1_weights = np.asarray(l1_weights, dtype=np.float64)
    ridge_weights = l1_weights**2
    points: list[PathPoint] = []
    previous = float(alphas[0])
    unpenalized = None if start is None else start[1]  # the gradient of the mean log-loss at theta, when known
    for alpha in alphas:
        alpha = float(alpha)
        l2, l1 = alpha * (1.0 - l1_ratio), alpha * l1_ratio * l1_weights
        objective = make_objective(l2)
        point_tol = tol
        if unpenalized is not None:
            # The warm start violates the new penalty's conditions by what the penalty's change did; near the path's
            # end, where the penalties approach tol, that is below tol, and the point would be a copy of the one
            # before: it is solved until that violation is down to MIN_CUT of itself (three quarters undone).
            moved = kkt_gap(theta, unpenalized + l2 * ridge_weights * theta, l1)
            point_tol = max(tol_floor, min(tol, MIN_CUT * moved))
        if guide is not None:
            theta, start = _follow(guide, len(points), theta, start, objective, l2, l1, ridge_weights, point_tol)
        if start is None:
            known, eligible = None, None
        else:
            loss, grad, hess = start  # of the unpenalized mean log-loss at theta
            # The sequential strong rule (Tibshirani et al. 2012): a zero coefficient whose gradient is below its
            # weight times l1_ratio * (2 alpha - previous alpha) is expected to stay zero; the solver still checks it
            # every pass.
            strong = l1_weights * l1_ratio * (2.0 * alpha - previous)
            eligible = (theta != 0.0) | (l1_weights == 0.0) | (np.abs(grad) >= strong)
            ridge = 0.5 * l2 * float(ridge_weights @ theta**2)
            known = (loss + ridge, grad + l2 * ridge_weights * theta, hess + np.diag(l2 * ridge_weights))
        # From the previous point's Hessian the first step's pass is a gradient pass; the Hessian is updated from it.
        result = solve(objective, theta, l1=l1, tol=point_tol, max_iter=max_iter, start=known, eligible=eligible,
                       final_hessian=False, first_trial="sampled" if known is None else "none", restrict=restrict,
                       callback=callback)
        theta = result.theta
        loss = result.loss - 0.5 * l2 * float(ridge_weights @ theta**2)
        unpenalized = result.grad - l2 * ridge_weights * theta
        start = None if result.last_hess is None else (
            loss, unpenalized, result.last_hess - np.diag(l2 * ridge_weights))
        screened = 0 if eligible is None else int(np.count_nonzero(~eligible))
        kept = keep_hessians and start is not None and isinstance(start[2], np.ndarray)
        kept = kept and keeps_hessians(theta.size, len(alphas))
        points.append(PathPoint(alpha, theta.copy(), loss, int(np.count_nonzero(theta[:-1])), result.converged,
                                result.n_iter, objective.passes.total, screened, kkt_gap(theta, result.grad, l1),
                                point_tol, result.message, start=start if kept else None))
        previous = alpha
    return points


def keeps_hessians(n_params: int, n_alphas: int) -> bool:
    """Whether a path of ``n_alphas`` points over ``n_params`` parameters keeps its points' dense Hessians (at most
    :data:`KEEP_HESSIAN_VALUES` values in all)."""
    return n_params * n_params * n_alphas <= KEEP_HESSIAN_VALUES


def _follow(guide, k, theta, start, objective, l2, l1, ridge_weights, point_tol):
    """A fold's start at point ``k`` from the path on all rows: ``(theta, (loss, grad, hess))`` of the unpenalized mean
    log-loss, the loss and gradient from one pass at the predicted point, the Hessian the guide's point kept.

    From the fold's previous point (``start`` its loss, gradient and Hessian) the prediction moves ``theta`` by the
    guide's step and the gradient by the guide's change in gradient, then takes the quadratic model's minimum there
    with the guide's Hessian: the fold's solution differs from the guide's by an amount that barely changes between
    neighbouring points, so what the guide did nonlinearly between them carries over.
    """
    here = guide[k]
    if k > 0 and start is not None:
        before = guide[k - 1]
        predicted = theta + (here.theta - before.theta)
        gradient = start[1] + (here.start[1] - before.start[1]) + l2 * ridge_weights * predicted
        hess = here.start[2] + np.diag(l2 * ridge_weights)
        theta = _model_minimum(hess, gradient, predicted, l1, np.ones(theta.size, dtype=bool), 0.1 * point_tol)
    loss, grad = objective.loss_grad(theta)
    return theta, (loss - 0.5 * l2 * float(ridge_weights @ theta**2), grad - l2 * ridge_weights * theta,
                   here.start[2])


# -- scoring the path on held-out rows ----------------------------------------------------


@dataclass
class PathScores:
    """Per path point: held-out weight, log-loss sum, its square sum, and score histograms by label."""

    weight: float
    loss: np.ndarray
    loss_sq: np.ndarray
    positives: np.ndarray  # (n_points, AUC_BINS)
    negatives: np.ndarray

    def __add__(self, other: PathScores) -> PathScores:
        return PathScores(self.weight + other.weight, self.loss + other.loss, self.loss_sq + other.loss_sq,
                          self.positives + other.positives, self.negatives + other.negatives)

    def per_point(self) -> list[dict]:
        """Per point: mean deviance, its standard error over rows, and the binned AUC."""
        mean = self.loss / self.weight
        spread = np.sqrt(np.maximum(self.loss_sq / self.weight - mean**2, 0.0) / max(self.weight - 1.0, 1.0))
        return [
            {"deviance": 2.0 * float(mean[k]), "deviance_se": 2.0 * float(spread[k]),
             "auc": _binned_auc(self.positives[k], self.negatives[k])}
            for k in range(mean.size)
        ]


def _binned_auc(positives: np.ndarray, negatives: np.ndarray) -> float:
    """AUC of scores binned by value: pairs in one bin count half (exact when no bin holds both labels)."""
    below = np.cumsum(negatives) - negatives
    pairs = positives.sum() * negatives.sum()
    if pairs == 0:
        return float("nan")
    return float((positives @ below + 0.5 * positives @ negatives) / pairs)


#: Scores (rows x path points) held at once while a block is scored: each point's products read a span of rows once,
#: and the span's arrays stay a few MB however many points the path has.
SCORE_CELLS = 1 << 20


def _scores_of(X, y, w, coefs, intercepts) -> PathScores:
    n_points = len(intercepts)
    weight = np.ones(len(y)) if w is None else np.asarray(w, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    loss, loss_sq = np.zeros(n_points), np.zeros(n_points)
    positives, negatives = np.zeros((n_points, AUC_BINS)), np.zeros((n_points, AUC_BINS))
    span = max(CHUNK_ROWS, SCORE_CELLS // n_points)
    # Every point scores a span of rows from one read of it.
    for start in range(0, len(y), span):
        stop = min(start + span, len(y))
        etas = np.ascontiguousarray(decisions(slice_rows(X, start, stop), coefs, intercepts))
        add_point_scores(etas, y[start:stop], weight[start:stop], AUC_LOGIT_RANGE, loss, loss_sq, positives, negatives)
    return PathScores(float(weight.sum()), loss, loss_sq, positives, negatives)


def path_scores(X, y, w, *, coefs, intercepts) -> PathScores:
    """Block kernel: the held-out log-loss and score histograms of every path point (original-scale coefficients)."""
    return _scores_of(X, y, w, coefs, intercepts)


def fold_path_scores(X, y, w, folds, *, coefs, intercepts) -> list[PathScores]:
    """Block kernel: for fold ``g``, the path of fold ``g``'s model scored on fold ``g``'s rows, a span of the block
    in fold order (:func:`by_fold`), so every row is scored by its own fold's points only (scoring every row by every
    fold's points, weighted 0 outside the fold, made k times the products for k folds).
    """
    X, y, w, spans = _in_fold_order(X, y, w, folds, len(coefs))
    out = _Each()
    for g, (start, stop) in enumerate(spans):
        out.append(_scores_of(slice_rows(X, start, stop), y[start:stop], None if w is None else w[start:stop],
                              coefs[g], intercepts[g]))
    return out


# -- cross-validation: every fold's sums in one pass ------------------------------------------


class _Each(list):
    """A list added entry by entry (the sums of several problems in one reduction)."""

    def __add__(self, other):
        return _Each(a + b for a, b in zip(self, other))


def fold_loss_sums(X, y, w, folds, *, requests, mean, inv_scale, chunk_rows=None):
    """Block kernel: :func:`loss_sums` of each request ``(fold, coef, intercept, derivatives, hessian_every, columns)``
    over the rows outside ``fold`` (every row for fold -1): in fold order (:func:`by_fold`), the two spans around its
    rows."""
    X, y, w, spans = _in_fold_order(X, y, w, folds, 1 + max((request[0] for request in requests), default=-1))
    extra = {} if chunk_rows is None else {"chunk_rows": chunk_rows}
    out = _Each([None] * len(requests))
    # Requests without a Hessian share one read of the block (most of cross-validation's passes).
    shared = [k for k, request in enumerate(requests) if request[3] <= 1]
    models = [(coef, intercept, derivatives, columns, spans[fold] if fold >= 0 else (0, 0))
              for fold, coef, intercept, derivatives, _, columns in (requests[k] for k in shared)]
    together = shared_read_loss_sums(X, y, w, models=models, mean=mean, inv_scale=inv_scale) if len(shared) > 1 else None
    for k, sums in zip(shared, together or ()):
        out[k] = sums
    for k, (fold, coef, intercept, derivatives, every, columns) in enumerate(requests):
        if out[k] is not None:
            continue
        params = dict(coef=coef, intercept=intercept, mean=mean, inv_scale=inv_scale, derivatives=derivatives,
                      hessian_every=every, columns=columns, **extra)
        start, stop = spans[fold] if fold >= 0 else (0, 0)
        before, after = [loss_sums(slice_rows(X, a, b), y[a:b], None if w is None else w[a:b], **params)
                         for a, b in ((0, start), (stop, len(y)))]
        out[k] = before + after
    return out


def by_fold(X, y, w, folds) -> tuple:
    """``(X, y, w, folds)`` with the rows in fold order (a copy of the block, each fold's rows in their order): each
    fold is then one span, so the folds' passes sum the rows outside a fold as two spans (they used to weight its
    rows 0 at the full cost), and its scoring reads its span. The copy is what cross-validation holds in memory
    besides the training rows, as scikit-learn's cross-validation fits each fold on an indexed copy of its rows."""
    order = np.argsort(folds, kind="stable")
    return (take_rows(X, order), np.asarray(y)[order], None if w is None else np.asarray(w)[order],
            np.asarray(folds)[order])


def _in_fold_order(X, y, w, folds, n_folds: int) -> tuple:
    """``(X, y, w, spans)``: the block in fold order, as the fold blocks are made (:func:`by_fold`; another order is
    put in it here, a copy), and ``(start, stop)`` of each of ``n_folds`` folds' rows."""
    folds = np.asarray(folds)
    if folds.size > 1 and np.any(folds[1:] < folds[:-1]):
        X, y, w, folds = by_fold(X, y, w, folds)
    bounds = np.searchsorted(folds, np.arange(n_folds + 1), side="left")
    spans = [(int(bounds[g]), int(bounds[g + 1])) for g in range(n_folds)]
    return X, np.asarray(y), None if w is None else np.asarray(w, dtype=np.float64), spans


class _Batch:
    """The rendezvous of the fold engines: a pass runs when every live fold has posted its request."""

    def __init__(self, engine, n_folds: int):
        self.engine = engine
        self.live = n_folds
        self.requests: dict[int, tuple] = {}
        self.results: dict[int, object] = {}
        self.error: BaseException | None = None
        self.condition = threading.Condition()
        self.generation = 0
        self.passes = 0

    def ask(self, fold: int, request: tuple, params: dict):
        with self.condition:
            if self.error is not None:
                raise self.error
            self.requests[fold] = request
            self._params = params
            generation = self.generation
            self._run_if_complete()
            while self.generation == generation and self.error is None:
                self.condition.wait()
            if self.error is not None:
                raise self.error
            return self.results.pop(fold)

    def leave(self) -> None:
        with self.condition:
            self.live -= 1
            self._run_if_complete()

    def fail(self, error: BaseException) -> None:
        with self.condition:
            self.error = error
            self.condition.notify_all()

    def _run_if_complete(self) -> None:
        # Called with the lock held: the pass runs in the thread that completed the set (the others wait). After a
        # fold failed every fold stops, so the requests left behind by the failed fold's leaving get no pass.
        if self.error is not None or not self.requests or len(self.requests) < self.live:
            return
        folds = sorted(self.requests)
        batch = [self.requests[g] for g in folds]
        try:
            sums = self.engine.map_reduce(fold_loss_sums, requests=batch, **self._params)
        except BaseException as error:  # every waiting fold raises it
            self.error = error
            self.condition.notify_all()
            raise
        self.passes += 1
        self.requests.clear()
        self.results.update(zip(folds, sums))
        self.generation += 1
        self.condition.notify_all()


class FoldEngine:
    """The engine one fold's objective sees: its ``map_reduce(loss_sums, ...)`` joins the others' pass."""

    def __init__(self, batch: _Batch, fold: int):
        self.batch, self.fold = batch, fold

    def map_reduce(self, kernel, /, *, coef, intercept, mean, inv_scale, derivatives, hessian_every=1, columns=None,
                   **rest):
        if kernel is not loss_sums:
            raise TypeError("a fold engine evaluates loss_sums only")
        request = (self.fold, coef, intercept, derivatives, hessian_every, columns)
        return self.batch.ask(self.fold, request, {"mean": mean, "inv_scale": inv_scale, **rest})


def run_folds(engine, n_folds: int, work, *, with_all_rows: bool = False) -> tuple[list, int]:
    """``work(fold, fold_engine)`` for every fold (and -1, all rows, ``with_all_rows``) in threads sharing each pass:
    their results in fold order, -1 last, and the passes made."""
    folds = [*range(n_folds), *([-1] if with_all_rows else [])]
    batch = _Batch(engine, len(folds))
    results: dict[int, object] = {}
    errors: list[BaseException] = []

    def run(fold):
        try:
            results[fold] = work(fold, FoldEngine(batch, fold))
        except BaseException as error:
            errors.append(error)
            batch.fail(error)
        finally:
            try:
                batch.leave()  # may run the others' pass, and so raise its error: theirs too, reported once below
            except BaseException as error:
                errors.append(error)

    threads = [threading.Thread(target=run, args=(fold,), name=f"fold-{fold}", daemon=True) for fold in folds]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return [results[fold] for fold in folds], batch.passes


def hashed_folds(keys, n_folds: int, seed: int = 0) -> np.ndarray:
    """The fold of each row, from a hash of its key (an id, or the row itself): the same whatever the partitioning."""
    hashed = pd.util.hash_pandas_object(keys, index=False).to_numpy()
    hashed = pd.util.hash_array(hashed ^ np.uint64(0x9E3779B97F4A7C15 + seed))
    # int8 keeps a fold per row cheap; more than 127 folds would wrap around to negative (never held out) folds.
    return (hashed % np.uint64(n_folds)).astype(np.int8 if n_folds <= np.iinfo(np.int8).max else np.int32)
