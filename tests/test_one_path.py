"""One path from Parquet to model: one read per file, the design as views, one scoring function (issue 18)."""

import collections
import json

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit
from sklearn.metrics import roc_auc_score

from logreg_dist import jobs, synth
from logreg_dist.design import design_block
from logreg_dist._predict import decision
from logreg_dist.model import Model, load_model
from logreg_dist.training import TrainingRows, _validation_rows

from .test_prepare import _prepare_in_memory, _reference_design, _sklearn_coef

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def customers(tmp_path_factory):
    """A generated base with what users bring: float32, int32 and bool columns, a categorical, gaps."""
    root = tmp_path_factory.mktemp("one-path")
    synth.generate(root / "base", rows=12_000, positives=600, partitions=3)
    frame = pd.read_parquet(root / "base")
    rng = np.random.default_rng(3)
    frame["plan"] = rng.choice(["basic", "plus", "pro", None], size=len(frame), p=[0.5, 0.3, 0.15, 0.05])
    frame.loc[rng.uniform(size=len(frame)) < 0.1, "spend_02"] = np.nan  # float32 with gaps
    frame = frame[["customer_id", "plan", *synth.FEATURE_NAMES[:20], *synth.FEATURE_NAMES[50:55], *synth.FEATURE_NAMES[-10:],
                   "converted"]]
    layouts = {}
    for name, cuts in {"one": [0, len(frame)], "three": [0, 4000, 8000, len(frame)], "uneven": [0, 1, 9000, len(frame)]}.items():
        folder = root / name
        folder.mkdir()
        for k, (a, b) in enumerate(zip(cuts, cuts[1:])):
            frame.iloc[a:b].to_parquet(folder / f"part-{k}.parquet")
        layouts[name] = folder
    return frame, layouts


def _options(data, **changes):
    return jobs.TrainOptions(data=str(data), target="converted", id_column="customer_id", l2=1e-3, **changes)


def _train(options, client):
    rows = jobs.read(options, client)
    try:
        model = jobs.fit(rows, options, jobs.prepare(rows, options))
        return model, jobs.validate(rows, options, model), jobs.profile(rows, model)
    finally:
        rows.close()


def test_a_partition_design_is_the_partitions_own_columns(customers):
    frame, _ = customers
    preparation = _prepare_in_memory(frame.drop(columns="customer_id"), "converted")
    X, y, w = design_block(frame, preparation)
    assert w is None and X.shape == (len(frame), len(preparation.feature_names))
    names = preparation.feature_names
    numeric = X.numeric  # a categorical column is one code per row beside the numeric runs (issue 19)
    assert [codes.dtype for codes in X.codes] == [np.int8]
    for (first, last), run in zip(numeric.spans, numeric.runs):
        name = names[X.layout.numeric_index[first]]
        if name in frame.columns and frame[name].notna().all():  # numeric without gaps: a view, in its dtype
            assert run.dtype == frame[name].dtype and np.shares_memory(run, frame[name].to_numpy())
        elif name.endswith("__missing"):
            assert run.dtype == bool
    dense = _reference_design(frame.drop(columns="customer_id"), "converted")[names].to_numpy()
    np.testing.assert_array_equal(np.asarray(X), dense)
    np.testing.assert_array_equal(y, frame["converted"].to_numpy(float))


def test_the_flow_path_equals_sklearn_on_the_same_design(customers, local_client):
    frame, layouts = customers
    model, validation, _ = _train(_options(layouts["three"]), local_client)
    valid = _validation_rows(frame, "customer_id", 0.2, 0)
    design = _reference_design(frame.drop(columns="customer_id"), "converted")[model["features"]]
    # Gaps get the mean of the training rows, the rows the preparation is discovered on.
    design["spend_02"] = frame["spend_02"].astype(float).fillna(frame["spend_02"][~valid].astype(float).mean())
    expected = _sklearn_coef(design[~valid], frame["converted"].to_numpy(int)[~valid], 1e-3)
    assert np.max(np.abs(np.array(model["coef"]) - expected)) < 1e-6
    prob = 1 / (1 + np.exp(-(model["intercept"] + design.to_numpy()[valid] @ np.array(model["coef"]))))
    assert abs(validation["metrics"]["auc"] - roc_auc_score(frame["converted"][valid], prob)) < 1e-9


def test_any_partitioning_and_in_process_or_on_the_cluster_give_the_same_model(customers, local_client):
    _, layouts = customers
    reference, reference_validation, reference_profile = _train(_options(layouts["one"]), local_client)
    for layout, client in [("three", local_client), ("uneven", local_client), ("three", None)]:
        model, validation, profile = _train(_options(layouts[layout]), client)
        assert model["features"] == reference["features"]
        assert np.max(np.abs(np.array(model["coef"]) - reference["coef"])) < 1e-10, layout
        assert model["std_errors"] == pytest.approx(reference["std_errors"], rel=1e-9)
        assert validation["metrics"]["auc"] == pytest.approx(reference_validation["metrics"]["auc"], abs=1e-12)
        assert validation["threshold"]["tp"] == reference_validation["threshold"]["tp"]
        # The score's profile bins are the exact deciles of the training scores.
        assert profile["counts"] == reference_profile["counts"]


