r"""Small dense linear algebra on batches, as rolled loops in pure JAX (no LAPACK), for programs that must compile fast.

jaxlib's CPU LAPACK kernels come from SciPy's OpenBLAS and run on XLA's intra-op thread pool; on small machines we
have seen batched `eigh`/`lu` calls hang (every pool thread idle, the execution never finishing), and jax reports
wrong results and heap corruption from OpenBLAS threads under XLA's pool (jax-ml/jax#38056, #39292). The compact
programs of jaxengine therefore use these two routines, each a single `fori_loop` whose body is a few dozen
operations on (B, n, m) arrays, so that XLA compiles them in a fraction of a second and runs them on any backend:

- `gauss_jordan`: the inverse of a batch of matrices by Gauss-Jordan elimination with partial pivoting, and the
  smallest pivot of each (a singularity indicator);
- `jacobi_eigh`: eigenvalues (and optionally eigenvectors) of a batch of Hermitian matrices by cyclic Jacobi
  rotations, which are backward stable: the eigenvalues are exact to a few eps times $\|A\|$;
- `loop_solve`: a batch of linear solves by a rolled, partially pivoted LU with the implicit derivative of
  `lax.custom_linear_solve` (the derivative path of the throughput kernel);
- `health`: the `residual`/`ok` verdict every steady-state solver reports;
- `lu_solve_checked`: the LAPACK reference (batched `getrf`), used by the generic complex path and the tests.
"""

import jax
import jax.numpy as jnp


def gauss_jordan(A):
    """(A^{-1}, min |pivot|) of A (B, n, n), by Gauss-Jordan elimination with partial (row) pivoting."""
    n = A.shape[-1]
    rows = jnp.arange(n)
    aug = jnp.concatenate([A, jnp.broadcast_to(jnp.eye(n, dtype=A.dtype), A.shape)], axis=-1)  # (B, n, 2n)

    def step(k, carry):
        aug, min_pivot = carry
        col = jax.lax.dynamic_index_in_dim(aug, k, axis=2, keepdims=False)  # (B, n)
        j = jnp.argmax(jnp.where(rows >= k, jnp.abs(col), -1), axis=1)  # pivot row per point
        row_j = jnp.take_along_axis(aug, j[:, None, None], axis=1)  # (B, 1, 2n)
        row_k = jax.lax.dynamic_index_in_dim(aug, k, axis=1, keepdims=True)
        is_k = (rows == k)[None, :, None]
        is_j = (rows[None, :] == j[:, None])[:, :, None]
        aug = jnp.where(is_k, row_j, jnp.where(is_j, row_k, aug))  # swap rows k and j
        piv = jax.lax.dynamic_index_in_dim(row_j, k, axis=2, keepdims=False)[:, 0]  # (B,)
        new_k = row_j / piv[:, None, None]
        f = jnp.where(rows[None, :] == k, 0, jax.lax.dynamic_index_in_dim(aug, k, axis=2, keepdims=False))
        aug = jnp.where(is_k, new_k, aug - f[:, :, None] * new_k)
        return aug, jnp.minimum(min_pivot, jnp.abs(piv))

    init = (aug, jnp.abs(A[:, 0, 0]) * 0 + jnp.inf)  # derived from A: varies like A under shard_map
    aug, min_pivot = jax.lax.fori_loop(0, n, step, init)
    return aug[:, :, n:], min_pivot


def safe_sqrt(v):
    """sqrt with a zero (not nan) derivative at 0: the double where keeps nan out of reverse mode."""
    pos = v > 0
    return jnp.where(pos, jnp.sqrt(jnp.where(pos, v, 1)), 0)


def _pairs(n):
    return [(p, q) for p in range(n) for q in range(p + 1, n)]


