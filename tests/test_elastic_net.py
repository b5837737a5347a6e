"""The elastic net, the path and its choice: exact against glum and scikit-learn's saga, the same for any partitioning.

Every comparison is on the same standardized problem: the features standardized with the population standard
deviation, the penalty ``alpha * (l1_ratio * |b|_1 + (1 - l1_ratio) / 2 * |b|^2)`` on the mean log-loss, the
intercept free. glum minimizes exactly that; scikit-learn's ``C`` is ``1 / (alpha * n_rows)``.
"""

from __future__ import annotations

import dataclasses
import json
import warnings

import numpy as np
import pandas as pd
import pytest

from logreg_dist import LogisticRegression
from logreg_dist._penalty import PATH_RTOL
from logreg_dist.exceptions import CollinearityWarning, ConvergenceWarning, InputError

from .conftest import make_classification


def _standardized(X):
    X = np.asarray(X, dtype=np.float64)
    return (X - X.mean(0)) / X.std(0)


def _design(frame: pd.DataFrame, target: str, positive: str, drop=()) -> tuple[np.ndarray, np.ndarray]:
    """Numeric columns (gaps filled with the mean) and every text column one-hot without its first level."""
    X = frame.drop(columns=[target, *drop])
    text = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
    X = pd.get_dummies(X, columns=text, drop_first=True, dtype=float)
    X = X.fillna(X.mean())
    # wa_churn's "No internet service" level repeats in six columns, and "No phone service" is 1 - phone_service:
    # columns equal up to sign and scale leave the lasso's split of their weight undetermined, so each is kept once.
    X = X.to_numpy(np.float64)
    Z = np.round(_standardized(X), 9)
    keep = []
    for j in range(X.shape[1]):
        if not any(np.array_equal(Z[:, j], Z[:, k]) or np.array_equal(Z[:, j], -Z[:, k]) for k in keep):
            keep.append(j)
    y = (frame[target] == positive).to_numpy().astype(np.int64)
    return X[:, keep], y


@pytest.fixture(scope="module")
def problems(wa_churn, mlc_churn):
    charges = [c for c in mlc_churn.columns if c.endswith("_charge")]  # exact multiples of the minutes: not identified
    X_gen, y_gen = make_classification(3000, 12, seed=3)
    return {
        "wa_churn": _design(wa_churn, "churn", "Yes"),
        "mlc_churn": _design(mlc_churn, "churn", "yes", drop=charges),
        "generated": (X_gen, y_gen),
    }


def _glum(Z, y, alpha, l1_ratio):
    from glum import GeneralizedLinearRegressor

    # glum stalls short of 1e-12 at l1_ratio < 1 (its line search fails, as the issue found); 1e-10 is ample for 1e-6.
    model = GeneralizedLinearRegressor(family="binomial", alpha=alpha, l1_ratio=l1_ratio, gradient_tol=1e-10,
                                       max_iter=1000)
    return model.fit(Z, y)


@pytest.mark.parametrize("name", ["wa_churn", "mlc_churn", "generated"])
@pytest.mark.parametrize("l1_ratio", [0.5, 1.0])
def test_agrees_with_glum_and_zero_pattern(problems, name, l1_ratio):
    X, y = problems[name]
    alpha = 0.01
    ours = LogisticRegression(alpha=alpha, l1_ratio=l1_ratio).fit(X, y)
    assert ours.converged_ and ours.solver_ == "prox-newton"
    reference = _glum(_standardized(X), y, alpha, l1_ratio)
    np.testing.assert_allclose(ours.coef_standardized_[0], reference.coef_, rtol=0, atol=1e-6)
    assert abs(ours.intercept_standardized_[0] - reference.intercept_) < 1e-6
    np.testing.assert_array_equal(ours.coef_[0] == 0.0, reference.coef_ == 0.0)
    assert (ours.coef_[0] == 0.0).any(), "the penalty should zero some coefficient here"