def test_the_training_profile_counts_what_numpy_counts(customers, local_client):
    """The training profile from its one pass over three partitions: the score's edges are the exact deciles of
    the training rows' probabilities, and every count per bin (the score's, a numeric input's with its gaps, a
    categorical's) is NumPy's on the training rows."""
    from logreg_dist.drift import SCORE

    frame, layouts = customers
    model, _, profile = _train(_options(layouts["three"]), local_client)
    train = frame[~_validation_rows(frame, "customer_id", 0.2, 0)]
    # The rows' scores from one design of all training rows in this process: what the pass must gather and rank.
    fitted = Model.from_dict(model)
    X, _, _ = design_block(train, fitted.preparation)
    score = expit(decision(X, fitted.coef, fitted.intercept))
    assert profile["edges"][SCORE] == np.unique(np.quantile(score, np.linspace(0.1, 0.9, 9))).tolist()
    cuts = np.array(profile["edges"][SCORE])
    assert profile["counts"][SCORE] == np.bincount(np.searchsorted(cuts, score, side="right"),
                                                   minlength=cuts.size + 1).tolist()
    spend = train["spend_02"].to_numpy(dtype=float)
    cuts = np.array(profile["edges"]["spend_02"])
    present = spend[~np.isnan(spend)]
    expected = np.bincount(np.searchsorted(cuts, present, side="right"), minlength=cuts.size + 1).tolist()
    assert profile["counts"]["spend_02"] == [*expected, int(np.isnan(spend).sum())]
    plan = train["plan"].fillna("(missing)")
    assert profile["counts"]["plan"] == [int((plan == label).sum()) for label in profile["labels"]["plan"]]


_READS = collections.Counter()
_READ_PIECE = __import__("logreg_dist.tables", fromlist=["_read_piece"])._read_piece


def _counted_read(piece, *args, **kwargs):
    """The reader, counting the reads of each file (module level: tasks refer to it by name, not by a copy)."""
    _READS[piece[0]] += 1
    return _READ_PIECE(piece, *args, **kwargs)


def test_each_parquet_file_is_read_once_per_train_run(customers, prefect_harness, monkeypatch, tmp_path):
    from distributed import Client, LocalCluster

    import logreg_dist.tables as tables
    from flows.train import train

    _, layouts = customers
    _READS.clear()
    monkeypatch.setattr(tables, "_read_piece", _counted_read)
    # Threads in this process, so that the counter sees every read the workers make.
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster, \
            Client(cluster, set_as_default=False) as client:
        train(data=str(layouts["three"]), target="converted", id_column="customer_id", out=str(tmp_path / "m"),
              l2=1e-3, scheduler=client.scheduler.address)
    assert sorted(_READS.values()) == [1, 1, 1] and len(_READS) == 3
    assert load_model(tmp_path / "m").short_model["auc"] > 0.5


def test_contacting_nobody_is_a_reported_answer_not_a_crash(prefect_harness, local_client, tmp_path, capsys):
    from logreg_dist.cli import main

    # Rare positives and equal costs: no score is high enough for a contact to pay.
    synth.generate(tmp_path / "rare", rows=4000, positives=40, partitions=2)
    status = main(["train", str(tmp_path / "rare"), "--target", "converted", "--id-column", "customer_id",
                   "--l2", "1e-3", "--out", str(tmp_path / "m"), "--scheduler", local_client.scheduler.address])
    out = capsys.readouterr().out
    assert status == 0
    assert "contacting nobody is cheapest at cost_fp=1, cost_fn=1" in out
    assert "positives: converted = 1)" in out  # the positive label, said
    document = json.loads((tmp_path / "m" / "model.json").read_text())
    assert document["threshold"]["contacts_nobody"] is True and document["threshold"]["tp"] == 0
    assert document["positive_label"] == 1
    assert "contacting nobody has the lowest expected cost" in (tmp_path / "m" / "report.html").read_text()
    # Scoring says the same, instead of a count of rows 'at or above the model's threshold' as if it were a policy.
    status = main(["score", str(tmp_path / "m"), str(tmp_path / "rare"), "--id-column", "customer_id",
                   "--out", str(tmp_path / "scores"), "--scheduler", local_client.scheduler.address])
    out = capsys.readouterr().out
    assert status == 0
    line = next(line for line in out.splitlines() if line.startswith("threshold: "))
    assert "contacting nobody was cheapest" in line and "score above every validation score (at or above" in line, line
    assert "at or above the model's threshold" not in out


def test_a_few_rows_of_many_are_not_shown_as_zero_percent_nor_all_as_a_hundred():
    from logreg_dist.cli import _share_text

    assert _share_text(1, 50_000) == "<0.01%" and _share_text(0, 50_000) == "0.00%"
    assert _share_text(3, 50_000) == "0.01%" and _share_text(1, 3) == "33.33%"
    assert _share_text(49_999, 50_000) == ">99.99%" and _share_text(50_000, 50_000) == "100.00%"


def test_duplicate_ids_across_the_split_and_files_are_found(customers, local_client, tmp_path):
    frame, _ = customers
    (tmp_path / "data").mkdir()
    frame.iloc[:6000].to_parquet(tmp_path / "data" / "a.parquet")
    frame.iloc[5990:].to_parquet(tmp_path / "data" / "b.parquet")  # ten customers in both files
    options = _options(tmp_path / "data")
    for client in (local_client, None):
        rows = jobs.read(options, client)
        try:
            with pytest.raises(jobs.InputError, match=r"id column 'customer_id' in .* has duplicates \(such as \[\d+"):
                jobs.prepare(rows, options)
        finally:
            rows.close()


def test_rows_of_one_read_are_held_where_they_were_read(customers, local_client):
    _, layouts = customers
    rows = TrainingRows.read(str(layouts["three"]), client=local_client, id_column="customer_id", valid_fraction=0.2)
    try:
        assert rows.n_train + rows.n_valid == 12_000 and 0.15 < rows.n_valid / 12_000 < 0.25
        assert rows.parts.n_blocks == 3
    finally:
        rows.close()
