"""Separation: with ``l2 = 0``, features that split the classes, found from what the fit already holds.

When a feature (or a combination) separates the positive rows from the
negative ones, completely or for a subset of rows (quasi-complete), the
maximum-likelihood coefficient is infinite: Newton keeps raising it until the
gradient is below ``tol`` and reports convergence, with a large coefficient
and a standard error larger still. statsmodels reports the complete case from
the fitted probabilities ("Perfect separation or prediction detected"); here
the mean log-loss says the same without another pass over the rows, and the
quasi-complete case is read off each coefficient: a change of the linear
predictor across the feature's values so large that the probabilities it
implies saturate, with a Wald z below 2 (its standard error has grown faster
than the coefficient, which never happens to a strong, identified effect).
"""

from __future__ import annotations

import numpy as np

__all__ = ["PERFECT_LOSS", "SEPARATION_MARGIN", "find_separation", "rules_text"]

#: A mean log-loss below this says every row is predicted (all but) perfectly.
PERFECT_LOSS = 1e-6
#: A coefficient that moves the linear predictor by more than this across a feature's typical values (an odds
#: ratio of e**15, 3 million) is the signature of separation, not of an effect seen in marketing data.
SEPARATION_MARGIN = 15.0
#: How many standard deviations a continuous feature's values typically span on each side of the mean.
TYPICAL_SPREAD = 3.0
#: Rules named in a message; a column of thousands of levels can separate on most of them, and the full list is
#: in model.json, so a message names the strongest few and counts the rest.
RULES_SHOWN = 5


def rules_text(separation: dict) -> str:
    """The separation's strongest rules as one sentence fragment, the rest counted."""
    rules = separation["rules"]
    text = "; ".join(rules[:RULES_SHOWN])
    if len(rules) > RULES_SHOWN:
        text += f"; and {len(rules) - RULES_SHOWN:,} more features (model.json 'separation')"
    return text


def find_separation(
    *, names: list[str], coef: np.ndarray, std_errors: np.ndarray, mean: np.ndarray, scale: np.ndarray,
    active: np.ndarray, intercept_standardized: float, loss: float,
) -> dict | None:
    """The separating features of an unpenalized fit, or None.

    Parameters
    ----------
    names : the encoded feature names, length n_features.
    coef, std_errors : coefficients and standard errors on the original scale, shape (n_features,).
    mean, scale : each feature's weighted mean and standard deviation, shape (n_features,).
    active : False for constant features, shape (n_features,).
    intercept_standardized : the linear predictor at the feature means.
    loss : the mean log-loss at the fit.

    Returns
    -------
    ``{"features": [...], "perfect_prediction": bool, "rules": [...]}``: the features by the rows they decide,
    most first (continuous ones first), and per feature the side that predicts one class, as a sentence.
    """
    binary = (mean > 0) & (mean < 1) & np.isclose(scale**2, mean * (1 - mean), rtol=1e-9, atol=0.0)
    # How far the linear predictor moves from the mean to a typical extreme row: for a 0/1 column, to its rarer value.
    reach = np.where(binary, np.maximum(mean, 1 - mean), TYPICAL_SPREAD * scale)
    margin = np.where(active, np.abs(coef) * reach, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.abs(coef / std_errors)
    flagged = (margin > SEPARATION_MARGIN) & ~(z >= 2.0)  # z NaN (no standard error) counts as small
    # A feature separates only if the fitted model says so with the others at their means: the rows of a 0/1
    # column holding 1 (or 0) are predicted with certainty, a continuous column's linear predictor crosses 0 among
    # its values. A large coefficient that fails this only follows another feature's separation.
    eta_one = intercept_standardized + coef * (1 - mean)
    eta_zero = intercept_standardized - coef * mean
    one_pure = (np.abs(eta_one) > SEPARATION_MARGIN / 2) & (np.sign(eta_one) == np.sign(coef))
    zero_pure = (np.abs(eta_zero) > SEPARATION_MARGIN / 2) & (np.sign(eta_zero) == -np.sign(coef))
    within = np.abs(intercept_standardized) <= TYPICAL_SPREAD * scale * np.abs(coef)
    flagged &= np.where(binary, one_pure | zero_pure, within)
    perfect = bool(loss < PERFECT_LOSS)
    if perfect and not flagged.any():  # a combination of features separates, no one of them alone
        features = [names[j] for j in np.flatnonzero(active)]
        return {"features": features, "perfect_prediction": True, "rules": ["the features together predict every row"]}
    if not flagged.any():
        return None
    # The features by the rows they decide, most first: a 0/1 column by the share of rows at its predicting value
    # (a level of 110 rows hid behind 1-row levels of larger coefficients); a continuous one, which decides a range
    # of its values, before them. Ties by margin.
    share = np.where(one_pure, mean, 1.0 - mean)
    order = sorted(np.flatnonzero(flagged), key=lambda j: (-(2.0 if not binary[j] else share[j]), -margin[j]))
    rules = []
    for j in order:
        if binary[j]:
            value, sign = (1, coef[j]) if one_pure[j] else (0, -coef[j])
            rules.append(f"{names[j]!r} = {value} predicts the {'positive' if sign > 0 else 'negative'} class")
        else:  # where the fitted linear predictor crosses 0, the other features at their means
            cut = mean[j] - intercept_standardized / coef[j]
            side = "above" if coef[j] > 0 else "below"
            rules.append(f"{names[j]!r} {side} {cut:.4g} predicts the positive class (other features at their means)")
    features = [names[j] for j in order]
    return {"features": features, "perfect_prediction": perfect, "rules": rules}