@pytest.mark.parametrize("l1_ratio", [0.0, 0.5, 1.0])
def test_levels_are_penalized_on_their_own_scale_as_glum_with_penalty_weights(l1_ratio):
    """A categorical column's levels are penalized on their own scale (each level's shift in log-odds), a numeric
    column on the standardized scale: glum's P1 = 1 / std for the levels (P2 its square) on the standardized problem
    gives the same coefficients and zeros; coded or dense, the answer is one."""
    from logreg_dist._engine import LocalEngine

    from .test_categorical_codes import _design as coded_design, _generated, _levels

    frame = _generated(6000, [40])
    preparation, X, y = coded_design(frame, "y")
    marks = np.concatenate([np.full(len(c.encoded), hasattr(c, "levels")) for c in preparation.columns])
    dense = np.asarray(X, dtype=np.float64)
    std = dense.std(0)
    alpha = 2e-3
    fits = {}
    for name, block, levels in (("coded", X, _levels(preparation)), ("dense", np.asfortranarray(dense), ())):
        fits[name] = LogisticRegression(alpha=alpha, l1_ratio=l1_ratio).fit_loaded(
            LocalEngine([(block, y, None)]), feature_names=preparation.feature_names, n_rows=len(y), levels=levels,
            level_features=marks)
    ours = fits["coded"]
    weights = np.where(marks, 1.0 / std, 1.0)
    np.testing.assert_allclose(ours.penalty_weights_, weights, rtol=1e-12)
    np.testing.assert_allclose(fits["dense"].coef_, ours.coef_, rtol=0, atol=1e-9)
    from glum import GeneralizedLinearRegressor

    reference = GeneralizedLinearRegressor(family="binomial", alpha=alpha, l1_ratio=l1_ratio, P1=weights,
                                           P2=weights**2, gradient_tol=1e-10, max_iter=1000).fit(_standardized(dense), y)
    np.testing.assert_allclose(ours.coef_standardized_[0], reference.coef_, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(ours.coef_[0] == 0.0, reference.coef_ == 0.0)
    if l1_ratio == 1.0:  # rare levels are no longer the cheapest to let in: the lasso drops levels before numbers
        assert (ours.coef_[0][marks] == 0.0).any()


@pytest.mark.parametrize("l1_ratio", [0.5, 1.0])
def test_agrees_with_saga(problems, l1_ratio):
    from sklearn.linear_model import LogisticRegression as Saga

    X, y = problems["generated"]
    alpha = 0.02
    Z = _standardized(X)
    ours = LogisticRegression(alpha=alpha, l1_ratio=l1_ratio).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn's notices about the penalty parameter's future
        saga = Saga(solver="saga", C=1.0 / (alpha * len(y)), l1_ratio=l1_ratio, tol=1e-12, max_iter=20_000,
                    **({"penalty": "elasticnet"} if "penalty" in Saga().get_params() else {})).fit(Z, y)
    np.testing.assert_allclose(ours.coef_standardized_[0], saga.coef_[0], rtol=0, atol=1e-6)
    np.testing.assert_array_equal(ours.coef_[0] == 0.0, np.abs(saga.coef_[0]) < 1e-12)


def test_optimality_conditions_and_ridge_shorthand(problems):
    """The subgradient conditions hold to tol at the answer; l1_ratio=0 is l2=alpha to the last bit."""
    from logreg_dist._enet import subgradient

    X, y = problems["wa_churn"]
    ours = LogisticRegression(alpha=0.003, l1_ratio=0.7).fit(X, y)
    Z, b = _standardized(X), ours.coef_standardized_[0]
    p = 1.0 / (1.0 + np.exp(-(Z @ b + ours.intercept_standardized_[0])))
    grad = np.append(Z.T @ (p - y) / len(y) + 0.003 * 0.3 * b, np.mean(p - y))
    l1 = np.append(np.full(b.size, 0.003 * 0.7), 0.0)
    assert np.max(np.abs(subgradient(np.append(b, 0.0), grad, l1))) < 1e-9  # the float64 gradient from numpy
    ridge = LogisticRegression(alpha=0.003).fit(X, y)
    shorthand = LogisticRegression(l2=0.003).fit(X, y)
    np.testing.assert_array_equal(ridge.coef_, shorthand.coef_)


def test_standard_errors_leave_zeros_out(problems):
    """A zeroed coefficient has no standard error; the others come from the penalized Hessian of the nonzero ones."""
    X, y = problems["mlc_churn"]
    alpha, l1_ratio = 0.01, 0.5
    ours = LogisticRegression(alpha=alpha, l1_ratio=l1_ratio).fit(X, y)
    zero = ours.coef_[0] == 0.0
    assert zero.any() and np.isnan(ours.std_errors_[0][zero]).all()
    keep = ~zero
    mean, scale = X.mean(0), X.std(0)
    Z = (X - mean) / scale
    eta = Z @ ours.coef_standardized_[0] + ours.intercept_standardized_[0]
    h = np.exp(-np.logaddexp(0.0, -eta) - np.logaddexp(0.0, eta))
    D = np.column_stack([Z[:, keep], np.ones(len(y))])
    hess = D.T @ (D * h[:, None]) + len(y) * alpha * (1 - l1_ratio) * np.diag(np.append(np.ones(keep.sum()), 0.0))
    cov = np.linalg.inv(hess)
    expected = np.sqrt(np.diag(cov)[:-1]) / scale[keep]
    np.testing.assert_allclose(ours.std_errors_[0][keep], expected, rtol=1e-8)


def test_path_validation_choice_and_lasso_entry(problems):
    X, y = problems["wa_churn"]
    held = np.arange(len(y)) % 5 == 0
    model = LogisticRegression(alpha="auto", l1_ratio=1.0, n_alphas=12).fit(X[~held], y[~held],
                                                                            validation=(X[held], y[held]))
    path = model.path_
    assert len(path) == 12 and all(p["converged"] for p in path)
    assert path[0]["n_nonzero"] == 0 and path[-1]["n_nonzero"] > path[3]["n_nonzero"]  # alpha_max zeroes all
    alphas = [p["alpha"] for p in path]
    assert alphas == sorted(alphas, reverse=True)
    deviances = [p["valid_deviance"] for p in path]
    assert model.path_chosen_ == int(np.argmin(deviances)) and model.alpha_ == alphas[model.path_chosen_]
    # Every point meets the path's tolerance, checked from an independent NumPy gradient of the standardized problem;
    # the chosen one was then solved to tol: the fit of that penalty alone.
    Z = _standardized(X[~held])
    limit = PATH_RTOL * np.max(np.abs(Z.T @ (y[~held] - y[~held].mean()))) / Z.shape[0]
    for k, point in enumerate(path):
        beta = model.coef_path_standardized_[k]
        p_row = 1.0 / (1.0 + np.exp(-(Z @ beta + point["intercept_standardized"])))
        grad = Z.T @ (p_row - y[~held]) / Z.shape[0]
        gap = np.where(beta != 0, grad + point["alpha"] * np.sign(beta),
                       np.sign(grad) * np.maximum(np.abs(grad) - point["alpha"], 0.0))
        gap = max(np.max(np.abs(gap)), abs(np.mean(p_row - y[~held])))  # the intercept's gradient too
        assert gap <= (1e-11 if k == model.path_chosen_ else min(limit * 1.0001, point["tol"] * 1.0001)), k
        assert abs(point["max_subgradient"] - gap) <= 1e-11
    # Near the path's end the penalties approach the path's tolerance: every point still moves from the one before.
    assert all(p["n_iter"] >= 1 for p in path[1:])
    assert all(np.any(a != b) for a, b in zip(model.coef_path_standardized_[1:], model.coef_path_standardized_[:-1]))
    assert path[-1]["tol"] < limit  # the last point's own tolerance is tighter than the path's
    assert path[model.path_chosen_]["made_exact"] and sum(p.get("made_exact", False) for p in path) == 1
    alone = LogisticRegression(alpha=model.alpha_, l1_ratio=1.0).fit(X[~held], y[~held])
    np.testing.assert_allclose(model.coef_path_standardized_[model.path_chosen_], alone.coef_standardized_[0],
                               rtol=0, atol=1e-9)
    np.testing.assert_allclose(model.coef_standardized_, alone.coef_standardized_, rtol=0, atol=1e-9)
    # The held-out deviance is the mean log-loss of the held-out rows, times 2: of the path's point, which lies within
    # the path's tolerance of the exact one, far inside the deviance's standard error.
    p = alone.predict_proba(X[held])[:, 1]
    deviance = -2.0 * np.mean(y[held] * np.log(p) + (1 - y[held]) * np.log1p(-p))
    assert abs(path[model.path_chosen_]["valid_deviance"] - deviance) < 1e-3 * path[model.path_chosen_]["valid_deviance_se"]
    one_se = LogisticRegression(alpha="auto", l1_ratio=1.0, n_alphas=12, alpha_rule="1se").fit(
        X[~held], y[~held], validation=(X[held], y[held]))
    assert one_se.alpha_ >= model.alpha_


def test_cross_validation_shares_passes(problems):
    """5 folds in the same passes, each following the full path: about one pass per point for all of them."""
    X, y = problems["generated"]
    model = LogisticRegression(alpha="auto", l1_ratio=0.5, n_folds=5, n_alphas=8).fit(X, y)
    path = model.path_
    assert all("cv_deviance" in p and p["cv_deviance_se"] > 0 for p in path)
    assert model.path_chosen_ == int(np.argmin([p["cv_deviance"] for p in path]))
    assert model.path_fold_tol_ >= model.path_tol_  # the folds' points only give their held-out deviance
    full_path_passes = sum(p["passes"] for p in path)
    assert model.n_passes_ < 2 * full_path_passes  # the folds' shared passes cost fewer than the full path's
    # The final model is the full path's point at the chosen penalty: the fit of that penalty alone.
    alone = LogisticRegression(alpha=model.alpha_, l1_ratio=0.5).fit(X, y)
    np.testing.assert_allclose(model.coef_standardized_, alone.coef_standardized_, rtol=0, atol=1e-9)


def test_each_folds_points_are_the_fits_of_its_rows():
    """The folds' points follow the full path's predictions, yet each is the fit of the rows outside its fold: the
    cross-validated deviance equals the mean held-out deviance of those fits solved alone, far inside its standard
    error. Every fold holds the same feature rows (with other labels), so the rows outside any fold standardize as all
    rows do, and the fits alone solve the folds' very problems."""
    from logreg_dist._engine import LocalEngine

    B, _ = make_classification(1500, 8, seed=11)
    rng = np.random.default_rng(12)
    eta = _standardized(B) @ (rng.normal(0.0, 0.6, 8) * np.geomspace(1.0, 0.02, 8)) - 1.0
    X = np.vstack([B] * 3)
    y = (rng.uniform(size=len(X)) < 1.0 / (1.0 + np.exp(-np.tile(eta, 3)))).astype(np.float64)
    folds = np.repeat(np.arange(3), len(B)).astype(np.int8)
    blocks = [slice(0, 2000), slice(2000, None)]
    model = LogisticRegression(alpha="auto", l1_ratio=1.0, n_folds=3, n_alphas=10).fit_loaded(
        LocalEngine([(X[b], y[b], None) for b in blocks]),
        folds=LocalEngine([(X[b], y[b], None, folds[b]) for b in blocks]),
        feature_names=[f"x{j}" for j in range(8)], n_rows=len(y))
    assert len({p["n_nonzero"] for p in model.path_}) > 3  # features enter along the path
    for point in model.path_:
        deviances = []
        for g in range(3):
            out = folds != g
            alone = LogisticRegression(alpha=point["alpha"], l1_ratio=1.0).fit(X[out], y[out])
            p = alone.predict_proba(X[~out])[:, 1]
            deviances.append(-2.0 * np.mean(y[~out] * np.log(p) + (1 - y[~out]) * np.log1p(-p)))
        # The folds' points are solved to path_fold_tol_, looser than the path's own: here that moves the deviance by
        # at most a third of a hundredth of its standard error, where the path's first six steps move it by 0.02 to 4.
        assert abs(np.mean(deviances) - point["cv_deviance"]) < 1e-2 * point["cv_deviance_se"]


@pytest.mark.parametrize(
    "params, message",
    [
        (dict(alpha=0.1, l1_ratio=1.5), "l1_ratio"),
        (dict(alpha=0.1, l1_ratio=-0.1), "l1_ratio"),
        (dict(alpha="auto", n_folds=1), "1 fold would leave no rows"),
        (dict(alpha=0.1, l2=0.1), "not both"),
        (dict(l1_ratio=0.5), "needs alpha"),
        (dict(alpha=0.1, n_folds=3), "needs alpha='auto'"),
        (dict(alpha="big"), "alpha"),
    ],
)
def test_bad_penalty_parameters(params, message):
    X, y = make_classification(200, 3)
    with pytest.raises(ValueError, match=message):
        LogisticRegression(**params).fit(X, y)


def test_path_needs_held_out_rows_and_a_start():
    X, y = make_classification(300, 3)
    with pytest.raises(InputError, match="held-out rows"):
        LogisticRegression(alpha="auto", l1_ratio=1.0).fit(X, y)
    constant = np.ones((300, 3))
    with pytest.raises(InputError, match="the path cannot start"):
        LogisticRegression(alpha="auto", l1_ratio=1.0, n_folds=3).fit(constant, y)


def test_a_point_that_does_not_converge_is_flagged():
    X, y = make_classification(1000, 6, seed=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = LogisticRegression(alpha="auto", l1_ratio=0.5, n_alphas=6, max_iter=2).fit(
            X[:800], y[:800], validation=(X[800:], y[800:]))
    flagged = [p for p in model.path_ if not p["converged"]]
    assert flagged and all(p["message"] for p in flagged)
    assert model.path_[model.path_chosen_]["converged"]  # a point that did not converge is never the choice


def test_partition_invariance_on_the_cluster(local_client, problems):
    import dask.dataframe as dd

    X, y = problems["wa_churn"]
    frame = pd.DataFrame(X, columns=[f"x{j}" for j in range(X.shape[1])])
    frame["y"] = y
    fits = []
    for partitions in (1, 4):
        data = dd.from_pandas(frame, npartitions=partitions)
        features = data[[c for c in frame.columns if c != "y"]]
        fits.append(LogisticRegression(alpha="auto", l1_ratio=0.5, n_folds=3, n_alphas=6).fit(features, data["y"],
                                                                                          client=local_client))
    a, b = fits
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=0, atol=1e-10)
    assert a.path_chosen_ == b.path_chosen_
    np.testing.assert_allclose([p["cv_deviance"] for p in a.path_], [p["cv_deviance"] for p in b.path_], rtol=1e-10)
    local = LogisticRegression(alpha=a.alpha_, l1_ratio=0.5).fit(X, y)
    np.testing.assert_allclose(a.coef_, local.coef_, rtol=0, atol=1e-9)


@pytest.mark.slow
def test_cli_alpha_auto_cv_and_lasso_short_model(prefect_harness, tmp_path, local_client):
    """The command on the session's Prefect server; output into buffers of our own, not capsys's (Prefect's console
    handler keeps the stream it was configured with and would write to it after capsys has closed it)."""
    import contextlib
    import io

    from logreg_dist import cli

    def run(*args):
        with contextlib.redirect_stdout(io.StringIO()) as out, contextlib.redirect_stderr(io.StringIO()) as err:
            status = cli.main(["train", data, "--target", "churn", *args, "--scheduler", local_client.scheduler.address])
        return status, out.getvalue(), err.getvalue()

    data = "tests/data/wa_churn.parquet"
    out = tmp_path / "model"
    status, printed, error = run("--alpha", "auto", "--l1-ratio", "1", "--cv", "3", "--n-alphas", "8",
                                 "--short-model", "lasso", "--out", str(out))
    assert status == 0, error[-2000:]
    model = json.loads((out / "model.json").read_text())
    path = model["path"]
    assert len(path["points"]) == 8 and path["selected_on"] == "3-fold cross-validation"
    chosen = path["points"][path["chosen"]]
    assert model["alpha"] == chosen["alpha"] and model["l1_ratio"] == 1.0
    assert f"penalty alpha {chosen['alpha']:.4g}" in printed and "3-fold cross-validation" in printed
    assert model["short_model"]["ranked_by"] == "lasso"
    report = (out / "report.html").read_text()
    assert "Regularization path" in report
    # wa_churn has text columns: the reader is told that their levels are penalized on their own scale.
    assert "each categorical level's own coefficient" in model["training"]["penalized"]
    assert "The penalty weighs the standardized coefficients of numeric columns and each categorical level" in report
    # A refusal names the options as the command spells them, with the values typed: those its check is about.
    for bad, message in ((["--l1-ratio", "2", "--alpha", "0.1"], "--l1-ratio must be in [0, 1]; got --l1-ratio 2.0."),
                         (["--alpha", "auto", "--cv", "1"], "--cv must be an integer >= 2 (--cv 1 leaves no rows to "
                                                            "fit on); got --cv 1."),
                         (["--l2", "1e-3", "--cost-fn", "5"], "give both --cost-fp and --cost-fn, or neither; got "
                                                              "--cost-fn 5.0."),
                         (["--l1-ratio", "1"], "--l1-ratio > 0 needs --alpha (a number, or 'auto'); got --l1-ratio 1.0."),
                         (["--cv", "5"], "--cv chooses the penalty: it needs --alpha auto; got --cv 5."),
                         # An option the check names but the user left at its default is shown as such.
                         (["--alpha", "auto", "--short-model", "lasso"], "--short-model lasso ranks by the lasso path: "
                          "it needs --alpha auto and --l1-ratio > 0; got --alpha auto, --short-model lasso, "
                          "--l1-ratio 0.0 (the default)."),
                         (["--max-iter", "0"], "--max-iter must be an integer >= 1; got --max-iter 0.")):
        status, _, error = run("--out", str(tmp_path / "bad"), *bad)
        assert status == 2 and message in error and len(error.strip().splitlines()) == 1, error


@pytest.mark.parametrize("l1_ratio", [0.5, 1.0])
def test_owl_qn_equals_proximal_newton(problems, l1_ratio):
    """solver='lbfgs' takes OWL-QN for an L1 penalty: the same optimum as proximal Newton, the same zeros."""
    X, y = problems["generated"]
    owl = LogisticRegression(alpha=0.02, l1_ratio=l1_ratio, solver="lbfgs").fit(X, y)
    newton = LogisticRegression(alpha=0.02, l1_ratio=l1_ratio).fit(X, y)
    assert owl.solver_ == "owl-qn" and owl.converged_ and newton.solver_ == "prox-newton"
    np.testing.assert_allclose(owl.coef_standardized_, newton.coef_standardized_, rtol=0, atol=1e-10)
    np.testing.assert_array_equal(owl.coef_ == 0.0, newton.coef_ == 0.0)


def test_thousands_of_levels_take_owl_qn_and_meet_the_conditions():
    """A categorical of thousands of levels is too wide for the dense Hessian: OWL-QN solves the lasso there, and
    the optimality conditions hold on the one-hot design built apart from the kernels."""
    from logreg_dist._enet import subgradient
    from logreg_dist._engine import LocalEngine

    from .test_categorical_codes import _design as coded_design, _generated, _indicator_design, _levels, _rows

    frame = _generated(14_000, [4500, 10])
    preparation, X, y = coded_design(frame, "y")
    assert X.layout.n_features > 3000
    alpha = 2e-4
    halves = [(_rows(X, 0, 5000), y[:5000], None), (_rows(X, 5000, len(y)), y[5000:], None)]
    model = LogisticRegression(alpha=alpha, l1_ratio=1.0).fit_loaded(
        LocalEngine(halves), feature_names=preparation.feature_names, n_rows=len(y), levels=_levels(preparation))
    assert model.solver_ == "owl-qn" and model.converged_
    zero = model.coef_[0] == 0.0
    assert 0 < zero.sum() < zero.size and np.isnan(model.std_errors_[0][zero]).all()
    design = _indicator_design(X)
    mean = np.asarray(design.mean(axis=0)).ravel()
    std = np.sqrt(np.asarray(design.multiply(design).mean(axis=0)).ravel() - mean**2)
    live = std > 0
    b = model.coef_standardized_[0]
    eta = design @ (b / np.where(live, std, 1.0)) + (model.intercept_standardized_[0] - mean @ (b / np.where(live, std, 1.0)))
    residual = 1.0 / (1.0 + np.exp(-eta)) - y
    grad = (design.T @ residual - mean * residual.sum()) / np.where(live, std, 1.0) / len(y)
    gap = subgradient(b[live], grad[live], np.full(live.sum(), alpha))
    assert np.max(np.abs(gap)) < 1e-9 and abs(residual.mean()) < 1e-9

def test_a_failed_fold_stops_the_passes():
    """A fold that raises stops every fold at once: the requests the others left behind get no pass of their own."""
    import threading
    import time

    from logreg_dist._engine import LocalEngine
    from logreg_dist._kernels import loss_sums
    from logreg_dist._path import run_folds

    X, y = make_classification(400, 3, seed=5)
    calls = []

    class Counted(LocalEngine):
        def map_reduce(self, kernel, /, **params):
            calls.append(kernel.__name__)
            return super().map_reduce(kernel, **params)

    engine = Counted([(X, y.astype(np.float64), None, np.arange(400) % 2)])
    zeros = dict(coef=np.zeros(3), intercept=0.0, mean=np.zeros(3), inv_scale=np.ones(3), derivatives=0)

    def work(fold, fold_engine):
        if fold == 0:  # fails once the two other folds wait on their pass (posting a request notifies no one)
            for _ in range(3000):
                with fold_engine.batch.condition:
                    if len(fold_engine.batch.requests) == 2:
                        break
                time.sleep(0.01)
            raise RuntimeError("fold 0 failed")
        return fold_engine.map_reduce(loss_sums, **zeros)

    finished = []
    runner = threading.Thread(target=lambda: finished.append(pytest.raises(RuntimeError, run_folds, engine, 3, work)))
    runner.start()
    runner.join(timeout=60)
    assert not runner.is_alive() and finished  # no deadlock
    assert "fold 0 failed" in str(finished[0].value)
    assert calls == []


def test_folds_beyond_int8():
    from logreg_dist._path import hashed_folds

    folds = hashed_folds(pd.Series(np.arange(50_000)), 200)
    assert folds.min() == 0 and folds.max() == 199  # int8 would wrap folds 128..199 to negative ones


def test_train_options_refuse_before_the_data_is_read():
    from logreg_dist.jobs import TrainOptions

    with pytest.raises(ValueError, match=r"alpha must be a finite number >= 0 or 'auto'; got alpha=inf\.$"):
        TrainOptions(data="d", target="t", alpha=float("inf"), l1_ratio=1.0)
    with pytest.raises(ValueError, match=r"l2 must be a finite number >= 0; got l2=inf\.$"):
        TrainOptions(data="d", target="t", l2=float("inf"))
    # Costs are checked one by one, then together, before anything is read (a trial found 0 and 0 refused after the fit).
    with pytest.raises(ValueError, match=r"cost_fp must be a finite number >= 0; got cost_fp=-1\.0\.$"):
        TrainOptions(data="d", target="t", cost_fp=-1.0)
    with pytest.raises(ValueError, match=r"cost_fp and cost_fn are both 0: at least one must be positive"):
        TrainOptions(data="d", target="t", cost_fp=0.0, cost_fn=0.0)
    TrainOptions(data="d", target="t", alpha="auto", solver="lbfgs")  # OWL-QN runs the path
    TrainOptions(data="d", target="t", alpha=0.1, solver="lbfgs")  # a single ridge penalty: L-BFGS fits it


def test_the_summary_reads_right_for_a_path_and_for_every_coefficient_zero(tmp_path, mlc_churn, capsys):
    """The run's flow steps in this process: the 1-SE choice in words; a penalty that zeroes every coefficient
    says so, lists no "strongest" zeros and ranks no short model on them; the report's facts name the penalty."""
    from logreg_dist import cli, jobs
    from logreg_dist.training import TrainingRows

    data = tmp_path / "mlc.parquet"
    mlc_churn.to_parquet(data)
    printed = {}
    for name, penalty in (("1se", dict(alpha="auto", l1_ratio=1.0, n_alphas=6, alpha_rule="1se")),
                          ("zero", dict(alpha=10.0, l1_ratio=1.0))):
        options = jobs.TrainOptions(data=str(data), target="churn", **penalty)
        rows = TrainingRows.read(str(data), valid_fraction=0.2)
        try:
            model = jobs.fit(rows, options, jobs.prepare(rows, options))
            validation = jobs.validate(rows, options, model)
            short = jobs.short_model(rows, options, model)
            if name == "1se":  # --top-k beyond the inputs: the short model is every input in use, and says so
                every = jobs.short_model(rows, dataclasses.replace(options, top_k=50), model)
                assert every["top_k"] == 50 and 3 < len(every["features"]) < 50 and "top_k" not in short
            distribution = jobs.profile(rows, model)
        finally:
            rows.close()
        out = jobs.write_model(str(tmp_path / name), model, validation, short, options, distribution)
        cli._print_headline(jobs.model_headline(out))
        printed[name] = capsys.readouterr().out
        if name == "zero":
            assert short is None
            assert "Penalty</dt><dd>alpha 10, l1_ratio 1<" in (tmp_path / name / "report.html").read_text()
        else:
            assert short["ranked_by"] == "strongest"
            assert "Its features, the inputs of largest |standardized coefficient|:" in (
                tmp_path / name / "report.html").read_text()
    assert "--top-k" not in printed["1se"]
    headline = jobs.model_headline(str(tmp_path / "1se"))
    headline["short_model"] = {**headline["short_model"], "top_k": 50}  # what a --top-k beyond the inputs records
    cli._print_headline(headline)
    assert f"(--top-k 50 is more than the {len(headline['short_model']['features'])} inputs the model uses: all of them)" \
        in capsys.readouterr().out
    headline = jobs.model_headline(str(tmp_path / "1se"))
    assert headline["penalty"]["not_converged"] == 0 and "did not converge" not in printed["1se"]
    headline["penalty"]["not_converged"] = 2  # the line a path with unconverged points adds under "converged=True"
    cli._print_headline(headline)
    assert "2 of the path's 6 penalties did not converge (on every training row, or in a fold)" in capsys.readouterr().out
    assert "chosen by the one-standard-error rule on the validation deviance" in printed["1se"]
    assert "iterations over the path's 6 penalties" in printed["1se"]
    assert "every coefficient is zero: the model gives every customer the base rate (a smaller --alpha lets" \
        in printed["zero"]  # no --alpha-rule hint without a path
    assert "strongest features: none" in printed["zero"] and "coef +0 " not in printed["zero"]
    # A short model scoring the held-out rows better than the full model's interval says the full one fits noise,
    # and what to change: the penalty was chosen here, so raise it; without a path, let one be chosen.
    assert "fits noise" not in printed["1se"]
    headline = jobs.model_headline(str(tmp_path / "1se"))
    headline["short_model"] = {**headline["short_model"], "auc": headline["metrics"]["auc_ci"][1] + 0.01}
    cli._print_headline(headline)
    shown = capsys.readouterr().out
    assert "the full model fits noise in the training rows; fold rare levels (--min-frequency) or raise the penalty" \
        in shown
    headline["penalty"] = {}
    cli._print_headline(headline)
    assert "let the held-out rows choose a penalty (--alpha auto)" in capsys.readouterr().out


def test_a_pass_that_fails_when_a_fold_leaves_is_raised_once():
    """A fold that ends runs the pass the others wait on; that pass's error reaches the caller, not a thread's
    traceback on stderr."""
    import threading
    import time

    from logreg_dist._engine import LocalEngine
    from logreg_dist._kernels import loss_sums
    from logreg_dist._path import run_folds

    X, y = make_classification(200, 3, seed=6)

    class Lost(LocalEngine):
        def map_reduce(self, kernel, /, **params):
            raise ConnectionError("worker lost")

    engine = Lost([(X, y.astype(np.float64), None, np.arange(200) % 2)])
    zeros = dict(coef=np.zeros(3), intercept=0.0, mean=np.zeros(3), inv_scale=np.ones(3), derivatives=0)

    def work(fold, fold_engine):
        if fold == 1:  # ends early, once the two other folds wait on their pass
            for _ in range(3000):
                with fold_engine.batch.condition:
                    if len(fold_engine.batch.requests) == 2:
                        return None
                time.sleep(0.01)
        return fold_engine.map_reduce(loss_sums, **zeros)

    uncaught = []
    previous, threading.excepthook = threading.excepthook, uncaught.append
    try:
        with pytest.raises(ConnectionError, match="worker lost"):
            run_folds(engine, 3, work)
    finally:
        threading.excepthook = previous
    assert uncaught == []


def test_the_report_says_how_the_path_chose():
    from logreg_dist.report import _path_section

    X, y = make_classification(600, 4, seed=7)
    model = LogisticRegression(alpha="auto", l1_ratio=1.0, n_folds=3, n_alphas=4).fit(X, y)
    path = {"points": model.path_, "chosen": model.path_chosen_, "rule": "min", "point_tol": model.path_tol_,
            "selected_on": "3-fold cross-validation", "coef_standardized": model.coef_path_standardized_.tolist()}
    html = _path_section(path, [f"x{j}" for j in range(4)])
    assert "the choice is the least deviance in 3-fold cross-validation (the deviance is the mean over the folds" in html
    assert f"until its optimality conditions held to {model.path_tol_:.1e}" in html
    assert "the chosen one was then solved exactly" in html


@pytest.mark.parametrize("solver", ["auto", "lbfgs"])  # proximal Newton, and OWL-QN (which keeps no Hessian)
def test_collinear_nonzero_coefficients_are_named_and_get_no_standard_errors(wa_churn, solver):
    """wa_churn's one-hot columns repeat ("No internet service" in six columns): the lasso keeps several of a repeated
    column nonzero, their Hessian is singular, and the fit says which columns, rather than NaN standard errors alone."""
    X = wa_churn.drop(columns=["churn"])
    text = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
    X = pd.get_dummies(X, columns=text, drop_first=True, dtype=float).fillna(0.0)
    y = (wa_churn["churn"] == "Yes").to_numpy().astype(np.int64)
    with pytest.warns(CollinearityWarning, match=r"are collinear: \[.*No internet service.*\]\. The L1") as record:
        model = LogisticRegression(alpha=4.5e-4, l1_ratio=1.0, solver=solver).fit(X, y)
    assert len([w for w in record if issubclass(w.category, CollinearityWarning)]) == 1
    assert np.isnan(model.std_errors_).all() and np.count_nonzero(model.coef_) > 20
    assert any("No internet service" in name for group in model.collinear_groups_ for name in group)
    # With a ridge part the Hessian is definite again: standard errors for every nonzero coefficient.
    with warnings.catch_warnings():
        warnings.simplefilter("error", CollinearityWarning)
        ridged = LogisticRegression(alpha=4.5e-4, l1_ratio=0.5).fit(X, y)
    assert np.isfinite(ridged.std_errors_[ridged.coef_ != 0]).all()


def test_a_chosen_point_that_cannot_be_made_exact_is_flagged_and_the_next_choice_is_taken():
    """OWL-QN on a wide problem: a point that met the path's tolerance but does not reach tol within max_iter from
    there is not the model; it is flagged as a point that did not converge, and the next choice is made exact."""
    rng = np.random.default_rng(0)
    n, p = 3000, 520
    X = rng.standard_normal((n, 40)) @ rng.standard_normal((40, p)) * 0.3 + rng.standard_normal((n, p))
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-X[:, :10].sum(1) * 0.3))).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model = LogisticRegression(alpha="auto", l1_ratio=1.0, n_alphas=10).fit(
            X[:2400], y[:2400], validation=(X[2400:], y[2400:]))
    assert model.solver_ == "owl-qn" and model.converged_
    chosen = model.path_[model.path_chosen_]
    assert chosen["made_exact"] and chosen["converged"] and chosen["max_subgradient"] <= 1e-12
    refused = [q for q in model.path_ if "but not to" in q.get("message", "")]
    assert refused and not any(q["converged"] for q in refused)
    deviance = {k: q["valid_deviance"] for k, q in enumerate(model.path_) if q["converged"]}
    assert any(q["valid_deviance"] < min(deviance.values()) for q in refused)  # they ranked first, and were passed


