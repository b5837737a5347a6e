"""Validation metrics: equal to scikit-learn and to brute force, for any partitioning and on a cluster."""

import json
import warnings

import numpy as np
import pytest
from scipy.special import expit
from sklearn import metrics as skm

from logreg_dist import InputError, metrics
from logreg_dist._engine import LocalEngine
from logreg_dist.metrics import RankedScores, choose_threshold, rank_scores, validation_metrics

# name -> (rows, positive rate); "majority" has positives as the larger class.
CASES = {"rare": (20_000, 0.01), "balanced": (6_000, 0.5), "majority": (6_000, 0.8)}
TIES = [None, 2]  # continuous scores, or rounded to 2 decimals (heavy ties)


def scored(n_rows, rate, seed=0, decimals=None):
    """Labels with the given positive rate and informative, overlapping probabilities."""
    rng = np.random.default_rng(seed)
    y = (rng.uniform(size=n_rows) < rate).astype(np.float64)
    score = expit(rng.normal(size=n_rows) + 1.5 * y + np.log(rate / (1 - rate)) - 0.75)
    if decimals is not None:
        score = np.round(score, decimals)
    return score, y


def case(name, decimals, seed=0):
    n_rows, rate = CASES[name]
    return scored(n_rows, rate, seed, decimals)


