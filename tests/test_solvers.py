"""The solvers on their own: `newton` and `lbfgs` driven through a small oracle on arrays in memory.

The estimator's data rarely reach the solvers' rare branches, so each is forced here with an oracle built
for it: a kept Hessian that the next step shows to be too far off, a sampled Hessian that is singular, and
a line search that finds no step. The answer is checked against scikit-learn on the same objective, or
the documented fallback is checked where there is no answer to reach.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit
from sklearn.linear_model import LogisticRegression as SklearnLogisticRegression

from logreg_dist._objective import PassCounter
from logreg_dist._solvers import Start, lbfgs, newton


class ArrayOracle:
    """What a solver may ask of an oracle, on arrays in memory.

    The objective is `logreg_dist._objective.Objective`'s: the mean log-loss of ``(X, y)`` plus
    ``l2 / 2 * ||coef||^2``, with ``theta = (coef, intercept)`` and the intercept unpenalized. Each of
    ``loss``, ``loss_grad`` and ``loss_grad_hess`` counts as one pass in ``passes``; with
    ``hessian_every > 1`` a sampled Hessian is the mean over every ``hessian_every``-th row. Every call
    is kept in ``calls`` as ``(kind, theta, sampled)`` so that a test can tell which branch ran.
    """

    def __init__(self, X: np.ndarray, y: np.ndarray, *, l2: float = 0.0, hessian_every: int = 1):
        self.X = np.column_stack([X, np.ones(len(X))])
        self.y = np.asarray(y, dtype=np.float64)
        self.l2 = l2
        self.hessian_every = hessian_every
        self.step_limit = None
        self.penalized = np.append(np.ones(X.shape[1]), 0.0)
        self.passes = PassCounter()
        self.calls: list[tuple[str, np.ndarray, bool]] = []

    def objective(self, theta: np.ndarray) -> float:
        eta = self.X @ theta
        return float(np.mean(np.logaddexp(0.0, eta) - self.y * eta)) + 0.5 * self.l2 * float(theta[:-1] @ theta[:-1])

    def gradient(self, theta: np.ndarray) -> np.ndarray:
        return self.X.T @ (expit(self.X @ theta) - self.y) / len(self.y) + self.l2 * self.penalized * theta

    def hessian(self, theta: np.ndarray, rows=slice(None)) -> np.ndarray:
        X = self.X[rows]
        p = expit(X @ theta)
        return (X * (p * (1.0 - p))[:, None]).T @ X / len(X) + np.diag(self.l2 * self.penalized)

    def loss(self, theta):
        self.passes.loss += 1
        self.calls.append(("loss", theta.copy(), False))
        return self.objective(theta)

    def loss_grad(self, theta):
        self.passes.gradient += 1
        self.calls.append(("loss_grad", theta.copy(), False))
        return self.objective(theta), self.gradient(theta)

    def loss_grad_hess(self, theta, *, sampled=False):
        self.passes.hessian += 1
        self.passes.sampled_hessian += sampled
        self.calls.append(("loss_grad_hess", theta.copy(), sampled))
        rows = slice(None, None, self.hessian_every) if sampled else slice(None)
        return self.objective(theta), self.gradient(theta), self.hessian(theta, rows)


class UphillOracle(ArrayOracle):
    """Its loss passes report every point but ``start`` higher by ``offset``: the gradient says descend and the
    loss says that no step helps, as when a loss has fewer digits than the decrease a step can make."""

    def __init__(self, X, y, *, start: np.ndarray, offset: float = 1e-6, l2: float = 0.0):
        super().__init__(X, y, l2=l2)
        self.start, self.offset = np.array(start), offset

    def objective(self, theta):
        return super().objective(theta) + (0.0 if np.array_equal(theta, self.start) else self.offset)


def _sklearn(X, y, l2) -> np.ndarray:
    """scikit-learn's optimum of the same objective as ``(coef, intercept)``: its C is 1 / (l2 * n_samples)."""
    C = np.inf if l2 == 0 else 1.0 / (l2 * len(y))
    model = SklearnLogisticRegression(solver="newton-cholesky", tol=1e-12, C=C, max_iter=1000).fit(X, y)
    return np.append(model.coef_[0], model.intercept_[0])


def _problem(seed=0, n_rows=600):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_rows, 3)) * [1.0, 2.0, 0.5]
    y = (rng.uniform(size=n_rows) < expit(X @ [0.8, -0.4, 1.2] - 0.5)).astype(int)
    return X, y


