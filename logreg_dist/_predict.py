"""Row functions of a fitted model that Dask maps over blocks of X on the workers.

Kept apart from the estimator, which imports scikit-learn: a worker that
unpickles these imports NumPy and SciPy only, not scikit-learn (about 1.3 s
per worker process here).
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit


def decision(X, coef, intercept):
    """``intercept + X @ coef`` for each row, in float64."""
    return np.asarray(X, dtype=np.float64) @ coef + intercept


def proba(X, coef, intercept):
    """Probabilities of the two classes, ``(n_rows, 2)``."""
    prob = expit(decision(X, coef, intercept))
    return np.column_stack([1.0 - prob, prob])


def log_proba(X, coef, intercept):
    """Log-probabilities of the two classes without underflow, ``(n_rows, 2)``."""
    eta = decision(X, coef, intercept)
    return np.column_stack([-np.logaddexp(0.0, eta), -np.logaddexp(0.0, -eta)])


def pick(eta, classes):
    """``classes[1]`` where ``eta > 0``, else ``classes[0]``."""
    return classes[(eta > 0).astype(int)]
