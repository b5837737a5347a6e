"""Real-world inputs: categorical levels, gaps, labels as they come, and bad data (issue 3)."""

import dataclasses
import json
import warnings

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression as SkLogisticRegression

from logreg_dist import ConstantColumnWarning, InputError
from logreg_dist.prepare import MISSING_LEVEL, Preparation, discover, plan_columns, summarize_partition, text_codes
from logreg_dist.training import discover_preparation, fit_model


def _prepare_in_memory(frame, target, **options):
    numeric, text = plan_columns(dict(frame.dtypes.items()), target=target, id_column=options.pop("id_column", None),
                                 features=None, exclude=options.pop("exclude", ()))
    summary = summarize_partition(frame, numeric=numeric, text=text, target=target)
    order = [c for c in frame.columns if c in numeric or c in text]
    return discover(summary, numeric=numeric, text=text, target=target, order=order, **options)


def _reference_design(frame, target, exclude=()):
    """The design built independently with pandas: mean imputation + indicator, one-hot minus the most frequent level."""
    columns = []
    for name in frame.columns:
        if name == target or name in exclude:
            continue
        values = frame[name]
        if pd.api.types.is_numeric_dtype(values):
            columns.append(values.fillna(values.mean()).astype(float).rename(name))
            if values.isna().any():
                columns.append(values.isna().astype(float).rename(f"{name}__missing"))
        else:
            text = values.astype(object).where(values.notna(), "(missing)").astype(str)
            counts = text.value_counts()
            reference = sorted(counts[counts == counts.max()].index)[0]
            for level in sorted(set(text) - {reference}):
                columns.append((text == level).astype(float).rename(f"{name}={level}"))
    return pd.concat(columns, axis=1)


def _sklearn_coef(design, y, l2):
    """scikit-learn's ridge on the same problem: numeric columns standardized, a categorical level's indicator
    only centred, so that its own coefficient is what the isotropic penalty weighs (as ours does)."""
    mean = design.mean().to_numpy()
    scale = np.where(["=" in name for name in design.columns], 1.0, design.std(ddof=0).to_numpy())
    model = SkLogisticRegression(solver="newton-cholesky", C=1.0 / (l2 * len(y)), tol=1e-10, max_iter=1000)
    model.fit((design.to_numpy() - mean) / scale, y)
    return model.coef_[0] / scale


@pytest.mark.cluster
@pytest.mark.parametrize("data_set, positive", [("wa_churn", "Yes"), ("mlc_churn", "yes")])
def test_trained_on_raw_columns_equals_sklearn_on_the_same_design(request, local_client, data_set, positive):
    frame = request.getfixturevalue(data_set)
    ddf = dd.from_pandas(frame, npartitions=4)
    preparation = discover_preparation(local_client, ddf, target="churn")
    assert preparation.positive_label == positive
    model = fit_model(local_client, ddf, preparation, l2=1e-3)
    design = _reference_design(frame, "churn")
    assert model.features == list(design.columns)
    expected = _sklearn_coef(design, (frame["churn"] == positive).to_numpy(int), 1e-3)
    assert np.max(np.abs(model.coef - expected)) < 1e-6
    if data_set == "wa_churn":
        assert "total_charges__missing" in model.features and "contract=One year" in model.features
        assert model.training["positives"] == int((frame["churn"] == "Yes").sum())
    else:
        assert sum(name.startswith("state=") for name in model.features) == 50


def test_rescoring_rows_are_encoded_identically_in_any_column_order_with_unseen_levels(wa_churn):
    preparation = _prepare_in_memory(wa_churn, "churn")
    design, unseen = preparation.transform(wa_churn)
    assert unseen == {}
    shuffled = wa_churn[wa_churn.columns[::-1]].copy()
    shuffled.loc[:9, "contract"] = "Ten years"
    shuffled.loc[:2, "payment_method"] = None  # missing was never seen in training: an unseen level too
    again, unseen = preparation.transform(shuffled)
    assert unseen == {"contract": 10, "payment_method": 3}
    contract = [j for j, name in enumerate(preparation.feature_names) if name.startswith("contract=")]
    assert (again[:10][:, contract] == 0).all()
    others = [j for j in range(len(preparation.feature_names)) if j not in contract]
    np.testing.assert_array_equal(again[10:], design[10:])
    np.testing.assert_array_equal(again[3:10][:, others], design[3:10][:, others])


