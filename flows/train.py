"""The training flow: Parquet → preparation → distributed fit → validation → interpretation → model directory.

Each task is one call into :mod:`logreg_dist.jobs`; tasks pass paths, the
scheduler address and small dicts. Without ``scheduler`` the flow starts an
embedded LocalCluster for its duration.
"""

from __future__ import annotations

from typing import Literal

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact

from logreg_dist import jobs
from logreg_dist.cluster import embedded_or_given
from logreg_dist.outputs import check_output

from flows._retry import io_failure


@task(name="discover preparation", retries=1, retry_delay_seconds=5, retry_condition_fn=io_failure)
def prepare(options: jobs.TrainOptions, scheduler: str) -> dict:
    return jobs.prepare(options, scheduler)


@task(name="fit", retries=1, retry_delay_seconds=5, retry_condition_fn=io_failure)
def fit(options: jobs.TrainOptions, scheduler: str, preparation: dict, checkpoint: str) -> dict:
    return jobs.fit(options, scheduler, preparation, checkpoint)


@task(name="validate")
def validate(options: jobs.TrainOptions, scheduler: str, model: dict) -> dict:
    return jobs.validate(options, scheduler, model)


@task(name="short model")
def short_model(options: jobs.TrainOptions, scheduler: str, model: dict) -> dict:
    return jobs.short_model(options, scheduler, model)


@task(name="training profile")
def profile(options: jobs.TrainOptions, scheduler: str, model: dict) -> dict:
    return jobs.profile(options, scheduler, model)


@task(name="write model", retries=2, retry_delay_seconds=2, retry_condition_fn=io_failure)
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
) -> dict:
    """Train a model on ``data`` (a Parquet file, folder or glob) and write it to ``out``; return the summary."""
    check_output(out, kind="model", inputs=[data])  # before any work: out may hold only an earlier model
    options = jobs.TrainOptions(
        data=data, target=target, id_column=id_column, features=tuple(features) if features else None,
        exclude=tuple(exclude or ()), l2=l2, solver=solver, valid_fraction=valid_fraction,
        positive_label=positive_label, min_frequency=min_frequency, missing=missing, top_k=top_k,
        cost_fp=cost_fp, cost_fn=cost_fn, contact_share=contact_share, seed=seed,
    )
    logger = get_run_logger()
    with embedded_or_given(scheduler) as address:
        logger.info("Dask scheduler at %s", address)
        preparation = prepare(options, address)
        # A retry (or a rerun of the same command) resumes from the last completed iteration.
        model = fit(options, address, preparation, jobs.checkpoint_path(out))
        validation = short = None
        if valid_fraction > 0:
            validation = validate(options, address, model)
            short = short_model(options, address, model)
        distribution = profile(options, address, model)
        path = write_model(out, model, validation, short, options, distribution)
    summary = jobs.run_summary(path)
    _artifacts(summary)
    return summary


def _artifacts(summary: dict) -> None:
    metrics = summary.get("metrics")
    if metrics:
        create_table_artifact(
            key="validation-metrics",
            table=[{"metric": k, "value": v} for k, v in metrics.items()],
            description="Validation metrics of the full model (AUC with its DeLong 95% CI).",
        )
    create_table_artifact(
        key="coefficients",
        table=summary["coefficients"],
        description="Coefficients ranked by |standardized coefficient|, with standard errors and odds ratios.",
    )
