"""The problem every peer solves: the data, its split, the standardization and the reference solution.

The objective, on features standardized with the population standard deviation
of the training rows, is

    mean log-loss + (l2 / 2) * ||coef_standardized||^2,   intercept unpenalized.

A :class:`Spec` carries one run's problem to the child process that fits it.
"""

from __future__ import annotations

import dataclasses
import json
import time
import warnings
from pathlib import Path

DEFAULT_ROWS = 4_200_000
DEFAULT_POSITIVES = 18_000  # per DEFAULT_ROWS: the lookalike case's 0.43 %
#: A light ridge: with 0.43 % positives the curvature per standardized feature is about
#: p (1 - p) = 4.3e-3, so 1e-4 adds ~2 % to the Hessian's diagonal (the demo's and README's value).
DEFAULT_L2 = 1e-4
REFERENCE_TOL = 1e-10
#: Level counts of the categorical columns added to the lookalike: a state, a product and a 3-digit zip code.
CATEGORICAL_LEVELS = (51, 300, 900)
#: Rows converted at a time, so that no full-size temporary of X is made.
CHUNK_ROWS = 65_536


@dataclasses.dataclass(frozen=True)
class Spec:
    """One run's problem and settings, as a child process receives them (a JSON file)."""

    data: str  # folder of Parquet files
    l2: float
    valid_fraction: float
    tmp: str = ""  # scratch folder of the run (scores, copies, the command's model)
    timeout: float = 3600.0  # seconds allowed to a command a peer starts itself
    skip_limit: bool = False
    skip_scoring: bool = False
    repeats: int = 3  # of each limit timing
    spark_driver_memory: str = "12g"
    levels: tuple[int, ...] = ()  # level counts of the categorical columns cat0, cat1, ...

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def read(cls, path: Path) -> Spec:
        fields = json.loads(Path(path).read_text())
        return cls(**{**fields, "levels": tuple(fields.get("levels", ()))})


# -- data ------------------------------------------------------------------------------------


def parquet_rows(data: Path) -> int:
    """Rows of a Parquet file, or of the ``*.parquet`` files of a folder, from their metadata."""
    import pyarrow.parquet as pq

    if data.is_file():
        return pq.ParquetFile(data).metadata.num_rows
    return sum(pq.ParquetFile(f).metadata.num_rows for f in sorted(data.glob("*.parquet")))


def default_positives(rows: int) -> int:
    """The lookalike's share of positives at ``rows``."""
    return max(1, round(rows * DEFAULT_POSITIVES / DEFAULT_ROWS))


def ensure_data(data: Path, rows: int, positives: int) -> tuple[int, float]:
    """Generate the customer base at ``data`` unless it is there; returns (rows, seconds spent generating)."""
    if data.exists() and any(data.glob("*.parquet")):
        found = parquet_rows(data)
        if found != rows:
            print(f"note: {data} holds {found:,} rows (not --rows {rows:,}); using it as it is", flush=True)
        return found, 0.0
    from logreg_dist.synth import generate

    print(f"generating {rows:,} rows ({positives:,} positives) into {data} ...", flush=True)
    started = time.perf_counter()
    generate(data, rows=rows, positives=positives, seed=0)
    seconds = time.perf_counter() - started
    print(f"generated in {seconds:.1f} s", flush=True)
    return rows, seconds