def _mixed_blocks(n, rng):
    """The same features as each kind of block the kernels take: column runs of mixed dtypes, F- and C-ordered float64
    arrays, and column runs beside a categorical column as codes."""
    from logreg_dist._codes import CodedBlock, CodedLayout
    from logreg_dist._kernels import ColumnRuns

    runs = [rng.normal(size=(n, 3)).astype(np.float32), rng.integers(0, 5, size=(n, 2)).astype(np.int32),
            rng.random((n, 1)) < 0.3]
    numeric = ColumnRuns([np.asfortranarray(run) for run in runs])
    dense = np.asarray(numeric, dtype=np.float64)
    codes = rng.integers(0, 4, size=n).astype(np.int16)  # 0 the reference level, 1..3 three more
    layout = CodedLayout(n_features=9, numeric_index=np.arange(6), starts=(6,), n_levels=(3,))
    return {"runs": numeric, "F": np.asfortranarray(dense), "C": np.ascontiguousarray(dense),
            "codes": CodedBlock(numeric, [codes], layout)}


@pytest.mark.parametrize("in_fold_order", [False, True])
@pytest.mark.parametrize("kind", ["runs", "F", "C", "codes"])
def test_fold_scores_score_each_fold_on_its_own_rows(kind, in_fold_order):
    """Each fold's path is scored on that fold's rows alone: the held-out log-loss sums and label counts equal NumPy's
    on those rows, with row weights, for every kind of block, as it lies or in fold order (each fold a span); a fold
    with no rows in the block adds nothing."""
    from logreg_dist._path import by_fold, fold_path_scores

    rng = np.random.default_rng(3)
    n = 3_000
    X = _mixed_blocks(n, rng)[kind]
    y = (rng.random(n) < 0.2).astype(np.float64)
    w = rng.uniform(0.5, 2.0, size=n)
    folds = rng.integers(0, 3, size=n).astype(np.int8)  # fold 3 of 4 holds no row of this block
    if in_fold_order:
        X, y, w, folds = by_fold(X, y, w, folds)
    dense = np.asarray(X, dtype=np.float64)
    coefs = [rng.normal(scale=0.3, size=(4, dense.shape[1])) for _ in range(4)]
    intercepts = [rng.normal(size=4) for _ in range(4)]
    scores = fold_path_scores(X, y, w, folds, coefs=coefs, intercepts=intercepts)
    for g, fold in enumerate(scores):
        rows = folds == g
        eta = dense[rows] @ coefs[g].T + intercepts[g]
        losses = np.logaddexp(0.0, eta) - y[rows, None] * eta
        assert fold.weight == pytest.approx(w[rows].sum(), rel=1e-12)
        np.testing.assert_allclose(fold.loss, w[rows] @ losses, rtol=1e-12, atol=0 if rows.any() else 1e-300)
        np.testing.assert_allclose(fold.loss_sq, w[rows] @ losses**2, rtol=1e-12, atol=0 if rows.any() else 1e-300)
        np.testing.assert_allclose(fold.positives.sum(axis=1), (w * y)[rows].sum(), rtol=1e-12)
        np.testing.assert_allclose(fold.negatives.sum(axis=1), (w * (1 - y))[rows].sum(), rtol=1e-12)


