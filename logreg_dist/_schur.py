"""Newton's linear algebra for categorical columns of many levels: eliminate a diagonal block, then Cholesky.

The penalized mean Hessian of a coded problem (see :mod:`._codes`), taken in
the coordinates of uncentred scaled indicators, is

    [[D, B^T],
     [B, R  ]]

where ``D`` is the diagonal block of the levels of the categorical column with
the most levels (the indicators of two levels of one column never meet), ``R``
the dense block of everything else (numeric columns, the other categoricals'
levels, the intercept) and ``B`` their cross terms. As in H2O's GLM
(``hex/gram/Gram.java``), ``D`` is eliminated first: the Schur complement
``S = R - B D^-1 B^T`` is factored by a dense Cholesky, and every solve is
exact. The solver's coordinates (centred indicators) differ from these by the
intercept only, ``H_z = M H_u M^T`` with ``M = I - shift e_intercept^T``: a
solve with ``H_z`` is ``M^-T H_u^-1 M^-1``, and the diagonal of ``H_z^-1`` on
the features is that of ``H_u^-1``.
"""

from __future__ import annotations

import numpy as np
from scipy import linalg

from ._codes import CodedHessian

__all__ = ["SchurHessian"]


class SchurHessian:
    """The penalized mean Hessian ``(n_params, n_params)`` of a coded problem, held by structure and factored.

    Parameters
    ----------
    coded : CodedHessian
        The reduced Hessian sums.
    weight_sum : float
        The weight of the rows the sums cover (the mean divides by it).
    l2 : float or ndarray of shape (n_features,)
        The ridge term's curvature on each active standardized coefficient.
    active : ndarray of bool, shape (n_features,)
        The fitted features; the solver's parameters are these and the intercept.
    """

    def __init__(self, coded: CodedHessian, *, weight_sum: float, l2, active: np.ndarray):
        layout, p = coded.layout, coded.layout.n_features
        self.shape = (int(active.sum()) + 1,) * 2
        self.index = np.append(np.flatnonzero(active), p)
        self.n_coords = p + 1
        big = int(np.argmax(layout.n_levels))
        self.big_index, self.rest_index, diagonal, cross, rest = coded.blocks(big)
        penalty = np.append(np.where(active, np.asarray(l2, dtype=np.float64), 0.0), 0.0)
        fitted = np.append(active, True)
        self.shift = np.where(fitted, coded.shift, 0.0)  # restricted to the parameters, as a dense Hessian would be
        diagonal = diagonal / weight_sum + penalty[self.big_index]
        cross = cross / weight_sum
        rest = rest / weight_sum
        rest[np.diag_indices_from(rest)] += penalty[self.rest_index]
        # Constant columns are no parameters: their coordinates are decoupled (a unit diagonal, nothing else).
        idle = ~fitted[self.big_index]
        diagonal[idle], cross[:, idle] = 1.0, 0.0
        idle = ~fitted[self.rest_index]
        rest[idle, :], rest[:, idle], cross[idle, :] = 0.0, 0.0, 0.0
        rest[idle, idle] = 1.0
        self.diagonal, self.cross = diagonal, cross
        self.singular = not np.all(diagonal > 0.0)
        self.factor = None
        if not self.singular:
            schur = rest - (cross / diagonal) @ cross.T
            try:
                self.factor = linalg.cho_factor(schur, lower=False, check_finite=False)
            except linalg.LinAlgError:
                self.singular = True

    def well_conditioned(self, rel_tol: float) -> bool:
        """Whether the factorization exists and is not singular to ``rel_tol`` (as the dense Newton step judges)."""
        if self.singular:
            return False
        pivots = np.abs(np.diag(self.factor[0]))
        if not pivots.size:
            return True
        return bool(pivots.min() ** 2 > rel_tol * pivots.max() ** 2)

    def _solve_uncentred(self, rhs: np.ndarray) -> np.ndarray:
        out = np.empty_like(rhs)
        big, rest = rhs[self.big_index], rhs[self.rest_index]
        solved_rest = linalg.cho_solve(self.factor, rest - self.cross @ (big / self.diagonal), check_finite=False)
        out[self.rest_index] = solved_rest
        out[self.big_index] = (big - self.cross.T @ solved_rest) / self.diagonal
        return out

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        """``H^-1 rhs`` for ``rhs`` of shape (n_params,), in the solver's coordinates."""
        full = np.zeros(self.n_coords)
        full[self.index] = rhs
        full += self.shift * full[-1]  # M^-1 rhs: M^-1 = I + shift e_intercept^T
        solved = self._solve_uncentred(full)
        solved[-1] += self.shift @ solved  # M^-T
        return solved[self.index]

    def inverse_diagonal(self) -> np.ndarray:
        """The diagonal of ``H^-1`` on the features, shape (n_params - 1,): from the block inverse,
        ``diag(S^-1)`` on the rest and ``1 / D + diag(D^-1 B^T S^-1 B D^-1)`` on the eliminated block."""
        diagonal = np.empty(self.n_coords)
        inverse_rest = linalg.cho_solve(self.factor, np.eye(self.rest_index.size), check_finite=False)
        diagonal[self.rest_index] = np.diag(inverse_rest)
        scaled = self.cross / self.diagonal
        diagonal[self.big_index] = 1.0 / self.diagonal + np.einsum("ij,ij->j", scaled, inverse_rest @ scaled)
        return diagonal[self.index[:-1]]
