"""The limit: what NumPy / SciPy BLAS take for one gradient pass and one Hessian pass over the training rows
in memory, and our fit time as a multiple of the passes it made at that cost (bench/README.md, "The limit")."""

from __future__ import annotations

from bench.harness import best_of


def limit_passes(X, y, coef, intercept, *, repeats: int) -> dict:
    """Seconds of one gradient pass and of the fastest Hessian pass with NumPy / SciPy BLAS, on X in memory."""
    import numpy as np
    from scipy.linalg.blas import dsyrk, ssyrk
    from scipy.special import expit
    from threadpoolctl import threadpool_info, threadpool_limits

    n, p = X.shape
    eta = X @ coef + intercept
    prob = expit(eta)
    resid = prob - y
    weight = prob * (1.0 - prob)
    sqrt_weight = np.sqrt(weight)
    result: dict = {"rows": n, "features": p, "repeats": repeats, "threadpools": threadpool_info()}

    result["matvec_s"] = best_of(lambda: X @ coef, repeats)  # X @ b
    result["rmatvec_s"] = best_of(lambda: X.T @ resid, repeats)  # X.T @ r
    result["gradient_pass_s"] = result["matvec_s"] + result["rmatvec_s"]

    def full_pass():
        e = X @ coef + intercept
        r = expit(e) - y
        return X.T @ r

    result["gradient_pass_with_expit_s"] = best_of(full_pass, repeats)

    def syrk_chunks(A, rows, syrk, dtype):
        def run():
            gram = np.zeros((p, p), dtype=dtype, order="F")
            w = sqrt_weight.astype(dtype)
            for start in range(0, n, rows):
                block = A[start : start + rows] * w[start : start + rows, None]
                gram = syrk(1.0, block.T, beta=1.0, c=gram, trans=0, lower=0, overwrite_c=1)
            return gram

        return run

    def syrk_whole():
        block = X * sqrt_weight[:, None]
        return dsyrk(1.0, block.T, trans=0, lower=0)

    def syrk_column_major(rows):
        # Column-major chunks, Z.T @ Z with trans=1: how our kernels form it (OpenBLAS is faster this way round).
        def run():
            gram = np.zeros((p, p), order="F")
            block = np.empty((rows, p), order="F")
            for start in range(0, n - rows + 1, rows):
                np.multiply(X[start : start + rows], sqrt_weight[start : start + rows, None], out=block)
                gram = dsyrk(1.0, block, beta=1.0, c=gram, trans=1, lower=0, overwrite_c=1)
            tail = X[n - n % rows :] * sqrt_weight[n - n % rows :, None]
            return dsyrk(1.0, np.asfortranarray(tail), beta=1.0, c=gram, trans=1, lower=0, overwrite_c=1)

        return run

    hessian = {
        "float64 X.T @ (X * w[:, None])": lambda: X.T @ (X * weight[:, None]),
        "float64 dsyrk, whole sqrt(w)-scaled copy": syrk_whole,
        "float64 dsyrk, chunks of 4096 rows": syrk_chunks(X, 4096, dsyrk, np.float64),
        "float64 dsyrk, chunks of 65536 rows": syrk_chunks(X, 65_536, dsyrk, np.float64),
        "float64 dsyrk trans=1, column-major chunks of 4096 rows": syrk_column_major(4096),
    }
    seconds = {name: best_of(fn, repeats) for name, fn in hessian.items()}
    X32 = X.astype(np.float32)
    weight32 = weight.astype(np.float32)
    hessian32 = {
        "float32 X.T @ (X * w[:, None])": lambda: X32.T @ (X32 * weight32[:, None]),
        "float32 ssyrk, chunks of 4096 rows": syrk_chunks(X32, 4096, ssyrk, np.float32),
        "float32 ssyrk, chunks of 65536 rows": syrk_chunks(X32, 65_536, ssyrk, np.float32),
    }
    seconds.update({name: best_of(fn, repeats) for name, fn in hessian32.items()})
    del X32
    XF = np.asfortranarray(X)

    def syrk_fortran(rows):
        # Column-major X (as our blocks are), each chunk copied and scaled down its columns: the transposed
        # broadcast, because NumPy runs a column-major chunk's [:, None] broadcast across the columns, far slower.
        def run():
            gram = np.zeros((p, p), order="F")
            block = np.empty((rows, p), order="F")
            for start in range(0, n, rows):
                stop = min(start + rows, n)
                out = block[: stop - start]
                np.multiply(XF[start:stop].T, sqrt_weight[start:stop], out=out.T)
                gram = dsyrk(1.0, out, beta=1.0, c=gram, trans=1, lower=0, overwrite_c=1)
            return gram

        return run

    name = "float64 dsyrk trans=1, column-major X, chunks of 4096 rows"
    hessian[name] = syrk_fortran(4096)  # kept: the one-thread timing below reruns the fastest float64 line
    seconds[name] = best_of(hessian[name], repeats)
    result["hessian_variants_s"] = seconds
    float64 = {k: v for k, v in seconds.items() if k.startswith("float64")}
    result["hessian_best"] = min(float64, key=float64.get)
    result["hessian_pass_s"] = float64[result["hessian_best"]]
    result["hessian_best_any"] = min(seconds, key=seconds.get)
    result["hessian_pass_any_s"] = seconds[result["hessian_best_any"]]
    # One BLAS thread: what each of our single-threaded worker processes gets.
    with threadpool_limits(limits=1, user_api="blas"):
        result["single_thread"] = {
            "gradient_pass_s": best_of(lambda: X @ coef, repeats) + best_of(lambda: X.T @ resid, repeats),
            "hessian_pass_s": best_of(hessian[result["hessian_best"]], repeats),
            "hessian_variant": result["hessian_best"],
        }
    del XF
    return result