@pytest.mark.parametrize("kind", ["runs", "F", "C", "codes"])
def test_fold_sums_of_a_block_in_fold_order_are_those_of_the_block(kind):
    """In fold order each fold's sums come from the two spans around its rows; they equal the sums with its rows
    weighted 0, for every kind of block, loss, gradient and Hessian, with weights or without."""
    from logreg_dist._path import by_fold, fold_loss_sums

    rng = np.random.default_rng(5)
    n = 2_000
    X = _mixed_blocks(n, rng)[kind]
    y = (rng.random(n) < 0.2).astype(np.float64)
    folds = rng.integers(0, 4, size=n).astype(np.int8)
    dense = np.asarray(X, dtype=np.float64)
    p = dense.shape[1]
    requests = [(g, rng.normal(scale=0.3, size=p), -1.0, 2, 1, None) for g in (-1, 0, 1, 2, 3)]
    params = dict(requests=requests, mean=dense.mean(axis=0), inv_scale=1.0 / np.maximum(dense.std(axis=0), 1e-9))
    for w in (None, rng.uniform(0.5, 2.0, size=n)):
        as_is = fold_loss_sums(X, y, w, folds, **params)
        ordered = fold_loss_sums(*by_fold(X, y, w, folds), **params)
        for a, b in zip(as_is, ordered):
            assert b.weight_sum == pytest.approx(a.weight_sum, rel=1e-12)
            np.testing.assert_allclose(b.loss_sum, a.loss_sum, rtol=1e-12)
            np.testing.assert_allclose(b.grad_sum, a.grad_sum, rtol=1e-10, atol=1e-9)
            dense_hessian = [h if isinstance(h, np.ndarray) else h.dense() for h in (a.hess_sum, b.hess_sum)]
            np.testing.assert_allclose(dense_hessian[1], dense_hessian[0], rtol=1e-10, atol=1e-9)


