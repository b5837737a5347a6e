"""The training flow under a real Prefect server, on the churn data in tests/data (issue 4)."""

import asyncio
import json

import numpy as np
import pytest
import statsmodels.api as sm
from scipy.special import expit
from sklearn.metrics import roc_auc_score

from logreg_dist import InputError
from logreg_dist.model import load_model
from logreg_dist.training import _validation_rows

from .test_prepare import _reference_design

pytestmark = pytest.mark.cluster

FEATURES = ["senior_citizen", "tenure", "monthly_charges", "contract", "payment_method", "internet_service"]


@pytest.fixture(scope="module")
def wa_folder(tmp_path_factory, wa_churn):
    folder = tmp_path_factory.mktemp("wa") / "customers"
    folder.mkdir()
    frame = wa_churn.assign(customer_id=np.arange(len(wa_churn)) * 7 + 100_000)
    for k, part in enumerate(np.array_split(np.arange(len(frame)), 3)):
        frame.iloc[part].to_parquet(folder / f"part-{k}.parquet")
    return folder, frame


def _run(**parameters):
    from flows.train import train

    return train(**parameters)


def test_train_flow_writes_a_validated_interpretable_model(prefect_harness, local_client, wa_folder, tmp_path):
    folder, frame = wa_folder
    out = tmp_path / "model"
    summary = _run(
        data=str(folder), target="churn", out=str(out), id_column="customer_id", l2=1e-3,
        cost_fp=1.0, cost_fn=5.0, scheduler=local_client.scheduler.address,
    )
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json", "model.json", "report.html"]
    document = json.loads((out / "model.json").read_text())
    for key in ("features", "coef", "std_errors", "intercept", "intercept_std_error", "scaler", "l2", "solver",
                "n_iter", "converged", "training", "metrics"):
        assert key in document
    # Probabilities recomputed from model.json alone give the reported AUC.
    valid = _validation_rows(frame, "customer_id", 0.2, 0)
    design = _reference_design(frame.drop(columns="customer_id"), "churn")[document["features"]]
    prob = expit(document["intercept"] + design.to_numpy()[valid] @ np.array(document["coef"]))
    y = (frame["churn"] == "Yes").to_numpy()[valid]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_rows"] == valid.sum()
    assert abs(metrics["auc"] - roc_auc_score(y, prob)) < 1e-9
    assert metrics["auc_ci"][0] < metrics["auc"] < metrics["auc_ci"][1]
    assert summary["short_model"]["auc"] < metrics["auc"] and len(summary["short_model"]["features"]) == 3
    assert document["threshold"]["cost_fn"] == 5.0
    assert document["training"]["rows"] + metrics["n_rows"] == len(frame)

    from prefect.client.orchestration import get_client

    async def artifact_keys():
        async with get_client() as client:
            return {a.key for a in await client.read_artifacts()}

    assert {"validation-metrics", "coefficients"} <= asyncio.run(artifact_keys())


def test_standard_errors_with_l2_0_equal_statsmodels(prefect_harness, local_client, wa_folder, tmp_path):
    folder, frame = wa_folder
    _run(data=str(folder), target="churn", out=str(tmp_path / "m"), features=FEATURES, valid_fraction=0.0,
         scheduler=local_client.scheduler.address)
    model = load_model(tmp_path / "m")
    design = _reference_design(frame[FEATURES + ["churn"]], "churn")[model.features]
    reference = sm.Logit((frame["churn"] == "Yes").astype(float), sm.add_constant(design)).fit(disp=0, method="newton", tol=1e-12)
    np.testing.assert_allclose(model.std_errors, reference.bse[model.features], rtol=1e-6)
    np.testing.assert_allclose(model.intercept_std_error, reference.bse["const"], rtol=1e-6)
    np.testing.assert_allclose(model.coef, reference.params[model.features], rtol=0, atol=1e-6)
    assert model.metrics is None


