"""Scoring a customer base with a saved model: one pass that writes the scores and counts the drift.

Each partition is read, prepared by the model's own preparation, scored, and
written as ``part-NNNNN.parquet`` (the id column under its own name, or
``row``, each row's position in the data, where no id column is known;
``probability``, ``decile``, ``model_version``, and with ``reasons`` the
columns of :mod:`logreg_dist.reasons`) on the worker that read it; it returns
only small counts (rows, rows above the model's threshold, bins of the inputs
and of the score, rows per input as the first reason). The files go to a
staging folder beside the output, with ``_summary.json``, and the folder is
moved into place only when every partition is written: a failed run leaves the
previous output as it was. At an fsspec URL the files go under a run-specific
prefix instead, published by a pointer object (:mod:`logreg_dist.storage`).
"""

from __future__ import annotations

import json
import operator
import os
import shutil
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from scipy.special import expit

from ._data import partition_where
from .drift import PSI_FLAG, SCORE, Profile, chance_psi, profile_partition, psi, score_decile
from .exceptions import DuplicateIdsWarning, EmptyDataWarning, InputError, MissingValuesWarning, SeparationWarning
from .model import Model
from .outputs import check_output, naming_output
from .prepare import NumericColumn, _is_numeric
from .reasons import Contributions, check_reason_counts, joined_names, reason_inputs, used_inputs
from .storage import discard, filesystem, is_url, join, make_staging, move_into_place, new_run, publish
from .tables import read_table
from .training import _dedupe, _hashed_ids

__all__ = ["check_inputs", "check_reason_values", "check_reasons", "check_schema", "score_to_parquet"]

SUMMARY_FILE = "_summary.json"  # Parquet readers skip files that start with "_"


@dataclass
class ScoreTally:
    """What one partition's scoring returns: rows, rows at or above the threshold, the drift profile, and rows
    per input as the first reason (None without reasons)."""

    rows: int = 0
    above: int = 0
    profile: Profile = field(default_factory=Profile)
    top_reasons: np.ndarray | None = None
    ids: np.ndarray | None = None  # sorted distinct hashes of the ids scored (None without an id column)
    duplicated: np.ndarray | None = None  # the hashes seen more than once
    filled: dict = field(default_factory=dict)  # column -> gaps filled from the columns it is collinear with
    extreme: int = 0  # rows scored beyond EXTREME of 0 or 1

    def __add__(self, other: ScoreTally) -> ScoreTally:
        top = other.top_reasons if self.top_reasons is None else (
            self.top_reasons if other.top_reasons is None else self.top_reasons + other.top_reasons)
        ids = duplicated = None
        if self.ids is not None and other.ids is not None:
            # As training's discovery: the sorted hashes merge up the tree, and a hash met twice is a duplicate.
            ids, again = _dedupe(np.sort(np.concatenate([self.ids, other.ids]), kind="stable"))
            duplicated = np.union1d(np.union1d(self.duplicated, other.duplicated), again)
        filled = {name: self.filled.get(name, 0) + other.filled.get(name, 0) for name in {*self.filled, *other.filled}}
        return ScoreTally(self.rows + other.rows, self.above + other.above, self.profile + other.profile, top, ids,
                          duplicated, filled, self.extreme + other.extreme)


def check_schema(dtypes: dict, model: Model, source: str, id_column: str | None) -> None:
    """Raise, naming the column, if the data lacks a model input or the id column, or holds an input with the
    wrong kind of type: checked on the schema, before any row is read."""
    model.preparation.check_columns(dtypes, source)
    if id_column and id_column not in dtypes:
        raise InputError(f"{source} has no id column {id_column!r}; its columns are {list(dtypes)}. Name the column "
                         "that identifies each customer (--id-column).")
    # Every wrong one at once: a file written with text types often has several, and fixing them one run at a time
    # takes as many runs.
    wrong = [column.name for column in model.preparation.columns
             if isinstance(column, NumericColumn) and not _is_numeric(dtypes[column.name])]
    if len(wrong) == 1:
        raise InputError(f"column {wrong[0]!r} in {source} must be numeric, as in training; got dtype {dtypes[wrong[0]]}.")
    if wrong:
        raise InputError(f"columns {wrong} in {source} must be numeric, as in training; got dtypes "
                         f"{[str(dtypes[name]) for name in wrong]}.")


