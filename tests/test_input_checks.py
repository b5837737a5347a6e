"""Issue 17, nothing lost, nothing silent: data that cannot be used as given is refused before any work.

Each refusal goes through ``logreg-dist train`` as a user runs it: exit status
2, a message on stderr naming the file and the column, every file under the
test's folder byte-identical afterwards, and no model folder. The cases that
must succeed (compatible widths, decimals, separation) check what was fitted.
"""

import contextlib
import decimal
import io
import json
import re
import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from logreg_dist.cli import main

pytestmark = pytest.mark.cluster


def _customers(n=400, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    spend = rng.gamma(2.0, 50.0, n)
    visits = rng.poisson(4, n).astype(np.int64)
    region = rng.choice(["north", "south", "east"], n)
    eta = 0.01 * (spend - 100) + 0.2 * (visits - 4) + np.where(region == "north", 0.5, 0.0)
    return pd.DataFrame({
        "customer_id": np.arange(n, dtype=np.int64) + 10_000 * seed,
        "spend": spend,
        "visits": visits,
        "region": region,
        "converted": (rng.uniform(size=n) < 1 / (1 + np.exp(-eta))).astype(np.int64),
    })


def _folder(tmp_path, *parts: pd.DataFrame):
    folder = tmp_path / "customers"
    folder.mkdir()
    for k, part in enumerate(parts):
        pq.write_table(pa.Table.from_pandas(part, preserve_index=False), folder / f"part-{k}.parquet")
    return folder


def _snapshot(root) -> dict:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _train(tmp_path, data, client, *extra) -> int:
    return main(["train", str(data), "--target", "converted", "--id-column", "customer_id", "--out", str(tmp_path / "model"),
                 "--scheduler", client.scheduler.address, *extra])


def _refused(tmp_path, client, data, *extra) -> str:
    """Run ``train`` expecting a refusal: exit 2, nothing changed under ``tmp_path``, no model; the stderr.

    stderr is a buffer of our own, not capsys's: Prefect's console log handler binds the stream that is
    sys.stderr when it is configured and writes to it in later tests, after capsys has closed it.
    """
    before = _snapshot(tmp_path)
    with contextlib.redirect_stderr(io.StringIO()) as stderr:
        status = _train(tmp_path, data, client, *extra)
    assert status == 2, stderr.getvalue()
    assert _snapshot(tmp_path) == before
    assert not (tmp_path / "model").exists()
    return stderr.getvalue()


def _model(tmp_path) -> dict:
    return json.loads((tmp_path / "model" / "model.json").read_text())


# -- the files of a data set agree -------------------------------------------------------------------------------


def test_a_column_missing_from_a_later_file_is_named(prefect_harness, local_client, tmp_path):
    folder = _folder(tmp_path, _customers(), _customers(seed=1), _customers(seed=2).drop(columns="visits"))
    err = _refused(tmp_path, local_client, folder)
    assert f"{folder / 'part-2.parquet'} lacks column 'visits', which the first file {folder / 'part-0.parquet'} has" in err


def test_a_column_missing_from_the_first_file_is_named(prefect_harness, local_client, tmp_path):
    folder = _folder(tmp_path, _customers(), _customers(seed=1).assign(bonus=1.5))
    err = _refused(tmp_path, local_client, folder)
    assert f"{folder / 'part-1.parquet'} has column 'bonus', which the first file {folder / 'part-0.parquet'} lacks" in err


def test_text_in_a_later_file_where_the_first_has_numbers_is_named(prefect_harness, local_client, tmp_path):
    later = _customers(seed=1)
    folder = _folder(tmp_path, _customers(), later.assign(visits=later["visits"].astype(str)))
    err = _refused(tmp_path, local_client, folder)
    assert re.search(rf"column 'visits' is (large_)?string in {re.escape(str(folder / 'part-1.parquet'))} but int64 in the first file", err)


def test_files_without_rows_are_named(prefect_harness, local_client, tmp_path):
    folder = _folder(tmp_path, _customers().iloc[:0], _customers(seed=1).iloc[:0])
    err = _refused(tmp_path, local_client, folder)
    assert f"{folder} has no rows to train on." in err


def test_integer_widths_that_differ_between_files_are_one_numeric_column(prefect_harness, local_client, tmp_path):
    later = _customers(seed=1)
    folder = _folder(tmp_path, _customers(), later.assign(visits=later["visits"].astype(np.int32), spend=later["spend"].astype(np.float32)))
    assert _train(tmp_path, folder, local_client, "--valid-fraction", "0") == 0
    model = _model(tmp_path)
    assert model["features"][:2] == ["spend", "visits"] and model["training"]["rows"] == 800
    assert [c["kind"] for c in model["preparation"]["columns"][:2]] == ["numeric", "numeric"]


# -- types decided on purpose ------------------------------------------------------------------------------------


def test_a_date_column_is_refused_with_how_to_use_it(prefect_harness, local_client, tmp_path):
    frame = _customers()
    frame["signup"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(np.arange(len(frame)), unit="D")
    err = _refused(tmp_path, local_client, _folder(tmp_path, frame))
    assert "feature column 'signup' holds dates or times" in err and "days since a reference date" in err
    assert "--exclude signup" in err


def test_a_duration_column_is_refused_with_how_to_use_it(prefect_harness, local_client, tmp_path):
    frame = _customers()
    frame["since_last"] = pd.to_timedelta(np.arange(len(frame)) % 90, unit="D")
    err = _refused(tmp_path, local_client, _folder(tmp_path, frame))
    assert "feature column 'since_last' holds durations" in err and "number of days" in err


def test_a_decimal_column_is_trained_as_a_number(prefect_harness, local_client, tmp_path):
    frame = _customers()
    frame["spend"] = [decimal.Decimal(f"{v:.2f}") for v in frame["spend"]]
    assert _train(tmp_path, _folder(tmp_path, frame), local_client, "--valid-fraction", "0") == 0
    model = _model(tmp_path)
    spend = model["preparation"]["columns"][0]
    assert spend["name"] == "spend" and spend["kind"] == "numeric" and "spend" in model["features"]
    assert model["coef"][model["features"].index("spend")] > 0  # the planted effect, so the values were read


def test_numbers_stored_as_text_are_named_as_such(prefect_harness, local_client, tmp_path):
    frame = _customers()
    frame["balance"] = (frame["spend"] * 3).map("{:.2f}".format)
    err = _refused(tmp_path, local_client, _folder(tmp_path, frame))
    assert "column 'balance' holds numbers stored as text" in err and "id or free text" not in err


def test_text_ids_are_named_as_an_id_or_free_text(prefect_harness, local_client, tmp_path):
    frame = pd.concat([_customers(800), _customers(800, seed=1)], ignore_index=True)  # 1,280 training rows
    frame["account"] = [f"AC-{k:05d}" for k in range(len(frame))]
    err = _refused(tmp_path, local_client, _folder(tmp_path, frame))
    assert re.search(r"column 'account' has (1\d\d\d) distinct values in \1 rows; it looks like an id or free text, not a "
                     r"category: pass it as the id column \(--id-column account\) or exclude it \(--exclude account\)", err)


def test_a_numeric_column_named_like_a_level_of_a_text_column_is_refused(prefect_harness, local_client, tmp_path):
    frame = _customers()
    frame["region=north"] = np.arange(len(frame)) % 7 * 1.0
    err = _refused(tmp_path, local_client, _folder(tmp_path, frame))
    assert "feature 'region=north' would be both level 'north' of text column 'region' and column 'region=north'" in err


def test_a_numeric_column_named_like_a_missing_indicator_is_refused(prefect_harness, local_client, tmp_path):
    frame = _customers()
    frame.loc[::9, "spend"] = np.nan
    frame["spend__missing"] = np.arange(len(frame)) % 5 * 1.0
    err = _refused(tmp_path, local_client, _folder(tmp_path, frame))
    assert "the missing-value indicator of column 'spend'" in err and "'spend__missing'" in err


def test_values_whose_squares_overflow_are_refused(prefect_harness, local_client, tmp_path):
    frame = _customers()
    frame.loc[17, "spend"] = -1e300
    err = _refused(tmp_path, local_client, _folder(tmp_path, frame))
    assert "feature column 'spend' holds -1e+300" in err


# -- errors name the file ----------------------------------------------------------------------------------------


def test_a_file_damaged_in_the_middle_is_named(prefect_harness, local_client, tmp_path):
    folder = _folder(tmp_path, _customers(), _customers(seed=1))
    damaged = folder / "part-1.parquet"
    data = bytearray(damaged.read_bytes())
    data[4:68] = b"\xff" * 64  # the first page header and the start of its data: the footer is intact
    damaged.write_bytes(bytes(data))
    err = _refused(tmp_path, local_client, folder)
    assert f"cannot read Parquet file {damaged}: " in err


def test_a_truncated_file_is_named(prefect_harness, local_client, tmp_path):
    folder = _folder(tmp_path, _customers(), _customers(seed=1))
    truncated = folder / "part-0.parquet"
    truncated.write_bytes(truncated.read_bytes()[:-100])
    err = _refused(tmp_path, local_client, folder)
    assert f"cannot read Parquet file {truncated}: " in err


# -- separation --------------------------------------------------------------------------------------------------


def test_separation_without_a_penalty_is_said_and_its_standard_errors_are_null(prefect_harness, local_client, tmp_path):
    frame = _customers(800)
    frame["converted"] = (frame["spend"] > 120).astype(np.int64)  # spend alone separates the classes
    with pytest.warns(Warning, match=r"'spend' above 1[12]\d\.?\d* predicts the positive class"):
        status = _train(tmp_path, _folder(tmp_path, frame), local_client, "--l2", "0")
    assert status == 0
    model = _model(tmp_path)
    assert model["separation"]["features"][0] == "spend" and model["separation"]["perfect_prediction"]
    assert model["std_errors"][model["features"].index("spend")] is None
    from logreg_dist.model import load_model

    row = next(r for r in load_model(tmp_path / "model").coefficient_table() if r["feature"] == "spend")
    assert row["separated"] and row["std_error"] is row["z"] is row["p_value"] is row["ci_low"] is None


def test_separation_is_told_apart_from_a_strong_effect():
    from logreg_dist import LogisticRegression
    from logreg_dist.exceptions import SeparationWarning

    rng = np.random.default_rng(3)
    other, rare = rng.normal(size=3000), (rng.uniform(size=3000) < 0.05).astype(float)
    y = np.where(rare == 1, 1, (rng.uniform(size=3000) < 1 / (1 + np.exp(-other))).astype(int))
    X = pd.DataFrame({"rare": rare, "other": other})
    with pytest.warns(SeparationWarning, match=r"Separation detected: 'rare' = 1 predicts the positive class"):
        quasi = LogisticRegression(l2=0.0).fit(X, y)
    assert quasi.separation_ == {"features": ["rare"], "perfect_prediction": False,
                                 "rules": ["'rare' = 1 predicts the positive class"]}
    strong = (rng.uniform(size=3000) < 1 / (1 + np.exp(-(4 * other + 3 * rare)))).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SeparationWarning)
        assert LogisticRegression(l2=0.0).fit(X, strong).separation_ is None
    assert LogisticRegression(l2=1e-4).fit(X, y).separation_ is None  # a penalty keeps every coefficient finite


def test_separated_levels_are_listed_by_the_rows_they_decide():
    """A new user's 300-level region: five 1-row levels led the warning, and the level of 110 rows scored at
    coefficient -23 hid in "and 248 more"."""
    from logreg_dist._separation import find_separation

    n = 10_000
    names = ["one_row_a", "one_row_b", "big", "spend"]
    mean = np.array([1 / n, 1 / n, 110 / n, 50.0])
    scale = np.sqrt(np.array([mean[0] * (1 - mean[0]), mean[1] * (1 - mean[1]), mean[2] * (1 - mean[2]), 100.0]))
    coef = np.array([30.0, 29.0, -23.0, 4.0])
    found = find_separation(names=names, coef=coef, std_errors=np.full(4, np.nan), mean=mean, scale=scale,
                            active=np.ones(4, dtype=bool), intercept_standardized=-3.0, loss=0.2)
    assert found["features"] == ["spend", "big", "one_row_a", "one_row_b"]
    assert found["rules"][1] == "'big' = 1 predicts the negative class"
