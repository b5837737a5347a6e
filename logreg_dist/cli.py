"""The ``logreg-dist`` command: thin wrappers over the library and the flows."""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import logging
import math
import os
import re
import signal
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

from . import __version__
from ._interrupts import Interrupted, raise_on_signals
from ._local_prefect import LocalPrefectServer, drain_prefect
from .exceptions import InputError, LogregDistError
from .outputs import check_output

logger = logging.getLogger("logreg_dist")

DEMO_ROWS = 1_000_000
DEMO_POSITIVES = 4_300  # the lookalike case's 0.43 %


def _lookalike_positives(rows: int) -> int:
    """The lookalike case's share of positives (18,000 of 4.2 million, 0.43 %) among ``rows`` customers."""
    return max(1, round(rows * 18_000 / 4_200_000))


def _generate(args) -> int:
    from .synth import generate

    check_output(args.out, kind="generated")
    started = time.perf_counter()
    # Without --positives the lookalike's share (0.43 %) at any --rows: a fixed count was 36 % of 50,000 rows, and
    # more than 10,000.
    positives = args.positives if args.positives is not None else _lookalike_positives(args.rows)
    model = generate(args.out, rows=args.rows, positives=positives, partitions=args.partitions, seed=args.seed)
    print(
        f"wrote {args.rows:,} customers ({len(model.feature_names)} features, target 'converted', id 'customer_id') "
        f"to {args.out} in {time.perf_counter() - started:.1f} s; planted strongest features: {', '.join(model.strongest)}"
    )
    return 0


def _demo(args) -> int:
    from .cluster import embedded_or_given
    from .registry import register
    from .synth import ID_COLUMN, TARGET, generate

    workdir = Path(args.workdir)
    base = workdir / "customer-base"
    for name, kind in (("model", "model"), ("registry", "registry"), ("scores", "scores")):
        check_output(workdir / name, kind=kind, inputs=[base])  # all three before the data is generated
    if not base.exists():
        print(f"generating a customer base of {args.rows:,} rows in {base} ...", flush=True)
        generate(base, rows=args.rows, positives=max(1, round(args.rows * DEMO_POSITIVES / DEMO_ROWS)), seed=0)
    with _prefect() as server, embedded_or_given(args.scheduler) as address:
        from flows.rescore import rescore
        from flows.train import train

        _connect(server)
        summary = train(
            data=str(base), target=TARGET, id_column=ID_COLUMN, out=str(workdir / "model"), l2=args.l2,
            cost_fp=1.0, cost_fn=40.0, scheduler=address,
        )
        _print_headline(summary)
        version = register(summary["model_dir"], workdir / "registry")
        print(f"registered as version {version} in {workdir / 'registry'}")
        scored = rescore(model=str(workdir / "registry" / "latest"), data=str(base), out=str(workdir / "scores"),
                         scheduler=address)
    _print_rescore(scored)
    print(f"report: {summary['report']}")
    return 0


def _names(text: str | None) -> list[str] | None:
    return [name.strip() for name in text.split(",") if name.strip()] if text else None


@contextlib.contextmanager
def _prefect(*, scheduler: bool = False) -> Iterator:
    """Prefect for one command: its settings before it is imported, and its temporary server started now, so that
    the server starts while the command imports (see :mod:`logreg_dist._local_prefect`); :func:`_connect` waits for
    it before the flow runs. The server stops when the block ends; ``scheduler`` runs its services (serve's cron)."""
    os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "logreg_dist")  # our solver log in the run's log
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO")
    os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")
    # Prefect gives its temporary server 20 s to start; on a busy machine it needs more, and failing costs the run.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    logger.setLevel(logging.INFO)
    server = LocalPrefectServer.unless_configured(quiet=not _console_filter.verbose, scheduler=scheduler)
    try:
        yield server
    finally:
        if server is not None:
            server.stop()


def _connect(server) -> None:
    """Import what a flow run would import on first use, then wait for the temporary Prefect server, if the command
    started one: the server starts on the other core meanwhile, so these imports cost no wall time."""
    import distributed  # noqa: F401
    import prefect.flow_engine  # noqa: F401
    import prefect.task_engine  # noqa: F401
    import prefect.utilities.visualization  # noqa: F401
    from fastapi.encoders import jsonable_encoder  # noqa: F401  (Prefect encodes flow parameters with it)

    from . import _estimator  # noqa: F401

    if server is not None:
        server.connect(timeout=float(os.environ["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"]))


def _check_columns(args) -> None:
    """The columns the command names exist and can be used, from the files' schemas alone: a typo is reported in a
    second, not after the server and the cluster have started."""
    from .prepare import plan_columns
    from .tables import read_table

    plan_columns(dict(read_table(args.data).dtypes.items()), target=args.target, id_column=args.id_column,
                 features=_names(args.features), exclude=_names(args.exclude) or ())


