"""Categorical columns held as codes (issue 19): the same model as the one-hot design, exactly, at any level count."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression as SkLogisticRegression

import logreg_dist._objective as objective_module
from logreg_dist import InputError
from logreg_dist._codes import CodedBlock
from logreg_dist._engine import LocalEngine
from logreg_dist._estimator import LogisticRegression
from logreg_dist._kernels import loss_sums, moment_sums
from logreg_dist._predict import decision
from logreg_dist._schur import SchurHessian
from logreg_dist.design import design_block
from logreg_dist.prepare import CategoricalColumn

from .test_prepare import _prepare_in_memory


def _generated(n_rows, levels, seed=0):
    """Numeric columns of three dtypes, one with gaps, and a Zipf-like categorical per entry of ``levels``."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "age": rng.normal(40, 12, n_rows).astype(np.float32),
        "visits": rng.poisson(3, n_rows).astype(np.int32),
        "spend": rng.gamma(2.0, 50.0, n_rows),
        "member": rng.uniform(size=n_rows) < 0.3,
    })
    frame.loc[rng.uniform(size=n_rows) < 0.05, "spend"] = np.nan
    eta = -1.0 + 0.02 * (frame["age"] - 40) + 0.1 * frame["visits"] + 0.4 * frame["member"]
    for k, n_levels in enumerate(levels):
        share = 1.0 / np.arange(1, n_levels + 1) ** 0.8
        codes = rng.choice(n_levels, size=n_rows, p=share / share.sum())
        frame[f"cat{k}"] = np.array([f"L{j}" for j in range(n_levels)], dtype=object)[codes]
        eta = eta + rng.normal(0, 0.5, n_levels)[codes]
    frame["y"] = (rng.uniform(size=n_rows) < 1 / (1 + np.exp(-eta))).astype(np.int64)
    return frame


def _design(frame, target):
    preparation = _prepare_in_memory(frame, target)
    X, y, _ = design_block(frame, preparation)
    return preparation, X, y


def _levels(preparation):
    return [len(c.levels) for c in preparation.columns if isinstance(c, CategoricalColumn)]


def _rows(X, start, stop):
    """Rows ``start:stop`` of a coded block (views)."""
    return X.rows(start, stop)


def _fit(preparation, X, y, *, l2, partitions=1, solver="newton"):
    cuts = np.linspace(0, len(y), partitions + 1).astype(int)
    blocks = [(_rows(X, a, b), y[a:b], None) for a, b in zip(cuts, cuts[1:])]
    return LogisticRegression(l2=l2, solver=solver).fit_loaded(
        LocalEngine(blocks), feature_names=preparation.feature_names, n_rows=len(y), levels=_levels(preparation))


def _indicator_design(X):
    """The one-hot design of a coded block as a sparse matrix, built from its columns (no dense copy)."""
    parts = [None] * X.shape[1]
    numeric = np.asarray(X.numeric, dtype=np.float64)
    for k, j in enumerate(X.layout.numeric_index):
        parts[j] = sp.csc_matrix(numeric[:, [k]])
    rows = np.arange(len(X))
    for c, codes in enumerate(X.codes):
        seen = codes > 0
        block = sp.csc_matrix((np.ones(seen.sum()), (rows[seen], codes[seen].astype(np.int64) - 1)),
                              shape=(len(X), X.layout.n_levels[c]))
        for k in range(X.layout.n_levels[c]):
            parts[X.layout.starts[c] + k] = block[:, [k]]
    return sp.hstack(parts).tocsr()


def _one_hot_reference(X, y, l2, *, start=None):
    """The fit on the indicator design, built apart from the kernels: scikit-learn's newton-cholesky (sparse;
    scaled, not centred: the unpenalized intercept absorbs the centring), or, from ``start`` (a fitted
    estimator), one exact Newton step of the one-hot problem (for thousands of columns, where scikit-learn
    takes minutes); and the standard errors of the penalized Hessian of the summed objective, inverted densely:
    ``(X1' W X1 + n l2 diag(std^2, 0))^-1`` on the original scale."""
    design = _indicator_design(X)
    mean = np.asarray(design.mean(axis=0)).ravel()
    std = np.sqrt(np.asarray(design.multiply(design).mean(axis=0)).ravel() - mean**2)
    with_intercept = sp.hstack([design, np.ones((len(y), 1))]).tocsr()
    penalty = np.append(len(y) * l2 * std**2, 0.0)

    def hessian(theta):
        p = 1 / (1 + np.exp(-(with_intercept @ theta)))
        hess = (with_intercept.T @ sp.diags(p * (1 - p)) @ with_intercept).toarray()
        hess[np.diag_indices_from(hess)] += penalty
        return hess, with_intercept.T @ (p - y) + penalty * theta

    if start is None:
        model = SkLogisticRegression(solver="newton-cholesky", C=1.0 / (l2 * len(y)), tol=1e-12, max_iter=1000)
        model.fit(design @ sp.diags(1 / std), y)
        theta = np.append(model.coef_[0] / std, model.intercept_[0])
        hess, _ = hessian(theta)
    else:
        theta = np.append(start.coef_[0], start.intercept_[0])
        hess, grad = hessian(theta)
        theta = theta - np.linalg.solve(hess, grad)
    return theta[:-1], float(theta[-1]), np.sqrt(np.diag(np.linalg.inv(hess)))


