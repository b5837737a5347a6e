"""Object storage end to end (issue 21): every path an s3:// URL on a real S3 protocol server (moto's server mode on
127.0.0.1), through the command line; the same bytes as on local disk; a failure mid-write changes nothing a reader
can see."""

from __future__ import annotations

import json
import uuid

import pyarrow.parquet as pq
import pytest

from logreg_dist import InputError, storage, synth
from logreg_dist.cli import main
from logreg_dist.model import load_model
from logreg_dist.outputs import check_output
from logreg_dist.tables import read_table

pytestmark = [pytest.mark.slow, pytest.mark.cluster]

s3fs = pytest.importorskip("s3fs")


@pytest.fixture(scope="module")
def s3_endpoint():
    moto_server = pytest.importorskip("moto.server")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="module")
def s3(s3_endpoint, local_client):
    """An S3 filesystem on the local server, and the same credentials in this process's and the workers' environment,
    as a deployment gives its scheduler and workers theirs."""
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_ENDPOINT_URL": s3_endpoint,
           "AWS_DEFAULT_REGION": "us-east-1"}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        saved = local_client.run(lambda: {name: __import__("os").environ.get(name) for name in env})
        local_client.run(lambda: __import__("os").environ.update(env))
        s3fs.S3FileSystem.clear_instance_cache()  # an earlier instance would keep an earlier endpoint
        try:
            yield s3fs.S3FileSystem()
        finally:
            for worker, values in saved.items():
                local_client.run(_restore, values, workers=[worker])
            s3fs.S3FileSystem.clear_instance_cache()


def _restore(values: dict) -> None:
    import os

    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def snapshot(fs, prefix: str) -> dict[str, bytes]:
    """Every object under ``prefix``: key -> bytes."""
    fs.invalidate_cache()
    return {key: fs.cat_file(key) for key in fs.find(prefix)}


def _train(data: str, out: str) -> list[str]:
    # In this process (small data, no --scheduler): its sums run in partition order, so the two models are the same to
    # the bit; on a cluster they are summed per worker, in an order that depends on where the partitions landed.
    return ["train", data, "--target", "converted", "--id-column", "customer_id", "--l2", "1e-3", "--cost-fp", "1",
            "--cost-fn", "20", "--out", out]


@pytest.fixture(scope="module")
def runs(s3, local_client, prefect_harness, tmp_path_factory):
    """The same data trained, registered and scored on local disk and on S3, through the command line."""
    root = tmp_path_factory.mktemp("s3")
    synth.generate(root / "base", rows=3000, positives=150, partitions=2, seed=0)
    bucket = f"logreg-{uuid.uuid4().hex[:8]}"
    s3.mkdir(bucket)
    s3.put(str(root / "base"), f"{bucket}/base", recursive=True)
    address = local_client.scheduler.address
    local = {"data": str(root / "base"), "model": str(root / "model"), "registry": str(root / "registry"),
             "scores": str(root / "scores")}
    remote = {name: f"s3://{bucket}/{name}" for name in ("model", "registry", "scores")} | {"data": f"s3://{bucket}/base"}
    for where in (local, remote):
        assert main(_train(where["data"], where["model"])) == 0
        assert main(["register", where["model"], "--registry", where["registry"]]) == 0
        assert main(["score", f"{where['registry']}/latest", where["data"], "--out", where["scores"],
                     "--reasons", "3", "--scheduler", address]) == 0
    return {"local": local, "remote": remote, "bucket": bucket, "root": root}


