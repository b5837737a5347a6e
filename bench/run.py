#!/usr/bin/env python
"""Benchmark logreg-dist against the peers a user would pick instead, on one generated data set.

Every peer fits the same problem: features standardized with the population
standard deviation of the training rows, the objective

    mean log-loss + (l2 / 2) * ||coef_standardized||^2,   intercept unpenalized,

at the peer's own default tolerance, with its parameters mapped to this
problem (bench/README.md says how). Each peer runs in its own subprocess, so
its peak memory is that process tree's (Spark's JVM and Dask's worker
processes included). The reference is scikit-learn newton-cholesky at
tol=1e-10 on the same standardized rows in memory, independent of our
solver. Then the limit (one gradient pass and one Hessian pass with NumPy /
SciPy BLAS on the same rows in memory) and the scoring throughput against
pyarrow reading and writing the same files.

Run with ``make bench`` or
``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python bench/run.py --rows ...``.
This module holds the options and the order of a run; bench/__init__.py lists the
other modules and says how to add a peer or a case.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import shlex
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# Run as a script, Python puts bench/ first on the path, where this package's module names (tables, say) would
# shadow installed ones; the package is imported as `bench` from the checkout instead.
if sys.path and Path(sys.path[0]).resolve() == HERE:
    sys.path[0] = str(ROOT)
elif str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import harness, problem, tables  # noqa: E402
from bench.limit import limit_report  # noqa: E402
from bench.peers import COMMAND, PEERS, on_data  # noqa: E402
from bench.peers.command import on_small_data  # noqa: E402

#: What a child process can be asked to run: the reference and every peer.
CHILDREN = {"reference": problem.reference, **{name: peer.run for name, peer in PEERS.items()}}


def _choosable() -> list[str]:
    """The peers --peers chooses among: the lookalike's, but the command (--skip-command decides on it)."""
    return [name for name in on_data("lookalike") if name != COMMAND]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=problem.DEFAULT_ROWS, help="rows to generate (default 4,200,000)")
    parser.add_argument("--positives", type=int, default=None,
                        help="positives to generate (default 18,000 per 4.2M rows, i.e. 18,000 at the default --rows)")
    parser.add_argument("--data", type=Path, default=None,
                        help="folder of the customer base; generated there if missing (default bench/data/lookalike-ROWS)")
    parser.add_argument("--l2", type=float, default=problem.DEFAULT_L2, help=f"penalty on standardized coefficients (default {problem.DEFAULT_L2:g})")
    parser.add_argument("--peers", default=None,
                        help=f"comma list among {', '.join(_choosable())} (default: all importable but logreg-dist-lbfgs); logreg-dist "
                        f"always runs. With --categorical, among {', '.join(on_data('categorical'))} (default all)")
    parser.add_argument("--valid-fraction", type=float, default=0.2, help="share of customer ids held out (hashed, as logreg-dist train does)")
    parser.add_argument("--out", type=Path, default=HERE / "results", help="where the JSON goes (default bench/results/)")
    parser.add_argument("--skip-limit", action="store_true", help="do not time the NumPy gradient / Hessian passes")
    parser.add_argument("--skip-scoring", action="store_true", help="do not time scoring against pyarrow")
    parser.add_argument("--repeats", type=int, default=3, help="repeats of each limit timing (the best is kept)")
    parser.add_argument("--spark-driver-memory", default="12g", help="Spark's driver (= executor in local mode) heap")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds allowed to each subprocess")
    parser.add_argument("--wait-idle", type=float, default=20, metavar="MINUTES",
                        help="first wait up to this long for load average < --max-load and no other pytest run (0: do not wait)")
    parser.add_argument("--max-load", type=float, default=1.0)
    parser.add_argument("--small-data", type=lambda value: Path(value) if value else None,
                        default=ROOT / "tests" / "data" / "wa_churn.parquet",
                        help="a small Parquet data set to time `logreg-dist train` on, copied to a temporary folder "
                        "(default tests/data/wa_churn.parquet; '' skips it); skipped with a note if absent")
    parser.add_argument("--small-target", default="churn", help="the small data set's target column (default churn)")
    parser.add_argument("--small-runs", type=int, default=3,
                        help="times the small-data run is timed; the run of the median wall time is reported, with "
                        "every run's wall (default 3: one run right after the large ones varied by up to 2.5 s)")
    parser.add_argument("--skip-command", action="store_true", help="do not time the `logreg-dist train` command")
    parser.add_argument("--pairs", type=int, default=3,
                        help="times the library call and the command are each timed, alternately; their ratio is that "
                        "of the medians (one run of each varies by about 5%% on this VM)")
    parser.add_argument("--update-readme", action="store_true", help="put the tables between the markers in bench/README.md")
    parser.add_argument("--categorical", action="store_true",
                        help="time the second data set instead: the lookalike plus categorical columns of --levels levels "
                        "(ours with and without them, glum, H2O)")
    parser.add_argument("--levels", default=",".join(map(str, problem.CATEGORICAL_LEVELS)),
                        help="level counts of the categorical columns (default 51,300,900)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.child:
        return harness.run_child(CHILDREN[args.child], args.spec, args.result)

    command = " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv])
    harness.warn_if_openblas_tuned()
    positives = args.positives or problem.default_positives(args.rows)
    data = (args.data or HERE / "data" / f"lookalike-{args.rows}").resolve()
    rows, generate_s = problem.ensure_data(data, args.rows, positives)
    if args.categorical:
        return run_categorical(args, data)

    lookalike = on_data("lookalike")
    requested = [p.strip() for p in args.peers.split(",") if p.strip()] if args.peers else [
        name for name in _choosable() if lookalike[name].default]
    unknown = [p for p in requested if p not in _choosable()]
    if unknown:
        print(f"unknown peers {unknown}; choose among {_choosable()}", file=sys.stderr)
        return 2
    requested += ["logreg-dist"] + ([] if args.skip_command else [COMMAND])  # the command runs right after ours
    skipped = {}
    peers = []
    for peer in lookalike.values():  # in registry order
        if peer.name not in requested:
            continue
        reason = peer.unavailable()
        if reason:
            skipped[peer.name] = reason
            print(f"skipping {peer.name}: {reason}", flush=True)
        else:
            peers.append(peer)

    idle = harness.wait_until_idle(args.wait_idle, args.max_load) if args.wait_idle > 0 else {"idle": None, "load": os.getloadavg()}
    load_start = os.getloadavg()
    started_at = dt.datetime.now().astimezone()
    machine = harness.machine_info()
    print(f"machine: {machine['cores']} cores, {machine['cpu']}; BLAS {harness.blas_summary(machine['threadpools'])}", flush=True)
    print(f"data: {data} ({rows:,} rows); l2 {args.l2:g}; load average {load_start[0]:.2f}", flush=True)

    tmp = Path(tempfile.mkdtemp(prefix="logreg-dist-bench-"))
    spec = problem.Spec(
        data=str(data),
        l2=args.l2,
        valid_fraction=args.valid_fraction,
        tmp=str(tmp),
        timeout=args.timeout,
        skip_limit=args.skip_limit,
        skip_scoring=args.skip_scoring,
        repeats=args.repeats,
        spark_driver_memory=args.spark_driver_memory,
    )
    reference = harness.spawn("reference", spec, tmp=tmp, timeout=args.timeout)
    if not reference.get("ok"):
        print("the reference failed; no coefficient errors can be computed", file=sys.stderr)
    results: dict = {}
    for peer in peers:
        if peer.in_child:
            results[peer.name] = harness.spawn(peer.name, spec, tmp=tmp, timeout=args.timeout)
        else:
            results[peer.name] = harness.in_this_process(peer.run, spec)
    if not args.skip_command and args.pairs > 1 and "logreg-dist" in results and COMMAND in results:
        _more_pairs(results, [peer for peer in peers if peer.name in ("logreg-dist", COMMAND)], spec, tmp, args)
    small = None
    if not args.skip_command:
        small = _small_runs(args, tmp)
    ours = results.get("logreg-dist", {})
    scoring = ours.get("scoring")
    load_end = os.getloadavg()
    if reference.get("ok"):
        problem.compare(results, reference, [peer.name for peer in peers if peer.compared])
    limit = reference.get("limit") if reference.get("ok") else None
    report = limit_report(ours, limit) if limit and ours.get("ok") else None

    markdown = tables.run_markdown(
        started_at=started_at, machine=machine, command=command, rows=rows, l2=args.l2, load_start=load_start,
        load_end=load_end, reference=reference, results=results, order=list(results), scoring=scoring, small=small,
        limit=limit, report=report,
    )
    print("\n" + markdown + "\n", flush=True)

    payload = {
        "date": started_at.isoformat(timespec="seconds"),
        "command": command,
        "machine": machine,
        "idle_wait": idle,
        "load_average_start": load_start,
        "load_average_end": load_end,
        "data": {"path": str(data), "rows": rows, "positives_requested": positives, "generate_s": generate_s},
        "l2": args.l2,
        "valid_fraction": args.valid_fraction,
        "peers_skipped": skipped,
        "peer_mapping": {name: {"what": peer.what, "mapping": peer.mapping} for name, peer in lookalike.items()},
        "reference": reference,
        "results": results,
        "limit": report,
        "scoring": scoring,
        "small_data": small,
        "markdown": markdown,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"{started_at:%Y-%m-%d}-{rows}.json"
    path.write_text(json.dumps(payload, indent=1, default=str))
    print(f"wrote {path}", flush=True)
    if args.update_readme:
        tables.update_readme(markdown)
    failed = [name for name, r in results.items() if not r.get("ok")]
    failed += [kind for kind, r in (("reference", reference), ("scoring", scoring)) if r is not None and not r.get("ok")]
    failed += ["small data"] if small and not small.get("ok") and not small.get("skipped") else []
    if failed:
        print(f"failed: {', '.join(failed)}; logs kept in {tmp}", file=sys.stderr)
        return 1
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


def _small_runs(args, tmp: Path) -> dict:
    """The small-data run ``args.small_runs`` times: the one of the median wall time, with every run's wall."""
    runs = []
    for index in range(max(1, args.small_runs)):
        run = on_small_data(args.small_data.resolve() if args.small_data else None, args.small_target,
                            tmp / f"small-{index}", args.timeout)
        runs.append(run)
        if not run.get("ok"):
            return run  # skipped or failed: reported as it is
    median = dict(sorted(runs, key=lambda run: run["wall_s"])[(len(runs) - 1) // 2])
    median["wall_runs"] = [run["wall_s"] for run in runs]
    return median


def _more_pairs(results: dict, pair: list, spec, tmp: Path, args) -> None:
    """Time the library call and the command ``args.pairs - 1`` more times, one after the other; each keeps the
    list of its walls (``e2e_runs``) and reports their median as its from-Parquet time."""
    again = dataclasses.replace(spec, skip_scoring=True, skip_limit=True)
    for name in ("logreg-dist", COMMAND):
        results[name]["e2e_runs"] = [results[name].get("e2e_s")]
    for _ in range(args.pairs - 1):
        for peer in pair:
            run = harness.spawn(peer.name, again, tmp=tmp, timeout=args.timeout) if peer.in_child else \
                harness.in_this_process(peer.run, again)
            results[peer.name]["e2e_runs"].append(run.get("e2e_s") if run.get("ok") else None)
    for name in ("logreg-dist", COMMAND):
        runs = [wall for wall in results[name]["e2e_runs"] if wall is not None]
        results[name]["e2e_first_s"] = results[name].get("e2e_s")
        results[name]["e2e_s"] = float(statistics.median(runs)) if runs else None


def run_categorical(args, data: Path) -> int:
    """Time the categorical data set (``--categorical``): ours with and without the categorical columns, glum and
    H2O, each in its own process tree; print the table and write the JSON."""
    levels = [int(v) for v in args.levels.split(",")]
    cat_data = problem.ensure_categorical_data(data, data.with_name(f"{data.name}-cat-{'-'.join(map(str, levels))}"), levels)
    tmp = Path(tempfile.mkdtemp(prefix="logreg-dist-bench-cat-"))
    spec = problem.Spec(data=str(cat_data), l2=args.l2, valid_fraction=args.valid_fraction, tmp=str(tmp),
                        timeout=args.timeout, levels=tuple(levels))
    results = {}
    wanted = [p.strip() for p in args.peers.split(",") if p.strip()] if args.peers else None
    for name, peer in on_data("categorical").items():
        if wanted is not None and name not in wanted and name != "cat-logreg-dist":
            continue  # --peers picks among the categorical peers too; ours always runs
        reason = peer.unavailable()
        if reason:
            results[name] = {"ok": False, "error": reason}
            print(f"skipping {name}: {reason}", flush=True)
            continue
        results[name] = harness.spawn(name, spec, tmp=tmp, timeout=args.timeout)
    rows = problem.parquet_rows(cat_data)
    markdown = tables.categorical_markdown(results, data=cat_data, rows=rows, levels=levels, l2=args.l2)
    print("\n" + markdown + "\n", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"{dt.date.today():%Y-%m-%d}-categorical-{rows}-{'-'.join(map(str, levels))}.json"
    path.write_text(json.dumps({"levels": levels, "results": results, "markdown": markdown}, indent=1, default=str))
    print(f"wrote {path}", flush=True)
    shutil.rmtree(tmp, ignore_errors=True)
    return 0 if all(r.get("ok") or "not installed" in str(r.get("error")) for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
