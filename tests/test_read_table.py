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


def test_hive_folders_go_to_dask(tmp_path):
    hive = tmp_path / "hive"
    for year in (2024, 2025):
        (hive / f"year={year}").mkdir(parents=True)
        _frame(100, seed=year).to_parquet(hive / f"year={year}" / "part.parquet")
    assert "year" in read_table(hive).columns  # Dask's reader adds the partition column


def test_compatible_types_read_as_one_dtype_in_every_partition(tmp_path):
    import decimal

    mixed = tmp_path / "mixed"
    mixed.mkdir()
    first = _frame(50).assign(price=[decimal.Decimal("1.25")] * 50, day=pd.Timestamp("2025-03-01").date())
    first.astype({"plan": "category"}).to_parquet(mixed / "a.parquet")
    later = _frame(50, seed=1).astype({"x": "float64", "id": "int32"})
    later.assign(price=2.5, day=pd.Timestamp("2025-03-02").date())[list(first.columns)[::-1]].to_parquet(mixed / "b.parquet")
    frame = read_table(mixed)
    assert list(frame.columns) == list(first.columns)
    expected = {"id": "int64", "x": "float64", "price": "float64", "flag": "bool"}
    for part in [frame._meta, *(frame.get_partition(k).compute() for k in range(2))]:
        assert {name: str(part[name].dtype) for name in expected} == expected
        assert pd.api.types.is_string_dtype(part["plan"]) and pd.api.types.is_datetime64_any_dtype(part["day"])
    whole = frame.compute()
    assert len(whole) == 100 and whole["price"].tolist() == [1.25] * 50 + [2.5] * 50


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda f: f.drop(columns="flag"), r"b\.parquet lacks column 'flag', which the first file .*a\.parquet has"),
        (lambda f: f.assign(extra=1), r"b\.parquet has column 'extra', which the first file .*a\.parquet lacks"),
        (lambda f: f.assign(x=f["x"].astype(str)), r"column 'x' is (large_)?string in .*b\.parquet but float in the first"),
        (lambda f: f.assign(flag=pd.Timestamp("2025-01-01")), r"column 'flag' is timestamp\[..\] in .*b\.parquet but bool"),
    ],
)
def test_files_that_disagree_are_refused_naming_the_file_column_and_types(tmp_path, change, message):
    _frame(20).to_parquet(tmp_path / "a.parquet")
    change(_frame(20, seed=1)).to_parquet(tmp_path / "b.parquet")
    with pytest.raises(InputError, match=message):
        read_table(tmp_path)


def test_a_corrupt_file_is_named(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    _frame(10).to_parquet(folder / "good.parquet")
    (folder / "bad.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(InputError, match=r"cannot read Parquet file .*bad\.parquet: "):
        read_table(folder)
    damaged = bytearray((folder / "good.parquet").read_bytes())
    damaged[4:68] = b"\xff" * 64  # the first page: the footer still reads, the data does not
    (folder / "bad.parquet").write_bytes(bytes(damaged))
    frame = read_table(folder)
    with pytest.raises(InputError, match=r"cannot read Parquet file .*bad\.parquet: "):
        frame.compute()
    with pytest.raises(InputError, match="no Parquet data"):
        read_table(tmp_path / "missing")


def test_a_csv_given_for_parquet_is_told_how_to_convert(tmp_path):
    _frame(10).to_csv(tmp_path / "customers.csv", index=False)
    with pytest.raises(InputError, match=r"customers\.csv: .*logreg-dist reads Parquet; convert the text file once"):
        read_table(tmp_path / "customers.csv")
    (tmp_path / "bad.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(InputError) as refused:  # a damaged Parquet file gets no such advice
        read_table(tmp_path / "bad.parquet")
    assert "convert" not in str(refused.value)
