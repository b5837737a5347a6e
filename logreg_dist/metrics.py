"""Validation metrics of a scored data set, computed where the rows are.

A block is ``(score, y)``: ``score`` the predicted probabilities of the
positive class for one partition, ``(n_rows,)`` float64 in [0, 1], and ``y``
its labels, ``(n_rows,)`` float64 holding 0.0 and 1.0 (a block may be empty).
Every metric is *unweighted* and *exact*: AUC, its DeLong standard error,
average precision, log-loss and Brier score equal scikit-learn's, and the ROC
and precision-recall vertices, score deciles and optimal thresholds are those
of the full sorted data.

No row comes to the driver. :func:`rank_scores` makes three passes over the
blocks, each a map and a sum (then the calibration fit's few Newton passes, two
sums each):

1. totals: rows, positives, log-loss and Brier sums, range checks, and a
   histogram of the scores on ``GRID_BINS`` bins of [0, 1] with each bin's
   lowest and highest score;
2. the distinct scores of the *smaller* class with their counts, and the
   distinct scores in the few histogram bins that hold a decile edge (or a
   requested contact share). A bin of more than ``MAX_COLLECT`` rows is first
   narrowed by further histogram passes over ``[its min, its max]``; a bin
   whose min equals its max needs no collecting. The edges are exact order
   statistics;
3. given the sorted distinct minority scores ``u_1 < ... < u_k``, the counts of
   the larger class in the ``2k + 1`` intervals ``(< u_1), (= u_1),
   (u_1, u_2), ..., (= u_k), (> u_k)`` with the lowest score in each open
   interval, and the rows, positives and score sum, min and max of each decile.

Every row of the larger class in one interval stands in the same order
against every row of the smaller class, so the ROC, the AUC with ties counted
1/2, DeLong's structural components, the precision-recall points and the cost
of every threshold follow from these counts. What travels is bounded by the
size of the smaller class or by a fixed number of bins.

One exception to exactness from counts alone: when positives are the larger
class, average precision also depends on how positive scores tie *between*
two negative scores. Pass 3 then also returns those distinct scores with their
counts, up to ``max(n_minority, MIN_TIE_CAP)`` of them; above that it assumes no such
ties (exact for continuous scores) and says so in a warning.

A row is predicted positive when ``score >= threshold``.

Usage: ``ranked = rank_scores(engine)`` once, then
``validation_metrics(ranked)`` and ``choose_threshold(ranked, cost_fp=...,
cost_fn=...)`` make no further pass. Both also accept the engine itself.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from scipy.special import digamma, expit, logit

from .exceptions import InputError

__all__ = ["RankedScores", "choose_threshold", "miscalibration", "rank_scores", "validation_metrics"]

#: Bins of the score histograms that locate decile edges.
GRID_BINS = 4096
#: A histogram bin holding a target rank is collected (its distinct scores) at or below this many rows.
MAX_COLLECT = 100_000
#: Histogram passes allowed to narrow one rank before its bin is collected whatever its size.
MAX_REFINEMENTS = 32
#: Positive scores tied between cuts are carried (for average precision) up to max(n_minority, this) values.
MIN_TIE_CAP = 65536
#: Two-sided 95% normal quantile for the DeLong interval.
Z_95 = 1.959964
#: Probabilities are clipped to [EPS, 1 - EPS] for the log-loss, as scikit-learn does.
EPS = float(np.finfo(np.float64).eps)
#: The calibration fit reads a score of 0 or 1 as this log-odds (a float64 probability's limit is about 36.7).
CALIBRATION_LOGIT_LIMIT = 36.0
#: Newton iterations allowed to the calibration fit; it converges in a handful unless the scores separate the labels.
CALIBRATION_MAX_ITER = 30


class _Engine(Protocol):
    def map_reduce(self, kernel, /, **params: Any) -> Any: ...


# --------------------------------------------------------------------------- per-block sums


@dataclass(frozen=True)
class _Tally:
    """Sorted distinct values ``(m,)`` and the number of rows at each ``(m,)``; adds as a multiset union."""

    values: np.ndarray
    counts: np.ndarray

    @classmethod
    def of(cls, x: np.ndarray) -> _Tally:
        values, counts = np.unique(x, return_counts=True)
        return cls(values, counts.astype(np.int64))

    def __add__(self, other: _Tally) -> _Tally:
        values, inverse = np.unique(np.concatenate([self.values, other.values]), return_inverse=True)
        counts = np.zeros(len(values), dtype=np.int64)
        np.add.at(counts, inverse, np.concatenate([self.counts, other.counts]))
        return _Tally(values, counts)


@dataclass(frozen=True)
class _CappedTally:
    """A :class:`_Tally` that turns into ``None`` once it holds more than ``cap`` distinct values."""

    tally: _Tally | None
    cap: int

    def __add__(self, other: _CappedTally) -> _CappedTally:
        if self.tally is None or other.tally is None:
            return _CappedTally(None, self.cap)
        merged = self.tally + other.tally
        return _CappedTally(merged if len(merged.values) <= self.cap else None, self.cap)


@dataclass(frozen=True)
class _Histogram:
    """Counts ``(n_windows, GRID_BINS)`` and the lowest and highest score in each bin (inf/-inf if empty)."""

    counts: np.ndarray
    mins: np.ndarray
    maxs: np.ndarray

    def __add__(self, other: _Histogram) -> _Histogram:
        return _Histogram(
            self.counts + other.counts, np.minimum(self.mins, other.mins), np.maximum(self.maxs, other.maxs)
        )


def _first(a, b):
    return a if a is not None else b


@dataclass(frozen=True)
class _Totals:
    n_rows: int
    n_positives: int
    n_nan: int
    n_outside: int
    outside_example: float | None
    n_bad_label: int
    bad_label_example: float | None
    log_loss_sum: float
    brier_sum: float
    histogram: _Histogram

    def __add__(self, other: _Totals) -> _Totals:
        return _Totals(
            self.n_rows + other.n_rows,
            self.n_positives + other.n_positives,
            self.n_nan + other.n_nan,
            self.n_outside + other.n_outside,
            _first(self.outside_example, other.outside_example),
            self.n_bad_label + other.n_bad_label,
            _first(self.bad_label_example, other.bad_label_example),
            self.log_loss_sum + other.log_loss_sum,
            self.brier_sum + other.brier_sum,
            self.histogram + other.histogram,
        )


@dataclass(frozen=True)
class _Collected:
    minority: _Tally
    windows: tuple[_Tally, ...]

    def __add__(self, other: _Collected) -> _Collected:
        return _Collected(
            self.minority + other.minority, tuple(a + b for a, b in zip(self.windows, other.windows, strict=True))
        )


@dataclass(frozen=True)
class _IntervalSums:
    """Pass 3: ``majority_counts (2k+1,)``, ``gap_min (k+1,)``, per-decile sums ``(n_bins,)``."""

    majority_counts: np.ndarray
    gap_min: np.ndarray
    bin_rows: np.ndarray
    bin_positives: np.ndarray
    bin_score_sum: np.ndarray
    bin_min: np.ndarray
    bin_max: np.ndarray
    gap_positive_ties: _CappedTally | None

    def __add__(self, other: _IntervalSums) -> _IntervalSums:
        ties = None if self.gap_positive_ties is None else self.gap_positive_ties + other.gap_positive_ties
        return _IntervalSums(
            self.majority_counts + other.majority_counts,
            np.minimum(self.gap_min, other.gap_min),
            self.bin_rows + other.bin_rows,
            self.bin_positives + other.bin_positives,
            self.bin_score_sum + other.bin_score_sum,
            np.minimum(self.bin_min, other.bin_min),
            np.maximum(self.bin_max, other.bin_max),
            ties,
        )


# --------------------------------------------------------------------------- kernels (NumPy and SciPy, no Dask)


def _arrays(score, y) -> tuple[np.ndarray, np.ndarray]:
    score = np.asarray(score, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if score.ndim != 1 or score.shape != y.shape:
        raise InputError(
            f"a block must hold 1-D scores and labels of equal length; got shapes {score.shape} and {y.shape}."
        )
    return score, y


def _histogram(score: np.ndarray, windows) -> _Histogram:
    """Histogram of the scores in each closed window ``[lo, hi]`` on ``GRID_BINS`` equal bins."""
    counts = np.zeros((len(windows), GRID_BINS), dtype=np.int64)
    mins = np.full((len(windows), GRID_BINS), np.inf)
    maxs = np.full((len(windows), GRID_BINS), -np.inf)
    for w, (lo, hi) in enumerate(windows):
        inside = score[(score >= lo) & (score <= hi)]
        edges = np.linspace(lo, hi, GRID_BINS + 1)
        index = np.clip(np.searchsorted(edges, inside, side="right") - 1, 0, GRID_BINS - 1)
        counts[w] = np.bincount(index, minlength=GRID_BINS)
        np.minimum.at(mins[w], index, inside)
        np.maximum.at(maxs[w], index, inside)
    return _Histogram(counts, mins, maxs)


def _totals_kernel(score, y) -> _Totals:
    """Pass 1: counts, range checks, log-loss and Brier sums and a histogram on ``[0, 1]``."""
    score, y = _arrays(score, y)
    nan = np.isnan(score)
    outside = ~nan & ((score < 0.0) | (score > 1.0))
    bad_label = (y != 0.0) & (y != 1.0)
    ok = ~(nan | outside | bad_label)
    s, positive = score[ok], y[ok] == 1.0
    clipped = np.clip(s, EPS, 1.0 - EPS)
    log_loss_sum = -(np.log(clipped[positive]).sum() + np.log1p(-clipped[~positive]).sum())
    return _Totals(
        n_rows=len(score),
        n_positives=int(positive.sum()),
        n_nan=int(nan.sum()),
        n_outside=int(outside.sum()),
        outside_example=float(score[outside][0]) if outside.any() else None,
        n_bad_label=int(bad_label.sum()),
        bad_label_example=float(y[bad_label][0]) if bad_label.any() else None,
        log_loss_sum=float(log_loss_sum),
        brier_sum=float(((s - positive) ** 2).sum()),
        histogram=_histogram(s, ((0.0, 1.0),)),
    )


@dataclass(frozen=True)
class _CalibrationSums:
    """The log-likelihood of ``y ~ a + b * logit(score)``, its gradient ``(2,)`` and negated Hessian ``(2, 2)``."""

    loglik: float
    grad: np.ndarray
    hess: np.ndarray

    def __add__(self, other: _CalibrationSums) -> _CalibrationSums:
        return _CalibrationSums(self.loglik + other.loglik, self.grad + other.grad, self.hess + other.hess)


def _calibration_kernel(score, y, *, intercept, slope) -> _CalibrationSums:
    """A pass of the calibration fit: its sums at ``(intercept, slope)``."""
    score, y = _arrays(score, y)
    with np.errstate(divide="ignore"):
        x = np.clip(logit(score), -CALIBRATION_LOGIT_LIMIT, CALIBRATION_LOGIT_LIMIT)
    eta = intercept + slope * x
    p = expit(eta)
    r, w = y - p, p * (1.0 - p)
    wx = w * x
    loglik = float(y @ eta - np.logaddexp(0.0, eta).sum())
    return _CalibrationSums(loglik, np.array([r.sum(), r @ x]), np.array([[w.sum(), wx.sum()], [wx.sum(), wx @ x]]))


#: A calibration slope in this range reads as calibrated; beyond it (and beyond its 95 % CI) the scores are too close
#: to the base rate (above) or too extreme (below) to be read as probabilities, by a fifth or more either way.
CALIBRATION_SLOPE_RANGE = (0.8, 1.25)


def miscalibration(calibration: dict | None) -> str | None:
    """``"compressed"`` (scores too close to the base rate), ``"extreme"`` or None, from a calibration fit."""
    if not calibration:
        return None
    low, high = calibration["slope_ci"]
    if calibration["slope"] > CALIBRATION_SLOPE_RANGE[1] and low > 1.0:
        return "compressed"
    if calibration["slope"] < CALIBRATION_SLOPE_RANGE[0] and high < 1.0:
        return "extreme"
    return None


def _calibration(engine: _Engine) -> dict | None:
    """The logistic calibration of the scores (Cox 1958; rms's ``val.prob``): ``y ~ a + b * logit(score)`` fitted by
    Newton, one pass per iteration. A slope of 1 and an intercept of 0 are perfect calibration; a slope above 1
    means the scores are too close to the base rate (a penalty too strong), below 1 too extreme (an overfit).
    None when the fit does not converge (scores that separate the labels)."""
    def at(theta):
        return engine.map_reduce(_calibration_kernel, intercept=float(theta[0]), slope=float(theta[1]))

    theta = np.array([0.0, 1.0])  # the scores as they are
    sums = at(theta)
    for _ in range(CALIBRATION_MAX_ITER):
        try:
            step = np.linalg.solve(sums.hess, sums.grad)
        except np.linalg.LinAlgError:
            return None
        if not np.all(np.isfinite(step)):
            return None
        if np.abs(step).max() <= 1e-10 * (1.0 + np.abs(theta).max()):
            # Newton's step is below rounding: theta is the optimum, and its pass's Hessian the one there.
            se = np.sqrt(np.diag(np.linalg.inv(sums.hess)))
            return {"intercept": float(theta[0]), "slope": float(theta[1]), "intercept_se": float(se[0]),
                    "slope_se": float(se[1]),
                    "slope_ci": [float(theta[1] - Z_95 * se[1]), float(theta[1] + Z_95 * se[1])]}
        # Halved until the likelihood does not fall: a score of 0 or 1 (a log-odds at the clip) among rows of the
        # other label throws the first full steps far off.
        for _ in range(60):
            trial = at(theta + step)
            if trial.loglik >= sums.loglik - 1e-12 * abs(sums.loglik):
                break
            step = 0.5 * step
        else:
            return None
        theta, sums = theta + step, trial
        if np.abs(theta).max() > 1e6:
            return None
    return None


def _histogram_kernel(score, y, *, windows) -> _Histogram:
    """Narrowing pass: a histogram of the scores inside each window."""
    score, _ = _arrays(score, y)
    return _histogram(score, windows)


def _collect_kernel(score, y, *, minority_label, windows) -> _Collected:
    """Pass 2: distinct scores of the smaller class, and distinct scores inside each window."""
    score, y = _arrays(score, y)
    return _Collected(
        _Tally.of(score[y == minority_label]),
        tuple(_Tally.of(score[(score >= lo) & (score <= hi)]) for lo, hi in windows),
    )


def _interval_kernel(score, y, *, cuts, minority_label, edges, tie_cap) -> _IntervalSums:
    """Pass 3: larger-class counts per interval of ``cuts`` ``(k,)`` and sums per decile.

    ``edges`` ``(n_bins - 1,)`` are the decile edges, descending; decile ``b``
    (0-based from the top) holds ``edges[b] <= score < edges[b - 1]``.
    """
    score, y = _arrays(score, y)
    k = len(cuts)
    majority = score[y != minority_label]
    interval = np.searchsorted(cuts, majority, side="left") + np.searchsorted(cuts, majority, side="right")
    in_gap = interval % 2 == 0
    gap_min = np.full(k + 1, np.inf)
    np.minimum.at(gap_min, interval[in_gap] // 2, majority[in_gap])

    n_bins = len(edges) + 1
    decile = (n_bins - 1) - np.searchsorted(edges[::-1], score, side="right")
    bin_min = np.full(n_bins, np.inf)
    bin_max = np.full(n_bins, -np.inf)
    np.minimum.at(bin_min, decile, score)
    np.maximum.at(bin_max, decile, score)
    ties = None
    if minority_label == 0:  # positives are the larger class: their ties between cuts matter to AP
        tally = _Tally.of(majority[in_gap])
        ties = _CappedTally(tally if len(tally.values) <= tie_cap else None, tie_cap)
    return _IntervalSums(
        majority_counts=np.bincount(interval, minlength=2 * k + 1).astype(np.int64),
        gap_min=gap_min,
        bin_rows=np.bincount(decile, minlength=n_bins).astype(np.int64),
        bin_positives=np.bincount(decile[y == 1.0], minlength=n_bins).astype(np.int64),
        bin_score_sum=np.bincount(decile, weights=score, minlength=n_bins),
        bin_min=bin_min,
        bin_max=bin_max,
        gap_positive_ties=ties,
    )


# --------------------------------------------------------------------------- the ranked scores


@dataclass(frozen=True, eq=False)
class RankedScores:
    """Everything the metrics need from the rows, reduced and picklable.

    Its size grows with the smaller class (at most ``k`` distinct scores of
    it), never with the rows of the larger one.

    Attributes
    ----------
    n_rows, n_positives : int
    log_loss_sum, brier_sum : float
        Sums over rows (divide by ``n_rows`` for the means).
    score_max : float
    minority_label : int
        0 or 1, the smaller class (1 when the classes are equal in size).
    cuts : ndarray of shape (k,)
        Distinct scores of the smaller class, ascending.
    minority_counts : ndarray of shape (k,)
        Rows of the smaller class at each cut.
    majority_counts : ndarray of shape (2k + 1,)
        Rows of the larger class below ``cuts[0]``, equal to it, between it
        and ``cuts[1]``, ..., equal to ``cuts[-1]``, above it.
    gap_min : ndarray of shape (k + 1,)
        Lowest larger-class score in each open interval (inf if empty).
    n_bins : int
    decile_edges : ndarray of shape (n_bins - 1,)
        Descending; the score at rank ``ceil(b * n_rows / n_bins)`` from the top.
    bin_rows, bin_positives, bin_score_sum, bin_min, bin_max : ndarray of shape (n_bins,)
        Rows, positives, score sum, lowest and highest score per bin, the highest scores first.
    order_statistics : dict
        ``rank -> (score, rows at or above score)`` for every rank resolved
        exactly (decile edges and requested contact shares); rank 1 is the highest score.
    gap_positive_ties : _Tally or None
        When positives are the larger class: their distinct scores strictly
        between cuts, with counts. None when positives are the smaller class
        (not needed) or when there were too many to carry.
    calibration : dict or None
        The logistic calibration fit (``intercept``, ``slope``, their standard
        errors and ``slope_ci``): see :func:`_calibration`.
    """

    n_rows: int
    n_positives: int
    log_loss_sum: float
    brier_sum: float
    score_max: float
    minority_label: int
    cuts: np.ndarray
    minority_counts: np.ndarray
    majority_counts: np.ndarray
    gap_min: np.ndarray
    n_bins: int
    decile_edges: np.ndarray
    bin_rows: np.ndarray
    bin_positives: np.ndarray
    bin_score_sum: np.ndarray
    bin_min: np.ndarray
    bin_max: np.ndarray
    order_statistics: dict = field(default_factory=dict)
    gap_positive_ties: _Tally | None = None
    calibration: dict | None = None

    @property
    def n_negatives(self) -> int:
        return self.n_rows - self.n_positives

    @property
    def no_contact_threshold(self) -> float:
        """A threshold that predicts no row positive: the next float above the highest score."""
        return float(np.nextafter(self.score_max, np.inf))


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InputError(f"{name} must be an integer >= {minimum}; got {value!r}.")
    return int(value)


def _check_share(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not 0.0 < value <= 1.0:
        raise InputError(f"contact_share must be a number in (0, 1]; got {value!r}.")
    return float(value)


def _share_rank(share: float, n_rows: int) -> int:
    """The smallest number of top rows r with ``r / n_rows >= share``."""
    rank = min(max(math.ceil(share * n_rows), 1), n_rows)
    while rank > 1 and (rank - 1) / n_rows >= share:
        rank -= 1
    while rank < n_rows and rank / n_rows < share:
        rank += 1
    return rank


def _check_totals(totals: _Totals, labels=("label 0", "label 1")) -> None:
    n = totals.n_rows
    if n == 0:
        raise InputError("there are no rows to measure; metrics need rows of both classes.")
    if totals.n_nan or totals.n_outside:
        example = "" if totals.outside_example is None else f" (for example {totals.outside_example!r})"
        raise InputError(
            f"scores must be probabilities in [0, 1]; found {totals.n_nan} NaN and {totals.n_outside} "
            f"outside [0, 1]{example} among {n} rows."
        )
    if totals.n_bad_label:
        raise InputError(
            f"labels must be 0 or 1; found {totals.n_bad_label} other values "
            f"(for example {totals.bad_label_example!r}) among {n} rows."
        )
    if totals.n_positives in (0, n):
        which = f"positives ({labels[1]})" if totals.n_positives == n else f"negatives ({labels[0]})"
        raise InputError(f"the rows measured are all {which}: {n:,} rows; AUC and the other metrics need both classes.")


def _narrow(engine: _Engine, n_rows: int, ranks, histogram: _Histogram):
    """Locate the score at each rank (1 = highest): resolved ones, and windows to collect.

    Returns ``found`` (``rank -> (score, rows >= score)``) and ``pending``, a
    list of ``(rank, rows below window, (lo, hi))`` whose window holds at most
    ``MAX_COLLECT`` rows (or ``MAX_REFINEMENTS`` passes were spent on it).
    """
    found, pending = {}, []
    searching = [(rank, 0, 0) for rank in ranks]  # (rank, rows below the window, window index)
    for refinement in range(MAX_REFINEMENTS + 1):
        windows: dict[tuple[float, float], int] = {}
        narrower = []
        for rank, below, w in searching:
            cum = np.cumsum(histogram.counts[w])
            i = int(np.searchsorted(cum, (n_rows - rank + 1) - below))  # first bin holding the target
            below += int(cum[i - 1]) if i else 0
            lo, hi = float(histogram.mins[w, i]), float(histogram.maxs[w, i])
            if lo == hi:
                found[rank] = (lo, n_rows - below)
            elif histogram.counts[w, i] <= MAX_COLLECT or refinement == MAX_REFINEMENTS:
                pending.append((rank, below, (lo, hi)))
            else:
                narrower.append((rank, below, windows.setdefault((lo, hi), len(windows))))
        if not narrower:
            break
        histogram = engine.map_reduce(_histogram_kernel, windows=tuple(windows))
        searching = narrower
    return found, pending


def rank_scores(engine: _Engine, *, n_bins: int = 10, contact_shares=(), labels=("label 0", "label 1")) -> RankedScores:
    """Reduce a scored data set to a :class:`RankedScores` in three passes over its blocks.

    Parameters
    ----------
    engine : LocalEngine or DaskEngine
        Blocks ``(score, y)``: ``score`` ``(n_rows,)`` probabilities of the
        positive class, ``y`` ``(n_rows,)`` 0.0/1.0.
    n_bins : int
        Score bins for the gains table (10: deciles).
    contact_shares : sequence of float in (0, 1]
        Shares of rows for which :func:`choose_threshold` should be able to
        answer from these ranked scores (multiples of ``1 / n_bins`` always can).
    labels : (str, str)
        How a refusal names the negative and the positive class (``churn = 'No'``).

    Raises
    ------
    InputError
        No rows, one class only, scores outside [0, 1] or NaN, labels other than 0 and 1.
    """
    n_bins = _check_int("n_bins", n_bins, 1)
    shares = [_check_share(share) for share in contact_shares]
    totals = engine.map_reduce(_totals_kernel)
    _check_totals(totals, labels)
    n = totals.n_rows
    minority_label = 1 if totals.n_positives <= n - totals.n_positives else 0
    n_minority = totals.n_positives if minority_label == 1 else n - totals.n_positives

    edge_ranks = [(b * n + n_bins - 1) // n_bins for b in range(1, n_bins)]
    ranks = sorted(set(edge_ranks) | {_share_rank(share, n) for share in shares})
    found, pending = _narrow(engine, n, ranks, totals.histogram)
    windows = list(dict.fromkeys(window for _, _, window in pending))
    collected = engine.map_reduce(_collect_kernel, minority_label=minority_label, windows=tuple(windows))
    for rank, below, window in pending:
        tally = collected.windows[windows.index(window)]
        cum = np.cumsum(tally.counts)
        j = int(np.searchsorted(cum, (n - rank + 1) - below))
        found[rank] = (float(tally.values[j]), n - below - (int(cum[j - 1]) if j else 0))

    cuts = collected.minority.values
    edges = np.array([found[rank][0] for rank in edge_ranks], dtype=np.float64)
    sums = engine.map_reduce(
        _interval_kernel, cuts=cuts, minority_label=minority_label, edges=edges, tie_cap=max(n_minority, MIN_TIE_CAP)
    )
    ties = sums.gap_positive_ties
    return RankedScores(
        n_rows=n,
        n_positives=totals.n_positives,
        log_loss_sum=totals.log_loss_sum,
        brier_sum=totals.brier_sum,
        score_max=float(totals.histogram.maxs.max()),
        minority_label=minority_label,
        cuts=cuts,
        minority_counts=collected.minority.counts,
        majority_counts=sums.majority_counts,
        gap_min=sums.gap_min,
        n_bins=n_bins,
        decile_edges=edges,
        bin_rows=sums.bin_rows,
        bin_positives=sums.bin_positives,
        bin_score_sum=sums.bin_score_sum,
        bin_min=sums.bin_min,
        bin_max=sums.bin_max,
        order_statistics=found,
        gap_positive_ties=None if ties is None else ties.tally,
        calibration=_calibration(engine),
    )


# --------------------------------------------------------------------------- metrics from the ranked scores


def _steps(ranked: RankedScores):
    """Confusion counts at every distinct cut-off, threshold descending.

    Returns ``threshold``, ``tp``, ``fp`` (rows predicted positive at
    ``score >= threshold``) and ``at_cut`` (the step is a minority score), each
    ``(n_steps,)``; step 0 predicts nothing. A step at an open interval has
    that interval's lowest score as threshold.
    """
    k = len(ranked.cuts)
    maj = ranked.majority_counts
    mino = np.zeros(2 * k + 1, dtype=np.int64)
    mino[1::2] = ranked.minority_counts
    threshold = np.empty(2 * k + 1)
    threshold[1::2] = ranked.cuts
    threshold[0::2] = ranked.gap_min
    at_cut = np.arange(2 * k + 1) % 2 == 1
    order = np.arange(2 * k, -1, -1)
    keep = (maj + mino)[order] > 0
    d_maj, d_min = maj[order][keep], mino[order][keep]
    d_tp, d_fp = (d_min, d_maj) if ranked.minority_label == 1 else (d_maj, d_min)
    return (
        np.concatenate([[ranked.no_contact_threshold], threshold[order][keep]]),
        np.concatenate([[0], np.cumsum(d_tp)]),
        np.concatenate([[0], np.cumsum(d_fp)]),
        np.concatenate([[False], at_cut[order][keep]]),
    )


def _auc_delong(ranked: RankedScores) -> tuple[float, float | None]:
    """Exact AUC (ties count 1/2) and DeLong's standard error (None below two rows of a class).

    In the orientation where the smaller class "wins" against larger-class
    rows below it (scores reversed when negatives are the smaller class),
    a minority row at ``cuts[j]`` has structural component
    ``(larger below + larger equal / 2) / n_larger`` and a larger-class row
    in an interval ``(smaller above + smaller equal / 2) / n_smaller``.
    """
    c, g = ranked.minority_counts, ranked.majority_counts
    if ranked.minority_label == 0:
        c, g = c[::-1], g[::-1]
    n_min, n_maj = int(c.sum()), int(g.sum())
    below = np.cumsum(g)[0:-1:2]  # larger-class rows below each cut, (k,)
    equal = g[1::2]
    auc = int((c * (2 * below + equal)).sum()) / (2 * n_min * n_maj)
    if min(n_min, n_maj) < 2:
        return auc, None
    v_min = (below + 0.5 * equal) / n_maj
    at_or_above = np.concatenate([np.cumsum(c[::-1])[::-1], [0]])  # smaller-class rows >= cuts[j], (k + 1,)
    v_maj = np.empty(len(g))
    v_maj[0::2] = at_or_above / n_min
    v_maj[1::2] = (at_or_above[1:] + 0.5 * c) / n_min
    s_min = float(c @ (v_min - auc) ** 2) / (n_min - 1)
    s_maj = float(g @ (v_maj - auc) ** 2) / (n_maj - 1)
    return auc, math.sqrt(s_min / n_min + s_maj / n_maj)


def _average_precision(ranked: RankedScores, tp: np.ndarray, fp: np.ndarray, at_cut: np.ndarray) -> float:
    """scikit-learn's average precision: the sum over cut-offs of recall gained times precision."""
    n_pos = ranked.n_positives
    gain = np.diff(tp) * (tp[1:] / (tp[1:] + fp[1:]))
    if ranked.minority_label == 1:  # every positive sits at a cut: the steps are exact
        return float(gain.sum()) / n_pos
    total = float(gain[at_cut[1:]].sum())
    cuts, g, c = ranked.cuts, ranked.majority_counts, ranked.minority_counts
    ties = ranked.gap_positive_ties
    if ties is not None:
        # A positive score v strictly between cuts: positives >= v and negatives >= v.
        gap = np.searchsorted(cuts, ties.values)
        positives_at_cuts_from = np.concatenate([np.cumsum(g[1::2][::-1])[::-1], [0]])
        negatives_from = np.concatenate([np.cumsum(c[::-1])[::-1], [0]])
        tp_v = positives_at_cuts_from[gap] + np.cumsum(ties.counts[::-1])[::-1]
        fp_v = negatives_from[gap]
        return (total + float(ties.counts @ (tp_v / (tp_v + fp_v)))) / n_pos
    warnings.warn(
        "average precision assumes that no two positive scores tie strictly between the same two "
        "negative scores: positives are the larger class and too many distinct positive scores lie "
        "between negative ones to carry them (exact for continuous scores).",
        UserWarning,
        stacklevel=3,
    )
    # sum_{r=1..m} (tp0 + r) / (tp0 + fp0 + r) = m - fp0 * (digamma(a + m + 1) - digamma(a + 1)), a = tp0 + fp0
    in_gap = ~at_cut[1:] & (np.diff(tp) > 0)
    m, tp0, fp0 = np.diff(tp)[in_gap], tp[:-1][in_gap], fp[:-1][in_gap]
    a = (tp0 + fp0).astype(np.float64)
    sums = m - fp0 * (digamma(a + m + 1) - digamma(a + 1))
    return (total + float(sums.sum())) / n_pos


def _thin(n_points: int, max_points: int) -> np.ndarray:
    """Indices of at most ``max_points`` of ``n_points`` points, evenly spread, both ends kept."""
    if n_points <= max_points:
        return np.arange(n_points)
    return np.unique(np.round(np.linspace(0, n_points - 1, max_points)).astype(np.int64))


def _deciles(ranked: RankedScores) -> list[dict]:
    n, n_pos = ranked.n_rows, ranked.n_positives
    rate = n_pos / n
    cum_rows = np.cumsum(ranked.bin_rows)
    cum_pos = np.cumsum(ranked.bin_positives)
    table = []
    for b in range(ranked.n_bins):
        rows, positives = int(ranked.bin_rows[b]), int(ranked.bin_positives[b])
        positive_rate = positives / rows if rows else None
        table.append(
            {
                "bin": b + 1,
                "rows": rows,
                "positives": positives,
                "min_score": float(ranked.bin_min[b]) if rows else None,
                "max_score": float(ranked.bin_max[b]) if rows else None,
                "mean_score": float(ranked.bin_score_sum[b]) / rows if rows else None,
                "positive_rate": positive_rate,
                "cumulative_share": int(cum_rows[b]) / n,
                "cumulative_gain": int(cum_pos[b]) / n_pos,
                "lift": positive_rate / rate if rows else None,
                "cumulative_lift": (int(cum_pos[b]) / int(cum_rows[b])) / rate,
            }
        )
    return table


def _ranked_scores_of(source, *, n_bins: int | None, contact_shares=()) -> RankedScores:
    if isinstance(source, RankedScores):
        if n_bins is not None and n_bins != source.n_bins:
            raise InputError(
                f"n_bins={n_bins!r} differs from the n_bins={source.n_bins} this RankedScores was computed "
                f"with; call rank_scores(engine, n_bins={n_bins!r}) or leave n_bins unset."
            )
        return source
    if not callable(getattr(source, "map_reduce", None)):
        raise InputError(
            f"expected an engine (LocalEngine, DaskEngine) or a RankedScores; got {type(source).__name__}."
        )
    return rank_scores(source, n_bins=10 if n_bins is None else n_bins, contact_shares=contact_shares)


def validation_metrics(source, *, max_curve_points: int = 1000, n_bins: int | None = None) -> dict:
    """Exact, unweighted validation metrics of scored rows, as a JSON-ready dict.

    Parameters
    ----------
    source : LocalEngine, DaskEngine or RankedScores
        Blocks ``(score, y)`` (see :func:`rank_scores`), or their ranked.
    max_curve_points : int
        At most this many points per curve; vertices are dropped evenly, the
        two ends kept, none invented.
    n_bins : int, optional
        Score bins of the gains table: 10 for an engine, the ranked's own for a ranked.

    Returns
    -------
    dict
        ``n_rows``, ``n_positives``; ``auc`` (ties count 1/2); ``auc_se`` and
        ``auc_ci`` (DeLong et al. 1988, ``auc +/- 1.959964 se`` clipped to
        [0, 1]; None with fewer than two rows of a class); ``log_loss`` (mean,
        probabilities clipped to [eps, 1 - eps]); ``brier`` (mean squared
        error); ``average_precision`` (scikit-learn's step sum);
        ``roc`` ``{"fpr", "tpr", "threshold"}``: the corners of the ROC curve,
        threshold descending; ``pr`` ``{"recall", "precision", "threshold"}``:
        the precision-recall points at every cut-off between minority scores,
        threshold descending; ``deciles``: a gains and calibration table (see
        below). A row is predicted positive when ``score >= threshold``; the
        first ROC point's threshold, the next float above the highest score,
        predicts none.

        ``deciles`` holds ``n_bins`` dicts, bin 1 the highest scores:
        ``bin``, ``rows``, ``positives``, ``min_score``, ``max_score``,
        ``mean_score``, ``positive_rate`` (compare with ``mean_score`` for
        calibration), ``cumulative_share`` (of rows), ``cumulative_gain`` (of
        positives), ``lift`` and ``cumulative_lift`` (against the overall
        positive rate). Bin ``b`` holds ``edge_b <= score < edge_{b-1}`` where
        ``edge_b`` is the exact score of the row ranked ``ceil(b * n_rows /
        n_bins)`` from the top: rows tied at an edge all go to the higher bin,
        so a bin may hold more than its share and a later one fewer (or none,
        its score fields then None).

        ``calibration``: the logistic fit ``y ~ a + b * logit(score)`` (Cox
        1958, as R's ``rms::val.prob``): ``intercept`` ``a``, ``slope`` ``b``,
        ``intercept_se``, ``slope_se`` and ``slope_ci`` (95 %); a slope above
        1 means the scores are too close to the base rate, below 1 too
        extreme. None when the fit does not converge (scores that separate the
        labels).
    """
    max_curve_points = _check_int("max_curve_points", max_curve_points, 2)
    ranked = _ranked_scores_of(source, n_bins=n_bins)
    n, n_pos, n_neg = ranked.n_rows, ranked.n_positives, ranked.n_negatives
    threshold, tp, fp, at_cut = _steps(ranked)
    auc, se = _auc_delong(ranked)

    cross = np.diff(fp)[:-1] * np.diff(tp)[1:] - np.diff(tp)[:-1] * np.diff(fp)[1:]
    corners = np.flatnonzero(np.concatenate([[True], cross != 0, [True]]))
    corners = corners[_thin(len(corners), max_curve_points)]
    points = np.arange(1, len(tp))[_thin(len(tp) - 1, max_curve_points)]
    return {
        "n_rows": n,
        "n_positives": n_pos,
        "auc": auc,
        "auc_se": se,
        "auc_ci": None if se is None else [max(0.0, auc - Z_95 * se), min(1.0, auc + Z_95 * se)],
        "log_loss": ranked.log_loss_sum / n,
        "brier": ranked.brier_sum / n,
        "average_precision": _average_precision(ranked, tp, fp, at_cut),
        "roc": {
            "fpr": (fp[corners] / n_neg).tolist(),
            "tpr": (tp[corners] / n_pos).tolist(),
            "threshold": threshold[corners].tolist(),
        },
        "pr": {
            "recall": (tp[points] / n_pos).tolist(),
            "precision": (tp[points] / (tp[points] + fp[points])).tolist(),
            "threshold": threshold[points].tolist(),
        },
        "deciles": _deciles(ranked),
        "calibration": ranked.calibration,
    }


def _score_at_rank(ranked: RankedScores, rank: int, share: float, threshold, tp, fp, at_cut) -> tuple[float, int]:
    """The score of the row ranked ``rank`` from the top and the number of rows at or above it."""
    if rank in ranked.order_statistics:
        return ranked.order_statistics[rank]
    n_cum = tp + fp
    s = int(np.searchsorted(n_cum, rank))
    if at_cut[s] or n_cum[s] == rank:
        return float(threshold[s]), int(n_cum[s])
    raise InputError(
        f"contact_share={share!r} needs the score ranked {rank} of {ranked.n_rows}, which this RankedScores "
        f"does not hold; pass the engine instead, or compute rank_scores(engine, contact_shares=[{share!r}])."
    )


def _counts_at(ranked: RankedScores, value: float, n_at_or_above: int) -> tuple[int, int]:
    """``(tp, fp)`` when rows with ``score >= value`` are predicted positive."""
    k = len(ranked.cuts)
    maj = ranked.majority_counts
    mino = np.zeros(2 * k + 1, dtype=np.int64)
    mino[1::2] = ranked.minority_counts
    i = int(np.searchsorted(ranked.cuts, value, side="left") + np.searchsorted(ranked.cuts, value, side="right"))
    maj_ge, min_ge = int(maj[i + 1 :].sum()), int(mino[i + 1 :].sum())
    if i % 2:  # value is a cut: the whole interval is in
        maj_ge, min_ge = maj_ge + int(maj[i]), min_ge + int(mino[i])
    else:  # value lies in an open interval, which holds larger-class rows only
        maj_ge = n_at_or_above - min_ge
    return (min_ge, maj_ge) if ranked.minority_label == 1 else (maj_ge, min_ge)


def _check_cost(name: str, value) -> float:
    number = not isinstance(value, bool) and isinstance(value, (int, float, np.number))
    if not number or not math.isfinite(value) or value < 0:
        raise InputError(f"{name} must be a finite number >= 0; got {value!r}.")
    return float(value)


def score_text(score: float, digits: int = 4) -> str:
    """A score (a probability) to ``digits`` significant digits, or as many more as it takes not to read as 0 or 1
    when it is neither: a threshold of 0.99996 (just above a separated model's best validation score) reads
    0.99996, not 1."""
    for places in range(digits, 18):
        text = f"{score:.{places}g}"
        if float(text) not in (0.0, 1.0) or score in (0.0, 1.0):
            return text
    return repr(score)


def choose_threshold(source, *, cost_fp=None, cost_fn=None, contact_share=None) -> dict:
    """The score threshold that minimizes a cost, or that contacts a given share of rows.

    A row is predicted positive when ``score >= threshold``. Give either both
    costs or ``contact_share``:

    - ``cost_fp`` and ``cost_fn`` (>= 0, not both 0): the threshold that
      minimizes ``cost_fp * FP + cost_fn * FN`` over every possible cut-off
      (the highest one on a tie); the next float above the highest score when
      contacting nobody is cheapest.
    - ``contact_share`` in (0, 1]: the highest threshold whose share of rows
      predicted positive is at least ``contact_share`` (ties at the threshold
      can make the share larger).

    Parameters
    ----------
    source : LocalEngine, DaskEngine or RankedScores
        With ranked scores no pass is made; a contact share then needs its score
        held by them (any multiple of ``1 / n_bins`` is, or see
        ``rank_scores(contact_shares=...)``).

    Returns
    -------
    dict
        ``threshold``, ``tp``, ``fp``, ``tn``, ``fn``, ``precision`` (None if
        nobody is contacted), ``recall``, ``share_contacted``,
        ``expected_cost`` (total) and ``cost_per_row`` (None without costs),
        ``cost_fp``, ``cost_fn``, and ``contacts_nobody`` (True when the
        cheapest policy at these costs is to contact no row: no score is high
        enough for a contact to pay).
    """
    by_cost = cost_fp is not None or cost_fn is not None
    if (cost_fp is None) != (cost_fn is None) or by_cost == (contact_share is not None):
        raise InputError(
            "choose_threshold needs either both cost_fp and cost_fn, or contact_share alone; got "
            f"cost_fp={cost_fp!r}, cost_fn={cost_fn!r}, contact_share={contact_share!r}."
        )
    if by_cost:
        cost_fp, cost_fn = _check_cost("cost_fp", cost_fp), _check_cost("cost_fn", cost_fn)
        if cost_fp == 0 and cost_fn == 0:
            raise InputError("cost_fp and cost_fn are both 0; at least one must be positive.")
        ranked = _ranked_scores_of(source, n_bins=None)
    else:
        contact_share = _check_share(contact_share)
        ranked = _ranked_scores_of(source, n_bins=None, contact_shares=(contact_share,))
    n, n_pos, n_neg = ranked.n_rows, ranked.n_positives, ranked.n_negatives
    threshold, tp, fp, at_cut = _steps(ranked)
    if by_cost:
        i = int(np.argmin(cost_fp * fp + cost_fn * (n_pos - tp)))  # first minimum: the highest threshold
        value, n_tp, n_fp = float(threshold[i]), int(tp[i]), int(fp[i])
    else:
        rank = _share_rank(contact_share, n)
        value, n_at_or_above = _score_at_rank(ranked, rank, contact_share, threshold, tp, fp, at_cut)
        n_tp, n_fp = _counts_at(ranked, value, n_at_or_above)
    n_fn = n_pos - n_tp
    cost = cost_fp * n_fp + cost_fn * n_fn if by_cost else None
    return {
        "threshold": value,
        "tp": n_tp,
        "fp": n_fp,
        "tn": n_neg - n_fp,
        "fn": n_fn,
        "precision": n_tp / (n_tp + n_fp) if n_tp + n_fp else None,
        "recall": n_tp / n_pos,
        "share_contacted": (n_tp + n_fp) / n,
        "expected_cost": cost,
        "cost_per_row": None if cost is None else cost / n,
        "cost_fp": cost_fp,
        "cost_fn": cost_fn,
        "contacts_nobody": n_tp + n_fp == 0,
    }