def _assert_same(est, coef, intercept, std_errors, rtol=1e-6):
    scale = np.max(np.abs(coef))
    np.testing.assert_allclose(est.coef_[0], coef, rtol=rtol, atol=rtol * scale)
    assert est.intercept_[0] == pytest.approx(intercept, rel=rtol, abs=rtol * scale)
    np.testing.assert_allclose(est.std_errors_[0], std_errors[:-1], rtol=rtol)
    assert est.intercept_std_error_[0] == pytest.approx(std_errors[-1], rel=rtol)


@pytest.mark.parametrize("data_set", ["mlc_churn", "wa_churn"])
def test_shared_data_as_codes_equal_sklearn_and_the_one_hot_hessian(request, data_set):
    frame = request.getfixturevalue(data_set)
    preparation, X, y = _design(frame, "churn")
    assert isinstance(X, CodedBlock) and all(codes.dtype == np.int8 for codes in X.codes)
    est = _fit(preparation, X, y, l2=1e-3)
    assert est.converged_ and est.solver_ == "newton"
    _assert_same(est, *_one_hot_reference(X, y, 1e-3))
    if data_set == "mlc_churn":
        assert _levels(preparation)[0] == 50  # state


def test_hundreds_of_levels_unpenalized_equal_statsmodels():
    import statsmodels.api as sm

    frame = _generated(20_000, [300])
    preparation, X, y = _design(frame, "y")
    est = _fit(preparation, X, y, l2=0.0)
    reference = sm.Logit(y, sm.add_constant(np.asarray(X), prepend=False)).fit(method="newton", tol=1e-12, disp=0,
                                                                              maxiter=100)
    _assert_same(est, reference.params[:-1], reference.params[-1], reference.bse)


def test_thousands_of_levels_are_solved_by_structure_and_equal_the_one_hot_fit():
    frame = _generated(20_000, [4000, 40])  # about 3,300 of the 4,000 levels have rows
    preparation, X, y = _design(frame, "y")
    assert X.layout.n_features > objective_module.DENSE_HESSIAN_MAX_FEATURES
    assert [codes.dtype for codes in X.codes] == [np.int16, np.int8]
    est = _fit(preparation, X, y, l2=1e-3, solver="auto")
    assert est.solver_ == "newton" and est.converged_ and est.covariance_ is None  # a Schur solve, no p x p inverse
    _assert_same(est, *_one_hot_reference(X, y, 1e-3, start=est))


def test_the_schur_solve_equals_the_dense_one_and_any_partitioning_the_same(monkeypatch):
    frame = _generated(12_000, [120, 30, 8], seed=1)
    preparation, X, y = _design(frame, "y")
    dense = _fit(preparation, X, y, l2=1e-3)
    assert dense.covariance_ is not None
    monkeypatch.setattr(objective_module, "DENSE_HESSIAN_MAX_FEATURES", 0)
    for partitions in (1, 7):
        est = _fit(preparation, X, y, l2=1e-3, partitions=partitions)
        assert est.covariance_ is None
        np.testing.assert_allclose(est.coef_, dense.coef_, rtol=1e-10, atol=1e-10 * np.abs(dense.coef_).max())
        np.testing.assert_allclose(est.std_errors_, dense.std_errors_, rtol=1e-10)
        assert est.intercept_std_error_[0] == pytest.approx(dense.intercept_std_error_[0], rel=1e-10)
    monkeypatch.undo()
    seven = _fit(preparation, X, y, l2=1e-3, partitions=7)
    np.testing.assert_allclose(seven.coef_, dense.coef_, rtol=1e-10, atol=1e-10 * np.abs(dense.coef_).max())
    np.testing.assert_allclose(seven.std_errors_, dense.std_errors_, rtol=1e-10)