#: The output column that numbers the rows where the data has no id column.
ROW_COLUMN = "row"


def _score_partition(part: pd.DataFrame, *, model: Model, id_column: str | None, edges: dict, threshold: float | None,
                     path: str, where: str, storage_options: dict | None = None, reasons: int | None = None,
                     reasons_down: int | None = None, reason_values: bool = False, first_row: int = 0) -> ScoreTally:
    explained = None
    if reasons or reasons_down:  # the reasons come from the design block that is scored
        eta, explained = model.explained(part, top=reasons, down=reasons_down, where=where)
        probability = expit(eta)
    else:
        probability = model.predict_proba(part, where=where)
    table = pa.table(
        {
            **({id_column: pa.Array.from_pandas(part[id_column])} if id_column else
               {ROW_COLUMN: np.arange(first_row, first_row + len(part), dtype=np.int64)}),
            "probability": probability,
            "decile": score_decile(probability, edges[SCORE]),
            # The model's decision at the threshold its costs (or contact share) chose: whom to contact.
            **({"contact": probability >= threshold} if threshold is not None else {}),
            "model_version": pa.repeat(pa.scalar(str(model.version), type=pa.string()), len(part)),
            **(explained.arrays(part, values=reason_values) if explained is not None else {}),
        }
    )
    _write_part(table, path, storage_options,
                explained.parquet_options(table.column_names) if explained is not None else {})
    above = int((probability >= threshold).sum()) if threshold is not None else 0
    profile = profile_partition(part, probability, preparation=model.preparation, edges=edges)
    top = explained.top_counts() if explained is not None and reasons else None
    ids, duplicated = _dedupe(np.sort(_hashed_ids(part[id_column]))) if id_column else (None, None)
    extreme = int(np.count_nonzero((probability < EXTREME) | (probability > 1.0 - EXTREME)))
    return ScoreTally(len(part), above, profile, top, ids, duplicated, _filled_gaps(part, model), extreme)


#: A probability this close to 0 or 1 is no estimate a logistic model of customers gives honestly: where the model
#: has separated features, they put rows there (a level whose training rows were all one class, coefficient -23).
EXTREME = 1e-6


def _filled_gaps(part: pd.DataFrame, model: Model) -> dict:
    """Per column with a fill (``fill_from``), its gaps in ``part`` that the design filled
    (:func:`~logreg_dist.design.collinear_fill` defined there); the others took the training mean."""
    from .design import collinear_fill

    filled = {}
    for column in model.preparation.columns:
        if isinstance(column, NumericColumn) and column.fill_from:
            rows = np.flatnonzero(part[column.name].isna().to_numpy())
            n = int(np.count_nonzero(np.isfinite(collinear_fill(part, column, rows)))) if rows.size else 0
            if n:
                filled[column.name] = n
    return filled


def _write_part(table: pa.Table, path: str, storage_options: dict | None, options: dict) -> None:
    """Write one part file (Parquet ``options``), to a local path or an fsspec URL: the same bytes either way."""
    if not is_url(path):
        pq.write_table(table, path, **options)
        return
    fs, where = filesystem(path, storage_options)
    with fs.open(where, "wb") as handle:
        pq.write_table(table, handle, **options)


def check_reason_values(reason_values: bool, reasons: int | None, reasons_down: int | None) -> None:
    """Raise if each reason's value is asked for without reasons: it would be silently left out."""
    if reason_values and not (reasons or reasons_down):
        raise InputError("--reason-values adds each reason's value: it needs --reasons K or --reasons-down K.")


