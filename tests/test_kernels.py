"""Block kernels: finite differences, additivity over row splits, extreme margins."""

import numpy as np
import pytest

from logreg_dist._kernels import LossSums, loss_sums, moment_sums


def _problem(seed=0, n=700, p=5, weights=True):
    rng = np.random.default_rng(seed)
    X = rng.normal(3.0, 2.0, (n, p)) * rng.uniform(0.5, 20, p)
    y = (rng.uniform(size=n) < 0.3).astype(np.float64)
    w = rng.uniform(0.1, 3.0, n) if weights else None
    mean = X.mean(0)
    inv_scale = 1 / X.std(0)
    coef = rng.normal(0, 0.5, p)
    return X, y, w, mean, inv_scale, coef


def _sums(X, y, w, mean, inv_scale, theta, derivatives=2, **kw):
    return loss_sums(X, y, w, coef=theta[:-1], intercept=theta[-1], mean=mean, inv_scale=inv_scale, derivatives=derivatives, **kw)


@pytest.mark.parametrize("weights", [False, True])
def test_gradient_and_hessian_match_central_differences(weights):
    X, y, w, mean, inv_scale, coef = _problem(weights=weights)
    theta = np.append(coef, -0.7)
    sums = _sums(X, y, w, mean, inv_scale, theta)
    h = 1e-6
    for k in range(theta.size):
        e = np.zeros_like(theta)
        e[k] = h
        plus = _sums(X, y, w, mean, inv_scale, theta + e, derivatives=1)
        minus = _sums(X, y, w, mean, inv_scale, theta - e, derivatives=1)
        fd_grad = (plus.loss_sum - minus.loss_sum) / (2 * h)
        np.testing.assert_allclose(sums.grad_sum[k], fd_grad, rtol=1e-7, atol=1e-6)
        fd_hess_column = (plus.grad_sum - minus.grad_sum) / (2 * h)
        np.testing.assert_allclose(sums.hess_sum[:, k], fd_hess_column, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(sums.hess_sum, sums.hess_sum.T)


def test_loss_matches_direct_formula():
    X, y, w, mean, inv_scale, coef = _problem()
    eta = ((X - mean) * inv_scale) @ coef + 0.2
    prob = 1 / (1 + np.exp(-eta))
    expected = -(w * (y * np.log(prob) + (1 - y) * np.log1p(-prob))).sum()
    sums = loss_sums(X, y, w, coef=coef, intercept=0.2, mean=mean, inv_scale=inv_scale, derivatives=0)
    assert sums.loss_sum == pytest.approx(expected, rel=1e-12)
    assert sums.weight_sum == pytest.approx(w.sum(), rel=1e-15)
    assert sums.grad_sum is None and sums.hess_sum is None


def test_sums_add_over_any_row_split_including_empty_blocks():
    X, y, w, mean, inv_scale, coef = _problem(n=1000)
    theta = np.append(coef, 0.3)
    whole = _sums(X, y, w, mean, inv_scale, theta)
    cuts = [0, 0, 17, 400, 400, 999, 1000]
    parts = [
        _sums(X[a:b], y[a:b], w[a:b], mean, inv_scale, theta, chunk_rows=64)
        for a, b in zip(cuts[:-1], cuts[1:])
    ]
    total = sum(parts[1:], parts[0])
    assert isinstance(total, LossSums)
    assert total.loss_sum == pytest.approx(whole.loss_sum, rel=1e-13)
    np.testing.assert_allclose(total.grad_sum, whole.grad_sum, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(total.hess_sum, whole.hess_sum, rtol=1e-12, atol=1e-12)


def test_moments_combine_exactly_over_splits():
    X, _, w, *_ = _problem(n=1001)
    cuts = [0, 1, 1, 333, 1000, 1001]
    for weights in (None, w):
        parts = [moment_sums(X[a:b], None, None if weights is None else weights[a:b]) for a, b in zip(cuts[:-1], cuts[1:])]
        total = sum(parts[1:], parts[0])
        mean = np.average(X, axis=0, weights=weights)
        variance = np.average((X - mean) ** 2, axis=0, weights=weights)
        np.testing.assert_allclose(total.mean, mean, rtol=1e-13)
        np.testing.assert_allclose(total.variance, variance, rtol=1e-12)
        assert total.n_rows == 1001


@pytest.mark.parametrize("layout", ["C", "F"])
@pytest.mark.parametrize("weighted", [False, True])
def test_moments_keep_their_digits_where_the_mean_dwarfs_the_spread(layout, weighted):
    """Column by column (column-major blocks) or chunk by chunk (row-major), against extended precision."""
    rng = np.random.default_rng(11)
    n = 20_000
    X = np.asarray(1e6 + rng.normal(size=(n, 3)) * np.array([1e-2, 1.0, 1e2]), order=layout)
    w = rng.uniform(0.1, 3.0, n) if weighted else None
    sums = moment_sums(X, None, w, chunk_rows=1000)
    exact = X.astype(np.longdouble)
    weights = np.ones(n, dtype=np.longdouble) if w is None else w.astype(np.longdouble)
    mean = (weights[:, None] * exact).sum(axis=0) / weights.sum()
    m2 = (weights[:, None] * (exact - mean) ** 2).sum(axis=0)
    np.testing.assert_allclose(sums.mean, mean.astype(np.float64), rtol=1e-15)
    np.testing.assert_allclose(sums.m2, m2.astype(np.float64), rtol=1e-13)


def test_rows_are_scaled_alike_in_either_layout():
    from logreg_dist._kernels import _scale_rows

    rng = np.random.default_rng(2)
    factors = rng.uniform(size=300)
    for order in "CF":
        X = np.asarray(rng.normal(size=(300, 7)), order=order)
        out = np.empty_like(X, order=order)
        np.testing.assert_array_equal(_scale_rows(X, factors, out=out), X * factors[:, None])


@pytest.mark.parametrize("margin", [1000.0, -1000.0, 50.0, -50.0])
def test_extreme_margins_neither_overflow_nor_lose_digits(margin):
    X = np.array([[1.0], [-1.0], [1.0], [-1.0]])
    y = np.array([1.0, 1.0, 0.0, 0.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        sums = loss_sums(X, y, None, coef=np.array([margin]), intercept=0.0, mean=np.zeros(1), inv_scale=np.ones(1))
    big = abs(margin)
    # Two rows are right by |margin| (loss log1p(exp(-|m|))), two wrong by it (loss |m| + that).
    expected = 2 * np.log1p(np.exp(-big)) + 2 * (big + np.log1p(np.exp(-big)))
    assert sums.loss_sum == pytest.approx(expected, rel=1e-14)
    assert np.isfinite(sums.grad_sum).all() and np.isfinite(sums.hess_sum).all()
    assert np.abs(sums.grad_sum).max() <= 2.0
    assert (np.linalg.eigvalsh(sums.hess_sum) >= -1e-300).all()


def test_float32_storage_gives_the_float64_sums_of_the_same_values():
    X, y, w, mean, inv_scale, coef = _problem()
    X32 = X.astype(np.float32)
    theta = np.append(coef, 0.1)
    a = _sums(X32, y, w, mean, inv_scale, theta)
    b = _sums(X32.astype(np.float64), y, w, mean, inv_scale, theta)
    # float32 rows are copied into a float64 buffer chunk by chunk, float64 rows are used in place:
    # the same float64 arithmetic, up to the order BLAS adds in.
    assert a.loss_sum == pytest.approx(b.loss_sum, rel=1e-14)
    np.testing.assert_allclose(a.grad_sum, b.grad_sum, rtol=1e-13, atol=1e-12)
    np.testing.assert_allclose(a.hess_sum, b.hess_sum, rtol=1e-13, atol=1e-12)


def test_constant_column_with_zero_inv_scale_contributes_nothing():
    X, y, w, mean, inv_scale, coef = _problem()
    X[:, 2] = 7.0
    inv_scale[2] = 0.0
    sums = _sums(X, y, w, mean, inv_scale, np.append(coef, 0.0))
    assert sums.grad_sum[2] == 0.0
    assert not sums.hess_sum[2].any() and not sums.hess_sum[:, 2].any()


def test_the_gradient_pass_keeps_its_digits_when_means_dwarf_the_spread():
    from logreg_dist._kernels import loss_sums

    rng = np.random.default_rng(4)
    X = rng.standard_normal((5000, 3)) * [1.0, 2.0, 0.5] + [1e9, 2e7, 0.0]  # e.g. dates stored as integers
    y = (rng.uniform(size=5000) < 0.3).astype(float)
    params = dict(coef=np.array([0.3, -0.2, 0.1]), intercept=-0.8, mean=X.mean(0), inv_scale=1 / X.std(0))
    gradient_only = loss_sums(X, y, None, derivatives=1, **params)
    with_hessian = loss_sums(X, y, None, derivatives=2, **params)
    np.testing.assert_allclose(gradient_only.grad_sum, with_hessian.grad_sum, rtol=0, atol=1e-10)


@pytest.mark.parametrize("layout", ["C", "F"])
def test_both_memory_layouts_give_the_same_sums(layout):
    """pandas hands over column-major blocks; the chunk buffers follow the block's layout."""
    X, y, w, mean, inv_scale, coef = _problem(n=9000)
    theta = np.append(coef, -0.4)
    reference = _sums(np.ascontiguousarray(X), y, w, mean, inv_scale, theta, chunk_rows=1000)
    sums = _sums(np.asarray(X, order=layout), y, w, mean, inv_scale, theta, chunk_rows=1000)
    assert sums.loss_sum == pytest.approx(reference.loss_sum, rel=1e-13)
    np.testing.assert_allclose(sums.grad_sum, reference.grad_sum, rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(sums.hess_sum, reference.hess_sum, rtol=1e-12, atol=1e-10)
    np.testing.assert_array_equal(sums.hess_sum, sums.hess_sum.T)


@pytest.mark.parametrize("layout", ["C", "F"])
def test_a_sampled_hessian_sums_exactly_the_chunks_it_names(layout):
    X, y, w, mean, inv_scale, coef = _problem(n=10_000)
    X = np.asarray(X, order=layout)
    theta = np.append(coef, 0.2)
    sampled = _sums(X, y, w, mean, inv_scale, theta, chunk_rows=700, hessian_every=4)
    rows = np.concatenate([np.arange(start, min(start + 700, 10_000)) for start in range(0, 10_000, 2800)])
    by_hand = _sums(X[rows], y[rows], w[rows], mean, inv_scale, theta)
    np.testing.assert_allclose(sampled.hess_sum, by_hand.hess_sum, rtol=1e-12, atol=1e-10)
    assert sampled.hess_weight_sum == pytest.approx(w[rows].sum(), rel=1e-14)
    # The loss and the gradient still cover every row.
    full = _sums(X, y, w, mean, inv_scale, theta, chunk_rows=700)
    assert sampled.loss_sum == full.loss_sum
    np.testing.assert_array_equal(sampled.grad_sum, full.grad_sum)
    assert full.hess_weight_sum == pytest.approx(w.sum(), rel=1e-14)


@pytest.mark.parametrize("layout", ["C", "F"])
def test_moments_of_the_start_combine_exactly_over_splits(layout):
    """The positives' deviations and the sampled co-moment matrix merge like the means (pairwise updates)."""
    X, y, w, *_ = _problem(n=6000)
    X = np.asarray(X, order=layout)
    cuts = [0, 0, 5, 2500, 6000]
    for weights in (None, w):
        parts = [
            moment_sums(X[a:b], y[a:b], None if weights is None else weights[a:b], hessian_every=3, chunk_rows=400)
            for a, b in zip(cuts[:-1], cuts[1:])
        ]
        total = sum(parts[1:], parts[0])
        ww = np.ones(6000) if weights is None else weights
        mean = np.average(X, axis=0, weights=ww)
        np.testing.assert_allclose(total.y_dev, (ww * y) @ (X - mean), rtol=1e-10, atol=1e-8)
        rows = np.concatenate([
            a + np.flatnonzero((np.arange(b - a) // 400) % 3 == 0) for a, b in zip(cuts[:-1], cuts[1:])
        ])
        sample_weight = ww[rows]
        sample_mean = np.average(X[rows], axis=0, weights=sample_weight)
        deviations = X[rows] - sample_mean
        np.testing.assert_allclose(total.sample_mean, sample_mean, rtol=1e-12)
        np.testing.assert_allclose(total.sample_comoment, (deviations * sample_weight[:, None]).T @ deviations, rtol=1e-11)
        assert total.sample_weight_sum == pytest.approx(sample_weight.sum(), rel=1e-14)


@pytest.mark.parametrize("offset", [0.0, 9.0, 11.0, 1e3])
@pytest.mark.parametrize("weights", [False, True])
def test_the_hessian_keeps_its_digits_whether_summed_from_raw_or_centred_rows(offset, weights):
    # Below UNCENTRED_HESSIAN_MAX_OFFSET (10) the Hessian comes from raw rows and is shifted afterwards,
    # above it from centred rows; both must equal the centred sum formed in extended precision.
    rng = np.random.default_rng(7)
    n, p = 5000, 4
    spread = rng.uniform(0.5, 3.0, p)
    X = offset * spread + rng.normal(size=(n, p)) * spread
    y = (rng.uniform(size=n) < 0.2).astype(np.float64)
    w = rng.uniform(0.1, 3.0, n) if weights else None
    mean, inv_scale = X.mean(0), 1 / X.std(0)
    coef, intercept = rng.normal(0, 0.5, p), -1.1
    sums = loss_sums(X, y, w, coef=coef, intercept=intercept, mean=mean, inv_scale=inv_scale, chunk_rows=1000)

    Z = (X.astype(np.longdouble) - mean) * inv_scale
    prob = 1 / (1 + np.exp(-(Z @ coef + intercept)))
    h = prob * (1 - prob) * (1 if w is None else w)
    design = np.hstack([Z, np.ones((n, 1), dtype=np.longdouble)])
    expected = (design * h[:, None]).T @ design
    np.testing.assert_allclose(sums.hess_sum, expected.astype(np.float64), rtol=1e-13, atol=1e-13 * float(expected.max()))


def _mixed_frame(n=3000, seed=3):
    import pandas as pd

    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "flag": rng.uniform(size=n) < 0.3,
        "count": rng.poisson(3.0, n).astype(np.int32),
        "small": rng.integers(-5, 5, n).astype(np.int8),
        "share": rng.uniform(size=n).astype(np.float32),
        "share64": rng.uniform(size=n).astype(np.float32).astype(np.float64),  # float64 holding float32 values
    })


def _assert_sums_close(got, expected):
    """Every field of two kernels' sums equal to their rounding: the compiled loops keep as many partial sums as
    a column's dtype and layout fill vector lanes. Sums with terms of both signs (gradients, ``y_dev``) keep
    the rounding error of their terms, not of their size."""
    for field in expected.__dataclass_fields__:
        value = np.asarray(getattr(expected, field), dtype=np.float64)
        np.testing.assert_allclose(getattr(got, field), value, rtol=1e-13,
                                   atol=1e-11 * np.max(np.abs(value), initial=0.0), err_msg=field)


def test_blocks_of_a_frame_are_its_own_columns_without_a_copy():
    """A frame mixing dtypes is held as runs of its own columns (views, each in its own dtype): the
    kernels give what they give on the float64 array of the same values, to the rounding of the sums."""
    from logreg_dist._data import load_block
    from logreg_dist._kernels import ColumnRuns

    frame = _mixed_frame()
    names = list(frame.columns)
    X, _, _ = load_block(frame, np.zeros(len(frame)), None, feature_names=names, partition=0, n_partitions=1)
    assert isinstance(X, ColumnRuns) and X.shape == frame.shape
    assert [run.dtype for run in X.runs] == [np.dtype(t) for t in ("bool", "int32", "int8", "float32", "float64")]
    for name, run in zip(names, X.runs):
        assert np.shares_memory(run, frame[name].to_numpy())  # no copy of the partition
    dense = frame.to_numpy(dtype=np.float64)
    np.testing.assert_array_equal(np.asarray(X), dense)

    y = (np.random.default_rng(2).uniform(size=len(frame)) < 0.3).astype(np.float64)
    w = np.random.default_rng(3).uniform(size=len(frame))
    rng = np.random.default_rng(4)
    params = dict(coef=rng.normal(size=5), intercept=-0.5, mean=dense.mean(0), inv_scale=1 / dense.std(0))
    for weights in (None, w):
        for kernel, kwargs in ((loss_sums, dict(params, derivatives=2, hessian_every=2, chunk_rows=512)),
                               (moment_sums, dict(hessian_every=3, chunk_rows=256))):
            _assert_sums_close(kernel(X, y, weights, **kwargs), kernel(np.asfortranarray(dense), y, weights, **kwargs))


def _frame_block(frame):
    from logreg_dist._data import load_block

    X, _, _ = load_block(frame, np.zeros(len(frame)), None, feature_names=list(frame.columns), partition=0,
                         n_partitions=1)
    y = (np.random.default_rng(len(frame)).uniform(size=len(frame)) < 0.3).astype(np.int8)
    dense = frame.to_numpy(dtype=np.float64)
    params = dict(coef=np.linspace(-1, 1, dense.shape[1]), intercept=-0.5, mean=dense.mean(0), inv_scale=1 / dense.std(0))
    return X, y, dense, params


def test_runs_that_are_strided_views_give_what_contiguous_runs_give():
    """The runs of a frame's rows past the first are views whose columns are not adjacent in memory: the
    compiled loops read them as they are and give the sums of the contiguous copy."""
    from logreg_dist._kernels import ColumnRuns

    import pandas as pd

    rng = np.random.default_rng(8)
    frame = pd.DataFrame({
        "a": rng.normal(5.0, 2.0, 5000).astype(np.float32),
        "b": rng.uniform(size=5000).astype(np.float32),
        "c": rng.poisson(3.0, 5000).astype(np.int32),
        "d": rng.integers(-5, 5, 5000).astype(np.int32),
        "e": rng.uniform(size=5000) < 0.2,
    })
    X, y, dense, params = _frame_block(frame.iloc[700:])
    assert isinstance(X, ColumnRuns) and not all(run.flags.f_contiguous for run in X.runs)
    copy = ColumnRuns([np.asfortranarray(run) for run in X.runs])
    for kernel, kwargs in ((loss_sums, dict(params, derivatives=2, hessian_every=2, chunk_rows=512)),
                           (moment_sums, dict(hessian_every=3, chunk_rows=256))):
        _assert_sums_close(kernel(X, y, None, **kwargs), kernel(copy, y, None, **kwargs))


def test_work_arrays_are_per_thread_and_no_result_refers_to_one():
    """Row-length temporaries are work arrays reused across calls, one set per thread: kernels running at once
    in several threads (a Dask worker with threads) give, bit for bit, what they give one after another, and
    a result is not changed by the calls after it."""
    from concurrent.futures import ThreadPoolExecutor

    blocks = [_frame_block(_mixed_frame(n=4000 + 1500 * k, seed=k)) for k in range(4)]

    def sums(k):
        X, y, _, params = blocks[k]
        return loss_sums(X, y, None, **params, derivatives=2, hessian_every=2, chunk_rows=512), moment_sums(X, y, None)

    sequential = [sums(k) for k in range(4)]
    kept = [(loss.grad_sum.copy(), loss.hess_sum.copy(), moments.mean.copy()) for loss, moments in sequential]
    with ThreadPoolExecutor(4) as pool:
        for _ in range(3):
            concurrent = list(pool.map(sums, [0, 1, 2, 3] * 4))
    for k, (loss, moments) in enumerate(concurrent):
        expected_loss, expected_moments = sequential[k % 4]
        assert loss.loss_sum == expected_loss.loss_sum
        np.testing.assert_array_equal(loss.grad_sum, expected_loss.grad_sum)
        np.testing.assert_array_equal(loss.hess_sum, expected_loss.hess_sum)
        np.testing.assert_array_equal(moments.m2, expected_moments.m2)
    for (loss, moments), (grad, hess, mean) in zip(sequential, kept):
        np.testing.assert_array_equal(loss.grad_sum, grad)
        np.testing.assert_array_equal(loss.hess_sum, hess)
        np.testing.assert_array_equal(moments.mean, mean)


def test_float32_blocks_of_mixed_columns_give_the_float64_fit(local_client):
    import dask.dataframe as dd
    from sklearn.linear_model import LogisticRegression as SklearnLogisticRegression

    from logreg_dist import LogisticRegression

    frame = _mixed_frame(n=6000)
    X = frame.to_numpy(dtype=np.float64)
    score = X @ np.array([0.8, 0.3, -0.1, 1.5, -1.0]) - 2.0
    y = (np.random.default_rng(5).uniform(size=len(X)) < 1 / (1 + np.exp(-score))).astype(np.float64)
    ddf = dd.from_pandas(frame.assign(target=y), npartitions=3)
    l2 = 1e-3
    model = LogisticRegression(l2=l2).fit(ddf[list(frame.columns)], ddf["target"], client=local_client)
    Z = (X - X.mean(0)) / X.std(0)
    reference = SklearnLogisticRegression(C=1 / (l2 * len(y)), solver="newton-cholesky", tol=1e-10, max_iter=100).fit(Z, y)
    np.testing.assert_allclose(model.coef_standardized_.ravel(), reference.coef_.ravel(), rtol=0, atol=1e-8)
    np.testing.assert_allclose(model.intercept_standardized_, reference.intercept_, rtol=0, atol=1e-8)


@pytest.mark.parametrize("labels", ["float64", "int8", "bool", "one-two"])
def test_labels_as_numbers_or_booleans_fit_alike_and_mixed_frames_score_alike(local_client, labels):
    """0/1 labels held as numbers or booleans are used as they are (no encoding pass); 1/2 are encoded.

    Predictions on a frame mixing bool, integer and float columns equal those in memory.
    """
    import dask.dataframe as dd

    from logreg_dist import LogisticRegression

    frame = _mixed_frame(n=6000)
    X = frame.to_numpy(dtype=np.float64)
    score = X @ np.array([0.8, 0.3, -0.1, 1.5, -1.0]) - 2.0
    y = (np.random.default_rng(5).uniform(size=len(X)) < 1 / (1 + np.exp(-score))).astype(np.float64)
    target = {"float64": y, "int8": y.astype(np.int8), "bool": y.astype(bool), "one-two": (y + 1).astype(np.int64)}[labels]
    ddf = dd.from_pandas(frame.assign(target=target), npartitions=3)
    columns = list(frame.columns)
    model = LogisticRegression(l2=1e-3).fit(ddf[columns], ddf["target"], client=local_client)
    reference = LogisticRegression(l2=1e-3).fit(X, y)
    assert model.classes_.dtype == target.dtype and model.classes_.tolist() == np.unique(target).tolist()
    np.testing.assert_allclose(model.coef_, reference.coef_, rtol=0, atol=1e-12)
    proba = model.predict_proba(ddf[columns]).compute(scheduler=local_client.get)
    assert proba.dtype == np.float64
    np.testing.assert_allclose(proba, reference.predict_proba(X), rtol=1e-13, atol=1e-15)


def test_decisions_of_many_models_equal_each_models_decision():
    from logreg_dist._kernels import ColumnRuns
    from logreg_dist._predict import SMALL_BLOCK_CELLS, decision, decisions

    rng = np.random.default_rng(12)
    n = SMALL_BLOCK_CELLS // 3 + 5  # large enough to be multiplied a chunk of rows at a time
    block = ColumnRuns([np.asfortranarray(rng.normal(size=(n, 2)).astype(np.float32)),
                        np.asfortranarray(rng.integers(0, 9, (n, 2)).astype(np.int8))])
    coefs = rng.normal(size=(3, 4))
    coefs[:, 1] = 0.0
    intercepts = np.array([0.5, -1.0, 2.0])
    many = decisions(block, coefs, intercepts)
    for k in range(3):
        np.testing.assert_allclose(many[k], decision(block, coefs[k], intercepts[k]), rtol=1e-13, atol=1e-13)
    small = np.asfortranarray(np.asarray(block)[:50], dtype=np.float64)
    np.testing.assert_allclose(decisions(small, coefs, intercepts), (small @ coefs.T + intercepts).T, rtol=1e-13)


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int32, np.bool_])
def test_centred_products_four_columns_at_a_time_equal_the_direct_sum(dtype):
    """``out += (X - mean) @ beta`` taken four columns per sweep, with zero coefficients skipped and the columns left
    over one at a time, is the float64 product of the same values."""
    from logreg_dist._loops import add_centred_products

    rng = np.random.default_rng(3)
    for n_cols in (1, 3, 4, 9, 13):
        values = rng.normal(0.0, 30.0, (1000, n_cols))
        X = np.asfortranarray(values > 0 if dtype is np.bool_ else values.astype(dtype))
        mean = X.astype(np.float64).mean(axis=0)
        beta = rng.normal(size=n_cols)
        beta[rng.random(n_cols) < 0.3] = 0.0
        out = np.full(1000, 0.5)
        add_centred_products(X, mean, beta, out)
        expected = 0.5 + (X.astype(np.float64) - mean) @ beta
        np.testing.assert_allclose(out, expected, rtol=1e-13, atol=1e-12)


def _ulps(a, b):
    """Units in the last place between float64 arrays, 0 where both are equal (including both NaN)."""
    a_bits, b_bits = (np.asarray(v, dtype=np.float64).view(np.int64) for v in (a, b))
    # Map the sign-magnitude bit patterns onto a line where adjacent doubles differ by one.
    a_line = np.where(a_bits < 0, np.int64(-(2**63)) - a_bits, a_bits)
    b_line = np.where(b_bits < 0, np.int64(-(2**63)) - b_bits, b_bits)
    gap = np.abs(a_line - b_line)
    return np.where(np.isnan(a) & np.isnan(b), 0, gap)


def _margins():
    rng = np.random.default_rng(3)
    edges = np.array([0.0, -0.0, 1e-300, 5e-324, 0.5 * np.log(2), np.log(2), 1.0, 700.0, 700.5, 708.4, 709.8, 744.0,
                      745.1, 745.2, 746.0, 1e5, 1e300, np.inf])
    spread = np.concatenate([rng.normal(0, 3, 20000), rng.uniform(-760, 760, 20000), np.logspace(-20, 2.9, 5000)])
    both = np.concatenate([edges, spread])
    return np.concatenate([both, -both])


def test_the_compiled_link_is_numpys_exp_and_log1p_to_a_unit_in_the_last_place():
    from logreg_dist._loops import link

    eta = _margins()
    y = (np.arange(eta.size) % 3 == 0).astype(np.float64)
    tail, loss = np.empty_like(eta), np.empty_like(eta)
    link(eta, y, tail, loss, np.empty(eta.size, dtype=np.int64))
    want_tail = np.exp(-np.abs(eta))
    assert _ulps(tail, want_tail).max() <= 1
    # The loss is two rounded terms added: two units at most, exact where either is zero.
    want_loss = np.log1p(want_tail) + np.maximum((1 - 2 * y) * eta, 0.0)
    assert _ulps(loss, want_loss).max() <= 2
    assert np.all(np.isfinite(loss[np.isfinite(eta)]))
    assert tail[eta == 0].tolist() == [1.0] * int((eta == 0).sum())
    assert np.all(tail[np.abs(eta) == np.inf] == 0.0)

    nan = np.array([np.nan, 1.0])
    tail, loss = np.empty(2), np.empty(2)
    link(nan, np.zeros(2), tail, loss, np.empty(2, dtype=np.int64))
    assert np.isnan(tail[0]) and np.isnan(loss[0]) and tail[1] == np.exp(-1.0)


@pytest.mark.parametrize("weighted", [False, True])
def test_the_compiled_residuals_and_curvature_are_the_stable_formulas(weighted):
    from scipy.special import expit

    from logreg_dist._loops import link, residuals

    eta = _margins()
    eta = eta[np.isfinite(eta)]
    rng = np.random.default_rng(4)
    y = (rng.uniform(size=eta.size) < 0.4).astype(np.float64)
    w = rng.uniform(0.1, 3.0, eta.size) if weighted else None
    tail, loss = np.empty_like(eta), np.empty_like(eta)
    link(eta, y, tail, loss, np.empty(eta.size, dtype=np.int64))
    resid, hess = np.empty_like(eta), np.empty_like(eta)
    residuals(eta, tail, y, w, resid, hess)
    share = 1 / (1 + tail)
    p = np.where(eta >= 0, share, tail * share)
    scale = 1.0 if w is None else w
    np.testing.assert_array_equal(resid, scale * (p - y))
    np.testing.assert_array_equal(hess, scale * (tail * share * share))
    # Against the textbook forms: within two units in the last place of p (1 + tail is rounded once more).
    np.testing.assert_allclose(resid, scale * (expit(eta) - y), rtol=0, atol=1e-15 * np.max(scale))
    # Far out the curvature is exp(-|eta|) itself, not a difference that cancels to zero.
    far = np.abs(eta) > 40
    np.testing.assert_allclose(hess[far], scale[far] * tail[far] if weighted else tail[far], rtol=1e-15)
    # Without Hessian weights asked for, the residuals are the same and nothing else is written.
    again = np.empty_like(eta)
    residuals(eta, tail, y, w, again, np.zeros(0))
    np.testing.assert_array_equal(again, resid)
