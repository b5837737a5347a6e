"""Scheduled rescoring: the registry, the rescoring flow, its output and summary, and a served cron deployment (issue 5)."""

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from logreg_dist import InputError, synth
from logreg_dist.exceptions import MissingValuesWarning
from logreg_dist.registry import register, versions

from .servers import EVERY_20_SECONDS, free_port, stop, wait_healthy

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def trained(tmp_path_factory, prefect_harness, local_client):
    """A generated customer base (3 files), a model trained on it by the flow, and a registry holding it."""
    from flows.train import train

    root = tmp_path_factory.mktemp("rescore")
    synth.generate(root / "base", rows=30_000, positives=600, partitions=3)
    summary = train(data=str(root / "base"), target="converted", id_column="customer_id", out=str(root / "model"),
                    l2=1e-4, cost_fp=1.0, cost_fn=20.0, scheduler=local_client.scheduler.address)
    assert register(summary["model_dir"], root / "registry") == 1
    train(data=str(root / "base"), target="converted", id_column="customer_id", out=str(root / "strict-model"),
          l2=1e-4, missing="error", valid_fraction=0.0, scheduler=local_client.scheduler.address)
    return root


def _rescore(trained, out, data=None, model=None, client=None):
    from flows.rescore import rescore

    return rescore(model=str(model or trained / "registry" / "latest"), data=str(data or trained / "base"), out=str(out),
                   scheduler=client.scheduler.address)


def test_probabilities_equal_the_formula_from_model_json_for_every_row(trained, local_client, tmp_path):
    summary = _rescore(trained, tmp_path / "scores", client=local_client)
    document = json.loads((trained / "registry" / "latest" / "model.json").read_text())
    base = pd.read_parquet(trained / "base")
    scores = pd.read_parquet(tmp_path / "scores")
    assert list(scores.columns) == ["customer_id", "probability", "decile", "contact", "model_version"]
    # The decision at the model's threshold (its costs' choice), row by row; the summary counts the same rows.
    assert (scores["contact"] == (scores["probability"] >= document["threshold"]["threshold"])).all()
    assert int(scores["contact"].sum()) == summary["above_threshold"]
    assert len(scores) == len(base) and scores["customer_id"].tolist() == base["customer_id"].tolist()
    X = base[document["features"]].to_numpy(dtype=float)
    expected = 1.0 / (1.0 + np.exp(-(document["intercept"] + X @ np.array(document["coef"]))))
    assert np.max(np.abs(scores["probability"].to_numpy() - expected)) < 1e-12
    assert set(scores["model_version"]) == {"1"} and scores["decile"].between(1, 10).all()
    # Deciles from the training score edges: the top decile holds the highest scores.
    assert scores.groupby("decile")["probability"].min().is_monotonic_decreasing
    assert summary["rows"] == len(base) and sum(d["rows"] for d in summary["deciles"]) == len(base)
    # The threshold is one customer's validation score: that row sits on it, and the formula here and the
    # scoring code may round it to either side (they agree to 1e-12). Every other row must be counted alike.
    threshold = document["threshold"]["threshold"]
    scored_above = int((scores["probability"].to_numpy() >= threshold).sum())
    assert summary["above_threshold"] == scored_above
    assert int((expected >= threshold + 1e-12).sum()) <= scored_above <= int((expected >= threshold - 1e-12).sum())
    assert summary["score_psi"] < 0.01 and summary["flagged"] == []
    assert json.loads((tmp_path / "scores" / "_summary.json").read_text()) == summary


def test_a_model_without_an_id_column_numbers_the_rows_in_the_datas_order(trained, local_client, tmp_path):
    """Trained without an id column, a model scores data that has none: each row keeps its position in the data
    (files in order, rows in order), across every partition, as scikit-learn's predictions do."""
    import shutil

    model = tmp_path / "model"
    shutil.copytree(trained / "model", model)
    document = json.loads((model / "model.json").read_text())
    document["preparation"]["id_column"] = None
    (model / "model.json").write_text(json.dumps(document))
    data = tmp_path / "base"
    data.mkdir()
    for k, path in enumerate(sorted((trained / "base").glob("*.parquet"))):  # three files of unequal length
        pd.read_parquet(path).drop(columns="customer_id").iloc[: 10_000 - 1_000 * k].to_parquet(data / path.name)
    summary = _rescore(trained, tmp_path / "scores", data=data, model=model, client=local_client)
    base = pd.read_parquet(data)
    scores = pd.read_parquet(tmp_path / "scores")
    assert list(scores.columns) == ["row", "probability", "decile", "contact", "model_version"]
    assert scores["row"].tolist() == list(range(len(base))) and summary["rows"] == len(base) == 27_000
    X = base[document["features"]].to_numpy(dtype=float)
    expected = 1.0 / (1.0 + np.exp(-(document["intercept"] + X @ np.array(document["coef"]))))
    assert np.max(np.abs(scores["probability"].to_numpy() - expected)) < 1e-12


