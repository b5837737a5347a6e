"""Spark MLlib's LogisticRegression on local[2]: Parquet -> assembled, cached training rows -> fit -> AUC.

Spark standardizes by the sample standard deviation, so ``regParam = l2 * (n - 1) / n`` maps our penalty."""

from __future__ import annotations

import os
import sys
import time

from bench.harness import TreeMemory
from bench.problem import Spec, roc_auc


def lookalike(spec: Spec, memory: TreeMemory) -> dict:
    import pandas as pd

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.feature import VectorAssembler
    from pyspark.ml.functions import vector_to_array
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    from logreg_dist.synth import FEATURE_NAMES, ID_COLUMN, TARGET

    fraction = spec.valid_fraction
    out: dict = {}
    started = time.perf_counter()
    spark = (
        SparkSession.builder.master("local[2]")
        .appName("logreg-dist-bench")
        .config("spark.driver.memory", spec.spark_driver_memory)
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.local.dir", spec.tmp)
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    out["startup_s"] = time.perf_counter() - started

    def validation_rows(ids):
        # logreg-dist's split rule, on each Arrow batch; imported from the library, not from bench, since Spark's
        # Python workers import what the function names and find logreg_dist installed but not bench.
        from logreg_dist.training import _validation_rows

        return pd.Series(_validation_rows(pd.DataFrame({ID_COLUMN: ids}), ID_COLUMN, fraction, 0))

    validation_rows.__annotations__ = {"ids": pd.Series, "return": pd.Series}  # real types, not strings
    is_valid = F.pandas_udf(validation_rows, "boolean")

    try:
        with memory.phase("e2e"):
            started = time.perf_counter()
            frame = spark.read.parquet(spec.data).withColumn("_valid", is_valid(F.col(ID_COLUMN)))
            assembler = VectorAssembler(inputCols=list(FEATURE_NAMES), outputCol="features")
            train = assembler.transform(frame.filter(~F.col("_valid"))).select(
                "features", F.col(TARGET).cast("double").alias("label")
            ).cache()
            n_train = train.count()
            reg = spec.l2 * (n_train - 1) / n_train  # Spark standardizes by the sample std (ddof=1)
            estimator = LogisticRegression(regParam=reg, elasticNetParam=0.0, standardization=True, fitIntercept=True)
            with memory.phase("fit"):
                fit_started = time.perf_counter()
                model = estimator.fit(train)
                out["fit_s"] = time.perf_counter() - fit_started
            valid = assembler.transform(frame.filter(F.col("_valid")))
            scored = model.transform(valid).select(
                vector_to_array("probability")[1].alias("p"), F.col(TARGET).alias("y")
            ).toPandas()
            out["auc"] = roc_auc(scored["y"].to_numpy(), scored["p"].to_numpy())
            out["e2e_s"] = time.perf_counter() - started
        out.update(
            coef=model.coefficients.toArray().astype(float).tolist(),
            intercept=float(model.intercept),
            iterations=int(model.summary.totalIterations),
            n_train=int(n_train),
            reg_param=reg,
            warnings=[],
        )
    finally:
        spark.stop()
    return out