def check_reasons(model: Model, *, reasons: int | None, reasons_down: int | None, reason_values: bool = False,
                  source: str = "the model") -> None:
    """Raise unless ``model`` (named ``source`` in the error) can give ``reasons`` / ``reasons_down`` per row (and
    their values, with ``reason_values``)."""
    check_reason_values(reason_values, reasons, reasons_down)
    check_reason_counts(top=reasons, down=reasons_down, used=used_inputs(model), source=source,
                        joined=joined_names(model))
    if reasons or reasons_down:
        Contributions.of(model, source=source)  # a model without training means is refused before any row is read


def check_inputs(model: Model, data: str, *, id_column: str | None = None, reasons: int | None = None,
                 reasons_down: int | None = None, reason_values: bool = False, storage_options: dict | None = None,
                 source: str = "the model") -> tuple:
    """``(the lazy frame of data, the id column)`` once ``data`` can be scored by ``model`` with ``reasons``: every
    check that needs no row (the reasons asked for, the id column, each input's presence and kind), so that the
    command reports a wrong argument before a cluster starts. The id column is None where neither the caller nor
    the model names one: the rows are then numbered in the data's order (:data:`ROW_COLUMN`), as scikit-learn's
    and H2O's predictions come back in row order."""
    check_reasons(model, reasons=reasons, reasons_down=reasons_down, reason_values=reason_values, source=source)
    frame = read_table(data, storage_options=storage_options)
    id_column = id_column or model.preparation.id_column or None
    if id_column and (reasons or reasons_down) and id_column.startswith("reason_"):
        raise InputError(f"the id column {id_column!r} would clash with the reason columns (reason_1, ...); rename it "
                         "to score with reasons.")
    check_schema(dict(frame.dtypes.items()), model, str(data), id_column)
    return frame, id_column


def score_to_parquet(client, model: Model, data: str, out: str | os.PathLike, *, id_column: str | None = None,
                     split_every: int = 8, storage_options: dict | None = None, reasons: int | None = None,
                     reasons_down: int | None = None, reason_values: bool = False, allow_empty: bool = False) -> dict:
    """Score every row of ``data`` into the folder ``out`` (replaced whole) and return the run summary; on the
    cluster of ``client``, or in this process's threads when it is None. ``data`` and ``out`` may be fsspec URLs,
    opened with ``storage_options``. With ``reasons`` (``reasons_down``), each row also gets the inputs that raise
    (lower) its log-odds most (:mod:`logreg_dist.reasons`); with ``reason_values``, each reason's input value as
    text (which costs about as much as the reasons themselves).

    Data without rows is refused and ``out`` left as it was (an upstream extract that came out empty would otherwise
    replace the last good scores with none, on a schedule unseen); ``allow_empty`` writes the empty output instead."""
    from dask import compute, delayed

    from ._engine import tree_sum

    check_output(out, kind="scores", inputs=[data], storage_options=storage_options)
    frame, id_column = check_inputs(model, data, id_column=id_column, reasons=reasons, reasons_down=reasons_down,
                                    reason_values=reason_values, storage_options=storage_options)
    distribution = model.score_distribution or {}
    edges = distribution.get("edges")
    if not edges:
        raise InputError(
            "the model has no training profile (score deciles and input distributions); train it with the 'train' "
            "flow, which stores one, to score with deciles and drift checks."
        )
    threshold = (model.threshold or {}).get("threshold")

    fs = None
    if is_url(out):
        fs, root = filesystem(str(out), storage_options)
        staging = new_run(fs, root)
        folder = fs.unstrip_protocol(staging)
    else:
        out = Path(out).resolve()  # workers write the files: they need the absolute path
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = make_staging(out)
        folder = str(staging)
    try:
        parts = frame.to_delayed()
        first_rows = [0] * len(parts)
        if id_column is None:
            # Rows numbered across the partitions: each one's first row is the previous one's plus its length, taken
            # from the partition the scoring reads (in the same graph, so no file is read twice).
            for i in range(1, len(parts)):
                length = delayed(len, pure=True)(parts[i - 1])
                first_rows[i] = delayed(operator.add, pure=True)(first_rows[i - 1], length)
        layer = [
            delayed(_score_partition, pure=True)(
                part, model=model, id_column=id_column, edges=edges, threshold=threshold,
                path=join(folder, f"part-{i:05d}.parquet"), where=partition_where(i, len(parts), data),
                storage_options=storage_options, reasons=reasons, reasons_down=reasons_down,
                reason_values=reason_values, first_row=first_row,
            )
            for i, (part, first_row) in enumerate(zip(parts, first_rows))
        ]
        (tally,) = compute(tree_sum(layer, split_every=split_every), scheduler=client if client is not None else "threads")
        if not tally.rows and not allow_empty:
            raise InputError(f"{data} has no rows: nothing was scored, and {out} is left as it was (an empty "
                             "extract upstream?); allow_empty (--allow-empty) writes an empty score output instead.")
        summary = _summary_document(model, tally, edges, threshold, str(data) if is_url(data) else os.path.abspath(data),
                                    str(out))
        if fs is not None:
            fs.pipe_file(join(staging, SUMMARY_FILE), json.dumps(summary, indent=2).encode())
        else:
            (staging / SUMMARY_FILE).write_text(json.dumps(summary, indent=2))
            move_into_place(staging, out)
    except BaseException as error:
        if fs is not None:
            discard(fs, staging)
            raise
        shutil.rmtree(staging, ignore_errors=True)
        naming_output(error, out=out)  # a worker's full disk names the user's folder, not the staging one
        raise
    if fs is not None:
        publish(fs, root, staging)  # after the try: the run it names must not be discarded
    if summary["imputed"] or summary["missing_text"]:
        warnings.warn(imputed_text(summary["imputed"], summary["missing_text"], summary["imputed_from"]),
                      MissingValuesWarning, stacklevel=2)
    if summary["extreme_scores"] and summary["separated"]:
        warnings.warn(f"{summary['extreme_scores']:,} rows of {data} scored within 1e-6 of 0 or 1: the "
                      f"model's separated features ({_listed(summary['separated'])}) put rows there with coefficients "
                      "where the fit stopped, not estimates. Retrain with a penalty (alpha='auto', or l2 > 0).",
                      SeparationWarning, stacklevel=2)
    if summary["duplicate_ids"]:
        warnings.warn(f"{summary['duplicate_ids']:,} ids in column {id_column!r} of {data} appear more than once: each "
                      "of their rows was scored, so the scores hold those customers more than once; check the data.",
                      DuplicateIdsWarning, stacklevel=2)
    if not summary["rows"]:
        warnings.warn(f"{data} has no rows: the scores at {out} hold none, and there is no drift to check.",
                      EmptyDataWarning, stacklevel=2)
    return summary


