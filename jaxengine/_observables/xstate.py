r"""Entanglement of two-qubit X states in closed form, from batch-last Pauli vectors.

At $\kappa_h = \kappa_c = 0$ the engine's generator conserves the total excitation number up to the parity of the
coherences: the eight Pauli components $\{I, Z\}\otimes\{I, Z\}$ and $\{X, Y\}\otimes\{X, Y\}$ (`X_INDICES`) span
an invariant subspace, the X states, whose density matrix has non-zero entries only on the diagonal and the
anti-diagonal. Every state evolved from an X state (such as the default $|00\rangle$) stays one, exactly: the other
components of $M x$ are sums of exact zeros. For these states both entanglement measures have closed forms, which
cost a few dozen flops per state instead of two 4×4 Hermitian eigenvalue problems:

- the partial transpose of an X state is an X state whose two 2×2 blocks swap the coherences, so its smallest
  eigenvalue is the smaller of $\lambda_\pm = \frac{p_a + p_b}{2} - \sqrt{(\frac{p_a - p_b}{2})^2 + |c|^2}$, written
  as $(p_a p_b - |c|^2) / (\frac{p_a + p_b}{2} + \sqrt{\dots})$, which is accurate to roundoff RELATIVE to
  $\lambda$ (no cancellation), and $N = \max(0, -\lambda_{\min})$;
- the concurrence is $C = 2\max(0, |\rho_{03}| - \sqrt{\rho_{11}\rho_{22}}, |\rho_{12}| - \sqrt{\rho_{00}\rho_{33}})$
  (Wootters' formula for X states; Yu and Eberly, Quantum Inf. Comput. 7, 459 (2007)).

Basis as everywhere in jaxengine: index 0 = $|11\rangle$, 3 = $|00\rangle$ ($|1\rangle$ excited), so $\rho_{03}$ is
the two-excitation coherence and $\rho_{12}$ the one-excitation (flip-flop) coherence. Primal only (the eager
evolution programs use it); derivatives go through the general routines of `_observables.fast`.
"""

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import complex_dtype
from .._linalg.dense import safe_sqrt

X_INDICES = (0, 3, 5, 6, 9, 10, 12, 15)  # II, IZ, XX, XY, YX, YY, ZI, ZZ
OTHER_INDICES = tuple(k for k in range(16) if k not in X_INDICES)


def is_x_state(x) -> bool:
    """Whether concrete Pauli vectors x (..., 16) are X states: every component outside `X_INDICES` exactly 0."""
    return bool(np.all(np.asarray(x)[..., OTHER_INDICES] == 0))


def x_entries(x):
    """(p0, p1, p2, p3, |rho_03|^2, |rho_12|^2) of X states given as 16 batch-last rows x[k] (k = 4a + b)."""
    ii, iz, xx, xy, yx, yy, zi, zz = (x[k] for k in X_INDICES)
    p0 = (ii + iz + zi + zz) / 4
    p1 = (ii - iz + zi - zz) / 4
    p2 = (ii + iz - zi - zz) / 4
    p3 = (ii - iz - zi + zz) / 4
    c03 = ((xx - yy) ** 2 + (xy + yx) ** 2) / 16  # rho_03 = (XX - YY - i (XY + YX)) / 4
    c12 = ((xx + yy) ** 2 + (xy - yx) ** 2) / 16  # rho_12 = (XX + YY + i (XY - YX)) / 4
    return p0, p1, p2, p3, c03, c12


def _smaller_eigenvalue(pa, pb, c2):
    """The smaller eigenvalue of [[pa, c], [c*, pb]] with |c|^2 = c2, without cancellation."""
    den = (pa + pb) / 2 + safe_sqrt(((pa - pb) / 2) ** 2 + c2)
    pos = den > 0
    return jnp.where(pos, (pa * pb - c2) / jnp.where(pos, den, 1), 0)


def signed_negativity_x(x):
    r"""$-\lambda_{\min}(\rho^{T_c})$ of X states (16 batch-last rows): the blocks of the partial transpose are
    {0, 3} with the coherence $\rho_{12}$ and {1, 2} with $\rho_{03}$."""
    p0, p1, p2, p3, c03, c12 = x_entries(x)
    return -jnp.minimum(_smaller_eigenvalue(p0, p3, c12), _smaller_eigenvalue(p1, p2, c03))


def negativity_x(x):
    """Negativity of X states (16 batch-last rows)."""
    return jnp.maximum(signed_negativity_x(x), 0)


def concurrence_x(x):
    """Wootters concurrence of X states (16 batch-last rows)."""
    p0, p1, p2, p3, c03, c12 = x_entries(x)
    a = safe_sqrt(c03) - safe_sqrt(jnp.maximum(p1 * p2, 0))
    b = safe_sqrt(c12) - safe_sqrt(jnp.maximum(p0 * p3, 0))
    return 2 * jnp.maximum(0, jnp.maximum(a, b))


def rho_x(x):
    """(B, 4, 4) complex density matrices of X states given as 16 batch-last rows: the six distinct non-zero entries
    (the same sums, in the same order, as `_generator.pauli.rho_from_pauli_batch_last`, so the same bits), with exact
    zeros elsewhere; about half the cost of the general assembly."""
    ii, iz, xx, xy, yx, yy, zi, zz = (x[k] for k in X_INDICES)
    cdt = complex_dtype(ii.dtype)
    zero = jnp.zeros_like(ii)
    real = lambda v: jax.lax.complex(v, zero).astype(cdt)  # noqa: E731
    p0, p1, p2, p3 = (
        real(v)
        for v in ((ii + iz + zi + zz) / 4, (ii - iz + zi - zz) / 4, (ii + iz - zi - zz) / 4, (ii - iz - zi + zz) / 4)
    )
    c03 = jax.lax.complex((xx - yy) / 4, (-xy - yx) / 4).astype(cdt)
    c12 = jax.lax.complex((xx + yy) / 4, (xy - yx) / 4).astype(cdt)
    z = real(zero)
    rows = [p0, z, z, c03, z, p1, c12, z, z, jnp.conj(c12), p2, z, jnp.conj(c03), z, z, p3]
    return jnp.stack(rows, axis=-1).reshape(ii.shape + (4, 4))
