"""The estimator: scikit-learn's interface over the engine, the objective and the solvers."""

from __future__ import annotations

import logging
import numbers
import warnings

import numpy as np
from scipy import linalg
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_is_fitted, validate_data

from ._checkpoint import _Checkpoint, _fingerprint
from ._data import dask_input, dask_inputs, encode_target, is_dask_collection, labels_seen, load_block
from ._engine import DaskEngine, LocalEngine
from ._enet import kkt_gap, owlqn, prox_newton
from ._kernels import moment_sums
from ._objective import DENSE_HESSIAN_MAX_FEATURES, Objective, intercept_only
from ._predict import decision, frame_rows, log_proba, pick, proba, scored_block, scored_frame_block, scored_loaded_block
from ._schur import SchurHessian
from ._path import (
    RIDGE_SPAN_RATIO, alpha_grid, fold_path_scores, hashed_folds, path_scores, run_folds, run_path,
)
from ._solvers import SOLVERS, SolverResult, Start
from .cluster import resolve_client
from ._separation import find_separation
from .exceptions import CollinearityWarning, ConstantColumnWarning, ConvergenceWarning, InputError, SeparationWarning

__all__ = ["LogisticRegression"]

logger = logging.getLogger("logreg_dist")

#: ``solver="auto"`` takes Newton up to this many features (a p x p Hessian per partition), L-BFGS above.
AUTO_NEWTON_MAX_FEATURES = 500
#: With categorical columns held as codes, ``auto`` takes Newton while at most this many features remain dense
#: once the largest column's levels (a diagonal block) are eliminated, and the numeric ones are within
#: :data:`AUTO_NEWTON_MAX_FEATURES`: a level costs a sum by code per row, not a column of the per-row Gram.
AUTO_NEWTON_MAX_DENSE = 2000

#: Newton's sampled Hessians sum about this many rows (every k-th chunk of each partition); smaller data use all rows.
HESSIAN_SAMPLE_ROWS = 200_000