def test_the_same_scoring_twice_gives_the_same_files(trained, local_client, tmp_path):
    _rescore(trained, tmp_path / "a", client=local_client)
    _rescore(trained, tmp_path / "b", client=local_client)
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "b").iterdir()) and "part-00000.parquet" in names
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes() or name == "_summary.json"
    # Running again into the same folder replaces it whole and leaves nothing beside it.
    _rescore(trained, tmp_path / "a", client=local_client)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]


def test_drift_is_flagged_and_unseen_levels_are_counted(trained, local_client, tmp_path):
    base = pd.read_parquet(trained / "base")
    shifted = base.assign(engagement_03=base["engagement_03"] + 2 * base["engagement_03"].std())
    shifted.to_parquet(tmp_path / "shifted.parquet")
    summary = _rescore(trained, tmp_path / "scores", data=tmp_path / "shifted.parquet", client=local_client)
    assert "engagement_03" in summary["flagged"] and summary["psi"]["engagement_03"]["psi"] > 0.2
    assert summary["psi"]["recency_07"]["psi"] < 0.01
    # A gap in a column complete in training gets the training mean and is counted, not fatal.
    gaps = base.assign(spend_02=base["spend_02"].where(base.index % 1000 != 3))
    gaps.to_parquet(tmp_path / "gaps.parquet")
    with pytest.warns(MissingValuesWarning, match=r"spend_02 30\)"):  # said, not only counted in the summary
        summary = _rescore(trained, tmp_path / "gap-scores", data=tmp_path / "gaps.parquet", client=local_client)
    assert summary["imputed"] == {"spend_02": 30} and summary["rows"] == len(base)
    # A handful of rows drawn from the training distribution: chance alone gives PSIs of about (bins - 1) / rows,
    # above 0.2 for most inputs; only a PSI well clear of that is flagged, and a real shift still is.
    sample = base.sample(40, random_state=3)
    sample.to_parquet(tmp_path / "sample.parquet")
    summary = _rescore(trained, tmp_path / "sample-scores", data=tmp_path / "sample.parquet", client=local_client)
    assert sum(v["psi"] > 0.2 for v in summary["psi"].values()) > 10 and summary["flagged"] == []
    sample.assign(engagement_03=sample["engagement_03"] + 4 * base["engagement_03"].std()).to_parquet(
        tmp_path / "sample-shifted.parquet")
    summary = _rescore(trained, tmp_path / "shifted-sample-scores", data=tmp_path / "sample-shifted.parquet",
                       client=local_client)
    assert "engagement_03" in summary["flagged"]


def test_data_without_rows_keeps_the_previous_scores_unless_allowed(trained, local_client, tmp_path):
    from flows.rescore import rescore
    from logreg_dist.exceptions import EmptyDataWarning

    pd.read_parquet(trained / "base").iloc[:0].to_parquet(tmp_path / "empty.parquet")
    out = tmp_path / "scores"
    _rescore(trained, out, client=local_client)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    # An extract that came out empty upstream must not replace the last good scores with none.
    with pytest.raises(InputError, match=r"empty.parquet has no rows: nothing was scored, and .*scores is left as it "
                                         r"was .*allow_empty \(--allow-empty\) writes an empty score output"):
        _rescore(trained, out, data=tmp_path / "empty.parquet", client=local_client)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    with pytest.warns(EmptyDataWarning, match="empty.parquet has no rows"):
        summary = rescore(model=str(trained / "registry" / "latest"), data=str(tmp_path / "empty.parquet"),
                          out=str(out), scheduler=local_client.scheduler.address, allow_empty=True)
    # Shares of no rows are 0 / 0: no PSI at all, where it used to be 6.9 with every input flagged.
    assert summary["rows"] == 0 and summary["score_psi"] is None and summary["psi"] == {} and summary["flagged"] == []
    assert len(pd.read_parquet(out)) == 0


