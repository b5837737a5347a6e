"""Bad input: each error says what, where and what was expected."""

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest

from logreg_dist import ConstantColumnWarning, InputError, LogisticRegression

from .conftest import make_classification


def _frame(n_rows=600, seed=0):
    X, y = make_classification(n_rows=n_rows, n_features=3, seed=seed)
    frame = pd.DataFrame(X, columns=["spend", "visits", "tenure"])
    frame["converted"] = y
    return frame


FEATURES = ["spend", "visits", "tenure"]


def test_three_valued_target_is_refused_in_memory():
    frame = _frame()
    y = frame["converted"].to_numpy().copy()
    y[:5] = 2
    with pytest.raises(ValueError, match=r"Only binary classification is supported. y holds 3 distinct values \(\[0, 1, 2\]\); expected two."):
        LogisticRegression().fit(frame[FEATURES], y)


@pytest.mark.cluster
def test_three_valued_target_is_refused_on_the_cluster(local_client):
    frame = _frame()
    frame.loc[:4, "converted"] = -1
    ddf = dd.from_pandas(frame, npartitions=3)
    with pytest.raises(InputError, match=r"3 distinct values \(\[-1, 0, 1\]\); expected two"):
        LogisticRegression().fit(ddf[FEATURES], ddf["converted"], client=local_client)


def test_one_class_only_is_refused():
    frame = _frame()
    with pytest.raises(InputError, match=r"y holds one class only \(\[1(\.0)?\]\); logistic regression needs two classes"):
        LogisticRegression().fit(frame[FEATURES], np.ones(len(frame)))


@pytest.mark.cluster
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nonfinite_feature_names_column_and_partition(local_client, bad):
    frame = _frame()
    frame.loc[450, "visits"] = bad
    ddf = dd.from_pandas(frame, npartitions=3, sort=True)
    with pytest.raises(InputError, match=r"feature columns \['visits'\] in partition 2 of 3 hold NaN or infinite"):
        LogisticRegression().fit(ddf[FEATURES], ddf["converted"], client=local_client)


def test_nonfinite_feature_in_memory_is_refused():
    frame = _frame()
    frame.loc[3, "spend"] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        LogisticRegression().fit(frame[FEATURES], frame["converted"])


@pytest.mark.cluster
def test_non_numeric_feature_column_is_named(local_client):
    frame = _frame()
    frame["plan"] = np.where(frame["spend"] > 0, "gold", "basic")
    ddf = dd.from_pandas(frame, npartitions=2)
    with pytest.raises(InputError, match=r"feature columns \['plan'\] are not numeric"):
        LogisticRegression().fit(ddf[FEATURES + ["plan"]], ddf["converted"], client=local_client)


def test_constant_feature_warns_and_gets_coefficient_zero():
    frame = _frame()
    frame["region"] = 4.0
    with pytest.warns(ConstantColumnWarning, match=r"\['region'\] are constant"):
        model = LogisticRegression(l2=1e-3).fit(frame[FEATURES + ["region"]], frame["converted"])
    assert model.coef_[0, 3] == 0.0 and model.converged_
    without = LogisticRegression(l2=1e-3).fit(frame[FEATURES], frame["converted"])
    np.testing.assert_allclose(model.coef_[0, :3], without.coef_[0], atol=1e-12)


@pytest.mark.cluster
def test_empty_partitions_are_fine(local_client):
    frame = _frame()
    ddf = dd.from_pandas(frame, npartitions=4)
    ddf = ddf.map_partitions(lambda part: part[(part.index < 150) | (part.index >= 300)])  # partition 1 is empty
    assert 0 in ddf.map_partitions(len).compute(scheduler=local_client.get).tolist()
    model = LogisticRegression(l2=1e-3).fit(ddf[FEATURES], ddf["converted"], client=local_client)
    kept = frame[(frame.index < 150) | (frame.index >= 300)]
    reference = LogisticRegression(l2=1e-3).fit(kept[FEATURES], kept["converted"])
    np.testing.assert_allclose(model.coef_, reference.coef_, rtol=0, atol=1e-10)


def test_mismatched_lengths_in_memory():
    frame = _frame()
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        LogisticRegression().fit(frame[FEATURES], frame["converted"].iloc[:-1])


@pytest.mark.cluster
def test_dask_y_is_aligned_to_x_by_index_like_pandas(local_client):
    frame = _frame()
    X = dd.from_pandas(frame[FEATURES], npartitions=3)
    y_short = dd.from_pandas(frame["converted"].iloc[:-7], npartitions=3)
    with pytest.raises(InputError, match="y holds missing values"):
        LogisticRegression().fit(X, y_short, client=local_client)
    y_other = dd.from_pandas(frame["converted"], npartitions=2)
    model = LogisticRegression(l2=1e-3).fit(X, y_other, client=local_client)
    reference = LogisticRegression(l2=1e-3).fit(frame[FEATURES], frame["converted"])
    np.testing.assert_allclose(model.coef_, reference.coef_, rtol=0, atol=1e-10)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"solver": "sag"}, r"The 'solver' parameter of LogisticRegression must be a str among .* Got 'sag' instead."),
        ({"l2": -1.0}, r"The 'l2' parameter .* in the range \[0.0, inf\). Got -1.0 instead."),
        ({"tol": 0}, r"The 'tol' parameter .* Got 0 instead."),
        ({"max_iter": 0}, r"The 'max_iter' parameter .* Got 0 instead."),
    ],
)
def test_bad_parameters_read_as_one_sentence(params, message):
    frame = _frame()
    with pytest.raises(ValueError, match=message):
        LogisticRegression(**params).fit(frame[FEATURES], frame["converted"])


def test_negative_sample_weight_is_refused():
    frame = _frame()
    w = np.ones(len(frame))
    w[7] = -1
    with pytest.raises(InputError, match=r"sample_weight in partition 0 of 1 must be finite and >= 0; found \[-1.0\]"):
        LogisticRegression().fit(frame[FEATURES], frame["converted"], sample_weight=w)


def test_an_unreachable_scheduler_names_the_address_and_the_option():
    """A scheduler address where nothing listens is refused naming it and --scheduler, once distributed's connect
    timeout has run out (shortened here), not with distributed's own OSError."""
    import dask

    from logreg_dist.cluster import connect

    from .servers import free_port

    address = f"tcp://127.0.0.1:{free_port()}"
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}), pytest.raises(
            InputError, match=rf"cannot reach the Dask scheduler at {address} \(--scheduler\): .*leave --scheduler out"):
        with connect(address):
            pass