def test_kernel_sums_by_code_equal_the_sums_of_the_indicator_columns():
    frame = _generated(5_000, [60, 9], seed=2)
    _, X, y = _design(frame, "y")
    dense = np.asfortranarray(np.asarray(X))
    weights = np.random.default_rng(0).uniform(0.5, 2.0, len(y))
    moments = moment_sums(X, y, weights)
    expected = moment_sums(dense, y, weights)
    np.testing.assert_allclose(moments.mean, expected.mean, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(moments.m2, expected.m2, rtol=1e-10)
    np.testing.assert_allclose(moments.y_dev, expected.y_dev, rtol=1e-9, atol=1e-9 * np.abs(expected.y_dev).max())
    inv_scale = 1 / np.sqrt(expected.variance)
    coef = np.random.default_rng(1).normal(0, 0.3, X.shape[1])
    row_major = CodedBlock(np.ascontiguousarray(np.asarray(X.numeric, dtype=np.float64)), X.codes, X.layout)
    for every, X in [(1, X), (3, X), (3, row_major)]:  # the compiled scatter-adds, then the sparse products
        kwargs = dict(coef=coef, intercept=-0.5, mean=expected.mean, inv_scale=inv_scale, hessian_every=every,
                      chunk_rows=512)
        got, want = loss_sums(X, y, weights, **kwargs), loss_sums(dense, y, weights, **kwargs)
        assert got.loss_sum == pytest.approx(want.loss_sum, rel=1e-13)
        assert got.hess_weight_sum == pytest.approx(want.hess_weight_sum, rel=1e-13)
        np.testing.assert_allclose(got.grad_sum, want.grad_sum, rtol=1e-9, atol=1e-10 * np.abs(want.grad_sum).max())
        np.testing.assert_allclose(got.hess_sum.dense(), want.hess_sum, rtol=1e-9,
                                   atol=1e-12 * np.abs(want.hess_sum).max())
        np.testing.assert_allclose(decision(X, coef, 0.3), dense @ coef + 0.3, rtol=1e-12, atol=1e-12)
        empty = loss_sums(_rows(X, 0, 0), y[:0], None, **kwargs)  # a partition with no training rows adds nothing
        assert empty.loss_sum == 0.0 and not np.any(empty.grad_sum) and not np.any(empty.hess_sum.dense())


def test_a_structured_hessian_solves_and_inverts_exactly():
    frame = _generated(4_000, [50, 12, 5], seed=3)
    preparation, X, y = _design(frame, "y")
    moments = moment_sums(X, y, None)
    inv_scale = 1 / np.sqrt(moments.variance)
    coef = np.random.default_rng(4).normal(0, 0.2, X.shape[1])
    sums = loss_sums(X, y, None, coef=coef, intercept=-0.3, mean=moments.mean, inv_scale=inv_scale)
    active = np.ones(X.shape[1], dtype=bool)
    active[[1, 9]] = False  # as constant columns are: no parameters
    index = np.append(np.flatnonzero(active), X.shape[1])
    rhs = np.random.default_rng(5).normal(size=index.size)
    # One ridge for every coefficient, then one per coefficient (levels penalized on their own scale: each level's
    # weight differs, and the eliminated block's diagonal and the Schur complement must each take their own).
    for l2 in (1e-3, np.random.default_rng(6).uniform(1e-4, 1e-1, X.shape[1])):
        dense = sums.hess_sum.dense()[np.ix_(index, index)] / sums.hess_weight_sum
        dense[np.diag_indices(index.size - 1)] += np.broadcast_to(l2, active.shape)[active]
        structured = SchurHessian(sums.hess_sum, weight_sum=sums.hess_weight_sum, l2=l2, active=active)
        np.testing.assert_allclose(structured.solve(rhs), np.linalg.solve(dense, rhs), rtol=1e-9)
        np.testing.assert_allclose(structured.inverse_diagonal(), np.diag(np.linalg.inv(dense))[:-1], rtol=1e-9)


def test_unseen_and_folded_levels_score_as_the_reference(mlc_churn):
    preparation = _prepare_in_memory(mlc_churn, "churn", min_frequency=80)
    rows = mlc_churn.head(50).copy()
    rows.loc[rows.index[:5], "state"] = "ZZ"  # never seen in training
    X, _, _ = design_block(rows, preparation, target=False)
    state = next(c for c in preparation.columns if c.name == "state")
    codes = X.codes[[c.name for c in preparation.columns if isinstance(c, CategoricalColumn)].index("state")]
    assert (codes[:5] == 0).all()
    folded = rows["state"].isin(state.folded).to_numpy()
    assert (codes[folded] == (0 if state.reference == "(other)" else 1 + state.levels.index("(other)"))).all()
    _, unseen = preparation.transform(rows)
    assert unseen == {"state": 5}
    coef = np.linspace(-1, 1, X.shape[1])
    np.testing.assert_allclose(decision(X, coef, 0.1), np.asarray(X) @ coef + 0.1, rtol=1e-12)


def test_a_text_column_with_a_value_per_row_is_refused_naming_it():
    frame = _generated(3_000, [20])
    frame["account"] = [f"AC-{k:05d}" for k in range(len(frame))]
    with pytest.raises(InputError, match=r"column 'account' has 3000 distinct values in 3000 rows; it looks like an id "
                                         r"or free text, not a category: pass it as the id column \(--id-column account\) "
                                         r"or exclude it \(--exclude account\)\."):
        _prepare_in_memory(frame, "y")
    frame["account"] = [f"AC-{k % 1500:05d}" for k in range(len(frame))]  # 1,500 levels of two rows each: a category
    assert len(next(c for c in _prepare_in_memory(frame, "y").columns if c.name == "account").levels) == 1499


@pytest.mark.parametrize("penalty", [dict(l2=1e-4, solver="newton"), dict(alpha=1e-4, l1_ratio=0.5)])
def test_rare_levels_take_newtons_step_within_a_limit_and_reach_the_same_optimum(monkeypatch, penalty):
    """Levels seen on a few rows, far from their labels, have almost no curvature: an unlimited Newton step moves
    them by thousands in log-odds and the line search halves the whole step, a pass each time. Held to a few
    units of log-odds per step, the fit takes a fraction of the passes to the same optimum."""
    rng = np.random.default_rng(0)
    n_rows, n_levels = 5_000, 300
    share = 1 / np.arange(1, n_levels + 1)
    codes = rng.choice(n_levels, n_rows, p=share / share.sum())
    x = rng.normal(size=(n_rows, 3))
    eta = -4.5 + x @ np.array([0.8, -0.5, 0.3]) + rng.normal(0, 1.0, n_levels)[codes]
    y = (rng.uniform(size=n_rows) < 1 / (1 + np.exp(-eta))).astype(float)
    seen = np.unique(codes[codes > 0])
    X = np.hstack([x, (codes[:, None] == seen[None, :]).astype(float)])
    limited = LogisticRegression(**penalty).fit(X, y)
    monkeypatch.setattr(objective_module, "MAX_INDICATOR_STEP", np.inf)
    unlimited = LogisticRegression(**penalty).fit(X, y)
    assert limited.converged_ and unlimited.converged_
    # Both stop at max|grad| <= 1e-12; a level of a few rows has so little curvature that this leaves its raw
    # coefficient known to about 1e-7.
    assert limited.solver_ == unlimited.solver_ == ("newton" if "l2" in penalty else "prox-newton")
    assert limited.loss_ == pytest.approx(unlimited.loss_, rel=1e-12)
    np.testing.assert_allclose(limited.coef_, unlimited.coef_, rtol=1e-6, atol=1e-6)
    assert limited.n_passes_ <= 20 and unlimited.n_passes_ >= 3 * limited.n_passes_


def test_only_zero_one_columns_have_a_step_limit():
    flag = np.array([0.0, 1.0, 0.0, 0.0, 1.0] * 4)
    columns = np.column_stack([flag, np.linspace(-1, 1, 20), [0.0, 0.5, 1.0, 0.5] * 5, flag * 2])
    mean, inv_scale = columns.mean(0), 1 / columns.std(0)
    limit = objective_module._step_limit(mean, inv_scale)
    reach = np.abs(columns - mean).max(0) * inv_scale  # the largest |z| of each column
    assert limit[0] * reach[0] == pytest.approx(objective_module.MAX_INDICATOR_STEP, rel=1e-12)
    assert np.isinf(limit[1:]).all()  # a numeric column, a column in [0, 1] that is not 0/1, a 0/2 flag, the intercept


def test_a_singular_hessian_of_many_levels_names_the_categorical_columns(tmp_path, monkeypatch):
    """The structured (Schur) Hessian has no minimum-norm step: the error says which categorical columns hold the most
    levels and that merging rare levels helps, as a trial with a 3,000-level column and rare positives needed."""
    import logreg_dist.training as training
    from logreg_dist.exceptions import SingularHessianError

    frame = _generated(6_000, [40], seed=2)
    frame["cat0_again"] = frame["cat0"]  # the same levels twice: every level's column has a copy
    frame.to_parquet(tmp_path / "data.parquet")
    monkeypatch.setattr(training, "DENSE_DESIGN_CELLS", 0)  # codes in this process, as on a cluster
    monkeypatch.setattr(objective_module, "DENSE_HESSIAN_MAX_FEATURES", 0)  # the Schur solve
    rows = training.TrainingRows.read(str(tmp_path / "data.parquet"), valid_fraction=0.0)
    try:
        preparation = rows.discover(target="y")
        with pytest.raises(SingularHessianError, match=r"most levels are 'cat0' \(40 levels\), 'cat0_again' "
                                                      r"\(40 levels\).*min_frequency"):
            rows.fit(preparation, l2=0.0)
    finally:
        rows.close()
