"""A deterministic synthetic customer base shaped like the lookalike case.

85 behavioural features: five blocks of ten correlated continuous measures,
twenty counts and fifteen flags; an id column; a rare positive class (about
18,000 in 4,200,000 by default). The label follows a planted logistic signal:
three strong features and a tail of weak ones, so that a correct full model
reaches a held-out AUC near 0.74 and the three strongest features alone near
0.71. The table is written one partition at a time (never whole in memory),
into a temporary folder that is moved into place when complete.
"""

from __future__ import annotations

import math
import os
import shutil
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from scipy import optimize
from scipy.special import expit

from .outputs import check_output, naming_output
from .storage import make_staging, move_into_place

__all__ = ["FEATURE_NAMES", "ID_COLUMN", "TARGET", "CustomerBase", "customer_base", "generate"]

BLOCKS = ("engagement", "spend", "content", "social", "recency")
N_COUNTS = 20
N_FLAGS = 15
TARGET = "converted"
ID_COLUMN = "customer_id"


@dataclass(frozen=True)
class CustomerBase:
    """The generating model: names, the planted coefficients on standardized features, the intercept,
    and the population mean and std that standardize the raw features."""

    feature_names: tuple[str, ...]
    coef: np.ndarray  # planted, per standardized feature
    intercept: float
    seed: int
    mean: np.ndarray
    std: np.ndarray

    @property
    def strongest(self) -> list[str]:
        order = np.argsort(-np.abs(self.coef))
        return [self.feature_names[j] for j in order[:3]]


def _feature_names() -> tuple[str, ...]:
    names = [f"{block}_{k:02d}" for block in BLOCKS for k in range(1, 11)]
    names += [f"count_{k:02d}" for k in range(1, N_COUNTS + 1)]
    names += [f"flag_{k:02d}" for k in range(1, N_FLAGS + 1)]
    return tuple(names)


FEATURE_NAMES = _feature_names()


def _standardized_rows(rng: np.random.Generator, n_rows: int) -> np.ndarray:
    """Rows of the 85 features, each with mean 0 and variance 1 in the population."""
    n_continuous = 10 * len(BLOCKS)
    out = np.empty((n_rows, n_continuous + N_COUNTS + N_FLAGS))
    for b in range(len(BLOCKS)):
        block_factor = rng.standard_normal((n_rows, 1))
        out[:, 10 * b : 10 * b + 10] = 0.6 * block_factor + 0.8 * rng.standard_normal((n_rows, 10))
    latent = rng.standard_normal((n_rows, N_COUNTS))
    rates = np.exp(0.5 + 0.4 * latent)
    out[:, n_continuous : n_continuous + N_COUNTS] = rng.poisson(rates)
    flag_latent = 0.7 * rng.standard_normal((n_rows, 1)) + 0.71 * rng.standard_normal((n_rows, N_FLAGS))
    out[:, n_continuous + N_COUNTS :] = flag_latent > 1.0
    return out


def _population_moments() -> tuple[np.ndarray, np.ndarray]:
    """Mean and std of each raw feature, from a large fixed sample (the model is defined on these)."""
    sample = _standardized_rows(np.random.default_rng(2**31 - 1), 400_000)
    return sample.mean(0), sample.std(0)


def _planted_coef(names: tuple[str, ...]) -> np.ndarray:
    coef = np.zeros(len(names))
    index = {name: j for j, name in enumerate(names)}
    coef[index["engagement_03"]] = 0.56
    coef[index["recency_07"]] = -0.45
    coef[index["count_05"]] = 0.36
    tail = [n for n in names if n not in ("engagement_03", "recency_07", "count_05")]
    weak = np.random.default_rng(7).normal(0.0, 0.058, len(tail))
    for name, value in zip(tail, weak):
        coef[index[name]] = value
    return coef


def customer_base(n_rows: int, n_positives: int, seed: int = 0) -> CustomerBase:
    """The generating model for a base of ``n_rows`` with about ``n_positives`` positives."""
    names = _feature_names()
    coef = _planted_coef(names)
    mean, std = _population_moments()
    sample = (_standardized_rows(np.random.default_rng(2**31 - 2), 400_000) - mean) / std
    signal = sample @ coef
    rate = n_positives / n_rows
    intercept = optimize.brentq(lambda b: expit(b + signal).mean() - rate, -30.0, 30.0)
    return CustomerBase(names, coef, float(intercept), seed, mean, std)


def _partition(model: CustomerBase, k: int, start: int, n_rows: int) -> pa.Table:
    rng = np.random.default_rng([model.seed, k])
    raw = _standardized_rows(rng, n_rows)
    eta = model.intercept + ((raw - model.mean) / model.std) @ model.coef
    label = (rng.uniform(size=n_rows) < expit(eta)).astype(np.int8)
    columns = {ID_COLUMN: np.arange(start, start + n_rows, dtype=np.int64)}
    n_continuous = 10 * len(BLOCKS)
    for j, name in enumerate(model.feature_names):
        values = raw[:, j]
        if j < n_continuous:
            columns[name] = values.astype(np.float32)
        elif j < n_continuous + N_COUNTS:
            columns[name] = values.astype(np.int32)
        else:
            columns[name] = values.astype(bool)
    columns[TARGET] = label
    return pa.table(columns)


def generate(
    out: str | os.PathLike,
    *,
    rows: int = 4_200_000,
    positives: int = 18_000,
    partitions: int | None = None,
    seed: int = 0,
) -> CustomerBase:
    """Write the customer base as Parquet files ``part-00000.parquet`` ... into the folder ``out``.

    The same ``rows``, ``positives``, ``partitions`` and ``seed`` give the same
    files. ``out`` must not exist yet, or be an empty folder; the files are written
    in a staging folder beside it, moved into place when all are written.
    """
    if rows < 1 or not 0 < positives < rows:
        raise ValueError(f"need rows >= 1 and 0 < positives < rows; got rows={rows}, positives={positives}.")
    out = check_output(out, kind="generated")
    partitions = partitions or max(1, math.ceil(rows / 250_000))
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = make_staging(out)  # first: a place that cannot be written fails before the work
    try:
        model = customer_base(rows, positives, seed)
        size = math.ceil(rows / partitions)
        for k in range(partitions):
            start = k * size
            n = min(size, rows - start)
            if n <= 0:
                break
            pq.write_table(_partition(model, k, start, n), staging / f"part-{k:05d}.parquet")
        move_into_place(staging, out)
    except BaseException as error:
        shutil.rmtree(staging, ignore_errors=True)
        naming_output(error, out=out)
        raise
    return model
