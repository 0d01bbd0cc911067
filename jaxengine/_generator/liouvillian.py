r"""Generic Lindblad superoperators; nothing here knows about the engine.

Conventions (pinned by tests/test_liouvillian.py):

- $\hbar = 1$.
- Column stacking: $\mathrm{vec}(X)_{i + n j} = X_{ij}$, so that $\mathrm{vec}(AXB) = (B^T \otimes A)\,\mathrm{vec}(X)$
  (the convention of dynamiqs and QuTiP). `vec`/`unvec` convert.
- The Lindblad generator is
  $$\mathcal{L}\rho = -i[H, \rho] + \sum_k L_k \rho L_k^\dagger - \tfrac12\{L_k^\dagger L_k, \rho\},$$
  with rate-weighted jump operators $L_k$ (the rate is inside the operator), so that as a matrix
  $$\mathcal{L} = -i(I \otimes H - H^T \otimes I) + \sum_k \bar L_k \otimes L_k
      - \tfrac12 (I \otimes L_k^\dagger L_k + (L_k^\dagger L_k)^T \otimes I).$$
- Operators may carry any leading batch dimensions; jump operators stack on the third-last axis, (..., k, n, n).
"""

import jax.numpy as jnp

from .._checks import check_square, complex_dtype


def _dag(x):
    return jnp.conj(jnp.swapaxes(x, -1, -2))


def _kron(a, b):
    """Batched Kronecker product of (..., n, n) matrices."""
    n, m = a.shape[-1], b.shape[-1]
    out = jnp.einsum("...ab,...cd->...acbd", a, b)
    return out.reshape(out.shape[:-4] + (n * m, n * m))


def vec(x):
    """Column-stacking vectorisation, (..., n, n) -> (..., n*n)."""
    x = jnp.asarray(x)
    return jnp.swapaxes(x, -1, -2).reshape(x.shape[:-2] + (-1,))


def unvec(v):
    """Inverse of `vec`, (..., n*n) -> (..., n, n)."""
    v = jnp.asarray(v)
    n = round(v.shape[-1] ** 0.5)
    return jnp.swapaxes(v.reshape(v.shape[:-1] + (n, n)), -1, -2)


def spre(a):
    r"""Superoperator of $X \mapsto AX$: $I \otimes A$, shape (..., n², n²)."""
    return _kron(jnp.broadcast_to(jnp.eye(a.shape[-1], dtype=a.dtype), a.shape), a)


def spost(b):
    r"""Superoperator of $X \mapsto XB$: $B^T \otimes I$, shape (..., n², n²)."""
    return _kron(jnp.swapaxes(b, -1, -2), jnp.broadcast_to(jnp.eye(b.shape[-1], dtype=b.dtype), b.shape))


def dissipator(jump_op):
    r"""Superoperator of $D[L]\rho = L\rho L^\dagger - \frac12\{L^\dagger L, \rho\}$, shape (..., n², n²)."""
    ldl = _dag(jump_op) @ jump_op
    return _kron(jnp.conj(jump_op), jump_op) - 0.5 * (spre(ldl) + spost(ldl))


def liouvillian(H, jump_ops):
    r"""Lindblad generator as a matrix acting on column-stacked density matrices.

    $$\mathcal{L} = -i(I \otimes H - H^T \otimes I) + \sum_k D[L_k].$$

    Args:
        H (array of shape (..., n, n)): Hamiltonian.
        jump_ops (array of shape (..., k, n, n)): rate-weighted jump operators (k may be 0).

    Returns:
        (array of shape (..., n², n²)) The Liouvillian; batch dimensions of `H` and `jump_ops` broadcast.

    Examples:
        >>> import jax.numpy as jnp, jaxengine as je
        >>> sm = jnp.array([[0, 0], [1, 0]], dtype=complex)   # decay |1> -> |0> at unit rate
        >>> L = je.liouvillian(jnp.zeros((2, 2), complex), sm[None])
        >>> je.steady_state(L).rho.real.tolist()
        [[0.0, 0.0], [0.0, 1.0]]
    """
    H = check_square("H", H)
    jump_ops = jnp.asarray(jump_ops)
    if jump_ops.ndim < 3 or jump_ops.shape[-2:] != H.shape[-2:]:
        raise ValueError(
            f"Argument `jump_ops` must have shape (..., k, {H.shape[-1]}, {H.shape[-1]}) to match H, "
            f"but has shape jump_ops.shape={jump_ops.shape}."
        )
    dtype = complex_dtype(H.dtype, jump_ops.dtype)
    try:
        batch = jnp.broadcast_shapes(H.shape[:-2], jump_ops.shape[:-3])
    except ValueError:
        raise ValueError(
            f"The batch shapes of `H` {H.shape[:-2]} and `jump_ops` {jump_ops.shape[:-3]} do not broadcast."
        ) from None
    H = jnp.broadcast_to(H.astype(dtype), batch + H.shape[-2:])
    jump_ops = jnp.broadcast_to(jump_ops.astype(dtype), batch + jump_ops.shape[-3:])
    L = -1j * (spre(H) - spost(H))
    if jump_ops.shape[-3] > 0:
        L = L + dissipator(jump_ops).sum(axis=-3)
    return L


def lindblad_rhs(H, jump_ops, rho):
    r"""$\mathcal{L}\rho$ computed with matrix products, (..., n, n).

    The reference that `liouvillian` is tested against, and a cheap way to apply the generator to a few states.
    """
    dtype = complex_dtype(H.dtype, jump_ops.dtype, rho.dtype)
    H, jump_ops, rho = H.astype(dtype), jump_ops.astype(dtype), rho.astype(dtype)
    out = -1j * (H @ rho - rho @ H)
    r = rho[..., None, :, :]
    ldl = _dag(jump_ops) @ jump_ops
    return out + (jump_ops @ r @ _dag(jump_ops) - 0.5 * (ldl @ r + r @ ldl)).sum(axis=-3)
