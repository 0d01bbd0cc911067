"""Entanglement measures on textbook states, and physical invariants of the engine's steady state."""

import jax.numpy as jnp
import numpy as np
import pytest
from helpers import np_rates, random_params

import jaxengine as je

BELL = np.array([1, 0, 0, 1]) / np.sqrt(2)


def werner(p):
    return p * np.outer(BELL, BELL) + (1 - p) * np.eye(4) / 4


def test_bell_and_product_states():
    bell = jnp.asarray(np.outer(BELL, BELL), dtype=complex)
    np.testing.assert_allclose(je.negativity(bell), 0.5, rtol=1e-14)
    np.testing.assert_allclose(je.concurrence(bell), 1.0, rtol=1e-12)
    a, b = np.array([0.6, 0.8]), np.array([1, 1j]) / np.sqrt(2)
    prod = jnp.asarray(np.outer(np.kron(a, b), np.kron(a, b).conj()))
    assert abs(float(je.negativity(prod))) < 1e-15
    assert abs(float(je.concurrence(prod))) < 1e-7  # sqrt of roundoff-level eigenvalues


@pytest.mark.parametrize("p", [0.0, 0.2, 1 / 3, 0.5, 0.9, 1.0])
def test_werner_family(p):
    rho = jnp.asarray(werner(p), dtype=complex)
    np.testing.assert_allclose(je.negativity(rho), max(0.0, (3 * p - 1) / 4), atol=1e-15)
    np.testing.assert_allclose(je.negativity_signed(rho), (3 * p - 1) / 4, atol=1e-15)
    np.testing.assert_allclose(je.concurrence(rho), max(0.0, (3 * p - 1) / 2), atol=1e-7)


def test_concurrence_of_pure_states(rng):
    for _ in range(5):
        psi = rng.normal(size=4) + 1j * rng.normal(size=4)
        psi /= np.linalg.norm(psi)
        a, b, c, d = psi  # |11>, |10>, |01>, |00>
        rho = jnp.asarray(np.outer(psi, psi.conj()))
        np.testing.assert_allclose(je.concurrence(rho), 2 * abs(a * d - b * c), atol=1e-7)
        # pure states: N = |a d - b c| as well
        np.testing.assert_allclose(je.negativity(rho), abs(a * d - b * c), atol=1e-14)


def test_partial_transpose(rng):
    x = rng.normal(size=(4, 4)) + 1j * rng.normal(size=(4, 4))
    rho = jnp.asarray(x @ x.conj().T)
    for site in ("h", "c"):
        np.testing.assert_allclose(je.partial_transpose(je.partial_transpose(rho, site), site), rho)
    ev_h = np.linalg.eigvalsh(np.asarray(je.partial_transpose(rho, "h")))
    ev_c = np.linalg.eigvalsh(np.asarray(je.partial_transpose(rho, "c")))
    np.testing.assert_allclose(ev_h, ev_c, atol=1e-12)
    # explicit element: <h c|rho^{T_c}|h' c'> = <h c'|rho|h' c>
    r = np.asarray(rho).reshape(2, 2, 2, 2)
    pt = np.asarray(je.partial_transpose(rho, "c")).reshape(2, 2, 2, 2)
    assert pt[0, 1, 1, 0] == r[0, 0, 1, 1]


@pytest.mark.parametrize("bath", ["bosonic", "fermionic"])
def test_steady_state_invariants(rng, bath):
    p = random_params(rng, 500, bath=bath)
    o = je.observables(p)
    rho = np.asarray(o.rho)
    np.testing.assert_allclose(np.trace(rho, axis1=-2, axis2=-1), 1, atol=1e-14)
    np.testing.assert_array_equal(rho, np.conj(np.swapaxes(rho, -1, -2)))
    assert np.linalg.eigvalsh(rho).min() > -1e-15
    N = np.asarray(o.negativity)
    assert N.min() >= 0 and N.max() <= 0.5
    assert N.max() > 0  # the draw does contain entangled points
    # first law with the full Hamiltonian, for any kappa
    # roundoff scale of Tr[H D rho]: |H| ~ eps_h, |D| ~ gamma_h + gamma_c
    scale = np.asarray(p.eps_h) * (np.asarray(p.gamma_h) + np.asarray(p.gamma_c))
    assert np.all(np.abs(np.asarray(o.Q_h + o.Q_c)) < 1e-13 * scale)
    np.testing.assert_allclose(o.J, 2 * o.Q_h, rtol=1e-12, atol=1e-15 * scale.max())


@pytest.mark.parametrize("bath", ["bosonic", "fermionic"])
def test_no_current_at_equal_occupations(bath):
    # n(eps_h, T_h) = n(eps_c, T_c) when eps_h / T_h = eps_c / T_c, even with T_h != T_c
    eps_h, delta, T_h = 1.0, 0.04, 0.5
    p = je.EngineParams(eps_h=eps_h, delta=delta, T_h=T_h, T_c=T_h * (eps_h + delta) / eps_h, bath=bath)
    np.testing.assert_allclose(*[float(x) for x in je.occupations(p)], rtol=1e-15)
    o = je.observables(p)
    assert abs(float(o.J)) < 1e-18 and float(o.negativity) < 1e-16
    assert float(je.closed_form(p).J) == 0.0


@pytest.mark.parametrize("bath", ["bosonic", "fermionic"])
def test_uncoupled_qubits_thermalise_to_gibbs(bath):
    p = je.EngineParams(g=0.0, delta=0.03, T_h=0.6, T_c=0.15, bath=bath)
    o = je.observables(p)

    def gibbs(eps, T):
        up, down = np_rates(eps, T, 1.0, bath)
        pe = up / (up + down)  # detailed balance p_e / p_g = up / down = exp(-eps / T)
        np.testing.assert_allclose(pe / (1 - pe), np.exp(-eps / T), rtol=1e-13)
        return np.diag([pe, 1 - pe])

    np.testing.assert_allclose(o.rho, np.kron(gibbs(1.0, 0.6), gibbs(1.03, 0.15)), atol=1e-15)
    assert abs(float(o.J)) < 1e-18 and float(o.negativity) < 1e-16 and float(o.witness) == 0.0


def test_heat_currents_public_function(rng):
    p = random_params(rng, 7)
    o = je.observables(p)
    q_h, q_c = je.heat_currents(p, o.rho)
    # the kernel takes Q from the Pauli vector, heat_currents from 4x4 matrices: equal to roundoff
    np.testing.assert_allclose(q_h, o.Q_h, rtol=1e-10, atol=1e-18)
    np.testing.assert_allclose(q_c, o.Q_c, rtol=1e-10, atol=1e-18)
    # a maximally mixed state: heat flows out of the qubits into the (colder) baths
    q_h, q_c = je.heat_currents(je.EngineParams(), jnp.eye(4, dtype=complex) / 4)
    assert float(q_h) < 0 and float(q_c) < 0
