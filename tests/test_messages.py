"""What ``train`` tells a user stays readable when the data has many levels or near-duplicate columns."""

import contextlib
import io
import json
import re
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from logreg_dist.cli import main
from logreg_dist.model import load_model


def _many_separating_levels(n=3000, seed=0) -> pd.DataFrame:
    """A shop column of 400 levels, most of them a few rows that are all negative: each separates on its own."""
    rng = np.random.default_rng(seed)
    shop = np.where(rng.uniform(size=n) < 0.5, "big", np.array([f"s{k}" for k in rng.integers(0, 400, size=n)]))
    spend = rng.normal(size=n)
    converted = ((shop == "big") & (rng.uniform(size=n) < 1 / (1 + np.exp(-spend)))).astype(np.int64)
    return pd.DataFrame({"customer_id": np.arange(n, dtype=np.int64), "spend": spend, "shop": shop,
                         "converted": converted})


def test_a_separation_on_hundreds_of_levels_names_a_few_and_counts_the_rest():
    from logreg_dist import LogisticRegression
    from logreg_dist.exceptions import SeparationWarning

    frame = _many_separating_levels()
    X = pd.get_dummies(frame[["spend", "shop"]], columns=["shop"], dtype=float).drop(columns="shop_big")
    with pytest.warns(SeparationWarning) as caught:
        fit = LogisticRegression(l2=0.0).fit(X, frame["converted"])
    assert len(fit.separation_["rules"]) > 100  # the model keeps every rule
    message = str(next(w.message for w in caught if issubclass(w.category, SeparationWarning)))
    assert len(message) < 1000, message[:300]
    assert f"and {len(fit.separation_['rules']) - 5:,} more features" in message


@pytest.mark.cluster
def test_train_prints_a_short_separation_line_and_odds_ratios_a_reader_can_read(prefect_harness, local_client,
                                                                                 tmp_path):
    frame = _many_separating_levels()
    # A charge that is the minutes times a tariff, rounded: the two coefficients grow large and opposite.
    frame["minutes"] = np.random.default_rng(1).gamma(4.0, 40.0, len(frame))
    frame["charge"] = (frame["minutes"] * 0.17).round(2)
    frame.loc[frame["minutes"] > 200, "converted"] = (frame["shop"] == "big").astype(np.int64)
    path = tmp_path / "customers.parquet"
    frame.to_parquet(path)
    with contextlib.redirect_stdout(io.StringIO()) as out, contextlib.redirect_stderr(io.StringIO()):
        status = main(["train", str(path), "--target", "converted", "--id-column", "customer_id",
                       "--out", str(tmp_path / "model"), "--scheduler", local_client.scheduler.address])
    assert status == 0
    text = out.getvalue()
    line = next(line for line in text.splitlines() if line.startswith("separation: "))
    assert len(line) < 1000 and "more features (model.json 'separation')" in line, line[:300]
    ratios = re.findall(r"odds ratio per SD (\S+)", text)
    assert ratios and all(len(r) <= 10 for r in ratios), ratios


def test_a_levels_odds_ratio_is_against_its_reference_level(prefect_harness, tmp_path):
    """wa_churn's contract and internet levels among the strongest: their odds ratio is exp(coef), the level against
    the column's most frequent one, not a per-SD figure of a 0/1 column."""
    with contextlib.redirect_stdout(io.StringIO()) as out, contextlib.redirect_stderr(io.StringIO()):
        status = main(["train", str(Path(__file__).parent / "data" / "wa_churn.parquet"), "--target", "churn",
                       "--l2", "1e-3", "--out", str(tmp_path / "model")])
    assert status == 0
    shown = re.findall(r"(\S+=\S+(?: \S+)?) +coef (\S+)  odds ratio against (\S+=.+?) (\S+)$", out.getvalue(), re.M)
    assert shown, out.getvalue()
    for level, coef, reference, ratio in shown:
        assert level.split("=")[0] == reference.split("=")[0] and level != reference
        assert float(ratio) == pytest.approx(np.exp(float(coef)), rel=1e-3), (level, coef, ratio)
    from logreg_dist.model import load_model

    table = {row["feature"]: row for row in load_model(tmp_path / "model").coefficient_table()}
    assert table["contract=Two year"]["reference"] == "contract=Month-to-month"
    assert table["tenure"]["reference"] is None


