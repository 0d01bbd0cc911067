"""The engine model against hand-built operators (tests/helpers.py) and exact rate formulas."""

import numpy as np
import pytest
from helpers import np_model, np_rates, point, random_params

import jaxengine as je


@pytest.mark.parametrize("bath", ["bosonic", "fermionic"])
def test_hamiltonian_and_jumps_match_hand_built(rng, bath):
    p = random_params(rng, 5, bath=bath)
    H, J = np.asarray(je.hamiltonian(p)), np.asarray(je.jump_operators(p))
    assert H.shape == (5, 4, 4) and J.shape == (5, 4, 4, 4)
    for i in range(5):
        H_ref, c_ref = np_model(point(p, i))
        np.testing.assert_allclose(H[i], H_ref, rtol=1e-15, atol=0)
        np.testing.assert_allclose(J[i], np.stack(c_ref), rtol=1e-14, atol=0)


def test_basis_order_and_sigma_plus():
    # |11>, |10>, |01>, |00>: the hot qubit is the left factor, |1> = (1, 0) is excited
    H = np.asarray(je.hamiltonian(je.EngineParams(eps_h=1.0, delta=0.25, g=0.0)))
    np.testing.assert_allclose(np.diag(H).real, [2.25, 1.0, 1.25, 0.0])
    sp_h = np.asarray(je.jump_operators(je.EngineParams(T_h=1.0, gamma_h=1.0)))[0]
    # sigma+_h |00> = |10>: column 3 (|00>) has its entry in row 1 (|10>)
    assert sp_h[1, 3] != 0 and np.count_nonzero(sp_h) == 2


@pytest.mark.parametrize("bath", ["bosonic", "fermionic"])
def test_rates(bath):
    p = je.EngineParams(eps_h=1.1, delta=-0.05, gamma_h=2e-3, gamma_c=3e-3, T_h=0.8, T_c=0.2, bath=bath)
    got = np.asarray(je.rates(p))
    ref = [*np_rates(1.1, 0.8, 2e-3, bath), *np_rates(1.05, 0.2, 3e-3, bath)]
    np.testing.assert_allclose(got, ref, rtol=1e-14)
    # detailed balance at each qubit's own gap
    np.testing.assert_allclose(got[0] / got[1], np.exp(-1.1 / 0.8), rtol=1e-14)
    np.testing.assert_allclose(got[2] / got[3], np.exp(-1.05 / 0.2), rtol=1e-14)


def test_zero_temperature_limit_is_exact():
    up_h, down_h, up_c, down_c = (float(x) for x in je.rates(je.EngineParams(T_h=0.0, T_c=1e-4)))
    assert up_h == 0.0 and down_h == 1e-3 and up_c == 0.0 and down_c == 1.1e-2
