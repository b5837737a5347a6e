"""read_table: plain Parquet files read with pyarrow directly, the same frame Dask's reader gives."""

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from logreg_dist.exceptions import InputError
from logreg_dist.tables import read_table


def _frame(n, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "id": np.arange(n, dtype=np.int64) + 1000 * seed,
        "x": rng.normal(size=n).astype(np.float32),
        "plan": rng.choice(["basic", "pro", None], size=n),
        "flag": rng.uniform(size=n) < 0.3,
    })


def test_a_folder_of_files_reads_like_dask_with_projection(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    for k in range(3):
        _frame(500 + k, seed=k).to_parquet(folder / f"part-{k}.parquet")
    (folder / "_summary.json").write_text("{}")  # what a scoring run leaves beside its files
    ours = read_table(folder)
    theirs = dd.read_parquet(str(folder / "*.parquet"))
    assert ours.npartitions == 3
    assert list(ours.dtypes) == list(theirs.dtypes)
    pd.testing.assert_frame_equal(ours.compute(), theirs.compute())
    projected = read_table(folder, columns=["x", "id"]).compute()
    assert list(projected.columns) == ["x", "id"] and len(projected) == 1503


def test_a_large_file_is_split_by_row_groups(tmp_path, monkeypatch):
    import logreg_dist.tables as tables

    frame = _frame(10_000)
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp_path / "one.parquet", row_group_size=1000)
    monkeypatch.setattr(tables, "PARTITION_ROWS", 2500)
    ours = read_table(tmp_path / "one.parquet")
    assert ours.npartitions == 4  # runs of 3, 3, 3 and 1 row groups
    pd.testing.assert_frame_equal(ours.compute().reset_index(drop=True), frame, check_dtype=False)


def test_hive_folders_and_differing_schemas_go_to_dask(tmp_path):
    hive = tmp_path / "hive"
    for year in (2024, 2025):
        (hive / f"year={year}").mkdir(parents=True)
        _frame(100, seed=year).to_parquet(hive / f"year={year}" / "part.parquet")
    assert "year" in read_table(hive).columns  # Dask's reader adds the partition column
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    _frame(50).to_parquet(mixed / "a.parquet")
    _frame(50, seed=1).astype({"x": "float64"}).to_parquet(mixed / "b.parquet")
    assert len(read_table(mixed).compute()) == 100


def test_a_corrupt_file_is_named(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    _frame(10).to_parquet(folder / "good.parquet")
    (folder / "bad.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(InputError, match=r"bad\.parquet"):
        read_table(folder)
    with pytest.raises(InputError, match="no Parquet data"):
        read_table(tmp_path / "missing")
