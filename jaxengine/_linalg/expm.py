r"""Matrix exponential of a batch of small matrices by scaling and squaring, differentiable to any order.

$$e^{X} = \bigl(T_{18}(2^{-s}X)\bigr)^{2^s}, \qquad T_{18}(Y) = \sum_{k=0}^{18}\frac{Y^k}{k!},$$

the degree-18 Taylor polynomial with $s = \max(0, \lceil\log_2(\|X\|_1/\theta_{18})\rceil)$, $\theta_{18} = 1.09$: for
$\|Y\|_1 \le \theta_{18}$ the truncated tail is below $\sum_{k>18}\theta^k/k! < 5\times10^{-17}$, under half of
float64's unit roundoff (the bound of Sastre et al.'s degree-18 Taylor method, Appl. Math. Comput. 340, 2019). The
polynomial is evaluated by Paterson–Stockmeyer in 7 matrix products ($Y^2, Y^3, Y^4$, then Horner in $Y^4$). This
holds for any $X$, defective or not, which is why the time evolution uses it rather than an eigendecomposition (a
near-defective spectrum makes eigenvectors ill-conditioned; the exponential stays well defined).

Only matrix products: no linear solve, so no LAPACK call. That matters on CPU, where batched LAPACK kernels that run
at the same time (two in one program, or two programs in two threads) can deadlock a small thread pool (README, Known
issues; observed with a Padé version of this function in two `evolve` threads), and it runs unchanged on GPUs.

Each matrix of the batch gets its own $s$, but the squaring loop runs a STATIC number of iterations `squarings`
(matrices that need fewer keep their value with `where`), so the loop is a `fori_loop` with a fixed trip count: JAX
differentiates it in forward and reverse mode, and to any order. A matrix that would need more than `squarings`
squarings is reported by the returned flag, never silently truncated. With `squarings=None` the loop runs exactly
as many squarings as the batch's largest $s$ (a `while_loop`: one compiled program for every time span and no
squaring beyond what the batch needs, but forward-mode derivatives only; the eager paths use it).
"""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from .unrolled import _materialise

THETA_18 = 1.09
_C = tuple(1.0 / math.factorial(k) for k in range(19))


def squarings_needed(norm1) -> np.ndarray:
    """Squarings that `expm` uses for a matrix of 1-norm `norm1` (NumPy, for eager static choices)."""
    norm1 = np.asarray(norm1, dtype=float)
    with np.errstate(divide="ignore"):
        s = np.ceil(np.log2(np.where(norm1 > 0, norm1, 1.0) / THETA_18))
    return np.maximum(s, 0).astype(int)


def expm(X, squarings: int | None):
    r"""$e^X$ for X of shape (..., n, n) (real or complex), with at most `squarings` squarings.

    Args:
        X (array of shape (..., n, n)): matrices.
        squarings (int or None, static): trip count of the squaring loop; a matrix with
            $\|X\|_1 > \theta_{18}2^{\text{squarings}}$ is flagged. None: as many as the batch needs (a
            `while_loop`, not reverse-differentiable).

    Returns:
        (E, ok): E of the shape of X, and ok (bool array of shape (...)): the matrix needed at most `squarings`
        squarings and E is finite.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxengine._linalg.expm import expm
        >>> E, ok = expm(jnp.array([[0.0, 1.0], [-1.0, 0.0]]) * jnp.pi, 4)
        >>> (E.round(12) + 0.0).tolist(), bool(ok)  # + 0.0 turns -0.0 into 0.0
        ([[-1.0, 0.0], [0.0, -1.0]], True)
    """
    norm = jnp.max(jnp.sum(jnp.abs(jax.lax.stop_gradient(X)), axis=-2), axis=-1)
    need = jnp.ceil(jnp.log2(jnp.where(norm > 0, norm, 1) / THETA_18))
    need = jnp.where(jnp.isfinite(need), jnp.maximum(need, 0), 0).astype(jnp.int32)
    s = need if squarings is None else jnp.minimum(need, squarings)
    Y = X * jnp.exp2(-s.astype(norm.dtype)).astype(X.dtype)[..., None, None]  # exact: a power of 2
    eye = jnp.broadcast_to(jnp.eye(X.shape[-1], dtype=X.dtype), X.shape)
    powers = (eye, Y, Y @ Y)
    powers = (*powers, powers[2] @ Y)
    Y4 = powers[2] @ powers[2]

    def block(j):  # sum_i c_{4j+i} Y^i
        return sum(_C[4 * j + i] * powers[i] for i in range(4) if 4 * j + i <= 18)

    R = block(4)
    for j in (3, 2, 1, 0):
        R = R @ Y4 + block(j)

    def square(k, R):
        return jnp.where((k < s)[..., None, None], R @ R, R)

    if squarings is None:
        _, R = jax.lax.while_loop(lambda c: c[0] < jnp.max(s, initial=0), lambda c: (c[0] + 1, square(*c)), (0, R))
        return R, jnp.all(jnp.isfinite(R), axis=(-1, -2))
    R = jax.lax.fori_loop(0, squarings, square, R)
    ok = (need <= squarings) & jnp.all(jnp.isfinite(R), axis=(-1, -2))
    return R, ok


