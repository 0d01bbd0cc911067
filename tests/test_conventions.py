"""One test per item of ../shared/physics/CONVENTIONS.md: the places where the printed paper misleads."""

import numpy as np
import pytest
from helpers import np_heat, np_model, np_rates, np_steady

import jaxengine as je

# the public reference point of CONVENTIONS.md (Fig parameters, T_h = 0.7, delta = 0, kappa = 0)
REF = dict(J=1.9948078937e-04, N=8.9722638102e-04, J_c=9.0461953850e-05)


@pytest.mark.parametrize("fn", [je.observables, je.closed_form])
def test_public_reference_point_to_10_digits(fn):
    o = fn(je.EngineParams(T_h=0.7, delta=0.0))
    for got, want in [(o.J, REF["J"]), (o.negativity, REF["N"]), (o.J_c, REF["J_c"])]:
        assert f"{float(got):.10e}" == f"{want:.10e}"


def _bare_heat(p):
    """Q_j with the BARE Hamiltonian eps_h n_h + eps_c n_c (the paper's eq 10), from an independent solve."""
    H, c_ops = np_model(p)
    rho = np_steady(H, c_ops)
    H_bare = np.diag(np.diag(H).real)  # the bare part is the diagonal of H in this basis
    return np_heat(H, c_ops, rho), np_heat(H_bare, c_ops, rho)


def test_1_heat_current_needs_the_full_hamiltonian():
    p = je.EngineParams(T_h=0.7, delta=0.05, kappa_h=0.05)
    o = je.observables(p)
    (q_h, q_c), (b_h, b_c) = _bare_heat(p)
    np.testing.assert_allclose([o.Q_h, o.Q_c], [q_h, q_c], rtol=1e-9)
    assert abs(float(o.Q_h + o.Q_c)) < 1e-18  # first law, full H
    assert abs(b_h + b_c) > 1e-3 * abs(b_h)  # the bare H violates it
    # at g = 0 with tunnelling, the bare H shows a spurious current; the full H gives none
    p0 = je.EngineParams(T_h=0.7, g=0.0, kappa_h=0.05)
    (_, _), (b_h0, _) = _bare_heat(p0)
    assert abs(b_h0) > 1e-7 and abs(float(je.observables(p0).Q_h)) < 1e-18


def test_1_bare_current_is_off_by_percent_at_detuning():
    p = je.EngineParams(T_h=0.7, delta=0.05)
    (q_h, q_c), (b_h, b_c) = _bare_heat(p)
    assert abs((b_h - b_c) / (q_h - q_c) - 1) > 0.01


def test_2_J_is_twice_Q_h_and_eq_11():
    p = je.EngineParams(T_h=0.8, delta=0.02)
    o, cf = je.observables(p), je.closed_form(p)
    np.testing.assert_allclose(o.J, 2 * o.Q_h, rtol=1e-13)
    np.testing.assert_allclose(o.J, o.Q_h - o.Q_c, rtol=1e-15)
    np.testing.assert_allclose(o.J, cf.J, rtol=1e-10)


def test_3_sign_of_J_follows_occupations_not_temperatures():
    # T_h > T_c, but the detuning makes n_B(eps_h, T_h) < n_B(eps_c, T_c): heat flows backwards
    p = je.EngineParams(T_h=0.2, T_c=0.19, delta=-0.1)
    n_h, n_c = np_rates(1.0, 0.2, 1.0)[0], np_rates(0.9, 0.19, 1.0)[0]
    assert n_h < n_c
    assert float(je.observables(p).J) < 0 and float(je.closed_form(p).J) < 0
    assert float(je.observables(je.EngineParams(T_h=0.2, T_c=0.19)).J) > 0


def test_4_coherence_is_rho_1_2_as_in_eq_8():
    p = je.EngineParams(T_h=0.7, delta=0.03)
    rho = np.asarray(je.observables(p).rho)
    rho_cf = np.asarray(je.closed_form(p).rho)
    np.testing.assert_allclose(rho[1, 2], rho_cf[1, 2], rtol=1e-10)
    assert rho[1, 2].imag > 0 and rho[1, 2].real < 0  # (i Gamma - 2 delta) with J > 0, delta > 0
    np.testing.assert_allclose(np.abs(rho - rho_cf).max(), 0, atol=1e-15)
    zeros = [(0, 1), (0, 2), (0, 3), (1, 3), (2, 3)]  # X shape at kappa = 0
    assert all(abs(rho[i, j]) < 1e-17 for i, j in zeros)


def test_5_eq_16_cancels_and_the_stable_form_does_not():
    import mpmath as mp

    from jaxengine._observables.closed_forms import stable_x_negativity

    mp.mp.dps = 50
    d = np.linspace(0.0, 0.035, 60)
    o = je.closed_form(je.EngineParams(T_h=0.3, delta=d))
    rho = np.asarray(o.rho)
    r1, r4, c = rho[:, 0, 0].real, rho[:, 3, 3].real, rho[:, 1, 2]
    naive = 0.5 * (np.sqrt(4 * np.abs(c) ** 2 + (r1 - r4) ** 2) - (r1 + r4))
    stable = np.asarray(stable_x_negativity(r1, r4, c))
    exact = np.array(
        [
            float(0.5 * (mp.sqrt(4 * mp.mpf(abs(ci)) ** 2 + (mp.mpf(a) - mp.mpf(b)) ** 2) - (mp.mpf(a) + mp.mpf(b))))
            for a, b, ci in zip(r1, r4, c, strict=True)
        ]
    )
    m = exact > 0
    assert m.sum() > 10
    err_naive = np.max(np.abs(naive[m] - exact[m]) / exact[m])
    err_stable = np.max(np.abs(stable[m] - exact[m]) / exact[m])
    assert err_stable < 1e-12 and err_naive > 1e3 * err_stable