def test_the_preparation_round_trips_through_json(mlc_churn):
    preparation = _prepare_in_memory(mlc_churn, "churn", min_frequency=80)
    restored = Preparation.from_dict(json.loads(json.dumps(preparation.to_dict())))
    assert restored == preparation
    state = next(c for c in preparation.columns if c.name == "state")
    assert state.folded and "(other)" in (state.reference, *state.levels)
    assert set(state.folded).isdisjoint(state.levels)
    np.testing.assert_array_equal(restored.transform(mlc_churn)[0], preparation.transform(mlc_churn)[0])


def test_missing_categories_are_a_level_and_ids_and_constants_are_not_features():
    frame = pd.DataFrame({
        "customer_id": np.arange(8),
        "plan": ["a", "b", None, "a", "b", None, "a", "a"],
        "region": ["x"] * 8,
        "spend": [1.0, 2.0, np.nan, 4.0, 5.0, 6.0, 7.0, 8.0],
        "flag": [True, False] * 4,
        "converted": [True, False, True, False, False, True, False, True],
    })
    with pytest.warns(ConstantColumnWarning, match=r"\['region'\]"):
        preparation = _prepare_in_memory(frame, "converted", id_column="customer_id")
    assert preparation.feature_names == ["plan=(missing)", "plan=b", "spend", "spend__missing", "flag"]
    assert preparation.positive_label is True
    design, _ = preparation.transform(frame)
    assert design[2].tolist() == [1.0, 0.0, 33.0 / 7.0, 1.0, 1.0]


@pytest.mark.parametrize(
    "labels, rule, positive",
    [([0, 1], None, 1), (["No", "Yes"], None, "Yes"), (["stay", "leave"], None, "stay"), (["stay", "leave"], "leave", "leave"),
     ([2, 5], None, 5), ([2, 5], "2", 2)],
)
def test_the_positive_label_rule(labels, rule, positive):
    frame = pd.DataFrame({"x": np.arange(6.0), "t": labels * 3})
    assert _prepare_in_memory(frame, "t", positive_label=rule).positive_label == positive


@pytest.mark.parametrize(
    "change, options, message",
    [
        (lambda f: f.assign(t=["a", "b", "c", "a"] * 10), {}, r"target column 't' must hold exactly two labels .*found 3"),
        (lambda f: f.assign(x=np.nan), {}, r"feature column 'x' is missing in every row"),
        (lambda f: f.assign(x=[" "] + [str(v / 2) for v in range(39)]), {},
         r"column 'x' holds numbers as text, but 1 of its values are not numbers \(such as ' '\)"),
        (lambda f: f, {"positive_label": "maybe"}, r"the positive label 'maybe' is not in target column 't'"),
        (lambda f: f.assign(x=f["x"].where(f.index != 3)), {"missing": "error"}, r"'x' has 1 missing values in the training rows and missing='error'"),
        (lambda f: f.assign(t=f["t"].where(f.index % 10 != 0)), {}, r"target column 't' has 4 missing values"),
    ],
)
def test_bad_training_data_names_the_column(change, options, message):
    frame = change(pd.DataFrame({"x": np.arange(40.0), "t": [0, 1] * 20}))
    with pytest.raises(InputError, match=message):
        _prepare_in_memory(frame, "t", **options)


def test_bad_scoring_data_names_the_column(wa_churn):
    preparation = _prepare_in_memory(wa_churn, "churn")
    with pytest.raises(InputError, match=r"lacks the columns \['tenure'\], which the model was trained on"):
        preparation.transform(wa_churn.drop(columns="tenure"), where="scores.parquet")
    with pytest.raises(InputError, match=r"column 'monthly_charges' in the data must be numeric, as in training; got dtype"):
        preparation.transform(wa_churn.assign(monthly_charges=wa_churn["monthly_charges"].astype(str)))
    strict = _prepare_in_memory(wa_churn.drop(columns="total_charges"), "churn", missing="error")
    with pytest.raises(InputError, match=r"column 'tenure' in the data has 1 missing values; the model was trained with missing='error'"):
        strict.transform(wa_churn.assign(tenure=wa_churn["tenure"].astype(float).where(wa_churn.index != 5)))


