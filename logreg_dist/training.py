"""The training path: one read of the data, held where it was read, and every step a pass over it.

:meth:`TrainingRows.read` reads the Parquet once and splits each partition
into training and validation rows by the hashed id; both sides stay in memory
where they were read, on the workers of a Dask cluster, or in this process for
small data (the same kernels, engine protocol and answer). Then, each a pass
over those partitions and never a second read:

1. :meth:`TrainingRows.discover`: column stats, levels, labels, the id
   check and a sample of the numeric columns for the profile's bins;
2. :meth:`TrainingRows.fit`: the design of each partition built where it
   lies (:func:`~logreg_dist.design.design_block`: views of the numeric
   columns, no float64 copy) and fitted by the estimator's engine;
3. :meth:`TrainingRows.validate`: the held-out rows scored by
   :func:`~logreg_dist._predict.decision`, the scoring every command uses,
   then the exact ranked scores behind the metrics and the threshold;
4. :meth:`TrainingRows.profile`: the training rows scored once; score
   quantiles and counts per bin of every input from those scores.
"""

from __future__ import annotations

import functools
import hashlib
import threading
import time
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from . import metrics
from ._data import partition_where
from ._engine import DaskEngine, LocalEngine
from ._predict import decision, scored_loaded_block
from .design import design_block
from .drift import SCORE, Profile, bin_labels, profile_partition, score_counts
from .exceptions import InputError, SingularHessianError
from .model import Model
from .prepare import NumericColumn, PartitionStats, Preparation, discover, plan_columns, summarize_partition, with_collinear_fills
from .reasons import joined_inputs
from .tables import read_table

__all__ = ["TrainingRows", "discover_preparation", "fit_model", "split"]

#: The key of the hash that splits rows into training and validation; fixed, so a customer always lands on the same side.
SPLIT_HASH_KEY = "logreg-dist-split"

#: The numeric columns' profile bins come from a sample of about this many training rows (every k-th row of each
#: partition); the counts per bin are exact. A bin edge is a drift check's boundary, not a statistic we report.
PROFILE_SAMPLE_ROWS = 50_000

#: In this process, a design of at most this many values (one per row and feature, a level being a feature) is
#: held as one row-major float64 array: the kernels then work with NumPy alone (no compiled loops to start, no
#: sums by code), at a memory cost small data can afford.
DENSE_DESIGN_CELLS = 25_000_000

#: Deciles of the training score (and of each numeric input) bound the drift profile's bins.
PROFILE_LEVELS = np.linspace(0.1, 0.9, 9)


def _hash_unit(values: pd.Series | pd.DataFrame, seed: int) -> np.ndarray:
    # pandas hashes numbers without its key, so the seed enters as a 64-bit mask and one more mixing round.
    mask = int.from_bytes(hashlib.blake2b(f"{SPLIT_HASH_KEY}-{seed}".encode(), digest_size=8).digest(), "little")
    hashed = pd.util.hash_pandas_object(values, index=False).to_numpy() ^ np.uint64(mask)
    hashed = pd.util.hash_array(hashed)
    return (hashed >> np.uint64(11)).astype(np.float64) / 2.0**53


def _validation_rows(part: pd.DataFrame, id_column: str | None, fraction: float, seed: int) -> np.ndarray:
    keys = part[id_column] if id_column else part
    return _hash_unit(keys, seed) < fraction


def split(frame, *, id_column: str | None, valid_fraction: float, seed: int = 0):
    """``(train, valid)``: rows whose hashed id falls below ``valid_fraction`` are validation.

    The hash depends only on the id (or, without an id column, on the whole
    row), so a customer lands on the same side whatever the partitioning.
    Each side is one operation per partition (hash, then keep its rows), not
    a frame indexed by a separately computed mask: Dask may read a projected
    mask in fewer, merged partitions than the frame, and the two would no
    longer line up.
    """
    if not 0.0 <= valid_fraction < 1.0:
        raise ValueError(f"valid_fraction must be in [0, 1); got {valid_fraction!r}.")
    if valid_fraction == 0.0:
        return frame, None
    sides = [
        frame.map_partitions(_side, id_column, valid_fraction, seed, validation, meta=frame._meta)
        for validation in (False, True)
    ]
    return sides[0], sides[1]


def _side(part: pd.DataFrame, id_column: str | None, fraction: float, seed: int, validation: bool) -> pd.DataFrame:
    return _split_partition(part, id_column=id_column, valid_fraction=fraction, seed=seed)[int(validation)]