def test_training_without_validation_rows_says_what_it_did_not_write(prefect_harness, tmp_path):
    with contextlib.redirect_stdout(io.StringIO()) as out, contextlib.redirect_stderr(io.StringIO()):
        status = main(["train", str(Path(__file__).parent / "data" / "wa_churn.parquet"), "--target", "churn",
                       "--l2", "1e-3", "--valid-fraction", "0", "--out", str(tmp_path / "model")])
    assert status == 0
    assert ("no validation rows (--valid-fraction 0): no metrics.json or threshold, and report.html shows the "
            "coefficients only") in out.getvalue()
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == ["model.json", "report.html"]
    report = (tmp_path / "model" / "report.html").read_text()
    assert 'id="coefficients"' in report and 'id="roc"' not in report and 'id="threshold"' not in report
    assert "Training rows</span><span class=\"value\">7,043<" in report
    assert "has not been measured on rows it did not see" in report and "Cross-validated AUC" not in report


def test_cross_validation_without_validation_rows_reports_the_folds_auc(prefect_harness, tmp_path):
    with contextlib.redirect_stdout(io.StringIO()) as out, contextlib.redirect_stderr(io.StringIO()):
        status = main(["train", str(Path(__file__).parent / "data" / "wa_churn.parquet"), "--target", "churn",
                       "--alpha", "auto", "--cv", "3", "--n-alphas", "6", "--valid-fraction", "0",
                       "--out", str(tmp_path / "model")])
    assert status == 0
    from logreg_dist.model import load_model

    path = load_model(tmp_path / "model").path
    chosen = path["points"][path["chosen"]]
    assert f"cv AUC {chosen['cv_auc']:.4f}" in out.getvalue()
    assert "report.html shows the coefficients and the path only" in out.getvalue()
    report = (tmp_path / "model" / "report.html").read_text()
    assert f"Cross-validated AUC</span><span class=\"value\">{chosen['cv_auc']:.3f}<" in report
    assert f"\u00b1 {chosen['cv_auc_sd']:.3f} SD over the folds" in report
    assert 'id="path"' in report and 'id="roc"' not in report and "the model's AUC above is exact" not in report


def test_collinear_groups_are_named_once_each_and_apart():
    from logreg_dist import CollinearityWarning, LogisticRegression

    rng = np.random.default_rng(4)
    a, b, c = rng.normal(size=(3, 2000))
    X = pd.DataFrame({"a": a, "a_copy": 2 * a + 1, "b": b, "b_copy": -b, "b_again": 3 * b, "c": c})
    y = (rng.uniform(size=2000) < 1 / (1 + np.exp(-(a + b)))).astype(int)
    with pytest.warns(CollinearityWarning) as caught:
        LogisticRegression(l2=0.0).fit(X, y)
    message = str(next(w.message for w in caught if issubclass(w.category, CollinearityWarning)))
    assert "columns are collinear (or constant): ['a', 'a_copy']; ['b', 'b_copy', 'b_again']. Newton" in message, message


@pytest.mark.cluster
def test_separated_features_are_not_called_strongest_nor_chosen_for_the_short_model(prefect_harness, local_client,
                                                                                   tmp_path):
    frame = _many_separating_levels()
    frame["visits"] = np.random.default_rng(2).poisson(3, len(frame))
    frame.loc[frame["visits"] >= 6, "converted"] = 1  # a strong, identified effect beside the separated levels
    path = tmp_path / "customers.parquet"
    frame.to_parquet(path)
    with contextlib.redirect_stdout(io.StringIO()) as out, contextlib.redirect_stderr(io.StringIO()):
        status = main(["train", str(path), "--target", "converted", "--id-column", "customer_id", "--top-k", "2",
                       "--out", str(tmp_path / "model"), "--scheduler", local_client.scheduler.address])
    assert status == 0
    model = json.loads((tmp_path / "model" / "model.json").read_text())
    separated = set(model["separation"]["features"])
    assert any(f.startswith("shop=") for f in separated)
    listed = re.findall(r"^\s+(\d+)\. (\S+)\s+coef", out.getvalue(), flags=re.MULTILINE)
    assert listed and not separated & {name for _, name in listed}, listed
    assert [int(rank) for rank, _ in listed] == list(range(1, len(listed) + 1)), listed  # no gaps where they were
    table = load_model(tmp_path / "model").coefficient_table()  # the report's table: the separated rows come last
    assert [row["separated"] for row in table] == sorted(row["separated"] for row in table)
    assert "visits" in model["short_model"]["features"], model["short_model"]


def _train_showing_warnings(*options: str) -> tuple[int, str]:
    """``logreg-dist train`` on wa_churn with ``options``: its status and stderr, warnings written as a console shows
    them (pytest records warnings instead of showing them)."""
    def shown_as_python_shows_it(message, category, filename, lineno, file=None, line=None):
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err, \
            warnings.catch_warnings():
        warnings.simplefilter("default")
        warnings.showwarning = shown_as_python_shows_it
        status = main(["train", str(Path(__file__).parent / "data" / "wa_churn.parquet"), "--target", "churn",
                       *options])
    return status, err.getvalue()


