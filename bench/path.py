"""The penalty's cost (issue 20): the exact elastic net against glum and saga, the path and its cross-validation
against one fit, and ``--alpha auto`` against noise columns.

Four cases, each of its pieces in a child process of its own (``bench/path.py --child NAME``), so that
timings and memory do not mix:

1. ``small``: the elastic net at one penalty on a small public data set (``tests/data/mlc_churn.parquet``: every
   text column one-hot without its first level), in-process: ours (median of 3 after a first call), glum at
   ``gradient_tol=1e-12`` and scikit-learn's saga at ``tol=1e-12`` on the same standardized rows, each capped
   at ``--small-timeout`` seconds. Every answer is judged by the same yardstick: the largest entry of the
   minimum-norm subgradient of the exact objective at it, in float64 here.
2. ``path``: on the 4.2M lookalike, persisted on a 2-worker LocalCluster first, each once: the 20-point lasso
   path chosen on the validation rows, one fit at the chosen penalty from scratch (without held-out rows, and
   with them: the path's time includes loading the validation rows and the chosen model's validation metrics,
   which a one fit given ``validation=`` pays too), and the path with 5-fold cross-validation; then glum's
   ``alpha_search`` on the same training rows as float64 arrays in memory. Then the same comparison as the
   command users run: ``logreg-dist train --alpha auto --l1-ratio 1`` and ``--alpha <its choice> --l1-ratio 1``
   (both validate, as the command always does), their whole runs and their fit steps.
3. ``noise``: ``logreg-dist train`` on the 1M lookalike (numeric only, ``--l2``) and on the same rows with three
   string columns of pure noise, at ``--l2`` and at ``--alpha auto --l1-ratio 1``.
4. ``wide``: generated rows (300,000 x 300 float32, 15 columns carry the label), in-process: the 20-point lasso
   path with its passes far from each point's optimum over the eligible columns (the default) and with every
   pass over every column, and one fit at the chosen penalty.

Run: ``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python bench/path.py`` (bench/README.md has the
ledger). The JSON, written after each case, goes to ``bench/results/<date>-path-<commit>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# As in bench/run.py: the package is imported as `bench` from the checkout, not as loose modules of bench/.
if sys.path and Path(sys.path[0]).resolve() == HERE:
    sys.path[0] = str(ROOT)
elif str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import harness  # noqa: E402
from bench.harness import GB, TreeMemory, caught, local_cluster  # noqa: E402
from bench.problem import load_arrays, parquet_rows, roc_auc  # noqa: E402

SMALL_DATA = ROOT / "tests" / "data" / "mlc_churn.parquet"
BENCHDATA = Path("/work/benchdata")
SMALL_TOL = 1e-12


# -- case 1: the elastic net at one penalty on small data ---------------------------------------------------


def small_design(path: str, target: str, positive: str):
    """``(X, y, names)``: numeric columns as they are, every text column one-hot without its first level."""
    import numpy as np
    import pandas as pd

    frame = pd.read_parquet(path)
    X = frame.drop(columns=target)
    text = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
    X = pd.get_dummies(X, columns=text, drop_first=True, dtype=float)
    if X.isna().any().any():
        raise ValueError(f"{path} has gaps in {list(X.columns[X.isna().any()])}; this case expects none.")
    return X.to_numpy(np.float64), (frame[target] == positive).to_numpy().astype(np.float64), list(X.columns)


def standardized(X):
    return (X - X.mean(0)) / X.std(0)  # population std, as ours and glum's scale_predictors


def small_ours(params: dict, memory: TreeMemory) -> dict:
    from bench.harness import median_of
    from logreg_dist import LogisticRegression

    X, y, names = small_design(params["data"], params["target"], params["positive"])
    out = {"rows": int(X.shape[0]), "features": len(names)}
    for ratio in params["l1_ratios"]:
        def fit():
            return LogisticRegression(alpha=params["alpha"], l1_ratio=ratio).fit(X, y)

        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            started = time.perf_counter()
            model = fit()
            first = time.perf_counter() - started
            seconds = median_of(fit, params["repeats"])  # after one more call to warm up
        out[str(ratio)] = dict(
            first_call_s=first, fit_s=seconds, iterations=int(model.n_iter_), passes=int(model.n_passes_),
            converged=bool(model.converged_), solver=model.solver_, coef=model.coef_standardized_[0].tolist(),
            intercept=float(model.intercept_standardized_[0]), warnings=caught(record),
        )
    return out


def small_glum(params: dict, memory: TreeMemory) -> dict:
    from glum import GeneralizedLinearRegressor

    X, y, _ = small_design(params["data"], params["target"], params["positive"])
    Z = standardized(X)
    model = GeneralizedLinearRegressor(family="binomial", alpha=params["alpha"], l1_ratio=params["l1_ratio"],
                                       gradient_tol=SMALL_TOL, max_iter=params["max_iter"])
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        started = time.perf_counter()
        model.fit(Z, y)
        seconds = time.perf_counter() - started
    return dict(fit_s=seconds, iterations=int(model.n_iter_), max_iter=params["max_iter"],
                line_search_failures=sum("Line search failed" in str(w.message) for w in record),
                converged=not any("failed to converge" in str(w.message) for w in record),
                coef=[float(c) for c in model.coef_], intercept=float(model.intercept_), warnings=caught(record))


def small_saga(params: dict, memory: TreeMemory) -> dict:
    from sklearn.linear_model import LogisticRegression as Saga

    X, y, _ = small_design(params["data"], params["target"], params["positive"])
    Z = standardized(X)
    # scikit-learn >= 1.8 reads the elastic net from l1_ratio alone and warns that `penalty` is going away.
    penalty = {"penalty": "elasticnet"} if "penalty" in Saga().get_params() else {}
    model = Saga(solver="saga", C=1.0 / (params["alpha"] * len(y)), l1_ratio=params["l1_ratio"], tol=SMALL_TOL,
                 max_iter=params["max_iter"], **penalty)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        started = time.perf_counter()
        model.fit(Z, y)
        seconds = time.perf_counter() - started
    iterations = int(model.n_iter_[0])
    return dict(fit_s=seconds, iterations=iterations, max_iter=params["max_iter"],
                converged=iterations < params["max_iter"], coef=model.coef_[0].tolist(),
                intercept=float(model.intercept_[0]), warnings=caught(record))


def subgradient_gap(Z, y, coef, intercept, *, alpha: float, l1_ratio: float) -> float:
    """The largest entry of the minimum-norm subgradient of the exact objective (0 at the optimum), in float64."""
    import numpy as np
    from scipy.special import expit

    coef = np.asarray(coef, dtype=np.float64)
    resid = expit(Z @ coef + intercept) - y
    grad = Z.T @ resid / len(y) + alpha * (1.0 - l1_ratio) * coef
    l1 = alpha * l1_ratio
    gap = np.where(coef != 0.0, np.abs(grad + l1 * np.sign(coef)), np.maximum(np.abs(grad) - l1, 0.0))
    return float(max(gap.max(), abs(resid.mean())))


def run_small(args, tmp: Path) -> dict:
    import numpy as np

    base = dict(data=str(args.small_data), target=args.small_target, positive=args.small_positive, alpha=args.alpha)
    out = {"data": str(args.small_data), "alpha": args.alpha, "l1_ratios": args.l1_ratios,
           "ours": _spawn("small-ours", {**base, "l1_ratios": args.l1_ratios, "repeats": 3}, tmp=tmp, timeout=600)}
    peers = {}
    for ratio in args.l1_ratios:
        peers[f"glum-{ratio}"] = ("small-glum", {**base, "l1_ratio": ratio, "max_iter": 100})
        if ratio < 1.0:  # glum stops at its default 100 iterations short of 1e-12 there; at l1_ratio 1 it does not
            peers[f"glum-{ratio}-max_iter-1000"] = ("small-glum", {**base, "l1_ratio": ratio, "max_iter": 1000})
        peers[f"saga-{ratio}"] = ("small-saga", {**base, "l1_ratio": ratio, "max_iter": 10_000_000})
    for key, (child, params) in peers.items():
        out[key] = _spawn(child, params, tmp=tmp, timeout=args.small_timeout)
        if not out[key].get("ok") and out[key].get("timed_out"):
            out[key]["error"] = f"did not finish in {args.small_timeout:.0f} s"
    X, y, names = small_design(str(args.small_data), args.small_target, args.small_positive)
    Z = standardized(X)
    out.update(rows=int(X.shape[0]), features=len(names))
    ours = out["ours"]
    for key, result in [(f"ours-{r}", ours.get(str(r), {})) for r in args.l1_ratios] + list(out.items()):
        if not isinstance(result, dict) or "coef" not in result:
            continue
        ratio = ratio_of(key)
        result["subgradient_gap"] = subgradient_gap(Z, y, result["coef"], result["intercept"], alpha=args.alpha,
                                                    l1_ratio=ratio)
        result["n_zero"] = int(np.sum(np.asarray(result["coef"]) == 0.0))
        mine = ours.get(str(ratio), {})
        if key.startswith("ours") or "coef" not in mine:
            continue
        result["coef_max_diff_vs_ours"] = float(np.max(np.abs(np.subtract(result["coef"], mine["coef"]))))
        result["intercept_diff_vs_ours"] = abs(result["intercept"] - mine["intercept"])
        result["zero_pattern_equal"] = bool(np.array_equal(np.asarray(result["coef"]) == 0.0,
                                                           np.asarray(mine["coef"]) == 0.0))
    return out


def ratio_of(key: str) -> float:
    """The l1_ratio in a result's key (``glum-0.5``, ``ours-1.0``, ``glum-0.5-max_iter-1000``)."""
    return float(key.split("-")[1])