def test_plan_columns_names_what_is_absent(wa_churn):
    dtypes = dict(wa_churn.dtypes.items())
    with pytest.raises(InputError, match=r"the target 'churned' is not a column"):
        plan_columns(dtypes, target="churned", id_column=None)
    with pytest.raises(InputError, match=r"the features \['age'\] are not columns"):
        plan_columns(dtypes, target="churn", id_column=None, features=["tenure", "age"])
    numeric, text = plan_columns(dtypes, target="churn", id_column=None, exclude=["total_charges"])
    assert "total_charges" not in numeric and "contract" in text


def test_the_split_seed_changes_the_split_and_labels_match_loosely():
    from logreg_dist.training import _validation_rows

    frame = pd.DataFrame({"customer_id": np.arange(10_000)})
    first, second = (_validation_rows(frame, "customer_id", 0.2, seed) for seed in (0, 1))
    assert (first != second).any() and abs(first.mean() - 0.2) < 0.02 and abs(second.mean() - 0.2) < 0.02
    floats = pd.DataFrame({"x": np.arange(6.0), "t": [0.0, 1.0] * 3})
    assert _prepare_in_memory(floats, "t", positive_label="1").positive_label == 1.0
    flags = pd.DataFrame({"x": np.arange(6.0), "t": [True, False] * 3})
    assert _prepare_in_memory(flags, "t", positive_label="true").positive_label is True


def test_a_gap_at_scoring_in_a_column_complete_in_training_gets_the_mean(wa_churn):
    preparation = _prepare_in_memory(wa_churn, "churn")
    design, _ = preparation.transform(wa_churn.assign(tenure=wa_churn["tenure"].astype(float).where(wa_churn.index != 5)))
    j = preparation.feature_names.index("tenure")
    assert design[5, j] == pytest.approx(wa_churn["tenure"].mean())


def _co_missing_frame(n=4000, seed=11):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "spend": rng.gamma(2.0, 30.0, n), "visits": rng.poisson(4.0, n).astype(float),
        "tenure": rng.uniform(1, 60, n), "age": rng.uniform(18, 80, n),
    })
    never_bought = rng.uniform(size=n) < 0.15  # no purchase history: spend and visits missing together
    frame.loc[never_bought, ["spend", "visits"]] = np.nan
    frame.loc[rng.uniform(size=n) < 0.05, "tenure"] = np.nan  # missing on other rows
    score = 0.02 * frame["spend"].fillna(0) - 0.8 * never_bought + 0.03 * frame["tenure"].fillna(30) - 2.0
    frame["churn"] = np.where(rng.uniform(size=n) < 1 / (1 + np.exp(-score)), "yes", "no")
    return frame


def test_columns_missing_in_the_same_rows_share_one_indicator_for_any_partitioning():
    frame = _co_missing_frame()
    numeric, text = plan_columns(dict(frame.dtypes.items()), target="churn", id_column=None, features=None, exclude=())
    for cuts in ([0, len(frame)], [0, 1, 1000, 1001, 2500, len(frame)]):
        parts = [summarize_partition(frame.iloc[a:b], numeric=numeric, text=text, target="churn") for a, b in zip(cuts, cuts[1:])]
        summary = parts[0]
        for part in parts[1:]:
            summary = summary + part
        preparation = discover(summary, numeric=numeric, text=text, target="churn", order=list(frame.columns[:-1]))
        assert preparation.feature_names == ["spend", "spend__missing", "visits", "tenure", "tenure__missing", "age"]
        spec = {c["name"]: c for c in preparation.to_dict()["columns"]}
        assert spec["visits"]["missing_with"] == "spend" and not spec["visits"]["indicator"]
        assert Preparation.from_dict(json.loads(json.dumps(preparation.to_dict()))) == preparation
    # Missing on one more row than spend: its own indicator.
    changed = frame.copy()
    changed.loc[changed["spend"].notna().idxmax(), "visits"] = np.nan
    assert "visits__missing" in _prepare_in_memory(changed, "churn").feature_names
    # The short model keeps visits without spend: visits gets the indicator back.
    alone = preparation.restricted(["visits", "age"])
    assert alone.feature_names == ["visits", "visits__missing", "age"]
    design, _ = alone.transform(frame)
    np.testing.assert_array_equal(design[:, 1], frame["visits"].isna().to_numpy(float))