def test_our_warnings_are_one_line_naming_the_command(prefect_harness, tmp_path):
    """wa_churn's repeated one-hot columns, fitted without a penalty: the collinear groups are named in one line on
    stderr, not as Python's two-line warning with the library's file and source line. (A lasso's split of exactly
    equal columns is not unique: whether two of them end nonzero depends on the solver's path, so it is no trigger.)"""
    status, shown = _train_showing_warnings("--out", str(tmp_path / "model"))
    assert status == 0
    lines = shown.splitlines()
    warned = [line for line in lines if line.startswith("logreg-dist train: warning: the Hessian is singular")]
    assert len(warned) == 1 and "No internet service" in warned[0], lines
    # The monthly charge is nearly the sum of the services' prices (R^2 0.9988 on the others): beside the exactly
    # collinear groups it is named too, as its sign means nothing (it ranked second, lowering churn).
    near = [line for line in lines if line.startswith("logreg-dist train: warning: these columns are nearly collinear")]
    assert len(near) == 1 and "'monthly_charges'" in near[0] and "'streaming_tv=Yes'" in near[0], lines
    assert not any("Warning:" in line or line.startswith("  ") for line in lines), lines
    report = (tmp_path / "model" / "report.html").read_text()
    assert "No coefficient has a standard error" in report


def test_a_fit_stopped_by_max_iter_is_told_to_raise_the_option(prefect_harness, tmp_path):
    """``--max-iter`` reaches the solver, and the warning of the fit it stopped advises the command's option, not
    the library's parameter."""
    status, shown = _train_showing_warnings("--alpha", "0.001", "--l1-ratio", "1", "--max-iter", "1",
                                            "--out", str(tmp_path / "model"))
    assert status == 0
    warned = [line for line in shown.splitlines() if "did not converge" in line]
    assert len(warned) == 1 and warned[0].endswith("Increase --max-iter.") and "max_iter" not in warned[0], warned
    assert json.loads((tmp_path / "model" / "model.json").read_text())["converged"] is False


@pytest.mark.parametrize("argv, message", [
    (["train", "data.parquet", "--target", "y", "--out", "m", "--cv", "2.5"], "argument --cv: invalid int value: '2.5'"),
    (["train", "data.parquet", "--target", "y", "--out", "m", "--bogus"],
     "logreg-dist train: error: unrecognized arguments: --bogus (see logreg-dist train --help)"),
    # A near miss gets the option meant (argparse of Python 3.11 suggests none), also where it left one missing.
    (["train", "data.parquet", "--target", "y", "--out", "m", "--l1ratio", "1"],
     "unrecognized arguments: --l1ratio 1 (--l1ratio is not an option; did you mean --l1-ratio?)"),
    (["train", "data.parquet", "--traget", "y", "--out", "m"],
     "required: --target (--traget is not an option; did you mean --target?)"),
    # An unset shell variable ("--id-column $ID") is refused, not taken as the model's id column.
    (["score", "m", "d.parquet", "--out", "s", "--id-column", ""], "argument --id-column: expected a column name"),
    (["train", "data.parquet", "--target", " ", "--out", "m"], "argument --target: expected a column name"),
])
def test_a_mistyped_argument_is_one_line(argv, message):
    with contextlib.redirect_stderr(io.StringIO()) as err, pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    lines = err.getvalue().splitlines()
    assert len(lines) == 1 and message in lines[0] and lines[0].endswith("--help)"), lines


@pytest.mark.parametrize("argv, verbose", [
    (["train", "d.parquet", "--target", "y"], False),
    (["-v", "train", "d.parquet", "--target", "y"], True),
    (["train", "d.parquet", "--target", "y", "-v"], True),  # after the command, as users type it
    (["score", "m", "d.parquet", "--out", "s", "--verbose"], True),
])
def test_verbose_is_taken_before_or_after_the_command(argv, verbose):
    from logreg_dist.cli import _parser

    assert _parser().parse_args(argv).verbose is verbose