def test_ids_on_more_than_one_row_are_counted_and_warned_about(trained, local_client, tmp_path):
    from logreg_dist.exceptions import DuplicateIdsWarning

    base = pd.read_parquet(trained / "base")
    # 5,000 ids in two files (so in different partitions), and one id three times: 5,001 ids met more than once.
    base.iloc[:20_000].to_parquet(tmp_path / "a.parquet")
    pd.concat([base.iloc[15_000:], base.iloc[[0, 0]]]).to_parquet(tmp_path / "b.parquet")
    (tmp_path / "data").mkdir()
    for name in ("a", "b"):
        (tmp_path / f"{name}.parquet").rename(tmp_path / "data" / f"{name}.parquet")
    with pytest.warns(DuplicateIdsWarning, match=r"5,001 ids in column 'customer_id' .* appear more than once"):
        summary = _rescore(trained, tmp_path / "scores", data=tmp_path / "data", client=local_client)
    assert summary["duplicate_ids"] == 5_001 and summary["rows"] == 35_002  # every row scored, none lost
    unique = _rescore(trained, tmp_path / "unique-scores", client=local_client)
    assert unique["duplicate_ids"] == 0


def test_new_levels_and_gaps_in_a_text_column_are_told_apart(prefect_harness, local_client, tmp_path):
    """A text column complete in training: at scoring, a level it never had and a missing value both score as the
    reference level, and the summary counts each under its own name (a gap is no new level)."""
    from flows.train import train

    data = Path(__file__).parent / "data" / "wa_churn.parquet"
    train(data=str(data), target="churn", out=str(tmp_path / "model"), l2=1e-3, scheduler=local_client.scheduler.address)
    frame = pd.read_parquet(data).drop(columns="churn")
    frame["contract"] = frame["contract"].astype(object)
    frame.loc[frame.index[:5], "contract"] = "Lifetime"
    frame.loc[frame.index[5:12], "contract"] = None
    frame.to_parquet(tmp_path / "new.parquet")
    with pytest.warns(MissingValuesWarning, match=r"text as the reference level \(rows per column: contract 7\)"):
        summary = _rescore(None, tmp_path / "scores", data=tmp_path / "new.parquet", model=tmp_path / "model",
                           client=local_client)
    assert summary["unseen_levels"] == {"contract": 5} and summary["missing_text"] == {"contract": 7}
    assert summary["rows"] == len(frame) and summary["imputed"] == {}


def test_registry_versions_and_the_latest_pointer(trained, tmp_path):
    registry = tmp_path / "registry"
    assert register(trained / "model", registry) == 1
    assert register(trained / "model", registry) == 2
    assert versions(registry) == [1, 2]
    assert os.readlink(registry / "latest") == "2"
    assert json.loads((registry / "latest" / "model.json").read_text())["version"] == "2"
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no model at"):
        register(tmp_path / "empty", registry)
    assert versions(registry) == [1, 2]


def test_a_registry_refuses_a_model_of_another_target_and_tells_what_inputs_changed(trained, tmp_path, capsys):
    import dataclasses

    from logreg_dist.cli import main
    from logreg_dist.model import load_model
    from logreg_dist.registry import changes_from_latest

    registry = tmp_path / "registry"
    assert main(["register", str(trained / "model"), "--registry", str(registry)]) == 0
    model = load_model(trained / "model")
    other = dataclasses.replace(model, preparation=dataclasses.replace(model.preparation, target="churned"))
    other.save(tmp_path / "other")
    with pytest.raises(InputError, match=r"the registry .* holds models of converted = 1 \(latest: version 1\); this "
                                         r"model predicts churned = 1\. A registry holds one model's versions"):
        register(tmp_path / "other", registry)
    assert main(["register", str(tmp_path / "other"), "--registry", str(registry)]) == 2
    assert versions(registry) == [1] and os.readlink(registry / "latest") == "1"
    # Inputs may change from one version to the next (a served rescore then needs the new columns): they are named.
    inputs = model.preparation.inputs
    fewer = dataclasses.replace(model, preparation=model.preparation.restricted(inputs[1:]))
    assert changes_from_latest(fewer, registry) == {"latest": 1, "identical": False, "added": [],
                                                    "dropped": [inputs[0]], "id_column": None, "contact": None}
    assert changes_from_latest(model, registry)["identical"]
    # A version without a threshold (trained on every row) scores without the contact column: said when registered.
    assert model.threshold is not None
    unthresholded = dataclasses.replace(model, threshold=None)
    assert changes_from_latest(unthresholded, registry)["contact"] == (True, False)
    unthresholded.save(tmp_path / "unthresholded")
    capsys.readouterr()
    assert main(["register", str(tmp_path / "unthresholded"), "--registry", str(tmp_path / "second")]) == 0
    assert main(["register", str(trained / "model"), "--registry", str(tmp_path / "second")]) == 0
    assert "a served rescore writes a 'contact' column from now on" in capsys.readouterr().out
    capsys.readouterr()
    assert main(["register", str(trained / "model"), "--registry", str(registry)]) == 0
    out = capsys.readouterr().out
    assert "as version 2 in" in out and "(the same model as version 1)" in out  # a new version all the same, as MLflow
    # The versions, what each is, and how to roll back.
    assert main(["versions", str(registry)]) == 0
    lines = capsys.readouterr().out.splitlines()
    auc = model.metrics["auc"]
    assert lines[0] == f"{registry}: 2 versions, latest -> 2"
    for line, mark, number in zip(lines[2:4], " *", (1, 2)):
        assert line.startswith(f"{mark} {number:>7}  ") and "converted = 1" in line and f"{auc:.4f}" in line
        assert f"  {len(inputs):>6}  " in line and "l2 0.0001" in line
    assert lines[4] == f"roll back to version N: logreg-dist register {registry}/N --registry {registry}"
    # A model directory, or nothing, where a registry was meant: said as what it is.
    assert main(["versions", str(trained / "model")]) == 2
    assert "is a model directory, not a registry: logreg-dist register" in capsys.readouterr().err
    assert main(["versions", str(tmp_path / "nowhere")]) == 2
    assert f"there is no registry at {tmp_path / 'nowhere'}" in capsys.readouterr().err


