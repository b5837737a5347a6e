"""Preparation: from the columns a user has to the numeric design matrix the estimator fits.

One :class:`Preparation` is discovered from the training data in one pass
(:func:`discover`), stored in the model as plain JSON, and applied by the same
:func:`logreg_dist.design.design_block` at training and at rescoring, so there
is no second implementation in the scoring path.

- Numeric and boolean columns are used as they are. A missing value is
  replaced by the training mean, and a ``col__missing`` indicator (1 where the
  value was missing) is added for every column that had any missing value in
  training (``missing="impute"``; a gap at scoring in a column that had none
  gets the mean alone and is counted); ``missing="error"`` refuses them.
  Columns missing in exactly the same training rows share one indicator, the
  first one's (``missing_with`` names it in the others): identical indicators
  would make the design singular, and leave an unpenalized fit without
  standard errors.
- String and category columns are one-hot encoded with the levels seen in
  training (held as one integer code per row: see :mod:`logreg_dist.design`).
  The most frequent level is the reference (no column of its own,
  so the design stays full rank next to the intercept); the others are named
  ``col=level``. A column with nearly a distinct value per row is refused as
  an id or free text. A missing value is the level ``(missing)``. Levels seen in
  fewer than ``min_frequency`` rows are folded into ``(other)``. A level never
  seen in training is encoded as all zeros (the reference) and counted.
- An id column is never a feature; columns constant in training are dropped
  with a :class:`ConstantColumnWarning` naming them.
- The target may be 0/1, booleans or two labels; the positive label is the
  one the user names, else 1 / True / "yes" / "true" (any case), else the
  larger of the two in sorted order (scikit-learn's rule). It is stored.
"""

from __future__ import annotations

import hashlib
import math
import warnings
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import pandas as pd
from scipy import linalg

from .exceptions import ConstantColumnWarning, IdColumnWarning, InputError

__all__ = ["CategoricalColumn", "NumericColumn", "Preparation", "discover", "summarize_partition", "with_collinear_fills"]

MISSING_LEVEL = "(missing)"
OTHER_LEVEL = "(other)"
POSITIVE_NAMES = ("yes", "true", "y", "1", "positive")
#: A text column with more distinct values than this share of its rows, and more than :data:`ID_MIN_LEVELS`, is
#: refused as an id or free text: a category repeats its levels, and its memory is one code per row plus its levels.
ID_LEVEL_SHARE = 0.5
ID_MIN_LEVELS = 1000
#: A text column in which at least this share of values read as numbers is a numeric column with bad entries.
NUMERIC_TEXT_SHARE = 0.95
#: A numeric feature holding a value beyond this (in absolute value) is refused: the fit squares values, and a
#: square beyond 1e308 is infinite.
MAX_ABS_VALUE = 1e150


@dataclass(frozen=True)
class NumericColumn:
    """A numeric or boolean input column: its imputation value and whether it gets a missing indicator."""

    name: str
    impute: float
    indicator: bool
    kind: str = "numeric"
    #: The column whose ``__missing`` indicator also stands for this one's gaps (missing in the same training rows).
    missing_with: str | None = None
    #: For a column complete in training that is nearly a linear combination of other numeric columns there
    #: (:func:`with_collinear_fills`): those columns, and ``fill_intercept + fill_coef . their values`` fills its
    #: gaps at scoring where they are all present.
    fill_from: tuple = ()
    fill_coef: tuple = ()
    fill_intercept: float = 0.0

    @property
    def encoded(self) -> list[str]:
        return [self.name] + ([f"{self.name}__missing"] if self.indicator else [])


@dataclass(frozen=True)
class CategoricalColumn:
    """A text or category input column: its reference level and the levels that get a column each."""

    name: str
    reference: str
    levels: tuple[str, ...]
    folded: tuple[str, ...] = ()  # training levels folded into (other)
    kind: str = "categorical"

    @property
    def encoded(self) -> list[str]:
        return [f"{self.name}={level}" for level in self.levels]


