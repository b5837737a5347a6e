"""A reason for every score (issue 21, part 3): each input's contribution to the log-odds against the training mean,
exact, ranked per row, written by ``score --reasons`` and counted in the rescoring summary."""

import contextlib
import io
import json
import re

import numpy as np
import pandas as pd
import pytest

from logreg_dist import InputError
from logreg_dist.cli import main
from logreg_dist.model import load_model
from logreg_dist.prepare import CategoricalColumn
from logreg_dist.training import _validation_rows

@pytest.fixture(scope="module")
def churn(tmp_path_factory, wa_churn):
    """wa_churn (categorical columns, gaps in total_charges) in 3 files, and a model trained on it in this process
    by the training flow's steps (read and split, discover, fit, profile), saved as a model directory."""
    from logreg_dist.training import TrainingRows

    root = tmp_path_factory.mktemp("reasons")
    frame = wa_churn.assign(customer_id=np.arange(len(wa_churn)) * 7 + 100_000)
    (root / "customers").mkdir()
    for k, rows in enumerate(np.array_split(np.arange(len(frame)), 3)):
        frame.iloc[rows].to_parquet(root / "customers" / f"part-{k}.parquet")
    rows = TrainingRows.read(str(root / "customers"), id_column="customer_id", valid_fraction=0.2)
    try:
        model = rows.fit(rows.discover(target="churn", id_column="customer_id"), l2=1e-3)
        model.score_distribution, model.version = rows.profile(model), "1"
    finally:
        rows.close()
    model.save(root / "model")
    return root, frame


def _main(argv: list[str]) -> tuple[int, str, str]:
    """``main(argv)``: its status, stdout and stderr, in buffers of our own rather than capsys's: Prefect's console
    log handler binds the stream that is sys.stderr when it is configured and writes to it in later tests, after
    capsys has closed it."""
    with contextlib.redirect_stdout(io.StringIO()) as out, contextlib.redirect_stderr(io.StringIO()) as err:
        status = main(argv)
    return status, out.getvalue(), err.getvalue()


def _independent_contributions(model, frame):
    """Per input, its contribution coef * (x - training mean) summed over its encoded columns, built with pandas from
    the levels and imputation values in the model: the training means are recomputed here from the training rows."""
    design = {}
    for column in model.preparation.columns:
        values = frame[column.name]
        if isinstance(column, CategoricalColumn):
            text = values.astype(object).where(values.notna(), "(missing)").astype(str)
            for level in column.levels:
                design[f"{column.name}={level}"] = (text == level).astype(float)
        else:
            design[column.name] = values.fillna(column.impute).astype(float)
            if column.indicator:
                design[f"{column.name}__missing"] = values.isna().astype(float)
    design = pd.DataFrame(design)[model.features]
    train_rows = ~_validation_rows(frame, "customer_id", 0.2, 0)
    mean = design[train_rows].mean().to_numpy()
    terms = (design.to_numpy() - mean) * model.coef
    inputs = [column.name for column in model.preparation.columns]
    owner = [model._input_of(name) for name in model.features]
    matrix = np.column_stack([terms[:, [o == name for o in owner]].sum(axis=1) for name in inputs])
    return design, mean, pd.DataFrame(matrix, columns=inputs, index=frame.index)


def _check_ranked(reasons: pd.DataFrame, expected: pd.DataFrame, prefix: str, k: int, descending: bool) -> None:
    """The ``k`` reasons of each row equal the stable sort of the independent contributions; a different input is
    allowed only where the two inputs' contributions tie to rounding."""
    values = expected.to_numpy()
    order = np.argsort(-values if descending else values, axis=1, kind="stable")[:, :k]
    names = np.array(expected.columns)
    rows = np.arange(len(values))
    for slot in range(k):
        got_value = reasons[f"{prefix}_{slot + 1}_contribution"].to_numpy()
        assert np.max(np.abs(got_value - values[rows, order[:, slot]])) < 1e-12
        got = reasons[f"{prefix}_{slot + 1}"].to_numpy()
        differ = got != names[order[:, slot]]
        got_index = pd.Index(names).get_indexer(got)
        assert np.all(np.abs(values[rows, got_index] - values[rows, order[:, slot]])[differ] < 1e-12)
        assert differ.mean() < 0.01