def test_the_split_keeps_each_customer_on_one_side_for_any_partitioning(wa_folder):
    _, frame = wa_folder
    whole = _validation_rows(frame, "customer_id", 0.2, 0)
    bounds = [0, 1, 500, 2200, 2201, 5000, len(frame)]  # uneven pieces, one of a single row
    pieces = np.concatenate([_validation_rows(frame.iloc[a:b], "customer_id", 0.2, 0) for a, b in zip(bounds, bounds[1:])])
    np.testing.assert_array_equal(whole, pieces)
    assert abs(whole.mean() - 0.2) < 0.02


@pytest.mark.parametrize(
    "change, parameters, message",
    [
        (lambda f: f, {"target": "churned"}, r"the target 'churned' is not a column"),
        (lambda f: f.assign(churn=np.resize(["Yes", "No", "Maybe"], len(f))), {}, r"target column 'churn' must hold exactly two labels"),
        (lambda f: f.assign(customer_id=np.repeat(f["customer_id"].to_numpy()[::2], 2)[: len(f)]), {}, r"id column 'customer_id' .* has duplicates"),
        (lambda f: f, {"features": ["tenure", "age"]}, r"the features \['age'\] are not columns"),
        (lambda f: f.iloc[:0], {}, r"no rows"),
        (lambda f: f.assign(tenure=np.where(np.arange(len(f)) % 5 == 0, np.inf, f["tenure"])), {},
         r"column 'tenure' in .*data.parquet holds infinite values"),
        (lambda f: f.assign(tenure=np.where(_validation_rows(f, "customer_id", 0.2, 0), np.inf, f["tenure"])), {},
         r"the validation split of .*data.parquet: column 'tenure' in partition 0 of 1 holds infinite values"),
        (lambda f: f.assign(churn=np.where(_validation_rows(f, "customer_id", 0.2, 0), "No", f["churn"])), {},
         r"the validation split of .*data.parquet: the rows measured are all negatives \(churn = 'No'\)"),
    ],
)
def test_bad_input_names_the_column_and_leaves_no_model(prefect_harness, local_client, wa_folder, tmp_path, change, parameters, message):
    _, frame = wa_folder
    change(frame).to_parquet(tmp_path / "data.parquet")
    out = tmp_path / "model"
    run = {"data": str(tmp_path / "data.parquet"), "target": "churn", "out": str(out), "id_column": "customer_id",
           "l2": 1e-3, "scheduler": local_client.scheduler.address, **parameters}
    with pytest.raises(InputError, match=message):
        _run(**run)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.parquet"]


def test_evaluate_prints_the_metrics_of_a_saved_model_on_any_data(prefect_harness, local_client, wa_folder, tmp_path, capsys):
    from logreg_dist.cli import main

    folder, frame = wa_folder
    _run(data=str(folder), target="churn", out=str(tmp_path / "m"), features=FEATURES, valid_fraction=0.0,
         scheduler=local_client.scheduler.address)
    capsys.readouterr()
    status = main(["evaluate", str(tmp_path / "m"), str(folder), "--target", "churn", "--json",
                   "--scheduler", local_client.scheduler.address])
    assert status == 0
    metrics = json.loads(capsys.readouterr().out)
    document = json.loads((tmp_path / "m" / "model.json").read_text())
    design = _reference_design(frame[FEATURES + ["churn"]], "churn")[document["features"]]
    prob = expit(document["intercept"] + design.to_numpy() @ np.array(document["coef"]))
    y = (frame["churn"] == "Yes").to_numpy()
    assert metrics["n_rows"] == len(frame)
    assert abs(metrics["auc"] - roc_auc_score(y, prob)) < 1e-9
    assert {"auc_ci", "log_loss", "brier"} <= set(metrics)
    assert main(["evaluate", str(tmp_path / "m"), str(folder), "--target", "nope"]) == 2
    assert "has no target column 'nope'" in capsys.readouterr().err
    # Without --target, the column the model was trained on.
    assert main(["evaluate", str(tmp_path / "m"), str(folder), "--json", "--scheduler",
                 local_client.scheduler.address]) == 0
    assert json.loads(capsys.readouterr().out) == metrics
