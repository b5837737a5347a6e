"""Scale on paper: the cost of one iteration as partitions and worker processes grow, and what it implies.

For a generated customer base, on a LocalCluster of W worker processes (one
thread each) with the data split into P partitions and persisted, it times one
Hessian pass and one gradient pass of the Newton solver (as a fit does: one
task per worker thread runs the kernel over the partitions that worker holds
and adds them there; those sums go up a tree of fan-in ``split_every``) and
prints, per (W, P): seconds per pass, the bytes that travel per pass (one sum
of (p+1) + (p+1)^2 float64 per worker thread), the levels of additions after
the workers' own, and the driver's share (the time of a pass over empty
partitions: scheduling, transfer and the final sum, no rows). From the per-row
cost it extrapolates to 100 workers and 1e9 rows. Run: ``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python bench/scale.py``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import statistics
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
# As in bench/run.py: the package is imported as `bench` from the checkout, not as loose modules of bench/.
if sys.path and Path(sys.path[0]).resolve() == HERE:
    sys.path[0] = str(HERE.parent)
elif str(HERE.parent) not in sys.path:
    sys.path.insert(0, str(HERE.parent))

from bench.harness import median_of  # noqa: E402
from bench.problem import default_positives, ensure_data  # noqa: E402


def measure(data: Path, workers: int, partitions: int, repeats: int, split_every: int) -> dict:
    import dask
    import dask.dataframe as dd
    from distributed import Client

    from logreg_dist._engine import DaskEngine
    from logreg_dist._kernels import loss_sums, moment_sums
    from logreg_dist.cluster import local_cluster
    from logreg_dist.synth import FEATURE_NAMES, TARGET

    features = list(FEATURE_NAMES)
    with local_cluster(workers) as cluster, Client(cluster) as client:
        frame = dd.read_parquet(str(data)).repartition(npartitions=partitions)
        rows = frame.to_delayed()
        blocks = [dask.delayed(_block)(part, features, TARGET) for part in rows]
        engine = DaskEngine(client, blocks, split_every=split_every)
        engine.wait()
        engine.balance()  # as a fit does: a pass lasts as long as its busiest worker
        moments = engine.map_reduce(moment_sums)
        n_rows = moments.n_rows
        params = {"coef": np.full(len(features), 0.01), "intercept": -5.0, "mean": moments.mean,
                  "inv_scale": 1.0 / np.sqrt(moments.variance)}
        hessian = median_of(lambda: engine.map_reduce(loss_sums, derivatives=2, **params), repeats)
        gradient = median_of(lambda: engine.map_reduce(loss_sums, derivatives=1, **params), repeats)
        engine.close()
        empty = DaskEngine(client, [dask.delayed(_empty)(len(features)) for _ in range(partitions)], split_every=split_every)
        empty.wait()
        overhead = median_of(lambda: empty.map_reduce(loss_sums, derivatives=2, **params), repeats)
        empty.close()
    n_params = len(features) + 1
    return {
        "workers": workers,
        "partitions": partitions,
        "rows": int(n_rows),
        "hessian_pass_s": hessian,
        "gradient_pass_s": gradient,
        "empty_pass_s": overhead,
        "bytes_per_pass": workers * 8 * (n_params + n_params * n_params + 2),  # one sum per worker thread
        "reduction_depth": _depth(workers, split_every),
        "row_seconds_per_worker": (hessian - overhead) * workers / n_rows,
    }


def _depth(sums: int, split_every: int) -> int:
    """Levels of additions above the workers' own: the driver adds up to ``split_every`` sums itself."""
    return 1 if sums <= split_every else math.ceil(math.log(sums, split_every))


def _block(part, features, target):
    return part[features].to_numpy(dtype=np.float64), part[target].to_numpy(dtype=np.float64), None


def _empty(n_features):
    return np.empty((0, n_features)), np.empty(0), None


def extrapolate(results: list[dict], *, rows: float = 1e9, workers: int = 100, partitions: int = 8000,
                split_every: int = 8) -> dict:
    """Per-iteration cost at ``rows`` on ``workers``, from the measured per-row cost and the empty-pass overhead.

    The overhead is scaled from the most workers measured, as a cost per worker task: an upper bound, since
    part of an empty pass is the round trip every pass pays once, whatever the number of workers.
    """
    per_row = statistics.median(r["row_seconds_per_worker"] for r in results)
    most = max(r["workers"] for r in results)
    per_worker_task = statistics.median(r["empty_pass_s"] / r["workers"] for r in results if r["workers"] == most)
    n_params = 86
    compute = per_row * rows / workers
    overhead = per_worker_task * workers
    return {
        "rows": rows,
        "workers": workers,
        "partitions": partitions,
        "hessian_pass_compute_s": compute,
        "scheduling_and_reduction_s": overhead,
        "hessian_pass_s": compute + overhead,
        "driver_share": overhead / (compute + overhead),
        "bytes_per_pass": workers * 8 * (n_params + n_params**2 + 2),
        "reduction_depth": _depth(workers, split_every),
        "rows_per_worker_gib": rows / workers * 85 * 8 / 2**30,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="bench/data/scale-1m")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--partitions", default="16,64,256,512")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--split-every", type=int, default=8)
    parser.add_argument("--out", default="bench/results")
    args = parser.parse_args(argv)

    data = Path(args.data)
    ensure_data(data, args.rows, default_positives(args.rows))
    results = []
    for workers in (int(w) for w in args.workers.split(",")):
        for partitions in (int(p) for p in args.partitions.split(",")):
            result = measure(data, workers, partitions, args.repeats, args.split_every)
            results.append(result)
            print(
                f"W={workers} P={partitions:>4}: Hessian pass {result['hessian_pass_s']:.3f} s, gradient pass "
                f"{result['gradient_pass_s']:.3f} s, empty pass {result['empty_pass_s']:.3f} s, "
                f"{result['bytes_per_pass'] / 1e6:.2f} MB of sums, {result['reduction_depth']} level(s) of additions above the workers'",
                flush=True,
            )
    paper = extrapolate(results)
    print(
        f"1e9 rows on 100 workers ({paper['partitions']} partitions, {paper['rows_per_worker_gib']:.1f} GiB of float64 "
        f"per worker): Hessian pass ~{paper['hessian_pass_s']:.1f} s, of which scheduling and the reduction "
        f"at most ~{paper['scheduling_and_reduction_s']:.2f} s ({paper['driver_share']:.1%}); {paper['bytes_per_pass'] / 1e6:.1f} MB "
        f"of per-worker sums per pass, {paper['reduction_depth']} level(s) of additions above the workers'"
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d")
    record = {"date": stamp, "command": " ".join([sys.executable, *sys.argv]), "machine": {"cores": os.cpu_count(),
              "platform": platform.platform(), "load_average": os.getloadavg()}, "results": results, "extrapolation": paper}
    (out / f"{stamp}-scale.json").write_text(json.dumps(record, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