def test_contributions_add_up_to_the_log_odds_and_rank_as_computed_from_the_one_hot_design(churn):
    root, frame = churn
    model = load_model(root / "model")
    design, mean, expected = _independent_contributions(model, frame)
    # The training means the model keeps (scaler.mean in model.json) are those of the training rows' design:
    # level shares, the share missing, the imputed column's mean.
    assert np.max(np.abs(model.feature_mean - mean)) < 1e-12
    assert "total_charges__missing" in model.features and frame["total_charges"].isna().sum() == 11

    contributions = model.contributions(frame)
    eta = model.decision_function(frame)
    magnitude = abs(model.intercept) + np.abs(design.to_numpy() * model.coef).sum(axis=1)
    assert np.all(np.abs(model.intercept_at_mean + contributions.sum(axis=1).to_numpy() - eta) <= 1e-12 * magnitude)
    assert np.max(np.abs(contributions.to_numpy() - expected.to_numpy())) < 1e-12
    assert list(contributions.columns) == [c for c in frame.columns if c not in ("churn", "customer_id")]

    reasons = model.reasons(frame, top=3, down=2)
    assert list(reasons.columns) == [
        f"{prefix}_{slot}{suffix}" for prefix, k in (("reason", 3), ("reason_down", 2)) for slot in range(1, k + 1)
        for suffix in ("", "_value", "_contribution")
    ]
    _check_ranked(reasons, expected, "reason", 3, descending=True)
    _check_ranked(reasons, expected, "reason_down", 2, descending=False)
    # Rows keep their index: the reasons of any slice of rows are those rows' reasons.
    some = frame.iloc[5000:4000:-3]
    assert model.reasons(some, top=3, down=2).equals(reasons.loc[some.index])


@pytest.mark.cluster
def test_the_score_command_writes_the_reasons_and_the_summary_counts_the_first_ones(churn, prefect_harness,
                                                                                    local_client, tmp_path):
    root, frame = churn
    out = tmp_path / "scores"
    status, printed, error = _main(["score", str(root / "model"), str(root / "customers"), "--out", str(out),
                                    "--reasons", "3", "--reasons-down", "1", "--reason-values", "--scheduler", local_client.scheduler.address])
    assert status == 0, error
    scores = pd.read_parquet(out)
    # This model was saved without validation, so without a threshold: no contact column.
    assert list(scores.columns[:4]) == ["customer_id", "probability", "decile", "model_version"]
    assert scores["customer_id"].tolist() == frame["customer_id"].tolist()
    model = load_model(root / "model")
    _, _, expected = _independent_contributions(model, frame)
    _check_ranked(scores, expected, "reason", 3, descending=True)
    _check_ranked(scores, expected, "reason_down", 1, descending=False)
    # The score's log-odds is the intercept at the mean plus every input's contribution.
    logit = np.log(scores["probability"] / (1 - scores["probability"]))
    assert np.max(np.abs(model.intercept_at_mean + expected.sum(axis=1) - logit)) < 1e-9

    # Each reason's value is the row's raw value of that input, as text.
    for slot in (1, 2, 3):
        for name, rows in scores.groupby(f"reason_{slot}").groups.items():
            raw = frame.loc[rows, name]
            text = scores.loc[rows, f"reason_{slot}_value"]
            if raw.dtype == object or isinstance(raw.dtype, pd.StringDtype):
                assert (text == raw.astype(str)).all()
            else:
                assert ((text == "(missing)") == raw.isna()).all()
                assert np.array_equal(text[raw.notna()].astype(float), raw[raw.notna()].astype(float))
    gaps = frame["total_charges"].isna().to_numpy()
    missing_reason = (scores["reason_down_1"] == "total_charges") & gaps
    assert (scores.loc[missing_reason, "reason_down_1_value"] == "(missing)").all()

    summary = json.loads((out / "_summary.json").read_text())
    assert summary["top_reasons"] == scores["reason_1"].value_counts().to_dict()
    assert sum(summary["top_reasons"].values()) == len(frame)
    first, rows = next(iter(summary["top_reasons"].items()))
    assert f"first reason (reason_1): {first} {rows:,}" in printed


