"""The solvers built on gradients (kappa_max, critical_detuning, critical_temperature, optimise), each against an
independent reference: SciPy root finding and maximisation on the NumPy SVD and 40-digit mpmath steady states of
tests/helpers.py, the
witness identity |J| = J_c at kappa = 0, and dense grid searches."""

import numpy as np
import pytest
from helpers import mp_steady, np_heat, np_model, np_steady
from scipy.optimize import brentq, minimize_scalar

import jaxengine as je


def np_J(p):
    H, c = np_model(p)
    q_h, q_c = np_heat(H, c, np_steady(H, c))
    return q_h - q_c


def np_n(p):
    """Signed negativity -lambda_min of the partial transpose on c, NumPy."""
    H, c = np_model(p)
    rho = np_steady(H, c)
    pt = rho.reshape(2, 2, 2, 2).transpose(0, 3, 2, 1).reshape(4, 4)
    return -np.linalg.eigvalsh(pt)[0]


def mp_n(p):
    """Signed negativity from the 40-digit mpmath steady state (the PT spectrum in float64 after rounding rho)."""
    rho = np.array([[complex(v) for v in row] for row in mp_steady(p, 40)])
    pt = rho.reshape(2, 2, 2, 2).transpose(0, 3, 2, 1).reshape(4, 4)
    return -np.linalg.eigvalsh(pt)[0]


def check_root(value, f_np, f_mp, a, b):
    """value is the root of f in [a, b] to 1e-10 relative, or to the conditioning of the problem where f crosses
    zero very flatly (float64 resolves f to ~1e-17 absolute, so a root with slope s is defined to ~1e-17/|s|)."""
    ref = brentq(f_mp, a, b, xtol=1e-16, rtol=1e-15)
    h = 1e-4 * max(abs(ref), 0.1)
    slope = (f_np(ref + h) - f_np(ref - h)) / (2 * h)
    tol = max(1e-10 * abs(ref), 2e-17 / abs(slope))
    assert abs(value - ref) <= tol, (value, ref, tol)
    return ref


def np_argmax(f, a, b, h):
    """argmax of a smooth f on (a, b): brentq on its central-difference derivative (step h)."""
    return brentq(lambda x: (f(x + h) - f(x - h)) / (2 * h), a, b, xtol=1e-14, rtol=1e-14)


DELTAS = np.array([0.005, 0.01, 0.03, 0.05])


def test_kappa_max_of_J_matches_scipy_and_gap_matching():
    base = je.EngineParams(T_h=0.7, delta=DELTAS)
    r = je.kappa_max(base, observable="J")
    assert r.kappa.shape == DELTAS.shape and bool(np.all(r.ok))
    for i, d in enumerate(DELTAS):
        p = je.EngineParams(T_h=0.7, delta=float(d))
        gap = np.sqrt((1 + d) ** 2 - 1) / 2  # CONVENTIONS #9: near, not at, the maximum
        f = lambda k, p=p: np_J(p.replace(kappa_h=k))  # noqa: E731
        k_ref = np_argmax(f, gap * 0.9, gap * 1.1, 1e-5)
        assert abs(float(r.kappa[i]) - k_ref) < 1e-8, (d, float(r.kappa[i]), k_ref)
        np.testing.assert_allclose(float(r.value[i]), f(k_ref), rtol=1e-10)
        assert abs(k_ref - gap) < 1e-3 * gap + 1e-4
    # brackets that exclude every maximum: the result is the edge nearer to it, with ok=True (same compilation)
    for bracket, edge in (((0.17, 0.3), 0.17), ((0.0, 0.04), 0.04)):
        r = je.kappa_max(base, observable="J", bracket=bracket)
        assert bool(np.all(r.ok)) and np.all(np.asarray(r.kappa) == edge), (bracket, r.kappa)


