"""Rescoring: logreg-dist's ``score_to_parquet`` over every file (without and with reasons) against pyarrow
reading and writing the same files, in the child that fitted ours."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from bench.harness import TreeMemory
from bench.problem import Spec


def score_ours(spec: Spec, client, ours: dict, memory: TreeMemory) -> dict:
    """Seconds of logreg-dist's score_to_parquet over every file, with a model holding our fitted coefficients."""
    from logreg_dist.scoring import score_to_parquet
    from logreg_dist.synth import FEATURE_NAMES, ID_COLUMN, TARGET
    from logreg_dist.training import TrainingRows

    out: dict = {}
    rows = TrainingRows.read(spec.data, client=client, id_column=ID_COLUMN, valid_fraction=spec.valid_fraction)
    try:
        preparation = rows.discover(target=TARGET, id_column=ID_COLUMN)
        if preparation.feature_names != list(FEATURE_NAMES):
            raise RuntimeError(f"unexpected preparation features {preparation.feature_names[:5]} ...")
        model = _model_of(ours, preparation, spec.l2)
        model.score_distribution = rows.profile(model)  # as a trained model has it: drift bins
    finally:
        rows.close()
    target = Path(spec.tmp) / "scores"
    with memory.phase("score"):
        started = time.perf_counter()
        summary = score_to_parquet(client, model, spec.data, target)
        out["score_s"] = time.perf_counter() - started
    shutil.rmtree(target, ignore_errors=True)
    with memory.phase("score with reasons"):
        started = time.perf_counter()
        score_to_parquet(client, model, spec.data, target, reasons=3)  # `logreg-dist score --reasons 3`
        out["score_reasons_s"] = time.perf_counter() - started
    shutil.rmtree(target, ignore_errors=True)
    out["rows"] = int(summary["rows"])
    return out


def _model_of(ours: dict, preparation, l2: float):
    """A model holding our fitted coefficients (no standard errors), for scoring."""
    import numpy as np

    from logreg_dist.model import Model

    p = len(preparation.feature_names)
    return Model(
        preparation=preparation,
        coef=np.asarray(ours["coef"]),
        intercept=float(ours["intercept"]),
        std_errors=np.full(p, np.nan),
        intercept_std_error=float("nan"),
        feature_mean=np.asarray(ours["feature_mean"]),
        feature_scale=np.asarray(ours["feature_scale"]),
        coef_standardized=np.asarray(ours["coef_standardized"]),
        l2=l2,
        solver=ours["solver"],
        n_iter=int(ours["iterations"]),
        converged=True,
        version="bench",
    )


def pyarrow_copy(spec: Spec, memory: TreeMemory) -> dict:
    """Seconds of pyarrow reading and writing the same files, every column, no scoring, in this process."""
    import pyarrow.parquet as pq

    copy = Path(spec.tmp) / "pyarrow-copy"
    copy.mkdir(parents=True, exist_ok=True)
    read_s = write_s = 0.0
    with memory.phase("pyarrow"):
        for path in sorted(Path(spec.data).glob("*.parquet")):
            started = time.perf_counter()
            table = pq.read_table(path)
            read_s += time.perf_counter() - started
            started = time.perf_counter()
            pq.write_table(table, copy / path.name)
            write_s += time.perf_counter() - started
            del table
    shutil.rmtree(copy, ignore_errors=True)
    return {"pyarrow_read_s": read_s, "pyarrow_write_s": write_s, "pyarrow_s": read_s + write_s}