def _register_many(model_dir, registry, n, start_barrier):
    start_barrier.wait()
    return [register(model_dir, registry) for _ in range(n)]


def test_concurrent_registrations_get_distinct_versions_and_latest_ends_at_the_newest(trained, tmp_path):
    import multiprocessing

    registry = tmp_path / "registry"
    context = multiprocessing.get_context("spawn")
    barrier = context.Manager().Barrier(4)
    with context.Pool(4) as pool:
        results = [pool.apply_async(_register_many, (trained / "model", registry, 5, barrier)) for _ in range(4)]
        claimed = sorted(v for result in results for v in result.get(timeout=120))
    assert claimed == list(range(1, 21)) and versions(registry) == claimed
    assert os.readlink(registry / "latest") == "20"
    for version in claimed:
        assert json.loads((registry / str(version) / "model.json").read_text())["version"] == str(version)
    assert not [p.name for p in registry.iterdir() if p.name.startswith(".") and p.name != ".latest.lock"]


def _corrupt(model_dir: Path, how: str) -> None:
    path = model_dir / "model.json"
    if how == "truncated":
        path.write_text(path.read_text()[:200])
    else:
        document = json.loads(path.read_text())
        document["format_version"] = 99
        path.write_text(json.dumps(document))


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing column", r"lacks the columns \['recency_07'\], which the model was trained on"),
        ("wrong type", r"column 'count_05' in .* must be numeric, as in training; got dtype"),
        ("wrong types", r"columns \['(count_05|spend_02)', '(count_05|spend_02)'\] in .* must be numeric, as in "
                        r"training; got dtypes \[.*, .*\]"),
        ("nan", r"column 'spend_02' in /.* has 3 missing values; the model was trained with missing='error'"),
        ("truncated", r"model file .*model.json is corrupt: not valid JSON"),
        ("version", r"has model format version 99; this logreg-dist reads version 1"),
    ],
)
def test_bad_input_names_the_column_or_file_and_keeps_the_previous_output(trained, local_client, tmp_path, case, message):
    import shutil

    out = tmp_path / "scores"
    _rescore(trained, out, client=local_client)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    base = pd.read_parquet(trained / "base")
    model = trained / "model"
    if case == "missing column":
        base = base.drop(columns="recency_07")
    elif case == "wrong type":
        base = base.assign(count_05=base["count_05"].astype(str))
    elif case == "wrong types":  # every one named at once
        base = base.assign(count_05=base["count_05"].astype(str), spend_02=base["spend_02"].astype(str))
    elif case == "nan":
        base = base.assign(spend_02=base["spend_02"].where(base.index % 10_000 != 7))
        model = trained / "strict-model"
    else:
        model = tmp_path / "model"
        shutil.copytree(trained / "model", model)
        _corrupt(model, case)
    base.to_parquet(tmp_path / "data.parquet")
    with pytest.raises(InputError, match=message):
        _rescore(trained, out, data=tmp_path / "data.parquet", model=model, client=local_client)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_a_scheduled_run_without_its_data_fails_before_any_cluster_starts(trained, local_client, tmp_path,
                                                                          monkeypatch):
    """A served rescore whose extract is not there yet failed only inside its task, after starting workers, with a
    hundred lines of their logs: the flow checks the data's columns first, as the command does."""
    from logreg_dist import jobs

    out = tmp_path / "scores"
    _rescore(trained, out, client=local_client)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def no_cluster(*args, **kwargs):
        raise AssertionError("a cluster was asked for before the data was checked")

    monkeypatch.setattr(jobs, "client_for", no_cluster)
    with pytest.raises(InputError, match=f"{tmp_path / 'tonight'}"):
        _rescore(trained, out, data=tmp_path / "tonight", client=local_client)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


