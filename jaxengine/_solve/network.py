r"""Steady state of a real Pauli-basis generator $M$ (B, D, D), $D = 4^n$: trace eliminated, dense LU.

$$M_{1:,1:}\,y = -M_{1:,0}, \qquad x = (1, y),$$

solved by a partially pivoted LU (LAPACK, batched), differentiated implicitly: the factorisation is taken of the
stopped-gradient matrix and `lax.custom_linear_solve` reuses it for the tangent and transposed solves, so
derivatives of any order never differentiate the factorisation itself (the same construction as
`jnp.linalg.solve`). `residual` $= \|Mx\|_2/2^{n/2} = \|\mathcal{L}\,\mathrm{vec}\rho\|_2$ and `ok` (finite,
residual at roundoff level, no numerically zero pivot) come from `_kernel.health`.
"""

import jax
import jax.numpy as jnp
from jax.scipy.linalg import lu_solve

from .. import _kernel


def _solve_one(A, b):
    lu, piv, _ = jax.lax.linalg.lu(jax.lax.stop_gradient(A))

    def solve(_, rhs):
        return lu_solve((lu, piv), rhs, trans=0)

    def transpose_solve(_, rhs):
        return lu_solve((lu, piv), rhs, trans=1)

    y = jax.lax.custom_linear_solve(lambda v: A @ v, b, solve, transpose_solve)
    rel_pivot = jnp.min(jnp.abs(jnp.diagonal(lu))) / jnp.max(jnp.abs(A))
    return y, rel_pivot


def solve_pauli(M):
    """x (B, D) with x_0 = 1, residual (B,), ok (B,) for real generators M (B, D, D)."""
    D = M.shape[-1]
    A, b = M[:, 1:, 1:], -M[:, 1:, 0]
    y, rel_pivot = jax.vmap(_solve_one)(A, b)
    x = jnp.concatenate([jnp.ones_like(y[:, :1]), y], axis=1)
    r = jnp.linalg.norm(jnp.einsum("bij,bj->bi", M, x), axis=-1) / jnp.sqrt(jnp.asarray(D, M.dtype)) ** 0.5
    op_norm = jnp.linalg.norm(M, axis=(-1, -2))
    residual, ok = _kernel.health(r, op_norm, jnp.linalg.norm(x, axis=-1), rel_pivot, D, M.dtype)
    return x, residual, ok


def solve_reduced(A, b, Q):
    """x (B, D) = e_0 + Q y with A y = b (a symmetry-reduced, trace-eliminated system), residual (B,), ok (B,).

    Valid when the full generator maps the subspace spanned by (e_0, Q) into itself (then the full residual
    ||M x|| equals ||A y - b||)."""
    D = Q.shape[0]
    y, rel_pivot = jax.vmap(_solve_one)(A, b)
    x = jnp.einsum("dr,br->bd", Q, y).at[:, 0].add(1.0)
    r = jnp.linalg.norm(jnp.einsum("bij,bj->bi", A, y) - b, axis=-1) / jnp.sqrt(jnp.asarray(D, A.dtype)) ** 0.5
    op_norm = jnp.linalg.norm(A, axis=(-1, -2)) + jnp.linalg.norm(b, axis=-1)
    residual, ok = _kernel.health(r, op_norm, jnp.linalg.norm(x, axis=-1), rel_pivot, A.shape[-1], A.dtype)
    return x, residual, ok