def _is_numeric(dtype) -> bool:
    return pd.api.types.is_bool_dtype(dtype) or (
        pd.api.types.is_numeric_dtype(dtype) and not isinstance(dtype, pd.CategoricalDtype)
    )


def _as_text(values: pd.Series) -> pd.Series:
    """Category values as strings, missing as the ``(missing)`` level."""
    text = values.astype("object").where(values.notna(), MISSING_LEVEL)
    return text.map(str)


def text_codes(values: pd.Series) -> tuple[np.ndarray, np.ndarray, bool]:
    """``(codes, texts, missing)``: ``texts[codes]`` is :func:`_as_text` of ``values``, the texts of the present
    values in the order they first appear, then, when ``missing``, the ``(missing)`` level of the missing ones.

    The values are factorized before any text is made, so the strings of a column are hashed once and only its
    distinct values are turned into text: a column of a million rows costs one hash pass, not a million ``str``
    calls. Factorizing groups equal values; that equals grouping their text only when every value is a string
    (``1`` and ``1.0`` are equal values with different text), so other columns take the text of every row.
    """
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes = values.cat.codes.to_numpy().astype(np.int64)
        seen, first = np.unique(codes[codes >= 0], return_index=True)
        order = seen[np.argsort(first, kind="stable")]  # the categories in order of first appearance
        remap = np.full(len(values.cat.categories) + 1, -1, dtype=np.int64)
        remap[order] = np.arange(order.size)
        codes = remap[codes]
        texts = values.cat.categories[order].astype("object").map(str).to_numpy(dtype=object)
    else:
        codes, texts = pd.factorize(values, use_na_sentinel=True)
        if all(isinstance(value, str) for value in texts):
            texts = np.asarray([str(value) for value in texts], dtype=object)  # plain str, also of str subclasses
        else:
            present = values.notna().to_numpy()
            present_codes, texts = pd.factorize(values[present].astype("object").map(str))
            codes = np.full(len(values), -1, dtype=np.int64)
            codes[present] = present_codes
            texts = np.asarray(texts, dtype=object)
    missing = bool((codes < 0).any())
    if missing:
        texts = np.append(texts, MISSING_LEVEL)
        codes = np.where(codes < 0, texts.size - 1, codes)
    return codes, texts, missing


# -- the discovery pass -------------------------------------------------------------------


#: The ``missing_key`` of rows without gaps; keys are 8 bytes, so two concatenated keys are unambiguous.
NO_GAPS = bytes(8)


def _digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=8).digest()


@dataclass
class ColumnStats:
    """Sums over rows of one column, added across partitions."""

    rows: int = 0
    missing: int = 0
    total: float = 0.0
    low: float = math.inf
    high: float = -math.inf
    counts: dict = field(default_factory=dict)  # text columns: level -> rows
    number_like: int = 0  # text columns: values that read as numbers
    example: str | None = None  # text columns: a value that does not read as a number
    #: numeric columns: a digest of which rows are missing; equal digests, equal missing rows
    missing_key: bytes = NO_GAPS
    fractional: int = 0  # text columns: values that read as numbers with a fractional part
    number_example: str | None = None  # text columns: a value that reads as a number
    distinct: int = 0  # integer columns: rows of the partitions in which no two rows share a value

    def __add__(self, other: ColumnStats) -> ColumnStats:
        counts = dict(self.counts)
        for level, n in other.counts.items():
            counts[level] = counts.get(level, 0) + n
        return ColumnStats(
            self.rows + other.rows,
            self.missing + other.missing,
            self.total + other.total,
            min(self.low, other.low),
            max(self.high, other.high),
            counts,
            self.number_like + other.number_like,
            self.example if self.example is not None else other.example,
            _digest(self.missing_key + other.missing_key),  # every column's keys combine in the same order
            self.fractional + other.fractional,
            self.number_example if self.number_example is not None else other.number_example,
            self.distinct + other.distinct,
        )


