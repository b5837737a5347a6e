"""The training flow: Parquet → preparation → fit → validation → interpretation → model directory.

The data is read once: the training and validation rows stay where they
were read (on the Dask workers, or in this process for small data without a
scheduler), and every task is one library call over them
(:class:`logreg_dist.training.TrainingRows`). Tasks pass that handle and
small dicts; what they share is the rows in memory, not files. Without
``scheduler`` the flow starts an embedded LocalCluster for its duration when
the data is large enough to need one.
"""

from __future__ import annotations

from typing import Literal

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.futures import wait

from logreg_dist import jobs
from logreg_dist.outputs import check_output
from logreg_dist.training import TrainingRows

from flows._retry import io_failure

@task(name="read data", cache_policy=NO_CACHE, retries=1, retry_delay_seconds=5, retry_condition_fn=io_failure)
def read(options: jobs.TrainOptions, client) -> TrainingRows:
    return jobs.read(options, client)


@task(name="discover preparation", cache_policy=NO_CACHE)
def prepare(rows: TrainingRows, options: jobs.TrainOptions) -> dict:
    return jobs.prepare(rows, options)


@task(name="fit", cache_policy=NO_CACHE, retries=1, retry_delay_seconds=5, retry_condition_fn=io_failure)
def fit(rows: TrainingRows, options: jobs.TrainOptions, preparation: dict, checkpoint: str) -> dict:
    return jobs.fit(rows, options, preparation, checkpoint)


@task(name="validate", cache_policy=NO_CACHE)
def validate(rows: TrainingRows, options: jobs.TrainOptions, model: dict) -> dict:
    return jobs.validate(rows, options, model)


@task(name="short model", cache_policy=NO_CACHE)
def short_model(rows: TrainingRows, options: jobs.TrainOptions, model: dict) -> dict:
    return jobs.short_model(rows, options, model)


@task(name="training profile", cache_policy=NO_CACHE)
def profile(rows: TrainingRows, model: dict) -> dict:
    return jobs.profile(rows, model)


@task(name="write model", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2, retry_condition_fn=io_failure)
def write_model(out: str, model: dict, validation: dict | None, short: dict | None, options: jobs.TrainOptions,
                distribution: dict) -> str:
    return jobs.write_model(out, model, validation, short, options, distribution)


@flow(name="train", log_prints=True)
def train(
    data: str,
    target: str,
    out: str,
    id_column: str | None = None,
    features: list[str] | None = None,
    exclude: list[str] | None = None,
    l2: float = 0.0,
    alpha: float | Literal["auto"] | None = None,
    l1_ratio: float = 0.0,
    cv: int | None = None,
    n_alphas: int = 20,
    alpha_rule: Literal["min", "1se"] = "min",
    short_ranking: Literal["strongest", "lasso"] = "strongest",
    solver: Literal["auto", "newton", "lbfgs"] = "auto",
    valid_fraction: float = 0.2,
    positive_label: str | None = None,
    min_frequency: float | None = None,
    missing: Literal["impute", "error"] = "impute",
    top_k: int = 3,
    cost_fp: float | None = None,
    cost_fn: float | None = None,
    contact_share: float | None = None,
    seed: int = 0,
    scheduler: str | None = None,
    max_iter: int = 100,
) -> dict:
    """Train a model on ``data`` (a Parquet file, folder or glob) and write it to ``out``; return its headline (:func:`~logreg_dist.jobs.model_headline`)."""
    check_output(out, kind="model", inputs=[data])  # before any work: out may hold only an earlier model
    options = jobs.TrainOptions(
        data=data, target=target, id_column=id_column, features=tuple(features) if features else None,
        exclude=tuple(exclude or ()), l2=l2, alpha=alpha, l1_ratio=l1_ratio, cv=cv, n_alphas=n_alphas,
        alpha_rule=alpha_rule, short_model=short_ranking, solver=solver, valid_fraction=valid_fraction,
        positive_label=positive_label, min_frequency=min_frequency, missing=missing, top_k=top_k,
        cost_fp=cost_fp, cost_fn=cost_fn, contact_share=contact_share, seed=seed, max_iter=max_iter,
    )
    logger = get_run_logger()
    with jobs.client_for(data, scheduler) as client:
        logger.info("working %s", "in this process" if client is None else f"on the Dask cluster at {client.scheduler.address}")
        rows = read(options, client)
        try:
            preparation = prepare(rows, options)
            # A retry (or a rerun of the same command) resumes from the last completed iteration.
            model = fit(rows, options, preparation, jobs.checkpoint_path(out))
            # Validation, the short model and the profile need only the model and the rows: run side by side, one's
            # passes fill the cores while another ranks or sorts in this process.
            after = {"profile": profile.submit(rows, model)}
            if valid_fraction > 0:
                after.update(validation=validate.submit(rows, options, model),
                             short=short_model.submit(rows, options, model))
            wait(list(after.values()))  # all of them, before the rows go
            results = {name: future.result() for name, future in after.items()}
        finally:
            rows.close()
    path = write_model(out, model, results.get("validation"), results.get("short"), options, results["profile"])
    headline = jobs.model_headline(path)
    _artifacts(headline)
    return headline


def _artifacts(headline: dict) -> None:
    metrics = headline.get("metrics")
    if metrics:
        create_table_artifact(
            key="validation-metrics",
            table=[{"metric": k, "value": v} for k, v in metrics.items()],
            description="Validation metrics of the full model (AUC with its DeLong 95% CI).",
        )
    create_table_artifact(
        key="coefficients",
        table=headline["coefficients"],
        description="Coefficients ranked by |standardized coefficient|, with standard errors and odds ratios.",
    )