def test_kappa_max_of_negativity_matches_a_fine_scan():
    """N is flat at its maximum: the value to 1e-10, the argmax to ~1e-6 (SciPy bounded maximisation of NumPy N).
    At g = 0 (third point) N = 0 for every kappa: ok=False rather than a meaningless argmax."""
    d = np.array([0.01, 0.03, 0.01])
    r = je.kappa_max(je.EngineParams(T_h=0.7, delta=d, g=np.array([1.6e-3, 1.6e-3, 0.0])))
    assert bool(np.all(r.ok[:2])) and not bool(r.ok[2]) and float(r.value[2]) == 0.0
    for i in range(2):
        p = je.EngineParams(T_h=0.7, delta=float(d[i]))
        ks = np.linspace(0, 0.5, 201)
        vals = [np_n(p.replace(kappa_h=k)) for k in ks]
        j = int(np.argmax(vals))
        res = minimize_scalar(
            lambda k, p=p: -np_n(p.replace(kappa_h=k)), bounds=(ks[j - 1], ks[j + 1]), options=dict(xatol=1e-9)
        )
        assert abs(float(r.kappa[i]) - res.x) < 2e-6, (float(r.kappa[i]), res.x)
        np.testing.assert_allclose(float(r.value[i]), -res.fun, rtol=1e-10)


def test_kappa_max_bad_input():
    with pytest.raises(ValueError, match="observable"):
        je.kappa_max(je.EngineParams(), observable="entropy")
    with pytest.raises(ValueError, match="field"):
        je.kappa_max(je.EngineParams(), field="kappa")
    with pytest.raises(ValueError, match="bracket"):
        je.kappa_max(je.EngineParams(), bracket=(0.3, 0.1))


@pytest.mark.parametrize("kappa_h", [0.0, 0.04])
def test_critical_detuning_matches_mpmath_and_the_witness(kappa_h):
    T_h = np.array([0.25, 0.3, 0.5, 0.7])
    base = je.EngineParams(T_h=T_h, kappa_h=kappa_h)
    neg = je.critical_detuning(base, sign=-1)
    pos = je.critical_detuning(base, sign=+1)
    for i, t in enumerate(T_h):
        p = je.EngineParams(T_h=float(t), kappa_h=kappa_h)
        f = lambda d, p=p: np_n(p.replace(delta=d))  # noqa: E731
        for r, sign in ((neg, -1), (pos, +1)):
            ds = sign * np.linspace(0, 0.25, 251)
            vals = np.array([f(d) for d in ds])
            cross = np.flatnonzero(np.sign(vals[1:]) != np.sign(vals[:-1]))
            if vals[0] <= 0 or cross.size == 0:  # no crossing: ok=False and nan, not an exception
                assert not bool(r.ok[i]) and np.isnan(float(r.value[i])), (t, sign)
                continue
            assert bool(r.ok[i]), (t, sign)
            a, b = sorted((ds[cross[0]], ds[cross[0] + 1]))
            check_root(float(r.value[i]), f, lambda d, p=p: mp_n(p.replace(delta=d)), a, b)
            if kappa_h == 0.0:  # eq 18 with |J|: the root of N is where |J| = J_c
                o = je.closed_form(p.replace(delta=float(r.value[i])))
                np.testing.assert_allclose(float(o.witness), 1.0, atol=1e-9)
    if kappa_h == 0.0:  # CONVENTIONS.md #8: a negative crossing at every T_h, a positive one only at low T_h
        assert bool(np.all(neg.ok)) and bool(pos.ok[0]) and not bool(pos.ok[-1])


def test_critical_temperature_matches_mpmath_and_the_witness():
    d = np.array([0.0, 0.01, -0.02])
    r = je.critical_temperature(je.EngineParams(delta=d))
    assert bool(np.all(r.ok))
    for i in range(d.size):
        p = je.EngineParams(delta=float(d[i]))
        f_np, f_mp = (lambda t, p=p, f=f: f(p.replace(T_h=t)) for f in (np_n, mp_n))
        check_root(float(r.value[i]), f_np, f_mp, 0.12, 0.3)
        np.testing.assert_allclose(float(je.closed_form(p.replace(T_h=float(r.value[i]))).witness), 1.0, atol=1e-9)
    # no crossing in the bracket: ok=False
    r = je.critical_temperature(je.EngineParams(g=0.0), bracket=(0.2, 2.0))
    assert not bool(r.ok) and np.isnan(float(r.value))


def test_critical_bad_input():
    with pytest.raises(ValueError, match="sign"):
        je.critical_detuning(je.EngineParams(), sign=0)
    with pytest.raises(ValueError, match="bracket"):
        je.critical_detuning(je.EngineParams(), sign=-1, bracket=(0.0, 1.5))
    with pytest.raises(ValueError, match="bracket"):
        je.critical_temperature(je.EngineParams(), bracket=(-0.1, 1.0))