# -- case 2: the path on the lookalike ---------------------------------------------------------------------


def path_ours(params: dict, memory: TreeMemory) -> dict:
    """Persist the training and validation rows, warm the workers up, then time (a) the path chosen on the
    validation rows, (b) one fit at its chosen penalty, (c) the path with k-fold cross-validation."""
    from distributed import wait

    from logreg_dist import LogisticRegression
    from logreg_dist.synth import FEATURE_NAMES, ID_COLUMN, TARGET
    from logreg_dist.tables import read_table
    from logreg_dist.training import split

    features = list(FEATURE_NAMES)
    out: dict = {}
    cluster, client = local_cluster()
    try:
        started = time.perf_counter()
        train, valid = split(read_table(params["data"]), id_column=ID_COLUMN, valid_fraction=params["valid_fraction"])
        train, valid = client.persist([train[[*features, TARGET]], valid[[*features, TARGET]]])
        with client.as_current():
            wait([train, valid])
        out["persist_s"] = time.perf_counter() - started
        X, y, Xv, yv = train[features], train[TARGET], valid[features], valid[TARGET]
        path = dict(alpha="auto", l1_ratio=1.0, n_alphas=params["n_alphas"])
        # The first fit in a fresh cluster loads the compiled loops in every worker, and the folds' spans of rows
        # are their own type to numba: a short path and a short cross-validated one on the validation rows,
        # untimed, so that neither (a) nor (c) pays for compiling (a checkout's first run has no numba cache).
        started = time.perf_counter()
        LogisticRegression(**{**path, "n_alphas": 3}).fit(Xv, yv, client=client, validation=(Xv, yv))
        LogisticRegression(**{**path, "n_alphas": 3}, n_folds=2).fit(Xv, yv, client=client)
        out["warm_up_s"] = time.perf_counter() - started

        def timed(name, estimator, **fit):
            with memory.phase(name), warnings.catch_warnings(record=True) as record:
                warnings.simplefilter("always")
                started = time.perf_counter()
                estimator.fit(X, y, client=client, **fit)
                seconds = time.perf_counter() - started
            print(f"  {name}: {seconds:.1f} s, {estimator.n_passes_} passes", flush=True)
            out[name] = {"fit_s": seconds, "warnings": caught(record), **_fitted(estimator)}
            Path(params["partial"]).write_text(json.dumps(out))  # what the parent keeps if a later fit times out
            return estimator, out[name]

        a, out["path"] = timed("path", LogisticRegression(**path), validation=(Xv, yv))
        out["path"].update(auc=a.validation_metrics_["auc"], alphas=[float(v) for v in a.alphas_],
                           coef_path_standardized=a.coef_path_standardized_.tolist())
        out.update(feature_scale=a.feature_scale_.tolist(), n_train=int(a.n_samples_fit_))
        b, out["one_fit"] = timed("one_fit", LogisticRegression(alpha=a.alpha_, l1_ratio=1.0))
        # Untimed: the validation AUC of the chosen model, and how far the fit from scratch lies from the path's point.
        out["one_fit"].update(auc=b.evaluate(Xv, yv, client=client)["auc"], coef_max_diff_vs_path_point=float(
            abs(b.coef_standardized_ - a.coef_standardized_).max()))
        # Like for like: the one fit with the path's held-out rows, whose loading and metrics the path's time counts.
        d, out["one_fit_valid"] = timed("one_fit_valid", LogisticRegression(alpha=a.alpha_, l1_ratio=1.0),
                                        validation=(Xv, yv))
        out["one_fit_valid"]["auc"] = d.validation_metrics_["auc"]
        # This VM's whole-run timings wander by about 15 %: the three are rerun in turn, each keeping every time and
        # the median as fit_s, so that a ratio compares runs made side by side.
        for _ in range(params.get("repeats", 1) - 1):
            for name, estimator, fit in (("path", LogisticRegression(**path), dict(validation=(Xv, yv))),
                                         ("one_fit", LogisticRegression(alpha=a.alpha_, l1_ratio=1.0), {}),
                                         ("one_fit_valid", LogisticRegression(alpha=a.alpha_, l1_ratio=1.0),
                                          dict(validation=(Xv, yv)))):
                started = time.perf_counter()
                estimator.fit(X, y, client=client, **fit)
                seconds = time.perf_counter() - started
                print(f"  {name} again: {seconds:.1f} s, {estimator.n_passes_} passes", flush=True)
                out[name].setdefault("fit_s_all", [out[name]["fit_s"]]).append(seconds)
        for name in ("path", "one_fit", "one_fit_valid"):
            if "fit_s_all" in out[name]:
                out[name]["fit_s"] = float(statistics.median(out[name]["fit_s_all"]))
        Path(params["partial"]).write_text(json.dumps(out))
        c, out["cv"] = timed("cv", LogisticRegression(**path, n_folds=params["n_folds"]))
        out["cv"]["auc"] = c.evaluate(Xv, yv, client=client)["auc"]
    finally:
        client.close()
        cluster.close()
    return out


