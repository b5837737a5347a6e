"""In memory: the same optimum as scikit-learn's newton-cholesky and statsmodels' Logit."""

import warnings

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression as SklearnLogisticRegression

from logreg_dist import CollinearityWarning, ConvergenceWarning, LogisticRegression

from .conftest import make_classification, numeric_problem


def _standardize(X, sample_weight=None):
    X = np.asarray(X, dtype=np.float64)
    mean = np.average(X, axis=0, weights=sample_weight)
    scale = np.sqrt(np.average((X - mean) ** 2, axis=0, weights=sample_weight))
    return (X - mean) / scale


def _sklearn(Z, y, l2, sample_weight=None):
    weight_sum = len(y) if sample_weight is None else np.sum(sample_weight)
    C = np.inf if l2 == 0 else 1.0 / (l2 * weight_sum)
    return SklearnLogisticRegression(solver="newton-cholesky", tol=1e-10, C=C, max_iter=1000).fit(
        Z, y, sample_weight=sample_weight
    )


def _assert_same_optimum(model, reference, atol=1e-6):
    assert model.converged_
    np.testing.assert_allclose(model.coef_standardized_, reference.coef_, rtol=0, atol=atol)
    np.testing.assert_allclose(model.intercept_standardized_, reference.intercept_, rtol=0, atol=atol)


@pytest.mark.parametrize("solver", ["newton", "lbfgs"])
@pytest.mark.parametrize("l2", [1e-4, 1e-2])
def test_wa_churn_numeric_columns_match_sklearn(wa_churn, solver, l2):
    X, y = numeric_problem(wa_churn, "churn", "Yes")
    model = LogisticRegression(l2=l2, solver=solver, max_iter=500).fit(X, y)
    _assert_same_optimum(model, _sklearn(_standardize(X), y, l2))


@pytest.mark.parametrize("solver", ["newton", "lbfgs"])
@pytest.mark.parametrize("l2", [1e-3, 1e-1])
def test_mlc_churn_numeric_columns_with_collinear_pairs_match_sklearn(mlc_churn, solver, l2):
    X, y = numeric_problem(mlc_churn, "churn", "yes")
    model = LogisticRegression(l2=l2, solver=solver, max_iter=1000).fit(X, y)
    _assert_same_optimum(model, _sklearn(_standardize(X), y, l2))


@pytest.mark.parametrize("rare", [False, True])
def test_generated_data_matches_sklearn_on_original_scale_too(rare):
    X, y = make_classification(n_rows=6000, n_features=10, seed=3, rare=rare)
    model = LogisticRegression(l2=1e-3).fit(X, y)
    reference = _sklearn(_standardize(X), y, 1e-3)
    _assert_same_optimum(model, reference)
    # Original scale: the same linear predictor.
    np.testing.assert_allclose(
        model.decision_function(X), reference.decision_function(_standardize(X)), rtol=0, atol=1e-8
    )
    np.testing.assert_allclose(model.coef_[0], reference.coef_[0] / X.std(0), rtol=1e-6, atol=1e-9)


def test_sample_weight_matches_sklearn_with_weighted_standardization():
    X, y = make_classification(n_rows=3000, n_features=6, seed=5)
    w = np.random.default_rng(0).uniform(0.2, 4.0, len(y))
    model = LogisticRegression(l2=1e-3).fit(X, y, sample_weight=w)
    _assert_same_optimum(model, _sklearn(_standardize(X, w), y, 1e-3, sample_weight=w))


def test_integer_weights_equal_repeated_rows():
    X, y = make_classification(n_rows=1500, n_features=5, seed=8)
    w = np.random.default_rng(1).integers(1, 4, len(y))
    weighted = LogisticRegression(l2=1e-3).fit(X, y, sample_weight=w)
    repeated = LogisticRegression(l2=1e-3).fit(np.repeat(X, w, axis=0), np.repeat(y, w))
    np.testing.assert_allclose(weighted.coef_, repeated.coef_, rtol=1e-9, atol=1e-12)