def _listed(names: list, shown: int = 5) -> str:
    """At most ``shown`` names, and how many more."""
    return ", ".join(map(str, names[:shown])) + (f" and {len(names) - shown} more" if len(names) > shown else "")


def gaps_by_kind(imputed: dict, imputed_from: dict | None) -> tuple[dict, dict]:
    """``(filled, at_mean)``: per column (``_summary.json``'s ``imputed``), its gaps filled from the columns it is
    collinear with (``imputed_from``) and those scored at the training mean, each where nonzero."""
    imputed_from = imputed_from or {}
    filled = {name: imputed_from[name]["rows"] for name in imputed if name in imputed_from}
    return filled, {name: n - filled.get(name, 0) for name, n in imputed.items() if n > filled.get(name, 0)}


def imputed_text(imputed: dict, missing_text: dict | None = None, imputed_from: dict | None = None) -> str:
    """The warning for gaps in columns that had none in training (``_summary.json``'s ``imputed``,
    ``missing_text`` and ``imputed_from``): their rows were scored with the training mean (a number), from the
    columns a number is collinear with, or as the reference level (text), which a user should know before trusting
    those scores."""
    filled, mean = gaps_by_kind(imputed, imputed_from)
    imputed_from = imputed_from or {}
    parts = []
    if filled:
        parts.append("numbers from the columns they are collinear with in training (rows per column: "
                     + ", ".join(f"{name} {n:,} from {', '.join(imputed_from[name]['from'])}" for name, n in filled.items())
                     + ")")
    for rows, how in ((mean, "numbers as the training mean"), (missing_text or {}, "text as the reference level")):
        if rows:
            counts = ", ".join(f"{name} {n:,}" for name, n in rows.items())
            parts.append(f"{how} (rows per column: {counts})")
    return ("values missing in columns that had none in training were scored: " + "; ".join(parts)
            + "; check the data, or retrain on data with such gaps")


