r"""The latency path: the engine's steady state as a COMPACT program that compiles in a fraction of a second (the
unrolled kernel of `_solve.kernel` takes ~10 s to compile and is kept for large batches: the throughput path). Its
observables are in `_observables.compact`; `observables` and `steady_state` run both as one program per bucket.

The same algorithms as the kernel's, written with dense batched operations instead of trace-time unrolling:

- the real 16×16 generator $M(\theta) = \sum_k \theta_k B_k$ by one einsum over `_generator.pauli.GENERATORS`;
- the trace-eliminated 15×15 system $A y = b$ through $A^{-1}$ by Gauss-Jordan elimination with partial pivoting
  (`_linalg.dense.gauss_jordan`) and ONE step of iterative refinement in float64 (which makes the solution
  componentwise backward stable: plain pivoted elimination is off by up to ~4e-10 at extreme rate ratios, see
  `_solve.kernel`; one refinement step brings it to the kernel's ~1e-14).

Every loop is rolled and nothing calls LAPACK: jaxlib's CPU LAPACK kernels (SciPy's OpenBLAS on XLA's thread pool)
hung in our tests on this 2-core machine when batched over thousands of matrices (see `_linalg.dense`).

Derivatives: implicit differentiation of the solve ($A\,\dot y = -(\dot M x)_{1:}$, with the inverse and its own
rule, so every order works and no derivative goes through the elimination loop).

Both paths agree to ~1e-14 (tests/test_latency.py checks 1e-13 in rho, J, N and C at random points and at the edge
cases: g = 0, T = 0, kappa != 0, both baths, rates far outside the paper's range).
"""


import jax
import jax.numpy as jnp

from .._checks import complex_dtype
from .._generator import pauli
from .._generator.liouvillian import _dag
from .._linalg import dense
from .._linalg.dense import gauss_jordan

_G = pauli.GENERATORS  # (9, 16, 16)


def _generator(theta):
    """M (B, 16, 16) of theta (B, 9)."""
    return jnp.einsum("Bk,kij->Bij", theta, jnp.asarray(_G, dtype=theta.dtype))


@jax.custom_jvp
def _inverse(A):
    """(A^{-1}, min |pivot|) by Gauss-Jordan; differentiable to any order (d A^{-1} = -A^{-1} dA A^{-1})."""
    return gauss_jordan(A)


@_inverse.defjvp
def _inverse_jvp(primals, tangents):
    (A,), (dA,) = primals, tangents
    inv, piv = _inverse(A)
    return (inv, piv), (-_mm(_mm(inv, dA), inv), jnp.zeros_like(piv))


# Small batched products as broadcast-multiply-and-sum: XLA:CPU compiles a batched `dot` of tiny matrices into far
# more code than an elementwise fusion with a reduction (~0.3 s per product, measured), and runs it no faster.
def _mv(A, v):
    return jnp.sum(A * v[:, None, :], axis=-1)


def _mm(A, B):
    return jnp.sum(A[:, :, :, None] * B[:, None, :, :], axis=-2)


@jax.custom_jvp
def _solve(theta):
    """(y (B, 15), rel_pivot (B,)): the reduced steady state of theta (B, 9), refined once, and the smallest pivot
    of the elimination relative to max |A| (a singularity indicator, not differentiated)."""
    M = _generator(theta)
    A, b = M[:, 1:, 1:], -M[:, 1:, 0]
    inv, min_pivot = _inverse(A)
    y = _mv(inv, b)
    y = y + _mv(inv, b - _mv(A, y))  # one step of iterative refinement
    return y, min_pivot / jnp.max(jnp.abs(A), axis=(-1, -2))


@_solve.defjvp
def _solve_jvp(primals, tangents):
    # implicit differentiation of M(theta) x = 0 with x_0 = 1: A dy = -(dM x)[1:], with the inverse (whose own
    # rule gives every higher order), so no derivative goes through the elimination loop
    (theta,), (dtheta,) = primals, tangents
    y, rel = _solve(theta)
    x = jnp.concatenate([jnp.ones_like(y[:, :1]), y], axis=1)
    dMx = jnp.einsum("Bk,kij,Bj->Bi", dtheta, jnp.asarray(_G, dtype=theta.dtype), x)
    inv, _ = _inverse(_generator(theta)[:, 1:, 1:])
    return (y, rel), (-_mv(inv, dMx[:, 1:]), jnp.zeros_like(rel))


def solve(theta):
    """(x (B, 16), residual (B,), ok (B,)) of theta (B, 9): the Pauli vector of the steady state and its health,
    with the kernel's definitions (`dense.health`)."""
    y, rel_pivot = _solve(theta)
    x = jnp.concatenate([jnp.ones_like(y[:, :1]), y], axis=1)
    M = _generator(theta)
    residual = jnp.linalg.norm(_mv(M, x), axis=-1) / 2
    op_norm = jnp.linalg.norm(M, axis=(-1, -2)) / 2
    x_norm = jnp.linalg.norm(x, axis=-1) / 2
    # the kernel's pivot test, relative to ||M||_F (max |A| <= ||M||_F)
    pivot = rel_pivot * jnp.max(jnp.abs(M[:, 1:, 1:]), axis=(-1, -2)) / (2 * op_norm)
    residual, ok = dense.health(jax.lax.stop_gradient(residual), op_norm, x_norm, pivot, 15, x.dtype)
    return x, residual, ok


def rho_from_pauli(x):
    """rho (B, 4, 4) complex of the Pauli vector x (B, 16), exactly Hermitian."""
    cdt = complex_dtype(x.dtype)
    rho = jnp.einsum("Bk,kij->Bij", x.astype(cdt), jnp.asarray(pauli.PAULI, dtype=cdt)) / 4
    return (rho + _dag(rho)) / 2
