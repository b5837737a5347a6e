"""The fitted model as a user keeps it: ``model.json``, portable, versioned, readable, never a pickle.

A :class:`Model` is the :class:`~logreg_dist.prepare.Preparation` plus the
coefficients on the original scale of the encoded features, their standard
errors, the standardization, how the fit went, and the validation results.
Scoring needs nothing but this file: ``probability = 1 / (1 + exp(-(intercept
+ X @ coef)))`` where ``X`` is the preparation applied to the rows.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import expit, ndtr, ndtri

from .exceptions import InputError
from .outputs import check_output, naming_output
from .prepare import CategoricalColumn, Preparation
from .storage import current_run, discard, filesystem, is_url, join, make_staging, move_into_place, new_run, publish

__all__ = ["FORMAT", "FORMAT_VERSION", "Model", "load_model", "make_staging", "move_into_place", "write_atomic_dir"]

FORMAT = "logreg-dist-model"
FORMAT_VERSION = 1
MODEL_FILE = "model.json"
Z_95 = float(ndtri(0.975))  # scipy.special, not scipy.stats: this module is imported on every Dask worker


@dataclass
class Model:
    """A fitted, self-describing logistic regression model (see the module docstring)."""

    preparation: Preparation
    coef: np.ndarray
    intercept: float
    std_errors: np.ndarray
    intercept_std_error: float
    feature_mean: np.ndarray
    feature_scale: np.ndarray
    coef_standardized: np.ndarray
    l2: float
    solver: str
    n_iter: int
    converged: bool
    training: dict = field(default_factory=dict)
    metrics: dict | None = None
    threshold: dict | None = None
    short_model: dict | None = None
    score_distribution: dict | None = None
    version: str | None = None
    #: With l2 = 0, the features that separate the classes (see :mod:`._separation`); None when none do.
    separation: dict | None = None
    #: The elastic net: ``alpha * (l1_ratio * |b|_1 + (1 - l1_ratio) / 2 * |b|^2)``; ``l2`` is its ridge part.
    alpha: float | None = None
    l1_ratio: float = 0.0
    #: ``alpha='auto'``: the path (one dict per penalty), the index chosen, the rule that chose it, and the
    #: standardized coefficients along it (n_alphas x n_features).
    path: dict | None = None

    @property
    def features(self) -> list[str]:
        return self.preparation.feature_names

    # -- scoring ---------------------------------------------------------------------------

    def decision_function(self, part: pd.DataFrame, *, where: str = "the data") -> np.ndarray:
        """``intercept + X @ coef`` for the rows of ``part``, shape (n_rows,): the design of
        :func:`~logreg_dist.design.design_block` scored by :func:`~logreg_dist._predict.decision`, as every
        command scores."""
        from ._predict import decision
        from .design import design_block

        X, _, _ = design_block(part, self.preparation, where=where, target=False)
        return decision(X, self.coef, self.intercept)

    def predict_proba(self, part: pd.DataFrame, *, where: str = "the data") -> np.ndarray:
        """Probability of the positive label for each row of ``part``, shape (n_rows,)."""
        return expit(self.decision_function(part, where=where))

    # -- reasons (logreg_dist.reasons) -------------------------------------------------------

    def explained(self, part: pd.DataFrame, *, top: int | None, down: int | None = None,
                  where: str = "the data") -> tuple:
        """``(decision, reasons)`` of the rows of ``part`` from one design block: the log-odds as
        :meth:`decision_function` gives them, and the :class:`~logreg_dist.reasons.Reasons` (the ``top`` inputs
        that raise each row's log-odds most against the training mean, the ``down`` that lower it most)."""
        from ._predict import decision
        from .design import design_block
        from .reasons import Contributions, check_reason_counts, joined_names, used_inputs

        check_reason_counts(top=top, down=down, used=used_inputs(self), joined=joined_names(self))
        X, _, _ = design_block(part, self.preparation, where=where, target=False)
        return decision(X, self.coef, self.intercept), Contributions.of(self).ranked(X, top=top, down=down)

    def reasons(self, part: pd.DataFrame, *, top: int | None = 3, down: int | None = None,
                where: str = "the data") -> pd.DataFrame:
        """The reason columns that ``score --reasons`` writes (``reason_1``, ``reason_1_value``,
        ``reason_1_contribution``, ..., ``reason_down_1``, ...) for the rows of ``part``, on its index."""
        _, reasons = self.explained(part, top=top, down=down, where=where)
        columns = reasons.arrays(part)
        return pd.DataFrame({name: array.to_pandas().set_axis(part.index) for name, array in columns.items()})

    def contributions(self, part: pd.DataFrame, *, where: str = "the data") -> pd.DataFrame:
        """Each input column's contribution to the log-odds of each row of ``part`` against the training mean,
        ``(n_rows, n_inputs)`` on its index; with :attr:`intercept_at_mean` they add up to
        :meth:`decision_function` (see :mod:`logreg_dist.reasons`)."""
        from .design import design_block
        from .reasons import Contributions

        X, _, _ = design_block(part, self.preparation, where=where, target=False)
        split = Contributions.of(self)
        return pd.DataFrame(split.matrix(X), columns=split.inputs, index=part.index)

    @property
    def intercept_at_mean(self) -> float:
        """The log-odds of a row at the training mean of every encoded feature: ``intercept + coef @ mean``."""
        return float(self.intercept) + float(np.asarray(self.coef) @ np.asarray(self.feature_mean))

    # -- interpretation --------------------------------------------------------------------

    def coefficient_table(self) -> list[dict]:
        """Per feature, ranked by |standardized coefficient|: coefficient, standard error, z, p,
        95% CI, odds ratio per unit and per standard deviation (with their CIs); a categorical level's
        ``reference`` is its column's reference level, which its per-unit odds ratio compares it with. Standard errors come
        from the Hessian at the optimum; with ``l2 > 0`` they are approximate. A feature that separates the
        classes (``separated``; every feature after a perfect prediction) has none of them, and ranks after
        the others: its coefficient is only where the solver stopped. Without a penalty, the columns of a
        (nearly) collinear group (``training.collinear``) rank after the others as well."""
        separated = self._separated()
        # A categorical level's coefficient compares it with its column's reference level: its odds ratio is per unit
        # (the level against the reference), where a numeric feature's is per standard deviation.
        references = {f"{c.name}={level}": f"{c.name}={c.reference}" for c in self.preparation.columns
                      if isinstance(c, CategoricalColumn) for level in c.levels}
        # Unpenalized, a nearly collinear group's coefficients are huge and of opposite signs: they rank last too.
        unpenalized = not self.l2 and not self.alpha
        collinear = {f for group in (self.training or {}).get("collinear", []) for f in group} if unpenalized else set()
        last = np.array([feature in separated or feature in collinear for feature in self.features], dtype=bool)
        order = np.lexsort((-np.abs(self.coef_standardized), last))  # by |standardized coefficient| within each
        rows = []
        for rank, j in enumerate(order, start=1):
            coef, se, scale = float(self.coef[j]), float(self.std_errors[j]), float(self.feature_scale[j])
            defined = math.isfinite(se) and se > 0 and self.features[j] not in separated
            z = coef / se if defined else None
            low, high = (coef - Z_95 * se, coef + Z_95 * se) if defined else (None, None)
            rows.append(
                {
                    "rank": rank,
                    "feature": self.features[j],
                    "coef": coef,
                    "std_error": se if defined else None,
                    "z": z,
                    "p_value": float(2 * ndtr(-abs(z))) if defined else None,
                    "ci_low": low,
                    "ci_high": high,
                    "coef_standardized": float(self.coef_standardized[j]),
                    "odds_ratio": _exp(coef),
                    "odds_ratio_ci": [_exp(low), _exp(high)] if defined else None,
                    "reference": references.get(self.features[j]),  # a level's: its column's reference level
                    "odds_ratio_per_sd": _exp(coef * scale),
                    "odds_ratio_per_sd_ci": [_exp(low * scale), _exp(high * scale)] if defined else None,
                    "separated": self.features[j] in separated,
                }
            )
        return rows

    def _separated(self) -> set[str]:
        """The features whose standard errors mean nothing: the separating ones, or all after a perfect prediction."""
        if not self.separation:
            return set()
        return set(self.features) if self.separation.get("perfect_prediction") else set(self.separation["features"])

    def strongest(self, k: int) -> list[str]:
        """The ``k`` raw input columns whose encoded features rank highest by |standardized coefficient|; separated
        features rank last, as their coefficients are only where the solver stopped, and so do the columns of a
        collinear group of an unpenalized fit."""
        return self._first_inputs([row["feature"] for row in self.coefficient_table()], k)

    def first_to_enter(self, k: int) -> list[str]:
        """The ``k`` raw input columns whose encoded features enter the lasso path first (largest penalty first; of
        features entering at one penalty, the larger |standardized coefficient| first)."""
        if not self.path or float(self.l1_ratio) == 0.0:
            raise InputError("the lasso ranking needs a model fitted with alpha='auto' and l1_ratio > 0.")
        coefs = np.asarray(self.path["coef_standardized"], dtype=float)
        entered = [(next((i for i in range(len(coefs)) if coefs[i, j] != 0.0), len(coefs)), -abs(coefs[-1, j]), j)
                   for j in range(coefs.shape[1])]
        return self._first_inputs([self.features[j] for _, _, j in sorted(entered)], k)

    def _first_inputs(self, features: list[str], k: int) -> list[str]:
        chosen: list[str] = []
        for feature in features:
            name = self._input_of(feature)
            if name not in chosen:
                chosen.append(name)
            if len(chosen) == k:
                break
        return chosen

    def _input_of(self, feature: str) -> str:
        for column in self.preparation.columns:
            if feature in column.encoded:
                return column.name
        raise KeyError(feature)

    # -- storage ---------------------------------------------------------------------------

    def to_dict(self) -> dict:
        def floats(values):
            return [float(v) if math.isfinite(v) else None for v in np.asarray(values, dtype=float)]

        separated = self._separated()
        std_errors = [np.nan if name in separated else se for name, se in zip(self.features, self.std_errors)]
        perfect = bool(self.separation and self.separation.get("perfect_prediction"))

        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "version": self.version,
            "target": self.preparation.target,
            "positive_label": _plain(self.preparation.positive_label),
            "features": self.features,
            "coef": floats(self.coef),
            "std_errors": floats(std_errors),
            "intercept": float(self.intercept),
            "intercept_std_error": None if perfect else floats([self.intercept_std_error])[0],
            "scaler": {"mean": floats(self.feature_mean), "scale": floats(self.feature_scale)},
            "coef_standardized": floats(self.coef_standardized),
            "l2": self.l2,
            "solver": self.solver,
            "n_iter": self.n_iter,
            "converged": self.converged,
            "training": self.training,
            "preparation": self.preparation.to_dict(),
            "metrics": self.metrics,
            "threshold": self.threshold,
            "short_model": self.short_model,
            "score_distribution": self.score_distribution,
            "separation": self.separation,
            "alpha": self.alpha,
            "l1_ratio": self.l1_ratio,
            "path": self.path,
        }

    @classmethod
    def from_dict(cls, data: dict, *, source: str = "model") -> Model:
        if data.get("format") != FORMAT:
            raise InputError(f"{source} is not a logreg-dist model (format {data.get('format')!r}, expected {FORMAT!r}).")
        if data.get("format_version") != FORMAT_VERSION:
            raise InputError(
                f"{source} has model format version {data.get('format_version')!r}; this logreg-dist reads version "
                f"{FORMAT_VERSION}."
            )
        _check_numbers(data, source)
        try:
            preparation = Preparation.from_dict(data["preparation"])
            arrays = {key: np.array(data[key], dtype=float) for key in ("coef", "std_errors", "coef_standardized")}
            model = cls(
                preparation=preparation,
                coef=arrays["coef"],
                intercept=float(data["intercept"]),
                std_errors=arrays["std_errors"],
                intercept_std_error=float("nan") if data["intercept_std_error"] is None else data["intercept_std_error"],
                feature_mean=np.array(data["scaler"]["mean"], dtype=float),
                feature_scale=np.array(data["scaler"]["scale"], dtype=float),
                coef_standardized=arrays["coef_standardized"],
                l2=float(data["l2"]),
                solver=data["solver"],
                n_iter=int(data["n_iter"]),
                converged=bool(data["converged"]),
                training=data.get("training") or {},
                metrics=data.get("metrics"),
                threshold=data.get("threshold"),
                short_model=data.get("short_model"),
                score_distribution=data.get("score_distribution"),
                version=data.get("version"),
                separation=data.get("separation"),
                alpha=None if data.get("alpha") is None else float(data["alpha"]),
                l1_ratio=float(data.get("l1_ratio") or 0.0),
                path=data.get("path"),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise InputError(f"{source} is corrupt: {type(error).__name__}: {error}.") from error
        if model.features != data["features"] or len(model.coef) != len(model.features):
            raise InputError(f"{source} is corrupt: its features do not match its preparation and coefficients.")
        return model

    def save(self, directory: str | os.PathLike, *, extra_files: dict[str, str] | None = None,
             storage_options: dict | None = None) -> Path | str:
        """Write ``model.json`` (and ``extra_files``: name -> text) into ``directory`` (a path or an fsspec URL,
        opened with ``storage_options``), whole or not at all."""
        files = {MODEL_FILE: json.dumps(self.to_dict(), indent=2, allow_nan=False), **(extra_files or {})}
        return write_atomic_dir(directory, files, storage_options=storage_options)


def _plain(value):
    return value.item() if hasattr(value, "item") else value


def _check_numbers(data: dict, source: str) -> None:
    """Raise, naming the field, unless the coefficients and intercept are finite numbers and ``features``,
    ``coef``, ``std_errors``, the scaler and ``coef_standardized`` have one entry per feature.

    A null coefficient would score every row NaN (and put all of them in one
    decile) without an error; a short list would pair numbers with the wrong
    features. Null is allowed where it means "undefined" (standard errors, the
    scaler of a constant column), never in what scoring multiplies by.
    """
    features = data.get("features")
    if not isinstance(features, list) or not all(isinstance(name, str) for name in features):
        raise InputError(f"{source} is corrupt: 'features' must be a list of column names; got {_brief(features)}.")
    scaler = data.get("scaler") if isinstance(data.get("scaler"), dict) else {}
    fields = {
        "coef": (data.get("coef"), False),
        "std_errors": (data.get("std_errors"), True),
        "scaler.mean": (scaler.get("mean"), True),
        "scaler.scale": (scaler.get("scale"), True),
        "coef_standardized": (data.get("coef_standardized"), True),
    }
    for name, (values, nullable) in fields.items():
        if not isinstance(values, list) or len(values) != len(features):
            size = f"{len(values)} entries" if isinstance(values, list) else _brief(values)
            raise InputError(
                f"{source} is corrupt: '{name}' must hold one number per feature ({len(features)}); got {size}."
            )
        for j, value in enumerate(values):
            if not (value is None and nullable) and not _finite(value):
                raise InputError(
                    f"{source} is corrupt: '{name}'[{j}] (feature {features[j]!r}) is {_brief(value)}; "
                    f"it must be a finite number{' or null' if nullable else ''}."
                )
    if not _finite(data.get("intercept")):
        raise InputError(f"{source} is corrupt: 'intercept' is {_brief(data.get('intercept'))}; it must be a finite number.")


def _finite(value) -> bool:
    """A JSON number (not a bool, not NaN or infinity, which Python's json reads as numbers)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _brief(value) -> str:
    """``value`` as JSON, cut to 40 characters: for error messages."""
    text = json.dumps(value, allow_nan=True, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


def _exp(value: float) -> float | None:
    """``exp(value)``, or None where it overflows a float (an odds ratio beyond 1e308 is not a number to print)."""
    return math.exp(value) if value < 709.0 else None


def load_model(path: str | os.PathLike, *, storage_options: dict | None = None) -> Model:
    """Read a model from a model directory (or its ``model.json``); at an fsspec URL (opened with
    ``storage_options``), the directory's pointer is followed (see :mod:`logreg_dist.storage`)."""
    if is_url(path):
        file, text = _read_model_url(str(path), storage_options)
    else:
        path = Path(path)
        file = path / MODEL_FILE if path.is_dir() else path
        if not file.exists():
            if path.is_dir() and any(path.glob("*.parquet")):
                raise InputError(f"{path} holds Parquet data, not a model; {SWAPPED}")
            raise InputError(f"no model at {path}: {file} does not exist.")
        text = file.read_bytes()
    if text[:4] == b"PAR1":
        raise InputError(f"{file} is Parquet data, not a model; {SWAPPED}")
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InputError(f"model file {file} is corrupt: not valid JSON ({error}).") from error
    if not isinstance(data, dict):
        raise InputError(f"model file {file} is corrupt: expected a JSON object.")
    return Model.from_dict(data, source=f"model file {file}")


#: What a user who gave data for the model is told: the commands take the model first.
SWAPPED = ("a model is a directory with model.json, or a registry (score and evaluate take the model first, then "
            "the data).")


def _read_model_url(url: str, storage_options: dict | None) -> tuple[str, bytes]:
    """``(URL of the model file, its bytes)`` for the model directory (its pointer followed) or model file at ``url``."""
    fs, path = filesystem(url, storage_options)
    if not fs.isfile(path):
        path = join(current_run(fs, path) or path, MODEL_FILE)
    try:
        return fs.unstrip_protocol(path), fs.cat_file(path)
    except FileNotFoundError as error:
        raise InputError(f"no model at {url}: {fs.unstrip_protocol(path)} does not exist.") from error


def write_atomic_dir(directory: str | os.PathLike, files: dict[str, str | bytes], *, kind: str = "model",
                     storage_options: dict | None = None) -> Path | str:
    """Create ``directory`` with ``files`` in a staging folder beside it, then move it into place.

    ``directory`` must be missing, empty or an earlier output of ``kind``
    (:func:`~logreg_dist.outputs.check_output`). An existing directory is
    replaced only once the new one is complete; a failure leaves it untouched
    and removes the staging folder. At an fsspec URL (opened with
    ``storage_options``) the files go under a run-specific prefix, published
    by the pointer object (:mod:`logreg_dist.storage`).
    """
    if is_url(directory):
        return _write_url_dir(str(directory), files, kind=kind, storage_options=storage_options)
    directory = check_output(directory, kind=kind)
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = make_staging(directory)
    try:
        for name, content in files.items():
            mode = "wb" if isinstance(content, bytes) else "w"
            with open(staging / name, mode) as handle:
                handle.write(content)
        move_into_place(staging, directory)
    except BaseException as error:
        shutil.rmtree(staging, ignore_errors=True)
        naming_output(error, out=directory)
        raise
    return directory


def _write_url_dir(url: str, files: dict[str, str | bytes], *, kind: str, storage_options: dict | None) -> str:
    """:func:`write_atomic_dir` on object storage: the files under a new run prefix, then the pointer."""
    check_output(url, kind=kind, storage_options=storage_options)
    fs, path = filesystem(url, storage_options)
    run = new_run(fs, path)
    try:
        for name, content in files.items():
            fs.pipe_file(join(run, name), content.encode() if isinstance(content, str) else content)
    except BaseException:
        discard(fs, run)
        raise
    # Not inside the try: a pointer write that failed after the store took it must not lose the run it names.
    publish(fs, path, run)
    return url