@dataclass
class PartitionStats:
    """What the discovery pass needs from one partition: per-column stats and the target's labels."""

    columns: dict
    labels: dict  # target value -> rows

    def __add__(self, other: PartitionStats) -> PartitionStats:
        labels = dict(self.labels)
        for label, n in other.labels.items():
            labels[label] = labels.get(label, 0) + n
        return PartitionStats({k: v + other.columns[k] for k, v in self.columns.items()}, labels)


def summarize_partition(part: pd.DataFrame, *, numeric: list[str], text: list[str], target: str | None) -> PartitionStats:
    """Column stats and target label counts of one partition (a block kernel: sums only)."""
    stats = {}
    for name in numeric:
        raw = part[name].to_numpy()
        if isinstance(part[name].dtype, np.dtype) and (raw.dtype.kind in "biu" or not np.isnan(raw).any()):
            # No gaps: the stats of the column as it is (integers and booleans sum exactly in float64).
            low, high = (float(raw.min()), float(raw.max())) if len(raw) else (math.inf, -math.inf)
            # An id is a whole number on every row, each its own: looked for only where the range leaves room.
            distinct = raw.dtype.kind in "iu" and 0 < len(raw) <= high - low + 1 and pd.unique(raw).size == len(raw)
            stats[name] = ColumnStats(
                rows=len(raw),
                total=float(raw.astype(np.float64).sum()) if raw.dtype.kind == "f" else float(raw.sum(dtype=np.float64)),
                low=low,
                high=high,
                distinct=len(raw) if distinct else 0,
            )
            continue
        values = part[name].to_numpy(dtype=np.float64, na_value=np.nan)
        gaps = np.isnan(values)
        present = values[~gaps]
        stats[name] = ColumnStats(
            rows=len(values),
            missing=len(values) - len(present),
            total=float(present.sum()),
            low=float(present.min()) if len(present) else math.inf,
            high=float(present.max()) if len(present) else -math.inf,
            missing_key=_digest(np.packbits(gaps).tobytes()) if len(present) < len(values) else NO_GAPS,
        )
    for name in text:
        values = part[name]
        missing = int(values.isna().sum())
        codes, texts, has_missing = text_codes(values)
        rows = np.bincount(codes, minlength=texts.size)
        counts: dict[str, int] = {}
        for level, n in zip(texts.tolist(), rows.tolist()):
            counts[level] = counts.get(level, 0) + n
        # Whether a value reads as a number is a question about its text: asked once per distinct present value and
        # weighted by its rows; the examples are the first rows (in row order) of each kind.
        present_texts = texts[:-1] if has_missing else texts
        weights = rows[:present_texts.size]
        numbers = pd.to_numeric(pd.Series(present_texts, dtype=object), errors="coerce").to_numpy(dtype=np.float64)
        is_number = ~np.isnan(numbers)
        stats[name] = ColumnStats(
            rows=len(values),
            missing=missing,
            counts=counts,
            number_like=int(weights[is_number].sum()),
            example=str(present_texts[~is_number][0]) if (~is_number).any() else None,
            fractional=int(weights[is_number & (numbers != np.round(numbers))].sum()),
            number_example=str(present_texts[is_number][0]) if is_number.any() else None,
        )
    labels = {}
    if target is not None:
        y = part[target]
        if y.isna().any():
            labels[None] = int(y.isna().sum())
        for label, n in y.dropna().value_counts(sort=False).items():
            key = label.item() if hasattr(label, "item") else label
            labels[key] = labels.get(key, 0) + int(n)
    return PartitionStats(stats, labels)


# -- the preparation ----------------------------------------------------------------------