# -- the rows of one read ----------------------------------------------------------------


def _split_partition(part: pd.DataFrame, *, id_column: str | None, valid_fraction: float, seed: int) -> tuple:
    """``(training rows, validation rows or None)`` of one partition."""
    if valid_fraction == 0.0:
        return part, None
    held_out = _validation_rows(part, id_column, valid_fraction, seed)
    return part[~held_out], part[held_out]


def _row_counts(train: pd.DataFrame, valid: pd.DataFrame | None) -> np.ndarray:
    return np.array([len(train), 0 if valid is None else len(valid)], dtype=np.int64)


class TrainingRows:
    """The training and validation rows of one read, held where they were read (see the module docstring).

    Each block of :attr:`parts` is ``(training rows, validation rows or None)``
    of one partition, as pandas read it. Designs are built from them where
    they lie, and released by :meth:`close`.
    """

    def __init__(self, parts, *, dtypes: dict, source: str, valid_fraction: float, blas_threads: int | None = None):
        from threadpoolctl import threadpool_limits

        # The rows of one process are passed in one thread. BLAS threads that wait for work by spinning took a
        # fit several times longer whenever the cores were busy with anything else (Dask's workers get one too).
        self._blas = None if blas_threads is None else threadpool_limits(blas_threads, user_api="blas")
        self.parts = parts
        self.dtypes = dtypes
        self.source = source
        self.valid_fraction = valid_fraction
        self.n_train, self.n_valid = (int(n) for n in parts.map_reduce(_row_counts))
        self._numeric_edges: dict[str, list[float]] = {}
        self._designs: dict = {}
        self._designs_lock = threading.Lock()  # validation, the short model and the profile may run side by side

    @classmethod
    def read(cls, data: str, *, client=None, id_column: str | None = None, valid_fraction: float = 0.2,
             seed: int = 0, columns: list[str] | None = None) -> TrainingRows:
        """Read ``data`` (a Parquet file, folder or glob) once and split it: on the cluster of ``client`` (each
        partition kept by the worker that read it, then spread evenly), or in this process when ``client`` is None."""
        frame = read_table(data, columns=columns)
        if id_column and id_column not in frame.columns:
            raise InputError(f"the id column {id_column!r} is not a column of {data}; its columns are {list(frame.columns)}.")
        return cls.from_frame(frame, client=client, id_column=id_column, valid_fraction=valid_fraction, seed=seed,
                              source=str(data))

    @classmethod
    def from_frame(cls, frame, *, client=None, id_column: str | None = None, valid_fraction: float = 0.0,
                   seed: int = 0, source: str = "the data") -> TrainingRows:
        """:meth:`read` of a lazy Dask DataFrame."""
        import dask
        from dask import delayed

        if not 0.0 <= valid_fraction < 1.0:
            raise ValueError(f"valid_fraction must be in [0, 1); got {valid_fraction!r}.")
        split_part = functools.partial(_split_partition, id_column=id_column, valid_fraction=valid_fraction, seed=seed)
        blocks = [delayed(split_part, pure=True)(part) for part in frame.to_delayed()]
        dtypes = dict(frame.dtypes.items())
        if client is None:
            parts = LocalEngine(dask.compute(*blocks, scheduler="sync"))
            return cls(parts, dtypes=dtypes, source=source, valid_fraction=valid_fraction, blas_threads=1)
        parts = DaskEngine(client, blocks)
        parts.wait()
        parts.balance()  # a pass lasts as long as its busiest worker; every later block follows these
        return cls(parts, dtypes=dtypes, source=source, valid_fraction=valid_fraction)

    def close(self) -> None:
        """Release every design and the rows (on a cluster: from the workers' memory)."""
        for engines in self._designs.values():
            for engine in engines.values():
                engine.close()
        self._designs.clear()
        self.parts.close()
        if self._blas is not None:
            self._blas.restore_original_limits()
            self._blas = None

    # 1) discovery --------------------------------------------------------------------------

    def discover(self, *, target: str, id_column: str | None = None, features: list[str] | None = None,
                 exclude=(), positive_label=None, min_frequency: float | None = None,
                 missing: str = "impute") -> Preparation:
        """One pass over the training rows: which columns, levels, means and labels; and over every row, that
        each id appears once."""
        numeric, text = plan_columns(self.dtypes, target=target, id_column=id_column, features=features,
                                     exclude=exclude)
        stride = max(1, self.n_train // PROFILE_SAMPLE_ROWS)
        found = self.parts.map_reduce(_discovery, finish=_settle, numeric=numeric, text=text, target=target,
                                      id_column=id_column, stride=stride)
        if found.duplicated is not None and len(found.duplicated):
            self._refuse_duplicates(id_column, found.duplicated)
        if sum(found.summary.labels.values()) == 0:
            raise InputError(f"{self.source} has no rows to train on.")
        self._numeric_edges = found.edges
        order = [c for c in self.dtypes if c in set(numeric) | set(text)]
        return discover(found.summary, numeric=numeric, text=text, target=target, id_column=id_column,
                        positive_label=positive_label, min_frequency=min_frequency, missing=missing, order=order)

    def _refuse_duplicates(self, id_column: str, hashes: np.ndarray) -> None:
        """Raise naming a few duplicated ids (a second pass, on this error path only; equal 64-bit hashes of
        different ids are told apart here)."""
        found = self.parts.map_reduce(_ids_with_hashes, id_column=id_column, hashes=hashes)
        counts = pd.Series(np.concatenate(found.arrays)).value_counts()
        duplicated = counts[counts > 1].index.tolist()[:3]
        if duplicated:
            raise InputError(
                f"id column {id_column!r} in {self.source} has duplicates (such as {duplicated}); "
                "each customer must appear once."
            )

    # 2) the fit ----------------------------------------------------------------------------

    def designs(self, preparation: Preparation, side: int):
        """The engine of ``(X, y, None)`` blocks of one side (0 training, 1 validation), built where the rows lie
        once per preparation."""
        key = preparation.design_key()
        with self._designs_lock:
            engines = self._designs.setdefault(key, {})
            if side not in engines:
                engines[side] = self.parts.derive(_design_side, preparation=preparation, side=side,
                                                  source=self.source, dense=self._dense(preparation, side))
            return engines[side]

    def _dense(self, preparation: Preparation, side: int) -> bool:
        """Whether the design of ``side`` is held as one row-major float64 array, one column per level included:
        in this process, when small enough that BLAS on the indicators beats summing by code (on few rows the
        sums by code cost mostly their fixed overhead per column)."""
        rows = self.n_train if side == 0 else self.n_valid
        return isinstance(self.parts, LocalEngine) and rows * len(preparation.feature_names) <= DENSE_DESIGN_CELLS

    def release(self, preparation: Preparation) -> None:
        """Drop the designs of ``preparation`` (the rows stay)."""
        with self._designs_lock:
            released = self._designs.pop(preparation.design_key(), {})
        for engine in released.values():
            engine.close()

    def fit(self, preparation: Preparation, *, l2: float = 0.0, alpha=None, l1_ratio: float = 0.0,
            cv: int | None = None, n_alphas: int = 20, alpha_rule: str = "min", solver: str = "auto",
            tol: float = 1e-12, max_iter: int = 100, checkpoint: str | None = None, id_column: str | None = None,
            seed: int = 0) -> Model:
        """The model fitted on the training rows; with ``checkpoint`` (a file path) the fit saves its iterate after
        every iteration and a rerun of the same problem resumes from it. ``alpha='auto'`` chooses the penalty on
        the validation rows, or by ``cv``-fold cross-validation with folds by the hashed ``id_column`` (the whole
        row without one)."""
        from ._estimator import LogisticRegression  # here, not at the top: workers import this module

        started = time.perf_counter()
        estimator = LogisticRegression(l2=l2, alpha=alpha, l1_ratio=l1_ratio, n_folds=cv, n_alphas=n_alphas,
                                       alpha_rule=alpha_rule, solver=solver, tol=tol, max_iter=max_iter,
                                       checkpoint=checkpoint)
        levels = [] if self._dense(preparation, 0) else [
            len(c.levels) for c in preparation.columns if not isinstance(c, NumericColumn)]
        design = self.designs(preparation, 0)
        validation = folds = None
        if alpha == "auto" and cv is None:
            if self.valid_fraction == 0.0:
                raise InputError(f"alpha='auto' chooses the penalty on held-out rows, and {self.source} was read "
                                 "without a validation split: set a validation fraction > 0, or cv=k.")
            validation = self.designs(preparation, 1)
        elif alpha == "auto":
            folds = design.derive(_with_folds, self.parts, id_column=id_column, n_folds=int(cv), seed=seed)
        # A categorical column's levels are penalized on their own scale (see Standardization), dense or as codes.
        level_features = np.concatenate([np.full(len(c.encoded), not isinstance(c, NumericColumn))
                                         for c in preparation.columns]) if preparation.columns else None
        try:
            estimator.fit_loaded(design, feature_names=preparation.feature_names, n_rows=self.n_train,
                                 levels=levels, level_features=level_features, validation=validation, folds=folds)
        except SingularHessianError as error:
            raise SingularHessianError(f"{error}{_many_levels_hint(preparation)}") from error
        finally:
            if folds is not None:
                folds.close()
        seconds = time.perf_counter() - started
        path = None
        if estimator.path_ is not None:
            path = {
                "points": [{k: _finite_or_none(v) for k, v in point.items()} for point in estimator.path_],
                "chosen": int(estimator.path_chosen_),
                "rule": estimator.alpha_rule_,
                "selected_on": "validation" if cv is None else f"{int(cv)}-fold cross-validation",
                "point_tol": float(estimator.path_tol_),
                **({} if cv is None else {"fold_tol": float(estimator.path_fold_tol_)}),
                "coef_standardized": estimator.coef_path_standardized_.tolist(),
            }
        # Gaps at scoring in a column collinear with others are filled from them (see with_collinear_fills), and
        # reasons join collinear columns into one (see reasons.joined_inputs).
        filled = with_collinear_fills(preparation, estimator.feature_mean_, estimator.feature_covariance_)
        joined = joined_inputs(filled, estimator.collinear_groups_)
        return Model(
            preparation=filled,
            coef=estimator.coef_[0],
            intercept=float(estimator.intercept_[0]),
            std_errors=estimator.std_errors_[0],
            intercept_std_error=float(estimator.intercept_std_error_[0]),
            feature_mean=estimator.feature_mean_,
            feature_scale=estimator.feature_scale_,
            coef_standardized=estimator.coef_standardized_[0],
            l2=float(estimator.alpha_ * (1.0 - estimator.l1_ratio_)),
            solver=estimator.solver_,
            n_iter=int(estimator.n_iter_),
            converged=bool(estimator.converged_),
            separation=estimator.separation_,
            alpha=None if alpha is None else float(estimator.alpha_),
            l1_ratio=float(estimator.l1_ratio_),
            path=path,
            training={
                "rows": int(estimator.n_samples_fit_),
                "positives": preparation.label_counts.get("positive"),
                "passes": int(estimator.n_passes_),
                "fit_seconds": round(seconds, 3),
                "history": estimator.history_,
                "resumed_from": estimator.resumed_from_,
                # What a penalty weighs where the model has levels, for a reader who compares with another tool.
                **({"penalized": "the standardized coefficients of numeric columns and each categorical level's own "
                                 "coefficient (its shift in log-odds from the reference level)"}
                   if estimator.alpha_ > 0 and level_features is not None and level_features.any() else {}),
                **({"collinear": estimator.collinear_groups_} if estimator.collinear_groups_ else {}),
                **({"joined_inputs": joined} if joined else {}),
            },
        )

    # 3) validation -------------------------------------------------------------------------

    def validate(self, model: Model, *, contact_shares=()) -> metrics.RankedScores:
        """The ranked scores of the validation rows scored by ``model`` (exact metrics and thresholds follow)."""
        if self.valid_fraction == 0.0:
            raise InputError(f"{self.source} was read without a validation split (valid_fraction=0).")
        try:
            return self.ranked_scores(model, side=1, contact_shares=contact_shares)
        except InputError as error:
            raise InputError(f"the validation split of {self.source}: {error}") from error

    def ranked_scores(self, model: Model, *, side: int, contact_shares=()) -> metrics.RankedScores:
        """The ranked scores of one side's rows (0 training, or every row when read without a split; 1 validation)
        scored by ``model``."""
        score = dict(feature_names=model.features, coef=model.coef, intercept=model.intercept, classes=(0.0, 1.0))
        with self._designs_lock:
            held = self._designs.get(model.preparation.design_key(), {}).get(side)
        if held is not None:  # the path's validation rows: their design is there already
            scored = held.derive(scored_loaded_block, **score)
        else:  # the design is made, scored and dropped in one task: a side scored once keeps no design
            scored = self.parts.derive(_scored_side, preparation=model.preparation, side=side, source=self.source,
                                       **score)
        try:
            prep = model.preparation
            labels = tuple(f"{prep.target} = {label!r}" for label in (prep.negative_label, prep.positive_label))
            return metrics.rank_scores(scored, contact_shares=contact_shares, labels=labels)
        finally:
            scored.close()

    # 4) the training profile ---------------------------------------------------------------

    def profile(self, model: Model) -> dict:
        """The training distributions of the inputs and of the score, for drift checks at rescoring: bin edges at
        the deciles (the score's exact, the inputs' from the discovery sample) and exact counts per bin.

        One pass over the rows and the training design (the fit's, or made here and kept like it): each block
        counts its inputs per bin and scores its rows; the scores are gathered up the tree, and at its root (on the
        cluster) become the score's deciles and the counts per score bin. No score is held between passes."""
        edges = {
            column.name: np.unique(self._numeric_edges.get(column.name, [])).tolist()
            for column in model.preparation.columns if isinstance(column, NumericColumn)
        }
        profile, edges[SCORE] = self.parts.map_reduce(
            _profile_block, self.designs(model.preparation, 0), finish=_profile_scores, preparation=model.preparation,
            edges=edges, coef=model.coef, intercept=model.intercept)
        return {**profile.to_dict(edges), "labels": bin_labels(model.preparation, edges)}


# -- block functions (run where the rows lie) ---------------------------------------------


def _many_levels_hint(preparation: Preparation) -> str:
    """What a singular Hessian most often comes from in the data users bring, when it has categorical columns: rare
    levels whose rows all have one label (with rare positives, most levels of a column with many)."""
    columns = sorted((c for c in preparation.columns if not isinstance(c, NumericColumn)), key=lambda c: -len(c.levels))
    if not columns:
        return ""
    named = ", ".join(f"{c.name!r} ({len(c.levels) + 1:,} levels)" for c in columns[:3])
    return (f" The categorical columns with the most levels are {named}: a level whose training rows all have one "
            "label has no finite coefficient without a penalty, and merging rare levels (min_frequency, e.g. 0.001) "
            "also helps.")


def _finite_or_none(value):
    """A path entry as JSON holds it: NaN (an AUC of rows of one label) as None."""
    return None if isinstance(value, float) and not np.isfinite(value) else value


def _with_folds(design: tuple, block: tuple, *, id_column: str | None, n_folds: int, seed: int, partition: int,
                n_partitions: int) -> tuple:
    """``(X, y, w, fold)`` of one partition's training rows in fold order (:func:`~._path.by_fold`): the fold from a
    hash of the id (the whole row without one), so a customer's fold does not depend on the partitioning."""
    from ._path import by_fold, hashed_folds

    train = block[0]
    return by_fold(*design, hashed_folds(train[id_column] if id_column else train, n_folds, seed))


def _design_side(block: tuple, *, preparation: Preparation, side: int, source: str, dense: bool, partition: int,
                 n_partitions: int) -> tuple:
    """The design ``(X, y, None)`` of the training (0) or validation (1) rows of one partition (``dense``: ``X`` as
    one row-major float64 array)."""
    where = partition_where(partition, n_partitions, source if side == 0 else None)
    X, y, w = design_block(block[side], preparation, where=where)
    if dense:
        X = np.ascontiguousarray(np.asarray(X, dtype=np.float64))
    return X, y, w


def _scored_side(block: tuple, *, preparation: Preparation, side: int, source: str, partition: int,
                 n_partitions: int, **score) -> tuple:
    """``(probability, y)`` of the training (0) or validation (1) rows of one partition, from a design made here."""
    design = _design_side(block, preparation=preparation, side=side, source=source, dense=False, partition=partition,
                          n_partitions=n_partitions)
    return scored_loaded_block(design, partition=partition, n_partitions=n_partitions, **score)


def _profile_block(train: pd.DataFrame, valid, X, y, w, *, preparation: Preparation, edges: dict, coef,
                   intercept) -> _Profiled:
    """One partition's counts per input bin and the probabilities of its training rows."""
    from scipy.special import expit

    return _Profiled(profile_partition(train, None, preparation=preparation, edges=edges),
                     _Values([expit(decision(X, coef, intercept))]))


@dataclass
class _Values:
    """Arrays of values gathered up the tree (their order does not matter)."""

    arrays: list = field(default_factory=list)

    def __add__(self, other: _Values) -> _Values:
        return _Values(self.arrays + other.arrays)


@dataclass
class _Profiled:
    """The training profile's sums: counts per input bin, and the scores gathered for the root."""

    profile: Profile
    scores: _Values

    def __add__(self, other: _Profiled) -> _Profiled:
        return _Profiled(self.profile + other.profile, self.scores + other.scores)


def _profile_scores(total: _Profiled) -> tuple[Profile, list[float]]:
    """At the root of the profile's pass: the scores' exact deciles (the score's bin edges) and the counts per score
    bin; only these travel to the driver."""
    scores = np.concatenate(total.scores.arrays) if total.scores.arrays else np.empty(0)
    cuts = np.unique(np.quantile(scores, PROFILE_LEVELS)) if scores.size else np.empty(0)
    return total.profile + Profile({SCORE: score_counts(scores, cuts)}), cuts.tolist()


@dataclass
class _Discovery:
    """What the discovery pass adds up: the column stats and labels, the hashed ids, a sample of each numeric
    column; at the root (:func:`_settle`) the ids become the duplicated ones and the sample its deciles."""

    summary: PartitionStats
    ids: np.ndarray | None  # sorted uint64 hashes of every id (training and validation rows)
    duplicated: np.ndarray | None
    sample: dict
    edges: dict = field(default_factory=dict)

    def __add__(self, other: _Discovery) -> _Discovery:
        ids = duplicated = None
        if self.ids is not None:
            ids, again = _dedupe(np.sort(np.concatenate([self.ids, other.ids]), kind="stable"))  # merges two runs
            duplicated = np.union1d(np.union1d(self.duplicated, other.duplicated), again)
        sample = {name: np.concatenate([values, other.sample[name]]) for name, values in self.sample.items()}
        return _Discovery(self.summary + other.summary, ids, duplicated, sample)


def _dedupe(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(distinct values, values seen more than once)`` of the sorted ``ids``."""
    repeat = ids[1:] == ids[:-1]
    return ids[np.concatenate([[True], ~repeat])[: ids.size]], np.unique(ids[1:][repeat])


def _hashed_ids(values: pd.Series) -> np.ndarray:
    return pd.util.hash_pandas_object(values, index=False).to_numpy()


def _discovery(train: pd.DataFrame, valid: pd.DataFrame | None, *, numeric: list[str], text: list[str],
               target: str, id_column: str | None, stride: int) -> _Discovery:
    summary = summarize_partition(train, numeric=numeric, text=text, target=target)
    ids = duplicated = None
    if id_column:
        sides = [train] if valid is None else [train, valid]
        ids, duplicated = _dedupe(np.sort(np.concatenate([_hashed_ids(side[id_column]) for side in sides])))
    sample = {name: train[name].iloc[::stride].to_numpy(dtype=np.float64, na_value=np.nan) for name in numeric}
    return _Discovery(summary, ids, duplicated, sample)


def _settle(found: _Discovery) -> _Discovery:
    """At the root of the discovery pass: keep only the duplicated ids and the sample's deciles (what travels)."""
    edges = {}
    for name, values in found.sample.items():
        present = values[~np.isnan(values)]
        edges[name] = np.quantile(present, PROFILE_LEVELS).tolist() if present.size else []
    return replace(found, ids=None, sample={}, edges=edges)


def _ids_with_hashes(train: pd.DataFrame, valid: pd.DataFrame | None, *, id_column: str, hashes: np.ndarray) -> _Values:
    """The ids of one partition whose hash is in ``hashes``."""
    sides = [train] if valid is None else [train, valid]
    return _Values([side[id_column].to_numpy()[np.isin(_hashed_ids(side[id_column]), hashes)] for side in sides])


# -- the library's entry points over a Dask DataFrame ------------------------------------------


def discover_preparation(client, frame, *, target: str, id_column: str | None = None,
                         features: list[str] | None = None, exclude=(), positive_label=None,
                         min_frequency: float | None = None, missing: str = "impute") -> Preparation:
    """:meth:`TrainingRows.discover` of every row of ``frame``."""
    rows = TrainingRows.from_frame(frame, client=client)
    try:
        return rows.discover(target=target, id_column=id_column, features=features, exclude=exclude,
                             positive_label=positive_label, min_frequency=min_frequency, missing=missing)
    finally:
        rows.close()


def fit_model(client, frame, preparation: Preparation, *, l2: float = 0.0, solver: str = "auto", tol: float = 1e-12,
              max_iter: int = 100, checkpoint: str | None = None, source: str | None = None) -> Model:
    """:meth:`TrainingRows.fit` on every row of ``frame``; errors name ``source`` with the partition."""
    rows = TrainingRows.from_frame(frame, client=client, source=source or "the data")
    try:
        return rows.fit(preparation, l2=l2, solver=solver, tol=tol, max_iter=max_iter, checkpoint=checkpoint)
    finally:
        rows.close()