def _fitted(model) -> dict:
    import numpy as np

    path = model.path_ or []
    return dict(
        alpha=float(model.alpha_), passes=int(model.n_passes_), iterations=int(model.n_iter_),
        converged=bool(model.converged_), solver=model.solver_, chosen=getattr(model, "path_chosen_", None),
        nonzero=int(np.count_nonzero(model.coef_[0])), path_points=path,
        path_passes=int(sum(p["passes"] for p in path)),
    )


def path_glum(params: dict, memory: TreeMemory) -> dict:
    """glum's ``alpha_search`` (its path, warm-started, ending at the smallest penalty) on the raw training rows as
    float64 arrays with ``scale_predictors=True``: the same problem at each penalty."""
    import numpy as np
    from glum import GeneralizedLinearRegressor

    out: dict = {}
    started = time.perf_counter()
    X, y, Xv, yv = load_arrays(params["data"], params["valid_fraction"])
    out.update(load_s=time.perf_counter() - started, n_train=int(X.shape[0]))
    model = GeneralizedLinearRegressor(family="binomial", alpha_search=True, n_alphas=params["n_alphas"],
                                       l1_ratio=1.0, min_alpha_ratio=params["min_alpha_ratio"], scale_predictors=True)
    with memory.phase("fit"), warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        started = time.perf_counter()
        model.fit(X, y)
        out["fit_s"] = time.perf_counter() - started
    out.update(
        iterations=np.asarray(model.n_iter_).tolist(), alphas=[float(a) for a in model._alphas],
        coef_path=np.asarray(model.coef_path_, dtype=float).tolist(), warnings=caught(record),
        auc_last=roc_auc(yv, model.predict(Xv)), nonzero_last=int(np.count_nonzero(model.coef_)),
    )
    return out


