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

from ._data import dask_input, dask_inputs, encode_target, is_dask_collection, labels_seen, load_block
from ._checkpoint import _Checkpoint, _fingerprint
from ._engine import DaskEngine, LocalEngine
from ._kernels import moment_sums
from ._objective import Objective
from ._schur import SchurHessian
from ._predict import decision, frame_rows, log_proba, pick, proba, scored_block, scored_frame_block, scored_loaded_block
from ._solvers import SOLVERS
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
        solver: str = "auto",
        tol: float = 1e-12,
        max_iter: int = 100,
        scheduler_address: str | None = None,
        split_every: int = 8,
        checkpoint: str | None = None,
    ):
        self.l2 = l2
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
        scores = None
        if is_dask_collection(X):
            with resolve_client(client, self.scheduler_address) as active_client:
                engine, n_rows, held_out = self._dask_engine(active_client, X, y, sample_weight, validation)
                try:
                    self._fit_engine(engine, n_rows, callback)
                    engine.close()  # the training rows leave memory before the validation rows are scored
                    if held_out is not None:
                        scores = self._score_held_out(held_out)
                finally:
                    engine.close()
                    if held_out is not None:
                        held_out.close()
        else:
            engine, n_rows = self._local_engine(X, y, sample_weight)
            self._fit_engine(engine, n_rows, callback)
        if validation is not None and scores is None:
            scores = self.evaluate(*validation, client=client)
        self.validation_metrics_ = scores
        return self

    def fit_loaded(self, engine, *, feature_names, n_rows: int, levels=(), callback=None):
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

        Returns
        -------
        self
        """
        self._check_params()
        self._feature_names = [str(name) for name in feature_names]
        self.n_features_in_ = len(self._feature_names)
        self.feature_names_in_ = np.asarray(self._feature_names, dtype=object)
        self.classes_ = np.array([0, 1])
        self._levels = tuple(int(n) for n in levels)
        self._fit_engine(engine, n_rows, callback)
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

    def _score_held_out(self, held_out: DaskEngine) -> dict:
        """:meth:`evaluate` of validation blocks already loaded on the workers."""
        from . import metrics

        held_out.transform(
            scored_loaded_block, feature_names=self._feature_names, coef=self.coef_[0],
            intercept=float(self.intercept_[0]), classes=tuple(self.classes_.tolist()),
        )
        return metrics.validation_metrics(held_out)

    def _fit_engine(self, engine, n_rows: int, callback=None) -> LogisticRegression:
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
        objective = Objective(
            engine, mean=moments.mean, inv_scale=inv_scale, active=active, l2=self.l2, hessian_every=hessian_every
        )
        # Start at the intercept-only optimum, logit of the (weighted) positive rate: it saves the
        # first iterations on rare-event data, where the intercept travels furthest.
        theta0 = np.zeros(objective.n_params)
        rate = moments.y_sum / moments.weight_sum
        if 0.0 < rate < 1.0:
            theta0[-1] = np.log(rate) - np.log1p(-rate)
        saver = _Checkpoint(self.checkpoint, _fingerprint(moments, names, self.l2, solver, active), callback)
        if saver.resumed is not None:
            theta0 = saver.resumed
            logger.info("resuming from the checkpoint %s at iteration %d", self.checkpoint, saver.offset)
        elif 0.0 < rate < 1.0:
            _remember_start(objective, moments, theta0, rate, inv_scale, active, self.l2, hessian_every)
        try:
            result = SOLVERS[solver](objective, theta0, tol=self.tol, max_iter=self.max_iter, callback=saver)
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
        coef_std, intercept_std = objective.full_coef(result.theta)
        coef = coef_std * inv_scale
        self.coef_standardized_ = coef_std[None, :]
        self.intercept_standardized_ = np.array([intercept_std])
        self.coef_ = coef[None, :]
        self.intercept_ = np.array([intercept_std - float(moments.mean @ coef)])
        self.feature_mean_ = moments.mean
        self.feature_scale_ = scale
        self.n_iter_ = len(result.history) - 1
        self.resumed_from_ = saver.offset if saver.offset else None
        self.converged_ = result.converged
        self.history_ = result.history
        self.solver_ = solver
        self.n_passes_ = objective.passes.total + 1
        self.hessian_every_ = hessian_every
        self.n_samples_fit_ = moments.n_rows
        self.loss_ = result.loss
        # Only an unpenalized fit can separate: any l2 > 0 keeps every coefficient finite.
        self.separation_ = None if self.l2 > 0 else find_separation(
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

    def _set_covariance(self, objective, result, inv_scale, mean, active) -> None:
        """Covariance of (coef_, intercept_) from the Hessian of the summed objective at the optimum.

        It is the inverse of ``sum(w) * hess``: the usual maximum-likelihood
        covariance when ``l2 = 0`` (frequency weights), and the inverse of the
        penalized Hessian, an approximation, when ``l2 > 0``. NaN where not
        defined: constant columns, or every entry when the Hessian is singular.
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
            try:
                factor = linalg.cho_factor(hess * objective.weight_sum)
                cov_std = linalg.cho_solve(factor, np.eye(hess.shape[0]))
            except linalg.LinAlgError:
                cov_std = None
            if cov_std is not None:
                # theta = (standardized active coefs, standardized intercept) -> original scale.
                index = np.flatnonzero(active)
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


def _validation_pair(validation) -> tuple:
    """``(X_valid, y_valid)`` of ``fit(validation=...)``."""
    if not (isinstance(validation, (tuple, list)) and len(validation) == 2):
        raise InputError(f"validation must be a pair (X_valid, y_valid); got {type(validation).__name__}.")
    return tuple(validation)


def _remember_start(objective, moments, theta0, rate, inv_scale, active, l2, hessian_every) -> None:
    """Loss, gradient and Hessian at the intercept-only start, from the moments pass: no pass of their own.

    There every row has the probability ``rate``, so the mean loss is
    ``softplus(b0) - rate * b0``, the gradient is ``-inv_scale * y_dev / W``
    (the intercept's is 0), and the Hessian is ``rate * (1 - rate)`` times
    the standardized co-moment matrix (of the sampled chunks when
    ``hessian_every > 1``), with the intercept as a column of ones.
    """
    if moments.y_dev is None or moments.sample_comoment is None:
        return
    index = np.flatnonzero(active)
    inv = inv_scale[index]
    weight = moments.weight_sum
    intercept = float(theta0[-1])
    loss = float(np.logaddexp(0.0, intercept)) - rate * intercept
    grad = np.zeros(index.size + 1)
    grad[:-1] = -inv * moments.y_dev[index] / weight
    shift = moments.sample_mean - moments.mean  # the sample's mean about the mean of all rows
    comoment = (moments.sample_comoment + moments.sample_weight_sum * np.outer(shift, shift)) / moments.sample_weight_sum
    curvature = rate * (1.0 - rate)
    hess = np.empty((index.size + 1, index.size + 1))
    hess[:-1, :-1] = curvature * comoment[np.ix_(index, index)] * np.outer(inv, inv)
    hess[:-1, -1] = hess[-1, :-1] = curvature * inv * shift[index]
    hess[-1, -1] = curvature
    hess[np.diag_indices(index.size)] += l2
    objective.remember(theta0, loss, grad, hess, sampled=hessian_every > 1, weight_sum=weight)