@pytest.mark.cluster
def test_co_missing_columns_keep_the_unpenalized_fit_full_rank_with_standard_errors(local_client):
    import statsmodels.api as sm

    frame = _co_missing_frame()
    ddf = dd.from_pandas(frame, npartitions=3)
    preparation = discover_preparation(local_client, ddf, target="churn")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no CollinearityWarning
        model = fit_model(local_client, ddf, preparation, l2=0.0)
    design = _reference_design(frame, "churn").drop(columns="visits__missing")[model.features]
    reference = sm.Logit((frame["churn"] == "yes").astype(float), sm.add_constant(design)).fit(disp=0, method="newton", tol=1e-12)
    np.testing.assert_allclose(model.coef, reference.params[model.features], rtol=0, atol=1e-6)
    np.testing.assert_allclose(model.std_errors, reference.bse[model.features], rtol=1e-6)


_TEXT_COLUMNS = {
    "strings": pd.Series(["b", None, "a", "b", "c", None] * 5, dtype="string"),
    "objects": pd.Series(np.array(["x", "1", "2.5", "x", "7"] * 4 + [None], dtype=object)),
    "equal values, different text": pd.Series([1, 1.0, True, "1", None, np.nan, "(missing)", "z"] * 3, dtype=object),
    "categorical": pd.Series(pd.Categorical(["q", "p", None, "q", "r"] * 4, categories=["r", "q", "p", "unused"])),
    "numbers as text": pd.Series(["3", "4.5", None, "3", "12"] * 4, dtype=object),
}


@pytest.mark.parametrize("name", list(_TEXT_COLUMNS))
def test_text_columns_are_summarized_and_coded_as_their_text_row_by_row(name):
    """The factorized text (one str per distinct value) equals the text of every row, and the discovery stats
    equal those counted row by row, examples and number-likeness included."""
    values = _TEXT_COLUMNS[name]
    text = [MISSING_LEVEL if pd.isna(v) else str(v) for v in values]
    codes, texts, missing = text_codes(values)
    assert list(texts[codes]) == text and missing == any(pd.isna(v) for v in values)
    stats = summarize_partition(pd.DataFrame({"c": values}), numeric=[], text=["c"], target=None).columns["c"]
    present = [str(v) for v in values if not pd.isna(v)]
    numbers = pd.to_numeric(pd.Series(present, dtype=object), errors="coerce")
    assert stats.counts == {level: text.count(level) for level in set(text)}
    assert all(type(level) is str for level in stats.counts)
    assert stats.missing == sum(pd.isna(v) for v in values)
    assert stats.number_like == numbers.notna().sum()
    assert stats.fractional == ((numbers % 1) != 0).sum() - numbers.isna().sum()
    assert stats.example == next((t for t, n in zip(present, numbers) if pd.isna(n)), None)
    assert stats.number_example == next((t for t, n in zip(present, numbers) if not pd.isna(n)), None)


def test_a_mistyped_column_is_refused_with_the_nearest_names():
    dtypes = {"churn": "object", "tenure": "int64", "MonthlyCharges": "float64", "customerID": "object"}
    with pytest.raises(InputError, match=r"the id column 'customer_id' is not a column of the data \(did you mean "
                                         r"'customerID'\?\)"):
        plan_columns(dtypes, target="churn", id_column="customer_id")
    with pytest.raises(InputError, match=r"\['tenur', 'monthlycharges'\] are not columns of the data \(did you mean "
                                         r"'tenure', 'MonthlyCharges'\?\)"):
        plan_columns(dtypes, target="churn", id_column=None, features=["tenur", "monthlycharges"])
    with pytest.raises(InputError, match=r"the target 'revenue' is not a column of the data; its columns"):
        plan_columns(dtypes, target="revenue", id_column=None)  # nothing close: no guess