def run_path(args, tmp: Path) -> dict:
    import numpy as np

    params = dict(data=str(args.path_data), valid_fraction=0.2, n_alphas=20, n_folds=5, min_alpha_ratio=1e-4,
                  repeats=args.path_repeats)
    out = {"data": str(args.path_data), "rows": parquet_rows(args.path_data)}
    out["ours"] = _spawn("path-ours", params, tmp=tmp, timeout=args.path_timeout)
    out["glum"] = _spawn("path-glum", params, tmp=tmp, timeout=args.glum_path_timeout)
    ours, glum = out["ours"], out["glum"]
    if glum.get("timed_out"):
        glum["error"] = f"did not finish in {args.glum_path_timeout:.0f} s"
    if ours.get("timed_out"):  # the fits that finished were saved as they went
        ours["error"] = f"did not finish in {args.path_timeout:.0f} s"
    for name, (top, bottom) in {"path_over_one_fit": ("path", "one_fit"), "cv_over_path": ("cv", "path"),
                                "path_over_one_fit_valid": ("path", "one_fit_valid")}.items():
        if top in ours and bottom in ours:
            out[name] = ours[top]["fit_s"] / ours[bottom]["fit_s"]
            out[f"{name}_passes"] = ours[top]["passes"] / ours[bottom]["passes"]
            if "fit_s_all" in ours[top] and "fit_s_all" in ours[bottom]:  # each round's own ratio
                out[f"{name}_each"] = [t / b for t, b in zip(ours[top]["fit_s_all"], ours[bottom]["fit_s_all"])]
    if "path" in ours and glum.get("ok"):
        out["glum_over_path"] = glum["fit_s"] / ours["path"]["fit_s"]
        ours_alphas, glum_alphas = np.asarray(ours["path"]["alphas"]), np.asarray(glum["alphas"])
        out["alpha_grids_equal_to_1e-6"] = bool(ours_alphas.shape == glum_alphas.shape
                                                and np.allclose(ours_alphas, glum_alphas, rtol=1e-6, atol=0))
        if out["alpha_grids_equal_to_1e-6"]:  # standardized scale: glum's original-scale coefs times the std
            glum_std = np.asarray(glum["coef_path"]) * np.asarray(ours["feature_scale"])
            diff = np.abs(glum_std - np.asarray(ours["path"]["coef_path_standardized"]))
            out["coef_path_max_diff_glum_vs_ours"] = diff.max(axis=1).tolist()
    if args.path_command:
        out["command"] = path_command(args, tmp)
    return out


