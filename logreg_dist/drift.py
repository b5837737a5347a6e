"""Distributions of the inputs and the score, and the population stability index (PSI) between two of them.

A :class:`Profile` holds, for each raw input column, row counts in fixed bins
(numeric: between edges taken from the training data, plus a bin for missing;
categorical: per training level, plus one for levels never seen in training)
and the same for the score. Profiles of partitions add up, so the training
flow stores the training profile in the model and each rescoring run counts
its own in the same pass that writes the scores.

``PSI = sum_b (a_b - e_b) * ln(a_b / e_b)`` over bins ``b`` with the
training shares ``e`` and the new shares ``a``, each share floored at
``1e-4`` so an empty bin does not make it infinite. Above 0.2 is the usual
flag for a population that has moved.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ._loops import add_bin_counts
from .design import level_codes
from .prepare import MISSING_LEVEL, CategoricalColumn, NumericColumn, Preparation

__all__ = ["PSI_FLAG", "Profile", "chance_psi", "profile_partition", "psi"]

PSI_FLAG = 0.2
#: Samples drawn to find the PSI that chance alone reaches at a given number of rows (:func:`chance_psi`).
CHANCE_DRAWS = 400
#: The share of those samples' PSIs a flagged PSI must exceed.
CHANCE_QUANTILE = 0.99
SHARE_FLOOR = 1e-4
UNSEEN = "(unseen)"
SCORE = "(score)"


@dataclass
class Profile:
    """Row counts per bin, per column (and for the score); adds across partitions."""

    counts: dict[str, np.ndarray] = field(default_factory=dict)
    #: Per text column with no missing level in training: its missing values, which count among the unseen (they
    #: score as the reference level too) but are told apart from new levels.
    missing: dict[str, int] = field(default_factory=dict)

    def __add__(self, other: Profile) -> Profile:
        names = [*self.counts, *(n for n in other.counts if n not in self.counts)]  # in order: model.json keeps it
        missing = {n: self.missing.get(n, 0) + other.missing.get(n, 0) for n in {**self.missing, **other.missing}}
        return Profile({n: self.counts.get(n, 0) + other.counts.get(n, 0) for n in names}, missing)

    def shares(self, name: str) -> np.ndarray:
        counts = np.asarray(self.counts[name], dtype=float)
        return counts / counts.sum() if counts.sum() else counts

    def to_dict(self, edges: dict) -> dict:
        return {"edges": edges, "counts": {n: np.asarray(c).astype(int).tolist() for n, c in self.counts.items()}}


def bin_labels(preparation: Preparation, edges: dict) -> dict[str, list[str]]:
    """What each bin of each column is, for reports."""
    labels = {}
    for column in preparation.columns:
        if isinstance(column, NumericColumn):
            cuts = list(edges[column.name])
            if not cuts:  # one bin (a column with one value, or none): what _binned counts in it and the gaps
                labels[column.name] = ["all", MISSING_LEVEL]
                continue
            labels[column.name] = [f"< {cuts[0]:.4g}"] + [f"[{a:.4g}, {b:.4g})" for a, b in zip(cuts, cuts[1:])] + [
                f">= {cuts[-1]:.4g}", MISSING_LEVEL]
        else:
            labels[column.name] = [*_levels(column), UNSEEN]
    return labels


def _levels(column: CategoricalColumn) -> list[str]:
    return [column.reference, *column.levels]


def profile_partition(part: pd.DataFrame, score: np.ndarray | None, *, preparation: Preparation, edges: dict) -> Profile:
    """Counts per bin of the raw inputs of ``part`` and of its ``score`` (a block kernel; the inputs alone without
    ``score``)."""
    counts, missing = {}, {}
    for column in preparation.columns:
        values = part[column.name]
        if isinstance(column, NumericColumn):
            counts[column.name] = _binned(values, edges[column.name])
        else:
            counts[column.name] = np.bincount(level_codes(values, column), minlength=len(column.levels) + 2)
            if MISSING_LEVEL not in _levels(column):
                missing[column.name] = int(values.isna().sum())
    if score is not None:
        counts[SCORE] = score_counts(score, edges[SCORE])
    return Profile(counts, missing)


def score_counts(score: np.ndarray, cuts) -> np.ndarray:
    """Scores per bin of ``cuts``: below the first, between consecutive ones (a score at a cut in the bin above it),
    at or above the last."""
    cuts = np.asarray(cuts, dtype=float)
    return np.bincount(np.searchsorted(cuts, score, side="right"), minlength=cuts.size + 1)


def _binned(values: pd.Series, cuts) -> np.ndarray:
    """Rows below ``cuts[0]``, in ``[cuts[b - 1], cuts[b])``, at or above ``cuts[-1]``, then missing.

    One compiled pass over the column as it is (each value compared in float64, as NumPy compares a float32 or
    integer column with a float64 cut): a comparison per cut with NumPy read the column once per cut.
    """
    x = values.to_numpy() if isinstance(values.dtype, np.dtype) else values.to_numpy(dtype=np.float64, na_value=np.nan)
    cuts = np.asarray(cuts, dtype=np.float64)
    counts = np.zeros(cuts.size + 2, dtype=np.int64)
    add_bin_counts(x, cuts, counts)
    return counts


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """Population stability index between two vectors of shares over the same bins."""
    e = np.maximum(np.asarray(expected, dtype=float), SHARE_FLOOR)
    a = np.maximum(np.asarray(actual, dtype=float), SHARE_FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


def chance_psi(expected: np.ndarray, rows: int) -> float:
    """The PSI that ``rows`` rows drawn from the training shares ``expected`` reach by chance alone: the
    :data:`CHANCE_QUANTILE` of :data:`CHANCE_DRAWS` such samples' PSIs (a fixed seed: the same answer every run).

    A PSI is flagged only above it as well as above :data:`PSI_FLAG`: 40 rows drawn from the training data itself
    leave some of ten deciles empty, and the floor on an empty bin's share makes a PSI of 0.8 or more from one."""
    expected = np.asarray(expected, dtype=float)
    draws = np.random.default_rng(0).multinomial(rows, expected / expected.sum(), size=CHANCE_DRAWS) / max(rows, 1)
    return float(np.quantile([psi(expected, draw) for draw in draws], CHANCE_QUANTILE))


def score_decile(score: np.ndarray, edges) -> np.ndarray:
    """Decile of each score against the training score edges: 1 for the highest tenth, 10 for the lowest."""
    cuts = np.asarray(edges, dtype=float)
    return (cuts.size + 1 - np.searchsorted(cuts, score, side="right")).astype(np.int8)