def _collinear_frame(n=3000, seed=3):
    """x3 is 2 x1 - x2 + 5 up to a little noise (1 - R^2 about 1e-5), x4 is independent, and x5 = 3 x4 has gaps."""
    rng = np.random.default_rng(seed)
    x1, x2, x4 = rng.normal(10, 2, n), rng.normal(0, 3, n), rng.normal(0, 1, n)
    frame = pd.DataFrame({"x1": x1, "x2": x2, "x3": 2 * x1 - x2 + 5 + rng.normal(0, 0.01, n), "x4": x4,
                          "x5": np.where(rng.uniform(size=n) < 0.1, np.nan, 3 * x4 + rng.normal(0, 0.001, n))})
    frame["y"] = np.where(rng.uniform(size=n) < 1 / (1 + np.exp(-(0.3 * x2 + x4))), "yes", "no")
    return frame


def test_a_column_collinear_with_others_is_filled_from_them_where_it_has_a_gap_at_scoring():
    from logreg_dist.prepare import with_collinear_fills

    frame = _collinear_frame()
    preparation = _prepare_in_memory(frame, "y")
    full, _ = preparation.transform(frame)
    filled = with_collinear_fills(preparation, full.mean(axis=0), np.cov(full, rowvar=False))
    fills = {c.name: c for c in filled.columns if c.fill_from}
    # Each of x1, x2, x3 from the other two, by least squares (x3 = 2 x1 - x2 + 5); x4 is no longer explained
    # well enough by x5 alone once x5's gaps hold its mean, and x5 had gaps in training: it is scored as fitted.
    assert sorted(fills) == ["x1", "x2", "x3"]
    x3 = fills["x3"]
    assert x3.fill_from == ("x1", "x2")
    np.testing.assert_allclose(x3.fill_coef, [2.0, -1.0], atol=1e-3)
    assert x3.fill_intercept == pytest.approx(5.0, abs=0.02)
    assert "x5" not in fills and next(c for c in filled.columns if c.name == "x5").indicator
    # The fills survive the model file, and a preparation without a group is left as it is.
    assert Preparation.from_dict(json.loads(json.dumps(filled.to_dict()))) == filled
    assert with_collinear_fills(preparation, full.mean(axis=0), np.eye(full.shape[1])) == preparation
    # Fills of an earlier fit are dropped, and so is a fill whose columns a restricted preparation lost.
    assert with_collinear_fills(filled, full.mean(axis=0), None) == preparation
    assert not next(c for c in filled.restricted(["x1", "x3"]).columns if c.name == "x3").fill_from

    gaps = frame.copy()
    gaps.loc[[0, 1], "x3"] = np.nan
    gaps.loc[1, "x1"] = np.nan  # row 1: x3's fill lacks x1, so both get their means
    design, _ = filled.transform(gaps)
    j1, j3 = filled.feature_names.index("x1"), filled.feature_names.index("x3")
    assert design[0, j3] == x3.fill_intercept + x3.fill_coef[0] * frame.at[0, "x1"] + x3.fill_coef[1] * frame.at[0, "x2"]
    assert abs(design[0, j3] - frame.at[0, "x3"]) < 0.05  # the noise, where the mean is off by
    assert abs(frame.at[0, "x3"] - x3.impute) > 1.0
    assert design[1, j3] == x3.impute and design[1, j1] == fills["x1"].impute
    # Without the fills the same gaps take the mean: what a preparation trained before them keeps doing.
    plain, _ = preparation.transform(gaps)
    assert plain[0, j3] == x3.impute


