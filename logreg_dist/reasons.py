"""Reasons for each score: the input columns that raise (or lower) a customer's log-odds most.

A logistic model's log-odds splits exactly over its encoded features, against their training means:

    eta_i = b0 + sum_j coef_j x_ij = intercept_at_mean + sum_j coef_j (x_ij - mean_j),
    intercept_at_mean = b0 + sum_j coef_j mean_j,

with ``coef`` and ``b0`` on the original scale and ``mean_j`` the training mean of encoded feature ``j`` (the
model's standardization means, ``scaler.mean`` in ``model.json``: for a one-hot level column the share of
training rows at that level, for a ``__missing`` indicator the share missing). No background sample and no
approximation: the contributions plus ``intercept_at_mean`` add up to the row's log-odds.

An input column is one reason: the contributions of a categorical column's level columns add up to one (the
row's level against the training mix of levels), and a numeric column's ``__missing`` indicator adds to the
column's own, because "why this customer?" is answered with a column the user knows (``contract =
Month-to-month``), not with one level column of it. An indicator shared by columns missing in the same training
rows (``missing_with``) counts for the first of them, whose name it bears. Columns training found collinear
(:func:`joined_inputs`, stored as ``training.joined_inputs``) are one reason too, named ``a + b``: apart, an
unpenalized fit's contributions of such columns are hundreds of log-odds that cancel.

A row's ``k`` reasons are its ``k`` largest contributions whatever their sign: a negative ``reason_3`` says that
fewer than three inputs raise this row's log-odds, which is an answer too.

The reasons of a block are computed from the same design block that is scored
(:func:`logreg_dist.design.design_block`), a chunk of rows at a time: the compiled loops of
:mod:`logreg_dist._loops` add each numeric feature, read in its own dtype, into its input's column of a
``(rows, n_inputs)`` float64 matrix (a categorical adds one value per code), then keep each row's largest
entries, a column at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .design import collinear_fill
from .exceptions import InputError
from .prepare import MISSING_LEVEL, CategoricalColumn, NumericColumn, _as_text

__all__ = ["Contributions", "JoinedInputs", "Reasons", "check_reason_counts", "joined_inputs", "joined_names",
           "reason_inputs", "used_inputs"]

#: Rows per chunk of the contribution matrix: this many rows by the number of inputs in float64 stays in the
#: processor's cache for the second loop (a few MB for 85 inputs), whatever the partition's size.
CHUNK_ROWS = 4096


@dataclass(frozen=True)
class JoinedInputs:
    """Input columns that are one reason: collinear in training, so only their sum of contributions means anything
    (an unpenalized fit gave mlc_churn's day minutes and day charge contributions of +200 and -200 log-odds)."""

    columns: tuple

    @property
    def name(self) -> str:
        return " + ".join(column.name for column in self.columns)


def joined_inputs(preparation, collinear) -> list[list[str]]:
    """The groups of input columns that reasons join, as training finds them (stored in the model as
    ``training.joined_inputs``; a model trained before has none, and its reasons stay what they were).

    Joined are a column and the columns its gaps are filled from (``fill_from``), and the groups of collinear
    features (``collinear``, the estimator's ``collinear_groups_``) that hold a numeric column: its value is a sum
    over the others' (wa_churn's monthly charge over its services, whose reasons contradicted each other apart).
    Levels alone that are collinear (its "No internet service" in six columns) share a level, not every value:
    their columns stay reasons of their own."""
    columns = list(preparation.columns)
    of_feature = {name: column for column in columns for name in column.encoded}
    groups = [[column.name, *column.fill_from] for column in columns
              if isinstance(column, NumericColumn) and column.fill_from]
    for group in collinear or []:
        owners = list(dict.fromkeys(of_feature[name] for name in group if name in of_feature))
        if len(owners) > 1 and any(isinstance(column, NumericColumn) for column in owners):
            groups.append([column.name for column in owners])
    return groups


def reason_inputs(model) -> tuple[tuple, np.ndarray]:
    """``(inputs, owner)``: the inputs reasons name, in the order of ``preparation.columns`` (a column, or a
    :class:`JoinedInputs` at its first column's place), and per encoded feature the index of its input. Columns
    join as ``training.joined_inputs`` says (:func:`joined_inputs`)."""
    columns = list(model.preparation.columns)
    position = {column.name: k for k, column in enumerate(columns)}
    sizes = [len(column.encoded) for column in columns]
    feature_input = np.repeat(np.arange(len(columns), dtype=np.intp), sizes)
    root = list(range(len(columns)))

    def find(k):
        while root[k] != k:
            root[k] = root[root[k]]
            k = root[k]
        return k

    for group in (model.training or {}).get("joined_inputs", []):
        members = sorted(find(position[name]) for name in group if name in position)
        for k in members[1:]:
            root[find(k)] = members[0]
    heads = sorted({find(k) for k in range(len(columns))})
    index = {head: i for i, head in enumerate(heads)}
    inputs = []
    for head in heads:
        members = [columns[k] for k in range(len(columns)) if find(k) == head]
        inputs.append(members[0] if len(members) == 1 else JoinedInputs(tuple(members)))
    owner = np.array([index[find(k)] for k in feature_input], dtype=np.intp)
    return tuple(inputs), owner


def joined_names(model) -> list[str]:
    """The names of ``model``'s inputs that join columns (``a + b``)."""
    return [i.name for i in reason_inputs(model)[0] if isinstance(i, JoinedInputs)]


def used_inputs(model) -> np.ndarray:
    """Per input of ``model`` (a :class:`~logreg_dist.model.Model`; see :func:`reason_inputs`), whether any of its
    encoded features has a nonzero coefficient: an input an L1 penalty dropped contributes nothing to any row, and
    is no reason."""
    inputs, owner = reason_inputs(model)
    return _in_use(owner, np.asarray(model.coef), len(inputs))


def _in_use(owner: np.ndarray, coef: np.ndarray, n_inputs: int) -> np.ndarray:
    """Per input, whether one of its features (``owner`` gives each feature's input) has a nonzero coefficient."""
    return np.bincount(owner[coef != 0.0], minlength=n_inputs) > 0


def check_reason_counts(*, top: int | None, down: int | None, used: np.ndarray, source: str = "the model",
                        joined=()) -> None:
    """Raise, naming the option, unless ``top`` and ``down`` are each None or an integer from 1 to the number of
    inputs in use (``used``, from :func:`used_inputs`; ``joined`` names the inputs that join columns)."""
    n_inputs, n_used = len(used), int(np.count_nonzero(used))
    # Joined columns are one input: the count is not the columns a user sees in the data, so it says why.
    as_one = f" ({'; '.join(joined)} each counted as one)" if len(joined) else ""
    for value, name in ((top, "reasons (--reasons)"), (down, "reasons_down (--reasons-down)")):
        if value is None:
            continue
        if n_used == 0:
            raise InputError(f"{source} has no input column with a nonzero coefficient: there are no reasons to give "
                             f"({name}).")
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 1 <= value <= n_used:
            counted = (f"the number of inputs of {source}{as_one}" if n_used == n_inputs else
                       f"the number of inputs of {source} with a nonzero coefficient ({n_inputs - n_used} of "
                       f"its {n_inputs} have none){as_one}")
            raise InputError(f"{name} must be an integer from 1 to {n_used}, {counted}; got {value!r}.")


@dataclass(frozen=True)
class Contributions:
    """How a model's log-odds splits over its input columns (see the module docstring).

    ``group[j]`` is the input of encoded feature ``j`` (the features follow ``preparation.columns``; a joined
    input's columns need not be neighbours there).
    """

    columns: tuple  # the preparation's NumericColumn / CategoricalColumn, or a JoinedInputs, one per input
    coef: np.ndarray  # (n_features,)
    mean: np.ndarray  # (n_features,)
    group: np.ndarray  # (n_features,)
    intercept_at_mean: float
    used: np.ndarray  # (n_inputs,) bool: inputs with a nonzero coefficient, the only ones named as reasons

    @classmethod
    def of(cls, model, *, source: str = "the model") -> Contributions:
        """The contributions of ``model`` (a :class:`~logreg_dist.model.Model`); raises if it lacks a training
        mean of an encoded feature (``scaler.mean`` null in its ``model.json``)."""
        mean = np.asarray(model.feature_mean, dtype=np.float64)
        coef = np.asarray(model.coef, dtype=np.float64)
        unknown = [name for name, value in zip(model.features, mean) if not np.isfinite(value)]
        if mean.shape != coef.shape or unknown:
            raise InputError(
                f"{source} has no training mean for the features {unknown or model.features} ('scaler.mean' in "
                "model.json), which reasons are measured against; train the model again to score with reasons."
            )
        inputs, owner = reason_inputs(model)
        return cls(inputs, coef, mean, owner, model.intercept_at_mean, _in_use(owner, coef, len(inputs)))

    @property
    def inputs(self) -> list[str]:
        return [column.name for column in self.columns]

    def matrix(self, X, start: int = 0, stop: int | None = None, out: np.ndarray | None = None) -> np.ndarray:
        """``(stop - start, n_inputs)`` float64, column-major: each input's contribution to the log-odds of rows
        ``start:stop`` of the design block ``X`` (a :class:`~logreg_dist._codes.CodedBlock`, a
        :class:`~logreg_dist._kernels.ColumnRuns` or an array), in ``out`` when given (a column-major buffer of
        that shape, reused across chunks)."""
        from ._codes import CodedBlock
        from ._kernels import ColumnRuns
        from ._loops import add_grouped_contributions

        stop = X.shape[0] if stop is None else stop
        if out is None:
            out = np.zeros((stop - start, len(self.columns)), order="F")
        else:
            out.fill(0.0)
        index = np.arange(len(self.coef))
        if isinstance(X, CodedBlock):
            index = X.layout.numeric_index
            for c, codes in enumerate(X.codes):
                # A categorical's contribution is its row's level's coefficient (0 for the reference) less the
                # training mix of levels, one value per code: a gather, no indicator column.
                levels = X.layout.level_index(c)
                by_code = np.concatenate([[0.0], self.coef[levels]]) - self.coef[levels] @ self.mean[levels]
                out[:, self.group[levels[0]]] += by_code[codes[start:stop]]
            X = X.numeric
        first = 0
        for run in X.runs if isinstance(X, ColumnRuns) else [np.asfortranarray(X)]:
            if run.shape[1]:
                columns = index[first:first + run.shape[1]]
                add_grouped_contributions(run, start, self.mean[columns], self.coef[columns], self.group[columns], out)
            first += run.shape[1]
        return out

    def ranked(self, X, *, top: int | None, down: int | None) -> Reasons:
        """The ``top`` inputs that raise each row's log-odds most and the ``down`` that lower it most, best first;
        of inputs with equal contributions, the one that comes first in the model's column order comes first."""
        from ._loops import largest_per_row

        n_rows = X.shape[0]
        up_index, up_value = np.empty((n_rows, top or 0), dtype=np.intp), np.empty((n_rows, top or 0))
        down_index, down_value = np.empty((n_rows, down or 0), dtype=np.intp), np.empty((n_rows, down or 0))
        buffer = np.empty((min(CHUNK_ROWS, n_rows), len(self.columns)), order="F")
        for start in range(0, n_rows, CHUNK_ROWS):
            stop = min(start + CHUNK_ROWS, n_rows)
            if buffer.shape[0] != stop - start:  # the last chunk: a buffer of its own, column-major as the others
                buffer = np.empty((stop - start, len(self.columns)), order="F")
            matrix = self.matrix(X, start, stop, out=buffer)
            if not self.used.all():  # the inputs an L1 penalty dropped are left out of the ranking
                matrix = np.asfortranarray(matrix[:, self.used])
            if top:
                largest_per_row(matrix, 1.0, up_index[start:stop], up_value[start:stop])
            if down:
                largest_per_row(matrix, -1.0, down_index[start:stop], down_value[start:stop])
        if not self.used.all():
            kept = np.flatnonzero(self.used)
            up_index, down_index = kept[up_index], kept[down_index]
        return Reasons(self.columns, up_index, up_value, down_index, -down_value)


@dataclass
class Reasons:
    """The reasons of a block of rows: per row, the indices of the inputs and their contributions, best first."""

    columns: tuple
    up_index: np.ndarray  # (n_rows, top)
    up_value: np.ndarray
    down_index: np.ndarray  # (n_rows, down)
    down_value: np.ndarray

    def top_counts(self) -> np.ndarray:
        """``(n_inputs,)`` rows whose first reason (``reason_1``) is each input; zeros without ``top``."""
        if not self.up_index.shape[1]:
            return np.zeros(len(self.columns), dtype=np.int64)
        return np.bincount(self.up_index[:, 0], minlength=len(self.columns)).astype(np.int64)

    def arrays(self, part: pd.DataFrame, *, values: bool = True) -> dict[str, pa.Array]:
        """The output columns for the rows of ``part`` (the raw partition): ``reason_1``, ``reason_1_value``
        (with ``values``: the row's raw value of that input, as text; ``(missing)`` for a gap),
        ``reason_1_contribution``, ... and ``reason_down_1``, ..."""
        names = pa.array([column.name for column in self.columns], type=pa.string())
        inputs = {}  # input index -> its raw values in part, taken once for all slots
        out = {}
        for prefix, index, value in (("reason", self.up_index, self.up_value),
                                     ("reason_down", self.down_index, self.down_value)):
            for slot in range(index.shape[1]):
                out[f"{prefix}_{slot + 1}"] = names.take(pa.array(index[:, slot]))
                if values:
                    out[f"{prefix}_{slot + 1}_value"] = self._values(part, index[:, slot], inputs)
                out[f"{prefix}_{slot + 1}_contribution"] = pa.array(value[:, slot], type=pa.float64())
        return out

    def names(self) -> list[str]:
        """The names of the output columns, in order."""
        return [f"{prefix}_{slot + 1}{suffix}" for prefix, k in (("reason", self.up_index.shape[1]),
                                                                   ("reason_down", self.down_index.shape[1]))
                for slot in range(k) for suffix in ("", "_value", "_contribution")]

    def parquet_options(self, columns: list[str]) -> dict:
        """``pyarrow.parquet.write_table`` options for a table of ``columns`` holding these reasons: a reason's
        value and contribution are nearly unique per row, so Parquet would build a dictionary for them only to drop
        it, and contributions (float64 noise to a compressor) are left uncompressed; other columns are written as
        without reasons."""
        unique = {name for name in self.names() if name.endswith(("_value", "_contribution"))}
        return {
            "use_dictionary": [name for name in columns if name not in unique],
            "compression": {name: "none" if name in unique and name.endswith("_contribution") else "snappy"
                            for name in columns},
        }

    def _values(self, part: pd.DataFrame, index: np.ndarray, inputs: dict) -> pa.Array:
        """Per row, its raw value of input ``index[row]`` as text: converted one input at a time, for the rows
        that name it, then put back in row order."""
        small = len(self.columns) < 2**15  # NumPy's stable sort of 16-bit integers is a radix sort
        order = np.argsort(index.astype(np.int16 if small else np.intp), kind="stable")
        bounds = np.searchsorted(index[order], np.arange(len(self.columns) + 1))
        pieces = [pa.array([], type=pa.string())]
        for g, column in enumerate(self.columns):
            rows = order[bounds[g] : bounds[g + 1]]
            if rows.size and isinstance(column, JoinedInputs):
                pieces.append(_joined_strings(part, rows, column))
            elif rows.size:
                if g not in inputs:
                    inputs[g] = part[column.name]
                pieces.append(_as_strings(inputs[g], rows, column, part))
        back = np.empty_like(order)
        back[order] = np.arange(order.size)
        return pa.concat_arrays(pieces).take(pa.array(back))


def _joined_strings(part: pd.DataFrame, rows: np.ndarray, joined: JoinedInputs) -> pa.Array:
    """Per row, the raw values of the joined columns as text, separated by ``"; "``."""
    texts = [_as_strings(part[column.name], rows, column, part) for column in joined.columns]
    return pc.binary_join_element_wise(*texts, "; ")


def _as_strings(values: pd.Series, rows: np.ndarray, column, part: pd.DataFrame) -> pa.Array:
    """``values[rows]`` as text: levels as the model reads them (:func:`~logreg_dist.prepare._as_text`), numbers
    as Arrow writes them (the shortest text that reads back as the same float32 or float64), a gap as
    ``(missing)``. A level training never saw says how it was scored: as the reference level, whose contribution
    the reason is; so does a gap in a numeric column complete in training (the value it was scored at: the fill
    from its collinear columns, else the training mean)."""
    if isinstance(column, CategoricalColumn):
        text = _as_text(values.iloc[rows])
        unseen = ~text.isin({column.reference, *column.levels, *column.folded})
        if unseen.any():
            text = text.where(~unseen, text + f" (unseen in training: scored as {column.reference})")
        return pa.array(text.to_numpy(dtype=object), type=pa.string())
    if isinstance(values.dtype, np.dtype):  # NumPy-backed: taken without pandas' indexing
        chosen = pa.array(values.to_numpy()[rows], from_pandas=True)  # NaN is a gap
    else:
        chosen = pa.Array.from_pandas(values.iloc[rows])
    text = pc.cast(chosen, pa.string())
    if not text.null_count:
        return text
    if isinstance(column, NumericColumn) and not column.indicator and not column.missing_with:
        # No indicator stands for the gap: the reason's contribution is that of the value scored in its place.
        gaps = np.flatnonzero(text.is_null().to_numpy(zero_copy_only=False))
        used = np.full(gaps.size, column.impute)
        if column.fill_from:
            fill = collinear_fill(part, column, rows[gaps])
            used = np.where(np.isnan(fill), used, fill)
        said = np.array([f"{MISSING_LEVEL[:-1]}: scored as {value:.6g})" for value in used], dtype=object)
        strings = text.to_numpy(zero_copy_only=False).astype(object)
        strings[gaps] = said
        return pa.array(strings, type=pa.string())
    return pc.fill_null(text, MISSING_LEVEL)