@dataclass(frozen=True)
class Preparation:
    """How raw columns become the design matrix; JSON round-trip with :meth:`to_dict` / :meth:`from_dict`."""

    columns: tuple
    target: str | None
    positive_label: object
    negative_label: object
    id_column: str | None = None
    missing: str = "impute"
    dropped_constant: tuple[str, ...] = ()
    #: Rows per label in the data the preparation was discovered on: {"positive": n, "negative": n}.
    label_counts: dict = field(default_factory=dict)

    @property
    def inputs(self) -> list[str]:
        """The raw columns the preparation reads (features only)."""
        return [c.name for c in self.columns]

    @property
    def feature_names(self) -> list[str]:
        """The encoded design columns, in order."""
        return [name for column in self.columns for name in column.encoded]

    # -- apply -----------------------------------------------------------------------------

    def check_columns(self, available, where: str) -> None:
        """Raise if a column the model needs is not in ``available``."""
        missing = [c for c in self.inputs if c not in set(available)]
        if missing:
            raise InputError(f"{where} lacks the columns {missing}, which the model was trained on.")

    def transform(self, part: pd.DataFrame, *, where: str = "the data") -> tuple[np.ndarray, dict[str, int]]:
        """The design matrix of ``part`` as dense float64 (rows, encoded features), and the count of unseen
        levels per column: :func:`logreg_dist.design.design_block`, for inspection and tests (the commands keep
        the block's own columns)."""
        from .design import design_block, level_codes

        X, _, _ = design_block(part, self, where=where, target=False)
        unseen = {}
        for column in self.columns:
            if isinstance(column, CategoricalColumn):
                n_unseen = int((level_codes(part[column.name], column) > len(column.levels)).sum())
                if n_unseen:
                    unseen[column.name] = n_unseen
        return np.asarray(X, dtype=np.float64), unseen

    def target_values(self, part: pd.DataFrame, *, where: str = "the data") -> np.ndarray:
        """The target of ``part`` as 0.0/1.0 (1.0 for the positive label)."""
        if self.target not in part.columns:
            raise InputError(f"{where} has no target column {self.target!r}.")
        y = part[self.target]
        missing = int(y.isna().sum())
        if missing:  # tested first: a text column's comparisons leave its gaps neither true nor false
            raise InputError(f"target column {self.target!r} in {where} has {missing} missing values; every row "
                             "needs a label to be measured.")
        positive = np.asarray(y == self.positive_label, dtype=bool)
        negative = np.asarray(y == self.negative_label, dtype=bool)
        bad = ~(positive | negative)
        if bad.any():
            # The same two labels spelled otherwise (data other than the training data: 'yes' for 'Yes', 1 and 0 or
            # True and False for the positive and the negative label, as a 0/1 target is read), each value once.
            sides = {value: _label_side(value, self.positive_label, self.negative_label) for value in pd.unique(y[bad])}
            if None not in sides.values():
                side = y.map(sides).to_numpy(dtype=np.float64, na_value=np.nan)
                positive, bad = positive | (side == 1.0), bad & np.isnan(side)
        if bad.any():
            others = pd.unique(y[bad])
            raise InputError(
                f"target column {self.target!r} in {where} holds {int(bad.sum())} labels that are neither "
                f"{self.positive_label!r} nor {self.negative_label!r}: {others[:3].tolist()}"
                f"{' ...' if others.size > 3 else ''}."
            )
        return positive.astype(np.float64)

    def restricted(self, keep) -> Preparation:
        """The preparation of the columns in ``keep`` only. A kept column whose shared indicator
        belonged to a dropped column gets it back as its own (the same rows are missing)."""
        keep = set(keep)
        holder: dict[str, str] = {}  # indicator group (its first column) -> the first kept column of it
        columns = []
        for column in self.columns:
            if column.name not in keep:
                continue
            group = getattr(column, "missing_with", None) or (column.name if getattr(column, "indicator", False) else None)
            if group is not None:
                first = holder.setdefault(group, column.name)
                column = replace(column, indicator=first == column.name, missing_with=None if first == column.name else first)
            if getattr(column, "fill_from", ()) and not keep.issuperset(column.fill_from):
                column = replace(column, fill_from=(), fill_coef=(), fill_intercept=0.0)  # its fill lost a column
            columns.append(column)
        return replace(self, columns=tuple(columns))

    def design_key(self) -> str:
        """What makes one design of the same rows differ from another: the preparation without its fills, which
        change only gaps at scoring (a column with a fill has none in the training rows; a gap in the validation
        rows is measured at the mean, as the design fitted before the fills were known)."""
        return repr([{k: v for k, v in spec.items() if not k.startswith("fill_")} if spec["kind"] == "numeric"
                     else spec for spec in self.to_dict()["columns"]] + [self.target, self.missing])

    # -- storage ---------------------------------------------------------------------------

    def to_dict(self) -> dict:
        return {
            "columns": [asdict(c) for c in self.columns],
            "target": self.target,
            "positive_label": _plain(self.positive_label),
            "negative_label": _plain(self.negative_label),
            "id_column": self.id_column,
            "missing": self.missing,
            "dropped_constant": list(self.dropped_constant),
            "label_counts": dict(self.label_counts),
        }

    @classmethod
    def from_dict(cls, data: dict) -> Preparation:
        columns = []
        for spec in data["columns"]:
            if spec["kind"] == "numeric":
                columns.append(
                    NumericColumn(spec["name"], float(spec["impute"]), bool(spec["indicator"]),
                                  missing_with=spec.get("missing_with"), fill_from=tuple(spec.get("fill_from", ())),
                                  fill_coef=tuple(float(b) for b in spec.get("fill_coef", ())),
                                  fill_intercept=float(spec.get("fill_intercept", 0.0)))
                )
            else:
                columns.append(
                    CategoricalColumn(spec["name"], spec["reference"], tuple(spec["levels"]), tuple(spec.get("folded", ())))
                )
        return cls(
            tuple(columns),
            data["target"],
            data["positive_label"],
            data["negative_label"],
            data.get("id_column"),
            data.get("missing", "impute"),
            tuple(data.get("dropped_constant", ())),
            dict(data.get("label_counts", {})),
        )