@pytest.mark.parametrize("kind", ["runs", "F", "C", "codes"])
def test_gradient_passes_of_every_fold_from_one_read_are_each_folds_own_sums(kind):
    """The folds' gradient and loss requests share one read of a column-major block; each fold's sums equal those
    of its rows outside the fold summed alone, with its rows weighted 0, and with restricted columns left 0."""
    from logreg_dist._kernels import loss_sums, shared_read_loss_sums
    from logreg_dist._path import by_fold, fold_loss_sums

    rng = np.random.default_rng(8)
    n = 9_000  # spans of several SPAN rows and a partial one
    X = _mixed_blocks(n, rng)[kind]
    y = (rng.random(n) < 0.2).astype(np.float64)
    folds = rng.integers(0, 4, size=n).astype(np.int8)
    dense = np.asarray(X, dtype=np.float64)
    p = dense.shape[1]
    coefs = rng.normal(scale=0.3, size=(5, p))
    coefs[2, ::3] = 0.0  # a fold whose model leaves columns out of its products
    restricted = np.array([0, 2, p - 1])
    requests = [(-1, coefs[0], -1.0, 1, 1, None), (0, coefs[1], -0.5, 1, 1, None), (1, coefs[2], -1.2, 0, 1, None),
                (2, coefs[3], -0.8, 1, 1, restricted), (3, coefs[4], -1.0, 2, 1, None)]
    mean, inv_scale = dense.mean(axis=0), 1.0 / np.maximum(dense.std(axis=0), 1e-9)
    Xo, yo, _, fo = by_fold(X, y, None, folds)
    models = [(c, b, d, cols, (0, 0)) for _, c, b, d, _, cols in requests]
    assert (shared_read_loss_sums(Xo, yo, None, models=models, mean=mean, inv_scale=inv_scale) is None) == (
        kind in ("C", "codes"))
    for w in (None, rng.uniform(0.5, 2.0, size=n)):
        got = fold_loss_sums(X, y, w, folds, requests=requests, mean=mean, inv_scale=inv_scale)
        for (fold, coef, intercept, derivatives, _, columns), sums in zip(requests, got):
            outside = folds != fold
            zeroed = outside if w is None else w * outside
            want = loss_sums(dense, y, zeroed.astype(np.float64), coef=coef, intercept=intercept, mean=mean,
                             inv_scale=inv_scale, derivatives=derivatives, columns=columns)
            assert sums.weight_sum == pytest.approx(want.weight_sum, rel=1e-12)
            np.testing.assert_allclose(sums.loss_sum, want.loss_sum, rtol=1e-12)
            if derivatives == 0:
                assert sums.grad_sum is None
                continue
            np.testing.assert_allclose(sums.grad_sum, want.grad_sum, rtol=1e-10, atol=1e-9)
            if columns is not None and kind in ("runs", "F"):
                left_out = np.setdiff1d(np.arange(p), columns)
                assert np.all(sums.grad_sum[left_out] == 0.0)


