"""Steady states against independent references: detailed balance, a NumPy SVD null space, and QuTiP 5."""

import jax.numpy as jnp
import numpy as np
import pytest
from helpers import mp_steady, np_heat, np_model, np_negativity, np_steady, point, random_params

import jaxengine as je


def test_single_qubit_detailed_balance():
    up, down = 0.3, 1.7
    sp = jnp.asarray([[0, 1], [0, 0]], complex)
    L = je.liouvillian(jnp.diag(jnp.asarray([1.0, 0.0])).astype(complex), jnp.stack([up**0.5 * sp, down**0.5 * sp.T]))
    ss = je.steady_state(L)
    np.testing.assert_allclose(ss.rho[0, 0] / ss.rho[1, 1], up / down, rtol=1e-14)
    assert ss.rho.shape == (2, 2) and bool(ss.ok)


@pytest.mark.parametrize("bath", ["bosonic", "fermionic"])
def test_engine_matches_numpy_null_space(rng, bath):
    p = random_params(rng, 40, bath=bath)
    ss = je.steady_state(p)
    o = je.observables(p)
    for i in range(40):
        H, c_ops = np_model(point(p, i))
        rho = np_steady(H, c_ops)
        np.testing.assert_allclose(ss.rho[i], rho, rtol=0, atol=1e-11)
        q_h, q_c = np_heat(H, c_ops, rho)
        np.testing.assert_allclose(o.Q_h[i], q_h, rtol=1e-8, atol=1e-16)
        np.testing.assert_allclose(o.J[i], q_h - q_c, rtol=1e-8, atol=1e-16)
        np.testing.assert_allclose(o.negativity[i], np_negativity(rho), rtol=1e-8, atol=1e-14)


def test_engine_matches_generic_dense_path(rng):
    p = random_params(rng, 50)
    L = je.liouvillian(je.hamiltonian(p), je.jump_operators(p))
    generic = je.steady_state(L)
    fast = je.steady_state(p)
    np.testing.assert_allclose(fast.rho, generic.rho, rtol=0, atol=1e-12)
    # the engine residual is that of the complex Liouvillian
    direct = jnp.linalg.norm(jnp.einsum("...ij,...j->...i", L, je.vec(fast.rho)), axis=-1)
    np.testing.assert_allclose(fast.residual, direct, rtol=0, atol=1e-16)


def test_qutip_100_random_points(rng):
    qutip = pytest.importorskip("qutip")
    n = 100
    p = random_params(rng, n)
    p = p.replace(kappa_h=np.where(np.abs(p.kappa_h) < 1e-3, 1e-2, p.kappa_h))  # kappa != 0 everywhere
    o = je.observables(p)
    assert np.all(np.sign(p.delta) > 0) is not True and np.any(p.delta > 0) and np.any(p.delta < 0)
    assert np.any(p.eps_h != 1.0)
    for i in range(n):
        H, c_ops = np_model(point(p, i))
        dims = [[2, 2], [2, 2]]
        rho = qutip.steadystate(qutip.Qobj(H, dims=dims), [qutip.Qobj(c, dims=dims) for c in c_ops]).full()
        np.testing.assert_allclose(o.rho[i], rho, rtol=0, atol=1e-10)
        q_h, q_c = np_heat(H, c_ops, rho)
        np.testing.assert_allclose(o.J[i], q_h - q_c, rtol=1e-9)
        # N of QuTiP's state by a plain eigvalsh: qutip.negativity itself is off by up to ~1e-13 absolute
        # (checked against a 40-digit mpmath solve, see test_mpmath_reference); N can vanish, hence the floor
        np.testing.assert_allclose(o.negativity[i], np_negativity(rho), rtol=1e-9, atol=1e-15)
        np.testing.assert_allclose(
            o.negativity[i], float(qutip.negativity(qutip.Qobj(rho, dims=dims), 0)), rtol=1e-6, atol=1e-12
        )


EDGE_CASES = [
    dict(T_c=1e-4),
    dict(T_c=1e-4, kappa_h=0.1),
    dict(T_h=100.0),
    dict(T_h=100.0, kappa_c=0.1),
    dict(delta=0.0),
    dict(g=0.0),
    dict(g=0.0, kappa_h=0.05),
    dict(gamma_c=10.0),
    dict(gamma_c=10.0, kappa_h=0.05),
    dict(gamma_h=0.0),
]


@pytest.mark.parametrize("kw", EDGE_CASES, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()))
def test_edge_cases_finite_and_ok(kw):
    p = je.EngineParams(**kw)
    o = je.observables(p)
    assert bool(o.ok)
    for name, v in o._asdict().items():
        assert np.all(np.isfinite(np.asarray(v))), name
    H, c_ops = np_model(p)
    np.testing.assert_allclose(o.rho, np_steady(H, c_ops), rtol=0, atol=1e-10)


def test_singular_point_is_data_and_throw_raises():
    p = je.EngineParams(gamma_h=0.0, gamma_c=np.array([1e-3, 0.0, 0.0, 2e-3]))
    ss = je.steady_state(p, throw=False)
    np.testing.assert_array_equal(ss.ok, [True, False, False, True])
    assert np.all(np.isinf(ss.residual[1:3]))
    with pytest.raises(RuntimeError, match=r"failed at 2 of 4 grid points \(first at index \(1,\)\)"):
        je.steady_state(p)
    with pytest.raises(RuntimeError, match="throw=False"):
        je.observables(p)
    # the generic path flags a Hamiltonian-only Liouvillian too
    L = je.liouvillian(je.hamiltonian(je.EngineParams()), jnp.zeros((0, 4, 4), complex))
    assert not bool(je.steady_state(L, throw=False).ok)


@pytest.mark.parametrize("bath", ["bosonic", "fermionic"])
def test_mpmath_reference(rng, bath):
    """A 40-digit solve: rho to 1e-15 absolute, N and J to 1e-10 relative (kappa != 0, eps_h != 1)."""
    p = random_params(rng, 3, bath=bath)
    o = je.observables(p)
    for i in range(3):
        q = point(p, i)
        rho = np.array([[complex(v) for v in row] for row in mp_steady(q)])
        np.testing.assert_allclose(o.rho[i], rho, rtol=0, atol=1e-15)
        H, c_ops = np_model(q)
        q_h, q_c = np_heat(H, c_ops, rho)
        np.testing.assert_allclose(o.J[i], q_h - q_c, rtol=1e-10)
        np.testing.assert_allclose(o.negativity[i], np_negativity(rho), rtol=1e-10, atol=1e-16)