def test_optimise_tunnelling_beats_the_grid_search():
    """max N over (kappa_h, kappa_c) at delta = 0.01, T_h = 0.7 vs a 121 x 121 grid of observables."""
    base = je.EngineParams(delta=0.01, T_h=0.7)
    bounds = {"kappa_h": (0.0, 0.3), "kappa_c": (0.0, 0.3)}
    r = je.optimise("negativity", base, free="kappa_h,kappa_c", bounds=bounds, starts=8, steps=300)
    kh, kc = np.linspace(0, 0.3, 121), np.linspace(0, 0.3, 121)
    grid = je.observables(base.replace(kappa_h=kh[:, None], kappa_c=kc[None, :])).negativity
    i, j = np.unravel_index(int(np.argmax(grid)), grid.shape)
    step = kh[1] - kh[0]
    assert abs(r.params.kappa_h - kh[i]) <= step and abs(r.params.kappa_c - kc[j]) <= step
    assert float(r.value) >= float(grid[i, j]) - 1e-12  # at least as good as the best grid point
    # and the reported value is the independent N at the reported parameters
    np.testing.assert_allclose(float(r.value), np_n(r.params), rtol=1e-9)
    assert r.history.shape == (300, 8)


def test_optimise_couplings_beats_the_grid_search():
    """max N over (g, gamma_h, gamma_c) at the Fig 2 temperatures (T_h = 0.7, T_c = 0.1, delta = 0) vs a log grid."""
    base = je.EngineParams(T_h=0.7)
    bounds = {"g": (1e-4, 1e-2), "gamma_h": (1e-4, 1e-1), "gamma_c": (1e-4, 1e-1)}
    r = je.optimise("negativity", base, free=["g", "gamma_h", "gamma_c"], bounds=bounds, starts=8, steps=300)
    n = 31
    g, gh, gc = (np.geomspace(*bounds[k], n) for k in ("g", "gamma_h", "gamma_c"))
    grid = je.observables(base.replace(g=g[:, None, None], gamma_h=gh[None, :, None], gamma_c=gc[None, None, :]))
    best = float(np.max(grid.negativity))
    assert float(r.value) >= best - 1e-12
    assert float(r.value) <= best * 1.01  # within the grid's resolution (one log step in each direction)
    np.testing.assert_allclose(float(r.value), np_n(r.params), rtol=1e-9)
    # beats the paper's operating point (g = 1.6e-3, gamma_h = 1e-3, gamma_c = 1.1e-2)
    assert float(r.value) > 1.1 * float(je.observables(base).negativity)


@pytest.mark.slow  # ~40-70 s of compilation on 2 cores; CI budget
def test_optimise_callable_objective():
    base = je.EngineParams(delta=0.02, T_h=0.7)
    r = je.optimise(lambda o: o.J, base, free="kappa_h", bounds={"kappa_h": (0.0, 0.3)}, starts=4, steps=200)
    ref = je.kappa_max(base, observable="J")
    np.testing.assert_allclose(r.params.kappa_h, float(ref.kappa), atol=1e-6)
    np.testing.assert_allclose(float(r.value), float(ref.value), rtol=1e-10)


def test_optimise_bad_input():
    base = je.EngineParams()
    with pytest.raises(ValueError, match="bounds"):
        je.optimise("J", base, free="kappa_h", bounds={})
    with pytest.raises(ValueError, match="free"):
        je.optimise("J", base, free="kappa", bounds={"kappa": (0, 1)})
    with pytest.raises(ValueError, match="objective"):
        je.optimise("entropy", base, free="kappa_h", bounds={"kappa_h": (0, 1)})


def test_negativity_is_invariant_under_a_common_rescaling_of_g_and_the_rates():
    """At delta = kappa = 0 the steady state depends only on g/gamma_h and gamma_c/gamma_h (the bare energies commute
    with the exchange): why the optimum over (g, gamma_h, gamma_c) is a ridge, and a check of the model."""
    p = je.EngineParams(T_h=0.7, g=2e-3, gamma_h=3e-3, gamma_c=1e-2)
    for lam in (0.1, 3.0):
        q = p.replace(g=p.g * lam, gamma_h=p.gamma_h * lam, gamma_c=p.gamma_c * lam)
        np.testing.assert_allclose(np_n(q), np_n(p), rtol=1e-10)
        np.testing.assert_allclose(np_J(q), lam * np_J(p), rtol=1e-10)