def jacobi_eigh(A, sweeps: int = 6, vectors: bool = False):
    r"""Eigenvalues (ascending, (B, n)) and, with `vectors`, eigenvectors (columns, (B, n, n)) of Hermitian A (B, n, n).

    Cyclic Jacobi: each rotation acts on one index pair (p, q): a diagonal phase makes $a_{pq}$ real, then the real
    rotation with $t = \mathrm{sign}(d)\,2|a_{pq}|/(|d| + \sqrt{d^2 + 4|a_{pq}|^2})$, $d = a_{qq} - a_{pp}$, zeros
    it. Convergence is quadratic; `sweeps` full sweeps of the n(n-1)/2 pairs (5 reach roundoff for n = 4 in our
    tests, including (nearly) degenerate spectra). The loop works on batch-last copies (n, n, B), so every update is
    an elementwise operation over the batch. Differentiable by autodiff through the rotations (square roots are
    guarded at 0): at convergence the rotations' own derivatives cancel in the diagonal, which leaves
    $d\lambda_i = v_i^\dagger\,dA\,v_i$.
    """
    n = A.shape[-1]
    pairs = _pairs(n)
    P = jnp.asarray([p for p, _ in pairs])
    Q = jnp.asarray([q for _, q in pairs])
    idx = jnp.arange(n)
    complex_ = jnp.iscomplexobj(A)
    conj = jnp.conj if complex_ else (lambda v: v)
    At = jnp.moveaxis(A, 0, -1)  # (n, n, B)

    def rotate(t, carry):
        A, V = carry
        p, q = P[t % len(pairs)], Q[t % len(pairs)]
        row_p = jax.lax.dynamic_index_in_dim(A, p, axis=0, keepdims=False)  # (n, B)
        row_q = jax.lax.dynamic_index_in_dim(A, q, axis=0, keepdims=False)
        a_pp = jax.lax.dynamic_index_in_dim(row_p, p, axis=0, keepdims=False).real
        a_qq = jax.lax.dynamic_index_in_dim(row_q, q, axis=0, keepdims=False).real
        b = jax.lax.dynamic_index_in_dim(row_p, q, axis=0, keepdims=False)
        r2 = (b * jnp.conj(b)).real if complex_ else b * b
        absb = safe_sqrt(r2)
        d = a_qq - a_pp
        den = jnp.abs(d) + safe_sqrt(d * d + 4 * r2)
        pos = den > 0
        tt = jnp.where(pos, jnp.where(d >= 0, 2.0, -2.0) * absb / jnp.where(pos, den, 1), 0)
        c = 1 / jnp.sqrt(1 + tt * tt)
        s = tt * c
        if complex_:
            nz = absb > 0
            ph = jnp.where(nz, jnp.conj(b) / jnp.where(nz, absb, 1).astype(b.dtype), 1)  # e^{-i phi}
        else:
            ph = jnp.where(b >= 0, 1.0, -1.0).astype(A.dtype)
        c, s = c.astype(A.dtype)[None], s.astype(A.dtype)[None]  # (1, B): explicit broadcasting over rows
        ph = ph[None]
        # G = rotation in the (p, q) plane: columns G[:, p] = c e_p - s ph e_q, G[:, q] = s e_p + c ph e_q.
        # A <- G^H A G: first the columns (A G), then the rows (G^H X)
        col_p = jax.lax.dynamic_index_in_dim(A, p, axis=1, keepdims=False)  # (n, B)
        col_q = jax.lax.dynamic_index_in_dim(A, q, axis=1, keepdims=False)
        new_p, new_q = c * col_p - s * ph * col_q, s * col_p + c * ph * col_q
        is_p, is_q = (idx == p)[:, None], (idx == q)[:, None]
        A = jnp.where(is_p[None], new_p[:, None], jnp.where(is_q[None], new_q[:, None], A))
        row_p = jax.lax.dynamic_index_in_dim(A, p, axis=0, keepdims=False)
        row_q = jax.lax.dynamic_index_in_dim(A, q, axis=0, keepdims=False)
        new_p, new_q = c * row_p - s * conj(ph) * row_q, s * row_p + c * conj(ph) * row_q
        A = jnp.where(is_p[:, None], new_p[None], jnp.where(is_q[:, None], new_q[None], A))
        if vectors:  # V <- V G
            col_p = jax.lax.dynamic_index_in_dim(V, p, axis=1, keepdims=False)
            col_q = jax.lax.dynamic_index_in_dim(V, q, axis=1, keepdims=False)
            new_p, new_q = c * col_p - s * ph * col_q, s * col_p + c * ph * col_q
            V = jnp.where(is_p[None], new_p[:, None], jnp.where(is_q[None], new_q[:, None], V))
        return A, V

    # the initial V derived from A, so that it varies like A under shard_map
    V0 = jnp.zeros_like(At) + jnp.eye(n, dtype=A.dtype)[:, :, None] if vectors else jnp.zeros((), A.dtype)
    At, V = jax.lax.fori_loop(0, sweeps * len(pairs), rotate, (At, V0))
    w = jnp.diagonal(At, 0, 0, 1).real  # (B, n)
    order = jnp.argsort(w, axis=-1)
    w = jnp.take_along_axis(w, order, axis=-1)
    if not vectors:
        return w
    V = jnp.moveaxis(V, -1, 0)  # (B, n, n)
    return w, jnp.take_along_axis(V, order[:, None, :], axis=-1)


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


