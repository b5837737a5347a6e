"""logreg-dist: exact, distributed logistic regression for marketing analytics.

The layers, each ignorant of the one above: block kernels (:mod:`._kernels`,
NumPy only) → engines that map and reduce over partitions (:mod:`._engine`)
→ the objective and solvers that see only reduced sums (:mod:`._objective`,
:mod:`._solvers`) → the estimator (:class:`LogisticRegression`) → Prefect
flows (``flows/``) that only orchestrate.
"""

from ._estimator import LogisticRegression
from .cluster import connect, local_cluster
from .exceptions import (
    CollinearityWarning,
    ConstantColumnWarning,
    ConvergenceWarning,
    InputError,
    LogregDistError,
)

__version__ = "0.1.0"

__all__ = [
    "CollinearityWarning",
    "ConstantColumnWarning",
    "ConvergenceWarning",
    "InputError",
    "LogisticRegression",
    "LogregDistError",
    "__version__",
    "connect",
    "local_cluster",
]