def _train_options(args):
    """The run's options, checked while Prefect's server starts and before the cluster does (a bad choice costs a
    second, not ten); a refusal names them as the command spells them."""
    from .jobs import _PENALTY_FIELDS, TrainOptions

    try:
        return TrainOptions(
            data=args.data, target=args.target, id_column=args.id_column, features=_names(args.features),
            exclude=tuple(_names(args.exclude) or ()), l2=args.l2, alpha=args.alpha, l1_ratio=args.l1_ratio,
            cv=args.cv, n_alphas=args.n_alphas, alpha_rule=args.alpha_rule, short_model=args.short_model,
            solver=args.solver, valid_fraction=args.valid_fraction, positive_label=args.positive_label,
            min_frequency=args.min_frequency, missing=args.missing, top_k=args.top_k, cost_fp=args.cost_fp,
            cost_fn=args.cost_fn, contact_share=args.contact_share, seed=args.seed, max_iter=args.max_iter,
        )
    except ValueError as error:
        raise ValueError(_as_options(str(error), _PENALTY_FIELDS)) from None


#: The parameters the library's warnings advise on, written as the train command's options in them; names that are
#: also English words ("missing", "solver") are left alone in free text.
OPTIONS_IN_ADVICE = ("l2", "alpha", "l1_ratio", "max_iter", "min_frequency")


def _as_options(message: str, names) -> str:
    """``message`` with each of ``names`` (a Python name such as ``l1_ratio``) written as its option (``--l1-ratio``),
    and ``name=value`` as ``--name value``: the words the user typed."""
    for name in sorted(names, key=len, reverse=True):
        option = "--" + name.replace("_", "-")
        message = re.sub(rf"(?<![-\w]){name}=('[^']*'|[^,;\s]*?)(?=,|;|\.$|\s|$)",
                         lambda m: f"{option} {m.group(1).strip(chr(39))}", message)
        message = re.sub(rf"(?<![-\w]){name}(?![-\w])", option, message)
    return message


def _alpha(text: str):
    """``--alpha``: a number >= 0, or ``auto``."""
    if text == "auto":
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0 or 'auto', got {text!r}") from None