def split(score, y, parts):
    """Blocks: ``parts`` near-equal ones, or "uneven" lengths with empty blocks among them."""
    n = len(y)
    if parts == "uneven":
        bounds = [0, 0, 1, 3, 503, 503, n // 2, n - 5, n, n]
    else:
        bounds = np.linspace(0, n, parts + 1).astype(int)
    return [(score[a:b], y[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]


def engine(score, y, parts=3):
    return LocalEngine(split(score, y, parts))


class CountingEngine(LocalEngine):
    """Counts the passes other than the calibration fit's (``calibration_passes``)."""

    def __init__(self, blocks):
        super().__init__(blocks)
        self.passes = self.calibration_passes = 0

    def map_reduce(self, kernel, /, **params):
        if kernel.__name__ == "_calibration_kernel":
            self.calibration_passes += 1
        else:
            self.passes += 1
        return super().map_reduce(kernel, **params)


def assert_same(a, b, atol=1e-12, where="result"):
    """Equal structure; ints, None and strings exactly, floats to ``atol``."""
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            assert_same(a[key], b[key], atol, f"{where}[{key!r}]")
    elif isinstance(a, list):
        assert len(a) == len(b), where
        for i, (x, z) in enumerate(zip(a, b)):
            assert_same(x, z, atol, f"{where}[{i}]")
    elif isinstance(a, float):
        assert isinstance(b, float) and abs(a - b) <= atol, (where, a, b)
    else:
        assert type(a) is type(b) and a == b, (where, a, b)


def test_public_api():
    assert metrics.__all__ == ["RankedScores", "choose_threshold", "miscalibration", "rank_scores", "validation_metrics"]
    assert all(callable(getattr(metrics, name)) for name in metrics.__all__)


# --------------------------------------------------------------------------- equivalence


@pytest.mark.parametrize("decimals", TIES)
@pytest.mark.parametrize("name", CASES)
def test_scalar_metrics_equal_scikit_learn(name, decimals):
    score, y = case(name, decimals)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = validation_metrics(engine(score, y))
    json.dumps(result, allow_nan=False)  # plain JSON: no NaN, no inf, no NumPy types
    assert result["n_rows"] == len(y) and result["n_positives"] == int(y.sum())
    assert result["auc"] == pytest.approx(skm.roc_auc_score(y, score), abs=1e-9, rel=0)
    assert result["average_precision"] == pytest.approx(skm.average_precision_score(y, score), abs=1e-9, rel=0)
    assert result["log_loss"] == pytest.approx(skm.log_loss(y, score), abs=1e-12, rel=0)
    assert result["brier"] == pytest.approx(skm.brier_score_loss(y, score), abs=1e-12, rel=0)


@pytest.mark.parametrize("decimals", TIES)
@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("spread", [0.4, 1.0, 2.5])
def test_calibration_slope_and_intercept_equal_statsmodels(name, decimals, spread):
    import statsmodels.api as sm
    from scipy.special import logit

    score, y = case(name, decimals)
    score = expit(spread * logit(np.clip(score, 1e-12, 1 - 1e-12)))  # scores squeezed (slope > 1) or stretched (< 1)
    if decimals is not None:
        score = np.round(score, decimals)
    calibration = validation_metrics(engine(score, y))["calibration"]
    x = sm.add_constant(np.clip(logit(score), -metrics.CALIBRATION_LOGIT_LIMIT, metrics.CALIBRATION_LOGIT_LIMIT))
    reference = sm.Logit(y, x).fit(disp=0, method="newton", tol=1e-12, maxiter=100)
    assert [calibration["intercept"], calibration["slope"]] == pytest.approx(reference.params, abs=1e-8, rel=1e-8)
    assert [calibration["intercept_se"], calibration["slope_se"]] == pytest.approx(reference.bse, rel=1e-7)
    low, high = reference.conf_int()[1]
    assert calibration["slope_ci"] == pytest.approx([low, high], rel=1e-6)
    verdict = metrics.miscalibration(calibration)
    assert verdict == ("compressed" if calibration["slope"] > 1.25 and low > 1 else
                       "extreme" if calibration["slope"] < 0.8 and high < 1 else None)
    assert (spread, verdict) != (0.4, None) and (spread, verdict) != (2.5, None)


def test_scores_that_separate_the_labels_have_no_calibration():
    score = np.linspace(0.01, 0.99, 400)
    y = (score > 0.5).astype(np.float64)
    assert validation_metrics(engine(score, y))["calibration"] is None


def test_log_loss_clips_probabilities_of_exactly_0_and_1_as_scikit_learn_does():
    score = np.array([0.0, 1.0, 0.0, 1.0, 0.3, 0.7])
    y = np.array([0.0, 1.0, 1.0, 0.0, 1.0, 0.0])
    result = validation_metrics(engine(score, y, parts=2))
    assert result["log_loss"] == pytest.approx(skm.log_loss(y, score), abs=1e-12, rel=0)
    assert result["auc"] == pytest.approx(skm.roc_auc_score(y, score), abs=1e-12)


def delong_se(score, y):
    """DeLong et al. (1988) straight from the definition: every positive against every negative."""
    pos, neg = score[y == 1], score[y == 0]
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    return np.sqrt(v10.var(ddof=1) / len(pos) + v01.var(ddof=1) / len(neg)), psi.mean()


@pytest.mark.parametrize("decimals", TIES)
@pytest.mark.parametrize("rate", [0.05, 0.5, 0.85])
def test_delong_standard_error_equals_the_pairwise_formula(rate, decimals):
    score, y = scored(3000, rate, seed=3, decimals=decimals)
    result = validation_metrics(engine(score, y, parts=7))
    se, auc = delong_se(score, y)
    assert result["auc"] == pytest.approx(auc, abs=1e-12, rel=0)
    assert result["auc_se"] == pytest.approx(se, rel=1e-10)
    lo, hi = result["auc"] - 1.959964 * se, result["auc"] + 1.959964 * se
    assert result["auc_ci"] == pytest.approx([max(lo, 0.0), min(hi, 1.0)], rel=1e-10)


def test_standard_error_is_none_with_a_single_row_of_a_class():
    score, y = scored(500, 0.2, seed=1)
    y[:] = 0.0
    y[10] = 1.0
    result = validation_metrics(engine(score, y))
    assert result["auc"] == pytest.approx(skm.roc_auc_score(y, score), abs=1e-12)
    assert result["auc_se"] is None and result["auc_ci"] is None


def _counts(rates, total):
    return np.rint(np.asarray(rates) * total).astype(np.int64)


@pytest.mark.parametrize("decimals", TIES)
@pytest.mark.parametrize("name", CASES)
def test_roc_points_are_the_corners_of_scikit_learns_curve(name, decimals):
    score, y = case(name, decimals)
    n_pos, n_neg = int(y.sum()), int((1 - y).sum())
    roc = validation_metrics(engine(score, y), max_curve_points=10**9)["roc"]
    fpr, tpr, thresholds = skm.roc_curve(y, score, drop_intermediate=True)
    sk_points = {(a, b): t for a, b, t in zip(fpr, tpr, thresholds)}
    ours = list(zip(roc["fpr"], roc["tpr"]))
    assert ours[0] == (0.0, 0.0) and ours[-1] == (1.0, 1.0)
    for point, threshold in list(zip(ours, roc["threshold"]))[1:]:
        assert sk_points[point] == threshold  # a vertex of scikit-learn's, at its threshold
    assert roc["threshold"][0] > score.max()  # the first point predicts no row positive
    # ... and every point of scikit-learn's lies on the polyline through ours: no corner is missing.
    fp, tp = _counts(roc["fpr"], n_neg), _counts(roc["tpr"], n_pos)
    key = fp + tp
    for sk_fp, sk_tp in zip(_counts(fpr, n_neg), _counts(tpr, n_pos)):
        i = int(np.searchsorted(key, sk_fp + sk_tp, side="right")) - 1
        if key[i] == sk_fp + sk_tp:
            assert (fp[i], tp[i]) == (sk_fp, sk_tp)
            continue
        assert fp[i] <= sk_fp <= fp[i + 1] and tp[i] <= sk_tp <= tp[i + 1]
        assert (sk_fp - fp[i]) * (tp[i + 1] - tp[i]) == (sk_tp - tp[i]) * (fp[i + 1] - fp[i])


@pytest.mark.parametrize("decimals", TIES)
@pytest.mark.parametrize("name", CASES)
def test_pr_points_are_scikit_learns_points(name, decimals):
    score, y = case(name, decimals)
    pr = validation_metrics(engine(score, y), max_curve_points=10**9)["pr"]
    precision, recall, thresholds = skm.precision_recall_curve(y, score)
    sk = {t: (r, p) for p, r, t in zip(precision, recall, thresholds)}
    assert len(pr["threshold"]) > 3
    for threshold, r, p in zip(pr["threshold"], pr["recall"], pr["precision"]):
        assert sk[threshold] == (r, p)
    assert pr["recall"][-1] == 1.0 and pr["threshold"] == sorted(pr["threshold"], reverse=True)


def test_curves_are_thinned_to_vertices_keeping_both_ends():
    score, y = case("balanced", None)
    full = validation_metrics(engine(score, y), max_curve_points=10**9)
    thin = validation_metrics(engine(score, y), max_curve_points=50)
    for curve, keys in (("roc", ("fpr", "tpr", "threshold")), ("pr", ("recall", "precision", "threshold"))):
        full_points = list(zip(*(full[curve][k] for k in keys)))
        thin_points = list(zip(*(thin[curve][k] for k in keys)))
        assert len(full_points) > 50 >= len(thin_points) >= 45
        assert set(thin_points) <= set(full_points)
        assert thin_points[0] == full_points[0] and thin_points[-1] == full_points[-1]


# --------------------------------------------------------------------------- deciles


def brute_force_deciles(score, y, n_bins):
    """Rank rows by score (descending); the edge of bin b is the score at rank ceil(b n / n_bins)."""
    n = len(score)
    ordered = np.sort(score)[::-1]
    edges = np.array([ordered[-(-b * n // n_bins) - 1] for b in range(1, n_bins)])
    bins = np.array([int((edges > s).sum()) for s in score])  # 0-based: bin b holds edge_b <= s < edge_{b-1}
    return [
        (int((bins == b).sum()), int(y[bins == b].sum()), score[bins == b]) for b in range(n_bins)
    ]


@pytest.mark.parametrize("decimals", TIES)
@pytest.mark.parametrize("name", ["rare", "majority"])
def test_deciles_equal_a_brute_force_sort(name, decimals):
    score, y = case(name, decimals, seed=5)
    score, y = score[:4000], y[:4000]
    deciles = validation_metrics(engine(score, y, parts="uneven"))["deciles"]
    expected = brute_force_deciles(score, y, 10)
    assert [d["bin"] for d in deciles] == list(range(1, 11))
    for d, (rows, positives, scores) in zip(deciles, expected):
        assert (d["rows"], d["positives"]) == (rows, positives)
        if rows:
            assert (d["min_score"], d["max_score"]) == (scores.min(), scores.max())
            assert d["mean_score"] == pytest.approx(scores.mean(), abs=1e-12)
            assert d["lift"] == pytest.approx((positives / rows) / y.mean(), rel=1e-12)
        else:
            assert d["min_score"] is None and d["positive_rate"] is None
    gains = [d["cumulative_gain"] for d in deciles]
    assert gains == sorted(gains) and gains[-1] == 1.0
    assert deciles[-1]["cumulative_share"] == 1.0 and deciles[-1]["cumulative_lift"] == pytest.approx(1.0)
    if decimals is None:  # without ties every bin holds exactly a tenth of the rows
        assert [d["rows"] for d in deciles] == [400] * 10


@pytest.mark.parametrize("decimals", [None, 1])
def test_narrowing_passes_find_the_same_edges(monkeypatch, decimals):
    """A 4-bin grid and collections of at most 3 rows force many narrowing passes (and ties resolve by min == max)."""
    score, y = case("balanced", decimals, seed=2)
    reference = validation_metrics(engine(score, y), n_bins=7)
    monkeypatch.setattr(metrics, "GRID_BINS", 4)
    monkeypatch.setattr(metrics, "MAX_COLLECT", 3)
    counting = CountingEngine(split(score, y, 3))
    narrowed = validation_metrics(counting, n_bins=7)
    assert counting.passes >= (4 if decimals else 6)  # three passes plus narrowing ones
    assert narrowed["deciles"] == reference["deciles"]
    assert [(d["rows"], d["positives"]) for d in narrowed["deciles"]] == [
        (rows, positives) for rows, positives, _ in brute_force_deciles(score, y, 7)
    ]


# --------------------------------------------------------------------------- thresholds


def brute_force_cost(score, y, cost_fp, cost_fn):
    """Every distinct score as a threshold (and one above all); the cheapest, highest on a tie."""
    candidates = np.concatenate([[np.nextafter(score.max(), np.inf)], np.unique(score)[::-1]])
    best = None
    for t in candidates:
        predicted = score >= t
        tp, fp = int((predicted & (y == 1)).sum()), int((predicted & (y == 0)).sum())
        cost = cost_fp * fp + cost_fn * (int(y.sum()) - tp)
        if best is None or cost < best[0]:
            best = (cost, t, tp, fp)
    return best


@pytest.mark.parametrize("costs", [(1.0, 20.0), (5.0, 1.0), (1.0, 1.0), (0.0, 1.0), (1.0, 0.0), (3.0, 7.5)])
@pytest.mark.parametrize("decimals", TIES)
@pytest.mark.parametrize("name", ["rare", "majority"])
def test_cost_threshold_equals_brute_force_over_every_score(name, decimals, costs):
    score, y = case(name, decimals, seed=7)
    score, y = score[:3000], y[:3000]
    cost_fp, cost_fn = costs
    result = choose_threshold(engine(score, y), cost_fp=cost_fp, cost_fn=cost_fn)
    cost, threshold, tp, fp = brute_force_cost(score, y, cost_fp, cost_fn)
    assert (result["threshold"], result["tp"], result["fp"]) == (threshold, tp, fp)
    assert result["expected_cost"] == cost and result["cost_per_row"] == cost / len(y)
    assert result["tn"] + result["fp"] == int((y == 0).sum()) and result["fn"] + result["tp"] == int(y.sum())
    json.dumps(result, allow_nan=False)


@pytest.mark.parametrize("share", [0.0004, 0.05, 0.1, 0.3333, 0.77, 1.0])
@pytest.mark.parametrize("decimals", TIES)
@pytest.mark.parametrize("name", ["rare", "majority"])
def test_contact_share_threshold_equals_brute_force(name, decimals, share):
    score, y = case(name, decimals, seed=8)
    score, y = score[:5000], y[:5000]
    result = choose_threshold(engine(score, y, parts="uneven"), contact_share=share)
    for t in np.unique(score)[::-1]:  # the highest threshold that contacts at least the share
        if (score >= t).mean() >= share:
            break
    predicted = score >= t
    assert result["threshold"] == t
    assert result["tp"] == int((predicted & (y == 1)).sum()) and result["fp"] == int((predicted & (y == 0)).sum())
    assert result["share_contacted"] == predicted.mean() >= share
    assert result["expected_cost"] is None and result["cost_fp"] is None


def test_contact_share_is_compared_as_a_float_share_of_rows():
    """0.07 * 100 is 7.000000000000001 in floating point, yet 7 rows of 100 are a share of 0.07."""
    score, y = scored(100, 0.3, seed=4)
    result = choose_threshold(engine(score, y), contact_share=0.07)
    assert result["tp"] + result["fp"] == 7 and result["threshold"] == np.sort(score)[-7]


def test_one_ranking_serves_every_question_without_more_passes():
    score, y = case("rare", None)
    counting = CountingEngine(split(score, y, 3))
    ranked = rank_scores(counting, contact_shares=[0.07])
    assert isinstance(ranked, RankedScores) and counting.passes == 3 and counting.calibration_passes <= 8
    metrics_from_ranked = validation_metrics(ranked)
    by_cost = choose_threshold(ranked, cost_fp=1.0, cost_fn=30.0)
    by_share = choose_threshold(ranked, contact_share=0.07)
    by_decile_share = choose_threshold(ranked, contact_share=0.3)
    assert counting.passes == 3 and counting.calibration_passes <= 8
    assert_same(metrics_from_ranked, validation_metrics(engine(score, y)), atol=0.0)
    assert by_cost == choose_threshold(engine(score, y), cost_fp=1.0, cost_fn=30.0)
    assert by_share == choose_threshold(engine(score, y), contact_share=0.07)
    assert by_decile_share == choose_threshold(engine(score, y), contact_share=0.3)
    with pytest.raises(InputError, match=r"contact_share=0.0123 needs the score ranked 246 of 20000, which this "
                                         r"RankedScores does not hold; pass the engine instead"):
        choose_threshold(ranked, contact_share=0.0123)


# --------------------------------------------------------------------------- partitioning and cluster


def all_results(eng):
    return {
        "metrics": validation_metrics(eng, max_curve_points=200),
        "cost": choose_threshold(eng, cost_fp=1.0, cost_fn=12.0),
        "share": choose_threshold(eng, contact_share=0.15),
    }


@pytest.mark.parametrize("parts", [3, 7, "uneven"])
@pytest.mark.parametrize(("name", "decimals"), [("rare", 2), ("balanced", None), ("majority", 2)])
def test_any_partitioning_gives_the_single_block_answer(name, decimals, parts):
    score, y = case(name, decimals, seed=11)
    reference = all_results(engine(score, y, parts=1))
    assert_same(all_results(engine(score, y, parts=parts)), reference, atol=1e-12)


def test_too_many_positive_ties_fall_back_with_a_warning(monkeypatch):
    """Positives the larger class, more distinct positive scores than carried: tie-free formula, exact here."""
    monkeypatch.setattr(metrics, "MIN_TIE_CAP", 10)
    score, y = case("majority", None)
    with pytest.warns(UserWarning, match="average precision assumes that no two positive scores tie"):
        result = validation_metrics(engine(score, y, parts=7))
    assert result["average_precision"] == pytest.approx(skm.average_precision_score(y, score), abs=1e-9, rel=0)


@pytest.mark.cluster
def test_a_dask_cluster_gives_the_local_answer(local_client):
    import dask

    from logreg_dist._engine import DaskEngine

    score, y = case("rare", 2, seed=13)
    blocks = split(score, y, "uneven")
    dask_engine = DaskEngine(local_client, [dask.delayed(tuple)([s, t]) for s, t in blocks], split_every=3)
    try:
        assert_same(all_results(dask_engine), all_results(LocalEngine(blocks)), atol=1e-12)
    finally:
        dask_engine.close()


# --------------------------------------------------------------------------- errors


def test_no_rows_is_refused():
    empty = np.array([])
    with pytest.raises(InputError, match=r"there are no rows to measure; metrics need rows of both classes"):
        validation_metrics(LocalEngine([(empty, empty), (empty, empty)]))


@pytest.mark.parametrize("label", [0, 1])
def test_one_class_only_is_refused(label):
    score, _ = scored(300, 0.3)
    y = np.full(300, float(label))
    which = "positives \\(label 1\\)" if label else "negatives \\(label 0\\)"
    with pytest.raises(InputError, match=rf"the rows measured are all {which}: 300 rows; AUC and the other metrics "
                                         "need both classes"):
        validation_metrics(engine(score, y))


def test_scores_outside_zero_one_or_nan_are_counted():
    score, y = scored(1000, 0.3)
    score[[3, 500, 900]] = np.nan
    score[[10, 700]] = [1.5, -0.25]
    with pytest.raises(InputError, match=r"scores must be probabilities in \[0, 1\]; found 3 NaN and 2 outside "
                                         r"\[0, 1\] \(for example 1.5\) among 1000 rows"):
        validation_metrics(engine(score, y))


def test_labels_other_than_0_and_1_are_counted():
    score, y = scored(1000, 0.3)
    y[[1, 2, 999]] = 2.0
    with pytest.raises(InputError, match=r"labels must be 0 or 1; found 3 other values \(for example 2.0\) among 1000"):
        validation_metrics(engine(score, y))


def test_block_of_unequal_lengths_is_refused():
    with pytest.raises(InputError, match=r"1-D scores and labels of equal length; got shapes \(3,\) and \(2,\)"):
        validation_metrics(LocalEngine([(np.array([0.1, 0.2, 0.3]), np.array([0.0, 1.0]))]))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"cost_fp": 1.0}, r"needs either both cost_fp and cost_fn, or contact_share alone; got cost_fp=1.0, "
                           r"cost_fn=None, contact_share=None"),
        ({}, r"needs either both cost_fp and cost_fn, or contact_share alone"),
        ({"cost_fp": 1.0, "cost_fn": 2.0, "contact_share": 0.1},
         r"or contact_share alone; got cost_fp=1.0, cost_fn=2.0, contact_share=0.1"),
        ({"cost_fp": -1.0, "cost_fn": 2.0}, r"cost_fp must be a finite number >= 0; got -1.0"),
        ({"cost_fp": 1.0, "cost_fn": float("nan")}, r"cost_fn must be a finite number >= 0; got nan"),
        ({"cost_fp": 0, "cost_fn": 0.0}, r"cost_fp and cost_fn are both 0; at least one must be positive"),
        ({"contact_share": 0.0}, r"contact_share must be a number in \(0, 1\]; got 0.0"),
        ({"contact_share": 1.5}, r"contact_share must be a number in \(0, 1\]; got 1.5"),
    ],
)
def test_bad_threshold_arguments_are_refused(kwargs, message):
    score, y = scored(200, 0.3)
    with pytest.raises(InputError, match=message):
        choose_threshold(engine(score, y), **kwargs)


def test_bad_metric_arguments_are_refused():
    score, y = scored(200, 0.3)
    with pytest.raises(InputError, match=r"n_bins must be an integer >= 1; got 0"):
        validation_metrics(engine(score, y), n_bins=0)
    with pytest.raises(InputError, match=r"max_curve_points must be an integer >= 2; got 1"):
        validation_metrics(engine(score, y), max_curve_points=1)
    with pytest.raises(InputError, match=r"expected an engine \(LocalEngine, DaskEngine\) or a RankedScores; got tuple"):
        validation_metrics((score, y))
    ranked = rank_scores(engine(score, y), n_bins=5)
    with pytest.raises(InputError, match=r"n_bins=10 differs from the n_bins=5 this RankedScores was computed with"):
        validation_metrics(ranked, n_bins=10)
    assert len(validation_metrics(ranked)["deciles"]) == 5


@pytest.mark.parametrize("score, digits, text", [
    (0.99996, 4, "0.99996"), (0.9999999999999999, 4, "0.9999999999999999"), (0.123456, 4, "0.1235"),
    (0.123456, 3, "0.123"), (1e-9, 4, "1e-09"), (4e-6, 3, "4e-06"), (1.0, 4, "1"), (0.0, 3, "0"),
])
def test_a_score_near_one_is_never_written_as_one(score, digits, text):
    """A threshold just above a separated model's best validation score (0.99996) reads as itself, not as 1: with
    it, 'contacts rows scoring at or above 1' said no row could be contacted."""
    from logreg_dist.metrics import score_text

    assert score_text(score, digits) == text
    assert float(score_text(score, digits)) not in (0.0, 1.0) or score in (0.0, 1.0)