@pytest.mark.parametrize("option, value, message", [
    ("--reasons", "0", r"reasons \(--reasons\) must be an integer from 1 to 19, the number of inputs of the "
                       r"model at .*; got 0\.$"),
    ("--reasons", "20", r"reasons \(--reasons\) must be an integer from 1 to 19.*; got 20\.$"),
    ("--reasons-down", "-1", r"reasons_down \(--reasons-down\) must be an integer from 1 to 19.*; got -1\.$"),
])
def test_a_number_of_reasons_out_of_range_is_one_line_naming_the_option(churn, tmp_path, option, value, message):
    root, _ = churn
    status, _, error = _main(["score", str(root / "model"), str(root / "customers"), "--out", str(tmp_path / "scores"),
                              option, value])
    assert status == 2 and len(error.strip().splitlines()) == 1
    assert re.search(message, error.strip())
    assert not (tmp_path / "scores").exists()
    with pytest.raises(InputError, match=r"reasons \(--reasons\) must be an integer from 1 to 19"):
        load_model(root / "model").reasons(pd.read_parquet(root / "customers"), top=0)


def test_reason_values_without_reasons_is_refused_not_ignored(churn, tmp_path):
    root, _ = churn
    status, _, error = _main(["score", str(root / "model"), str(root / "customers"), "--out", str(tmp_path / "scores"),
                              "--reason-values"])
    assert status == 2 and error.strip().endswith("--reason-values adds each reason's value: it needs --reasons K or "
                                                  "--reasons-down K.")
    assert not (tmp_path / "scores").exists()
    # The library refuses it too, where the reasons are checked, before any row is scored.
    from logreg_dist.scoring import score_to_parquet

    with pytest.raises(InputError, match="--reason-values adds each reason's value"):
        score_to_parquet(None, load_model(root / "model"), str(root / "customers"), tmp_path / "lib", reason_values=True)
    assert not (tmp_path / "lib").exists()


def test_a_model_without_training_means_is_refused_when_reasons_are_asked(churn, tmp_path):
    root, _ = churn
    document = json.loads((root / "model" / "model.json").read_text())
    document["scaler"]["mean"] = [None] * len(document["features"])  # as a model that never stored them
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "model.json").write_text(json.dumps(document))
    status, _, error = _main(["score", str(tmp_path / "old"), str(root / "customers"), "--out", str(tmp_path / "scores"),
                              "--reasons", "3"])
    error = error.strip()
    assert status == 2 and len(error.splitlines()) == 1
    assert "has no training mean for the features" in error and "train the model again" in error
    assert not (tmp_path / "scores").exists()


def test_the_public_names_of_the_reasons_module():
    from logreg_dist import reasons

    assert reasons.__all__ == ["Contributions", "JoinedInputs", "Reasons", "check_reason_counts", "joined_inputs",
                               "joined_names", "reason_inputs", "used_inputs"]
    assert all(hasattr(reasons, name) for name in reasons.__all__)


def test_inputs_without_a_nonzero_coefficient_are_never_reasons(churn):
    """An input an L1 penalty dropped contributes 0 to every row: it is left out of the ranking (not named with a
    contribution of 0 where fewer inputs raise a row), and the reasons asked for are capped at the inputs in use."""
    root, frame = churn
    model = load_model(root / "model")
    dropped = ["female", "contract", "tenure"]  # a 0/1 input, a three-level categorical and a numeric one
    for name in dropped:
        model.coef[[model._input_of(f) == name for f in model.features]] = 0.0
    _, _, expected = _independent_contributions(model, frame)
    used = [c for c in expected.columns if c not in dropped]
    reasons = model.reasons(frame, top=3, down=2)
    named = set(np.concatenate([reasons[f"reason_{k}"].to_numpy() for k in (1, 2, 3)]
                               + [reasons[f"reason_down_{k}"].to_numpy() for k in (1, 2)]))
    assert not named & set(dropped)
    _check_ranked(reasons, expected[used], "reason", 3, descending=True)
    _check_ranked(reasons, expected[used], "reason_down", 2, descending=False)
    with pytest.raises(InputError, match=rf"from 1 to {len(used)}, .* with a nonzero coefficient \(3 of its"):
        model.reasons(frame, top=len(used) + 1)


