"""`_linalg.sparse_lu` (the planned sparse block LU, batch last) against NumPy's pivoted dense solve."""

import jax.numpy as jnp
import numpy as np
import pytest

from jaxengine._linalg import sparse_lu


def random_system(rng, N, B, density):
    """A random sparse pattern (with a full diagonal except where a 2x2 block has off-diagonal pivots), blocks of
    one and two unknowns, and B batches of values on it, well conditioned."""
    perm = rng.permutation(N)
    blocks = [tuple(perm[k : k + 2]) if k + 1 < N and rng.uniform() < 0.6 else (perm[k],) for k in range(0, N, 2)]
    blocks = [b for blk in blocks for b in ([blk] if len(blk) == 2 else [blk])]
    covered = {k for b in blocks for k in b}
    blocks += [(k,) for k in range(N) if k not in covered]
    mask = rng.uniform(size=(N, N)) < density
    for b in blocks:  # each pair: a rotation block [[-G, -w], [w, -G]] (diagonal entries present too)
        for i in b:
            for j in b:
                mask[i, j] = True
    rows, cols = np.nonzero(mask)
    vals = rng.normal(size=(len(rows), B))
    dense = np.zeros((B, N, N))
    dense[:, rows, cols] = vals.T
    for b in blocks:  # dominant pivot blocks
        for i in b:
            dense[:, i, i] += 3 * np.sqrt(N)
    vals = dense[:, rows, cols].T
    return rows, cols, blocks, vals, dense


@pytest.mark.parametrize("N, density", [(12, 0.2), (40, 0.08)])
def test_sparse_lu_against_numpy(N, density):
    rng = np.random.default_rng(N)
    B = 5
    rows, cols, blocks, vals, dense = random_system(rng, N, B, density)
    # duplicated entries are summed
    rows2, cols2 = np.concatenate([rows, rows[:3]]), np.concatenate([cols, cols[:3]])
    vals2 = np.concatenate([vals, np.zeros((3, B))])
    plan = sparse_lu.plan(rows2, cols2, N, blocks, tile=(4, 8))
    assert sorted(k for b in plan.order for k in b) == list(range(N))
    rhs = rng.normal(size=(N, B))
    factors, min_pivot = sparse_lu.factor(plan, jnp.asarray(vals2))
    x = sparse_lu.solve(plan, factors, jnp.asarray(rhs))
    want = np.linalg.solve(dense, rhs.T[..., None])[..., 0].T
    np.testing.assert_allclose(x, want, rtol=0, atol=1e-12 * np.abs(want).max())
    np.testing.assert_allclose(sparse_lu.matvec(rows, cols, jnp.asarray(vals), jnp.asarray(want), N), rhs, atol=1e-12)
    assert np.all(np.asarray(min_pivot) > 0)


def test_sparse_lu_zero_pivot_is_reported_not_hidden():
    # diag(0, 1) with blocks of one: the structural pattern is fine, the value makes the first pivot exactly 0
    plan = sparse_lu.plan([0, 1, 0], [0, 1, 1], 2, [(0,), (1,)])
    factors, min_pivot = sparse_lu.factor(plan, jnp.asarray([[0.0, 2.0], [1.0, 1.0], [1.0, 1.0]]))
    x = sparse_lu.solve(plan, factors, jnp.ones((2, 2)))
    assert float(min_pivot[0]) == 0 and not np.isfinite(np.asarray(x)[:, 0]).all()
    np.testing.assert_allclose(np.asarray(x)[:, 1], np.linalg.solve([[2.0, 1.0], [0.0, 1.0]], [1.0, 1.0]))


def test_sparse_lu_errors():
    with pytest.raises(ValueError, match="partition"):
        sparse_lu.plan([0, 1], [0, 1], 2, [(0,)])
    with pytest.raises(ValueError, match="structurally singular"):
        sparse_lu.plan([0, 1], [1, 1], 2, [(0,), (1,)])  # column 0 is empty