def test_take_rows_keeps_each_kind_of_block():
    from logreg_dist._kernels import take_rows

    rng = np.random.default_rng(4)
    index = np.flatnonzero(rng.random(500) < 0.4)
    for kind, X in _mixed_blocks(500, rng).items():
        taken = take_rows(X, index)
        np.testing.assert_array_equal(np.asarray(taken), np.asarray(X)[index])
        assert type(taken) is type(X), kind
        if kind == "F":
            assert taken.flags.f_contiguous
        if kind == "runs":
            assert [r.dtype for r in taken.runs] == [r.dtype for r in X.runs] and all(r.flags.f_contiguous for r in taken.runs)


def test_level_features_must_name_every_feature():
    from logreg_dist._engine import LocalEngine

    X, y = make_classification(200, 4, seed=1)
    with pytest.raises(InputError, match="level_features has 3 entries for 4 features; they must match"):
        LogisticRegression(alpha=0.01, l1_ratio=1.0).fit_loaded(
            LocalEngine([(X, y.astype(np.float64), None)]), feature_names=[f"x{j}" for j in range(4)], n_rows=200,
            level_features=[True, False, False])


def test_the_chosen_point_made_exact_from_the_kept_hessian_is_the_same_point(problems, monkeypatch):
    """From the Hessian the path kept (gradient passes first) or from two full Hessians: the same exact answer."""
    import logreg_dist._path as path_module
    import logreg_dist._penalty as penalty_module

    X, y = problems["wa_churn"]
    held = np.arange(len(y)) % 5 == 0
    fits = []
    for kept in (True, False):
        monkeypatch.setattr(penalty_module, "KEPT_START_MIN_PARAMS", 0 if kept else 10**9)
        monkeypatch.setattr(path_module, "KEEP_HESSIAN_VALUES", 1 << 23 if kept else 0)
        fits.append(LogisticRegression(alpha="auto", l1_ratio=0.5, n_alphas=8).fit(
            X[~held], y[~held], validation=(X[held], y[held])))
    a, b = fits
    assert a.path_chosen_ == b.path_chosen_ and a.converged_ and b.converged_
    # Each took its own route there: gradient passes then one full Hessian, or two full Hessians.
    assert a.path_[a.path_chosen_]["passes"] != b.path_[b.path_chosen_]["passes"]
    np.testing.assert_allclose(a.coef_standardized_, b.coef_standardized_, rtol=0, atol=1e-10)
    np.testing.assert_allclose(a.std_errors_, b.std_errors_, rtol=1e-8)