def ensure_categorical_data(base: Path, out: Path, levels) -> Path:
    """``out``: the files of ``base`` each with one string column per entry of ``levels`` (``cat0``, ``cat1``...),
    Zipf-like level frequencies (share of level k ~ 1 / k), drawn with a seed per file and column."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    if out.exists() and any(out.glob("*.parquet")):
        return out
    out.mkdir(parents=True, exist_ok=True)
    print(f"adding categorical columns of {list(levels)} levels to {base} into {out} ...", flush=True)
    for index, path in enumerate(sorted(base.glob("*.parquet"))):
        table = pq.read_table(path)
        for k, n_levels in enumerate(levels):
            rng = np.random.default_rng([index, k])
            share = 1.0 / np.arange(1, n_levels + 1)
            codes = rng.choice(n_levels, size=table.num_rows, p=share / share.sum())
            names = np.array([f"c{k}-{j:05d}" for j in range(n_levels)], dtype=object)
            table = table.append_column(f"cat{k}", pa.array(names[codes], type=pa.string()))
        pq.write_table(table, out / path.name)
    return out


def validation_rows(ids, fraction: float):
    """Boolean mask of the held-out rows among ``ids``: logreg-dist's own hashed split of ``customer_id``
    (``logreg_dist.training._validation_rows``, seed 0), the same rows for every peer."""
    import pandas as pd

    from logreg_dist.synth import ID_COLUMN
    from logreg_dist.training import _validation_rows

    return _validation_rows(pd.DataFrame({ID_COLUMN: ids}), ID_COLUMN, fraction, 0)


def load_arrays(data: str, valid_fraction: float):
    """Parquet -> float64 row-major (X_train, y_train, X_valid, y_valid), split by the hashed customer_id.

    Rows are converted a batch at a time, so the whole table never exists twice.
    """
    import numpy as np
    import pyarrow.parquet as pq

    from logreg_dist.synth import FEATURE_NAMES, ID_COLUMN, TARGET

    table = pq.read_table(data, columns=[ID_COLUMN, *FEATURE_NAMES, TARGET])
    valid = validation_rows(table.column(ID_COLUMN).to_numpy(), valid_fraction)
    n_valid = int(valid.sum())
    n_train = valid.size - n_valid
    p = len(FEATURE_NAMES)
    X_train, X_valid = np.empty((n_train, p)), np.empty((n_valid, p))
    y_all = table.column(TARGET).to_numpy().astype(np.float64)
    i_train = i_valid = start = 0
    for batch in table.select(list(FEATURE_NAMES)).to_batches(max_chunksize=CHUNK_ROWS):
        n = batch.num_rows
        block = np.empty((n, p))
        for j, column in enumerate(batch.columns):
            block[:, j] = column.to_numpy(zero_copy_only=False)
        mask = valid[start : start + n]
        k = int(mask.sum())
        X_valid[i_valid : i_valid + k] = block[mask]
        X_train[i_train : i_train + n - k] = block[~mask]
        i_valid, i_train, start = i_valid + k, i_train + n - k, start + n
    del table
    return X_train, y_all[~valid], X_valid, y_all[valid]


def column_moments(X):
    """Mean and population standard deviation (ddof=0) of each column, in chunks (no full-size temporary)."""
    import numpy as np

    mean = X.sum(axis=0) / X.shape[0]
    m2 = np.zeros(X.shape[1])
    for start in range(0, X.shape[0], CHUNK_ROWS):
        m2 += ((X[start : start + CHUNK_ROWS] - mean) ** 2).sum(axis=0)
    return mean, np.sqrt(m2 / X.shape[0])


def standardize_inplace(X, mean, std) -> None:
    for start in range(0, X.shape[0], CHUNK_ROWS):
        block = X[start : start + CHUNK_ROWS]
        block -= mean
        block /= std


def inverse_c(l2: float, n_train: int) -> float:
    """scikit-learn's and dask-ml's ``C`` for our ``l2``: their penalty is on the summed loss."""
    return 1.0 / (l2 * n_train) if l2 > 0 else float("inf")


def roc_auc(y, score) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, score))


# -- the reference ---------------------------------------------------------------------------


def reference(spec: Spec, memory) -> dict:
    """The reference solve (sklearn newton-cholesky, tol 1e-10) and then the limit on the same rows in memory.

    Run in a child process like a peer, with a peer's signature; it marks no phases of ``memory``.
    """
    import numpy as np
    from scipy.special import expit
    from sklearn.linear_model import LogisticRegression

    from bench.harness import caught
    from bench.limit import limit_passes

    out: dict = {}
    started = time.perf_counter()
    X_train, y_train, X_valid, y_valid = load_arrays(spec.data, spec.valid_fraction)
    mean, std = column_moments(X_train)
    standardize_inplace(X_train, mean, std)
    standardize_inplace(X_valid, mean, std)
    out["load_s"] = time.perf_counter() - started
    n_train, l2 = X_train.shape[0], spec.l2
    model = LogisticRegression(solver="newton-cholesky", C=inverse_c(l2, n_train), tol=REFERENCE_TOL, max_iter=100)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        started = time.perf_counter()
        model.fit(X_train, y_train)
        out["fit_s"] = time.perf_counter() - started
    coef_std, intercept_std = model.coef_[0].astype(float), float(model.intercept_[0])
    # The gradient of the exact objective at the reference, computed here in float64, in chunks.
    grad = np.zeros(X_train.shape[1] + 1)
    loss = 0.0
    for start in range(0, n_train, CHUNK_ROWS):
        Z, y = X_train[start : start + CHUNK_ROWS], y_train[start : start + CHUNK_ROWS]
        eta = Z @ coef_std + intercept_std
        resid = expit(eta) - y
        grad[:-1] += resid @ Z
        grad[-1] += resid.sum()
        loss += np.logaddexp(0.0, (1.0 - 2.0 * y) * eta).sum()
    grad /= n_train
    grad[:-1] += l2 * coef_std
    out.update(
        n_train=n_train,
        n_valid=int(X_valid.shape[0]),
        positives_train=int(y_train.sum()),
        positives_valid=int(y_valid.sum()),
        feature_mean=mean.tolist(),
        feature_std=std.tolist(),
        coef_standardized=coef_std.tolist(),
        intercept_standardized=intercept_std,
        coef=(coef_std / std).tolist(),
        intercept=intercept_std - float(mean @ (coef_std / std)),
        iterations=int(model.n_iter_[0]),
        objective=loss / n_train + 0.5 * l2 * float(coef_std @ coef_std),
        grad_max=float(np.max(np.abs(grad))),
        auc=roc_auc(y_valid, X_valid @ coef_std + intercept_std),
        warnings=caught(record),
        how=f"sklearn LogisticRegression(solver='newton-cholesky', C=1/(l2*n_train), tol={REFERENCE_TOL:g}) "
        "on the standardized training rows in memory (float64)",
    )
    del X_valid
    if not spec.skip_limit:
        out["limit"] = limit_passes(X_train, y_train, coef_std, intercept_std, repeats=spec.repeats)
    return out


def compare(results: dict, reference: dict, names) -> None:
    """Add to each result of ``names`` its coefficient errors against the reference, on the standardized
    scale and the original one."""
    import numpy as np

    std = np.asarray(reference["feature_std"])
    mean = np.asarray(reference["feature_mean"])
    ref_coef = np.asarray(reference["coef"])
    ref_std = np.asarray(reference["coef_standardized"])
    for name in names:
        result = results.get(name, {})
        if not result.get("ok") or "coef" not in result:
            continue
        coef = np.asarray(result["coef"])
        result["coef_err"] = float(np.max(np.abs(coef * std - ref_std)))
        result["coef_err_original"] = float(np.max(np.abs(coef - ref_coef)))
        intercept_std = result["intercept"] + float(mean @ coef)
        result["intercept_err"] = abs(intercept_std - reference["intercept_standardized"])


def load_categorical_frame(spec: Spec):
    """The categorical data set's training rows as a pandas frame: the features, ``cat0``... as pandas
    categoricals, and the target (no id)."""
    import pandas as pd

    from logreg_dist.synth import FEATURE_NAMES, ID_COLUMN, TARGET

    categorical = [f"cat{k}" for k in range(len(spec.levels))]
    frame = pd.read_parquet(spec.data, columns=[ID_COLUMN, *FEATURE_NAMES, *categorical, TARGET])
    valid = validation_rows(frame[ID_COLUMN], spec.valid_fraction)
    train = frame[~valid].drop(columns=ID_COLUMN)
    del frame
    for name in categorical:
        train[name] = train[name].astype("category")
    return train