def test_unpenalized_fit_matches_statsmodels_logit(wa_churn):
    sm = pytest.importorskip("statsmodels.api")
    X, y = numeric_problem(wa_churn, "churn", "Yes")
    model = LogisticRegression(l2=0.0).fit(X, y)
    reference = sm.Logit(y, sm.add_constant(X.to_numpy(dtype=float))).fit(method="newton", tol=1e-12, disp=False)
    np.testing.assert_allclose(model.intercept_[0], reference.params[0], rtol=1e-7)
    np.testing.assert_allclose(model.coef_[0], reference.params[1:], rtol=1e-7)
    # The covariance on the original scale (coefficients, intercept last) is statsmodels' (constant first).
    order = np.r_[1:X.shape[1] + 1, 0]
    expected = np.asarray(reference.cov_params())[np.ix_(order, order)]
    np.testing.assert_allclose(model.covariance_, expected, rtol=1e-6, atol=1e-12 * np.abs(expected).max())
    np.testing.assert_array_equal(model.covariance_, model.covariance_.T)


def test_newton_and_lbfgs_agree_and_newton_history_is_monotone():
    X, y = make_classification(n_rows=5000, n_features=12, seed=11)
    newton = LogisticRegression(l2=1e-3, solver="newton").fit(X, y)
    lbfgs = LogisticRegression(l2=1e-3, solver="lbfgs", max_iter=500).fit(X, y)
    np.testing.assert_allclose(newton.coef_standardized_, lbfgs.coef_standardized_, atol=1e-6)
    losses = [record["loss"] for record in newton.history_]
    assert all(b <= a + 1e-15 for a, b in zip(losses, losses[1:]))
    assert newton.history_[-1]["grad_max"] <= 1e-12
    assert newton.n_iter_ == len(newton.history_) - 1
    assert {"loss", "grad_max", "step_max", "seconds"} <= set(newton.history_[0])


def test_auto_takes_newton_for_few_features():
    X, y = make_classification(n_rows=500, n_features=4)
    assert LogisticRegression().fit(X, y).solver_ == "newton"


def test_running_out_of_iterations_warns_and_is_reported():
    X, y = make_classification(n_rows=2000, n_features=6)
    with pytest.warns(ConvergenceWarning, match=r"newton did not converge after 1 iterations.*max\|grad\|"):
        model = LogisticRegression(max_iter=1).fit(X, y)
    assert model.converged_ is False and model.n_iter_ == 1


def test_exactly_collinear_columns_warn_by_name_and_still_fit():
    X, y = make_classification(n_rows=2000, n_features=4, seed=2)
    import pandas as pd

    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    frame["a_twice"] = 2.0 * frame["a"] + 1.0
    with pytest.warns(CollinearityWarning, match=r"\['a', 'a_twice'\]"):
        model = LogisticRegression(l2=0.0).fit(frame, y)
    assert model.converged_
    # The minimum-norm optimum splits the weight of a evenly over a and its copy (standardized scale).
    coef = model.coef_standardized_[0]
    assert coef[0] == pytest.approx(coef[4], rel=1e-6)
    single = LogisticRegression(l2=0.0).fit(frame[["a", "b", "c", "d"]], y)
    np.testing.assert_allclose(model.decision_function(frame), single.decision_function(frame[["a", "b", "c", "d"]]), atol=1e-7)


