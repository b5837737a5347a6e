"""Errors and warnings that logreg-dist raises.

::

    Exception
     └── LogregDistError
          └── InputError (also a ValueError): data that cannot be fitted or
              scored as given; the message names the column, partition or
              file and what was expected.
    UserWarning
     ├── ConvergenceWarning: the solver stopped before its tolerance was met.
     ├── CollinearityWarning: the Hessian was singular or nearly so; names the
     │   columns involved and what was done.
     ├── ConstantColumnWarning: columns with zero variance; their coefficient is 0.
     ├── DuplicateIdsWarning: data to score held an id on several rows; each was scored.
     ├── EmptyDataWarning: data to score had no rows; the output holds none.
     ├── IdColumnWarning: a whole-number feature distinct on every training row, as an id is.
     └── SeparationWarning: with l2 = 0, features that separate the classes; their
         coefficients are unbounded and their standard errors not meaningful.

The warnings are subclasses of scikit-learn's ``ConvergenceWarning`` where
that applies, so filters written for scikit-learn catch ours too.
"""

__all__ = [
    "CollinearityWarning",
    "ConstantColumnWarning",
    "ConvergenceWarning",
    "DuplicateIdsWarning",
    "EmptyDataWarning",
    "IdColumnWarning",
    "InputError",
    "LogregDistError",
    "MissingValuesWarning",
    "SeparationWarning",
    "SingularHessianError",
]


class LogregDistError(Exception):
    """Base class of the errors raised by logreg-dist."""


class InputError(LogregDistError, ValueError):
    """Input data that cannot be used as given (message says what, where and what was expected)."""


class SingularHessianError(InputError):
    """The Hessian is singular and too large for a minimum-norm step: collinear columns, or rare levels whose rows
    all have one label (their coefficients have no finite optimum without a penalty)."""


class CollinearityWarning(UserWarning):
    """The Hessian was singular: some columns are collinear (or constant)."""


def column_groups(groups) -> str:
    """Groups of column names as a warning shows them: ``['a', 'b']`` for one, ``['a', 'b']; ['c', 'd']`` for two
    (a list of lists reads as Python, not as the columns a user should drop)."""
    return "; ".join(str([str(name) for name in group]) for group in groups)


class ConstantColumnWarning(UserWarning):
    """Some feature columns have zero variance in training; their coefficients are fixed at 0."""


class DuplicateIdsWarning(UserWarning):
    """Data to score held an id on more than one row: every row was scored, so the output holds it more than once."""


class IdColumnWarning(UserWarning):
    """A numeric feature holds a different whole number on every training row, as an id does: it is fitted as a
    number all the same (a customer number, a phone number), where it most likely means nothing."""


class EmptyDataWarning(UserWarning):
    """Data to score had no rows: the output holds none (an empty extract is more often a mistake than news)."""


class MissingValuesWarning(UserWarning):
    """Scored rows had gaps in columns that had none in training: they were scored with the training mean."""


class SeparationWarning(UserWarning):
    """Unpenalized fit whose classes some features separate: their maximum-likelihood coefficients are infinite."""


def __getattr__(name: str):
    # ConvergenceWarning subclasses scikit-learn's, whose import is slow (bench/README.md): it is made on
    # first use, so Dask workers (which import this module for InputError) never pay for it.
    if name == "ConvergenceWarning":
        from sklearn.exceptions import ConvergenceWarning as _SklearnConvergenceWarning

        class ConvergenceWarning(_SklearnConvergenceWarning):
            """The solver reached ``max_iter`` (or could not make progress) before meeting ``tol``."""

        ConvergenceWarning.__module__ = __name__
        ConvergenceWarning.__qualname__ = "ConvergenceWarning"
        globals()["ConvergenceWarning"] = ConvergenceWarning
        return ConvergenceWarning
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