def _lu_loop(a):
    """Partially pivoted LU of one (n, n) matrix with a rolled loop: (lu, perm), P a = L U as in LAPACK getrf."""
    n = a.shape[-1]
    idx = jnp.arange(n)

    def body(k, state):
        a, perm = state
        j = jnp.argmax(jnp.where(idx >= k, jnp.abs(a[:, k]), -1))
        rk, rj = a[k], a[j]
        a = a.at[k].set(rj).at[j].set(rk)
        pk, pj = perm[k], perm[j]
        perm = perm.at[k].set(pj).at[j].set(pk)
        m = jnp.where(idx > k, a[:, k] / a[k, k], 0)
        a = a - jnp.outer(m, jnp.where(idx > k, a[k], 0))
        a = a.at[:, k].set(jnp.where(idx > k, m, a[:, k]))
        return a, perm

    return jax.lax.fori_loop(0, n, body, (a, idx))


def _lu_apply(lu, perm, b, trans):
    """Solve with the factors of `_lu_loop`: A x = b (trans=False) or A^T x = b (trans=True)."""
    n = lu.shape[-1]
    idx = jnp.arange(n)
    lower = jnp.where(idx[:, None] > idx[None, :], lu, 0)
    upper = jnp.where(idx[:, None] <= idx[None, :], lu, 0)

    def forward(mat, unit, v):  # mat lower triangular
        def body(i, x):
            xi = (v[i] - mat[i] @ jnp.where(idx < i, x, 0)) / (1 if unit else mat[i, i])
            return x.at[i].set(xi)

        return jax.lax.fori_loop(0, n, body, jnp.zeros_like(v))

    def backward(mat, unit, v):  # mat upper triangular
        def body(t, x):
            i = n - 1 - t
            xi = (v[i] - mat[i] @ jnp.where(idx > i, x, 0)) / (1 if unit else mat[i, i])
            return x.at[i].set(xi)

        return jax.lax.fori_loop(0, n, body, jnp.zeros_like(v))

    if not trans:  # P A = L U: L U x = P b
        return backward(upper, False, forward(lower, True, b[perm]))
    # A^T = U^T L^T P: U^T z = b, L^T w = z, x = P^T w
    w = backward(lower.T, True, forward(upper.T, False, b))
    return jnp.zeros_like(w).at[perm].set(w)


def loop_solve(A, b):
    """x = A^{-1} b for (B, n, n), (B, n), differentiable to any order in A and b, without LAPACK.

    Mirrors `jnp.linalg.solve`: the LU is computed from `stop_gradient(A)`, and `lax.custom_linear_solve` supplies
    the implicit derivative (d x = A^{-1}(d b - d A x)) and the transpose solve for reverse mode. The factorisation is
    a rolled loop, so its graph is a few dozen ops whatever n is; it is the derivative path of the fast kernel.
    """

    def one(A, b):
        lu, perm = _lu_loop(jax.lax.stop_gradient(A))
        return jax.lax.custom_linear_solve(
            lambda v: A @ v,
            b,
            solve=lambda _, v: _lu_apply(lu, perm, v, False),
            transpose_solve=lambda _, v: _lu_apply(lu, perm, v, True),
        )

    return jax.vmap(one)(A, b)