def test_a_path_that_chooses_its_largest_penalty_says_the_model_is_near_the_base_rate(capsys):
    from logreg_dist.cli import _print_headline

    summary = {"model_dir": "m", "rows": 50_000, "positives": 59, "target": "y", "positive_label": 1,
               "solver": "prox-newton", "n_iter": 30, "converged": True, "fit_seconds": 1.0, "coefficients": [],
               "penalty": {"alpha": 6.3, "l1_ratio": 0.0, "nonzero": 12, "n_alphas": 20, "smallest": False,
                           "largest": True, "valid_deviance": 0.08,
                           "chosen_by": "the one-standard-error rule on the validation deviance"}}
    _print_headline(summary)
    out = capsys.readouterr().out
    assert "the chosen penalty is the path's largest" in out and "--alpha-rule min" in out


def test_nearly_collinear_columns_are_named_as_such_not_as_separation(mlc_churn, tmp_path):
    """mlc_churn's charges are its minutes times a tariff, rounded (correlation 0.99999): unpenalized, each pair gets
    huge opposite coefficients. A trial found them reported as separation and ranked strongest; they are named as
    nearly collinear, pair by pair, not separated, and rank after the identified inputs."""
    import warnings

    from logreg_dist import CollinearityWarning, LogisticRegression, jobs
    from logreg_dist.model import Model
    from logreg_dist.training import TrainingRows

    from .conftest import numeric_problem

    X, y = numeric_problem(mlc_churn, "churn", "yes")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = LogisticRegression(l2=0.0).fit(X, y)
    messages = [str(w.message) for w in caught if issubclass(w.category, CollinearityWarning)]
    pairs = [[f"total_{part}_minutes", f"total_{part}_charge"] for part in ("day", "eve", "night", "intl")]
    named = "; ".join(str(pair) for pair in pairs)
    assert len(messages) == 1 and f"combination of the others): {named}: their" in messages[0], messages
    assert fit.separation_ is None and fit.collinear_groups_ == pairs
    # Penalized, the same columns are left alone: the penalty keeps their coefficients finite and meaningful.
    with warnings.catch_warnings():
        warnings.simplefilter("error", CollinearityWarning)
        LogisticRegression(l2=1e-3).fit(X, y)
    # The command's ranking: the pairs rank after the identified inputs, so the short model is not made of them.
    mlc_churn.to_parquet(tmp_path / "mlc.parquet")
    options = jobs.TrainOptions(data=str(tmp_path / "mlc.parquet"), target="churn")
    rows = TrainingRows.read(options.data, valid_fraction=0.2)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CollinearityWarning)
            model = Model.from_dict(jobs.fit(rows, options, jobs.prepare(rows, options)))
    finally:
        rows.close()
    paired = {name for pair in pairs for name in pair}
    ranked = [row["feature"] for row in model.coefficient_table()]
    assert set(ranked[-len(paired):]) == paired and not paired & set(model.strongest(3))


def test_probabilities_flattened_by_a_strong_penalty_are_called_miscalibrated(prefect_harness, tmp_path):
    import statsmodels.api as sm
    from scipy.special import logit

    data = Path(__file__).parent / "data" / "wa_churn.parquet"
    outputs = {}
    for l2 in ("1", "1e-3"):
        with contextlib.redirect_stdout(io.StringIO()) as out, contextlib.redirect_stderr(io.StringIO()):
            assert main(["train", str(data), "--target", "churn", "--l2", l2, "--out", str(tmp_path / l2)]) == 0
        outputs[l2] = out.getvalue()
    # At l2 = 1 the scores of wa_churn span 0.16-0.39 where the deciles' churn rates run from 2 % to 78 %.
    assert "calibration: on the validation rows the probabilities are too close to the base rate" in outputs["1"]
    assert "try a smaller --l2 or --alpha, or let --alpha auto choose it" in outputs["1"]
    assert "calibration:" not in outputs["1e-3"] and "calibration slope 1." in outputs["1e-3"]
    assert "The probabilities are too close to the base rate" in (tmp_path / "1" / "report.html").read_text()
    # evaluate's fit is statsmodels' on the model's own probabilities of the same rows.
    with contextlib.redirect_stdout(io.StringIO()) as out:
        assert main(["evaluate", str(tmp_path / "1"), str(data), "--json"]) == 0
    calibration = json.loads(out.getvalue())["calibration"]
    frame = pd.read_parquet(data)
    score = load_model(tmp_path / "1").predict_proba(frame)
    reference = sm.Logit((frame["churn"] == "Yes").to_numpy(float), sm.add_constant(logit(score))).fit(disp=0)
    assert [calibration["intercept"], calibration["slope"]] == pytest.approx(reference.params, rel=1e-6)
    assert calibration["slope"] > 4 and calibration["slope_se"] == pytest.approx(reference.bse[1], rel=1e-5)