def path_command(args, tmp: Path) -> dict:
    """``logreg-dist train`` with ``--alpha auto --l1-ratio 1``, then with ``--alpha`` at its choice: the whole run
    and the fit step (model.json's ``fit_seconds``) of each, and their ratios."""
    out: dict = {}
    alpha = "auto"
    for name in ("path", "one_fit"):
        result, model = _train_command(args.path_data, ["--alpha", alpha, "--l1-ratio", "1"], tmp / f"command-{name}")
        out[name] = result
        if model is None:
            return out
        result.update(alpha=model.get("alpha"), passes=(model.get("training") or {}).get("passes"))
        alpha = repr(float(model["alpha"]))  # the one fit at the path's choice
    out["wall_ratio"] = out["path"]["wall_s"] / out["one_fit"]["wall_s"]
    out["fit_ratio"] = out["path"]["fit_s"] / out["one_fit"]["fit_s"]
    return out


def _train_command(data: Path, extra: list[str], folder: Path) -> tuple[dict, dict | None]:
    """``logreg-dist train DATA --target converted --id-column customer_id EXTRA`` into ``folder/model``: the run's
    record (as bench/peers/command.py makes it, without the coefficients) and its model.json (None if it failed)."""
    from bench.peers.command import run_train_command, shown, train_argv
    from logreg_dist.synth import ID_COLUMN, TARGET

    model_dir = folder / "model"
    argv = train_argv(data, target=TARGET, id_column=ID_COLUMN, l2=None, out=model_dir) + extra
    memory = TreeMemory()
    try:
        result = run_train_command(argv, memory=memory, workdir=folder, out=model_dir, timeout=1800, valid=True)
    finally:
        memory.close()
    for key in ("model_coef", "features"):
        result.pop(key, None)
    result["shown"] = shown(argv, DATA=data, TMP=model_dir)
    return result, json.loads((model_dir / "model.json").read_text()) if result.get("ok") else None


# -- case 3: noise columns through the command ------------------------------------------------------------


def run_noise(args, tmp: Path) -> dict:
    runs = {
        "numeric --l2": (args.noise_base, ["--l2", "1e-4"]),
        "noise --l2": (args.noise_data, ["--l2", "1e-4"]),
        "noise --alpha auto": (args.noise_data, ["--alpha", "auto", "--l1-ratio", "1"]),
    }
    out: dict = {"base": str(args.noise_base), "noise": str(args.noise_data)}
    for k, (name, (data, extra)) in enumerate(runs.items()):
        result, model = _train_command(data, extra, tmp / f"noise-{k}")
        if model is not None:
            path = model.get("path") or {}
            result.update(alpha=model.get("alpha"), l1_ratio=model.get("l1_ratio"), n_features=len(model["coef"]),
                          nonzero=sum(1 for c in model["coef"] if c != 0.0),
                          path_chosen=path.get("chosen"), path_points=path.get("points"))
        out[name] = result
    numeric, auto = out["numeric --l2"], out["noise --alpha auto"]
    if numeric.get("ok") and auto.get("ok"):
        out["auc_gap_auto_vs_numeric"] = numeric["auc"] - auto["auc"]
    return out


# -- case 4: a wide numeric path, passes over the active set or over every column ---------------------------