def _scored_reason(root, new: pd.DataFrame, tmp_path, name: str):
    """``new`` scored by the churn model with every input as a reason and its value: the scores, the slot of input
    ``name`` in each row and its value there."""
    new.to_parquet(tmp_path / "new.parquet")
    out = tmp_path / "scores"
    status, _, error = _main(["score", str(root / "model"), str(tmp_path / "new.parquet"), "--out", str(out),
                              "--reasons", "19", "--reason-values"])
    assert status == 0, error
    scores = pd.read_parquet(out)
    slot = scores.filter(regex=r"^reason_\d+$").eq(name).to_numpy().argmax(axis=1) + 1  # every input is a reason
    return scores, slot, np.array([scores.at[i, f"reason_{k}_value"] for i, k in zip(scores.index, slot)])


def test_a_level_unseen_in_training_says_how_it_was_scored_in_its_reason(churn, prefect_harness, tmp_path):
    root, frame = churn
    model = load_model(root / "model")
    contract = next(c for c in model.preparation.columns if c.name == "contract")
    new = frame.assign(contract=np.where(np.arange(len(frame)) % 3 == 0, "Three year", frame["contract"]))
    scores, slot, values = _scored_reason(root, new, tmp_path, "contract")
    unseen = (new["contract"] == "Three year").to_numpy()
    assert (values[unseen] == f"Three year (unseen in training: scored as {contract.reference})").all()
    assert (values[~unseen] == new["contract"][~unseen].to_numpy()).all()
    # Scored as the reference level: its contribution is a reference row's.
    reference = (new["contract"] == contract.reference).to_numpy()
    contributions = np.array([scores.at[i, f"reason_{k}_contribution"] for i, k in zip(scores.index, slot)])
    assert np.allclose(contributions[unseen], contributions[reference][0], rtol=0, atol=1e-12)


def test_a_gap_in_a_column_complete_in_training_says_what_it_was_scored_as(churn, prefect_harness, tmp_path):
    """tenure has no gap in training, so no missing indicator: a gap is scored at the training mean, and its reason's
    value says so (it read "(missing)" as if the gap itself were the reason)."""
    root, frame = churn
    model = load_model(root / "model")
    tenure = next(c for c in model.preparation.columns if c.name == "tenure")
    assert not tenure.indicator and not tenure.fill_from
    new = frame.assign(tenure=frame["tenure"].astype("float64").where(np.arange(len(frame)) % 4 != 0))
    _, _, values = _scored_reason(root, new, tmp_path, "tenure")
    gaps = new["tenure"].isna().to_numpy()
    assert (values[gaps] == f"(missing: scored as {tenure.impute:.6g})").all()
    assert np.array_equal(values[~gaps].astype(float), new["tenure"][~gaps].to_numpy())


def test_a_filled_gap_says_the_value_filled_in():
    """A gap in a column filled from its collinear columns reads as the fill of that row; where a partner is missing
    too, as the training mean."""
    from logreg_dist.prepare import NumericColumn
    from logreg_dist.reasons import _as_strings

    charge = NumericColumn("charge", impute=30.0, indicator=False, fill_from=("minutes",), fill_coef=(0.17,),
                           fill_intercept=0.0)
    part = pd.DataFrame({"charge": [10.0, np.nan, np.nan, 3.0], "minutes": [50.0, 100.0, np.nan, 20.0]})
    text = _as_strings(part["charge"], np.arange(4), charge, part).to_pylist()
    assert text == ["10", "(missing: scored as 17)", "(missing: scored as 30)", "3"]


