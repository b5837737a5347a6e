"""The estimator: scikit-learn's interface over the engine, the objective and the solvers."""

from __future__ import annotations

import logging
import numbers
import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from ._data import dask_input, is_dask_collection
from ._engine import DaskEngine, LocalEngine
from ._kernels import moment_sums
from ._loading import LoadedRows, load_dask, load_local, selection_rows, validation_pair
from ._penalty import fit_elastic_net
from ._predict import decision, frame_rows, log_proba, pick, proba, scored_block, scored_frame_block, scored_loaded_block
from ._ridge import fit_ridge
from ._separation import RULES_SHOWN, find_separation, rules_text
from ._solvers import SOLVERS, nearly_collinear_groups
from ._solver_choice import AUTO_NEWTON_MAX_FEATURES, elastic_net_solver, hessian_every, ridge_solver
from ._standardization import Coefficients, Standardization, coefficients, uncertainty
from .cluster import resolve_client
from .exceptions import CollinearityWarning, ConstantColumnWarning, InputError, SeparationWarning, column_groups

__all__ = ["LogisticRegression"]

logger = logging.getLogger("logreg_dist")


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

    The levels of a categorical column marked in
    ``fit_loaded(level_features=...)`` (what ``logreg-dist train`` passes)
    are penalized on their own scale, as H2O does: the term of a level's
    :math:`\beta_j` is weighted by :math:`1 / s_j^2` in the ridge part and
    :math:`1 / s_j` in the L1 part (glum's ``P2`` and ``P1``), so that what
    is penalized is :math:`\beta_j / s_j`, the level's shift in log-odds
    from the reference level. ``penalty_weights_`` holds the weights.

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
    feature_covariance_ : ndarray of shape (n_features, n_features) or None
        The features' covariance over a sample of the rows (NaN in every row and column of a level held as
        codes): what the preparation's fills of collinear columns are fitted on.
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
    penalty_weights_ : ndarray of shape (n_features,)
        Each standardized coefficient's weight in the L1 term of the
        penalty (its square in the ridge term): 1 for a numeric column,
        ``1 / std`` for a level of a categorical column marked in
        ``fit_loaded(level_features=...)``, whose own coefficient is then
        what is penalized (glum's ``P1``; ``P2`` is its square).
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
        validation = None if validation is None else validation_pair(validation)
        if self.alpha == "auto" and self.n_folds is None and validation is None:
            raise InputError(
                "alpha='auto' chooses the penalty on held-out rows: pass validation=(X_valid, y_valid) to fit, or "
                "set n_folds=k for k-fold cross-validation."
            )
        scores = None
        if is_dask_collection(X):
            with resolve_client(client, self.scheduler_address) as active_client:
                # 1. Load every partition once where it lies (Dask validation rows in the same graph).
                rows = load_dask(active_client, X, y, sample_weight, validation, split_every=self.split_every)
                try:
                    # 2. Fit, with the rows that choose the penalty of alpha='auto'.
                    self._adopt(rows, named=hasattr(X, "columns"))
                    rows = self._selection_rows(rows, validation)
                    self._fit_engine(rows, callback)
                    # 3. Score the validation rows where they lie, once the training rows have left memory.
                    rows.engine.close()
                    if rows.held_out is not None:
                        scores = self._score_held_out(rows.held_out)
                finally:
                    rows.close()
        else:
            # 1. Load the validated arrays as one block.
            X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], y_numeric=False, reset=True)
            names = [str(c) for c in getattr(self, "feature_names_in_", [f"x{j}" for j in range(X.shape[1])])]
            rows = load_local(X, y, sample_weight, feature_names=names)
            # 2. Fit, with the rows that choose the penalty of alpha='auto'.
            self._adopt(rows)
            self._fit_engine(self._selection_rows(rows, validation), callback)
        # 3. Score the validation rows that were not scored where they lie.
        if validation is not None and scores is None:
            scores = self.evaluate(*validation, client=client)
        self.validation_metrics_ = scores
        return self

    def fit_loaded(self, engine, *, feature_names, n_rows: int, levels=(), level_features=None, callback=None,
                   validation=None, folds=None):
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
        level_features : array-like of bool, shape (n_features,), optional
            Marks the features that are levels of a categorical column (its
            one-hot indicators, dense or held as codes). Their coefficients
            are penalized on their own scale, each level's shift in log-odds
            from the reference, as H2O does; a numeric column's on the
            standardized scale (see ``penalty_weights_``).
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
        names = [str(name) for name in feature_names]
        marks = None if level_features is None else np.asarray(level_features, dtype=bool)
        if marks is not None and marks.shape != (len(names),):
            raise InputError(f"level_features has {marks.size} entries for {len(names)} features; they must match.")
        rows = LoadedRows(engine, n_rows, np.array([0, 1]), names, tuple(int(n) for n in levels), marks,
                          validation=validation, folds=folds)
        self._adopt(rows, named=True)
        self._fit_engine(rows, callback)
        self.validation_metrics_ = None
        return self

    def _adopt(self, rows: LoadedRows, *, named: bool | None = None) -> None:
        """The labels and feature names of the loaded rows; ``named`` says whether X named its columns (None: the
        in-memory X, whose names scikit-learn's validation has already kept)."""
        self.classes_ = rows.classes
        self._feature_names = rows.feature_names
        if named is None:
            return
        self.n_features_in_ = len(rows.feature_names)
        if named:
            self.feature_names_in_ = np.asarray(rows.feature_names, dtype=object)
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_

    def _selection_rows(self, rows: LoadedRows, validation) -> LoadedRows:
        """``rows`` with the rows that choose the penalty of ``alpha='auto'`` (:func:`~._loading.selection_rows`)."""
        if self.alpha != "auto":
            return rows
        return selection_rows(rows, validation, n_folds=self.n_folds, validate=lambda X: validate_data(
            self, X, dtype=[np.float64, np.float32], reset=False))

    def _score_held_out(self, held_out: DaskEngine) -> dict:
        """:meth:`evaluate` of validation blocks already loaded on the workers."""
        from . import metrics

        held_out.transform(
            scored_loaded_block, feature_names=self._feature_names, coef=self.coef_[0],
            intercept=float(self.intercept_[0]), classes=tuple(self.classes_.tolist()),
        )
        return metrics.validation_metrics(held_out)

    def _fit_engine(self, rows: LoadedRows, callback=None) -> LogisticRegression:
        """Fit on loaded blocks; ``rows.validation`` or ``rows.folds`` choose the penalty of ``alpha='auto'``."""
        names, levels = rows.feature_names, rows.levels
        # 1. Moments: one pass gives the standardization and the loss, gradient and Hessian at the start.
        every = hessian_every(rows.n_rows, levels)
        # A block of codes' co-moments are its numeric columns' alone, used only to find collinear ones: a sample.
        moments = rows.engine.map_reduce(moment_sums, hessian_every=hessian_every(rows.n_rows, ()) if levels else every)
        if moments.n_rows == 0:
            raise InputError("X has 0 rows; there is nothing to fit.")
        if moments.weight_sum <= 0:
            raise InputError("the sample weights are all zero; at least one must be positive.")
        # 2. Standardization: a constant column's coefficient is held at 0, and the user is told.
        scaling = Standardization.from_moments(moments, levels=rows.level_features)
        if not scaling.active.all():
            warnings.warn(
                f"feature columns {[names[j] for j in np.flatnonzero(~scaling.active)]} are constant in the training "
                "data; their coefficients are fixed at 0.",
                ConstantColumnWarning,
                stacklevel=3,
            )
        # 3. Solve: the ridge by Newton or L-BFGS (resumable), or the elastic net (and the path of alpha='auto').
        alpha = self.l2 if self.alpha is None else self.alpha
        if not (alpha == "auto" or (alpha > 0 and self.l1_ratio > 0)):
            fit = fit_ridge(rows, moments, scaling, l2=float(alpha), solver=ridge_solver(self.solver, scaling.active,
                            levels), tol=self.tol, max_iter=self.max_iter, hessian_every=every,
                            checkpoint=self.checkpoint, callback=callback)
        else:
            fit = fit_elastic_net(
                rows, moments, scaling, solve=elastic_net_solver(self.solver, scaling.active, levels), alpha=alpha,
                l1_ratio=float(self.l1_ratio), tol=self.tol, max_iter=self.max_iter, hessian_every=every,
                n_alphas=self.n_alphas, min_alpha_ratio=self.min_alpha_ratio,
                n_folds=None if self.n_folds is None else int(self.n_folds), alpha_rule=self.alpha_rule,
                callback=callback)
        # 4. Back to the original scale, with the covariance from the Hessian at the optimum; coefficients an L1
        #    penalty holds at 0 get no standard error.
        zero = np.append(fit.result.theta[:-1] == 0.0, False) if fit.l1_ratio > 0 else None
        solution = self._set_solution(fit.objective, fit.result, scaling, levels, zero=zero)
        # 5. What the fit did.
        self.path_ = None if fit.path is None else fit.path.points
        if fit.path is not None:
            self.alphas_, self.alpha_rule_ = fit.path.alphas, fit.path.alpha_rule
            self.path_chosen_, self.coef_path_standardized_ = fit.path.chosen, fit.path.coef_path_standardized
            self.path_tol_ = fit.path.point_tol  # what the path's points were solved to; the chosen one then to tol
            self.path_fold_tol_ = fit.path.fold_tol  # under cross-validation, what the folds' points were solved to
        self.resumed_from_ = fit.resumed_from
        self.converged_ = bool(fit.result.converged)
        # The groups of collinear columns the solver found (their Hessian has no inverse: no standard errors).
        params = [names[j] for j in np.flatnonzero(scaling.active)] + ["intercept"]
        self.collinear_groups_ = [[params[k] for k in group] for group in fit.result.singular_groups]
        self.feature_covariance_ = self._sampled_covariance(moments, rows.level_features, scaling.active.size)
        near = self._nearly_collinear(fit, self.feature_covariance_, scaling.active)
        if near:  # after the exactly collinear groups, if any
            named = [[params[k] for k in group] for group in near]
            self.collinear_groups_ += named
            warnings.warn(
                f"these columns are nearly collinear (in each group one column is almost a combination of the "
                f"others): {column_groups(named)}: their coefficients can be large, of opposite signs and with huge "
                "standard errors, and mean little on their own. Drop one column of each group, or set a penalty: "
                "alpha='auto' chooses one on held-out rows (or set l2 > 0).",
                CollinearityWarning,
                stacklevel=3,
            )
        in_near = np.zeros(scaling.active.size, dtype=bool)
        in_near[np.flatnonzero(scaling.active)[[k for group in near for k in group]]] = True
        self.history_ = fit.result.history
        self.solver_ = fit.solver
        self.alpha_, self.l1_ratio_ = fit.alpha, fit.l1_ratio
        self.n_passes_ = fit.n_passes
        self.hessian_every_ = every
        self.penalty_weights_ = scaling.penalty
        self.n_samples_fit_ = moments.n_rows
        self.loss_ = fit.result.loss
        # 6. Separation: only an unpenalized fit can separate (any penalty keeps every coefficient finite).
        self.separation_ = None if fit.alpha > 0 else find_separation(
            names=names, coef=solution.coef, std_errors=self.std_errors_[0], mean=moments.mean, scale=scaling.scale,
            active=scaling.active & ~in_near, intercept_standardized=solution.intercept_standardized, loss=fit.result.loss,
        )
        if self.separation_ is not None:
            warnings.warn(
                f"{'Perfect separation or prediction detected' if self.separation_['perfect_prediction'] else 'Separation detected'}: "
                f"{rules_text(self.separation_)}. The maximum-likelihood coefficients of "
                f"{'these features' if len(self.separation_['features']) > RULES_SHOWN else self.separation_['features']} are infinite: the values reported are where the solver stopped, and "
                "their standard errors, z, p and intervals are not meaningful, and rows with these values score near 0 "
                "or 1. Set a penalty (alpha='auto' chooses one on held-out rows, or l2 > 0), or drop or merge the "
                "feature.",
                SeparationWarning,
                stacklevel=3,
            )
        if fit.checkpoint is not None:
            fit.checkpoint.remove()  # only now: a failure before this point resumes from the checkpoint
        return self

    @staticmethod
    def _sampled_covariance(moments, level_features, n_features: int) -> np.ndarray | None:
        """The features' covariance over the sampled rows; NaN in every row and column of a level of a block of
        codes, which keeps its numeric columns' co-moments only (the features that are no level, in order)."""
        comoment = moments.sample_comoment
        if not isinstance(comoment, np.ndarray) or not moments.sample_weight_sum > 0:
            return None
        numeric = np.arange(n_features) if level_features is None or comoment.shape == (n_features,) * 2 \
            else np.flatnonzero(~np.asarray(level_features, dtype=bool))
        if comoment.shape != (numeric.size,) * 2:
            return None
        covariance = np.full((n_features, n_features), np.nan)
        covariance[np.ix_(numeric, numeric)] = comoment / moments.sample_weight_sum
        return covariance

    @staticmethod
    def _nearly_collinear(fit, covariance, active) -> list[list[int]]:
        """Groups of active columns (indices among them) of which one is a combination of the others up to noise,
        for an unpenalized fit: a charge that is a rate times the minutes gets a huge coefficient of the opposite sign
        to the minutes', which reads like separation; a monthly charge that is nearly the sum of the services'
        prices takes a sign that means nothing. Exactly collinear columns are the singular Hessian's to name.
        Judged on the columns' sampled co-moments (the Hessian at the start, up to a constant), not on the Hessian at
        the optimum, which separation degenerates too; of a block of codes, which keeps its numeric columns'
        co-moments only, those are judged."""
        if fit.alpha > 0 or covariance is None:
            return []
        among = np.flatnonzero(active)
        judged = [k for k, j in enumerate(among) if np.isfinite(covariance[j, j])]
        groups = nearly_collinear_groups(covariance[np.ix_(among[judged], among[judged])])
        return [[judged[k] for k in group] for group in groups]

    def _set_solution(self, objective, result, scaling, levels, *, zero=None) -> Coefficients:
        """Copy the solution on both scales, its covariance and standard errors, the standardization and ``n_iter_``
        into the attributes; the Hessian at the optimum takes a pass if the solver left none and p x p is
        affordable (or held by structure)."""
        hess = result.hess
        if hess is None and (scaling.active.sum() <= AUTO_NEWTON_MAX_FEATURES or levels):
            _, _, hess = objective.loss_grad_hess(result.theta)
        errors = uncertainty(hess, weight_sum=objective.weight_sum, scaling=scaling,
                             singular=bool(result.singular_groups), zero=zero)
        self.covariance_, self.std_errors_, self.intercept_std_error_ = (
            errors.covariance, errors.std_errors, errors.intercept_std_error)
        solution = coefficients(result.theta, scaling)
        self.coef_standardized_ = solution.coef_standardized[None, :]
        self.intercept_standardized_ = np.array([solution.intercept_standardized])
        self.coef_ = solution.coef[None, :]
        self.intercept_ = np.array([solution.intercept])
        self.feature_mean_ = scaling.mean
        self.feature_scale_ = scaling.scale
        self.n_iter_ = len(result.history) - 1
        return solution

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