def test_evaluate_reads_the_labels_spelled_otherwise_and_refuses_gaps(prefect_harness, tmp_path, capsys):
    data = Path(__file__).parent / "data" / "wa_churn.parquet"
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert main(["train", str(data), "--target", "churn", "--l2", "1e-3", "--out", str(tmp_path / "m")]) == 0
    frame = pd.read_parquet(data)
    churned = frame["churn"] == "Yes"
    spellings = {"as trained": frame["churn"], "1/0": churned.astype(int), "True/False": churned,
                 "yes/no": frame["churn"].str.lower(), "'1'/'0'": churned.astype(int).astype(str)}
    results = {}
    for name, labels in spellings.items():
        path = tmp_path / f"{len(results)}.parquet"
        frame.assign(churn=labels).to_parquet(path)
        capsys.readouterr()
        assert main(["evaluate", str(tmp_path / "m"), str(path), "--json"]) == 0, capsys.readouterr().err
        results[name] = json.loads(capsys.readouterr().out)
    assert all(r == results["as trained"] for r in results.values())  # the same metrics, however spelled
    assert results["as trained"]["n_positives"] == int(churned.sum())
    # A gap in the target, or one class only, is refused naming the column or the data.
    gaps = frame.assign(churn=frame["churn"].where(frame.index % 700 != 3))
    gaps.to_parquet(tmp_path / "gaps.parquet")
    frame[churned].to_parquet(tmp_path / "churners.parquet")
    assert main(["evaluate", str(tmp_path / "m"), str(tmp_path / "gaps.parquet")]) == 2
    assert f"target column 'churn' in {tmp_path / 'gaps.parquet'} has 11 missing values" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path / "m"), str(tmp_path / "churners.parquet")]) == 2
    assert (f"{tmp_path / 'churners.parquet'}: the rows measured are all positives (churn = 'Yes'): 1,869 rows"
            in capsys.readouterr().err)
    frame[~churned].to_parquet(tmp_path / "stayers.parquet")
    assert main(["evaluate", str(tmp_path / "m"), str(tmp_path / "stayers.parquet")]) == 2
    assert "the rows measured are all negatives (churn = 'No'): 5,174 rows" in capsys.readouterr().err


def test_scoring_says_which_gaps_were_filled_and_which_rows_separated_features_decide(prefect_harness, tmp_path):
    """Unpenalized (the default), mlc_churn's charge gaps are filled from the minutes where those are there, and the
    summary counts the two apart; wa_churn's separated gap indicator scores new customers at 1e-11, which is said."""
    data = Path(__file__).parent / "data"
    mlc = pd.read_parquet(data / "mlc_churn.parquet").iloc[:50].copy()
    mlc.loc[:9, "total_day_charge"] = np.nan
    mlc.loc[:2, "total_day_minutes"] = np.nan  # its pair is missing too: these rows take the means
    mlc.to_parquet(tmp_path / "gaps.parquet")
    runs = {}
    for name, source, new in (("mlc", data / "mlc_churn.parquet", tmp_path / "gaps.parquet"),
                              ("wa", data / "wa_churn.parquet", data / "wa_churn.parquet")):
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            assert main(["train", str(source), "--target", "churn", "--out", str(tmp_path / name)]) == 0
        with contextlib.redirect_stdout(io.StringIO()) as out, contextlib.redirect_stderr(io.StringIO()), \
                warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert main(["score", str(tmp_path / name), str(new), "--out", str(tmp_path / f"{name}-scores")]) == 0
        summary = json.loads((tmp_path / f"{name}-scores" / "_summary.json").read_text())
        runs[name] = out.getvalue(), " ".join(str(w.message) for w in caught), summary
    text, _, summary = runs["mlc"]
    assert summary["imputed"] == {"total_day_minutes": 3, "total_day_charge": 10}
    assert summary["imputed_from"] == {"total_day_charge": {"from": ["total_day_minutes"], "rows": 7}}
    assert ("gaps in numeric columns complete in training: total_day_minutes 3 (at the training mean), "
            "total_day_charge 10 (7 filled from total_day_minutes, 3 at the training mean)") in text
    assert summary["extreme_scores"] == 0 and "within 1e-6" not in text
    text, error, summary = runs["wa"]
    assert "total_charges__missing" in summary["separated"] and summary["extreme_scores"] >= 11
    assert f"rows scored within 1e-6 of 0 or 1: {summary['extreme_scores']:,} (by the model's separated features: " \
           "retrain with --alpha auto)" in text
    assert "scored within 1e-6 of 0 or 1: the model's separated features (total_charges__missing" in error
    assert "Retrain with a penalty (alpha='auto', or l2 > 0)." in error  # the command writes them as its options