def _column(text: str) -> str:
    """A column name (``--id-column``, ``--target``): not empty, as an unset shell variable would leave it."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a column name, got an empty one")
    return text


def _train(args) -> int:
    with _prefect() as server:
        # While the server starts: the options, the output folder and the data's columns are checked (a bad choice
        # stops the server it started and costs a second).
        _train_options(args)
        check_output(args.out, kind="model", inputs=[args.data])
        _check_columns(args)
        from flows.train import train

        _connect(server)
        summary = train(
            data=args.data, target=args.target, out=args.out, id_column=args.id_column, features=_names(args.features),
            exclude=_names(args.exclude), l2=args.l2, alpha=args.alpha, l1_ratio=args.l1_ratio, cv=args.cv,
            n_alphas=args.n_alphas, alpha_rule=args.alpha_rule, short_ranking=args.short_model, solver=args.solver,
            valid_fraction=args.valid_fraction,
            positive_label=args.positive_label, min_frequency=args.min_frequency, missing=args.missing,
            top_k=args.top_k, cost_fp=args.cost_fp, cost_fn=args.cost_fn, contact_share=args.contact_share,
            seed=args.seed, scheduler=args.scheduler, max_iter=args.max_iter,
        )
    _print_headline(summary)
    return 0


def _print_headline(summary: dict) -> None:
    print(f"model written to {summary['model_dir']}")
    penalty = summary.get("penalty") or {}
    over = f" over the path's {penalty['n_alphas']} penalties" if penalty.get("n_alphas") else ""
    print(
        f"trained on {summary['rows']:,} rows ({summary['positives']:,} positives: {summary['target']} = "
        f"{summary['positive_label']!r}) with {summary['solver']}: "
        f"{summary['n_iter']} iterations{over}, converged={summary['converged']}, fit {summary['fit_seconds']:.1f} s"
    )
    if penalty.get("chosen_by"):
        held_out = next((f"{k.replace('_', ' ')} {penalty[k]:.4f}" for k in ("valid_deviance", "cv_deviance")
                         if penalty.get(k) is not None), "")
        if penalty.get("cv_auc") is not None:  # with no validation rows, the only measure of the model's ranking
            held_out += f", cv AUC {penalty['cv_auc']:.4f}"
        print(f"penalty alpha {penalty['alpha']:.4g} (l1_ratio {penalty['l1_ratio']:g}), one of {penalty['n_alphas']} "
              f"on the path, chosen by {penalty['chosen_by']} ({held_out})"
              + (f"; {penalty['nonzero']} nonzero coefficients" if penalty["l1_ratio"] else ""))
        if penalty.get("not_converged"):
            print(f"{penalty['not_converged']} of the path's {penalty['n_alphas']} penalties did not converge (on every "
                  "training row, or in a fold): the report marks them, and none of them could be chosen")
        if penalty.get("smallest"):
            print("the chosen penalty is the path's smallest: a smaller one may fit the held-out rows better "
                  "(give it with --alpha)")
        if penalty.get("largest") and penalty.get("nonzero"):
            other = " (or --alpha-rule min)" if "standard-error" in penalty.get("chosen_by", "") else ""
            print("the chosen penalty is the path's largest: every coefficient is shrunk nearly to zero and the "
                  f"model scores everyone close to the base rate; the held-out rows support no smaller penalty{other}")
    elif penalty.get("l1_ratio"):
        print(f"penalty alpha {penalty['alpha']:.4g} (l1_ratio {penalty['l1_ratio']:g}): "
              f"{penalty['nonzero']} nonzero coefficients")
    if penalty.get("l1_ratio") and penalty.get("nonzero") == 0:
        other = ", or --alpha-rule min," if "standard-error" in penalty.get("chosen_by", "") else ""
        print(f"every coefficient is zero: the model gives every customer the base rate (a smaller --alpha{other} "
              "lets features in)")
    separation = summary.get("separation")
    if separation:
        from ._separation import rules_text

        print(f"separation: {rules_text(separation)}; their standard errors are not meaningful, and rows with these values score near 0 or 1 (--alpha auto "
              "chooses a penalty, or set --l2 > 0)")
    metrics = summary.get("metrics")
    if metrics:
        low, high = metrics["auc_ci"]
        calibration = metrics.get("calibration")
        print(
            f"validation AUC {metrics['auc']:.4f} (95% CI {low:.4f} to {high:.4f}) on {metrics['n_rows']:,} rows "
            f"({metrics['n_positives']:,} positives); log-loss {metrics['log_loss']:.4f}, Brier {metrics['brier']:.5f}"
            + (f", calibration slope {calibration['slope']:.2f}" if calibration else "")
        )
        chosen = "--alpha-rule min, or a smaller --alpha" if "standard-error" in penalty.get("chosen_by", "") else \
            "a smaller --l2 or --alpha, or let --alpha auto choose it"
        _print_miscalibration(calibration, "validation rows", {
            "compressed": f"the penalty shrinks the coefficients more than the held-out rows support; try {chosen}",
            "extreme": "the model fits noise in the training rows; raise the penalty or let --alpha auto choose it, "
                       "or fold rare levels (--min-frequency)"})
    else:  # --valid-fraction 0: nothing held out to measure or report on
        shows = "coefficients and the path" if penalty.get("chosen_by") else "coefficients"
        print(f"no validation rows (--valid-fraction 0): no metrics.json or threshold, and report.html shows the "
              f"{shows} only; 'logreg-dist evaluate' measures the model on held-out data")
    short = summary.get("short_model")
    if short and short.get("auc") is not None:
        every = (f" (--top-k {short['top_k']} is more than the {len(short['features'])} inputs the model uses: all "
                 "of them)" if short.get("top_k") else "")
        print(f"short model on {', '.join(short['features'])}{every}: validation AUC {short['auc']:.4f}")
        if metrics and short["auc"] > metrics["auc_ci"][1]:
            # Fewer inputs scoring the held-out rows better, beyond the full model's interval: the full model fits
            # noise (many levels, or a weak penalty, against few positives).
            advice = "fold rare levels (--min-frequency) or raise the penalty" if penalty.get("chosen_by") else \
                "let the held-out rows choose a penalty (--alpha auto), or fold rare levels (--min-frequency)"
            print(f"the short model scores the validation rows better than the full model (AUC {short['auc']:.4f} "
                  f"against {metrics['auc']:.4f}): the full model fits noise in the training rows; {advice}")
    threshold = summary.get("threshold")
    if threshold and threshold.get("contacts_nobody"):
        print(
            f"threshold: contacting nobody is cheapest at cost_fp={threshold['cost_fp']:g}, "
            f"cost_fn={threshold['cost_fn']:g} (no score is high enough for a contact to pay); give the real costs "
            "with --cost-fp/--cost-fn, or --contact-share"
        )
    elif threshold:
        from .metrics import score_text  # NumPy and SciPy: imported where needed, so that --help stays quick

        print(
            f"threshold {score_text(threshold['threshold'])}: contacts {threshold['share_contacted']:.2%} of customers, "
            f"precision {threshold['precision']:.3f}, recall {threshold['recall']:.3f}"
        )
    # An L1 penalty's zeros rank nothing; a separated coefficient is only where the solver stopped (all of them are,
    # after a perfect prediction: then they are listed).
    nonzero = [row for row in summary["coefficients"] if row["coef"] != 0.0]
    strongest = ([row for row in nonzero if not row.get("separated")] or nonzero)[:5]
    print("strongest features:" if strongest else "strongest features: none (every coefficient is zero)")
    for row in strongest:
        # A level's odds ratio compares it with its column's reference level; a numeric feature's is per SD.
        # A missing indicator's is that of a row with the gap against one without: its coefficient, exponentiated.
        reference, indicator = row.get("reference"), str(row["feature"]).endswith("__missing")
        ratio = row["odds_ratio"] if reference else math.exp(row["coef"]) if indicator else row["odds_ratio_per_sd"]
        which = f"against {reference}" if reference else "when missing" if indicator else "per SD"
        print(f"  {row['rank']:>2}. {row['feature']:<30} coef {row['coef']:+.4g}  odds ratio {which} "
              f"{ratio if ratio is None else f'{ratio:.4g}'}")
    if summary.get("report"):
        print(f"report: {summary['report']}")


def _print_miscalibration(calibration: dict | None, rows: str, why: dict) -> None:
    """One line when the calibration slope says the probabilities cannot be read as rates (``why``: the likely cause
    and the remedy, by :func:`~logreg_dist.metrics.miscalibration`'s verdict)."""
    from .metrics import miscalibration

    verdict = miscalibration(calibration)
    if verdict is None:
        return
    low, high = calibration["slope_ci"]
    what = ("too close to the base rate (the riskiest customers' too low, the safest customers' too high)"
            if verdict == "compressed" else
            "too extreme (the riskiest customers' too high, the safest customers' too low)")
    print(f"calibration: on the {rows} the probabilities are {what} (slope {calibration['slope']:.2f}, 95% CI "
          f"{low:.2f} to {high:.2f}, where 1 is calibrated); they still rank customers (the AUC), but are not rates. "
          f"{why[verdict][0].upper()}{why[verdict][1:]}")


def _evaluate(args) -> int:
    from .jobs import evaluate

    metrics = evaluate(args.model, args.data, args.target, args.scheduler)
    if args.json:
        print(json.dumps(metrics))
    else:
        low, high = metrics["auc_ci"]
        print(f"AUC {metrics['auc']:.4f} (95% CI {low:.4f} to {high:.4f}) on {metrics['n_rows']:,} rows ({metrics['n_positives']:,} positives)")
        print(f"log-loss {metrics['log_loss']:.5f}  Brier {metrics['brier']:.5f}  average precision {metrics['average_precision']:.4f}")
        calibration = metrics.get("calibration")
        if calibration:
            low, high = calibration["slope_ci"]
            print(f"calibration slope {calibration['slope']:.3f} (95% CI {low:.3f} to {high:.3f}), intercept "
                  f"{calibration['intercept']:.3f} (1 and 0 when the probabilities are rates)")
        _print_miscalibration(calibration, "rows of this data", {
            "compressed": "likely causes: a penalty too strong, or customers unlike the training rows (drift); "
                          "retrain on recent data",
            "extreme": "likely causes: a model that fits noise in its training rows, or customers unlike them "
                       "(drift); retrain with a stronger penalty or on recent data"})
    return 0


def _score(args) -> int:
    check_output(args.out, kind="scores", inputs=[args.data, args.model])  # before Prefect and the cluster start
    with _prefect() as server:
        from .jobs import check_score_inputs

        # While the server starts: the model, the data's columns and the reasons asked for are checked.
        check_score_inputs(args.model, args.data, args.id_column, args.reasons, args.reasons_down,
                           args.reason_values)
        from flows.rescore import rescore

        _connect(server)
        summary = rescore(model=args.model, data=args.data, out=args.out, id_column=args.id_column,
                          scheduler=args.scheduler, reasons=args.reasons, reasons_down=args.reasons_down,
                          reason_values=args.reason_values, allow_empty=args.allow_empty)
    _print_rescore(summary)
    return 0


def _share_text(count: int, total: int) -> str:
    """``count / total`` as a percentage a reader can tell from 0 and 100: 2 decimals, '<0.01%' or '>99.99%'."""
    share = count / max(total, 1)
    if 0 < share < 5e-5:
        return "<0.01%"
    return ">99.99%" if 1 - 5e-5 < share < 1 else f"{share:.2%}"


def _print_rescore(summary: dict) -> None:
    from .metrics import score_text

    print(f"scored {summary['rows']:,} rows with model version {summary['model_version']} into {summary['out']}")
    if summary["above_threshold"] is not None:
        above = f"{summary['above_threshold']:,} ({_share_text(summary['above_threshold'], summary['rows'])})"
        if summary.get("contacts_nobody"):
            print(f"threshold: at the model's costs contacting nobody was cheapest; {above} score above every "
                  f"validation score (at or above {score_text(summary['threshold'])})")
        else:
            print(f"{above} are at or above the model's threshold {score_text(summary['threshold'])}")
    print("rows per training score decile: " + ", ".join(f"{d['decile']}: {d['rows']:,}" for d in summary["deciles"]))
    if summary["score_psi"] is not None:
        print(f"PSI of the score {summary['score_psi']:.4f}; inputs flagged for drift (PSI > 0.2 and above what chance "
              f"gives on {summary['rows']:,} rows): {', '.join(summary['flagged']) or 'none'}")
    if summary.get("duplicate_ids"):
        print(f"ids on more than one row: {summary['duplicate_ids']:,} (every row was scored)")
    if summary["unseen_levels"]:
        print(f"levels unseen in training (scored as the reference level): {summary['unseen_levels']}")
    if summary.get("imputed"):
        from .scoring import gaps_by_kind

        filled, at_mean = gaps_by_kind(summary["imputed"], summary.get("imputed_from"))

        def how(name):
            by = f"filled from {', '.join(summary['imputed_from'][name]['from'])}" if name in filled else ""
            if name not in at_mean:
                return by
            return f"{filled[name]:,} {by}, {at_mean[name]:,} at the training mean" if by else "at the training mean"

        print("gaps in numeric columns complete in training: "
              + ", ".join(f"{name} {n:,} ({how(name)})" for name, n in summary["imputed"].items()))
    if summary.get("extreme_scores"):
        print(f"rows scored within 1e-6 of 0 or 1: {summary['extreme_scores']:,}"
              + (" (by the model's separated features: retrain with --alpha auto)" if summary.get("separated") else ""))
    if summary.get("missing_text"):
        print(f"gaps in text columns complete in training (scored as the reference level): {summary['missing_text']}")
    if summary.get("top_reasons"):
        top = list(summary["top_reasons"].items())
        print("first reason (reason_1): " + ", ".join(f"{name} {rows:,}" for name, rows in top[:5])
              + (f", and {len(top) - 5} more input{'s' if len(top) > 6 else ''}" if len(top) > 5 else ""))
    from .storage import join, published

    print(f"summary: {join(published(summary['out']), '_summary.json')}")  # through the pointer on object storage


def _register(args) -> int:
    from .model import load_model
    from .registry import changes_from_latest, latest, register, resolve
    from .storage import join

    check_output(args.registry, kind="registry", inputs=[args.model])
    changes = changes_from_latest(load_model(resolve(args.model)), args.registry)
    version = register(args.model, args.registry)
    pointer = f"{join(str(args.registry), 'latest')} -> {latest(args.registry)}"
    same = f" (the same model as version {changes['latest']})" if changes["identical"] else ""
    print(f"registered {args.model} as version {version} in {args.registry}{same}; {pointer}")
    # What a schedule rescoring latest will need from its data from now on.
    if changes["added"] or changes["dropped"]:
        print(f"inputs changed from version {changes['latest']}: "
              + "; ".join(f"{what} {names}" for what, names in (("added", changes["added"]),
                                                                 ("dropped", changes["dropped"])) if names)
              + (" (the data a served rescore reads must hold the added columns)" if changes["added"] else ""))
    if changes["id_column"]:
        before, after = changes["id_column"]
        print(f"id column changed from version {changes['latest']}: {before!r} -> {after!r} (a served rescore "
              "without --id-column reads the new one)")
    if changes["contact"]:
        print(f"version {changes['latest']} had a threshold and this one has none (trained without validation rows):"
              " a served rescore writes no 'contact' column from now on" if changes["contact"][0] else
              f"this version has a threshold and version {changes['latest']} had none: a served rescore writes a "
              "'contact' column from now on")
    return 0


def _versions(args) -> int:
    from .model import load_model
    from .registry import latest, versions
    from .storage import is_url, join

    numbers = versions(args.registry)
    if not numbers and not is_url(args.registry):
        where = Path(args.registry)
        if (where / "model.json").exists():
            raise InputError(f"{args.registry} is a model directory, not a registry: logreg-dist register "
                             f"{args.registry} --registry REGISTRY adds it to one as its next version.")
        if not where.exists():
            raise InputError(f"there is no registry at {args.registry}: logreg-dist register MODEL --registry "
                             f"{args.registry} makes one.")
    if not numbers:
        raise InputError(f"{args.registry} holds no registered version (logreg-dist register MODEL --registry "
                         f"{args.registry} adds one).")
    current = latest(args.registry)
    print(f"{args.registry}: {len(numbers)} versions, latest -> {current}")
    print(f"  {'version':>7}  {'trained':<25} {'target':<24} {'inputs':>6}  {'valid. AUC':>10}  penalty")
    for number in numbers:
        model = load_model(join(str(args.registry), str(number)) if is_url(args.registry)
                           else Path(args.registry) / str(number))
        auc = (model.metrics or {}).get("auc")
        cv = model.path["points"][model.path["chosen"]].get("cv_auc") if model.path else None
        # Trained on every row, a model has no validation AUC: the folds' at the chosen penalty is marked as theirs.
        auc = "-" if auc is None and cv is None else f"{cv:.4f} cv" if auc is None else f"{auc:.4f}"
        penalty = f"l2 {model.l2:g}" if model.alpha is None else f"alpha {model.alpha:.4g}, l1_ratio {model.l1_ratio:g}"
        target = f"{model.preparation.target} = {model.preparation.positive_label}"
        print(f"{'*' if number == current else ' '} {number:>7}  {model.training.get('trained_at') or '-':<25} "
              f"{target:<24} {len(model.preparation.inputs):>6}  {auc:>10}  "
              f"{penalty}")
    print(f"roll back to version N: logreg-dist register {join(str(args.registry), 'N')} --registry {args.registry}")
    return 0


def _serve(args) -> int:
    from .jobs import check_score_inputs

    from .scoring import check_reason_values

    check_reason_values(args.reason_values, args.reasons, args.reasons_down)  # needs no model: refused now
    check_output(args.out, kind="scores", inputs=[args.data, args.model])  # refused now, not at 02:00
    _check_schedule(args.cron, args.timezone)
    # What can be checked now is, not at the first run: the model and the data may also appear later (a model
    # registered after the deployment is served, tonight's extract), so their absence is said, not refused.
    model, data = _exists(args.model), _exists(args.data)
    if model:
        check_score_inputs(args.model, args.data if data else None, args.id_column, args.reasons, args.reasons_down,
                           args.reason_values)
    for name, path, found in (("model", args.model, model), ("data", args.data, data)):
        if not found:
            print(f"logreg-dist serve: warning: there is no {name} at {path} yet: every run fails until there is",
                  file=sys.stderr, flush=True)
    with _prefect(scheduler=True) as server:
        from flows.rescore import serve

        _connect(server)
        if server is not None and server.connected:
            print(f"no Prefect API is configured (PREFECT_API_URL): runs are scheduled by a local Prefect server at "
                  f"{server.api_url}, for as long as this command serves", flush=True)
        return _serve_until_stopped(serve, args)


def _exists(path: str) -> bool:
    """Whether ``path`` (a path or an fsspec URL, a file, a folder or a glob) names something now, as the reader
    resolves it."""
    from .tables import _matches

    return bool(_matches(path, None)[1])


def _check_schedule(cron: str, timezone: str) -> None:
    """Refuse a cron expression or a time zone that Prefect would refuse only once serving."""
    import zoneinfo

    from prefect.schedules import Cron

    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise InputError(f"--timezone {timezone!r} is not a time zone; give an IANA name such as 'UTC' or "
                         "'Europe/Berlin'.") from None
    try:
        Cron(cron, timezone=timezone)
    except ValueError as error:
        raise InputError(f"--cron {cron!r} is not a cron schedule ({error}); e.g. '0 2 * * *' is nightly at 02:00.") \
            from None


def _serve_until_stopped(serve, args) -> int:
    from .storage import is_url

    # The deployment keeps its parameters on the Prefect server: local paths are made absolute, so that a run does
    # not depend on the folder it happens to start in.
    for name in ("model", "data", "out"):
        value = getattr(args, name)
        if not is_url(value):
            setattr(args, name, os.path.abspath(value))
    name = args.name or "rescore-" + (re.sub(r"[^A-Za-z0-9_.-]+", "-", str(args.out).rstrip("/").rsplit("/", 1)[-1])
                                      or "scores")
    print(f"serving the rescoring flow on cron {args.cron!r} as deployment 'rescore/{name}': {args.model} x "
          f"{args.data} -> {args.out} (Ctrl-C stops)", flush=True)
    try:
        with warnings.catch_warnings():
            # On SIGTERM, Prefect 3.8.8's runner calls its async stop() without awaiting it (it stops anyway).
            warnings.filterwarnings("ignore", "coroutine 'Runner.astop' was never awaited", RuntimeWarning)
            serve(model=args.model, data=args.data, out=args.out, cron=args.cron, id_column=args.id_column,
                  scheduler=args.scheduler, name=name, timezone=args.timezone, reasons=args.reasons,
                  reasons_down=args.reasons_down, reason_values=args.reason_values, allow_empty=args.allow_empty)
    except SystemExit as stop:
        # Prefect's runner takes SIGTERM over from us while it serves, stops, and calls sys.exit(0).
        raise Interrupted(signal.SIGTERM) from stop
    return 0


def _scoring_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("--reasons", type=int, default=None, metavar="K",
                         help="add the K inputs that raise each customer's log-odds most (reason_1, ...; where "
                              "fewer than K raise it, the last ones lower it least: see their _contribution)")
    command.add_argument("--reasons-down", type=int, default=None, metavar="K",
                         help="add the K inputs that lower it most (reason_down_1, ...)")
    command.add_argument("--reason-values", action="store_true",
                         help="with each reason, the customer's value of that input as text (reason_1_value, ...)")
    command.add_argument("--allow-empty", action="store_true",
                         help="data without rows writes an empty score output (default: refused, the previous "
                              "scores kept)")


class _Parser(argparse.ArgumentParser):
    """A bad argument is one line, as every other bad input is; the usage is one ``--help`` away. ``words`` are the
    arguments being parsed: a required option reported missing is often a mistyped one among them."""

    def __init__(self, *args, words=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.words = list(words)

    def error(self, message):
        if message.startswith("the following arguments are required: command"):
            self.print_help(sys.stderr)  # no command at all: what there is to run
        elif message.startswith("the following arguments are required"):
            message += _nearest_option(self, self.words)
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _parser(words=()) -> argparse.ArgumentParser:
    """The command line's parser; ``words``, the arguments it will parse, let an error name the option meant."""
    parser = _Parser(prog="logreg-dist", description="Distributed logistic regression on Dask.", words=words)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    verbose = dict(action="store_true", help="log each solver iteration")
    parser.add_argument("-v", "--verbose", **verbose)
    subparsers = parser.add_subparsers(dest="command", required=True,
                                       parser_class=functools.partial(_Parser, words=words))
    parser.commands = subparsers.choices  # each command's parser, by name
    # -v after the command too ("logreg-dist train ... -v"), as users type it; left unset there, the top level's holds.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", default=argparse.SUPPRESS, **verbose)

    generate = subparsers.add_parser("generate", parents=[common], help="write a synthetic lookalike customer base as Parquet")
    generate.add_argument("--rows", type=int, default=4_200_000, help="customers to write (default 4,200,000)")
    generate.add_argument("--positives", type=int, default=None,
                          help="how many of them convert (a count; default 0.43 %% of --rows)")
    generate.add_argument("--out", required=True, help="output folder (must not exist or be empty)")
    generate.add_argument("--partitions", type=int, default=None, help="files to write (default: one per 250,000 rows)")
    generate.add_argument("--seed", type=int, default=0)
    generate.set_defaults(run=_generate)

    train = subparsers.add_parser("train", parents=[common], help="train, validate and interpret a model (the Prefect flow 'train')")
    train.add_argument("data", help="Parquet file, folder or glob")
    train.add_argument("--target", required=True, type=_column, help="the column to predict: two labels, e.g. 0/1 or Yes/No")
    train.add_argument("--id-column", default=None, type=_column, help="never a feature; hashed to split train/validation")
    train.add_argument("--features", default=None, help="comma-separated columns to use (default: all others)")
    train.add_argument("--exclude", default=None, help="comma-separated columns to leave out")
    train.add_argument("--l2", type=float, default=0.0, help="ridge penalty on standardized coefficients, a "
                       "categorical level's on its own (default 0); shorthand for --alpha X --l1-ratio 0")
    train.add_argument("--alpha", type=_alpha, default=None,
                       help="elastic-net penalty strength, or 'auto': the path, chosen on the validation rows (or --cv)")
    train.add_argument("--l1-ratio", type=float, default=0.0,
                       help="share of the penalty that is L1: 0 ridge (default, as glum's), 1 lasso (selects inputs)")
    train.add_argument("--cv", type=int, default=None, help="with --alpha auto: choose by K-fold cross-validation")
    train.add_argument("--n-alphas", type=int, default=20, help="penalties on the path (default 20)")
    train.add_argument("--alpha-rule", choices=["min", "1se"], default="min",
                       help="the path's choice: least held-out deviance (default), or the largest penalty within "
                            "1 SE of it")
    train.add_argument("--short-model", choices=["strongest", "lasso"], default="strongest",
                       help="short model's inputs: largest |standardized coef|, or first to enter the lasso path")
    train.add_argument("--solver", choices=["auto", "newton", "lbfgs"], default="auto")
    train.add_argument("--valid-fraction", type=float, default=0.2, help="share of ids held out; 0 fits every row")
    train.add_argument("--positive-label", default=None)
    train.add_argument("--min-frequency", type=float, default=None, help="fold levels rarer than this (count, or share if < 1)")
    train.add_argument("--missing", choices=["impute", "error"], default="impute")
    train.add_argument("--top-k", type=int, default=3, help="features of the short model")
    train.add_argument("--cost-fp", type=float, default=None, help="cost of contacting a customer who will not convert (give --cost-fn too)")
    train.add_argument("--cost-fn", type=float, default=None, help="cost of missing a customer who would convert (give --cost-fp too)")
    train.add_argument("--contact-share", type=float, default=None, help="or: share of customers to contact")
    train.add_argument("--seed", type=int, default=0, help="of the train/validation hash")
    train.add_argument("--max-iter", type=int, default=100,
                       help="solver iterations per fit before it stops unconverged (default 100; each is a pass)")
    train.add_argument("--out", default="model", help="model directory to write (default ./model), replaced whole")
    train.add_argument("--scheduler", default=None, help="tcp://HOST:PORT (default: an embedded LocalCluster)")
    train.set_defaults(run=_train)

    evaluate = subparsers.add_parser("evaluate", parents=[common], help="metrics of a saved model on any data set")
    evaluate.add_argument("model", help="model directory")
    evaluate.add_argument("data", help="Parquet file, folder or glob")
    evaluate.add_argument("--target", default=None, help="the target column (default: the one the model was trained on)")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.add_argument("--scheduler", default=None)
    evaluate.set_defaults(run=_evaluate)

    score = subparsers.add_parser("score", parents=[common], help="score every customer with a model (the Prefect flow 'rescore', once)")
    score.add_argument("model", help="model directory, registry folder, or registry/latest")
    score.add_argument("data", help="Parquet file, folder or glob")
    score.add_argument("--out", required=True, help="output folder, replaced whole when the run completes")
    score.add_argument("--id-column", default=None, type=_column,
                       help="default: the model's id column; without one, each row's position in the data ('row')")
    score.add_argument("--scheduler", default=None)
    _scoring_options(score)
    score.set_defaults(run=_score)

    register = subparsers.add_parser("register", parents=[common], help="add a model directory to a registry as its next version")
    register.add_argument("model", help="model directory")
    register.add_argument("--registry", required=True, help="registry folder")
    register.set_defaults(run=_register)

    versions = subparsers.add_parser("versions", parents=[common],
                                     help="list a registry's versions: when trained, target, inputs, AUC, penalty")
    versions.add_argument("registry", help="registry folder (or URL)")
    versions.set_defaults(run=_versions)

    serve = subparsers.add_parser("serve", parents=[common], help="run the rescoring flow on a cron schedule (prefect serve)")
    serve.add_argument("--model", required=True, help="e.g. registry/latest")
    serve.add_argument("--data", required=True)
    serve.add_argument("--out", required=True)
    serve.add_argument("--cron", default="0 2 * * *", help="cron schedule (default: nightly at 02:00)")
    serve.add_argument("--timezone", default="UTC")
    serve.add_argument("--name", default=None,
                       help="deployment name (default: rescore-<the output folder's name>, so that schedules writing "
                            "to different places are different deployments)")
    serve.add_argument("--id-column", default=None, type=_column,
                       help="default: the model's id column; without one, each row's position in the data ('row')")
    serve.add_argument("--scheduler", default=None, help="tcp://HOST:PORT (default: an embedded LocalCluster per run)")
    _scoring_options(serve)
    serve.set_defaults(run=_serve)

    demo = subparsers.add_parser("demo", parents=[common], help="generate a customer base, then train, validate and report on it")
    demo.add_argument("--rows", type=int, default=DEMO_ROWS)
    demo.add_argument("--workdir", default="demo-output", help="where the generated data and outputs go")
    demo.add_argument("--l2", type=float, default=1e-4)
    demo.add_argument("--scheduler", default=None, help="tcp://HOST:PORT of a running Dask scheduler")
    demo.set_defaults(run=_demo)
    return parser


def _unrecognized(parser: argparse.ArgumentParser, command: str, extra: list[str]) -> None:
    """Refuse arguments the command does not take, by the command's parser (so the advice is its ``--help``), with
    the nearest option for a mistyped one (``--traget``: did you mean ``--target``?)."""
    command_parser = parser.commands[command]
    command_parser.error(f"unrecognized arguments: {' '.join(extra)}{_nearest_option(command_parser, extra)}")


def _nearest_option(parser: argparse.ArgumentParser, words) -> str:
    """`` (--traget is not an option; did you mean --target?)`` for the first of ``words`` that is not one of
    ``parser``'s options but near one (Python 3.11's argparse suggests none), else ``""``."""
    from .prepare import closest_name  # the near-miss rule of mistyped columns (an error path: its import waits)

    options = [option for option in parser._option_string_actions if option.startswith("--")]
    for word in words:
        name = word.split("=")[0]
        if name.startswith("--") and name not in options:
            near = closest_name(name, options)
            return f" ({name} is not an option; did you mean {near}?)" if near else ""
    return ""


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit status.

    2 for bad input, with the reason in one line on stderr; 130 after SIGINT
    and 143 after SIGTERM, which leave nothing behind (see
    :mod:`logreg_dist._interrupts`); an unexpected exception, a bug, is
    raised after one line saying what failed.
    """
    parser = _parser(sys.argv[1:] if argv is None else argv)
    args, extra = parser.parse_known_args(argv)
    if extra:
        _unrecognized(parser, args.command, extra)
    _console_filter.verbose = args.verbose
    if not args.verbose:
        import dask

        # Read when distributed is first imported, and by the embedded cluster's processes: a failed task is the
        # command's one line, and Dask's own warnings (memory, slow event loop) are the verbose log's.
        dask.config.set({"logging.distributed": "critical"})
    logger.setLevel(logging.INFO if args.verbose else logging.WARNING)
    # The text of a shown warning, not how it is shown: a caller recording warnings (pytest.warns) still gets them.
    formatted = warnings.formatwarning
    if not args.verbose:
        warnings.formatwarning = _one_line_warnings(args.command, formatted)
    try:
        return _run(args)
    finally:
        warnings.formatwarning = formatted


def _run(args) -> int:
    """:func:`main` once the arguments are parsed and the console set up."""
    with raise_on_signals() as received:
        _console_filter.received = received
        try:
            status = args.run(args)
        except KeyboardInterrupt as interrupt:
            received.signum = interrupt.signum if isinstance(interrupt, Interrupted) else signal.SIGINT
        except BrokenPipeError:
            # The reader of our output closed it (`| head`): it has what it wanted. Quiet, as a tool killed by
            # SIGPIPE is, with its status; what is left unwritten goes nowhere.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 128 + signal.SIGPIPE
        except (LogregDistError, ValueError, OSError) as error:
            print(f"logreg-dist {args.command}: error: {_one_line(error)}", file=sys.stderr)
            return 2
        except Exception as error:
            if type(error).__name__ == "KilledWorker":
                print(f"logreg-dist {args.command}: error: a Dask worker died repeatedly on one task ({error})",
                      file=sys.stderr)
                return 2
            print(f"logreg-dist {args.command}: error: unexpected {type(error).__name__} (a bug; its traceback follows): "
                  f"{error}", file=sys.stderr, flush=True)
            raise
    if received.signum is None:  # set also when a library took the exception and returned (prefect.serve does)
        return status
    print(f"logreg-dist {args.command}: interrupted by {signal.Signals(received.signum).name}", file=sys.stderr)
    return 128 + received.signum


def _one_line(message: object) -> str:
    """``message`` on one line: another library's text may hold line breaks and control characters (pyarrow's
    "Couldn't deserialize thrift: ...\\x0f\\nDeserializing page header failed.")."""
    return " ".join("".join(c if c.isprintable() else " " for c in str(message)).split())


def _one_line_warnings(command: str, format_warning):
    """``warnings.formatwarning`` that writes ours as one line naming the command (what the data or options caused,
    not where the library noticed it); other libraries' warnings as Python writes them."""

    def one_line(message, category, filename, lineno, line=None):
        if category.__module__ != "logreg_dist.exceptions":
            return format_warning(message, category, filename, lineno, line)
        if command in ("train", "score"):  # the library's advice names its parameters; the user types options
            message = _as_options(str(message), OPTIONS_IN_ADVICE)
        return f"logreg-dist {command}: warning: {_one_line(message)}\n"

    return one_line


class _ConsoleFilter(logging.Filter):
    """What the console shows: warnings and errors, and Prefect's run log and tracebacks only with ``--verbose``.

    Without it, a failed run is the one line ``main`` prints: Prefect's reports
    of the same failure (ERROR records with the traceback) are left out, and
    so is whatever is logged after SIGINT or SIGTERM (such as a worker that
    could not finish starting), which the line ``interrupted by`` explains.
    """

    verbose = False
    received = None  # main's SignalRecord

    def filter(self, record: logging.LogRecord) -> bool:
        if self.verbose:
            return True
        if self.received is not None and self.received.signum is not None:
            return False
        return record.levelno >= logging.WARNING and not (record.levelno >= logging.ERROR and record.name.startswith("prefect"))


_console_filter = _ConsoleFilter()


def console() -> int:
    """The ``logreg-dist`` script: :func:`main` with log lines on stderr; the process ends as soon as it returns."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
    handler.addFilter(_console_filter)
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
    status = main()
    # What is left once a command has returned is the interpreter's teardown of Prefect, Dask, pandas and numba
    # (about a second): Prefect's run log and events are sent and our output flushed, then the process ends at once.
    drain_prefect()
    logging.shutdown()
    with contextlib.suppress(OSError):  # a reader that closed the pipe early (`| head`) has what it wanted
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(status)


if __name__ == "__main__":
    sys.exit(console())
