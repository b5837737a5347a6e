"""On real clusters: the same answer for any partitioning, and rows never leave the workers."""

import time

import dask.array as da
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest

from logreg_dist import LogisticRegression
from logreg_dist.exceptions import InputError

from .conftest import make_classification, numeric_problem

pytestmark = pytest.mark.cluster

PARTITIONINGS = [1, 3, 7, "uneven"]


def _frame(X, y, names=None):
    frame = pd.DataFrame(X, columns=names or [f"f{j}" for j in range(X.shape[1])])
    frame["target"] = y
    return frame


def _partitioned(frame, partitioning):
    if partitioning == "uneven":
        # Seven partitions of very different lengths: 1, 2, 500, 1 row, then the rest split unevenly.
        n = len(frame)
        return dd.from_pandas(frame, npartitions=1).repartition(divisions=[0, 1, 3, 503, 504, n // 2, n - 5, n - 1])
    return dd.from_pandas(frame, npartitions=partitioning, sort=True)


def _fit_all(client, frame, features, **params):
    models = {}
    for partitioning in PARTITIONINGS:
        ddf = _partitioned(frame, partitioning)
        if partitioning == "uneven":
            assert ddf.npartitions == 7
        models[partitioning] = LogisticRegression(**params).fit(ddf[features], ddf["target"], client=client)
    return models


@pytest.mark.parametrize("solver", ["newton", "lbfgs"])
def test_any_partitioning_gives_the_in_memory_answer_on_local_cluster(local_client, wa_churn, solver):
    X, y = numeric_problem(wa_churn, "churn", "Yes")
    frame = _frame(X.to_numpy(), y, list(X.columns))
    features = list(X.columns)
    reference = LogisticRegression(l2=1e-3, solver=solver, max_iter=500).fit(X, y)
    models = _fit_all(local_client, frame, features, l2=1e-3, solver=solver, max_iter=500)
    for partitioning, model in models.items():
        assert model.converged_, partitioning
        np.testing.assert_allclose(model.coef_, reference.coef_, rtol=0, atol=1e-10, err_msg=str(partitioning))
        np.testing.assert_allclose(model.intercept_, reference.intercept_, rtol=0, atol=1e-10)
        assert model.feature_names_in_.tolist() == features


def test_any_partitioning_gives_the_same_answer_on_separate_processes(process_client, mlc_churn):
    X, y = numeric_problem(mlc_churn, "churn", "yes")
    frame = _frame(X.to_numpy(), y, list(X.columns))
    reference = LogisticRegression(l2=1e-2).fit(X, y)
    models = _fit_all(process_client, frame, list(X.columns), l2=1e-2)
    for partitioning, model in models.items():
        np.testing.assert_allclose(model.coef_standardized_, reference.coef_standardized_, rtol=0, atol=1e-10)
        np.testing.assert_allclose(model.intercept_, reference.intercept_, rtol=0, atol=1e-10)


def test_scheduler_address_connects_to_an_existing_cluster(process_cluster):
    X, y = make_classification(n_rows=3000, n_features=5, seed=4)
    ddf = dd.from_pandas(_frame(X, y), npartitions=4)
    features = [f"f{j}" for j in range(5)]
    model = LogisticRegression(l2=1e-3, scheduler_address=process_cluster["address"]).fit(ddf[features], ddf["target"])
    reference = LogisticRegression(l2=1e-3).fit(X, y)
    np.testing.assert_allclose(model.coef_, reference.coef_, rtol=0, atol=1e-10)


def test_dask_array_with_uneven_chunks_float32_storage_and_weights(local_client):
    X, y = make_classification(n_rows=5000, n_features=6, seed=9, rare=True)
    X32 = X.astype(np.float32)
    w = np.random.default_rng(2).uniform(0.5, 2.0, len(y))
    chunks = ((1, 999, 2500, 1500),)
    dX = da.from_array(X32, chunks=(chunks[0], (3, 3)))
    dy = da.from_array(y, chunks=(2500, 2500))
    dw = da.from_array(w, chunks=chunks)
    model = LogisticRegression(l2=1e-3).fit(dX, dy, sample_weight=dw, client=local_client)
    reference = LogisticRegression(l2=1e-3).fit(X32, y, sample_weight=w)
    np.testing.assert_allclose(model.coef_, reference.coef_, rtol=0, atol=1e-10)
    np.testing.assert_allclose(
        model.predict_proba(dX).compute(scheduler=local_client.get), reference.predict_proba(X32), rtol=0, atol=1e-14
    )


def _churn_with_string_labels(wa_churn, npartitions):
    """The numeric churn features with the "No"/"Yes" labels: in memory, as a Dask frame, and the feature names."""
    X, _ = numeric_problem(wa_churn, "churn", "Yes")
    frame = X.copy()
    frame["churn"] = wa_churn.loc[wa_churn["total_charges"].notna(), "churn"].to_numpy()
    return X, frame, dd.from_pandas(frame, npartitions=npartitions), list(X.columns)


def test_string_labels_and_lazy_predictions_on_dask_frames(local_client, wa_churn):
    X, frame, ddf, features = _churn_with_string_labels(wa_churn, 5)
    model = LogisticRegression(l2=1e-3).fit(ddf[features], ddf["churn"], client=local_client)
    assert model.classes_.tolist() == ["No", "Yes"]
    reference = LogisticRegression(l2=1e-3).fit(X, frame["churn"])
    proba = model.predict_proba(ddf)
    assert isinstance(proba, da.Array)
    np.testing.assert_allclose(proba.compute(scheduler=local_client.get), reference.predict_proba(X), atol=1e-12)
    labels = model.predict(ddf[features]).compute(scheduler=local_client.get)
    assert (labels == reference.predict(X)).all()


def test_evaluate_gives_scikit_learns_metrics_without_collecting_rows(local_client, wa_churn):
    from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

    X, frame, ddf, features = _churn_with_string_labels(wa_churn, 4)
    model = LogisticRegression(l2=1e-3).fit(ddf[features], ddf["churn"], client=local_client)
    on_cluster = model.evaluate(ddf[features], ddf["churn"], client=local_client)
    in_memory = model.evaluate(X, frame["churn"])
    score = model.predict_proba(X)[:, 1]
    y = (frame["churn"] == "Yes").to_numpy()
    for metrics in (on_cluster, in_memory):
        assert metrics["n_rows"] == len(y) and metrics["n_positives"] == int(y.sum())
        assert metrics["auc"] == pytest.approx(roc_auc_score(y, score), abs=1e-12)
        assert metrics["log_loss"] == pytest.approx(log_loss(y, score), rel=1e-12)
        assert metrics["brier"] == pytest.approx(brier_score_loss(y, score), rel=1e-12)
        assert metrics["average_precision"] == pytest.approx(average_precision_score(y, score), rel=1e-12)
    assert on_cluster["auc_ci"] == pytest.approx(in_memory["auc_ci"], rel=1e-12)
    bad = frame.assign(churn=frame["churn"].where(frame.index != frame.index[-1], "Maybe"))
    with pytest.raises(InputError, match=r"partition 3 of 4 holds 1 labels that are neither of the classes .*: \['Maybe'\]\."):
        model.evaluate(dd.from_pandas(bad, npartitions=4)[features], dd.from_pandas(bad, npartitions=4)["churn"],
                       client=local_client)


def test_validation_rows_split_from_one_read_are_read_once_and_scored_like_evaluate(local_client, tmp_path):
    """fit(validation=...) loads the held-out rows in the training graph: one read task per file, and the
    metrics of evaluate() on the same rows; the training rows are fitted as without it."""
    from distributed import get_task_stream

    from logreg_dist.tables import read_table
    from logreg_dist.training import split

    X, y = make_classification(n_rows=8000, n_features=5, seed=11)
    frame = _frame(X, y).assign(customer_id=np.arange(len(y)), flag=X[:, 0] > 0, count=(3 * X[:, 1] ** 2).astype(np.int32))
    dd.from_pandas(frame, npartitions=6).to_parquet(tmp_path / "data")
    features = ["f0", "f1", "f2", "f3", "f4", "flag", "count"]
    train, valid = split(read_table(str(tmp_path / "data")), id_column="customer_id", valid_fraction=0.25, seed=0)
    with get_task_stream(local_client) as stream:
        model = LogisticRegression(l2=1e-3).fit(train[features], train["target"], client=local_client,
                                                validation=(valid[features], valid["target"]))
    reads = [task["key"] for task in stream.data if "read" in str(task["key"]) or "parquet" in str(task["key"])]
    assert len(reads) == 6, reads
    alone = LogisticRegression(l2=1e-3).fit(train[features], train["target"], client=local_client)
    np.testing.assert_allclose(model.coef_, alone.coef_, rtol=1e-10, atol=1e-12)  # sums differ in the last bits with where blocks lie
    assert alone.validation_metrics_ is None
    evaluated = model.evaluate(valid[features], valid["target"], client=local_client)
    got = model.validation_metrics_  # the same scores up to the order of float64 sums
    assert (got["n_rows"], got["n_positives"]) == (evaluated["n_rows"], evaluated["n_positives"])
    for name in ("auc", "log_loss", "brier", "average_precision"):
        assert got[name] == pytest.approx(evaluated[name], rel=1e-12), name
    held_out = valid.compute()
    from sklearn.metrics import roc_auc_score

    assert evaluated["n_rows"] == len(held_out)
    assert evaluated["auc"] == pytest.approx(roc_auc_score(held_out["target"], model.predict_proba(held_out[features])[:, 1]), abs=1e-12)
    with pytest.raises(InputError, match=r"lack the feature columns \['count'\]"):
        LogisticRegression().fit(train[features], train["target"], client=local_client,
                                 validation=(valid[features[:-1]], valid["target"]))
    in_memory = LogisticRegression(l2=1e-3).fit(train[features].compute(), train["target"].compute(),
                                                validation=(held_out[features], held_out["target"]))
    assert in_memory.validation_metrics_["auc"] == pytest.approx(evaluated["auc"], abs=1e-9)


def test_the_fit_releases_its_data_from_the_cluster(local_client):
    X, y = make_classification(n_rows=2000, n_features=4)
    ddf = dd.from_pandas(_frame(X, y), npartitions=3)
    LogisticRegression().fit(ddf[["f0", "f1", "f2", "f3"]], ddf["target"], client=local_client)
    deadline = time.monotonic() + 20
    while (stored := sum(local_client.run(lambda dask_worker: len(dask_worker.data)).values())) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert stored == 0


def test_projected_columns_of_a_parquet_folder_fit_like_memory(local_client, tmp_path):
    # Reading a few columns of many small files lets Dask fuse partitions differently for X
    # and for y; the fit must still pair each row with its own label.
    X, y = make_classification(n_rows=6000, n_features=5, seed=3)
    frame = _frame(X, y)
    frame["unused"] = np.arange(len(frame), dtype=float)
    dd.from_pandas(frame, npartitions=12).to_parquet(tmp_path / "data")
    ddf = dd.read_parquet(tmp_path / "data")
    features = ["f0", "f1", "f2", "f3", "f4"]
    model = LogisticRegression(l2=1e-3).fit(ddf[features], ddf["target"], client=local_client)
    reference = LogisticRegression(l2=1e-3).fit(frame[features], y)
    np.testing.assert_allclose(model.coef_, reference.coef_, rtol=0, atol=1e-10)


def test_y_from_another_frame_is_aligned_by_index_like_pandas(local_client):
    X, y = make_classification(n_rows=600, n_features=2)
    features = dd.from_pandas(_frame(X, y), npartitions=3)[["f0", "f1"]].clear_divisions()
    labels = dd.from_pandas(pd.Series(y, name="target"), npartitions=2).clear_divisions()
    model = LogisticRegression().fit(features, labels, client=local_client)
    np.testing.assert_allclose(model.coef_, LogisticRegression().fit(X, y).coef_, rtol=0, atol=1e-10)


def _block(seed: int, n_rows: int = 5000):
    rng = np.random.default_rng(seed)
    X = np.asfortranarray(rng.normal(size=(n_rows, 4)))
    return X, (rng.uniform(size=n_rows) < 0.3).astype(float), None


def _stored_blocks_aligned(keys, dask_worker):
    return [bool(dask_worker.data[key][0].flags.aligned) for key in keys if key in dask_worker.data]


def test_blocks_piled_on_one_worker_are_evened_out(local_client):
    """A pass lasts as long as its busiest worker: the engine moves the excess, and moved arrays stay aligned."""
    from logreg_dist._engine import DaskEngine, LocalEngine
    from logreg_dist._kernels import moment_sums

    workers = sorted(local_client.scheduler_info()["workers"])
    engine = DaskEngine(local_client, [], persist=False)  # blocks placed by hand below
    engine.blocks = [local_client.submit(_block, seed, workers=[workers[0]], pure=False) for seed in range(8)]
    engine.wait()
    # The sums the blocks should give, computed here: a pass before balancing could let the scheduler
    # copy a block to the idle worker (work stealing) and blur where it lives.
    before = LocalEngine([_block(seed) for seed in range(8)]).map_reduce(moment_sums)

    def held():
        holders = local_client.who_has(engine.blocks)
        return sorted(holders[block.key][0] for block in engine.blocks)

    assert held() == [workers[0]] * 8
    moved = engine.balance()
    assert moved == 4
    assert held() == [workers[0]] * 4 + [workers[1]] * 4
    aligned = local_client.run(_stored_blocks_aligned, [block.key for block in engine.blocks])
    assert sum(len(flags) for flags in aligned.values()) >= 8
    assert all(flag for flags in aligned.values() for flag in flags)  # BLAS refuses unaligned arrays
    after = engine.map_reduce(moment_sums)
    # Each worker adds its own blocks first, so the order of the additions differs from 0..7: the last bits may.
    np.testing.assert_allclose(after.mean, before.mean, rtol=1e-15, atol=1e-17)
    np.testing.assert_allclose(after.m2, before.m2, rtol=1e-14, atol=0)
    assert engine.balance() == 0  # already even
    engine.close()


def test_waits_in_several_threads_leave_dasks_global_config_alone(local_client, monkeypatch):
    """The train flow's side-by-side tasks wait for blocks in three threads. A wait that set dask's global
    ``scheduler`` for its duration (``Client.as_current``) was restored out of order by them, and left every later
    ``.compute()`` of the process asking for a distributed client."""
    from concurrent.futures import ThreadPoolExecutor

    import dask

    from logreg_dist._engine import DaskEngine

    changed = []
    real_set = dask.config.set

    def recording_set(*args, **kwargs):
        changed.append((args, kwargs))
        return real_set(*args, **kwargs)

    monkeypatch.setattr(dask.config, "set", recording_set)
    workers = sorted(local_client.scheduler_info()["workers"])
    engines = []
    for _ in range(3):
        engine = DaskEngine(local_client, [], persist=False)
        engine.blocks = [local_client.submit(_block, seed, workers=[workers[seed % 2]], pure=False) for seed in range(4)]
        engines.append(engine)
    with ThreadPoolExecutor(3) as threads:
        list(threads.map(lambda engine: (engine.wait(), engine.balance()), engines))
    assert changed == []
    assert dask.config.get("scheduler", None) is None
    for engine in engines:
        engine.close()


def _block_sum(X, y, w):
    return X.sum(axis=0)


def test_a_pass_is_one_task_per_worker_thread_adding_the_blocks_where_they_lie():
    """Persisted blocks: each worker thread runs the kernel over its share of the blocks that worker holds and
    adds them there; only those sums leave it. The result is the sum over all blocks whatever the threads."""
    from distributed import Client, LocalCluster, get_task_stream

    from logreg_dist._engine import DaskEngine, LocalEngine

    blocks = [_block(seed, n_rows=1000 + 100 * seed) for seed in range(11)]
    expected = LocalEngine(blocks).map_reduce(_block_sum)
    with LocalCluster(n_workers=2, threads_per_worker=2, processes=True, host="127.0.0.1", dashboard_address=None) as cluster, \
            Client(cluster, set_as_default=False) as client:
        workers = sorted(client.scheduler_info()["workers"])
        engine = DaskEngine(client, [], persist=False)
        engine.blocks = [client.submit(lambda b: b, block, workers=[workers[i % 2]], pure=False) for i, block in enumerate(blocks)]
        engine.wait()
        groups = engine._groups()
        assert len(groups) == 4  # 2 workers x 2 threads
        assert sorted(i for _, group in groups for i in group) == list(range(11))
        held = client.who_has(engine.blocks)
        assert all(address in held[engine.blocks[i].key] for address, group in groups for i in group)
        with get_task_stream(client) as stream:
            got = engine.map_reduce(_block_sum)
        names = [task["key"] for task in stream.data]
        assert len(names) == 4 and all("_block_sum" in str(name) for name in names), names
        np.testing.assert_allclose(got, expected, rtol=1e-14)
        engine.split_every = 2  # more groups than a node takes: the sums go up a tree of tasks on the cluster
        np.testing.assert_allclose(engine.map_reduce(_block_sum), expected, rtol=1e-14)
        engine.close()


def test_thread_groups_split_one_workers_blocks_evenly_in_block_order():
    from logreg_dist._engine import _thread_groups

    assert _thread_groups([3, 1, 7, 5], [10, 10, 10, 10], 2) == [[1, 5], [3, 7]]
    assert _thread_groups([0, 1, 2], [30, 10, 20], 2) == [[0], [1, 2]]
    assert _thread_groups([4], [1], 4) == [[4]]


def test_a_fit_lazy_predictions_and_evaluate_do_not_import_scikit_learn_on_the_workers():
    """Workers import the kernels' package; scikit-learn (the estimator's) would cost each about 1.3 s."""
    import sys

    from distributed import Client

    from logreg_dist import local_cluster

    X, y = make_classification(n_rows=3000, n_features=3)
    ddf = dd.from_pandas(_frame(X, y), npartitions=2)
    with local_cluster(1) as cluster, Client(cluster, set_as_default=False) as client:
        model = LogisticRegression(l2=1e-3).fit(ddf[["f0", "f1", "f2"]], ddf["target"], client=client)
        lazy = [model.predict_proba(ddf), model.predict_log_proba(ddf), model.predict(ddf), model.decision_function(ddf)]
        computed = client.compute(lazy, sync=True)
        model.evaluate(ddf[["f0", "f1", "f2"]], ddf["target"], client=client)
        loaded = client.run(lambda: sorted(name for name in ("sklearn", "scipy.stats", "prefect") if name in sys.modules))
    assert list(loaded.values()) == [[]]
    X_rows = ddf[["f0", "f1", "f2"]].compute()
    for got, expected in zip(computed, [model.predict_proba(X_rows), model.predict_log_proba(X_rows), model.predict(X_rows),
                                        model.decision_function(X_rows)]):
        if got.dtype.kind == "f":
            np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-15)  # BLAS adds in a block-dependent order
        else:
            np.testing.assert_array_equal(got, expected)