#: A column's gaps are filled from the columns it is collinear with when they explain all but this share of its
#: training variance (mlc_churn's charges from their minutes: 1 - R^2 of about 1e-5).
FILL_MAX_UNEXPLAINED = 1e-3


def with_collinear_fills(preparation: Preparation, mean: np.ndarray, covariance: np.ndarray | None) -> Preparation:
    """``preparation`` with fills (``fill_from``) for its numeric columns complete in training that are nearly a
    linear combination of other numeric columns (``mean`` and ``covariance`` of the encoded features in training).

    The training mean is a poor value for such a column's gap at scoring: an unpenalized fit gives collinear
    columns huge coefficients of opposite signs (mlc_churn's day minutes +2.4 and day charge -14.2, standardized)
    whose products cancel only while the columns keep their relation, so a charge at its mean beside the row's own
    minutes scored 1e-29 or 1.0. The column's least-squares prediction from its group keeps the relation. Made for
    penalized fits too: the relation is the data's, and a ridge penalty shares the weight between such columns, so
    the mean in one of them still moves the score by half the pair's effect.
    """
    preparation = replace(preparation, columns=tuple(  # fills of an earlier fit are not carried over
        replace(column, fill_from=(), fill_coef=(), fill_intercept=0.0) if isinstance(column, NumericColumn) else column
        for column in preparation.columns))
    if covariance is None:
        return preparation
    from ._solvers import nearly_collinear_groups  # the estimator's test, on the numeric columns only

    position = {name: k for k, name in enumerate(name for column in preparation.columns for name in column.encoded)}
    numeric = [column for column in preparation.columns if isinstance(column, NumericColumn)]
    index = np.array([position[column.name] for column in numeric], dtype=np.intp)
    if index.size < 2:
        return preparation
    C = np.asarray(covariance, dtype=np.float64)[np.ix_(index, index)]
    fills = {}
    for group in nearly_collinear_groups(C, exactly=True):
        for j in group:
            column = numeric[j]
            if column.indicator or column.missing_with or not C[j, j] > 0.0:
                continue  # a column with gaps in training was fitted with its mean in them: so it is scored
            others = [k for k in group if k != j]
            coef = linalg.lstsq(C[np.ix_(others, others)], C[others, j], cond=1e-12)[0]
            if (C[j, j] - coef @ C[others, j]) / C[j, j] > FILL_MAX_UNEXPLAINED:
                continue
            fills[column.name] = replace(
                column, fill_from=tuple(numeric[k].name for k in others), fill_coef=tuple(float(b) for b in coef),
                fill_intercept=float(mean[index[j]] - coef @ mean[index[others]]))
    if not fills:
        return preparation
    return replace(preparation, columns=tuple(fills.get(column.name, column) for column in preparation.columns))