def test_no_warning_on_a_well_posed_fit():
    X, y = make_classification(n_rows=2000, n_features=6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        LogisticRegression(l2=1e-4).fit(X, y)


@pytest.mark.parametrize("rare", [False, True])
def test_keeping_the_hessian_changes_the_passes_not_the_answer(rare):
    from logreg_dist._engine import LocalEngine
    from logreg_dist._kernels import moment_sums
    from logreg_dist._objective import Objective
    from logreg_dist._solvers import newton

    X, y = make_classification(n_rows=20_000, n_features=12, seed=5, rare=rare)
    engine = LocalEngine([(X[:7000], y[:7000].astype(float), None), (X[7000:], y[7000:].astype(float), None)])
    moments = engine.map_reduce(moment_sums)
    results = {}
    for reuse in (False, True):
        objective = Objective(engine, mean=moments.mean, inv_scale=1 / np.sqrt(moments.variance),
                              active=np.ones(12, bool), l2=1e-4)
        results[reuse] = newton(objective, np.zeros(13), tol=1e-12, max_iter=100, reuse_hessian=reuse)
        assert results[reuse].converged
    np.testing.assert_allclose(results[True].theta, results[False].theta, rtol=0, atol=1e-10)
    kept = [record for record in results[True].history if not record.hessian]
    assert kept, "no iteration kept the Hessian"
    assert all(record.hessian for record in results[False].history)


@pytest.mark.parametrize("rare", [False, True])
def test_sampled_hessians_change_the_passes_not_the_answer(rare):
    """Far from the optimum Newton sums the Hessian over every k-th chunk; the gradient stays exact,
    so the answer equals exact Newton's, and the last pass brings the full Hessian for the covariance."""
    from logreg_dist._engine import LocalEngine
    from logreg_dist._kernels import CHUNK_ROWS, moment_sums
    from logreg_dist._objective import Objective
    from logreg_dist._solvers import newton

    X, y = make_classification(n_rows=120_000, n_features=12, seed=7, rare=rare)
    X = np.asfortranarray(X)  # the layout pandas hands over
    engine = LocalEngine([(X[:50_000], y[:50_000].astype(float), None), (X[50_000:], y[50_000:].astype(float), None)])
    moments = engine.map_reduce(moment_sums)
    results, objectives = {}, {}
    for economical in (False, True):
        objectives[economical] = Objective(engine, mean=moments.mean, inv_scale=1 / np.sqrt(moments.variance),
                                           active=np.ones(12, bool), l2=1e-4, hessian_every=5)
        results[economical] = newton(objectives[economical], np.zeros(13), tol=1e-12, max_iter=100,
                                     reuse_hessian=economical)
        assert results[economical].converged
    np.testing.assert_allclose(results[True].theta, results[False].theta, rtol=0, atol=1e-10)
    assert objectives[True].passes.sampled_hessian >= 2 and objectives[False].passes.sampled_hessian == 0
    assert any(record.hessian_sampled for record in results[True].history)
    # The Hessian handed back (for standard errors) is the full one at the returned point.
    exact = objectives[False].loss_grad_hess(results[True].theta)[2]
    assert results[True].hess is not None
    np.testing.assert_allclose(results[True].hess, exact, rtol=1e-9, atol=0)
    assert CHUNK_ROWS * 5 < 50_000  # each block really had chunks left out of the sample


def test_the_start_from_the_moments_equals_a_pass_there():
    """Loss, gradient and Hessian at the intercept-only start come from the moments pass, not a pass of their own."""
    from logreg_dist._engine import LocalEngine
    from logreg_dist._kernels import moment_sums
    from logreg_dist._objective import Objective, intercept_only_start
    from logreg_dist._solvers import newton

    X, y = make_classification(n_rows=30_000, n_features=7, seed=3, rare=True)
    X[:, 2] += 1e4  # a column whose mean dwarfs its spread
    w = np.random.default_rng(0).uniform(0.2, 2.0, X.shape[0])
    blocks = [(X[a:b], y[a:b].astype(float), w[a:b]) for a, b in [(0, 9000), (9000, 9000), (9000, 30_000)]]
    engine = LocalEngine(blocks)
    moments = engine.map_reduce(moment_sums, hessian_every=1)
    inv_scale = 1 / np.sqrt(moments.variance)
    rate = moments.y_sum / moments.weight_sum
    theta0 = np.zeros(8)
    theta0[-1] = np.log(rate / (1 - rate))
    active = np.ones(7, bool)
    start = intercept_only_start(moments, theta0, rate=rate, inv_scale=inv_scale, active=active, l2=1e-3,
                                 hessian_every=1)
    loss, grad, hess, sampled = start
    assert not sampled
    computed = Objective(engine, mean=moments.mean, inv_scale=inv_scale, active=active, l2=1e-3)
    loss_pass, grad_pass, hess_pass = computed.loss_grad_hess(theta0)
    assert loss == pytest.approx(loss_pass, rel=1e-13)
    np.testing.assert_allclose(grad, grad_pass, rtol=1e-12, atol=1e-16)
    np.testing.assert_allclose(hess, hess_pass, rtol=1e-11, atol=1e-15)
    # Newton given the start makes no pass at theta0; a sampled start Hessian serves only a solver that samples.
    free = Objective(engine, mean=moments.mean, inv_scale=inv_scale, active=active, l2=1e-3)
    assert newton(free, theta0, tol=1e-12, max_iter=0, start=start).history[0].passes == 0
    paid = Objective(engine, mean=moments.mean, inv_scale=inv_scale, active=active, l2=1e-3)
    assert newton(paid, theta0, tol=1e-12, max_iter=0, start=start._replace(sampled=True)).history[0].passes == 1