def wide_rows(params: dict):
    """``params["rows"]`` x ``params["columns"]`` standard normal float32 columns, of which the first
    ``params["informative"]`` carry the label (about 5 % positives): a frame (column runs, as a partition
    is) and the labels, the same for a seed."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(params["seed"])
    n, p, k = params["rows"], params["columns"], params["informative"]
    X = rng.standard_normal((n, p), dtype=np.float32)
    beta = np.zeros(p)
    beta[:k] = rng.normal(scale=0.4, size=k)
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-(X @ beta - 4.0)))).astype(np.int8)
    return pd.DataFrame(X, columns=[f"x{j}" for j in range(p)]), y


def wide_ours(params: dict, memory: TreeMemory) -> dict:
    """In-process, each once after a short warm-up: the 20-point lasso path chosen on the validation rows with its
    far passes over the eligible columns (the default), the same with every pass over every column
    (``RESTRICT_ABOVE`` infinite), and one fit at the chosen penalty from scratch."""
    import numpy as np

    from logreg_dist import LogisticRegression, _enet

    frame, y = wide_rows(params)
    held = np.arange(len(y)) % 5 == 0
    X, Xv, yt, yv = frame[~held], frame[held], y[~held], y[held]
    path = dict(alpha="auto", l1_ratio=1.0, n_alphas=params["n_alphas"])
    LogisticRegression(**{**path, "n_alphas": 3}).fit(Xv, yv, validation=(Xv, yv))
    out: dict = {"n_train": int(len(yt)), "positives": float(y.mean())}
    default = _enet.RESTRICT_ABOVE
    for name, above, estimator, fit in (
        ("path", default, LogisticRegression(**path), {"validation": (Xv, yv)}),
        ("path_full_passes", np.inf, LogisticRegression(**path), {"validation": (Xv, yv)}),
    ):
        _enet.RESTRICT_ABOVE = above
        with memory.phase(name):
            started = time.perf_counter()
            estimator.fit(X, yt, **fit)
            out[name] = {"fit_s": time.perf_counter() - started, **_fitted(estimator),
                         "coef_standardized": estimator.coef_standardized_[0].tolist()}
        print(f"  {name}: {out[name]['fit_s']:.1f} s, {estimator.n_passes_} passes", flush=True)
    _enet.RESTRICT_ABOVE = default
    alpha = out["path"]["alpha"]
    with memory.phase("one_fit"):
        started = time.perf_counter()
        one = LogisticRegression(alpha=alpha, l1_ratio=1.0).fit(X, yt)
        out["one_fit"] = {"fit_s": time.perf_counter() - started, **_fitted(one)}
    print(f"  one_fit: {out['one_fit']['fit_s']:.1f} s, {one.n_passes_} passes", flush=True)
    chosen = [np.asarray(out[name].pop("coef_standardized")) for name in ("path", "path_full_passes")]
    out["coef_max_diff_restricted_vs_full"] = float(np.max(np.abs(chosen[0] - chosen[1])))
    out["coef_max_diff_path_vs_one_fit"] = float(np.max(np.abs(chosen[0] - one.coef_standardized_[0])))
    return out


def run_wide(args, tmp: Path) -> dict:
    params = dict(rows=args.wide_rows, columns=args.wide_columns, informative=15, seed=0, n_alphas=20)
    out = {"params": params, "ours": _spawn("wide-ours", params, tmp=tmp, timeout=args.path_timeout)}
    ours = out["ours"]
    if all(name in ours for name in ("path", "path_full_passes", "one_fit")):
        out["full_passes_over_path"] = ours["path_full_passes"]["fit_s"] / ours["path"]["fit_s"]
        out["path_over_one_fit"] = ours["path"]["fit_s"] / ours["one_fit"]["fit_s"]
    return out


# -- children and the run ---------------------------------------------------------------------------------

CHILDREN = {"small-ours": small_ours, "small-glum": small_glum, "small-saga": small_saga,
            "path-ours": path_ours, "path-glum": path_glum, "wide-ours": wide_ours}


def _spawn(name: str, params: dict, *, tmp: Path, timeout: float) -> dict:
    """Run ``CHILDREN[name](params, memory)`` in a fresh ``bench/path.py --child`` process (its own session, killed
    after ``timeout`` seconds); its result, with ``wall_s`` and the peak memory of its tree."""
    tag = f"{name}-{len(list(tmp.glob(f'{name}-*.params.json')))}"
    params_path, result_path, log_path = (tmp / f"{tag}.params.json", tmp / f"{tag}.result.json", tmp / f"{tag}.log")
    params = {**params, "partial": str(tmp / f"{tag}.partial.json")}
    params_path.write_text(json.dumps(params))
    print(f"[{time.strftime('%H:%M:%S')}] {tag} {json.dumps({k: v for k, v in params.items() if k not in ('data', 'partial')})} ...",
          flush=True)
    started = time.perf_counter()
    with log_path.open("wb") as log:
        process = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--child", name, "--params",
                                    str(params_path), "--result", str(result_path)], stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        try:
            harness._wait4(process.pid, timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait()
            print(f"  did not finish in {timeout:.0f} s", flush=True)
            partial = Path(params["partial"])
            return {**(json.loads(partial.read_text()) if partial.exists() else {}), "ok": False, "timed_out": True,
                    "error": f"did not finish in {timeout:.0f} s", "log": str(log_path)}
    result = json.loads(result_path.read_text()) if result_path.exists() else {"ok": False, "error": "no result"}
    result.update(wall_s=time.perf_counter() - started, log=str(log_path))
    if result.get("ok"):
        print(f"  done in {result['wall_s']:.1f} s (peak {max(result['peak_bytes'].values()) / GB:.2f} GB)", flush=True)
    else:
        print(f"  FAILED: {result.get('error')} (log: {log_path})", flush=True)
    return result


def _run_child(name: str, params_path: str, result_path: str) -> int:
    return harness.run_measured(CHILDREN[name], json.loads(Path(params_path).read_text()), result_path)


CASES = {"path": run_path, "noise": run_noise, "small": run_small, "wide": run_wide}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", default="path,noise,small,wide",
                        help="comma list among path, noise, small, wide (in order)")
    parser.add_argument("--small-data", type=Path, default=SMALL_DATA)
    parser.add_argument("--small-target", default="churn")
    parser.add_argument("--small-positive", default="yes")
    parser.add_argument("--alpha", type=float, default=0.005, help="case 1's penalty (default 0.005)")
    parser.add_argument("--l1-ratios", type=lambda s: [float(v) for v in s.split(",")], default=[0.5, 1.0])
    parser.add_argument("--small-timeout", type=float, default=300)
    parser.add_argument("--path-data", type=Path, default=BENCHDATA / "lookalike-4200000")
    parser.add_argument("--path-timeout", type=float, default=900, help="seconds for our three fits (and the load)")
    parser.add_argument("--path-repeats", type=int, default=1,
                        help="case 2: run the path and both one fits this many times in turn (medians)")
    parser.add_argument("--glum-path-timeout", type=float, default=600)
    parser.add_argument("--no-path-command", dest="path_command", action="store_false",
                        help="skip the path case's runs of the train command")
    parser.add_argument("--noise-base", type=Path, default=BENCHDATA / "lookalike-1000000")
    parser.add_argument("--noise-data", type=Path, default=BENCHDATA / "lookalike-1000000-cat-51-300-900")
    parser.add_argument("--wide-rows", type=int, default=300_000)
    parser.add_argument("--wide-columns", type=int, default=300)
    parser.add_argument("--wait-idle", type=float, default=20, metavar="MINUTES")
    parser.add_argument("--max-load", type=float, default=1.0)
    parser.add_argument("--out", type=Path, default=None, help="the JSON (default bench/results/<date>-path-<commit>.json)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--params", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.child:
        return _run_child(args.child, args.params, args.result)
    harness.warn_if_openblas_tuned()
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        print(f"unknown cases {unknown}; choose among {list(CASES)}", file=sys.stderr)
        return 2
    idle = harness.wait_until_idle(args.wait_idle, args.max_load) if args.wait_idle > 0 else {"idle": None}
    machine = harness.machine_info()
    started_at = dt.datetime.now(dt.timezone.utc)
    commit = (machine["git"]["commit"] or "unknown")[:7]
    out_path = args.out or HERE / "results" / f"{started_at:%Y-%m-%d}-path-{commit}.json"
    print(f"machine: {machine['cores']} cores, {machine['cpu']}; BLAS {harness.blas_summary(machine['threadpools'])}; "
          f"load {os.getloadavg()[0]:.2f}; commit {commit}", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="logreg-dist-bench-path-"))
    record = {"date": started_at.isoformat(timespec="seconds"), "command": shlex.join([sys.executable, *sys.argv]),
              "machine": machine, "idle_wait": idle, "tmp": str(tmp), "cases": {}}
    for case in cases:
        load = os.getloadavg()
        case_started = time.perf_counter()
        record["cases"][case] = CASES[case](args, tmp)
        record["cases"][case].update(load_start=load, load_end=os.getloadavg(), case_s=time.perf_counter() - case_started)
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_text(json.dumps(record, indent=1, default=str))
        print(f"[{time.strftime('%H:%M:%S')}] {case} done; wrote {out_path}", flush=True)
    print(summary(record), flush=True)
    return 0


def summary(record: dict) -> str:
    """The figures the ledger quotes, one line each."""
    lines = []
    small = record["cases"].get("small")
    if small:
        for ratio in small["l1_ratios"]:
            ours = small["ours"].get(str(ratio), {})
            lines.append(f"small l1_ratio {ratio}: ours {ours.get('fit_s', float('nan')):.3f} s (first call "
                         f"{ours.get('first_call_s', float('nan')):.2f} s), {ours.get('iterations')} iterations, gap "
                         f"{ours.get('subgradient_gap', float('nan')):.1e}, {ours.get('n_zero')} zeros")
            for key in (f"glum-{ratio}", f"glum-{ratio}-max_iter-1000", f"saga-{ratio}"):
                peer = small.get(key)
                if peer is None:
                    continue
                if not peer.get("ok"):
                    lines.append(f"  {key}: {peer.get('error')}")
                    continue
                lines.append(f"  {key}: {peer['fit_s']:.2f} s, {peer['iterations']} iterations, converged "
                             f"{peer['converged']}, gap {peer['subgradient_gap']:.1e}, max|coef diff| vs ours "
                             f"{peer['coef_max_diff_vs_ours']:.1e}, zero pattern equal {peer['zero_pattern_equal']}")
    path = record["cases"].get("path")
    if path:
        ours = path["ours"]
        for name in ("path", "one_fit", "one_fit_valid", "cv"):
            r = ours.get(name)
            lines.append(f"{name}: {r['fit_s']:.1f} s, {r['passes']} passes, alpha {r['alpha']:.3g}, {r['nonzero']} "
                         f"nonzero, AUC {r.get('auc', float('nan')):.4f}" if r else f"{name}: {ours.get('error')}")
        for name in ("path_over_one_fit", "path_over_one_fit_valid", "cv_over_path"):
            if name in path:
                each = ", ".join(f"{v:.2f}" for v in path.get(name + "_each", []))
                lines.append(f"{name}: {path[name]:.2f}x (passes {path[name + '_passes']:.2f}x; target <= 3)"
                             + (f"; each round {each}" if each else ""))
        command = path.get("command") or {}
        for name in ("path", "one_fit"):
            r = command.get(name)
            if r:
                lines.append(f"command {name}: wall {r['wall_s']:.1f} s, fit {r.get('fit_s') or float('nan'):.1f} s, "
                             f"alpha {r.get('alpha')}" if r.get("ok") else f"command {name}: {r.get('error')}")
        if "wall_ratio" in command:
            lines.append(f"command path / one fit: wall {command['wall_ratio']:.2f}x, fit step {command['fit_ratio']:.2f}x")
    if path:
        glum = path["glum"]
        lines.append(f"glum alpha_search: {glum['fit_s']:.1f} s, {path.get('glum_over_path', float('nan')):.2f}x ours"
                     if glum.get("ok") else f"glum alpha_search: {glum.get('error')}")
    wide = record["cases"].get("wide")
    if wide:
        ours = wide["ours"]
        for name in ("path", "path_full_passes", "one_fit"):
            r = ours.get(name)
            lines.append(f"wide {name}: {r['fit_s']:.1f} s, {r['passes']} passes, alpha {r['alpha']:.3g}, "
                         f"{r['nonzero']} nonzero" if r else f"wide {name}: {ours.get('error')}")
        if "full_passes_over_path" in wide:
            lines.append(f"wide: every column every pass / active-set passes {wide['full_passes_over_path']:.2f}x; "
                         f"path / one fit {wide['path_over_one_fit']:.2f}x; chosen coefs differ by "
                         f"{ours['coef_max_diff_restricted_vs_full']:.1e}")
    noise = record["cases"].get("noise")
    if noise:
        for name in ("numeric --l2", "noise --l2", "noise --alpha auto"):
            r = noise[name]
            lines.append(f"{name}: AUC {r.get('auc')}, wall {r.get('wall_s', float('nan')):.1f} s, alpha {r.get('alpha')}, "
                         f"{r.get('nonzero')} of {r.get('n_features')} nonzero" if r.get("ok") else f"{name}: {r.get('error')}")
        if "auc_gap_auto_vs_numeric" in noise:
            lines.append(f"AUC numeric - auto on noise: {noise['auc_gap_auto_vs_numeric']:.4f} (target <= 0.005)")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