def _plain(value):
    return value.item() if hasattr(value, "item") else value


# -- discovery ------------------------------------------------------------------------------


def closest_name(wanted, names) -> str | None:
    """The one of ``names`` a user most likely meant by ``wanted`` (a column, an option): the same but for case,
    else the nearest spelling; None when none is close."""
    import difflib

    lowered = {str(name).lower(): name for name in names}
    key = str(wanted).lower()
    if key not in lowered:
        key = next(iter(difflib.get_close_matches(key, list(lowered), n=1, cutoff=0.8)), None)
    return None if key is None else lowered[key]


def _did_you_mean(absent, names) -> str:
    """`` (did you mean 'churn'?)`` for the columns of ``names`` closest to those ``absent``, or nothing when none is
    close."""
    close = [c for c in (closest_name(wanted, names) for wanted in absent) if c is not None]
    return f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""


def plan_columns(dtypes: dict, *, target: str | None, id_column: str | None, features=None, exclude=()) -> tuple[list, list]:
    """Which columns are numeric and which text, from the data's dtypes and the user's choices."""
    names = list(dtypes)
    for kind, chosen in (("target", [target] if target else []), ("id column", [id_column] if id_column else [])):
        absent = [c for c in chosen if c not in dtypes]
        if absent:
            raise InputError(f"the {kind} {absent[0]!r} is not a column of the data{_did_you_mean(absent, names)}; "
                             f"its columns are {names}.")
    if features:
        absent = [c for c in features if c not in dtypes]
        if absent:
            raise InputError(f"the features {absent} are not columns of the data{_did_you_mean(absent, names)}; its "
                             f"columns are {names}.")
        chosen = list(features)
    else:
        chosen = [c for c in names if c not in (target, id_column)]
    absent = [c for c in exclude if c not in dtypes]
    if absent:
        raise InputError(f"the excluded columns {absent} are not columns of the data{_did_you_mean(absent, names)}; "
                         f"its columns are {names}.")
    chosen = [c for c in chosen if c not in set(exclude) and c not in (target, id_column)]
    if not chosen:
        raise InputError("no feature columns are left to fit after removing the target, the id column and the exclusions.")
    for name in chosen:
        _check_usable(name, dtypes[name])
    numeric = [c for c in chosen if _is_numeric(dtypes[c])]
    text = [c for c in chosen if c not in numeric]
    return numeric, text


def _check_usable(name: str, dtype) -> None:
    """Refuse a feature column whose type has no meaning as a number or as a category: dates, times, durations."""
    if pd.api.types.is_datetime64_any_dtype(dtype) or isinstance(dtype, pd.PeriodDtype):
        raise InputError(
            f"feature column {name!r} holds dates or times ({dtype}), which are neither numbers nor categories; derive "
            "features from it in the data (days since a reference date, the day of the week, the month) or exclude it "
            f"(--exclude {name})."
        )
    if pd.api.types.is_timedelta64_dtype(dtype):
        raise InputError(
            f"feature column {name!r} holds durations ({dtype}), which are not numbers as stored; convert it to a number "
            f"of days or hours in the data or exclude it (--exclude {name})."
        )


