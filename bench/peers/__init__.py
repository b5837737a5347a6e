"""The peer registry: every row the bench can time, in the order the tables show them.

A peer is a function ``run(spec: Spec, memory: TreeMemory) -> dict`` in one of this package's modules,
one module per tool. It fits the problem ``spec`` describes (bench/problem.py), marks its phases with
``memory.phase("e2e")`` (from Parquet to the validation AUC) and ``memory.phase("fit")``, and returns
what the tables read: ``fit_s``, ``e2e_s``, ``auc``, ``iterations``, ``n_train``, and ``coef`` (original
scale, the reference's feature order) with ``intercept`` when it is compared with the reference. A tool
with several solvers or options has one such function per case (``scikit_learn.newton_cholesky``,
``scikit_learn.lbfgs``) and one registry line each.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import shutil
from collections.abc import Callable

from bench.harness import TreeMemory
from bench.peers import command, dask_ml, glum, h2o, ours, scikit_learn, spark
from bench.problem import Spec

COMMAND = command.COMMAND


@dataclasses.dataclass(frozen=True)
class Peer:
    """One row of the bench: who fits, how it is called, and how its parameters map to our problem."""

    name: str
    run: Callable[[Spec, TreeMemory], dict]
    what: str  # the call and its settings
    mapping: str  # how our problem maps to its parameters
    needs: tuple[str, ...] = ()  # modules it imports; missing ones skip it
    programs: tuple[str, ...] = ()  # programs it needs on PATH
    data: str = "lookalike"  # the data set it runs on: "lookalike" or "categorical"
    default: bool = True  # runs unless --peers names others
    compared: bool = True  # its coefficients solve the reference's problem, so coef_err is reported
    in_child: bool = True  # False: it starts its own process and measures that (the command), so it runs here

    def unavailable(self) -> str | None:
        """Why it cannot run on this machine, or None."""
        missing = [m for m in self.needs if importlib.util.find_spec(m) is None]
        if missing:
            return f"not installed ({', '.join(missing)}): pip install -e '.[bench]'"
        absent = [p for p in self.programs if shutil.which(p) is None]
        if absent:
            return f"no {', '.join(absent)} on PATH ({self.name} needs it)"
        return None


def _registry(*peers: Peer) -> dict[str, Peer]:
    return {peer.name: peer for peer in peers}


PEERS = _registry(
    Peer("logreg-dist", ours.newton,
         "logreg_dist.LogisticRegression(l2=l2), solver auto (Newton at 85 features), tol 1e-12",
         "ours: LocalCluster of 2 worker processes x 1 thread, Dask DataFrame from read_parquet"),
    Peer(COMMAND, command.lookalike,
         "`logreg-dist train DATA --target converted --id-column customer_id --l2 L2 --out TMP`, as a user types it",
         "ours: the same hashed split and l2; its own Prefect temporary server and, above 250,000 rows, LocalCluster",
         in_child=False),
    Peer("logreg-dist-lbfgs", ours.lbfgs,
         "logreg_dist.LogisticRegression(l2=l2, solver='lbfgs'), tol 1e-12",
         "ours, L-BFGS; not in the default list", default=False),
    Peer("sklearn-newton-cholesky", scikit_learn.newton_cholesky,
         "sklearn LogisticRegression(solver='newton-cholesky'), tol 1e-4, max_iter 100",
         "standardized X in memory, C = 1 / (l2 * n_train): exact", needs=("sklearn",)),
    Peer("sklearn-lbfgs", scikit_learn.lbfgs,
         "sklearn LogisticRegression(solver='lbfgs'), tol 1e-4, max_iter 100",
         "standardized X in memory, C = 1 / (l2 * n_train): exact", needs=("sklearn",)),
    Peer("glum", glum.lookalike,
         "glum GeneralizedLinearRegressor(family='binomial'), solver auto (irls-ls), gradient_tol 1e-4",
         "raw X in memory, alpha = l2, l1_ratio = 0, scale_predictors=True: exact", needs=("glum",)),
    Peer("dask-ml-lbfgs", dask_ml.lbfgs,
         "dask_ml LogisticRegression(solver='lbfgs'), tol 1e-4 (pgtol on the summed gradient), max_iter 100",
         "C = 1 / (l2 * n_train) on the summed loss; penalizes the intercept too (not mappable)",
         needs=("dask_ml", "dask_glm")),
    Peer("dask-ml-newton", dask_ml.newton,
         "dask_ml LogisticRegression(solver='newton'), tol 1e-4 on the coefficient change, max_iter 100",
         "dask-glm's newton drops the penalty: it fits l2 = 0 whatever C is", needs=("dask_ml", "dask_glm")),
    Peer("spark", spark.lookalike,
         "Spark MLlib LogisticRegression on local[2], maxIter 100, tol 1e-6 (defaults)",
         "regParam = l2 * (n - 1) / n, elasticNetParam 0, standardization=True (Spark scales by the sample std)",
         needs=("pyspark",), programs=("java",)),
    # The categorical data set (--categorical): no reference there, so nothing is compared.
    Peer("cat-logreg-dist", ours.categorical,
         "the preparation and fit of `logreg-dist train`, categoricals as codes in the design",
         "ours: LocalCluster of 2 worker processes x 1 thread", data="categorical", compared=False),
    Peer("cat-logreg-dist-numeric", ours.categorical_numeric,
         "as cat-logreg-dist with the categorical columns excluded", "ours: the base of the ratios",
         data="categorical", compared=False),
    Peer("cat-glum", glum.categorical,
         "glum GeneralizedLinearRegressor(family='binomial', drop_first=True) on pandas categoricals",
         "alpha = l2, l1_ratio = 0, scale_predictors=True", needs=("glum",), data="categorical", compared=False),
    Peer("cat-h2o", h2o.categorical,
         "H2O GLM, solver IRLSM, on a local H2O of 2 threads",
         "lambda_ = l2, alpha = 0, standardize=True", needs=("h2o",), data="categorical", compared=False),
)


def on_data(data: str) -> dict[str, Peer]:
    """The peers of data set ``data``, in registry order."""
    return {name: peer for name, peer in PEERS.items() if peer.data == data}