def matmul_batch_last(P, Q):
    """P @ Q for batch-last matrices P, Q of shape (n, n, B): n broadcast FMAs of (n, n, B) arrays, which XLA:CPU
    fuses into one loop vectorised along B, and the product computed once (`_materialise`: each entry feeds n
    entries of the next product)."""
    n = P.shape[0]
    return _materialise(functools.reduce(jnp.add, [P[:, k, None] * Q[None, k] for k in range(n)]))


def expm_batch_last(X, squarings: int | None = None):
    r"""`expm` with the batch LAST: $e^X$ for X of shape (n, n, B), a real or complex batch of matrices.

    The same method and constants as `expm` (the 1-norm's $s$ per matrix, an exact scaling by $2^{-s}$, Taylor-18 by
    Paterson–Stockmeyer in 7 products, $s$ squarings with per-matrix masks), each product written as n broadcast
    FMAs of (n, n, B) arrays (`matmul_batch_last`). Why: XLA:CPU's batched `@` of small matrices costs per matrix,
    not per flop (measured: ~350 ns per 7x7 product, the same as per 15x15 one), while the elementwise form is one
    fused loop along B (~50-85 ns per 7x7 product, 2-core CPU, B = 128-1024), and its compile time is that of a few
    dozen ops (one op per matrix entry, n^3 FMAs of (B,) vectors, took ~20 s to compile at n = 7).

    Args:
        X (array of shape (n, n, B)): matrices, batch last.
        squarings (int or None, static): as in `expm`.

    Returns:
        (E, ok): E of shape (n, n, B), ok (bool array of shape (B,)) as in `expm`.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxengine._linalg.expm import expm_batch_last
        >>> E, ok = expm_batch_last(jnp.array([[0.0, 1.0], [-1.0, 0.0]])[..., None] * jnp.pi)
        >>> (E[..., 0].round(12) + 0.0).tolist(), ok.tolist()  # + 0.0 turns -0.0 into 0.0
        ([[-1.0, 0.0], [0.0, -1.0]], [True])
    """
    n = X.shape[0]
    norm = jnp.max(jnp.sum(jnp.abs(jax.lax.stop_gradient(X)), axis=0), axis=0)
    need = jnp.ceil(jnp.log2(jnp.where(norm > 0, norm, 1) / THETA_18))
    need = jnp.where(jnp.isfinite(need), jnp.maximum(need, 0), 0).astype(jnp.int32)
    s = need if squarings is None else jnp.minimum(need, squarings)
    Y = _materialise(X * jnp.exp2(-s.astype(norm.dtype)).astype(X.dtype)[None, None])  # exact: a power of 2
    eye = jnp.eye(n, dtype=X.dtype)[..., None]
    powers = (eye, Y, matmul_batch_last(Y, Y))
    powers = (*powers, matmul_batch_last(powers[2], Y))
    Y4 = matmul_batch_last(powers[2], powers[2])

    def block(j):  # sum_i c_{4j+i} Y^i
        return sum(_C[4 * j + i] * powers[i] for i in range(4) if 4 * j + i <= 18)

    R = block(4)
    for j in (3, 2, 1, 0):
        R = matmul_batch_last(R, Y4) + block(j)
    R = _materialise(R)

    def square(k, R):
        return jnp.where((k < s)[None, None], matmul_batch_last(R, R), R)

    if squarings is None:
        top = jnp.max(s, initial=0)
        _, R = jax.lax.while_loop(lambda c: c[0] < top, lambda c: (c[0] + 1, square(*c)), (0, R))
        return R, jnp.all(jnp.isfinite(R), axis=(0, 1))
    R = jax.lax.fori_loop(0, squarings, square, R)
    return R, (need <= squarings) & jnp.all(jnp.isfinite(R), axis=(0, 1))