def discover(
    summary: PartitionStats,
    *,
    numeric: list[str],
    text: list[str],
    target: str | None,
    id_column: str | None = None,
    positive_label=None,
    min_frequency: float | None = None,
    missing: str = "impute",
    order: list[str] | None = None,
) -> Preparation:
    """Build the :class:`Preparation` from the reduced :class:`PartitionStats` of the training data."""
    if missing not in ("impute", "error"):
        raise ValueError(f"missing must be 'impute' or 'error'; got {missing!r}.")
    columns, constant = {}, []
    for name in numeric:
        stats = summary.columns[name]
        present = stats.rows - stats.missing
        if present == 0:
            raise InputError(f"feature column {name!r} is missing in every row; drop it or fill it.")
        if stats.missing and missing == "error":
            raise InputError(f"feature column {name!r} has {stats.missing} missing values in the training rows and "
                             "missing='error'.")
        largest = max((v for v in (stats.low, stats.high) if math.isfinite(v)), key=abs, default=0.0)
        if abs(largest) > MAX_ABS_VALUE:  # infinite values are refused later, with the partition that holds them
            raise InputError(
                f"feature column {name!r} holds {largest:.6g}, beyond the {MAX_ABS_VALUE:.0e} in absolute value that the "
                "fit accepts (it squares values, and these squares overflow); rescale it (thousands, or a log) or exclude it."
            )
        if stats.low == stats.high and not stats.missing:
            constant.append(name)
            continue
        columns[name] = NumericColumn(name, stats.total / present, stats.missing > 0)
    owners: dict[bytes, str] = {}  # missing rows -> the first column missing in exactly those
    for name in order or numeric:
        column = columns.get(name)
        if isinstance(column, NumericColumn) and column.indicator:
            owner = owners.setdefault(summary.columns[name].missing_key, name)
            if owner != name:
                columns[name] = replace(column, indicator=False, missing_with=owner)
    all_folded = []  # text columns whose every level was rarer than min_frequency: one "(other)" level is left
    for name in text:
        columns[name] = _categorical(name, summary.columns[name], min_frequency)
        if columns[name] is None:
            (all_folded if len(summary.columns[name].counts) > 1 else constant).append(name)
            del columns[name]
    if all_folded:
        warnings.warn(
            f"every level of the columns {all_folded} is rarer than min_frequency={min_frequency}: folded into one "
            "(other) level, they are constant and dropped. Lower min_frequency to keep their common levels.",
            ConstantColumnWarning,
            stacklevel=2,
        )
    if constant:
        warnings.warn(
            f"feature columns {constant} are constant in the training data and are dropped.",
            ConstantColumnWarning,
            stacklevel=2,
        )
    # Distinct within each partition, and a range with room for every row: each file's own row numbers 0..n-1
    # repeat across files, and their range is one file's.
    id_like = [name for name, stats in ((name, summary.columns[name]) for name in numeric if name in columns)
               if stats.rows >= ID_MIN_LEVELS and stats.distinct == stats.rows and stats.high - stats.low + 1 >= stats.rows]
    if id_like:
        warnings.warn(
            f"feature columns {id_like} hold a different whole number on every row of the training data, as an id "
            "does: each is fitted as a number. If it is an id, name it as the id column or exclude it.",
            IdColumnWarning,
            stacklevel=2,
        )
    order = order or [*numeric, *text]
    ordered = tuple(columns[c] for c in order if c in columns)
    if not ordered:
        raise InputError(f"every feature column is constant in the training data: {constant}.")
    _check_unique_features(ordered, target)
    negative, positive = _target_labels(target, summary.labels, positive_label) if target else (None, None)
    counts = {"positive": summary.labels.get(positive, 0), "negative": summary.labels.get(negative, 0)} if target else {}
    return Preparation(ordered, target, positive, negative, id_column, missing, tuple(constant), counts)


def _check_unique_features(columns: tuple, target: str | None) -> None:
    """Refuse two columns that would encode to the same feature name (``region=north`` beside text ``region``)."""
    owners: dict[str, tuple[str, str]] = {target: ("the target", target)} if target else {}
    for column in columns:
        for feature in column.encoded:
            if feature == column.name:
                source = f"column {column.name!r}"
            elif isinstance(column, CategoricalColumn):
                source = f"level {feature[len(column.name) + 1:]!r} of text column {column.name!r}"
            else:
                source = f"the missing-value indicator of column {column.name!r}"
            if feature in owners:
                raise InputError(
                    f"feature {feature!r} would be both {owners[feature][0]} and {source}; rename column "
                    f"{owners[feature][1]!r} or {column.name!r} in the data, or exclude one of them."
                )
            owners[feature] = (source, column.name)