def test_path_scores_over_several_spans_equal_each_points_own(monkeypatch):
    """Scored a span of rows at a time for every point at once, the held-out sums and every bin's counts equal those
    of each point scored alone over the whole block."""
    import logreg_dist._path as path_module
    from logreg_dist._kernels import ColumnRuns

    monkeypatch.setattr(path_module, "SCORE_CELLS", 1)  # spans of CHUNK_ROWS rows
    rng = np.random.default_rng(5)
    n = 10_000
    dense = rng.normal(size=(n, 3))
    X = ColumnRuns([np.asfortranarray(dense[:, :2].astype(np.float32)), np.asfortranarray(dense[:, 2:] > 0)])
    values = np.asarray(X, dtype=np.float64)
    y = (rng.random(n) < 0.1).astype(np.float64)
    w = rng.uniform(0.5, 2.0, n)
    coefs, intercepts = rng.normal(size=(5, 3)), rng.normal(size=5) - 2.0
    scores = path_module.path_scores(X, y, w, coefs=coefs, intercepts=intercepts)
    for k in range(5):
        eta = values @ coefs[k] + intercepts[k]
        losses = np.logaddexp(0.0, eta) - y * eta
        np.testing.assert_allclose(scores.loss[k], w @ losses, rtol=1e-12)
        np.testing.assert_allclose(scores.loss_sq[k], w @ losses**2, rtol=1e-12)
        unit = (np.clip(eta, -path_module.AUC_LOGIT_RANGE, path_module.AUC_LOGIT_RANGE) + path_module.AUC_LOGIT_RANGE)
        bins = np.minimum((unit / (2 * path_module.AUC_LOGIT_RANGE) * path_module.AUC_BINS).astype(int),
                          path_module.AUC_BINS - 1)
        assert len(np.unique(bins)) > 100  # the rows spread over many bins: the counts test each row's bin
        np.testing.assert_allclose(scores.positives[k], np.bincount(bins, weights=w * y, minlength=path_module.AUC_BINS),
                                   rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(scores.negatives[k],
                                   np.bincount(bins, weights=w * (1 - y), minlength=path_module.AUC_BINS),
                                   rtol=1e-12, atol=1e-12)


def test_cross_validation_weighs_levels_as_the_fit_at_its_choice_does():
    """Folds, full path and the exact fit at the chosen penalty all penalize the levels on their own scale: the
    model equals the fit of that penalty alone with the same levels marked, and differs from one without them."""
    from logreg_dist._engine import LocalEngine

    from .test_categorical_codes import _design as coded_design, _generated, _levels

    frame = _generated(6000, [40])
    preparation, X, y = coded_design(frame, "y")
    marks = np.concatenate([np.full(len(c.encoded), hasattr(c, "levels")) for c in preparation.columns])
    folds = (np.arange(len(y)) % 3).astype(np.int8)
    common = dict(feature_names=preparation.feature_names, n_rows=len(y), levels=_levels(preparation))
    model = LogisticRegression(alpha="auto", l1_ratio=1.0, n_folds=3, n_alphas=8).fit_loaded(
        LocalEngine([(X, y, None)]), level_features=marks, folds=LocalEngine([(X, y, None, folds)]), **common)
    alone = LogisticRegression(alpha=model.alpha_, l1_ratio=1.0).fit_loaded(
        LocalEngine([(X, y, None)]), level_features=marks, **common)
    np.testing.assert_allclose(model.coef_, alone.coef_, rtol=0, atol=1e-9)
    unmarked = LogisticRegression(alpha=model.alpha_, l1_ratio=1.0).fit_loaded(LocalEngine([(X, y, None)]), **common)
    assert np.abs(unmarked.coef_ - alone.coef_).max() > 1e-3


@pytest.mark.parametrize("kind", ["runs", "F", "C", "codes"])
def test_sums_over_some_columns_are_those_columns_of_the_full_sums(kind):
    """A pass over part of the columns (a path's active set) gives those columns' gradient and Hessian entries, the
    intercept's and the loss exactly as the full pass does, sampled Hessian or not, weighted or not; a column-major
    block skips the others (their entries 0), the other blocks may sum them."""
    from logreg_dist._kernels import loss_sums

    rng = np.random.default_rng(11)
    n = 9_000
    X = _mixed_blocks(n, rng)[kind]
    y = (rng.random(n) < 0.2).astype(np.float64)
    dense = np.asarray(X, dtype=np.float64)
    p = dense.shape[1]
    columns = np.array([0, 2, 3, p - 1])
    index = np.append(columns, p)
    params = dict(coef=rng.normal(scale=0.3, size=p) * (rng.random(p) < 0.6), intercept=-1.0,
                  mean=dense.mean(axis=0), inv_scale=1.0 / np.maximum(dense.std(axis=0), 1e-9))
    for w in (None, rng.uniform(0.5, 2.0, size=n)):
        for derivatives, every in ((1, 1), (2, 1), (2, 2)):
            full = loss_sums(X, y, w, derivatives=derivatives, hessian_every=every, chunk_rows=1024, **params)
            part = loss_sums(X, y, w, derivatives=derivatives, hessian_every=every, chunk_rows=1024, columns=columns,
                             **params)
            assert part.loss_sum == full.loss_sum and part.weight_sum == full.weight_sum
            np.testing.assert_allclose(part.grad_sum[index], full.grad_sum[index], rtol=1e-13, atol=1e-12)
            if kind in ("runs", "F"):
                assert not np.any(np.delete(part.grad_sum, index))
            if derivatives == 2:
                hessians = [h if isinstance(h, np.ndarray) else h.dense() for h in (full.hess_sum, part.hess_sum)]
                np.testing.assert_allclose(hessians[1][np.ix_(index, index)], hessians[0][np.ix_(index, index)],
                                           rtol=1e-12, atol=1e-11)
                assert part.hess_weight_sum == full.hess_weight_sum


def test_passes_over_the_active_set_leave_every_answer_as_it_was(monkeypatch):
    """On 120 standardized columns of which 6 carry the label, the path's passes far from each point's optimum read
    its eligible columns only: the path takes as many passes, every point's reported gap is that of an independent
    full gradient, and each point and the final model equal the path's without such passes to well inside its
    tolerance (the final model to 1e-9)."""
    import logreg_dist._enet as enet_module
    import logreg_dist._objective as objective_module

    rng = np.random.default_rng(8)
    n, p = 6_000, 120
    X = rng.standard_normal((n, p)).astype(np.float32)
    beta = np.zeros(p)
    beta[:6] = [0.8, -0.6, 0.5, 0.4, -0.3, 0.2]
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-(X @ beta - 2.5)))).astype(np.int64)
    frame = pd.DataFrame(X, columns=[f"x{j}" for j in range(p)])  # column runs: a column-major block
    held = np.arange(n) % 4 == 0
    restricted = []
    original = objective_module.Objective._sums

    def counted(self, theta, derivatives, hessian_every=1, restrict=None):
        restricted[-1] += restrict is not None
        return original(self, theta, derivatives, hessian_every, restrict)

    monkeypatch.setattr(objective_module.Objective, "_sums", counted)
    fits = []
    for above in (enet_module.RESTRICT_ABOVE, np.inf):
        monkeypatch.setattr(enet_module, "RESTRICT_ABOVE", above)
        restricted.append(0)
        # 20 points: the strong rule screens where each penalty is above half the one before.
        fits.append(LogisticRegression(alpha="auto", l1_ratio=1.0, n_alphas=20).fit(
            frame[~held], y[~held], validation=(frame[held], y[held])))
    part, whole = fits
    assert restricted[0] >= 5 and restricted[1] == 0
    assert part.n_passes_ <= whole.n_passes_ + 1
    assert part.path_chosen_ == whole.path_chosen_
    Z = _standardized(X[~held])
    for k, (a, b) in enumerate(zip(part.path_, whole.path_)):
        coef = part.coef_path_standardized_[k]
        probability = 1.0 / (1.0 + np.exp(-(Z @ coef + a["intercept_standardized"])))
        grad = np.append(Z.T @ (probability - y[~held]), np.sum(probability - y[~held])) / Z.shape[0]
        gap = np.where(coef != 0, grad[:-1] + a["alpha"] * np.sign(coef),
                       np.sign(grad[:-1]) * np.maximum(np.abs(grad[:-1]) - a["alpha"], 0.0))
        assert abs(a["max_subgradient"] - max(np.max(np.abs(gap)), abs(grad[-1]))) <= 1e-11, k
        assert a["converged"] and a["n_nonzero"] == b["n_nonzero"], k
        np.testing.assert_allclose(coef, whole.coef_path_standardized_[k], rtol=0, atol=1e-3)
    np.testing.assert_allclose(part.coef_standardized_, whole.coef_standardized_, rtol=0, atol=1e-9)


