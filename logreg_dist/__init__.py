"""logreg-dist: exact, distributed logistic regression for marketing analytics.

The layers, each ignorant of the one above: block kernels (:mod:`._kernels`:
NumPy, SciPy and column loops compiled with numba, :mod:`._loops`; no Dask) → engines that map and reduce over partitions (:mod:`._engine`)
→ the objective and solvers that see only reduced sums (:mod:`._objective`,
:mod:`._solvers`) → the estimator (:class:`LogisticRegression`) → Prefect
flows (``flows/``) that only orchestrate.
"""

import importlib

from .exceptions import CollinearityWarning, ConstantColumnWarning, InputError, LogregDistError, SeparationWarning

__version__ = "0.1.0"

#: Imported on first use: Dask workers unpickling a kernel import this package, and need not import
#: scikit-learn (behind the estimator).
_LAZY = {
    "LogisticRegression": "._estimator",
    "ConvergenceWarning": ".exceptions",
    "connect": ".cluster",
    "local_cluster": ".cluster",
}


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))

__all__ = [
    "CollinearityWarning",
    "ConstantColumnWarning",
    "ConvergenceWarning",
    "InputError",
    "LogisticRegression",
    "LogregDistError",
    "SeparationWarning",
    "__version__",
    "connect",
    "local_cluster",
]
