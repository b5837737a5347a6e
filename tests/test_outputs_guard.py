"""Outputs own their place: a command replaces only its own earlier output, and refuses the rest before any work
(issue 17). Each refusal leaves every file under the test's folder as it was and adds none."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from logreg_dist import InputError, outputs, synth
from logreg_dist.cli import main
from logreg_dist.registry import register

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[1]


def snapshot(root: Path) -> dict[str, bytes | str]:
    """Every entry under ``root``: relative path -> its bytes (a file), ``"<dir>"`` or ``"-> target"`` (a symlink)."""
    found = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            key = str(path.relative_to(root))
            if path.is_symlink():
                found[key] = f"-> {os.readlink(path)}"
            elif path.is_dir():
                found[key] = "<dir>"
            else:
                found[key] = path.read_bytes()
    return found


def refused(argv: list[str], capsys, root: Path, *named) -> str:
    """Run the command; assert exit 2, a one-line error naming each of ``named``, and ``root`` left as it was."""
    before = snapshot(root)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"logreg-dist {argv[0]}: error: ") and err.count("\n") == 1, err
    for name in named:
        assert str(name) in err, err
    assert snapshot(root) == before
    return err


@pytest.fixture(scope="module")
def trained(tmp_path_factory, prefect_harness, local_client):
    """Generated data (2 files) and a model trained on it by `logreg-dist train`."""
    root = tmp_path_factory.mktemp("guard")
    synth.generate(root / "base", rows=3000, positives=150, partitions=2)
    argv = ["train", str(root / "base"), "--target", "converted", "--id-column", "customer_id", "--l2", "1e-3", "--cost-fp", "1", "--cost-fn", "20",
            "--out", str(root / "model"), "--scheduler", local_client.scheduler.address]
    assert main(argv) == 0
    return root


def _train(data, out, client, *extra) -> list[str]:
    return ["train", str(data), "--target", "converted", "--id-column", "customer_id", "--l2", "1e-3", "--cost-fp", "1", "--cost-fn", "20", *extra,
            "--out", str(out), "--scheduler", client.scheduler.address]


def _score(model, data, out, client) -> list[str]:
    return ["score", str(model), str(data), "--out", str(out), "--scheduler", client.scheduler.address]


def _copy(source: Path, target: Path) -> Path:
    shutil.copytree(source, target) if source.is_dir() else shutil.copyfile(source, target)
    return target


# -- train -----------------------------------------------------------------------------------


def test_train_refuses_an_existing_file(trained, local_client, tmp_path, capsys):
    data = _copy(trained / "base", tmp_path / "base")
    (tmp_path / "churn-model").write_text("my notes, not a model")
    err = refused(_train(data, tmp_path / "churn-model", local_client), capsys, tmp_path, tmp_path / "churn-model")
    assert "is a file (21 bytes), not a folder" in err


def test_train_refuses_the_input_parquet_as_out(trained, local_client, tmp_path, capsys):
    data = _copy(trained / "base" / "part-00000.parquet", tmp_path / "customers.parquet")
    err = refused(_train(data, data, local_client), capsys, tmp_path, data)
    assert f"it is the input {data}" in err


def test_train_refuses_the_working_folder(trained, local_client, tmp_path, capsys, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    _copy(trained / "base" / "part-00000.parquet", work / "customers.parquet")
    (work / "notes.txt").write_text("keep me")
    monkeypatch.chdir(work)
    err = refused(_train("customers.parquet", ".", local_client), capsys, tmp_path, work)
    assert "it holds the input customers.parquet" in err
    # Even an empty working folder (or one above it) is never replaced: the shell would be left in a deleted folder.
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.chdir(empty)
    data = trained / "base"  # outside tmp_path: ".." holds the working folder, not the input
    assert "it is the working folder" in refused(_train(data, ".", local_client), capsys, tmp_path)
    assert f"it holds the working folder {empty}" in refused(_train(data, "..", local_client), capsys, tmp_path)


def test_train_refuses_a_folder_that_holds_the_input(trained, local_client, tmp_path, capsys):
    project = tmp_path / "project"
    data = _copy(trained / "base", project / "data")
    err = refused(_train(project / "data" / "*.parquet", project, local_client), capsys, tmp_path, project)
    assert f"it holds the input {data / 'part-00000.parquet'} (matched by" in err
    # And an output inside the input folder would become part of the data the next run reads.
    err = refused(_train(data, data / "model", local_client), capsys, tmp_path, data / "model")
    assert f"is inside the input folder {data}" in err


def test_train_refuses_a_foreign_folder_and_a_model_with_foreign_files(trained, local_client, tmp_path, capsys):
    data = _copy(trained / "base", tmp_path / "base")
    results = tmp_path / "results"
    results.mkdir()
    (results / "q3.csv").write_text("customer,spend\n1,10\n")
    (results / "slides").mkdir()
    err = refused(_train(data, results, local_client), capsys, tmp_path, results)
    assert "holds q3.csv, slides, which are not the files of a logreg-dist model" in err
    # A model directory the user added a file to is no longer only ours: replacing it would lose the file.
    model = _copy(trained / "model", tmp_path / "model")
    (model / "notes.md").write_text("approved by legal")
    refused(_train(data, model, local_client), capsys, tmp_path, model, "notes.md")


def test_train_twice_into_the_same_out_replaces_the_model(trained, local_client, tmp_path, capsys):
    model = _copy(trained / "model", tmp_path / "model")  # the first training's output
    first = json.loads((model / "model.json").read_text())
    assert main(_train(trained / "base", model, local_client, "--seed", "1")) == 0
    second = json.loads((model / "model.json").read_text())
    assert first["training"]["options"]["seed"] == 0 and second["training"]["options"]["seed"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no staging or retired folder left beside it
    assert sorted(p.name for p in model.iterdir()) == ["metrics.json", "model.json", "report.html"]


# -- score and serve ---------------------------------------------------------------------------


def test_score_refuses_the_input_folder_and_a_model_folder(trained, local_client, tmp_path, capsys):
    data = _copy(trained / "base", tmp_path / "base")
    model = _copy(trained / "model", tmp_path / "model")
    err = refused(_score(model, data, data, local_client), capsys, tmp_path, data)
    assert f"it is the input {data}" in err
    err = refused(_score(model, data, model, local_client), capsys, tmp_path, model)
    assert "it is the input" in err
    other = _copy(trained / "model", tmp_path / "other-model")
    err = refused(_score(model, data, other, local_client), capsys, tmp_path, other)
    assert "holds a logreg-dist model (metrics.json, model.json, report.html)" in err


def test_score_refuses_a_foreign_folder(trained, local_client, tmp_path, capsys):
    data = _copy(trained / "base", tmp_path / "base")
    foreign = tmp_path / "exports"
    foreign.mkdir()
    (foreign / "_summary.json").write_text('{"owner": "finance"}')  # our file name, not our content
    (foreign / "part-00000.parquet").write_bytes(b"not ours")
    err = refused(_score(trained / "model", data, foreign, local_client), capsys, tmp_path, foreign)
    assert "which are not the files of logreg-dist scores" in err


def test_score_twice_into_the_same_out_replaces_the_scores_and_an_empty_folder_is_accepted(
        trained, local_client, tmp_path, capsys):
    out = tmp_path / "scores"
    out.mkdir()  # empty: accepted
    assert main(_score(trained / "model", trained / "base", out, local_client)) == 0
    assert sorted(p.name for p in out.iterdir()) == ["_summary.json", "part-00000.parquet", "part-00001.parquet"]
    assert main(_score(trained / "model", trained / "base" / "part-00001.parquet", out, local_client)) == 0
    assert sorted(p.name for p in out.iterdir()) == ["_summary.json", "part-00000.parquet"]
    assert json.loads((out / "_summary.json").read_text())["rows"] == 1500
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scores"]


def test_serve_refuses_the_input_before_serving(trained, tmp_path):
    data = _copy(trained / "base", tmp_path / "base")
    before = snapshot(tmp_path)
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "logreg_dist.cli", "serve", "--model", str(trained / "model"), "--data", str(data),
         "--out", str(data), "--cron", "* * * * *"],
        capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 2, done.stderr
    assert done.stdout == "" and f"it is the input {data}" in done.stderr  # "serving ..." was never printed
    assert time.monotonic() - started < 60
    assert snapshot(tmp_path) == before


# -- register and bad models -------------------------------------------------------------------


def test_register_refuses_a_foreign_folder(trained, tmp_path, capsys):
    folder = tmp_path / "shared-drive"
    folder.mkdir()
    (folder / "1").mkdir()
    (folder / "1" / "minutes.docx").write_bytes(b"PK")
    err = refused(["register", str(trained / "model"), "--registry", str(folder)], capsys, tmp_path, folder)
    assert "holds 1, which are not the files of a logreg-dist registry" in err


def test_register_accepts_an_empty_folder_and_a_registry_and_rolls_back(trained, tmp_path, capsys):
    registry = tmp_path / "registry"
    registry.mkdir()
    assert main(["register", str(trained / "model"), "--registry", str(registry)]) == 0
    assert main(["register", str(trained / "model"), "--registry", str(registry)]) == 0
    # Registering an earlier version again (a rollback) reads from inside the registry: allowed.
    assert main(["register", str(registry / "1"), "--registry", str(registry)]) == 0
    assert os.readlink(registry / "latest") == "3"
    assert json.loads((registry / "3" / "model.json").read_text())["coef"] == \
        json.loads((trained / "model" / "model.json").read_text())["coef"]


def _bad_model(trained: Path, folder: Path, edit) -> Path:
    model = _copy(trained / "model", folder)
    document = json.loads((model / "model.json").read_text())
    edit(document)
    (model / "model.json").write_text(json.dumps(document))
    return model


def test_a_null_coefficient_is_refused_by_score_and_register(trained, local_client, tmp_path, capsys):
    model = _bad_model(trained, tmp_path / "model", lambda d: d["coef"].__setitem__(3, None))
    feature = json.loads((model / "model.json").read_text())["features"][3]
    registry = tmp_path / "registry"
    assert register(trained / "model", registry) == 1
    scores = tmp_path / "scores"
    err = refused(_score(model, trained / "base", scores, local_client), capsys, tmp_path, model / "model.json")
    assert f"'coef'[3] (feature {feature!r}) is null; it must be a finite number." in err
    err = refused(["register", str(model), "--registry", str(registry)], capsys, tmp_path, model / "model.json")
    assert "'coef'[3]" in err and os.readlink(registry / "latest") == "1"
    # NaN and Infinity are JSON to Python's reader: refused too, and so is a null intercept.
    for value in (float("nan"), float("inf")):
        bad = _bad_model(trained, tmp_path / f"model-{value}", lambda d: d["coef"].__setitem__(0, value))
        with pytest.raises(InputError, match=rf"'coef'\[0\] .* is {'NaN' if value != value else 'Infinity'}"):
            register(bad, registry)
    bad = _bad_model(trained, tmp_path / "model-intercept", lambda d: d.__setitem__("intercept", None))
    with pytest.raises(InputError, match="'intercept' is null; it must be a finite number"):
        register(bad, registry)
    assert os.readlink(registry / "latest") == "1" and sorted(p.name for p in registry.iterdir()) == [
        ".latest.lock", "1", "latest"]


@pytest.mark.parametrize("field", ["std_errors", "coef_standardized", "scaler.scale"])
def test_lists_of_the_wrong_length_are_refused(trained, local_client, tmp_path, capsys, field):
    def shorten(document):
        owner, key = (document["scaler"], "scale") if field == "scaler.scale" else (document, field)
        owner[key] = owner[key][:-1]

    model = _bad_model(trained, tmp_path / "model", shorten)
    n = len(json.loads((model / "model.json").read_text())["features"])
    err = refused(["register", str(model), "--registry", str(tmp_path / "registry")], capsys, tmp_path,
                  model / "model.json")
    assert f"'{field}' must hold one number per feature ({n}); got {n - 1} entries." in err
    if field == "std_errors":  # and by score, which would pair each number with the wrong feature
        refused(_score(model, trained / "base", tmp_path / "scores", local_client), capsys, tmp_path, field)


def test_a_null_standard_error_is_allowed(trained, tmp_path):
    model = _bad_model(trained, tmp_path / "model", lambda d: d["std_errors"].__setitem__(0, None))
    assert register(model, tmp_path / "registry") == 1


# -- generate, demo, and errors that name the user's path -------------------------------------


def test_generate_refuses_an_existing_file(tmp_path, capsys):
    (tmp_path / "customers").write_text("id\n1\n")
    err = refused(["generate", "--rows", "100", "--positives", "5", "--out", str(tmp_path / "customers")],
                  capsys, tmp_path, tmp_path / "customers")
    assert "is a file (5 bytes), not a folder" in err


def test_demo_refuses_a_foreign_output_before_generating(tmp_path, capsys):
    (tmp_path / "scores").mkdir()
    (tmp_path / "scores" / "forecast.xlsx").write_bytes(b"PK")
    err = refused(["demo", "--rows", "1000", "--workdir", str(tmp_path)], capsys, tmp_path, tmp_path / "scores")
    assert "forecast.xlsx" in err  # and no customer-base folder was generated (the snapshot is unchanged)


def test_a_write_error_names_the_users_path_not_the_staging_folder(tmp_path, capsys):
    try:  # a folder that even root cannot write in
        shutil.rmtree(tempfile.mkdtemp(dir="/sys"))
        pytest.skip("/sys is writable here")
    except OSError:
        pass
    out = Path("/sys/logreg-dist-scores")
    assert main(["generate", "--rows", "100", "--positives", "5", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"error: cannot write {out}: " in err and "staging" not in err, err
    from logreg_dist.model import write_atomic_dir

    with pytest.raises(OSError, match=f"^cannot write {out}: ") as caught:
        write_atomic_dir(out, {"model.json": "{}"})
    assert caught.value.errno is not None and "staging" not in str(caught.value)


# -- the rule as a library call ----------------------------------------------------------------


def test_the_library_writers_and_the_flows_refuse_too(trained, local_client, tmp_path):
    from flows.rescore import rescore
    from flows.train import train
    from logreg_dist.model import write_atomic_dir

    data = _copy(trained / "base", tmp_path / "base")
    (tmp_path / "notes.txt").write_text("x")
    before = snapshot(tmp_path)
    with pytest.raises(InputError, match=f"refusing to write a model to {data}: it is the input"):
        train(data=str(data), target="converted", out=str(data), scheduler=local_client.scheduler.address)
    with pytest.raises(InputError, match=f"refusing to write scores to {data}: it is the input"):
        rescore(model=str(trained / "model"), data=str(data), out=str(data), scheduler=local_client.scheduler.address)
    with pytest.raises(InputError, match="refusing to write a model to .*notes.txt: it is a file"):
        write_atomic_dir(tmp_path / "notes.txt", {"model.json": "{}"})
    with pytest.raises(InputError, match="refusing to write a registry to .*base.*: it holds Parquet part files"):
        register(trained / "model", data)
    with pytest.raises(InputError, match="exists and is not empty"):
        synth.generate(data, rows=100, positives=5)
    assert snapshot(tmp_path) == before


def test_a_file_and_a_pointer_are_replaced_by_one_rename(tmp_path, monkeypatch):
    from logreg_dist.storage import move_into_place, write_file

    renames = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda src, dst: (renames.append(Path(dst).name), real_replace(src, dst)))

    target = tmp_path / "state.json"
    write_file(target, "old")
    with pytest.raises(TypeError):
        write_file(target, 12)  # fails after the new file is made: it is removed, the old one stays
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]
    write_file(target, b"new")
    assert target.read_bytes() == b"new" and sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]
    assert renames == ["state.json", "state.json"]

    for version in ("1", "2"):
        (tmp_path / version).mkdir()
    os.symlink("1", tmp_path / "latest")
    os.symlink("2", tmp_path / ".latest-new")
    move_into_place(tmp_path / ".latest-new", tmp_path / "latest")  # a symlink to a folder is no folder to retire
    assert os.readlink(tmp_path / "latest") == "2" and renames[2:] == ["latest"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["1", "2", "latest", "state.json"]


def test_the_rule_module_agrees_with_the_writers():
    from logreg_dist import model, scoring

    assert outputs.MODEL_FORMAT == model.FORMAT and outputs.SUMMARY_FILE == scoring.SUMMARY_FILE
    assert outputs.__all__ == ["KINDS", "check_output", "naming_output"]
    assert outputs.KINDS == ("model", "scores", "registry", "generated")
    with pytest.raises(ValueError, match="kind must be one of"):
        outputs.check_output("x", kind="report")