def limit_report(ours: dict, limit: dict) -> dict:
    """Our fit time as a multiple of (passes our solver made x seconds per pass of NumPy BLAS in memory).

    The standardization pass counts as one gradient pass. Of the solver's passes, those that
    computed the Hessian count as gradient + Hessian passes, the others as gradient passes.
    ``history_`` marks the iterates whose pass computed the Hessian (``hessian``) when the
    library records it; passes after the solver's last iterate (the covariance's Hessian) count as
    Hessian passes.
    """
    grad, hess = limit["gradient_pass_s"], limit["hessian_pass_s"]
    history = ours["history"]
    passes = ours["passes"]  # the standardization (moments) pass included
    every = max(int(ours.get("hessian_every") or 1), 1)
    solver_passes = int(history[-1]["passes"]) if history else passes - 1
    after = max(passes - 1 - solver_passes, 0)
    backtracked = any(0.0 < h["step_size"] < 1.0 for h in history[1:])
    # The start's values come from the moments pass when its record counts no pass of its own.
    records = [h for h in history if not (h["iteration"] == 0 and h.get("passes", 1) == 0)]
    sampled_passes = 0
    if ours["solver"] != "newton":
        hessian_passes, how = after, "L-BFGS: every solver pass is a loss-and-gradient pass"
    elif history and "hessian" in history[0]:
        sampled_passes = sum(bool(h.get("hessian_sampled")) for h in records)
        hessian_passes = sum(bool(h["hessian"]) and not h.get("hessian_sampled") for h in records) + after
        how = (
            "history_ marks the iterates whose pass computed the Hessian, over all rows or (hessian_sampled) "
            f"every {every}th chunk, counted as a gradient pass plus 1/{every} of a Hessian pass; the other "
            "solver passes are gradient passes"
        )
    else:
        hessian_passes = solver_passes + after
        how = "every solver pass computed loss, gradient and Hessian"
    if backtracked:
        how += "; some steps backtracked, so the count of Hessian and loss-only passes is approximate"
    if after:
        how += f"; {after} pass(es) after the last iterate counted as Hessian passes (the covariance)"
    gradient_passes = passes - hessian_passes - sampled_passes  # the moments pass included

    def floor(g, h):
        return gradient_passes * g + hessian_passes * (g + h) + sampled_passes * (g + h / every)

    report = {
        "passes": passes,
        "hessian_passes": hessian_passes,
        "sampled_hessian_passes": sampled_passes,
        "hessian_every": every,
        "gradient_passes": gradient_passes,
        "how_counted": how,
        "gradient_pass_s": grad,
        "hessian_pass_s": hess,
        "hessian_best": limit["hessian_best"],
        "floor_s": floor(grad, hess),
        "fit_s": ours["fit_s"],
        "solver_s": ours["solver_s"],
        "floor_any_s": floor(grad, limit["hessian_pass_any_s"]),
    }
    report["fit_multiple"] = ours["fit_s"] / report["floor_s"]
    solver_floor = report["floor_s"] - grad - after * (grad + hess)
    report["solver_multiple"] = ours["solver_s"] / solver_floor if solver_floor > 0 else None
    single = limit.get("single_thread")
    if single:
        # Two single-threaded worker processes, as our cluster runs: half the one-thread time per pass.
        report["floor_2x1_s"] = floor(single["gradient_pass_s"], single["hessian_pass_s"]) / 2
        report["fit_multiple_2x1"] = ours["fit_s"] / report["floor_2x1_s"]
    return report