def test_a_solve_over_its_active_set_ends_on_a_full_gradient(monkeypatch):
    """With every pass but those within tol summing the eligible coordinates only, the solve still ends exact: the
    pass that finds them within tol is followed by a full one, and a coordinate left out that violates its condition
    then joins."""
    import logreg_dist._enet as enet_module
    from logreg_dist._engine import LocalEngine
    from logreg_dist._objective import Objective

    rng = np.random.default_rng(4)
    n, p = 4_000, 10
    X = np.asfortranarray(rng.standard_normal((n, p)))
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-(X[:, :3] @ [1.0, -0.7, 0.5] - 1.0)))).astype(np.float64)
    engine = LocalEngine([(X[:2_000], y[:2_000], None), (X[2_000:], y[2_000:], None)])
    l1 = np.append(np.full(p, 0.01), 0.0)
    theta0 = np.zeros(p + 1)
    eligible = np.zeros(p + 1, dtype=bool)
    eligible[[0, 1, p]] = True  # x2 is left out but belongs in the model
    results = []
    for above in (1.0, np.inf):
        monkeypatch.setattr(enet_module, "RESTRICT_ABOVE", above)
        objective = Objective(engine, mean=X.mean(axis=0), inv_scale=1.0 / X.std(axis=0), active=np.ones(p, bool),
                              l2=0.0)
        results.append((enet_module.prox_newton(objective, theta0, l1=l1, tol=1e-11, max_iter=50,
                                                eligible=eligible.copy(), restrict=True), objective.passes))
    (part, part_passes), (whole, whole_passes) = results
    assert part.converged and whole.converged
    assert part_passes.restricted >= 2 and whole_passes.restricted == 0
    assert part.theta[2] != 0.0  # the coordinate left out joined once a full pass found it violated
    check = Objective(engine, mean=X.mean(axis=0), inv_scale=1.0 / X.std(axis=0), active=np.ones(p, bool), l2=0.0)
    assert enet_module.kkt_gap(part.theta, check.loss_grad(part.theta)[1], l1) <= 1e-11
    np.testing.assert_allclose(part.grad, check.loss_grad(part.theta)[1], rtol=0, atol=1e-15)
    np.testing.assert_allclose(part.theta, whole.theta, rtol=0, atol=1e-9)


def test_the_hessians_a_path_passes_on_stay_positive_definite_with_active_set_passes(monkeypatch):
    """With every pass far from its point's optimum over the eligible columns (RESTRICT_ABOVE 1), the Hessians the
    path keeps for its next points and for the folds that follow it stay positive definite: a block of the eligible
    columns put beside the older entries as they were went indefinite, and the folds that followed it overflowed.
    The cross-validated choice and model are those without such passes."""
    import logreg_dist._enet as enet_module
    import logreg_dist._penalty as penalty_module

    rng = np.random.default_rng(281)
    n, p = 8_000, 160
    latent = rng.standard_normal(n)
    columns = {}
    for j in range(p):
        if j % 4 == 0:
            columns[f"c{j}"] = rng.random(n) < 0.2
        elif j % 4 == 1:
            columns[f"c{j}"] = rng.integers(0, 7, size=n).astype(np.int16)
        else:
            columns[f"c{j}"] = ((rng.standard_normal(n) + 0.8 * latent) * 5 + 100).astype(np.float32)
    frame = pd.DataFrame(columns)
    Z = _standardized(frame.to_numpy(np.float64))
    beta = np.zeros(p)
    beta[rng.choice(p, 40, replace=False)] = rng.normal(scale=0.4, size=40)
    y = (rng.random(n) < 1 / (1 + np.exp(-(Z @ beta - 2.0)))).astype(np.int64)
    w = rng.uniform(0.2, 3.0, size=n)
    paths = []
    original = penalty_module.run_path

    def kept(*args, **kwargs):
        points = original(*args, **kwargs)
        paths.append((kwargs.get("guide") is not None, points))
        return points

    monkeypatch.setattr(penalty_module, "run_path", kept)
    fits = []
    for above in (1.0, np.inf):
        monkeypatch.setattr(enet_module, "RESTRICT_ABOVE", above)
        paths.clear()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fits.append(LogisticRegression(alpha="auto", l1_ratio=0.5, n_alphas=20, n_folds=5).fit(
                frame, y, sample_weight=w))
        if above == 1.0:
            guide = next(points for guided, points in paths if not guided)
            assert min(np.linalg.eigvalsh(point.start[2]).min() for point in guide) > 0.0
            assert all(np.all(np.isfinite(point.theta)) for guided, points in paths if guided for point in points)
    part, whole = fits
    assert part.path_chosen_ == whole.path_chosen_
    assert not any(np.isnan(point["cv_deviance"]) for point in part.path_)
    np.testing.assert_allclose(part.coef_standardized_, whole.coef_standardized_, rtol=0, atol=1e-9)


def test_a_merged_block_keeps_the_hessian_semidefinite():
    """The eligible block summed afresh and merged into the Hessian before: semidefinite where the block put beside
    the old cross entries as they were is not (its curvature shrank), the block itself as summed, the rest as before
    but for the cross entries' common scale."""
    from logreg_dist._enet import _merged

    rng = np.random.default_rng(2)
    p = 12
    Z = rng.normal(size=(400, p)) + rng.normal(size=(400, 1))  # correlated columns: large cross entries
    before = Z.T @ Z / 400
    part = np.zeros(p, dtype=bool)
    part[:5] = True
    fresh = np.zeros((p, p))
    fresh[:5, :5] = 0.05 * before[:5, :5] + 0.01 * np.eye(5)  # the eligible block's curvature fell twentyfold
    naive = before.copy()
    naive[:5, :5] = fresh[:5, :5]
    assert np.linalg.eigvalsh(naive).min() < 0.0
    merged = _merged(before, fresh, part)
    assert np.linalg.eigvalsh(merged).min() >= -1e-12
    np.testing.assert_array_equal(merged[:5, :5], fresh[:5, :5])
    np.testing.assert_array_equal(merged[5:, 5:], before[5:, 5:])
    scale = merged[:5, 5:] / before[:5, 5:]
    assert 0.0 < scale.min() and np.allclose(scale, scale[0, 0]) and scale.max() < 1.0
