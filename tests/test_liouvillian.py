"""The generic superoperator conventions: column stacking, vec(AXB) = (B^T kron A) vec(X), Lindblad form."""

import jax.numpy as jnp
import numpy as np

import jaxengine as je


def _rand_op(rng, n):
    return rng.normal(size=(n, n)) + 1j * rng.normal(size=(n, n))


def _rand_state(rng, n):
    a = _rand_op(rng, n)
    r = a @ a.conj().T
    return r / np.trace(r)


def test_vec_is_column_stacking():
    x = np.array([[1, 2], [3, 4]], complex)
    np.testing.assert_array_equal(je.vec(x), [1, 3, 2, 4])
    np.testing.assert_array_equal(je.unvec(je.vec(x)), x)


def test_vec_of_product(rng):
    a, x, b = (_rand_op(rng, 3) for _ in range(3))
    np.testing.assert_allclose(je.vec(a @ x @ b), np.kron(b.T, a) @ np.asarray(je.vec(x)), rtol=1e-13)
    np.testing.assert_allclose(je.spre(jnp.asarray(a)) @ je.vec(x), je.vec(a @ x), rtol=1e-13)
    np.testing.assert_allclose(je.spost(jnp.asarray(b)) @ je.vec(x), je.vec(x @ b), rtol=1e-13)


def test_superoperator_matches_matrix_form(rng):
    n = 4
    h = _rand_op(rng, n)
    H = jnp.asarray(h + h.conj().T)
    jumps = jnp.asarray(np.stack([_rand_op(rng, n) for _ in range(3)]))
    for _ in range(3):
        rho = jnp.asarray(_rand_state(rng, n))
        lhs = je.liouvillian(H, jumps) @ je.vec(rho)
        np.testing.assert_allclose(lhs, je.vec(je.lindblad_rhs(H, jumps, rho)), rtol=1e-12, atol=1e-12)
        # and against a plain NumPy evaluation of the Lindblad equation
        ref = -1j * (H @ rho - rho @ H)
        for a in np.asarray(jumps):
            ref = ref + a @ rho @ a.conj().T - 0.5 * (a.conj().T @ a @ rho + rho @ a.conj().T @ a)
        np.testing.assert_allclose(je.lindblad_rhs(H, jumps, rho), ref, rtol=1e-12, atol=1e-12)


def test_trace_and_hermiticity_preservation(rng):
    n = 3
    h = _rand_op(rng, n)
    L = np.asarray(je.liouvillian(jnp.asarray(h + h.conj().T), jnp.asarray(_rand_op(rng, n))[None]))
    vec_identity = np.eye(n).reshape(-1)
    np.testing.assert_allclose(vec_identity @ L, 0, atol=1e-12)  # vec(I)^dagger L = 0
    x = _rand_op(rng, n)
    herm = x + x.conj().T
    out = np.asarray(je.unvec(L @ np.asarray(je.vec(herm))))
    np.testing.assert_allclose(out, out.conj().T, atol=1e-12)


def test_batched_liouvillian(rng):
    H = jnp.asarray(np.stack([np.diag(rng.normal(size=2)) for _ in range(5)]).astype(complex))
    jumps = jnp.asarray(np.array([[0, 0], [1, 0]], complex))[None]
    L = je.liouvillian(H, jumps)
    assert L.shape == (5, 4, 4)
    np.testing.assert_allclose(L[3], je.liouvillian(H[3], jumps), rtol=1e-15)