def _eq17(p, *, squared_up=False):
    """Eq 17 as printed; with squared_up=True, the misreading with (gamma^+)^2 for the bare gamma^2."""
    ghp, ghm, gcp, gcm = (np.asarray(x) for x in je.rates(p))
    gh, gc = (ghp, gcp) if squared_up else (ghm - ghp, gcm - gcp)
    g, d = p.g, np.asarray(p.delta)
    Gh, Gc = ghp + ghm, gcp + gcm
    G = Gh + Gc
    chi = (4 * g**2 + Gh * Gc) * G**2 + 4 * d**2 * Gh * Gc
    s = 4 * d**2 + G**2
    A = gh**2 + gc**2 + 2 * (ghp + gcm) * (ghm + gcp)
    B = ghm * gcm + ghp * gcp
    C = (
        ghp * gcp * (ghp**2 + gcp**2)
        + ghm * gcm * (ghm**2 + gcm**2)
        + 2 * (ghm**2 + ghp**2) * (gcm**2 + gcp**2)
        - (ghm * ghp + gcm * gcp) * (ghm * gcp + ghp * gcm)
        - 8 * ghm * ghp * gcm * gcp
    )
    D = (ghm * gcm - ghp * gcp) ** 2
    return (-4 * g**2 * A - B * s + np.sqrt(16 * g**4 * (gh + gc) ** 2 * G**2 + 8 * g**2 * C * s + D * s**2)) / (
        2 * chi
    )


def test_6_eq_17_uses_bare_rates():
    p = je.EngineParams(T_h=0.5, delta=np.linspace(-0.05, 0.05, 41))
    n = np.asarray(je.negativity_signed(je.closed_form(p).rho))
    scale = np.abs(n).max()
    assert np.max(np.abs(_eq17(p) - n)) < 1e-9 * scale  # eq 17 itself cancels: 1e-9 of the largest |n|
    assert np.max(np.abs(_eq17(p, squared_up=True) - n)) > 1e-2 * scale


def test_7_witness_needs_abs_J():
    rng = np.random.default_rng(1)
    n = 20000
    p = je.EngineParams(
        delta=rng.uniform(-0.1, 0.1, n),
        T_h=rng.uniform(0.05, 2, n),
        T_c=rng.uniform(0.05, 2, n),
        g=rng.uniform(1e-4, 1e-2, n),
        gamma_h=10 ** rng.uniform(-4, -1, n),
        gamma_c=10 ** rng.uniform(-4, -1, n),
    )
    o = je.closed_form(p)
    N, J, J_c = (np.asarray(x) for x in (o.negativity, o.J, o.J_c))
    entangled = N > 0
    assert (entangled & (J < 0)).sum() > 0.2 * entangled.sum()  # many entangled points run backwards
    np.testing.assert_array_equal(entangled, np.abs(J) > J_c)
    np.testing.assert_array_equal(entangled, np.asarray(o.witness) > 1)
    assert np.mean(entangled == (J > J_c)) < 0.99  # the signed J of the printed eq 18 gets these wrong
    # the numerical solve agrees with the identity too (away from the boundary, where roundoff decides)
    on = je.observables(p)
    w = np.asarray(on.witness)
    far = np.abs(w - 1) > 1e-6
    np.testing.assert_array_equal((np.asarray(on.negativity) > 0)[far], (w > 1)[far])


def test_8_fig_3a_text_fails_for_positive_detuning_at_high_T_h():
    d = np.linspace(0, 0.1, 201)
    hot = je.observables(je.EngineParams(T_h=0.7, delta=d))
    assert np.all(np.asarray(hot.negativity) > 0)  # no positive critical detuning at T_h = 0.7
    assert np.asarray(hot.witness).min() > 1
    neg = je.observables(je.EngineParams(T_h=0.7, delta=-d))
    assert np.any(np.asarray(neg.negativity) == 0)  # but a negative one exists
    cold = je.observables(je.EngineParams(T_h=0.25, delta=d))
    assert np.any(np.asarray(cold.negativity) == 0)  # and at low T_h a positive one exists


def test_9_kappa_max_of_J_near_gap_matching():
    delta = 0.01
    k = np.linspace(0.0, 0.15, 3001)
    o = je.observables(je.EngineParams(T_h=0.7, delta=delta, kappa_h=k))
    k_J = k[np.argmax(np.asarray(o.J))]
    gap = np.sqrt((1 + delta) ** 2 - 1) / 2
    assert abs(k_J - gap) < 0.02 * gap
    # and the maximum recovers most of the delta = 0 current
    J0 = float(je.observables(je.EngineParams(T_h=0.7)).J)
    assert np.asarray(o.J).max() > 0.9 * J0 > float(o.J[0])


def test_precision_float32_is_not_enough():
    """float32 elimination loses up to percents of tiny negativities: why float64 is the default."""
    d = np.linspace(0.0, 0.035, 200)
    p64 = je.EngineParams(T_h=0.3, delta=d)
    N64 = np.asarray(je.observables(p64).negativity)
    M = np.asarray(je._generator.pauli.engine_generator(je._models.params.prepare(p64)[0]))
    x32 = np.linalg.solve(M[:, 1:, 1:].astype(np.float32), -M[:, 1:, 0, None].astype(np.float32))[..., 0]
    x = np.concatenate([np.ones((len(d), 1)), x32.astype(np.float64)], axis=1)
    rho32 = np.einsum("nk,kij->nij", x, je._generator.pauli.PAULI) / 4
    N32 = np.asarray(je.negativity(rho32))
    m = N64 > 1e-7
    assert np.max(np.abs(N32[m] - N64[m]) / N64[m]) > 1e-4