class LogisticRegression(ClassifierMixin, BaseEstimator):
    r"""Binary logistic regression with an L2 penalty, fitted exactly on a Dask cluster or in memory.

    The fitted problem. Each feature is standardized with its (weighted) mean
    :math:`m_j` and population standard deviation :math:`s_j`, computed in one
    pass: :math:`z_{ij} = (x_{ij} - m_j) / s_j`. The coefficients
    :math:`\beta` (standardized scale) and intercept :math:`\beta_0` minimize

    .. math::

        f(\beta_0, \beta) = \frac{\sum_i w_i \, \ell(y_i, \beta_0 + z_i^\top \beta)}{\sum_i w_i}
                            + \frac{l_2}{2} \lVert \beta \rVert_2^2,
        \qquad \ell(y, \eta) = \log(1 + e^{\eta}) - y \eta,

    with sample weights :math:`w_i` (1 by default). The intercept is never
    penalized. This is glum's ``alpha``, Spark MLlib's ``regParam`` with
    ``standardization=True``, and scikit-learn's ``C = 1 / (l2 * n_samples)``
    fitted on standardized features. ``coef_`` and ``intercept_`` are on the
    original scale (:math:`\beta_j / s_j`); the standardized ones are
    ``coef_standardized_`` and ``intercept_standardized_``. Columns with zero
    variance get a coefficient of 0 and a :class:`ConstantColumnWarning`.

    Parameters
    ----------
    l2 : float, default=0.0
        Strength of the penalty on the standardized coefficients, >= 0.
    solver : {"auto", "newton", "lbfgs"}, default="auto"
        ``"newton"``: one pass over the data per iteration returns loss,
        gradient and Hessian sums; Cholesky solve and a line search.
        ``"lbfgs"``: limited-memory BFGS on the driver with a Wolfe line
        search, one pass per loss-and-gradient evaluation, for many features
        (our own: SciPy's L-BFGS-B stalls near 1e-10 on the gradient, short of
        the default ``tol``). ``"auto"``: Newton up to 500
        features, L-BFGS above; with categorical columns held as codes
        (``fit_loaded(levels=...)``), Newton while at most 2,000 features
        remain dense once the largest column's levels are eliminated; the
        choice is logged and kept in ``solver_``.
    tol : float, default=1e-12
        Converged when the largest absolute entry of the gradient of ``f``
        (standardized scale) is at most ``tol``.
    max_iter : int, default=100
        Most iterations. Stopping short of ``tol`` warns with a
        :class:`ConvergenceWarning` and sets ``converged_ = False``.
    scheduler_address : str, optional
        Address of a Dask scheduler (``tcp://host:8786``) for Dask input. When
        neither this nor ``fit(client=...)`` is given, the current Dask client
        is used, or else an embedded LocalCluster for the duration of the fit.
    split_every : int, default=8
        Fan-in of the tree reduction on the cluster. Each worker thread first
        adds the sums of the partitions its worker holds; those per-thread
        sums are added ``split_every`` at a time.
    checkpoint : str, optional
        A JSON file where the coefficients and history are saved (atomically)
        after every iteration. A fit that finds a checkpoint of the same
        problem (same rows, features, ``l2`` and solver) resumes from its last
        iteration instead of starting over; the file is removed when the fit
        ends. ``resumed_from_`` says where it resumed.

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
        The labels; ``classes_[1]`` is the positive class.
    coef_ : ndarray of shape (1, n_features)
    intercept_ : ndarray of shape (1,)
    coef_standardized_ : ndarray of shape (1, n_features)
    intercept_standardized_ : ndarray of shape (1,)
    feature_mean_, feature_scale_ : ndarray of shape (n_features,)
        The standardization (scale is 1 where a column is constant).
    n_iter_ : int
    converged_ : bool
    history_ : list of dict
        Per iteration: ``iteration``, ``loss``, ``grad_max``, ``step_max``,
        ``step_size``, ``seconds``, ``passes`` (data passes so far; 0 at the
        start, whose values come from the standardization pass), ``hessian``
        and ``hessian_sampled`` (whether that pass computed a Hessian, and
        over a sample of the rows).
    solver_ : str
        The solver used.
    n_passes_ : int
        Passes over the data made by the fit, the standardization pass included.
    hessian_every_ : int
        Newton's sampled Hessians summed every ``hessian_every_``-th chunk of
        rows (1: every row; the fit aims at about 200,000 rows per sample).
    n_samples_fit_ : int
    covariance_ : ndarray of shape (n_features + 1, n_features + 1) or None
        None when the Hessian was held by structure (categorical columns of
        many levels: see :mod:`._schur`), else the
        covariance of ``(coef_, intercept_)`` (intercept last), the inverse of
        the Hessian of the summed objective at the optimum: the maximum
        likelihood covariance with ``l2 = 0``, approximate with ``l2 > 0``.
        NaN where undefined (constant columns; all of it if the Hessian is
        singular, e.g. collinear columns with ``l2 = 0``).
    std_errors_ : ndarray of shape (1, n_features)
    intercept_std_error_ : ndarray of shape (1,)
    validation_metrics_ : dict or None
        :meth:`evaluate` of ``fit(..., validation=(X_valid, y_valid))``; None without it.
    """

    def __init__(
        self,
        *,
        l2: float = 0.0,
        alpha: float | str | None = None,
        l1_ratio: float = 0.0,
        n_alphas: int = 20,
        min_alpha_ratio: float | None = None,
        n_folds: int | None = None,
        alpha_rule: str = "min",
        solver: str = "auto",
        tol: float = 1e-12,
        max_iter: int = 100,
        scheduler_address: str | None = None,
        split_every: int = 8,
        checkpoint: str | None = None,
    ):
        self.l2 = l2
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.n_alphas = n_alphas
        self.min_alpha_ratio = min_alpha_ratio
        self.n_folds = n_folds
        self.alpha_rule = alpha_rule
        self.solver = solver
        self.tol = tol
        self.max_iter = max_iter
        self.scheduler_address = scheduler_address
        self.split_every = split_every
        self.checkpoint = checkpoint

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags

    # -- parameters -------------------------------------------------------------------

    def _check_params(self) -> None:
        def fail(name, constraint):
            raise ValueError(
                f"The '{name}' parameter of LogisticRegression must be {constraint}. Got {getattr(self, name)!r} instead."
            )

        if not isinstance(self.l2, numbers.Real) or isinstance(self.l2, bool) or not 0 <= self.l2 < np.inf:
            fail("l2", "a float in the range [0.0, inf)")
        def real(value):
            return isinstance(value, numbers.Real) and not isinstance(value, bool)

        if not (self.alpha is None or self.alpha == "auto" or (real(self.alpha) and 0 <= self.alpha < np.inf)):
            fail("alpha", "a float in the range [0.0, inf), 'auto' or None")
        if not (real(self.l1_ratio) and 0 <= self.l1_ratio <= 1):
            fail("l1_ratio", "a float in the range [0.0, 1.0]")
        if self.alpha is not None and self.l2 != 0:
            raise ValueError(
                f"LogisticRegression takes the penalty as alpha (with l1_ratio) or as l2, not both; got "
                f"alpha={self.alpha!r} and l2={self.l2!r}."
            )
        if self.alpha is None and self.l1_ratio > 0:
            raise ValueError(
                f"l1_ratio={self.l1_ratio!r} needs alpha (a float, or 'auto' to choose it on held-out rows); "
                "l2 alone is the ridge penalty."
            )
        if not (isinstance(self.n_alphas, numbers.Integral) and not isinstance(self.n_alphas, bool)
                and self.n_alphas >= 2):
            fail("n_alphas", "an int in the range [2, inf)")
        if self.min_alpha_ratio is not None and not (real(self.min_alpha_ratio) and 0 < self.min_alpha_ratio < 1):
            fail("min_alpha_ratio", "a float in the range (0.0, 1.0) or None")
        if self.n_folds is not None and not (isinstance(self.n_folds, numbers.Integral)
                                             and not isinstance(self.n_folds, bool) and self.n_folds >= 2):
            fail("n_folds", "an int in the range [2, inf) or None (1 fold would leave no rows to fit on)")
        if self.n_folds is not None and self.alpha != "auto":
            raise ValueError(
                f"n_folds={self.n_folds!r} chooses the penalty on the path: it needs alpha='auto'; got alpha={self.alpha!r}."
            )
        if self.alpha_rule not in ("min", "1se"):
            fail("alpha_rule", "a str among {'min', '1se'}")
        if self.solver not in ("auto", *SOLVERS):
            fail("solver", "a str among {'auto', 'newton', 'lbfgs'}")
        if not isinstance(self.tol, numbers.Real) or isinstance(self.tol, bool) or not 0 < self.tol < np.inf:
            fail("tol", "a float in the range (0.0, inf)")
        if not isinstance(self.max_iter, numbers.Integral) or isinstance(self.max_iter, bool) or self.max_iter < 1:
            fail("max_iter", "an int in the range [1, inf)")
        if not isinstance(self.split_every, numbers.Integral) or self.split_every < 2:
            fail("split_every", "an int in the range [2, inf)")
        if self.scheduler_address is not None and not isinstance(self.scheduler_address, str):
            fail("scheduler_address", "a str such as 'tcp://host:8786' or None")

    # -- fit --------------------------------------------------------------------------

    def fit(self, X, y, sample_weight=None, *, client=None, callback=None, validation=None):
        """Fit on in-memory data (NumPy, pandas) or on a Dask DataFrame/Array.

        Parameters
        ----------
        X : array-like or Dask DataFrame/Array of shape (n_samples, n_features)
            Numeric features. Dask input is persisted on the cluster's workers
            once and never collected to this process.
        y : array-like or Dask Series/Array of shape (n_samples,)
            Two distinct labels; for Dask input partitioned like ``X``.
        sample_weight : array-like or Dask Series/Array of shape (n_samples,), optional
            Non-negative weights.
        client : distributed.Client, optional
            The cluster to use for Dask input.
        callback : callable, optional
            Called after every iteration with that iteration's ``history_``
            entry (a dict); raising from it stops the fit.
        validation : tuple (X_valid, y_valid), optional
            Held-out rows scored by the fitted model: ``validation_metrics_``
            is then :meth:`evaluate` of them (like H2O's ``validation_frame``).
            Dask frames split from the same read as ``X`` (``train, valid =
            split(frame)``) are loaded together with the training rows, so each
            file is read once for both.

        Returns
        -------
        self
        """
        self._check_params()
        validation = None if validation is None else _validation_pair(validation)
        if self.alpha == "auto" and self.n_folds is None and validation is None:
            raise InputError(
                "alpha='auto' chooses the penalty on held-out rows: pass validation=(X_valid, y_valid) to fit, or "
                "set n_folds=k for k-fold cross-validation."
            )
        scores = None
        if is_dask_collection(X):
            with resolve_client(client, self.scheduler_address) as active_client:
                engine, n_rows, held_out = self._dask_engine(active_client, X, y, sample_weight, validation)
                chosen_on = (None, None)
                try:
                    chosen_on = self._selection_rows(engine, held_out, validation)
                    self._fit_engine(engine, n_rows, callback, held_out=chosen_on[0], folds=chosen_on[1])
                    engine.close()  # the training rows leave memory before the validation rows are scored
                    if held_out is not None:
                        scores = self._score_held_out(held_out)
                finally:
                    for other in (engine, held_out, *chosen_on):
                        if other is not None:
                            other.close()
        else:
            engine, n_rows = self._local_engine(X, y, sample_weight)
            held_out, folds = self._selection_rows(engine, None, validation)
            self._fit_engine(engine, n_rows, callback, held_out=held_out, folds=folds)
        if validation is not None and scores is None:
            scores = self.evaluate(*validation, client=client)
        self.validation_metrics_ = scores
        return self

    def fit_loaded(self, engine, *, feature_names, n_rows: int, levels=(), callback=None, validation=None,
                   folds=None):
        """Fit on blocks already loaded where they lie (what :meth:`fit` does after loading).

        Parameters
        ----------
        engine : LocalEngine or DaskEngine
            Blocks ``(X, y, sample_weight)``: ``X`` an array or a
            :class:`~logreg_dist._kernels.ColumnRuns` of the features, ``y``
            0.0/1.0 (1.0 for the positive class), ``sample_weight`` or None.
        feature_names : list of str
            The names of ``X``'s columns.
        n_rows : int
            The rows of all blocks (it sets how Newton samples its Hessians).
        levels : sequence of int, optional
            The number of levels of each categorical column held as codes
            (:class:`~logreg_dist._codes.CodedBlock`): ``solver="auto"``
            counts the largest column's levels as a diagonal block.
        callback : callable, optional
            As in :meth:`fit`.
        validation : LocalEngine or DaskEngine, optional
            Held-out blocks ``(X, y, None)`` (``y`` 0.0/1.0) on which ``alpha='auto'`` chooses the penalty.
        folds : LocalEngine or DaskEngine, optional
            The training blocks with each row's fold, ``(X, y, None, fold)``, for ``cv``.

        Returns
        -------
        self
        """
        self._check_params()
        if self.alpha == "auto" and (validation if self.n_folds is None else folds) is None:
            raise InputError(
                "alpha='auto' chooses the penalty on held-out rows: "
                + ("pass folds= (the rows' folds)." if self.n_folds else "pass validation= (held-out blocks), or set n_folds=k.")
            )
        self._feature_names = [str(name) for name in feature_names]
        self.n_features_in_ = len(self._feature_names)
        self.feature_names_in_ = np.asarray(self._feature_names, dtype=object)
        self.classes_ = np.array([0, 1])
        self._levels = tuple(int(n) for n in levels)
        self._fit_engine(engine, n_rows, callback, held_out=validation, folds=folds)
        self.validation_metrics_ = None
        return self

    def _set_classes(self, classes) -> tuple:
        classes = np.asarray(classes)
        if classes.size < 2:
            raise InputError(
                f"y holds one class only ({classes.tolist()}); logistic regression needs two classes."
            )
        if classes.size > 2:
            shown = classes.tolist()[:10]
            raise InputError(
                "Only binary classification is supported. "
                f"y holds {classes.size} distinct values ({shown}{' ...' if classes.size > 10 else ''}); expected two."
            )
        self.classes_ = classes
        return tuple(classes.tolist())

    def _local_engine(self, X, y, sample_weight) -> tuple[LocalEngine, int]:
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], y_numeric=False, reset=True)
        target_type = type_of_target(y, input_name="y")
        if target_type not in ("binary", "multiclass") and not (target_type == "continuous" and np.unique(y).size <= 2):
            raise InputError(f"Unknown label type: y must hold two class labels; got a {target_type} target.")
        classes = self._set_classes(np.unique(y))
        names = [str(c) for c in getattr(self, "feature_names_in_", [f"x{j}" for j in range(X.shape[1])])]
        self._feature_names = names
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight, dtype=np.float64)
            if sample_weight.ndim != 1:
                raise InputError(f"sample_weight must be 1-D; got shape {sample_weight.shape}.")
        block = load_block(X, y, sample_weight, feature_names=names, partition=0, n_partitions=1)
        engine = LocalEngine([block])
        engine.transform(encode_target, classes=classes)
        return engine, X.shape[0]

    def _dask_engine(self, client, X, y, sample_weight, validation=None) -> tuple[DaskEngine, int, DaskEngine | None]:
        """Load every partition once into a block on its worker, learn the labels from the blocks, encode them
        (labels 0 and 1 held as numbers or booleans are kept as they are).

        Dask ``validation`` rows are loaded in the same graph (an engine of their own, returned third), so that
        partitions split from one read are read once."""
        inputs = [(X, y, sample_weight)]
        if validation is not None and is_dask_collection(validation[0]):
            X_valid, y_valid = validation
            if hasattr(X, "columns") and hasattr(X_valid, "columns"):
                missing = [c for c in X.columns if c not in X_valid.columns]
                if missing:
                    raise InputError(f"the validation rows lack the feature columns {missing} of X.")
                X_valid = X_valid[list(X.columns)]
            inputs.append((X_valid, y_valid, None))
        parts = dask_inputs(*inputs)
        self._feature_names = parts[0].feature_names
        self.n_features_in_ = len(self._feature_names)
        if hasattr(X, "columns"):
            self.feature_names_in_ = np.asarray(self._feature_names, dtype=object)
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        if len(parts) > 1 and len(parts[1].feature_names) != self.n_features_in_:
            raise InputError(
                f"the validation rows have {len(parts[1].feature_names)} feature columns; X has {self.n_features_in_}."
            )
        engine, *held_out = DaskEngine.persisted_together(
            client, *[p.blocks() for p in parts], split_every=self.split_every
        )
        held_out = held_out[0] if held_out else None
        try:
            engine.wait()
            summary = engine.map_reduce(labels_seen)
            labels = summary.values
            if labels.size and labels.dtype.kind == "f" and np.isnan(labels).any():
                raise InputError(
                    "y holds missing values (NaN); every row needs a label (a Dask y is aligned to X by index, "
                    "so a row of X whose index is not in y has none)."
                )
            classes = self._set_classes(np.unique(labels))
            if not (labels.dtype.kind in "biuf" and classes == (0, 1)):
                # Labels 0 and 1 held as numbers (or False and True) are their own encoding: the kernels compute
                # with them as they are, and a pass that would rewrite every block is saved.
                engine.transform(encode_target, classes=classes)
            moved = engine.balance()
            if moved:
                logger.info("moved %d of %d blocks between workers to even out the passes", moved, engine.n_blocks)
        except BaseException:
            engine.close()
            if held_out is not None:
                held_out.close()
            raise
        return engine, summary.n_rows, held_out

    def _selection_rows(self, engine, held_out, validation) -> tuple:
        """What ``alpha='auto'`` chooses on: ``(validation blocks with labels 0/1, None)``, or ``(None, training
        blocks with each row's fold)`` for ``cv``; ``(None, None)`` for a fixed penalty."""
        if self.alpha != "auto":
            return None, None
        if self.n_folds is not None:
            return None, engine.derive(_with_row_folds, n_folds=int(self.n_folds))
        classes = tuple(self.classes_.tolist())
        if held_out is not None:
            return held_out.derive(encode_target, classes=classes), None
        X_valid, y_valid = validation
        if is_dask_collection(X_valid):
            raise InputError("validation rows held by Dask need training rows held by Dask too.")
        X_valid = validate_data(self, X_valid, dtype=[np.float64, np.float32], reset=False)
        block = load_block(X_valid, np.asarray(y_valid), None, feature_names=self._feature_names, partition=0,
                           n_partitions=1)
        local = LocalEngine([block])
        local.transform(encode_target, classes=classes)
        return local, None

    def _score_held_out(self, held_out: DaskEngine) -> dict:
        """:meth:`evaluate` of validation blocks already loaded on the workers."""
        from . import metrics

        held_out.transform(
            scored_loaded_block, feature_names=self._feature_names, coef=self.coef_[0],
            intercept=float(self.intercept_[0]), classes=tuple(self.classes_.tolist()),
        )
        return metrics.validation_metrics(held_out)

    def _fit_engine(self, engine, n_rows: int, callback=None, *, held_out=None, folds=None) -> LogisticRegression:
        """Fit on loaded blocks. ``held_out`` (validation blocks, labels 0/1) or ``folds`` (blocks ``(X, y, w,
        fold)``) choose the penalty of ``alpha='auto'``."""
        names = self._feature_names
        # A sample of the rows leaves a rare level without curvature (a step of -grad / l2 there): with categorical
        # columns held as codes every Hessian sums every row.
        levels = getattr(self, "_levels", ())
        hessian_every = 1 if levels else max(1, n_rows // HESSIAN_SAMPLE_ROWS)
        moments = engine.map_reduce(moment_sums, hessian_every=hessian_every)
        if moments.n_rows == 0:
            raise InputError("X has 0 rows; there is nothing to fit.")
        if moments.weight_sum <= 0:
            raise InputError("the sample weights are all zero; at least one must be positive.")
        scale = np.sqrt(moments.variance)
        constant = (scale == 0) | (scale <= 1e-12 * np.abs(moments.mean))
        if constant.any():
            warnings.warn(
                f"feature columns {[names[j] for j in np.flatnonzero(constant)]} are constant in the training data; "
                "their coefficients are fixed at 0.",
                ConstantColumnWarning,
                stacklevel=3,
            )
        scale = np.where(constant, 1.0, scale)
        inv_scale = np.where(constant, 0.0, 1.0 / scale)
        active = ~constant
        alpha = self.l2 if self.alpha is None else self.alpha
        if alpha == "auto" or (alpha > 0 and self.l1_ratio > 0):
            return self._fit_elastic_net(engine, moments, scale, inv_scale, active, hessian_every, levels, alpha,
                                         callback, held_out=held_out, folds=folds)
        l2 = float(alpha)

        solver = self.solver
        if solver == "auto" and levels:
            dense = int(active.sum()) - max(levels)
            numeric = int(active.sum()) - sum(levels)
            solver = "newton" if dense <= AUTO_NEWTON_MAX_DENSE and numeric <= AUTO_NEWTON_MAX_FEATURES else "lbfgs"
            logger.info(
                "solver='auto' chose %r for %d features, %d of them dense once the %d levels of the largest "
                "categorical are eliminated (Newton up to %d dense, %d numeric)", solver, active.sum(), dense,
                max(levels), AUTO_NEWTON_MAX_DENSE, AUTO_NEWTON_MAX_FEATURES,
            )
        elif solver == "auto":
            solver = "newton" if active.sum() <= AUTO_NEWTON_MAX_FEATURES else "lbfgs"
            logger.info(
                "solver='auto' chose %r for %d features (Newton up to %d)", solver, active.sum(), AUTO_NEWTON_MAX_FEATURES
            )
        objective = Objective(engine, mean=moments.mean, inv_scale=inv_scale, active=active, l2=l2,
                              hessian_every=hessian_every, weight_sum=moments.weight_sum)
        # Start at the intercept-only optimum, logit of the (weighted) positive rate: it saves the
        # first iterations on rare-event data, where the intercept travels furthest.
        theta0 = np.zeros(objective.n_params)
        rate = moments.y_sum / moments.weight_sum
        if 0.0 < rate < 1.0:
            theta0[-1] = np.log(rate) - np.log1p(-rate)
        saver = _Checkpoint(self.checkpoint, _fingerprint(moments, names, l2, solver, active), callback)
        start = None
        if saver.resumed is not None:
            theta0 = saver.resumed
            logger.info("resuming from the checkpoint %s at iteration %d", self.checkpoint, saver.offset)
        elif 0.0 < rate < 1.0:
            start = _intercept_only_start(moments, theta0, rate, inv_scale, active, l2, hessian_every)
        try:
            result = SOLVERS[solver](objective, theta0, tol=self.tol, max_iter=self.max_iter, start=start,
                                     callback=saver)
        except BaseException as error:
            saver.failed(error)
            raise
        result.history = saver.history

        param_names = [names[j] for j in np.flatnonzero(active)] + ["intercept"]
        if result.singular_groups:
            groups = [[param_names[k] for k in group] for group in result.singular_groups]
            warnings.warn(
                f"the Hessian is singular: columns {groups} are collinear (or constant). Newton took the "
                "minimum-norm step; the coefficients of these columns are not identified on their own. "
                "Drop one column of each group or set l2 > 0.",
                CollinearityWarning,
                stacklevel=3,
            )
        if not result.converged:
            warnings.warn(
                f"{solver} did not converge after {result.n_iter} iterations ({result.message}): max|grad| "
                f"{np.max(np.abs(result.grad)):.3e} > tol {self.tol:.1e}. Increase max_iter, or check the data for "
                "perfect separation (set l2 > 0).",
                ConvergenceWarning,
                stacklevel=3,
            )

        self._set_covariance(objective, result, inv_scale, moments.mean, active)
        coef, intercept_std = self._set_coefficients(objective, result, moments, scale, inv_scale)
        self.resumed_from_ = saver.offset if saver.offset else None
        self.converged_ = result.converged
        self.history_ = result.history
        self.solver_ = solver
        self.alpha_, self.l1_ratio_, self.path_ = l2, 0.0, None
        self.n_passes_ = objective.passes.total + 1
        self.hessian_every_ = hessian_every
        self.n_samples_fit_ = moments.n_rows
        self.loss_ = result.loss
        # Only an unpenalized fit can separate: any l2 > 0 keeps every coefficient finite.
        self.separation_ = None if l2 > 0 else find_separation(
            names=names, coef=coef, std_errors=self.std_errors_[0], mean=moments.mean, scale=scale, active=active,
            intercept_standardized=intercept_std, loss=result.loss,
        )
        if self.separation_ is not None:
            warnings.warn(
                f"{'Perfect separation or prediction detected' if self.separation_['perfect_prediction'] else 'Separation detected'}: "
                f"{'; '.join(self.separation_['rules'])}. The maximum-likelihood coefficients of "
                f"{self.separation_['features']} are infinite: the values reported are where the solver stopped, and "
                "their standard errors, z, p and intervals are not meaningful. Set l2 > 0, or drop or merge the feature.",
                SeparationWarning,
                stacklevel=3,
            )
        saver.remove()  # only now: a failure before this point resumes from the checkpoint
        return self

    def _fit_elastic_net(self, engine, moments, scale, inv_scale, active, hessian_every, levels, alpha, callback, *,
                         held_out=None, folds=None) -> LogisticRegression:
        """The fit with an L1 term, or the path of ``alpha='auto'`` and its choice: proximal Newton where the dense
        Hessian is affordable, OWL-QN (gradient passes only) where it is not or where ``solver='lbfgs'``."""
        numeric = int(active.sum()) - sum(levels)
        wide = active.size > DENSE_HESSIAN_MAX_FEATURES or numeric > AUTO_NEWTON_MAX_FEATURES
        if self.solver == "newton" and active.size > DENSE_HESSIAN_MAX_FEATURES:
            raise InputError(
                f"solver='newton' needs the dense {active.size} x {active.size} Hessian for the elastic net, and "
                f"takes up to {DENSE_HESSIAN_MAX_FEATURES} features (levels included); use solver='auto' or 'lbfgs' "
                "(OWL-QN), or lower the levels with --min-frequency."
            )
        solve = owlqn if self.solver == "lbfgs" or (self.solver == "auto" and wide) else prox_newton
        logger.info("the elastic net is solved by %s for %d features", solve.__name__, active.sum())
        l1_ratio = float(self.l1_ratio)
        n_active = int(active.sum())
        penalized = np.append(np.ones(n_active), 0.0)

        def make_objective(l2, on=engine):
            return Objective(on, mean=moments.mean, inv_scale=inv_scale, active=active, l2=l2,
                             hessian_every=hessian_every)

        theta0 = np.zeros(n_active + 1)
        rate = moments.y_sum / moments.weight_sum
        if 0.0 < rate < 1.0:
            theta0[-1] = np.log(rate) - np.log1p(-rate)
        start = None
        if 0.0 < rate < 1.0 and solve is prox_newton:
            start = intercept_only(moments, theta0, rate=rate, inv_scale=inv_scale, active=active)
        passes = 1  # the moments
        if start is None and 0.0 < rate < 1.0:  # no co-moments (categorical codes), or OWL-QN's: one pass
            first = make_objective(0.0)
            start = first.loss_grad_hess(theta0) if solve is prox_newton else (*first.loss_grad(theta0), None)
            passes += first.passes.total
        saver = _Checkpoint(None, {}, callback)
        if alpha == "auto":
            points, chosen, passes_path = self._path(make_objective, engine, theta0, start, moments, inv_scale,
                                                      active, n_rows=moments.n_rows, held_out=held_out, folds=folds,
                                                      callback=saver, solve=solve)
            passes += passes_path
            point = points[chosen]
            alpha, theta = point.alpha, point.theta
            objective = make_objective(alpha * (1.0 - l1_ratio))
            if solve is prox_newton or levels:  # the exact Hessian of the standard errors
                loss, grad, hess = objective.loss_grad_hess(theta)
            else:  # p x p numbers per partition is what OWL-QN is there to avoid: no standard errors
                (loss, grad), hess = objective.loss_grad(theta), None
            result = SolverResult(theta, loss, grad, point.converged, point.n_iter, saver.history, point.message,
                                  [], hess)
        else:
            alpha = float(alpha)
            self.path_ = None
            objective = make_objective(alpha * (1.0 - l1_ratio))
            known = None
            if start is not None and solve is prox_newton:
                loss0, grad0, hess0 = start
                known = (loss0, grad0, hess0 + np.diag(alpha * (1.0 - l1_ratio) * penalized))
            result = solve(objective, theta0, l1=alpha * l1_ratio * penalized, tol=self.tol,
                           max_iter=self.max_iter, start=known, callback=saver)
            result.history = saver.history
            if result.hess is None and (solve is prox_newton or levels):
                _, _, result.hess = objective.loss_grad_hess(result.theta)
        passes += objective.passes.total
        if not result.converged:
            warnings.warn(
                f"proximal Newton did not converge at alpha={alpha:.6g} after {result.n_iter} iterations "
                f"({result.message}): the optimality conditions are off by {kkt_gap(result.theta, result.grad, alpha * l1_ratio * penalized):.3e} "
                f"> tol {self.tol:.1e}. Increase max_iter.",
                ConvergenceWarning,
                stacklevel=4,
            )
        zero = np.append(result.theta[:-1] == 0.0, False) if l1_ratio > 0 else None
        self._set_covariance(objective, result, inv_scale, moments.mean, active, zero=zero)
        if zero is not None and self.covariance_ is None:  # held by structure: the zeros' errors are dropped after
            self.std_errors_[0, np.flatnonzero(active)[zero[:-1]]] = np.nan
        coef, intercept_std = self._set_coefficients(objective, result, moments, scale, inv_scale)
        self.resumed_from_ = None
        self.converged_ = bool(result.converged)
        self.history_ = result.history
        self.solver_ = "prox-newton" if solve is prox_newton else "owl-qn"
        self.alpha_, self.l1_ratio_ = float(alpha), l1_ratio
        self.n_passes_ = passes
        self.hessian_every_ = hessian_every
        self.n_samples_fit_ = moments.n_rows
        self.loss_ = result.loss
        self.separation_ = None  # alpha > 0 keeps every coefficient finite
        return self

    def _path(self, make_objective, engine, theta0, start, moments, inv_scale, active, *, n_rows, held_out, folds,
              callback, solve):
        """Fit the path, score it on the held-out rows or folds, keep it in ``path_``; returns (points, chosen index,
        passes)."""
        l1_ratio = float(self.l1_ratio)
        if start is None:
            raise InputError("the path cannot start: the training rows hold one label only.")
        gradient = np.abs(start[1][:-1])
        alpha_max = float(gradient.max(initial=0.0)) / max(l1_ratio, RIDGE_SPAN_RATIO)
        if not alpha_max > 0.0:
            raise InputError(
                "the path cannot start: no feature's gradient is nonzero at the intercept-only model (every feature "
                "is constant, or unrelated to the label in the training rows); there is no penalty to choose."
            )
        min_ratio = self.min_alpha_ratio
        if min_ratio is None:  # glmnet's default: a shorter span where features outnumber rows
            min_ratio = 1e-4 if n_rows > active.sum() else 1e-2
            if l1_ratio == 0.0:
                # A ridge path starts 1/RIDGE_SPAN_RATIO above the lasso's alpha_max; it ends as low as the lasso's
                # would, or its best penalty lies below its end on most data (wa_churn chose its last point).
                min_ratio *= RIDGE_SPAN_RATIO
        alphas = alpha_grid(alpha_max, n_alphas=self.n_alphas, min_ratio=min_ratio)
        index = np.flatnonzero(active)
        settings = dict(alphas=alphas, l1_ratio=l1_ratio, tol=self.tol, max_iter=self.max_iter, solve=solve)

        def original(theta):
            coef = np.zeros(active.size)
            coef[index] = theta[:-1] * inv_scale[index]
            return coef, float(theta[-1] - moments.mean @ coef)

        if folds is not None:
            n_folds = int(self.n_folds)

            def work(fold, fold_engine):
                fold_start = start if fold < 0 and solve is prox_newton else None
                return run_path(lambda l2: make_objective(l2, fold_engine), theta0, fold_start,
                                callback=callback if fold < 0 else None, **settings)

            paths, passes = run_folds(folds, n_folds, work)
            points = paths[-1]
            coefs, intercepts = [], []
            for path in paths[:-1]:
                pairs = [original(p.theta) for p in path]
                coefs.append(np.array([c for c, _ in pairs]))
                intercepts.append(np.array([b for _, b in pairs]))
            per_fold = [scores.summary() for scores in folds.map_reduce(fold_path_scores, coefs=coefs,
                                                                           intercepts=intercepts)]
            passes += 1
            for k, point in enumerate(points):
                deviance = np.array([fold[k]["deviance"] for fold in per_fold])
                auc = np.array([fold[k]["auc"] for fold in per_fold])
                point.scores = {
                    "cv_deviance": float(deviance.mean()),
                    "cv_deviance_se": float(deviance.std(ddof=1) / np.sqrt(n_folds)),
                    "cv_auc": float(np.nanmean(auc)), "cv_auc_sd": float(np.nanstd(auc, ddof=1)),
                    "fold_converged": bool(all(path[k].converged for path in paths[:-1])),
                }
            key = "cv_deviance"
        elif held_out is not None:
            points = run_path(make_objective, theta0, start if solve is prox_newton else None, callback=callback,
                              **settings)
            passes = sum(p.passes for p in points)
            pairs = [original(p.theta) for p in points]
            scores = held_out.map_reduce(path_scores, coefs=np.array([c for c, _ in pairs]),
                                         intercepts=np.array([b for _, b in pairs]))
            passes += 1
            for point, summary in zip(points, scores.summary()):
                point.scores = {"valid_deviance": summary["deviance"], "valid_deviance_se": summary["deviance_se"],
                                "valid_auc": summary["auc"]}
            key = "valid_deviance"
        else:
            raise InputError(
                "alpha='auto' chooses the penalty on held-out rows: pass validation=(X_valid, y_valid) to fit, or "
                "n_folds=k for k-fold cross-validation."
            )
        usable = [k for k, p in enumerate(points) if p.converged and p.scores.get("fold_converged", True)]
        if not usable:
            raise InputError(
                f"no point of the penalty path converged within max_iter={self.max_iter}; increase max_iter."
            )
        best = min(usable, key=lambda k: points[k].scores[key])
        chosen = best
        if self.alpha_rule == "1se":  # the largest penalty within one standard error of the best
            limit = points[best].scores[key] + points[best].scores[key + "_se"]
            chosen = min(k for k in usable if points[k].scores[key] <= limit)
        self.alphas_ = alphas
        self.alpha_rule_ = self.alpha_rule
        self.path_ = [p.as_dict() for p in points]
        self.path_chosen_ = chosen
        self.coef_path_standardized_ = np.zeros((len(points), active.size))
        for k, point in enumerate(points):
            self.coef_path_standardized_[k, index] = point.theta[:-1]
        return points, chosen, passes

    def _set_coefficients(self, objective, result, moments, scale, inv_scale) -> tuple[np.ndarray, float]:
        """``coef_``, ``intercept_`` and their standardized forms from the solver's ``theta``, with the
        standardization and ``n_iter_``; returns the original-scale coefficients and the standardized intercept."""
        coef_std, intercept_std = objective.full_coef(result.theta)
        coef = coef_std * inv_scale
        self.coef_standardized_ = coef_std[None, :]
        self.intercept_standardized_ = np.array([intercept_std])
        self.coef_ = coef[None, :]
        self.intercept_ = np.array([intercept_std - float(moments.mean @ coef)])
        self.feature_mean_ = moments.mean
        self.feature_scale_ = scale
        self.n_iter_ = len(result.history) - 1
        return coef, intercept_std

    def _set_covariance(self, objective, result, inv_scale, mean, active, zero=None) -> None:
        """Covariance of (coef_, intercept_) from the Hessian of the summed objective at the optimum.

        It is the inverse of ``sum(w) * hess``: the usual maximum-likelihood
        covariance when ``l2 = 0`` (frequency weights), and the inverse of the
        penalized Hessian, an approximation, when ``l2 > 0``. NaN where not
        defined: constant columns, or every entry when the Hessian is singular.
        ``zero`` marks parameters an L1 penalty holds at 0: they get NaN, and
        the others' covariance is that of the model with those columns left out.
        """
        n_features = active.size
        hess = result.hess
        if hess is None and (active.sum() <= AUTO_NEWTON_MAX_FEATURES or getattr(self, "_levels", ())):
            _, _, hess = objective.loss_grad_hess(result.theta)
        if isinstance(hess, SchurHessian):
            self._set_std_errors(objective, hess, inv_scale, mean, active)
            return
        self.covariance_ = np.full((n_features + 1, n_features + 1), np.nan)
        if hess is not None and not result.singular_groups:
            keep = np.ones(hess.shape[0], dtype=bool) if zero is None else ~zero
            try:
                factor = linalg.cho_factor(hess[np.ix_(keep, keep)] * objective.weight_sum)
                cov_std = linalg.cho_solve(factor, np.eye(int(keep.sum())))
            except linalg.LinAlgError:
                cov_std = None
            if cov_std is not None:
                # theta = (standardized active coefs, standardized intercept) -> original scale.
                index = np.flatnonzero(active)[keep[:-1]]
                jac = np.zeros((index.size + 1, index.size + 1))
                jac[np.arange(index.size), np.arange(index.size)] = inv_scale[index]
                jac[-1, :-1] = -mean[index] * inv_scale[index]
                jac[-1, -1] = 1.0
                full = np.append(index, n_features)
                self.covariance_[np.ix_(full, full)] = jac @ cov_std @ jac.T
        variances = np.diag(self.covariance_)
        self.std_errors_ = np.sqrt(variances[:-1])[None, :]
        self.intercept_std_error_ = np.sqrt(variances[-1:])

    def _set_std_errors(self, objective, hess, inv_scale, mean, active) -> None:
        """Standard errors from a Hessian held by structure: the diagonal of its inverse (exact, from its
        factorization), and the intercept's variance from one solve. ``covariance_`` is None: p x p is what the
        structure avoids."""
        self.covariance_ = None
        index = np.flatnonzero(active)
        variances = np.full(active.size, np.nan)
        if hess.well_conditioned(1e-12):
            variances[index] = hess.inverse_diagonal() * inv_scale[index] ** 2 / objective.weight_sum
            # intercept_ = theta_intercept - sum_j mean_j inv_scale_j theta_j
            direction = np.append(-mean[index] * inv_scale[index], 1.0)
            intercept_variance = float(direction @ hess.solve(direction)) / objective.weight_sum
        else:
            intercept_variance = np.nan
        self.std_errors_ = np.sqrt(variances)[None, :]
        self.intercept_std_error_ = np.sqrt([intercept_variance])

    # -- predict ----------------------------------------------------------------------

    def _fitted_columns(self, X):
        """The columns of DataFrame ``X`` the model was fitted on, in that order."""
        missing = [c for c in self._feature_names if c not in X.columns]
        if missing:
            raise InputError(f"X lacks the feature columns {missing} that the model was fitted on.")
        return X[self._feature_names]

    def _rows(self, X, fn, n_out: int):
        """Apply ``fn(X_rows, coef, intercept)`` to in-memory X, or lazily to each block of Dask X."""
        check_is_fitted(self)
        coef, intercept = self.coef_[0], float(self.intercept_[0])
        if not is_dask_collection(X):
            X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
            return fn(X, coef, intercept)
        if hasattr(X, "columns"):
            meta = np.empty((0, n_out) if n_out else (0,), dtype=np.float64)
            return self._fitted_columns(X).map_partitions(frame_rows, fn, coef, intercept, meta=meta)
        if X.ndim != 2 or X.shape[1] != coef.size:
            raise InputError(f"X has shape {X.shape}; the model expects {coef.size} feature columns.")
        X = X.rechunk({1: -1})
        if n_out == 0:
            return X.map_blocks(fn, coef, intercept, drop_axis=1, dtype=np.float64)
        return X.map_blocks(fn, coef, intercept, chunks=(X.chunks[0], (n_out,)), dtype=np.float64)

    def decision_function(self, X):
        """Linear predictor ``intercept_ + X @ coef_``, shape (n_samples,); lazy for Dask input."""
        return self._rows(X, decision, 0)

    def predict_proba(self, X):
        """Probabilities of ``classes_[0]`` and ``classes_[1]``, shape (n_samples, 2); lazy for Dask input."""
        return self._rows(X, proba, 2)

    def predict_log_proba(self, X):
        """Log of :meth:`predict_proba`, computed without underflow."""
        return self._rows(X, log_proba, 2)

    def predict(self, X):
        """``classes_[1]`` where ``decision_function > 0``, else ``classes_[0]``."""
        eta = self.decision_function(X)
        if is_dask_collection(eta):
            return eta.map_blocks(pick, self.classes_, dtype=self.classes_.dtype)
        return pick(eta, self.classes_)

    def evaluate(self, X, y, *, client=None, max_curve_points: int = 1000, n_bins: int = 10) -> dict:
        """Exact validation metrics of the model on ``(X, y)``, like Spark MLlib's ``model.evaluate(dataset)``.

        AUC with its DeLong 95% interval, log-loss, Brier score, average
        precision, the ROC and precision-recall curves and a gains table by
        score bins: the dict :func:`logreg_dist.metrics.validation_metrics`
        returns, equal to scikit-learn's metrics of the same scores.

        Dask input is scored where each partition lies, one task per
        partition that ships the coefficients (not this estimator, whose
        module imports scikit-learn), and the metrics come from sums over the
        partitions: no row comes to this process. ``y`` must hold the two
        labels of ``classes_``.
        """
        from . import metrics

        check_is_fitted(self)
        coef, intercept = self.coef_[0], float(self.intercept_[0])
        classes = tuple(self.classes_.tolist())
        if not is_dask_collection(X):
            X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
            block = scored_block(X, y, None, feature_names=self._feature_names, coef=coef, intercept=intercept,
                                 classes=classes, partition=0, n_partitions=1)
            return metrics.validation_metrics(LocalEngine([block]), max_curve_points=max_curve_points, n_bins=n_bins)
        parts = dask_input(self._fitted_columns(X) if hasattr(X, "columns") else X, y, None)
        if len(parts.feature_names) != coef.size:
            raise InputError(f"X has {len(parts.feature_names)} feature columns; the model expects {coef.size}.")
        with resolve_client(client, self.scheduler_address) as active_client:
            blocks = parts.map(scored_frame_block, scored_block, coef=coef, intercept=intercept, classes=classes)
            engine = DaskEngine(active_client, blocks, split_every=self.split_every)
            try:
                return metrics.validation_metrics(engine, max_curve_points=max_curve_points, n_bins=n_bins)
            finally:
                engine.close()


def _with_row_folds(block: tuple, *, n_folds: int, partition: int, n_partitions: int) -> tuple:
    """``(X, y, w, fold)``: each row's fold from a hash of its values and label, whatever the partitioning."""
    import pandas as pd

    X, y, w = block
    keys = pd.DataFrame(np.asarray(X, dtype=np.float64))
    keys["label"] = np.asarray(y, dtype=np.float64)
    return X, y, w, hashed_folds(keys, n_folds)


def _validation_pair(validation) -> tuple:
    """``(X_valid, y_valid)`` of ``fit(validation=...)``."""
    if not (isinstance(validation, (tuple, list)) and len(validation) == 2):
        raise InputError(f"validation must be a pair (X_valid, y_valid); got {type(validation).__name__}.")
    return tuple(validation)


def _intercept_only_start(moments, theta0, rate, inv_scale, active, l2, hessian_every) -> Start | None:
    """The solver's :class:`Start`: loss, gradient and ridge-penalized Hessian at the intercept-only model, from the
    moments pass; None without the co-moments. The Hessian is sampled where ``hessian_every > 1``."""
    values = intercept_only(moments, theta0, rate=rate, inv_scale=inv_scale, active=active)
    if values is None:
        return None
    loss, grad, hess = values
    hess[np.diag_indices(hess.shape[0] - 1)] += l2
    return Start(loss, grad, hess, sampled=hessian_every > 1)
