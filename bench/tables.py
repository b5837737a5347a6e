"""The markdown the bench prints, writes into its JSON and, with --update-readme, into the ledger
(bench/README.md between its results markers): the peers' table, the targets, the command's steps, the limit,
rescoring and the categorical data set."""

from __future__ import annotations

import math
from pathlib import Path

from bench.harness import GB, blas_summary
from bench.peers.command import COMMAND

README = Path(__file__).resolve().parent / "README.md"


def _fmt(value, spec="{:.1f}", none="n/a") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return none
    return spec.format(value)


def _ratio(value, base) -> str:
    if value is None or not base:
        return "n/a"
    return f"{value / base:.2f}x"


def results_table(results: dict, order: list[str]) -> str:
    ours = results.get("logreg-dist", {})
    base_fit, base_e2e = ours.get("fit_s"), ours.get("e2e_s")
    base_mem = ours.get("peak_bytes", {}).get("e2e")
    lines = [
        "| peer | fit s | fit vs ours | from Parquet s | vs ours | peak GB | vs ours | iterations | max abs coef err | intercept err | AUC |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in order:
        r = results.get(name)
        if r is None:
            continue
        if not r.get("ok"):
            lines.append(f"| {name} | failed: {r.get('error', '')[:80]} |||||||||")
            continue
        mem = r.get("peak_bytes", {}).get("e2e")
        iterations = r.get("iterations")
        if r.get("passes"):
            iterations = f"{iterations} ({r['passes']} passes)"
        lines.append(
            "| {name} | {fit} | {rfit} | {e2e} | {re2e} | {mem} | {rmem} | {it} | {err} | {ierr} | {auc} |".format(
                name=name,
                fit=_fmt(r.get("fit_s")),
                rfit=_ratio(r.get("fit_s"), base_fit),
                e2e=_fmt(r.get("e2e_s")),
                re2e=_ratio(r.get("e2e_s"), base_e2e),
                mem=_fmt(mem / GB if mem else None, "{:.2f}"),
                rmem=_ratio(mem, base_mem),
                it=_fmt(iterations, "{}", "not reported"),
                err=_fmt(r.get("coef_err"), "{:.1e}"),
                ierr=_fmt(r.get("intercept_err"), "{:.1e}"),
                auc=_fmt(r.get("auc"), "{:.4f}"),
            )
        )
    return "\n".join(lines)


#: Issue 6's targets as (what, peer, measure, how many times ours at least): a ratio peer / ours.
SPEED_TARGETS = [
    ("fit: glum / ours >= 2 (at most half of glum's time)", "glum", "fit_s", 2.0),
    ("fit: dask-ml lbfgs / ours >= 5", "dask-ml-lbfgs", "fit_s", 5.0),
    ("fit: dask-ml newton / ours >= 5", "dask-ml-newton", "fit_s", 5.0),
    ("fit: Spark / ours >= 8", "spark", "fit_s", 8.0),
    ("from Parquet: Spark / ours >= 10", "spark", "e2e_s", 10.0),
]


#: The small-data targets of `logreg-dist train` (issue 18): (what, measure, at most seconds).
SMALL_TARGETS = [
    (f"small data: `{COMMAND}` wall <= 8 s", "wall_s", 8.0),
    (f"small data: `{COMMAND}` fit <= 0.5 s", "fit_s", 0.5),
]


def targets_table(results: dict, scoring: dict | None, small: dict | None = None) -> str:
    """Issue 6's targets against this run: the measured ratio and whether it is met."""
    ours = results.get("logreg-dist", {})
    lines = ["| target | measured | met |", "|---|---:|:---:|"]

    def row(what, measured, met):
        lines.append(f"| {what} | {measured} | {'n/a' if met is None else ('yes' if met else 'no')} |")

    error = ours.get("coef_err")
    row("coefficients within 1e-6 of the reference", _fmt(error, "{:.1e}"), None if error is None else error <= 1e-6)
    for what, peer, measure, at_least in SPEED_TARGETS:
        theirs, base = results.get(peer, {}).get(measure), ours.get(measure)
        ratio = theirs / base if theirs and base and results.get(peer, {}).get("ok") else None
        row(what, _fmt(ratio, "{:.2f}x"), None if ratio is None else ratio >= at_least)
    command = results.get(COMMAND, {})
    wall = command.get("e2e_s") if command.get("ok") else None
    ratio = wall / ours["e2e_s"] if wall and ours.get("e2e_s") else None
    row(f"`{COMMAND}` wall / ours from Parquet <= 2", _fmt(ratio, "{:.2f}x"), None if ratio is None else ratio <= 2.0)
    spark = results.get("spark", {})
    ratio = spark["e2e_s"] / wall if wall and spark.get("ok") and spark.get("e2e_s") else None
    row(f"Spark from Parquet / `{COMMAND}` wall >= 5", _fmt(ratio, "{:.2f}x"), None if ratio is None else ratio >= 5.0)
    small = small or {}
    for what, key, at_most in SMALL_TARGETS:
        value = small.get(key) if small.get("ok") else None
        row(what, _fmt(value, "{:.2f} s"), None if value is None else value <= at_most)
    mine = ours.get("peak_bytes", {}).get("e2e")
    others = [r.get("peak_bytes", {}).get("e2e") for name, r in results.items() if not name.startswith("logreg-dist") and r.get("ok")]
    others = [m for m in others if m]
    row("peak memory under every peer's", f"{mine / GB:.2f} GB vs {min(others) / GB:.2f} GB" if mine and others else "n/a",
        None if not (mine and others) else mine < min(others))
    ratio = scoring.get("ratio") if scoring and scoring.get("ok") else None
    row("rescoring: ours / pyarrow's read + write rows per second >= 0.5", _fmt(ratio, "{:.2f}x"), None if ratio is None else ratio >= 0.5)
    reasons = scoring.get("reasons_ratio") if scoring and scoring.get("ok") else None
    row("rescoring with --reasons 3 / without, rows per second >= 0.5", _fmt(reasons, "{:.2f}x"),
        None if reasons is None else reasons >= 0.5)
    return "\n".join(lines)


def command_tables(command: dict | None, small: dict | None) -> str:
    """The small-data run as a row, then where each command's wall time went, step by step."""
    lines = []
    if small and small.get("ok"):
        lines += [
            f"`{COMMAND}` on small data: `{small['shown']}` with DATA a copy of {Path(small['data']).name} "
            f"({small['source_rows']:,} rows) in a temporary folder, in this process (no cluster at this size):",
            "",
            "| run | wall s | fit s | peak GB | iterations | AUC |",
            "|---|---:|---:|---:|---:|---:|",
            f"| small data | {small['wall_s']:.2f} | {_fmt(small.get('fit_s'), '{:.3f}')} | {small['peak_bytes']['e2e'] / GB:.2f} | "
            f"{_fmt(small.get('iterations'), '{}')} | {_fmt(small.get('auc'), '{:.4f}')} |",
            "",
        ]
        if len(small.get("wall_runs", [])) > 1:
            walls = ", ".join(f"{wall:.2f}" for wall in small["wall_runs"])
            lines += [f"The run of the median wall time of {len(small['wall_runs'])} (walls {walls} s).", ""]
    elif small and small.get("skipped"):
        lines += [f"`{COMMAND}` on small data: skipped ({small['skipped']}).", ""]
    elif small:
        lines += [f"`{COMMAND}` on small data failed: {small.get('error')} (log: {small.get('log')}).", ""]
    runs = [(label, r) for label, r in (("lookalike", command), ("small data", small)) if r and r.get("phases")]
    if runs:
        steps = list(dict.fromkeys(step for _, r in runs for step, _ in r["phases"]))
        lines += [f"Where `{COMMAND}`'s wall time went (from its log lines' times):", "",
                  "| step | " + " | ".join(f"{label} s" for label, _ in runs) + " |",
                  "|---|" + "---:|" * len(runs)]
        for step in steps:
            cells = [_fmt(dict(r["phases"]).get(step), "{:.2f}", "") for _, r in runs]
            lines.append(f"| {step} | " + " | ".join(cells) + " |")
        lines.append("| **wall** | " + " | ".join(f"**{r['wall_s']:.2f}**" for _, r in runs) + " |")
    return "\n".join(lines).rstrip()


def limit_table(limit: dict, report: dict | None) -> str:
    lines = ["| what | seconds |", "|---|---:|"]
    lines.append(f"| gradient pass: X @ b + X.T @ r (float64, {limit['rows']:,} x {limit['features']}) | {limit['gradient_pass_s']:.3f} |")
    lines.append(f"| ... with expit and the residual | {limit['gradient_pass_with_expit_s']:.3f} |")
    for name, seconds in limit["hessian_variants_s"].items():
        mark = " (fastest float64)" if name == limit["hessian_best"] else ""
        lines.append(f"| Hessian pass: {name}{mark} | {seconds:.3f} |")
    if report:
        lines.append(
            f"| floor for our fit: {report['gradient_passes']} gradient passes + {report['sampled_hessian_passes']} passes with a Hessian of every {report['hessian_every']}th chunk + {report['hessian_passes']} gradient-and-Hessian passes | {report['floor_s']:.2f} |"
        )
        lines.append(f"| our fit (rows on the workers) | {report['fit_s']:.2f} = {report['fit_multiple']:.1f}x the floor |")
        if report.get("floor_2x1_s"):
            single = limit["single_thread"]
            lines.append(
                f"| one BLAS thread: gradient pass {single['gradient_pass_s']:.3f} s, Hessian pass {single['hessian_pass_s']:.3f} s; "
                f"floor for 2 single-threaded processes | {report['floor_2x1_s']:.2f}; our fit = {report['fit_multiple_2x1']:.1f}x |"
            )
        if report.get("solver_multiple"):
            lines.append(
                f"| our solver iterations only (history_ seconds) | {report['solver_s']:.2f} = {report['solver_multiple']:.1f}x their floor |"
            )
    return "\n".join(lines)


def scoring_table(scoring: dict) -> str:
    return "\n".join(
        [
            "| what | seconds | rows/s |",
            "|---|---:|---:|",
            f"| logreg-dist score_to_parquet ({scoring['rows']:,} rows, 2 workers) | {scoring['score_s']:.2f} | {scoring['ours_rows_per_s']:,.0f} |",
            f"| pyarrow read_table + write_table of the same files (no scoring) | {scoring['pyarrow_s']:.2f} | {scoring['pyarrow_rows_per_s']:,.0f} |",
            f"| ... of which reading | {scoring['pyarrow_read_s']:.2f} | |",
            f"| ours / pyarrow | | {scoring['ratio']:.2f}x |",
            f"| logreg-dist score_to_parquet with reasons=3 (`score --reasons 3`) | {scoring['score_reasons_s']:.2f} | "
            f"{scoring['rows'] / scoring['score_reasons_s']:,.0f} |",
            f"| with reasons / without | | {scoring['reasons_ratio']:.2f}x |",
        ]
    )


def update_readme(markdown: str) -> None:
    """Put ``markdown`` between the results markers of bench/README.md (the ledger), nothing else."""
    readme = README
    text = readme.read_text()
    start, end = "<!-- results:start -->", "<!-- results:end -->"
    if start not in text or end not in text:
        print(f"note: {readme} has no {start} ... {end} markers; not updated", flush=True)
        return
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    readme.write_text(f"{head}{start}\n{markdown}\n{end}{tail}")
    print(f"updated {readme}", flush=True)


def run_markdown(*, started_at, machine: dict, command: str, rows: int, l2: float, load_start, load_end,
                 reference: dict, results: dict, order: list[str], scoring: dict | None, small: dict | None,
                 limit: dict | None, report: dict | None) -> str:
    """The whole run: what ran where, the peers' table, the targets, the command's steps, the reference, the
    limit and rescoring."""
    sections = [
        f"Run {started_at:%Y-%m-%d %H:%M %Z} on {machine['cores']} cores ({machine['cpu']}), BLAS {blas_summary(machine['threadpools'])}; "
        f"{rows:,} rows x 85 features ({reference.get('n_train', 0):,} training, {reference.get('n_valid', 0):,} validation, "
        f"{reference.get('positives_train', 0):,} training positives), l2 = {l2:g}; load average {load_start[0]:.2f} at start, {load_end[0]:.2f} at end.",
        f"Command: `{command}`; logreg-dist at commit {str(machine['git']['commit'])[:10]}"
        + (f" with uncommitted changes to {', '.join(machine['git']['library_changed_since_commit'])}." if machine["git"]["library_changed_since_commit"] else "."),
        "",
        results_table(results, order),
    ]
    if COMMAND in results:
        sections += [
            "",
            f"`{COMMAND}` is the command users run, timed as a subprocess from its start to its exit: "
            f"`{results[COMMAND].get('shown', '')}`, no `--scheduler`, so it starts Prefect's temporary server and, above "
            "250,000 rows, an embedded LocalCluster. Its from-Parquet figure is that wall time, which also "
            "covers the short model, the training profile and writing the model; its fit is model.json's "
            "`training.fit_seconds`; its peak memory is its process tree's (the server and the workers included).",
        ]
    runs = [results.get(name, {}).get("e2e_runs") for name in ("logreg-dist", COMMAND)]
    if all(runs) and len(runs[0]) > 1:
        pairs = ", ".join(f"{c / l:.2f}x" if c and l else "n/a" for l, c in zip(*runs))
        sections += [
            "",
            f"From Parquet, each timed {len(runs[0])} times, alternately: the library call "
            f"{', '.join(_fmt(w) for w in runs[0])} s, `{COMMAND}` {', '.join(_fmt(w) for w in runs[1])} s; "
            f"pair by pair {pairs}. The tables use each one's median.",
        ]
    sections += ["", targets_table(results, scoring, small)]
    commands = command_tables(results.get(COMMAND), small)
    if commands:
        sections += ["", commands]
    if reference.get("ok"):
        sections += [
            "",
            f"Reference: {reference['how']}: {reference['iterations']} iterations, {reference['fit_s']:.1f} s, "
            f"max|gradient| of the exact objective at it {reference['grad_max']:.1e}, validation AUC {reference['auc']:.4f}. "
            "Coefficient errors are max |coef - reference| on the standardized scale (coef x population std); "
            "intercept error likewise on the standardized intercept.",
        ]
    if limit:
        sections += ["", limit_table(limit, report)]
    if scoring and scoring.get("ok"):
        sections += ["", scoring_table(scoring)]
    return "\n".join(sections)


def categorical_markdown(results: dict, *, data: Path, rows: int, levels: list[int], l2: float) -> str:
    """The categorical data set's table, then ours with the categoricals against ours without them."""
    lines = [f"Categorical data set: {data} ({rows:,} rows), levels {levels}, l2 = {l2:g}.",
             "", "| peer | features | fit s | from Parquet s | peak GB (fit) | iterations | solver |", "|---|---|---|---|---|---|---|"]
    for peer, r in results.items():
        if not r.get("ok"):
            lines.append(f"| {peer} | failed or skipped: {r.get('error')} | | | | | |")
            continue
        peak = r.get("peak_bytes", {}).get("fit")
        lines.append(f"| {peer} | {r.get('features')} | {_fmt(r.get('fit_s'))} | {_fmt(r.get('e2e_s'))} | "
                     f"{_fmt(peak / GB if peak else None, '{:.2f}')} | {r.get('iterations')} | {r.get('solver', '')} |")
    ours, numeric = results.get("cat-logreg-dist", {}), results.get("cat-logreg-dist-numeric", {})
    if ours.get("ok") and numeric.get("ok"):
        lines += ["", f"fit with the categoricals / numeric only: {ours['fit_s'] / numeric['fit_s']:.2f}x (target <= 2); "
                  f"peak memory of the fit: {ours['peak_bytes']['fit'] / numeric['peak_bytes']['fit']:.2f}x (target <= 1.3)"]
    return "\n".join(lines)
