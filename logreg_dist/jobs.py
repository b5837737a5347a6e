"""The steps of the training, evaluation and rescoring jobs, each one library call for one flow task.

The training steps work on the rows of one read (:func:`read` returns the
handle, :class:`~logreg_dist.training.TrainingRows`) and return something
small (a dict that JSON can hold); rows stay where they were read.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import re
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from . import metrics as metrics_module
from .cluster import connect
from .exceptions import CollinearityWarning, InputError, SeparationWarning
from .model import Model, load_model
from .prepare import Preparation
from .registry import resolve
from .report import render_report
from .scoring import check_inputs, check_reason_values, check_reasons, score_to_parquet
from .storage import is_url, join, published
from .tables import count_rows
from .training import TrainingRows

__all__ = [
    "TrainOptions", "check_score_inputs", "checkpoint_path", "client_for", "evaluate", "fit", "model_headline", "prepare",
    "profile", "read", "score", "short_model", "validate", "write_model",
]


@dataclasses.dataclass(frozen=True)
class TrainOptions:
    """What the user chose for one training run (validated on construction)."""

    data: str
    target: str
    id_column: str | None = None
    features: tuple[str, ...] | None = None
    exclude: tuple[str, ...] = ()
    l2: float = 0.0
    alpha: float | str | None = None
    l1_ratio: float = 0.0
    cv: int | None = None
    n_alphas: int = 20
    alpha_rule: str = "min"
    short_model: str = "strongest"
    solver: str = "auto"
    valid_fraction: float = 0.2
    positive_label: str | None = None
    min_frequency: float | None = None
    missing: str = "impute"
    top_k: int = 3
    cost_fp: float | None = None
    cost_fn: float | None = None
    contact_share: float | None = None
    seed: int = 0
    max_iter: int = 100

    def __post_init__(self):
        checks = [
            (0 <= self.l2 < np.inf, "l2 must be a finite number >= 0"),
            (self.alpha is None or self.alpha == "auto" or (not isinstance(self.alpha, str) and 0 <= self.alpha < np.inf),
             "alpha must be a finite number >= 0 or 'auto'"),
            (self.alpha is None or self.l2 == 0, "give alpha (with l1_ratio) or l2, not both"),
            (0 <= self.l1_ratio <= 1, "l1_ratio must be in [0, 1]"),
            (self.l1_ratio == 0 or self.alpha is not None, "l1_ratio > 0 needs alpha (a number, or 'auto')"),
            (self.cv is None or self.cv >= 2, "cv must be an integer >= 2 (cv=1 leaves no rows to fit on)"),
            (self.cv is None or self.alpha == "auto", "cv chooses the penalty: it needs alpha='auto'"),
            (self.alpha != "auto" or self.cv is not None or self.valid_fraction > 0,
             "alpha='auto' chooses on held-out rows: it needs valid_fraction > 0 or cv"),
            (self.n_alphas >= 2, "n_alphas must be an integer >= 2"),
            (self.alpha_rule in ("min", "1se"), "alpha_rule must be 'min' or '1se'"),
            (self.short_model in ("strongest", "lasso"), "short_model must be 'strongest' or 'lasso'"),
            (self.short_model != "lasso" or (self.alpha == "auto" and self.l1_ratio > 0),
             "short_model='lasso' ranks by the lasso path: it needs alpha='auto' and l1_ratio > 0"),
            (self.solver in ("auto", "newton", "lbfgs"), "solver must be one of 'auto', 'newton', 'lbfgs'"),
            (0 <= self.valid_fraction < 1, "valid_fraction must be in [0, 1)"),
            (self.missing in ("impute", "error"), "missing must be 'impute' or 'error'"),
            (self.top_k >= 1, "top_k must be an integer >= 1"),
            (self.min_frequency is None or self.min_frequency > 0, "min_frequency must be > 0"),
            (self.cost_fp is None or 0 <= self.cost_fp < np.inf, "cost_fp must be a finite number >= 0"),
            (self.cost_fn is None or 0 <= self.cost_fn < np.inf, "cost_fn must be a finite number >= 0"),
            ((self.cost_fp is None) == (self.cost_fn is None), "give both cost_fp and cost_fn, or neither"),
            (self.cost_fp is None or self.cost_fn is None or self.cost_fp > 0 or self.cost_fn > 0,
             "cost_fp and cost_fn are both 0: at least one must be positive"),
            (self.contact_share is None or 0 < self.contact_share <= 1, "contact_share must be in (0, 1]"),
            (self.contact_share is None or self.cost_fp is None, "give costs or contact_share, not both"),
            (self.max_iter >= 1, "max_iter must be an integer >= 1"),
        ]
        for ok, message in checks:
            if not ok:
                # The options the check names say what to change, those given first; one it names that was left
                # at its default is shown as such (--short-model lasso refused for the default l1_ratio 0), one
                # left unset is not. Options the check does not name would bury them.
                named = [f for f in dataclasses.fields(self)
                         if f.name in _PENALTY_FIELDS and re.search(rf"\b{f.name}\b", message)]
                given = [f"{f.name}={getattr(self, f.name)!r}" for f in named if getattr(self, f.name) != f.default]
                default = [f"{f.name}={f.default!r} (the default)" for f in named
                           if getattr(self, f.name) == f.default and f.default is not None]
                raise ValueError(f"{message}; got {', '.join(given + default) or 'the defaults'}.")


#: The options a bad choice is reported with (data, target and columns are not what a check refuses).
_PENALTY_FIELDS = ("l2", "alpha", "l1_ratio", "cv", "n_alphas", "alpha_rule", "short_model", "solver", "valid_fraction",
                   "missing", "top_k", "min_frequency", "cost_fp", "cost_fn", "contact_share", "max_iter")


#: Data of at most this many rows is trained (and evaluated) in this process when no scheduler is given: starting
#: a cluster would cost more than the work.
IN_PROCESS_ROWS = 250_000


@contextlib.contextmanager
def client_for(data: str, scheduler: str | None) -> Iterator:
    """The Dask client to work on ``data`` with: one to ``scheduler``, else None (this process) for data of at most
    :data:`IN_PROCESS_ROWS` rows, else one to an embedded LocalCluster kept for the block."""
    if scheduler is None:
        rows = count_rows(data)
        if rows is not None and rows <= IN_PROCESS_ROWS:
            yield None
            return
    with connect(scheduler) as client:
        yield client


def read(options: TrainOptions, client) -> TrainingRows:
    """Read the data once and hold its training and validation rows where they were read."""
    return TrainingRows.read(options.data, client=client, id_column=options.id_column,
                             valid_fraction=options.valid_fraction, seed=options.seed)


def prepare(rows: TrainingRows, options: TrainOptions) -> dict:
    """The preparation discovered on the training rows (and the id check on every row), as a dict."""
    preparation = rows.discover(
        target=options.target,
        id_column=options.id_column,
        features=list(options.features) if options.features else None,
        exclude=list(options.exclude),
        positive_label=options.positive_label,
        min_frequency=options.min_frequency,
        missing=options.missing,
    )
    return preparation.to_dict()


def checkpoint_path(out: str) -> str:
    """Where the fit of a model written to ``out`` keeps its per-iteration checkpoint (beside ``out``; for a URL, in
    this machine's temporary folder, as a checkpoint is rewritten every iteration and only a rerun here resumes)."""
    if is_url(out):
        import hashlib
        import tempfile

        name = hashlib.sha256(out.encode()).hexdigest()[:16]
        return str(Path(tempfile.gettempdir()) / f".logreg-dist-{name}.fit-checkpoint.json")
    out_path = Path(out)
    return str(out_path.parent / f".{out_path.name}.fit-checkpoint.json")


def fit(rows: TrainingRows, options: TrainOptions, preparation: dict, checkpoint: str | None = None) -> dict:
    """The fitted model (no metrics yet), as a dict; resumes from ``checkpoint`` when it holds this problem."""
    model = rows.fit(Preparation.from_dict(preparation), l2=options.l2, alpha=options.alpha, l1_ratio=options.l1_ratio,
                     cv=options.cv, n_alphas=options.n_alphas, alpha_rule=options.alpha_rule, solver=options.solver,
                     max_iter=options.max_iter, checkpoint=checkpoint, id_column=options.id_column, seed=options.seed)
    return model.to_dict()


def _threshold(summary, options: TrainOptions) -> dict:
    """The threshold the user asked for: by costs, by a contact share, else by equal costs."""
    if options.contact_share is not None:
        return metrics_module.choose_threshold(summary, contact_share=options.contact_share)
    if options.cost_fp is not None:
        return metrics_module.choose_threshold(summary, cost_fp=options.cost_fp, cost_fn=options.cost_fn)
    return metrics_module.choose_threshold(summary, cost_fp=1.0, cost_fn=1.0)


def validate(rows: TrainingRows, options: TrainOptions, model: dict) -> dict:
    """Validation metrics and the chosen threshold: ``{"metrics": ..., "threshold": ...}``."""
    shares = (options.contact_share,) if options.contact_share else ()
    summary = rows.validate(Model.from_dict(model), contact_shares=shares)
    return {"metrics": metrics_module.validation_metrics(summary), "threshold": _threshold(summary, options)}


def short_model(rows: TrainingRows, options: TrainOptions, model: dict) -> dict:
    """Refit on the ``top_k`` strongest input columns (or the first to enter the lasso path) at the full model's
    penalty, and report its validation AUC beside the full model's."""
    full = Model.from_dict(model)
    if not np.any(full.coef):  # a penalty that zeroed every coefficient ranks nothing: any k inputs would be arbitrary
        return None
    keep = full.first_to_enter(options.top_k) if options.short_model == "lasso" else full.strongest(options.top_k)
    preparation = full.preparation.restricted(keep)
    try:
        with warnings.catch_warnings():
            # Its columns are the full model's, whose fit has warned of their separation or collinearity already:
            # the same warning again, from the short model, told a user nothing new.
            warnings.simplefilter("ignore", SeparationWarning)
            warnings.simplefilter("ignore", CollinearityWarning)
            if full.alpha is None:
                small = rows.fit(preparation, l2=options.l2, solver=options.solver)
            else:
                small = rows.fit(preparation, alpha=full.alpha, l1_ratio=full.l1_ratio, solver=options.solver)
        summary = rows.validate(small)
    finally:
        # With top_k covering every input the design is the full model's, which validation and the profile may be
        # reading now: it stays.
        if preparation != full.preparation:
            rows.release(preparation)
    metrics = metrics_module.validation_metrics(summary, max_curve_points=2)
    return {"features": keep, "ranked_by": options.short_model, "auc": metrics["auc"], "auc_ci": metrics["auc_ci"],
            "coef": dict(zip(small.features, small.coef.tolist())),
            # top_k beyond the inputs the model uses: the short model is all of them, which the user should be told
            **({"top_k": options.top_k} if len(keep) < options.top_k else {})}


def profile(rows: TrainingRows, model: dict) -> dict:
    """The training distributions of the inputs and of the score, for drift checks at rescoring."""
    return rows.profile(Model.from_dict(model))


def score(model: str, data: str, out: str, client, id_column: str | None = None, reasons: int | None = None,
          reasons_down: int | None = None, reason_values: bool = False, allow_empty: bool = False) -> dict:
    """Score ``data`` with the model at ``model`` (a model directory, or a registry / its ``latest``) into ``out``,
    on the cluster of ``client`` (None: in this process), with ``reasons`` / ``reasons_down`` reasons per row."""
    return score_to_parquet(client, load_model(resolve(model)), data, out, id_column=id_column, reasons=reasons,
                            reasons_down=reasons_down, reason_values=reason_values, allow_empty=allow_empty)


def check_score_inputs(model: str, data: str, id_column: str | None, reasons: int | None,
                       reasons_down: int | None, reason_values: bool = False) -> None:
    """Raise unless the model at ``model`` can score ``data`` (None: any data) with ``reasons`` / ``reasons_down``
    reasons per row (and their values): the checks that need no row, made before a cluster starts."""
    check_reason_values(reason_values, reasons, reasons_down)
    if data is None and reasons is None and reasons_down is None:
        return  # nothing to check without reading the model, which scoring reads anyway
    fitted, source = load_model(resolve(model)), f"the model at {model}"
    if data is None:
        check_reasons(fitted, reasons=reasons, reasons_down=reasons_down, source=source)
    else:
        check_inputs(fitted, data, id_column=id_column, reasons=reasons, reasons_down=reasons_down, source=source)


def write_model(out: str, model: dict, validation: dict | None, short: dict | None, options: TrainOptions,
                distribution: dict | None = None) -> str:
    """Write the model directory (``model.json``, ``metrics.json``, ``report.html``) whole, and return its path."""
    fitted = Model.from_dict(model)
    if validation:
        fitted.metrics, fitted.threshold = validation["metrics"], validation["threshold"]
    if short:
        short = {**short, "full_auc": fitted.metrics["auc"] if fitted.metrics else None}
        fitted.short_model = short
    fitted.score_distribution = distribution
    now = dt.datetime.now(dt.timezone.utc)
    fitted.version = now.strftime("%Y%m%dT%H%M%SZ")  # a registry replaces it with its version number
    # When it was trained stays with the model once registered.
    fitted.training = {**fitted.training, "options": dataclasses.asdict(options),
                       "trained_at": now.isoformat(timespec="seconds")}
    # A model fitted on every row (--valid-fraction 0) has no metrics.json; its report shows what it has: the
    # coefficients, the path and, where cross-validation chose the penalty, the folds' AUC.
    files = {} if not fitted.metrics else {"metrics.json": json.dumps(fitted.metrics, indent=2)}
    files["report.html"] = render_report(
        title=f"{options.target} model",
        summary=_report_header(fitted, options),
        metrics=fitted.metrics,
        coefficients=fitted.coefficient_table(),
        threshold=fitted.threshold,
        short_model=fitted.short_model,
        path=fitted.path,
    )
    fitted.save(out, extra_files=files)
    return out


def _report_header(model: Model, options: TrainOptions) -> dict:
    """The facts at the head of ``report.html``: target, rows, features, penalty, solver, fit, version."""
    metrics = model.metrics or {}
    return {
        "target": options.target,
        "positive_label": str(model.preparation.positive_label),
        "rows_train": model.training.get("rows"),
        "positives_train": model.training.get("positives"),
        "rows_valid": metrics.get("n_rows"),
        "positives_valid": metrics.get("n_positives"),
        "n_features": len(model.features),
        "features": model.features,
        "l2": model.l2,
        "alpha": model.alpha,
        "l1_ratio": model.l1_ratio,
        "penalized": model.training.get("penalized"),
        "solver": model.solver,
        "n_iter": model.n_iter,
        "converged": model.converged,
        "collinear": model.training.get("collinear"),
        "fit_seconds": model.training.get("fit_seconds"),
        "model_version": model.version,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }


def _penalty(model: Model) -> dict:
    """The penalty of a model as its headline shows it; with a path, the chosen point and how it was chosen."""
    penalty = {"alpha": model.l2 if model.alpha is None else model.alpha, "l1_ratio": model.l1_ratio,
               "nonzero": int(np.count_nonzero(model.coef))}
    if model.path:
        chosen = model.path["points"][model.path["chosen"]]
        rule = "the one-standard-error rule on the" if model.path["rule"] == "1se" else "the least"
        penalty.update(chosen_by=f"{rule} {model.path['selected_on']} deviance", n_alphas=len(model.path["points"]),
                       not_converged=sum(not (point.get("converged", True) and point.get("fold_converged", True))
                                         for point in model.path["points"]),
                       smallest=model.path["chosen"] == len(model.path["points"]) - 1,
                       largest=model.path["chosen"] == 0,
                       **{k: chosen[k] for k in ("valid_deviance", "valid_auc", "cv_deviance", "cv_auc") if k in chosen})
    return penalty


def evaluate(model_dir: str, data: str, target: str | None, scheduler: str | None) -> dict:
    """The validation metrics of a saved model on any data set with the target column (None: the model's own)."""
    model = load_model(resolve(model_dir))  # a model directory, a registry or its latest, as score reads it
    target = target or model.preparation.target
    if model.preparation.target != target:
        model.preparation = dataclasses.replace(model.preparation, target=target)
    with client_for(data, scheduler) as client:
        rows = TrainingRows.read(data, client=client, columns=None, valid_fraction=0.0)
        try:
            if target not in rows.dtypes:
                raise InputError(f"{data} has no target column {target!r}; its columns are {list(rows.dtypes)}.")
            try:
                ranked = rows.ranked_scores(model, side=0)
            except InputError as error:
                # A refusal that does not name the data (the metrics' "all positives") is told which data it means.
                if str(data) in str(error):
                    raise
                raise InputError(f"{data}: {error}") from error
        finally:
            rows.close()
    return metrics_module.validation_metrics(ranked)


def model_headline(model_dir: str) -> dict:
    """The headline of a written model: where it is, counts, fit, metrics and the coefficient table."""
    model = load_model(model_dir)
    metrics = model.metrics or {}
    headline = {k: metrics[k] for k in ("auc", "auc_ci", "log_loss", "brier", "n_rows", "n_positives", "calibration")
                if k in metrics}
    return {
        "model_dir": str(model_dir),
        "report": join(published(model_dir), "report.html") if is_url(model_dir) else str(Path(model_dir) / "report.html"),
        "target": model.preparation.target,
        "positive_label": model.preparation.positive_label,
        "rows": model.training.get("rows"),
        "positives": model.training.get("positives"),
        "n_iter": model.n_iter,
        "converged": model.converged,
        "solver": model.solver,
        "fit_seconds": model.training.get("fit_seconds"),
        "penalty": _penalty(model),
        "metrics": headline or None,
        "short_model": model.short_model,
        "threshold": model.threshold,
        "separation": model.separation,
        "coefficients": [
            {k: row[k] for k in ("rank", "feature", "coef", "std_error", "p_value", "odds_ratio", "reference",
                                 "odds_ratio_per_sd", "separated")}
            for row in model.coefficient_table()
        ],
    }
