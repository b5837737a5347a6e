"""The ``logreg-dist`` command: thin wrappers over the library and the flows."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from . import __version__
from .exceptions import LogregDistError

logger = logging.getLogger("logreg_dist")

DEMO_ROWS = 1_000_000
DEMO_POSITIVES = 4_300  # the lookalike case's 0.43 %


def _generate(args) -> int:
    from .synth import generate

    started = time.perf_counter()
    model = generate(args.out, rows=args.rows, positives=args.positives, partitions=args.partitions, seed=args.seed)
    print(
        f"wrote {args.rows:,} customers ({len(model.feature_names)} features, target 'converted', id 'customer_id') "
        f"to {args.out} in {time.perf_counter() - started:.1f} s; planted strongest features: {', '.join(model.strongest)}"
    )
    return 0


def _demo(args) -> int:
    import dask.dataframe as dd
    import numpy as np
    from sklearn.metrics import roc_auc_score

    from . import LogisticRegression, connect
    from .synth import FEATURE_NAMES, ID_COLUMN, TARGET, generate

    base = Path(args.workdir) / "customer-base"
    if not base.exists():
        print(f"generating a customer base of {args.rows:,} rows in {base} ...", flush=True)
        generate(base, rows=args.rows, positives=max(1, round(args.rows * DEMO_POSITIVES / DEMO_ROWS)), seed=0)
    features = list(FEATURE_NAMES)
    with connect(args.scheduler) as client:
        print(f"cluster: {client.scheduler.address} with {len(client.scheduler_info()['workers'])} workers", flush=True)
        frame = dd.read_parquet(str(base))
        valid = frame[ID_COLUMN] % 5 == 0
        train, held_out = frame[~valid], frame[valid]
        started = time.perf_counter()
        model = LogisticRegression(l2=args.l2).fit(train[features], train[TARGET], client=client)
        seconds = time.perf_counter() - started
        prob = model.predict_proba(held_out[features])[:, 1]
        y_valid = client.compute(held_out[TARGET], sync=True).to_numpy()
        p_valid = client.compute(prob, sync=True)
    order = np.argsort(-np.abs(model.coef_standardized_[0]))[:3]
    print(
        f"fit {model.n_samples_fit_:,} rows x {len(features)} features with {model.solver_} in {seconds:.1f} s: "
        f"{model.n_iter_} iterations, {model.n_passes_} passes, converged={model.converged_}, "
        f"max|grad| {model.history_[-1]['grad_max']:.1e}"
    )
    print(f"held-out AUC on {len(y_valid):,} rows: {roc_auc_score(y_valid, p_valid):.4f}")
    for j in order:
        print(f"  {features[j]:>15}  standardized coefficient {model.coef_standardized_[0, j]:+.3f}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="logreg-dist", description="Distributed logistic regression on Dask.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log each solver iteration")
    commands = parser.add_subparsers(dest="command", required=True)

    generate = commands.add_parser("generate", help="write a synthetic lookalike customer base as Parquet")
    generate.add_argument("--rows", type=int, default=4_200_000)
    generate.add_argument("--positives", type=int, default=18_000)
    generate.add_argument("--out", required=True, help="output folder (must not exist or be empty)")
    generate.add_argument("--partitions", type=int, default=None, help="files to write (default: one per 250,000 rows)")
    generate.add_argument("--seed", type=int, default=0)
    generate.set_defaults(run=_generate)

    demo = commands.add_parser("demo", help="generate a customer base and fit it on the embedded cluster")
    demo.add_argument("--rows", type=int, default=DEMO_ROWS)
    demo.add_argument("--workdir", default="demo-output", help="where the generated data and outputs go")
    demo.add_argument("--l2", type=float, default=1e-4)
    demo.add_argument("--scheduler", default=None, help="tcp://HOST:PORT of a running Dask scheduler")
    demo.set_defaults(run=_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if not args.verbose:
        import dask

        dask.config.set({"logging.distributed": "warning"})  # read when distributed is first imported
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    logger.setLevel(logging.INFO if args.verbose else logging.WARNING)
    try:
        return args.run(args)
    except (LogregDistError, ValueError, FileExistsError, FileNotFoundError) as error:
        print(f"logreg-dist {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
