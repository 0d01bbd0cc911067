r"""Steady state of a real Pauli-basis generator $M$ (B, D, D), $D = 4^n$: trace eliminated,

$$M_{1:,1:}\,y = -M_{1:,0}, \qquad x = (1, y).$$

**Sparse solve** (`solve_sparse`, the eager path of the local master equation, n = 2..4): the structural
non-zeros of $M$ are known before tracing (`_generator.network.sparse_pattern`, ~12 per row), so the LU is planned
once per structure in NumPy and executed batch last without LAPACK (`_linalg.sparse_lu`: static 2x2 precession
pivot blocks, minimum-fill order; 0.21 M updated entries at n = 4 for a chain instead of the dense 5.5 M). Its
solution is checked against the exact sparse $A$: where a point's componentwise backward error
$\max_i |b - Ay|_i/(|A||y| + |b|)_i$ exceeds `REFINE_TOL` eps, it gets one step of iterative refinement (in the
paper-like ranges of the benchmark, at n = 3 a fraction of a percent of the points, at n = 4 about half; the
normwise error is ~1e-14 either way);
`residual` and `ok` are those of the returned state. No LAPACK: the program runs in threads (one chunk per core).

**Dense solve** (`solve_pauli`: traced calls, every derivative, the global ME, n = 5): a partially pivoted LU
(LAPACK, batched), differentiated implicitly: the factorisation is taken of the
stopped-gradient matrix and `lax.custom_linear_solve` reuses it for the tangent and transposed solves, so
derivatives of any order never differentiate the factorisation itself (the same construction as
`jnp.linalg.solve`). `residual` $= \|Mx\|_2/2^{n/2} = \|\mathcal{L}\,\mathrm{vec}\rho\|_2$ and `ok` (finite,
residual at roundoff level, no numerically zero pivot) come from `dense.health`.
"""

import functools

import jax
import jax.numpy as jnp
from jax.scipy.linalg import lu_solve

from .._generator import network as gen
from .._linalg import dense, sparse_lu

REFINE_TOL = 32  # componentwise backward error (in eps) above which a batch gets one step of refinement


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
    residual, ok = dense.health(r, op_norm, jnp.linalg.norm(x, axis=-1), rel_pivot, D, M.dtype)
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
    residual, ok = dense.health(r, op_norm, jnp.linalg.norm(x, axis=-1), rel_pivot, A.shape[-1], A.dtype)
    return x, residual, ok


@functools.cache
def sparse_plan(n: int, structure: tuple):
    """(pattern, plan) of the sparse solve for n qubits and a `_generator.network.structure_of` (NumPy, cached)."""
    pat = gen.sparse_pattern(n, structure)
    a = pat["a"]
    return pat, sparse_lu.plan(pat["rows"][a] - 1, pat["cols"][a] - 1, 4**n - 1, pat["blocks"])


def solve_sparse(theta, n: int, structure: tuple):
    """x (B, D) with x_0 = 1, residual (B,), ok (B,) of the local generator with coefficients theta (B, K), by the
    planned sparse LU (see the module docstring). Not differentiable: eager calls only."""
    pat, plan = sparse_plan(n, structure)
    N = 4**n - 1
    vals = gen.sparse_values(theta, pat)  # (U, B)
    a_vals = vals[jnp.asarray(pat["a"])]
    a_rows, a_cols = pat["rows"][pat["a"]] - 1, pat["cols"][pat["a"]] - 1
    b = (
        jnp.zeros((N,) + vals.shape[1:], vals.dtype)
        .at[jnp.asarray(pat["rows"][pat["b"]] - 1)]
        .add(-vals[jnp.asarray(pat["b"])])
    )
    factors, min_pivot = sparse_lu.factor(plan, a_vals)
    y = sparse_lu.solve(plan, factors, b)

    def residual_of(y):
        return b - sparse_lu.matvec(a_rows, a_cols, a_vals, y, N)

    r = residual_of(y)
    den = sparse_lu.matvec(a_rows, a_cols, jnp.abs(a_vals), jnp.abs(y), N) + jnp.abs(b)
    # refined point by point (a select, not a batch-wide cond), so that a point's result does not depend on the
    # other points of its batch (padding and chunking change nothing); nan (a singular point) compares False
    refine = jnp.max(jnp.abs(r) - REFINE_TOL * jnp.finfo(y.dtype).eps * den, axis=0) > 0
    # the cond only skips the work when no point needs it: the select decides per point
    y = jax.lax.cond(
        jnp.any(refine),
        lambda y, r: jnp.where(refine[None], y + sparse_lu.solve(plan, factors, r), y),
        lambda y, r: y,
        y,
        r,
    )
    r = residual_of(y)
    x = jnp.concatenate([jnp.ones_like(y[:1]), y]).T  # (B, D)
    D = N + 1
    res = jnp.linalg.norm(r, axis=0) / jnp.sqrt(jnp.asarray(D, vals.dtype)) ** 0.5
    op_norm = jnp.sqrt(jnp.sum(vals * vals, axis=0))  # ||M||_F: the positions are distinct
    rel_pivot = min_pivot / jnp.max(jnp.abs(a_vals), axis=0)
    residual, ok = dense.health(res, op_norm, jnp.linalg.norm(x, axis=-1), rel_pivot, D, vals.dtype)
    return x, residual, ok


def sparse_available(n: int, structure: tuple) -> bool:
    """Whether the sparse solve applies: 2 <= n <= SPARSE_MAX_N and a structurally non-singular pattern."""
    if not 2 <= n <= SPARSE_MAX_N:
        return False
    try:
        sparse_plan(n, structure)
    except ValueError:  # structurally singular (e.g. no bath at all): the dense path reports ok=False
        return False
    return True


SPARSE_MAX_N = 4  # n = 5: planning the 1023 x 1023 pattern takes longer than the dense solve of one point