def test_train_register_score_on_s3_write_the_bytes_they_write_on_local_disk(runs, s3):
    local, remote = runs["local"], runs["remote"]
    scores = storage.published(remote["scores"])
    assert scores.startswith(f"{remote['scores']}/.runs/")  # the parts are read through the pointer
    written = sorted(key.rsplit("/", 1)[-1] for key in s3.ls(scores))
    assert written == ["_summary.json", "part-00000.parquet", "part-00001.parquet"]
    for name in ("part-00000.parquet", "part-00001.parquet"):
        assert s3.cat_file(f"{scores}/{name}") == (runs["root"] / "scores" / name).read_bytes(), name
    summary = json.loads(s3.cat_file(f"{scores}/_summary.json"))
    assert summary["out"] == remote["scores"] and summary["rows"] == 3000 and summary["model_version"] == "1"
    assert sum(summary["top_reasons"].values()) == 3000  # scored with --reasons 3: every row has a first reason
    part = pq.read_table(s3.open(f"{scores}/part-00000.parquet"))
    assert {"reason_1", "reason_1_contribution", "reason_3_contribution"} <= set(part.column_names)
    assert "reason_1_value" not in part.column_names  # the values as text only with --reason-values
    assert s3.cat_file(f"{remote['registry']}/latest") == b"1"
    coefs = [load_model(where["model"]).coef.tolist() for where in (local, remote)]
    assert coefs[0] == coefs[1]  # the model read back through its pointer
    assert sorted(read_table(remote["scores"]).compute()["customer_id"]) == sorted(
        read_table(local["scores"]).compute()["customer_id"])


def test_evaluate_reads_a_model_and_data_on_s3(runs, local_client, capsys):
    metrics = []
    for where in (runs["local"], runs["remote"]):
        capsys.readouterr()
        assert main(["evaluate", where["model"], where["data"], "--target", "converted", "--json",
                     "--scheduler", local_client.scheduler.address]) == 0
        metrics.append(json.loads(capsys.readouterr().out))
    assert metrics[0]["n_rows"] == metrics[1]["n_rows"] == 3000 and metrics[0]["auc"] == metrics[1]["auc"]
    assert metrics[1]["log_loss"] == pytest.approx(metrics[0]["log_loss"], rel=1e-12)  # summed per worker


def test_a_failed_score_leaves_the_published_scores_and_latest_as_they_were(runs, s3, monkeypatch, capsys):
    import flows.rescore

    remote, bucket = runs["remote"], runs["bucket"]
    # A second version: latest moves on as it does on local disk, and the failed score below must not move it.
    assert main(["register", remote["model"], "--registry", remote["registry"]]) == 0
    assert s3.cat_file(f"{remote['registry']}/latest") == b"2"
    before = snapshot(s3, bucket)
    commit = s3fs.core.S3File.commit

    def failing_commit(self):  # the second part fails once the first is stored
        if self.path.endswith("part-00001.parquet"):
            raise OSError(f"injected failure writing {self.path}")
        return commit(self)

    monkeypatch.setattr(s3fs.core.S3File, "commit", failing_commit)
    # The task's retry would fail the same way 10 s later; without it, the test is quicker and the outcome the same.
    monkeypatch.setattr(flows.rescore, "score", flows.rescore.score.with_options(retries=0))
    # No --scheduler: small data is scored in this process, where the failure is injected.
    assert main(["score", remote["registry"], remote["data"], "--out", remote["scores"]]) == 2
    assert "injected failure" in capsys.readouterr().err
    after = snapshot(s3, bucket)
    assert {key: after.get(key) for key in before} == before  # the pointer, the published parts, latest
    published = storage.published(remote["scores"])
    # The failed run deletes what it wrote, but a part another thread was still writing may land after that: only
    # ever under the failed run's own prefix, which no pointer names.
    leftovers = set(after) - set(before)
    assert all(key.startswith(f"{bucket}/scores/.runs/") and not f"s3://{key}".startswith(published + "/")
               for key in leftovers)
    monkeypatch.undo()
    for _ in range(2):  # the second publish replaces a run that started after the failed one: it sweeps it
        assert main(["score", remote["registry"], remote["data"], "--out", remote["scores"]]) == 0
    assert storage.published(remote["scores"]) != published
    assert not leftovers & set(snapshot(s3, bucket))


