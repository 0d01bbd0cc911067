r"""Matrix exponential of a batch of small real matrices by scaling and squaring, differentiable to any order.

$$e^{X} = \bigl(r_{13}(2^{-s}X)\bigr)^{2^s}, \qquad r_{13} = q_{13}(X)^{-1}p_{13}(X),$$

the [13/13] Padé approximant with $s = \max(0, \lceil\log_2(\|X\|_1/\theta_{13})\rceil)$, $\theta_{13} = 5.37$
(Higham, SIAM J. Matrix Anal. Appl. 26, 1179 (2005)): its backward error is below the unit roundoff of float64 for
any $X$, defective or not, which is why the time evolution uses it rather than an eigendecomposition (a
near-defective spectrum makes eigenvectors ill-conditioned; the exponential stays well defined).

Each matrix of the batch gets its own $s$, but the squaring loop runs a STATIC number of iterations `squarings`
(matrices that need fewer keep their value with `where`), so the loop is a `fori_loop` with a fixed trip count: JAX
can differentiate it in forward and reverse mode, and to any order. A matrix that would need more than `squarings`
squarings is reported by the returned flag, never silently truncated.

The one linear solve is `jnp.linalg.solve` (LAPACK on CPU). Call `expm` ONCE per program on a stacked batch: two
batched LAPACK calls that XLA runs at the same time can deadlock a small CPU thread pool (README, Known issues).
"""

import jax
import jax.numpy as jnp
import numpy as np

THETA_13 = 5.371920351148152
_B13 = (
    64764752532480000.0,
    32382376266240000.0,
    7771770303897600.0,
    1187353796428800.0,
    129060195264000.0,
    10559470521600.0,
    670442572800.0,
    33522128640.0,
    1323241920.0,
    40840800.0,
    960960.0,
    16380.0,
    182.0,
    1.0,
)


def squarings_needed(norm1) -> np.ndarray:
    """Squarings that `expm` uses for a matrix of 1-norm `norm1` (NumPy, for eager static choices)."""
    norm1 = np.asarray(norm1, dtype=float)
    with np.errstate(divide="ignore"):
        s = np.ceil(np.log2(np.where(norm1 > 0, norm1, 1.0) / THETA_13))
    return np.maximum(s, 0).astype(int)


def expm(X, squarings: int):
    r"""$e^X$ for X of shape (..., n, n) (real or complex), with at most `squarings` squarings.

    Args:
        X (array of shape (..., n, n)): matrices.
        squarings (int, static): trip count of the squaring loop; a matrix with
            $\|X\|_1 > \theta_{13}2^{\text{squarings}}$ is flagged.

    Returns:
        (E, ok): E of the shape of X, and ok (bool array of shape (...)): the matrix needed at most `squarings`
        squarings and E is finite.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxengine._linalg.expm import expm
        >>> E, ok = expm(jnp.array([[0.0, 1.0], [-1.0, 0.0]]) * jnp.pi, 4)
        >>> E.round(12).tolist(), bool(ok)
        ([[-1.0, 0.0], [0.0, -1.0]], True)
    """
    norm = jnp.max(jnp.sum(jnp.abs(jax.lax.stop_gradient(X)), axis=-2), axis=-1)
    need = jnp.ceil(jnp.log2(jnp.where(norm > 0, norm, 1) / THETA_13))
    need = jnp.where(jnp.isfinite(need), jnp.maximum(need, 0), 0).astype(jnp.int32)
    s = jnp.minimum(need, squarings)
    X = X * jnp.exp2(-s.astype(norm.dtype)).astype(X.dtype)[..., None, None]  # exact: a power of 2
    eye = jnp.broadcast_to(jnp.eye(X.shape[-1], dtype=X.dtype), X.shape)
    b = _B13
    X2 = X @ X
    X4 = X2 @ X2
    X6 = X4 @ X2
    U = X @ (X6 @ (b[13] * X6 + b[11] * X4 + b[9] * X2) + b[7] * X6 + b[5] * X4 + b[3] * X2 + b[1] * eye)
    V = X6 @ (b[12] * X6 + b[10] * X4 + b[8] * X2) + b[6] * X6 + b[4] * X4 + b[2] * X2 + b[0] * eye
    R = jnp.linalg.solve(V - U, V + U)

    def square(k, R):
        return jnp.where((k < s)[..., None, None], R @ R, R)

    R = jax.lax.fori_loop(0, squarings, square, R)
    ok = (need <= squarings) & jnp.all(jnp.isfinite(R), axis=(-1, -2))
    return R, ok