def _categorical(name: str, stats: ColumnStats, min_frequency) -> CategoricalColumn | None:
    present = stats.rows - stats.missing
    if present and stats.number_like >= NUMERIC_TEXT_SHARE * present and stats.number_like < present:
        raise InputError(
            f"column {name!r} holds numbers as text, but {present - stats.number_like} of its values are not numbers "
            f"(such as {stats.example!r}); convert it to a numeric column (missing values are fine) or exclude it."
        )
    counts = dict(stats.counts)
    id_like = len(counts) > ID_MIN_LEVELS and len(counts) > ID_LEVEL_SHARE * stats.rows
    if present and stats.number_like == present and (stats.fractional or id_like):
        # Whole numbers in a few levels may be codes (a store number), so those stay categories; fractions, or more
        # distinct numbers than a category has, are measurements stored as text.
        raise InputError(
            f"column {name!r} holds numbers stored as text: all {stats.number_like} of its values in the training rows read "
            f"as numbers (such "
            f"as {stats.number_example!r}); convert it to a numeric column in the data (pandas.to_numeric, or CAST in "
            "SQL), name it as the id column if it is one, or exclude it."
        )
    if id_like:
        raise InputError(
            f"column {name!r} has {len(counts)} distinct values in {stats.rows} rows; it looks like an id or free "
            f"text, not a category: pass it as the id column (--id-column {name}) or exclude it (--exclude {name})."
        )
    folded = []
    if min_frequency:
        threshold = min_frequency * stats.rows if min_frequency < 1 else min_frequency
        folded = sorted(level for level, n in counts.items() if n < threshold)
        if len(folded) > 1 or (folded and len(counts) > 1):
            counts[OTHER_LEVEL] = sum(counts.pop(level) for level in folded)
        else:
            folded = []
    if len(counts) < 2:
        return None
    reference = min(counts, key=lambda level: (-counts[level], level))
    levels = tuple(sorted(level for level in counts if level != reference))
    return CategoricalColumn(name, reference, levels, tuple(folded))


def _same_label(label, given) -> bool:
    """``given`` (often text from a command line) names ``label``: equal, equal ignoring case, or the same number."""
    if label == given or str(label).strip().lower() == str(given).strip().lower():
        return True
    try:
        return float(label) == float(given)
    except (TypeError, ValueError):
        return False


def _label_side(value, positive, negative) -> int | None:
    """1 or 0 when ``value`` is ``positive`` or ``negative`` spelled otherwise (another case, a number as text), or is
    1/True or 0/False, also as text (the positive and the negative label by the convention a 0/1 target is read
    with); else None."""
    if _same_label(value, positive):
        return 1
    if _same_label(value, negative):
        return 0
    if isinstance(value, (bool, int, float, np.bool_, np.number)) and value in (0, 1):
        return int(value)
    return {"1": 1, "true": 1, "0": 0, "false": 0}.get(str(value).strip().lower())


def _target_labels(target: str, labels: dict, positive_label) -> tuple:
    if None in labels:
        raise InputError(f"target column {target!r} has {labels[None]} missing values in the training rows (the "
                         "validation rows are not counted); every row needs a label.")
    found = sorted(labels, key=str)
    if len(found) != 2:
        raise InputError(
            f"target column {target!r} must hold exactly two labels (0/1, booleans or two values); "
            f"found {len(found)}: {found[:10]}."
        )
    if positive_label is not None:
        matches = [label for label in found if _same_label(label, positive_label)]
        if not matches:
            raise InputError(f"the positive label {positive_label!r} is not in target column {target!r}, which holds {found}.")
        positive = matches[0]
    else:
        named = [label for label in found if str(label).strip().lower() in POSITIVE_NAMES]
        if len(named) == 1:
            positive = named[0]
        else:
            positive = sorted(found)[1] if all(isinstance(v, (int, float, bool, np.number)) for v in found) else found[1]
    negative = found[0] if found[1] == positive else found[1]
    return _plain(negative), _plain(positive)