def test_a_failed_registration_leaves_latest_and_the_versions_as_they_were(runs, s3, monkeypatch, capsys):
    remote, bucket = runs["remote"], runs["bucket"]
    before = snapshot(s3, bucket)
    pipe_file = s3fs.S3FileSystem._pipe_file

    async def failing_pipe_file(self, path, data, **kwargs):  # report.html is written after model.json
        if path.endswith("report.html"):
            raise OSError(f"injected failure writing {path}")
        return await pipe_file(self, path, data, **kwargs)

    monkeypatch.setattr(s3fs.S3FileSystem, "_pipe_file", failing_pipe_file)
    s3fs.S3FileSystem.clear_instance_cache()  # instances bind their sync methods when made
    try:
        assert main(["register", remote["model"], "--registry", remote["registry"]]) == 2
    finally:
        monkeypatch.undo()
        s3fs.S3FileSystem.clear_instance_cache()
    assert "injected failure" in capsys.readouterr().err
    after = snapshot(s3, bucket)
    assert {k: v for k, v in after.items() if "/registry/" in k} == {k: v for k, v in before.items() if "/registry/" in k}


def test_outputs_on_s3_own_their_place(runs, s3):
    remote = runs["remote"]
    with pytest.raises(InputError, match=r"refusing to write scores to s3://.*/model: it holds a logreg-dist model"):
        check_output(remote["model"], kind="scores")
    with pytest.raises(InputError, match=r"refusing to write scores to s3://.*/base: it is the input s3://.*/base"):
        check_output(remote["data"], kind="scores", inputs=[remote["data"]])
    with pytest.raises(InputError, match=r"refusing to write a model to s3://.*/base/x: it is inside the input folder"):
        check_output(f"{remote['data']}/x", kind="model", inputs=[remote["data"]])
    with pytest.raises(InputError, match=r"refusing to write a model to s3://.*/registry: it holds a logreg-dist registry"):
        check_output(remote["registry"], kind="model")
    assert check_output(remote["scores"], kind="scores", inputs=[remote["data"]]) == remote["scores"]
    assert check_output(remote["registry"], kind="registry", inputs=[f"{remote['registry']}/latest"]) == remote["registry"]


def test_storage_options_reach_every_read_without_the_environment(runs, s3, s3_endpoint, monkeypatch):
    options = {"key": "testing", "secret": "testing", "client_kwargs": {"endpoint_url": s3_endpoint, "region_name": "us-east-1"}}
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name)
    s3fs.S3FileSystem.clear_instance_cache()
    remote = runs["remote"]
    try:
        frame = read_table(remote["data"], storage_options=options).compute(scheduler="sync")  # the pieces open the URL
        model = load_model(remote["model"], storage_options=options)
    finally:
        s3fs.S3FileSystem.clear_instance_cache()
    assert len(frame) == 3000 and model.preparation.target == "converted"


def test_what_is_a_url_and_the_public_names():
    assert [storage.is_url(p) for p in ("s3://b/k", "gs://b", "abfs://c/p", "file:///tmp/x", "/tmp/x", "data/part.parquet")] == [
        True, True, True, False, False, False]
    assert storage.join("s3://b/out/", "/.runs/x", "part-00000.parquet") == "s3://b/out/.runs/x/part-00000.parquet"
    assert storage.__all__ == ["POINTER", "RUNS", "current_run", "discard", "filesystem", "is_url", "join",
                               "make_staging", "move_into_place", "new_run", "publish", "published", "write_file"]
    assert all(hasattr(storage, name) for name in storage.__all__)
    with pytest.raises(InputError, match=r"refusing to write generated data to s3://b/base: .*writes only to a local"):
        check_output("s3://b/base", kind="generated")


def test_each_publish_keeps_the_current_and_the_replaced_run_only():
    import fsspec

    from logreg_dist.model import write_atomic_dir

    url = f"memory://runs-{uuid.uuid4().hex[:8]}/model"
    fs = fsspec.filesystem("memory")
    document = json.dumps({"format": "logreg-dist-model"})
    pointers = []
    for k in range(3):
        write_atomic_dir(url, {"model.json": document, "metrics.json": str(k)})
        pointers.append(storage.published(url))
    runs = sorted(p.rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(url.replace("memory://", "/") + "/.runs", detail=False))
    assert len(set(pointers)) == 3 and runs == sorted(p.rsplit("/", 1)[-1] for p in pointers[1:])
    assert fs.cat_file(pointers[-1].replace("memory://", "/") + "/metrics.json") == b"2"