@pytest.mark.slow
def test_a_task_failing_on_the_embedded_cluster_is_the_commands_one_line(trained, tmp_path):
    """Past IN_PROCESS_ROWS the command starts its own cluster: a worker's failed task used to print Dask's
    traceback and cancellation warnings before the command's one-line error."""
    import shutil

    from logreg_dist.jobs import IN_PROCESS_ROWS

    data = tmp_path / "base"
    data.mkdir()
    files = sorted((trained / "base").glob("*.parquet"))
    copies = -(-(IN_PROCESS_ROWS + 1) // 10_000)  # the generated files hold 10,000 rows each
    for k in range(copies):
        shutil.copyfile(files[k % len(files)], data / f"part-{k:03d}.parquet")
    broken = data / f"part-{copies // 2:03d}.parquet"
    pd.read_parquet(broken).to_parquet(broken, compression=None)
    content = bytearray(broken.read_bytes())
    content[len(content) // 3: len(content) // 3 + 20_000] = b"\xff" * 20_000  # inside the data pages
    broken.write_bytes(bytes(content))
    env = {key: value for key, value in os.environ.items() if key != "PREFECT_API_URL"}
    run = subprocess.run([sys.executable, "-m", "logreg_dist.cli", "score", str(trained / "registry" / "latest"),
                          str(data), "--out", str(tmp_path / "scores")], env=env, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 2, run.stderr[-3000:]
    (line,) = run.stderr.splitlines()  # pyarrow's own message had a line break and a control character in it
    assert line.startswith(f"logreg-dist score: error: cannot read Parquet file {broken}: ") and line.isprintable()
    assert not (tmp_path / "scores").exists()


@pytest.mark.slow
def test_the_served_deployment_gets_runs_from_its_cron_schedule(trained, local_client, tmp_path):
    """`logreg-dist serve` against a real `prefect server start` (its scheduler service on): the cron schedule
    creates runs, and one completes and writes the scores."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    port = free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect-home"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_UI_ENABLED": "false", "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "5",
           "PREFECT_RUNNER_POLL_FREQUENCY": "2", "PREFECT_API_URL": url}
    env.pop("PREFECT_SERVER_DATABASE_CONNECTION_URL", None)
    # Output to files, not pipes nobody reads: a run every 10 s prints enough to fill a pipe and block its writer.
    server_log, serve_log = tmp_path / "server.log", tmp_path / "serve.log"
    with server_log.open("wb") as output:
        server = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                                  env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    served = None
    out = tmp_path / "scheduled"
    try:
        wait_healthy(url, server, log=server_log)
        command = [sys.executable, "-m", "logreg_dist.cli", "serve", "--model", str(trained / "registry" / "latest"),
                   "--data", str(trained / "base"), "--out", str(out), "--cron", EVERY_20_SECONDS, "--name", "test-cron",
                   "--scheduler", local_client.scheduler.address]
        with serve_log.open("wb") as output:
            served = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)

        async def runs():
            async with get_client() as client:
                deployment = await client.read_deployment_by_name("rescore/test-cron")
                found = [r for r in await client.read_flow_runs() if r.deployment_id == deployment.id]
                return deployment, found

        deployment, flow_runs, completed = None, [], []
        deadline = time.monotonic() + 200
        with temporary_settings(updates={PREFECT_API_URL: url}):
            while time.monotonic() < deadline and not completed:
                time.sleep(1)
                try:
                    deployment, flow_runs = asyncio.run(runs())
                except Exception:  # not registered yet
                    continue
                completed = [r for r in flow_runs if r.state and r.state.is_completed()]
        stop(served)  # before its output is read: the next run would replace it
        served = None
        assert deployment is not None, f"the deployment was never registered: {serve_log.read_text()[-3000:]}"
        assert deployment.schedules[0].schedule.cron == EVERY_20_SECONDS
        assert completed, f"no scheduled run completed; runs: {[(r.name, r.state_name) for r in flow_runs]}"
        assert all(r.auto_scheduled for r in completed)
        assert pq.read_table(out).num_rows == 30_000
    finally:
        if served is not None:
            stop(served)
        stop(server)


@pytest.mark.slow
def test_serve_without_a_prefect_api_schedules_its_runs_itself(trained, local_client, tmp_path):
    """With no Prefect API configured, `logreg-dist serve` starts a local server with its scheduler (Prefect's
    temporary server has none, and a served cron schedule got no run at all): the scores appear on schedule."""
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect-home"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "5", "PREFECT_RUNNER_POLL_FREQUENCY": "2"}
    for name in ("PREFECT_API_URL", "PREFECT_SERVER_DATABASE_CONNECTION_URL"):
        env.pop(name, None)
    out, serve_log = tmp_path / "scheduled", tmp_path / "serve.log"
    command = [sys.executable, "-m", "logreg_dist.cli", "serve", "--model", str(trained / "registry" / "latest"),
               "--data", str(trained / "base"), "--out", str(out), "--cron", EVERY_20_SECONDS,
               "--scheduler", local_client.scheduler.address]
    with serve_log.open("wb") as output:
        served = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 200
        while time.monotonic() < deadline and not (out / "_summary.json").exists():
            assert served.poll() is None, f"serve exited: {serve_log.read_text()[-3000:]}"
            time.sleep(1)
    finally:
        stop(served)
    log = serve_log.read_text()
    assert (out / "_summary.json").exists(), f"no scheduled run wrote scores: {log[-3000:]}"
    assert "no Prefect API is configured (PREFECT_API_URL): runs are scheduled by a local Prefect server" in log
    assert "as deployment 'rescore/rescore-scheduled'" in log
    assert pq.read_table(out).num_rows == 30_000


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "int64", "bool", "Float64", "Int64"])
def test_drift_bins_count_each_value_once_as_a_search_of_the_cuts_would(dtype):
    """The compiled bin counts (spans of rows against one cut at a time) equal a search per value, with NaN and
    pandas' missing values counted apart, for every column dtype and for no, one and several cuts."""
    from logreg_dist.drift import _binned

    rng = np.random.default_rng(3)
    raw = rng.normal(size=10_001) * 5  # more than two spans of the compiled loop
    if dtype == "bool":
        column = pd.Series(raw > 0)
    elif dtype in ("Float64", "Int64"):
        column = pd.Series(np.round(raw), dtype=dtype)
        column[::5] = pd.NA
    else:
        column = pd.Series(np.round(raw).astype(dtype) if dtype.startswith("int") else raw.astype(dtype))
        if dtype.startswith("float"):
            column[::7] = np.nan
    for cuts in ([], [0.0], [0.5], sorted(set(np.quantile(raw, np.linspace(0.1, 0.9, 9)).round(1)))):
        values = column.to_numpy(dtype=np.float64, na_value=np.nan)
        present = values[~np.isnan(values)]
        expected = np.bincount(np.searchsorted(np.asarray(cuts, dtype=float), present, side="right"),
                               minlength=len(cuts) + 1)
        np.testing.assert_array_equal(_binned(column, cuts), [*expected, np.isnan(values).sum()])


def test_each_bin_of_a_profile_has_a_label_even_a_single_bin():
    """Bin labels line up with the counts, for no cut (a column of one value: it raised IndexError), one and two."""
    from logreg_dist.drift import _binned, bin_labels
    from logreg_dist.prepare import CategoricalColumn, NumericColumn, Preparation

    columns = [NumericColumn(name, impute=0.0, indicator=False) for name in ("none", "one", "two")]
    preparation = Preparation(columns=(*columns, CategoricalColumn("plan", "basic", ("gold",))), target="y",
                              positive_label=1, negative_label=0)
    edges = {"none": [], "one": [0.5], "two": [0.5, 2.0]}
    labels = bin_labels(preparation, edges)
    assert labels["none"] == ["all", "(missing)"]
    assert labels["two"] == ["< 0.5", "[0.5, 2)", ">= 2", "(missing)"]
    values = pd.Series([0.0, 1.0, 3.0, np.nan])
    assert all(len(labels[name]) == len(_binned(values, cuts)) for name, cuts in edges.items())
    assert labels["plan"][:2] == ["basic", "gold"]