def _summary_document(model: Model, tally: ScoreTally, edges: dict, threshold, data: str, out: str) -> dict:
    """What ``_summary.json`` of a score output holds: rows scored, rows per decile, rows above the threshold, PSI of
    the score and of each input, unseen levels, gaps imputed in columns that had none in training, and with reasons
    the rows per input as the first reason."""
    training = (model.score_distribution or {}).get("counts", {})
    decile_counts = np.asarray(tally.profile.counts.get(SCORE, []))[::-1]  # bin 0 is the lowest scores
    drift = {}
    for name, counts in tally.profile.counts.items():
        # No rows, no distribution to compare: their shares would be 0 / 0, and a PSI of them meaningless.
        if tally.rows and name in training and len(training[name]) == len(counts):
            expected = np.asarray(training[name], dtype=float)
            value = psi(expected / expected.sum(), tally.profile.shares(name))
            # On a small file chance alone passes PSI_FLAG (every input was flagged on 25 rows): a flag must also
            # stand above what samples of this size from the training distribution reach.
            flagged = value > PSI_FLAG and value > chance_psi(expected / expected.sum(), tally.rows)
            drift[name] = {"psi": round(value, 6), "flagged": flagged}
    text = [column.name for column in model.preparation.columns if not isinstance(column, NumericColumn)]
    missing_text = {name: tally.profile.missing[name] for name in text if tally.profile.missing.get(name)}
    unseen = {name: int(tally.profile.counts[name][-1]) - missing_text.get(name, 0) for name in text}
    unseen = {name: rows for name, rows in unseen.items() if rows}
    imputed = {
        column.name: int(tally.profile.counts[column.name][-1])
        for column in model.preparation.columns
        if isinstance(column, NumericColumn) and not column.indicator and not column.missing_with
        and tally.profile.counts[column.name][-1]
    }
    # Of those gaps, the ones filled from the columns the column is collinear with in training (all present there).
    filled_from = {column.name: {"from": list(column.fill_from), "rows": tally.filled[column.name]}
                   for column in model.preparation.columns if tally.filled.get(column.name)}
    inputs = reason_inputs(model)[0]
    return {
        "data": data,
        "out": out,
        "model_version": model.version,
        "rows": tally.rows,
        # Ids met on more than one row (their rows are all scored), as 64-bit hashes: 0 without an id column.
        "duplicate_ids": 0 if tally.duplicated is None else int(tally.duplicated.size),
        "deciles": [{"decile": d + 1, "rows": int(n)} for d, n in enumerate(decile_counts)],
        "threshold": threshold,
        "above_threshold": tally.above if threshold is not None else None,
        # At the model's costs contacting nobody was cheapest: its threshold lies just above every validation score.
        "contacts_nobody": bool((model.threshold or {}).get("contacts_nobody")),
        "score_psi": drift.get(SCORE, {}).get("psi"),
        "psi": {name: value for name, value in drift.items() if name != SCORE},
        "flagged": sorted(name for name, value in drift.items() if value["flagged"]),
        "unseen_levels": unseen,
        "imputed": imputed,  # gaps in columns complete in training: scored with the training mean, or filled
        "imputed_from": filled_from,  # of those, the gaps filled from collinear columns: {column: {from, rows}}
        # Rows scored within 1e-6 of 0 or 1, and the model's separated features, which put rows there.
        "extreme_scores": tally.extreme,
        "separated": list((model.separation or {}).get("features", [])),
        "missing_text": missing_text,  # gaps in text columns complete in training: scored as the reference level
        "top_reasons": None if tally.top_reasons is None else {  # rows per input as reason_1, most frequent first
            inputs[g].name: int(tally.top_reasons[g])
            for g in np.argsort(-tally.top_reasons, kind="stable") if tally.top_reasons[g]
        },
    }
