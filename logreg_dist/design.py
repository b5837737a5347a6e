"""The design of one partition: the prepared columns as the kernels read them, without a float64 copy.

:func:`design_block` turns a raw pandas partition into a block ``(X, y,
None)`` of the estimator's kernels, following a
:class:`~logreg_dist.prepare.Preparation`. ``X`` is a
:class:`~logreg_dist._kernels.ColumnRuns` in the order of
``preparation.feature_names``:

- numeric and boolean columns are views of the partition's own arrays, in
  their own dtype (no copy, no new memory), except a column with gaps in this
  partition, which is copied once with the training mean in them;
- a ``__missing`` indicator is a boolean column;
- a categorical column is one integer code per row (int8, int16 or int32 by
  its number of levels): 0 for the reference, a level folded into it and a
  level unseen in training, ``k`` for its ``k``-th level. A partition with
  categorical columns is a :class:`~logreg_dist._codes.CodedBlock` (its
  numeric columns as above, the codes beside them); the kernels never form a
  column per level.

Training, validation, evaluation, the training profile and rescoring all build
their rows here, and score them with :func:`logreg_dist._predict.decision`:
there is no second implementation of the preparation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._codes import CodedBlock, CodedLayout, code_dtype
from ._data import _column_runs
from ._kernels import ColumnRuns
from .exceptions import InputError
from .prepare import OTHER_LEVEL, CategoricalColumn, NumericColumn, Preparation, _is_numeric, text_codes

__all__ = ["collinear_fill", "design_block", "level_codes"]


def design_block(part: pd.DataFrame, preparation: Preparation, *, where: str = "the data",
                 target: bool = True) -> tuple:
    """``(X, y, None)`` of one partition: ``X`` the encoded features (see the module docstring), ``y`` the target
    as 0.0/1.0 (None when ``target`` is False). Errors name ``where``."""
    preparation.check_columns(part.columns, where)
    runs: list[np.ndarray] = []
    views: list[str] = []  # consecutive numeric columns taken as they are, turned into runs together
    codes: list[np.ndarray] = []
    numeric_index: list[int] = []
    starts: list[int] = []
    n_levels: list[int] = []

    def flush():
        if views:
            block = _column_runs(part[views])
            runs.extend(block.runs if isinstance(block, ColumnRuns) else [block])
            views.clear()

    for column in preparation.columns:
        position = len(numeric_index) + sum(n_levels)
        if isinstance(column, NumericColumn):
            numeric_index.extend(range(position, position + len(column.encoded)))
            filled, gaps = _numeric_values(part, column, preparation, where)
            if filled is None:
                views.append(column.name)
            else:
                flush()
                runs.append(filled[:, None])
            if column.indicator:
                flush()
                runs.append((np.zeros(len(part), dtype=bool) if gaps is None else gaps)[:, None])
            continue
        starts.append(position)
        n_levels.append(len(column.levels))
        codes.append(_codes(part[column.name], column))
    flush()
    X = ColumnRuns(runs) if runs else np.empty((len(part), 0))
    if codes:
        layout = CodedLayout(len(numeric_index) + sum(n_levels), np.array(numeric_index, dtype=np.int64),
                             tuple(starts), tuple(n_levels))
        X = CodedBlock(X, codes, layout)
    y = preparation.target_values(part, where=where) if target else None
    return X, y, None


def _numeric_values(part: pd.DataFrame, column: NumericColumn, preparation: Preparation, where: str) -> tuple:
    """``(None, None)`` when the column can be read as it is, else ``(a float64 copy with the training mean in
    its gaps, the gaps)``; a gap of a column with a fill (``column.fill_from``) takes the fill where its columns
    are all present."""
    values = part[column.name]
    if not _is_numeric(values.dtype):
        raise InputError(
            f"column {column.name!r} in {where} must be numeric, as in training; got dtype "
            f"{values.dtype} with values such as {values.dropna().astype(str).head(3).tolist()}."
        )
    plain = isinstance(values.dtype, np.dtype)
    if plain and values.dtype.kind in "biu":  # integers and booleans hold no gaps and no infinities
        return None, None
    x = values.to_numpy() if plain else values.to_numpy(dtype=np.float64, na_value=np.nan)
    finite = np.isfinite(x)
    if plain and finite.all():
        return None, None
    gaps = np.isnan(x)
    if (~finite & ~gaps).any():
        raise InputError(f"column {column.name!r} in {where} holds infinite values; expected finite numbers.")
    if gaps.any() and not column.indicator and preparation.missing == "error":
        raise InputError(
            f"column {column.name!r} in {where} has {int(gaps.sum())} missing values; the model was "
            "trained with missing='error', so it learned no imputation for it."
        )
    filled = np.where(gaps, column.impute, x).astype(np.float64, copy=False)
    if column.fill_from and gaps.any():
        rows = np.flatnonzero(gaps)
        fill = collinear_fill(part, column, rows)
        known = np.isfinite(fill)  # a row missing one of the fill's columns too keeps the mean
        filled[rows[known]] = fill[known]
    return filled, gaps


def collinear_fill(part: pd.DataFrame, column: NumericColumn, rows: np.ndarray) -> np.ndarray:
    """The fill of ``column`` (``fill_intercept + fill_coef . fill_from``) at ``rows`` of ``part``: NaN where one
    of its columns is missing, or not numeric (that column's own check names it)."""
    fill = np.full(rows.size, column.fill_intercept)
    for name, coef in zip(column.fill_from, column.fill_coef):
        if not _is_numeric(part[name].dtype):
            return np.full(rows.size, np.nan)
        fill += coef * part[name].iloc[rows].to_numpy(dtype=np.float64, na_value=np.nan)
    return fill


def level_codes(values: pd.Series, column: CategoricalColumn) -> np.ndarray:
    """Per row, the index of its level in ``[reference, *levels]``; ``len(levels) + 1`` for a level never seen in
    training (scored as the reference). Levels folded into ``(other)`` take the code of ``(other)``."""
    codes, texts, _ = text_codes(values)  # the levels are looked up once per distinct value, not per row
    if column.folded:
        texts = np.where(pd.Index(texts).isin(column.folded), OTHER_LEVEL, texts)
    known = [column.reference, *column.levels]
    found = pd.Index(known).get_indexer(texts)
    found[found < 0] = len(known)
    return found[codes]


def _codes(values: pd.Series, column: CategoricalColumn) -> np.ndarray:
    """Per row, the code of its level (0 for the reference, a level folded into it and an unseen level), in the
    smallest integer type that holds them."""
    codes = level_codes(values, column)
    codes[codes > len(column.levels)] = 0
    return codes.astype(code_dtype(len(column.levels)))
