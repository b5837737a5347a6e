"""The solver choice: which solver ``solver="auto"`` takes for a problem, and how Newton samples its Hessians.

Newton (or proximal Newton for the elastic net) where a dense Hessian per
partition is affordable; L-BFGS (or OWL-QN) above, with gradient passes only.
Categorical columns held as codes count their largest column's levels as a
diagonal block, which costs a sum by code per row, not a column of the Gram.
"""

from __future__ import annotations

import logging

from ._enet import owlqn, prox_newton
from ._objective import DENSE_HESSIAN_MAX_FEATURES
from .exceptions import InputError

__all__ = ["AUTO_NEWTON_MAX_DENSE", "AUTO_NEWTON_MAX_FEATURES", "HESSIAN_SAMPLE_ROWS", "elastic_net_solver",
           "hessian_every", "ridge_solver"]

logger = logging.getLogger("logreg_dist")

#: ``solver="auto"`` takes Newton up to this many features (a p x p Hessian per partition), L-BFGS above.
AUTO_NEWTON_MAX_FEATURES = 500
#: With categorical columns held as codes, ``auto`` takes Newton while at most this many features remain dense
#: once the largest column's levels (a diagonal block) are eliminated, and the numeric ones are within
#: :data:`AUTO_NEWTON_MAX_FEATURES`: a level costs a sum by code per row, not a column of the per-row Gram.
AUTO_NEWTON_MAX_DENSE = 2000

#: Newton's sampled Hessians sum about this many rows (every k-th chunk of each partition); smaller data use all rows.
HESSIAN_SAMPLE_ROWS = 200_000


def hessian_every(n_rows: int, levels) -> int:
    """Newton's sampled Hessians sum every ``hessian_every``-th chunk of rows (1: every row)."""
    # A sample of the rows leaves a rare level without curvature (a step of -grad / l2 there): with categorical
    # columns held as codes every Hessian sums every row.
    return 1 if levels else max(1, n_rows // HESSIAN_SAMPLE_ROWS)


def ridge_solver(requested: str, active, levels) -> str:
    """``"newton"`` or ``"lbfgs"``: the one ``requested``, or for ``"auto"`` the one the features afford (logged)."""
    if requested != "auto":
        return requested
    n_active = int(active.sum())
    if levels:
        dense = n_active - max(levels)
        numeric = n_active - sum(levels)
        solver = "newton" if dense <= AUTO_NEWTON_MAX_DENSE and numeric <= AUTO_NEWTON_MAX_FEATURES else "lbfgs"
        logger.info(
            "solver='auto' chose %r for %d features, %d of them dense once the %d levels of the largest "
            "categorical are eliminated (Newton up to %d dense, %d numeric)", solver, active.sum(), dense,
            max(levels), AUTO_NEWTON_MAX_DENSE, AUTO_NEWTON_MAX_FEATURES,
        )
        return solver
    solver = "newton" if n_active <= AUTO_NEWTON_MAX_FEATURES else "lbfgs"
    logger.info("solver='auto' chose %r for %d features (Newton up to %d)", solver, active.sum(),
                AUTO_NEWTON_MAX_FEATURES)
    return solver


def elastic_net_solver(requested: str, active, levels):
    """:func:`~._enet.prox_newton` where the dense Hessian is affordable, :func:`~._enet.owlqn` (gradient passes
    only) where it is not or where ``requested`` is ``"lbfgs"`` (logged)."""
    numeric = int(active.sum()) - sum(levels)
    wide = active.size > DENSE_HESSIAN_MAX_FEATURES or numeric > AUTO_NEWTON_MAX_FEATURES
    if requested == "newton" and active.size > DENSE_HESSIAN_MAX_FEATURES:
        raise InputError(
            f"solver='newton' needs the dense {active.size} x {active.size} Hessian for the elastic net, and "
            f"takes up to {DENSE_HESSIAN_MAX_FEATURES} features (levels included); use solver='auto' or 'lbfgs' "
            "(OWL-QN), or lower the levels with --min-frequency."
        )
    solve = owlqn if requested == "lbfgs" or (requested == "auto" and wide) else prox_newton
    logger.info("the elastic net is solved by %s for %d features", solve.__name__, active.sum())
    return solve