def _rare_level_rarely_sampled(seed=1, n_rows=2000):
    """One feature and a rare centred level (+1 in one row of a pair, -1 in its twin with the same feature and
    label), whose rows are a tenth as frequent among the even rows, the sample of ``hessian_every=2``, as
    among all: the sampled Hessian sees a tenth of that level's curvature. The twins make the level's
    optimum 0 and its gradient 0 wherever its coefficient is 0, whatever the other parameters."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n_rows)
    y = (rng.uniform(size=n_rows) < expit(0.8 * x - 0.3)).astype(int)
    level = np.zeros(n_rows)
    odd = rng.choice(np.arange(1, n_rows, 2), 38, replace=False)
    even = rng.choice(np.arange(0, n_rows, 2), 2, replace=False)
    for first, twin in np.concatenate([odd, even]).reshape(-1, 2):
        x[twin], y[twin], level[first], level[twin] = x[first], y[first], 1.0, -1.0
    return np.column_stack([level, x]), y


def _kept_hessian_rejected(calls) -> bool:
    """Whether a step taken with a kept Hessian (a pass without one) was followed by a fresh Hessian at the
    point it started from (a point evaluated before) rather than by a line search."""
    for i in range(1, len(calls) - 1):
        (kind, trial, _), (next_kind, theta, _) = calls[i], calls[i + 1]
        if kind == "loss_grad" and next_kind == "loss_grad_hess" and not np.array_equal(theta, trial) \
                and any(np.array_equal(theta, c[1]) for c in calls[:i]):
            return True
    return False


@pytest.mark.parametrize("solver", [newton, lbfgs])
def test_both_solvers_reach_scikit_learns_optimum_of_the_same_objective(solver):
    X, y = _problem()
    oracle = ArrayOracle(X, y, l2=1e-3)
    result = solver(oracle, np.zeros(4), tol=1e-10, max_iter=100)
    assert result.converged and result.message.startswith("max|grad|")
    np.testing.assert_allclose(result.theta, _sklearn(X, y, 1e-3), rtol=0, atol=1e-7)
    assert np.max(np.abs(result.grad)) <= 1e-10 and result.loss == oracle.objective(result.theta)
    assert [r.passes for r in result.history] == sorted(r.passes for r in result.history)
    assert result.history[-1].passes == oracle.passes.total
    if solver is newton:  # the returned Hessian is the full one at the returned point (for standard errors)
        np.testing.assert_allclose(result.hess, oracle.hessian(result.theta), rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("solver", [newton, lbfgs])
def test_a_start_known_without_a_pass_saves_the_first_pass_and_changes_nothing_else(solver):
    X, y = _problem()
    theta0 = np.zeros(4)
    plain = solver(ArrayOracle(X, y, l2=1e-3), theta0, tol=1e-10, max_iter=100)
    known = ArrayOracle(X, y, l2=1e-3)
    start = Start(known.objective(theta0), known.gradient(theta0), known.hessian(theta0))
    started = solver(known, theta0, tol=1e-10, max_iter=100, start=start)
    assert np.array_equal(started.theta, plain.theta) and started.n_iter == plain.n_iter
    assert started.history[0].passes == 0 and not any(np.array_equal(theta, theta0) for _, theta, _ in known.calls)
    assert [r.passes + 1 for r in started.history[1:]] == [r.passes for r in plain.history[1:]]


def test_newton_takes_a_sampled_start_only_where_it_would_sample():
    """A start Hessian from a sample of the rows serves a first pass that would be sampled; with sampling off
    (``reuse_hessian=False``) Newton sums the full Hessian at the start instead."""
    X, y = _problem()
    oracle = ArrayOracle(X, y, l2=1e-3, hessian_every=2)
    theta0 = np.zeros(4)
    start = Start(oracle.objective(theta0), oracle.gradient(theta0), oracle.hessian(theta0, slice(None, None, 2)),
                  sampled=True)
    used = newton(oracle, theta0, tol=1e-10, max_iter=0, start=start)
    assert used.history[0].passes == 0 and used.history[0].hessian_sampled
    refused = newton(oracle, theta0, tol=1e-10, max_iter=0, start=start, reuse_hessian=False)
    assert refused.history[0].passes == 1 and not refused.history[0].hessian_sampled
    assert [(kind, sampled) for kind, _, sampled in oracle.calls] == [("loss_grad_hess", False)]  # one full pass
    assert np.array_equal(oracle.calls[0][1], theta0)


def test_newton_takes_a_fresh_hessian_when_the_kept_one_overshoots():
    """From near the optimum, two full steps each cut max|grad| tenfold while the rare level's gradient is still
    tiny, so the second step keeps its Hessian; the steps along the level are ten times too long, and the
    third step raises the loss. Newton then takes a fresh Hessian where it stood, and still ends at the optimum."""
    X, y = _rare_level_rarely_sampled()
    full = ArrayOracle(X, y, l2=1e-4)
    optimum = newton(full, np.zeros(3), tol=1e-13, max_iter=100).theta
    level_curvature = full.hessian(optimum)[0, 0]
    oracle = ArrayOracle(X, y, l2=1e-4, hessian_every=2)
    assert oracle.hessian(optimum, slice(None, None, 2))[0, 0] < 0.2 * level_curvature  # the poor sample
    start = optimum + [1e-8 / level_curvature, 0.03, -0.03]

    result = newton(oracle, start, tol=1e-10, max_iter=100)

    assert _kept_hessian_rejected(oracle.calls), [(kind, sampled) for kind, _, sampled in oracle.calls]
    assert result.converged
    np.testing.assert_allclose(result.theta, _sklearn(X, y, 1e-4), rtol=0, atol=1e-7)
    losses = [r.loss for r in result.history]
    assert losses == sorted(losses, reverse=True)  # a rejected step is not an iterate


def test_newton_replaces_a_singular_sampled_hessian_by_the_full_one_and_stops_sampling():
    """A rare level with no rows among the sampled ones and no penalty: the sampled Hessian is singular. Newton
    judges singularity on all the rows instead (where the problem is well posed) and samples no more."""
    X, y = _problem(seed=2)
    level = np.zeros(len(y))
    level[np.arange(1, 120, 2)] = 1.0  # odd rows only; the sample of hessian_every=2 is the even rows
    X = np.column_stack([X, level])
    oracle = ArrayOracle(X, y, l2=0.0, hessian_every=2)
    assert np.linalg.matrix_rank(oracle.hessian(np.zeros(5), slice(None, None, 2))) == 4

    result = newton(oracle, np.zeros(5), tol=1e-10, max_iter=100)

    (first, _, first_sampled), (second, at, second_sampled) = oracle.calls[:2]
    assert (first, first_sampled, second, second_sampled) == ("loss_grad_hess", True, "loss_grad_hess", False)
    np.testing.assert_array_equal(at, np.zeros(5))  # the full Hessian at the same point, not a step
    assert not any(sampled for _, _, sampled in oracle.calls[1:]) and oracle.passes.sampled_hessian == 1
    assert result.converged and result.singular_groups == []
    np.testing.assert_allclose(result.theta, _sklearn(X, y, 0.0), rtol=0, atol=1e-6)


def test_newton_on_a_singular_full_hessian_takes_the_minimum_norm_step_and_names_the_columns():
    """A column repeated and no penalty: the Hessian is singular everywhere. Newton steps in the minimum-norm
    way, names the parameters of the null direction, and reaches the optimum of the distinct columns with the
    repeated coefficient shared equally."""
    X, y = _problem(seed=3)
    oracle = ArrayOracle(np.column_stack([X, X[:, 1]]), y, l2=0.0)

    result = newton(oracle, np.zeros(5), tol=1e-10, max_iter=100)

    assert result.converged and result.singular_groups == [[1, 3]]
    reference = _sklearn(X, y, 0.0)
    np.testing.assert_allclose(result.theta[[0, 2, 4]], reference[[0, 2, 3]], rtol=0, atol=1e-6)
    np.testing.assert_allclose(result.theta[[1, 3]], [reference[1] / 2] * 2, rtol=0, atol=1e-6)


def test_newton_stops_when_no_step_lowers_the_loss():
    """Every backtracking step down to 1e-10 of the Newton step is refused: the result is the start, not
    converged, with the reason (the estimator then warns with these figures)."""
    X, y = _problem(seed=4)
    start = _sklearn(X, y, 1e-3) + 1e-4
    oracle = UphillOracle(X, y, start=start, l2=1e-3)

    result = newton(oracle, start, tol=1e-10, max_iter=100)

    assert not result.converged and result.message == "line search could not lower the loss"
    np.testing.assert_array_equal(result.theta, start)
    assert result.n_iter == 0 and result.loss == oracle.objective(start)
    assert oracle.passes.hessian == 2 and oracle.passes.loss == 34  # the full step, then halvings down to 2**-34


def test_lbfgs_stops_when_its_line_search_finds_no_step():
    X, y = _problem(seed=5)
    start = _sklearn(X, y, 1e-3) + 1e-4
    oracle = UphillOracle(X, y, start=start, l2=1e-3)

    result = lbfgs(oracle, start, tol=1e-10, max_iter=100)

    assert not result.converged and result.message == "line search found no acceptable step"
    np.testing.assert_array_equal(result.theta, start)
    assert result.n_iter == 0 and result.loss == oracle.objective(start)
    assert oracle.passes.gradient == 1 + 40  # the start, then the search's 40 trials