def test_collinear_columns_are_one_reason_whose_contribution_is_their_sum(mlc_churn, local_client):
    """Unpenalized, mlc_churn's minutes and charges have contributions of about +-200 log-odds that cancel: each pair
    is one reason, "total_day_minutes + total_day_charge", worth the sum of the two, with both values."""
    import dask.dataframe as dd

    from logreg_dist import CollinearityWarning
    from logreg_dist.training import discover_preparation, fit_model

    ddf = dd.from_pandas(mlc_churn, npartitions=2)
    preparation = discover_preparation(local_client, ddf, target="churn")
    with pytest.warns(CollinearityWarning):
        model = fit_model(local_client, ddf, preparation, l2=0.0)
    rows = mlc_churn.iloc[:300]
    contributions = model.contributions(rows)
    pairs = [f"total_{part}_minutes + total_{part}_charge" for part in ("day", "eve", "night", "intl")]
    assert set(pairs) <= set(contributions.columns)
    assert "total_day_minutes" not in contributions.columns and len(contributions.columns) == 19 - 4
    eta = model.decision_function(rows)
    assert np.max(np.abs(model.intercept_at_mean + contributions.sum(axis=1).to_numpy() - eta)) < 1e-9
    # The pair's contribution is the sum of its columns' coef * (x - mean), each of them large.
    j = [model.features.index(name) for name in ("total_day_minutes", "total_day_charge")]
    each = (rows[["total_day_minutes", "total_day_charge"]].to_numpy() - model.feature_mean[j]) * model.coef[j]
    assert np.max(np.abs(each)) > 50.0
    np.testing.assert_allclose(contributions[pairs[0]], each.sum(axis=1), rtol=0, atol=1e-9)
    assert np.max(np.abs(contributions[pairs[0]])) < 5.0
    assert model.training["joined_inputs"][0] == ["total_day_minutes", "total_day_charge"]
    with pytest.raises(InputError, match=r"from 1 to 15, the number of inputs of the model \(total_day_minutes \+ "
                                         r"total_day_charge; .* each counted as one\); got 16"):
        model.reasons(rows, top=16)
    reasons = model.reasons(rows, top=3)
    day = (reasons["reason_1"] == pairs[0]).to_numpy()
    assert day.any()
    values = [tuple(float(v) for v in text.split("; ")) for text in reasons["reason_1_value"][day]]
    assert values == list(zip(rows["total_day_minutes"][day], rows["total_day_charge"][day]))


def test_a_collinear_group_with_a_number_is_one_reason_and_collinear_levels_alone_are_not(churn):
    """wa_churn's monthly charge is nearly its services' prices summed: apart, its reason and theirs contradicted
    each other; its "No internet service" levels, collinear across six columns, share one level, not every value."""
    root, frame = churn
    from logreg_dist.reasons import joined_inputs

    model = load_model(root / "model")
    levels = ["internet_service=No", "online_security=No internet service", "tech_support=No internet service"]
    priced = ["internet_service=DSL", "streaming_tv=Yes", "streaming_movies=Yes", "monthly_charges"]
    groups = joined_inputs(model.preparation, [levels, priced])
    assert groups == [["internet_service", "streaming_tv", "streaming_movies", "monthly_charges"]]
    # A model trained before training stored its joins keeps its reasons, whatever collinear groups it names.
    model.training = {**model.training, "collinear": [levels, priced]}
    assert "monthly_charges" in model.contributions(frame.iloc[:5]).columns
    model.training = {**model.training, "joined_inputs": groups}
    rows = frame.iloc[:400]
    contributions = model.contributions(rows)
    joined = "internet_service + streaming_tv + streaming_movies + monthly_charges"
    assert joined in contributions.columns and "online_security" in contributions.columns
    assert "monthly_charges" not in contributions.columns and "tech_support" in contributions.columns
    # The joined input stands where its first column stood, and is worth the sum of its columns' contributions.
    alone = load_model(root / "model").contributions(rows)
    parts = ["internet_service", "streaming_tv", "streaming_movies", "monthly_charges"]
    np.testing.assert_allclose(contributions[joined], alone[parts].sum(axis=1), rtol=0, atol=1e-12)
    assert list(contributions.columns).index(joined) == list(alone.columns).index("internet_service")
    eta = model.decision_function(rows)
    assert np.max(np.abs(model.intercept_at_mean + contributions.sum(axis=1).to_numpy() - eta)) < 1e-9