@pytest.mark.parametrize("where", ["in this process (one-hot)", "on the cluster (codes)"])
def test_an_unpenalized_model_scores_a_gap_in_a_collinear_column_near_the_complete_row(mlc_churn, local_client, where):
    """mlc_churn's charges are a rate times the minutes: unpenalized, their coefficients are huge and opposite, and a
    charge at its training mean beside the row's own minutes scored 1e-29 or 1.0. Filled from the minutes, the score
    stays within rounding of the complete row's. The same fills whether its state column is one-hot or codes (whose
    numeric co-moments are sampled apart), and the fit holds one design of its rows, not one per fill."""
    from logreg_dist import CollinearityWarning
    from logreg_dist.training import TrainingRows

    client = local_client if "cluster" in where else None
    rows = TrainingRows.from_frame(dd.from_pandas(mlc_churn, npartitions=2), client=client)
    try:
        preparation = rows.discover(target="churn")
        with pytest.warns(CollinearityWarning, match="total_day_minutes"):
            model = rows.fit(preparation, l2=0.0)
        model.score_distribution = rows.profile(model)
        assert len(rows._designs) == 1
    finally:
        rows.close()
    charge = next(c for c in model.preparation.columns if c.name == "total_day_charge")
    assert charge.fill_from == ("total_day_minutes",) and charge.fill_coef[0] == pytest.approx(0.17, abs=1e-4)
    rows = mlc_churn.iloc[:200]
    gaps = rows.assign(total_day_charge=np.nan)
    complete, filled = model.decision_function(rows), model.decision_function(gaps)
    assert np.max(np.abs(filled - complete)) < 0.1
    at_mean = dataclasses.replace(model, preparation=preparation).decision_function(gaps)
    assert np.max(np.abs(at_mean - complete)) > 10.0  # what the mean did


def test_a_whole_number_distinct_on_every_row_is_warned_about_as_an_id():
    from logreg_dist.exceptions import IdColumnWarning

    rng = np.random.default_rng(5)
    n = 3000
    frame = pd.DataFrame({"customer_no": rng.permutation(n) * 7 + 100_000, "visits": rng.poisson(3, n),
                          "spend": rng.gamma(2.0, 10.0, n), "y": rng.choice(["yes", "no"], n)})
    numeric, text = plan_columns(dict(frame.dtypes.items()), target="y", id_column=None, features=None, exclude=())
    # Summed over two partitions, as the discovery pass does.
    halves = [summarize_partition(frame.iloc[rows], numeric=numeric, text=text, target="y")
              for rows in (slice(0, n // 2), slice(n // 2, n))]
    with pytest.warns(IdColumnWarning, match=r"feature columns \['customer_no'\] hold a different whole number on "
                                             r"every row .* name it as the id column or exclude it"):
        discover(halves[0] + halves[1], numeric=numeric, text=text, target="y")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _prepare_in_memory(frame, "y", id_column="customer_no")  # named: no feature, no warning
        _prepare_in_memory(frame.iloc[:500], "y")  # too few rows to tell an id from a measurement
        # A repeated value in one partition: no id.
        _prepare_in_memory(frame.assign(customer_no=np.where(np.arange(n) == 1, frame["customer_no"][0],
                                                             frame["customer_no"])), "y")
        # Each file's own row numbers: distinct within each, repeated across them.
        numbered = frame.assign(customer_no=np.arange(n) % (n // 2))
        halves = [summarize_partition(numbered.iloc[rows], numeric=numeric, text=text, target="y")
                  for rows in (slice(0, n // 2), slice(n // 2, n))]
        discover(halves[0] + halves[1], numeric=numeric, text=text, target="y")


def test_a_column_whose_every_level_is_folded_is_said_so_not_called_constant():
    rng = np.random.default_rng(2)
    frame = pd.DataFrame({"zip": [f"z{k}" for k in rng.integers(0, 300, 3000)], "x": rng.normal(size=3000),
                          "y": rng.choice(["yes", "no"], 3000)})
    with pytest.warns(ConstantColumnWarning, match=r"every level of the columns \['zip'\] is rarer than "
                                                   r"min_frequency=200: folded into one \(other\) level"):
        preparation = _prepare_in_memory(frame, "y", min_frequency=200)
    assert [c.name for c in preparation.columns] == ["x"]
