"""The command line and the synthetic customer base behind ``make demo`` and the benchmarks."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from logreg_dist import synth
from logreg_dist.cli import main


def test_generate_is_deterministic_and_shaped_like_the_lookalike_case(tmp_path, capsys):
    assert main(["generate", "--rows", "30000", "--positives", "129", "--partitions", "3", "--out", str(tmp_path / "a")]) == 0
    assert "wrote 30,000 customers" in capsys.readouterr().out
    synth.generate(tmp_path / "b", rows=30000, positives=129, partitions=3)
    files = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert files == ["part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]
    for name in files:
        assert pq.read_table(tmp_path / "a" / name).equals(pq.read_table(tmp_path / "b" / name))
    frame = pd.read_parquet(tmp_path / "a")
    assert len(frame) == 30000 and frame["customer_id"].is_unique
    assert list(frame.columns) == ["customer_id", *synth.FEATURE_NAMES, "converted"]
    assert len(synth.FEATURE_NAMES) == 85
    kinds = frame[list(synth.FEATURE_NAMES)].dtypes.value_counts().to_dict()
    assert kinds == {np.dtype("float32"): 50, np.dtype("int32"): 20, np.dtype("bool"): 15}
    # No leftover staging folder beside the output.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]


def test_the_planted_rate_is_the_asked_rate():
    model = synth.customer_base(4_200_000, 18_000)
    table = synth._partition(model, 0, 0, 400_000)
    rate = table.column("converted").to_numpy().mean()
    expected = 18_000 / 4_200_000
    assert abs(rate - expected) < 4 * np.sqrt(expected / 400_000)
    assert model.strongest == ["engagement_03", "recency_07", "count_05"]


def test_generate_keeps_the_lookalikes_share_of_positives_at_any_size(tmp_path):
    import pyarrow.parquet as pq

    assert main(["generate", "--rows", "50000", "--out", str(tmp_path / "out")]) == 0
    labels = pq.read_table(tmp_path / "out", columns=["converted"]).column("converted").to_numpy()
    # About 214 (the labels are drawn: their count's spread is about 15), not the 18,000 of 4.2 million rows.
    assert len(labels) == 50_000 and abs(int(labels.sum()) - round(50_000 * 18_000 / 4_200_000)) < 60


def test_generate_refuses_a_folder_with_files_and_leaves_it_alone(tmp_path, capsys):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("x")
    assert main(["generate", "--rows", "100", "--positives", "5", "--out", str(tmp_path / "out")]) == 2
    assert "exists and is not empty" in capsys.readouterr().err
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["keep.txt"]


@pytest.mark.slow
@pytest.mark.cluster
def test_demo_runs_end_to_end_on_the_embedded_default(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "logreg_dist.cli", "demo", "--rows", "40000", "--workdir", str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "validation AUC" in done.stdout and "converged=True" in done.stdout
    report = tmp_path / "model" / "report.html"
    assert done.stdout.strip().endswith(f"report: {report}") and report.exists()
    assert "Traceback" not in done.stderr
    assert "Error logging to API" not in done.stderr  # the run's logs were sent before the server stopped


@pytest.mark.slow  # a subprocess that imports Prefect, Dask and pandas
def test_a_misspelt_column_is_reported_before_the_server_is_waited_for(tmp_path):
    """The command starts Prefect's temporary server first thing, checks the named columns against the files'
    schemas while it starts, and stops it on the error: no flow runs, and nothing is left running."""
    import pandas as pd

    pd.DataFrame({"tenure": [1.0, 2.0, 3.0, 4.0], "churn": ["Yes", "No", "No", "Yes"]}).to_parquet(tmp_path / "d.parquet")
    done = subprocess.run(
        [sys.executable, "-m", "logreg_dist.cli", "--verbose", "train", str(tmp_path / "d.parquet"),
         "--target", "Churn", "--out", str(tmp_path / "model")],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        "logreg-dist train: error: the target 'Churn' is not a column of the data (did you mean 'churn'?); its columns "
        "are ['tenure', 'churn'].")
    assert "starting Prefect's temporary server" in done.stderr and "stopping Prefect's temporary server" in done.stderr
    assert "is ready" not in done.stderr and "Beginning flow run" not in done.stderr
    assert not (tmp_path / "model").exists()


def test_data_given_where_the_model_goes_is_called_so(tmp_path, capsys):
    from pathlib import Path

    data, model = Path(__file__).parent / "data", tmp_path / "model"
    model.mkdir()
    for argv in (["score", str(data / "wa_churn.parquet"), str(model), "--out", str(tmp_path / "s")],
                 ["evaluate", str(data / "wa_churn.parquet"), str(data / "wa_churn.parquet")],
                 ["score", str(data), str(model), "--out", str(tmp_path / "s")]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert f"error: {argv[1]} {'is' if argv[1].endswith('.parquet') else 'holds'} Parquet data, not a model; " \
               "a model is a directory with model.json, or a registry (score and evaluate take the model first, " \
               "then the data)." in err, err
