r"""The engine's Liouvillian in a real basis, and its steady-state solve.

A two-qubit density matrix is written in the Pauli basis, $\rho = \frac14\sum_{k=0}^{15} x_k P_k$ with
$P_{4a+b} = \sigma_a\otimes\sigma_b$ and real $x_k = \mathrm{Tr}(P_k\rho)$; $x_0 = \mathrm{Tr}\rho = 1$. In this basis
the Lindblad generator is a REAL 16×16 matrix $M_{jk} = \frac14\mathrm{Tr}(P_j\,\mathcal{L}(P_k))$ (real because
$\mathcal{L}$ maps Hermitian operators to Hermitian operators), and its first row vanishes (trace preservation).
The steady state therefore solves the real 15×15 system

$$M_{1:,1:}\, x_{1:} = -M_{1:,0},$$

which is the "15×15" system of the paper's Appendix A, built here without the misprinted eq 20.

The Hamiltonian and the dissipators are linear in nine numbers $\theta$ (see `_model._coefficients`), so
$M(\theta) = \sum_k \theta_k B_k$ with a constant tensor $B$ of shape (9, 16, 16) computed once, at import, from the
generic `liouvillian` of the unit operators. The basis change $U = \mathrm{vec}(P)/2$ is unitary, hence
$\|\mathcal{L}\,\mathrm{vec}\rho\|_2 = \|Mx\|_2 / 2$: the residual reported here is the residual of the complex
Liouvillian.
"""

import jax
import jax.numpy as jnp
import numpy as np

from . import _model
from ._liouvillian import liouvillian, vec
from ._operators import pauli_basis

PAULI = pauli_basis()


def _pauli_transfer(L: np.ndarray) -> np.ndarray:
    """(16, 16) complex column-stacked superoperator -> real Pauli-basis matrix M_jk = Tr(P_j L(P_k)) / 4."""
    V = np.asarray(vec(PAULI)).T  # columns vec(P_k)
    M = V.conj().T @ L @ V / 4
    assert np.abs(M.imag).max() < 1e-14
    return M.real


def _build_generators() -> np.ndarray:
    zero = np.zeros((4, 4), complex)
    gens = [np.asarray(liouvillian(h, np.zeros((0, 4, 4), complex))) for h in _model.H_OPS]
    gens += [np.asarray(liouvillian(zero, a[None])) for a in _model.JUMP_OPS]
    return np.stack([_pauli_transfer(L) for L in gens])


GENERATORS = _build_generators()  # (9, 16, 16), exact small integers and halves


def engine_generator(p):
    """Real Pauli-basis Liouvillian M of prepared parameters, shape (..., 16, 16)."""
    theta = _model._coefficients(p)
    return jnp.einsum("...k,kij->...ij", theta, jnp.asarray(GENERATORS, dtype=theta.dtype))


def lu_solve_checked(A, b):
    """Solve A x = b (batched, (..., n, n) and (..., n)) by partially pivoted LU.

    Also returns the smallest pivot relative to max|A|, a cheap singularity indicator: a backward-stable solve has a
    small residual even for a singular A, so the residual alone cannot flag a non-unique steady state.
    """
    lu, _, perm = jax.lax.linalg.lu(A)
    bp = jnp.take_along_axis(b, perm, axis=-1)[..., None]
    y = jax.lax.linalg.triangular_solve(lu, bp, left_side=True, lower=True, unit_diagonal=True)
    x = jax.lax.linalg.triangular_solve(lu, y, left_side=True, lower=False)[..., 0]
    scale = jnp.max(jnp.abs(A), axis=(-1, -2))
    min_pivot = jnp.min(jnp.abs(jnp.diagonal(lu, axis1=-2, axis2=-1)), axis=-1)
    return x, min_pivot / scale


def health(residual, op_norm, x_norm, rel_pivot, n, dtype):
    """(residual, ok): ok = finite, residual at roundoff level, and no (numerically) zero pivot.

    A non-finite residual is reported as +inf, so that `residual` stays a meaningful number at failed points.
    """
    eps = jnp.finfo(dtype).eps
    ok = (
        jnp.isfinite(residual)
        & jnp.isfinite(x_norm)
        & (residual <= 100 * n * eps * op_norm * x_norm)
        & (rel_pivot > n * eps)
    )
    return jnp.where(jnp.isfinite(residual), residual, jnp.inf), ok


def engine_solve(p):
    """Steady state of prepared parameters: (x (..., 16), residual (...), ok (...)); x_0 = 1."""
    M = engine_generator(p)
    y, rel_pivot = lu_solve_checked(M[..., 1:, 1:], -M[..., 1:, 0])
    x = jnp.concatenate([jnp.ones_like(y[..., :1]), y], axis=-1)
    residual = jnp.linalg.norm(jnp.einsum("...ij,...j->...i", M, x), axis=-1) / 2
    residual, ok = health(
        residual, jnp.linalg.norm(M, axis=(-1, -2)) / 2, jnp.linalg.norm(x, axis=-1) / 2, rel_pivot, 15, x.dtype
    )
    return x, residual, ok


def rho_from_pauli(x):
    r"""$\rho = \frac14\sum_k x_k P_k$, (..., 16) real -> (..., 4, 4) complex (exactly Hermitian)."""
    re = jnp.einsum("...k,kij->...ij", x, jnp.asarray(PAULI.real, dtype=x.dtype)) / 4
    im = jnp.einsum("...k,kij->...ij", x, jnp.asarray(PAULI.imag, dtype=x.dtype)) / 4
    return jax.lax.complex(re, im)
