"""The rescoring flow: score the whole customer base with a registered model, on a schedule.

``rescore(model, data, out)`` scores every row (on the Dask cluster, or in
this process for small data without a scheduler) and replaces ``out`` whole (Parquet plus ``_summary.json``); the run summary is
also published as Prefect artifacts. :func:`serve` runs it on a cron
schedule with ``prefect.serve`` (no work pool needed); users with work pools
deploy it with ``prefect deploy`` from ``prefect.yaml``.
"""

from __future__ import annotations

from prefect import flow, get_run_logger, serve as prefect_serve, task
from prefect.schedules import Cron
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from logreg_dist import jobs
from logreg_dist.outputs import check_output

from flows._retry import io_failure


@task(name="score", cache_policy=NO_CACHE, retries=1, retry_delay_seconds=10, retry_condition_fn=io_failure)
def score(model: str, data: str, out: str, client, id_column: str | None, reasons: int | None,
          reasons_down: int | None, reason_values: bool, allow_empty: bool) -> dict:
    return jobs.score(model, data, out, client, id_column, reasons, reasons_down, reason_values, allow_empty)


@flow(name="rescore", log_prints=True)
def rescore(model: str, data: str, out: str, id_column: str | None = None, scheduler: str | None = None,
            reasons: int | None = None, reasons_down: int | None = None, reason_values: bool = False,
            allow_empty: bool = False) -> dict:
    """Score ``data`` (Parquet file, folder or glob) with ``model`` (a model directory or ``registry/latest``) into ``out``;
    with ``reasons`` (``reasons_down``), each row also gets the inputs that raise (lower) its log-odds most, and with
    ``reason_values`` each reason's input value as text. Data without rows fails the run and leaves ``out`` as it
    was, unless ``allow_empty``."""
    check_output(out, kind="scores", inputs=[data, model])  # before any work: out may hold only earlier scores
    # The model and the data's columns before a cluster starts: a scheduled run whose data is not there fails in
    # one line, not after starting workers.
    jobs.check_score_inputs(model, data, id_column, reasons, reasons_down, reason_values)
    logger = get_run_logger()
    with jobs.client_for(data, scheduler) as client:
        logger.info("working %s", "in this process" if client is None else f"on the Dask cluster at {client.scheduler.address}")
        summary = score(model, data, out, client, id_column, reasons, reasons_down, reason_values, allow_empty)
    _artifacts(summary)
    logger.info("scored %s rows with model version %s into %s", f"{summary['rows']:,}", summary["model_version"], out)
    return summary


def _artifacts(summary: dict) -> None:
    create_table_artifact(key="rescore-deciles", table=summary["deciles"], description="Rows scored per training score decile.")
    flagged = ", ".join(summary["flagged"]) or "none"
    create_markdown_artifact(
        key="rescore-summary",
        markdown=(
            f"**{summary['rows']:,} rows scored** with model version `{summary['model_version']}` into `{summary['out']}`\n\n"
            f"- above the model's threshold: {summary['above_threshold']}\n"
            f"- PSI of the score: {summary['score_psi']}\n"
            f"- inputs with PSI > 0.2: {flagged}\n"
            f"- levels unseen in training: {summary['unseen_levels'] or 'none'}\n"
            f"- gaps in numeric columns complete in training: {summary['imputed'] or 'none'}\n"
            + (f"- of which filled from the columns they are collinear with in training (the rest at the training "
               f"mean): {summary['imputed_from']}\n" if summary.get("imputed_from") else
               "- (scored at the training mean)\n" if summary["imputed"] else "")
            + (f"- rows scored within 1e-6 of 0 or 1: {summary['extreme_scores']:,}\n"
               if summary.get("extreme_scores") else "")
            + f"- gaps in text columns complete in training, scored as the reference level: "
            f"{summary.get('missing_text') or 'none'}\n"
            + (f"- rows per input as the first reason: {summary['top_reasons']}\n" if summary.get("top_reasons") else "")
        ),
    )


def serve(*, model: str, data: str, out: str, cron: str, id_column: str | None = None, scheduler: str | None = None,
          name: str = "nightly-rescore", timezone: str = "UTC", reasons: int | None = None,
          reasons_down: int | None = None, reason_values: bool = False, allow_empty: bool = False) -> None:
    """Serve the rescoring flow with its cron schedule until interrupted."""
    deployment = rescore.to_deployment(
        name=name,
        schedules=[Cron(cron, timezone=timezone)],
        parameters={"model": model, "data": data, "out": out, "id_column": id_column, "scheduler": scheduler,
                    "reasons": reasons, "reasons_down": reasons_down, "reason_values": reason_values,
                    "allow_empty": allow_empty},
    )
    prefect_serve(deployment)
