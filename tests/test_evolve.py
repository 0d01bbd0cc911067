"""`evolve` and `relaxation` against independent references: SciPy `expm` of the dense complex Liouvillian (built
in NumPy, column stacking, from tests/helpers.py's independent model), QuTiP `mesolve` at tight tolerances, NumPy
`eigvals`, the steady state of `observables`, and physical invariants (trace, Hermiticity, positivity, energy
balance Q_h + Q_c = dE/dt in transients)."""

import jax
import jax.monitoring
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg as sl
from helpers import np_heat, np_model, np_negativity, point, random_params
from jax.test_util import check_grads

import jaxengine as je

_BACKEND_COMPILES = []
jax.monitoring.register_event_duration_secs_listener(
    lambda event, duration, **kw: (
        _BACKEND_COMPILES.append(event) if event == "/jax/core/compile/backend_compile_duration" else None
    )
)

# generic times (one exponential each): t = 0, transients, a 4-point stencil around T_D for dE/dt, and t = 1e8
T_D, H_D = 40.0, 1e-2
TIMES = np.array([0.0, 0.5, 3.7, T_D - 2 * H_D, T_D - H_D, T_D, T_D + H_D, T_D + 2 * H_D, 400.0, 2500.0, 1e8, 1e8])
UNIFORM = np.linspace(0.0, 3000.0, 24)  # linspace: the stepping schedule


def np_liouvillian(H, c_ops):
    """Column-stacked complex Liouvillian, vec(A X B) = (B^T kron A) vec(X), written independently."""
    n = H.shape[0]
    eye = np.eye(n)
    L = -1j * (np.kron(eye, H) - np.kron(H.T, eye))
    for a in c_ops:
        ada = a.conj().T @ a
        L += np.kron(a.conj(), a) - 0.5 * (np.kron(eye, ada) + np.kron(ada.T, eye))
    return L


def np_evolve(p, rho0, times):
    """rho(t) by SciPy expm of the dense 16x16 Liouvillian (Al-Mohy & Higham), one exponential per time."""
    H, c_ops = np_model(p)
    L = np_liouvillian(H, c_ops)
    v0 = rho0.reshape(-1, order="F")
    return np.stack([(sl.expm(L * t) @ v0).reshape(4, 4, order="F") for t in times]), H, c_ops


def np_concurrence(rho):
    yy = np.kron([[0, -1j], [1j, 0]], [[0, -1j], [1j, 0]])
    R = rho @ yy @ rho.conj() @ yy
    lam = np.sqrt(np.abs(np.sort(np.linalg.eigvals(R).real)[::-1]))
    return max(0.0, lam[0] - lam[1] - lam[2] - lam[3])


def random_state(rng):
    G = rng.normal(size=(4, 4)) + 1j * rng.normal(size=(4, 4))
    rho = G @ G.conj().T
    return rho / np.trace(rho)


@pytest.fixture(scope="module")
def points():
    rng = np.random.default_rng(17)
    p = random_params(rng, 6)
    # point 0 at the paper's Fig 2 parameters (kappa = 0, an exactly double eigenvalue), point 1 kappa = 0, delta != 0
    fields = {k: np.array(getattr(p, k), dtype=float) for k in je._models.params.NUMERIC_FIELDS}
    for k, v in je._models.params.DEFAULTS.items():
        if k in fields:
            fields[k][0] = v
    fields["kappa_h"][1] = fields["kappa_c"][1] = 0.0
    return je.EngineParams(**fields)


@pytest.fixture(scope="module")
def generic(points):
    return je.evolve(points, TIMES)


@pytest.fixture(scope="module")
def uniform(points):
    rng = np.random.default_rng(3)
    rho0 = np.stack([random_state(rng) for _ in range(6)])
    return rho0, je.evolve(points, UNIFORM, rho0=rho0)


def _ground():
    r = np.zeros((4, 4), complex)
    r[3, 3] = 1
    return r


def test_evolve_against_scipy_expm(points, generic):
    assert generic.rho.shape == (6, len(TIMES), 4, 4) and generic.Q_h.shape == (6, len(TIMES))
    assert bool(generic.ok.all())
    for i in range(6):
        q = point(points, i)
        rho_ref, H, c_ops = np_evolve(q, _ground(), TIMES[:-2])
        np.testing.assert_allclose(generic.rho[i, :-2], rho_ref, rtol=0, atol=1e-12)
        heat = np.array([np_heat(H, c_ops, r) for r in rho_ref])
        np.testing.assert_allclose(generic.Q_h[i, :-2], heat[:, 0], rtol=1e-9, atol=1e-15)
        np.testing.assert_allclose(generic.Q_c[i, :-2], heat[:, 1], rtol=1e-9, atol=1e-15)
        neg = np.array([np_negativity(r) for r in rho_ref])
        np.testing.assert_allclose(generic.negativity[i, :-2], neg, rtol=0, atol=1e-12)
        conc = np.array([np_concurrence(r) for r in rho_ref])
        np.testing.assert_allclose(generic.concurrence[i, :-2], conc, rtol=0, atol=1e-7)  # sqrt of ~eps eigenvalues


def test_uniform_schedule_against_scipy_expm(points, uniform):
    rho0, o = uniform
    assert bool(o.ok.all())
    for i in (0, 3):
        rho_ref, _, _ = np_evolve(point(points, i), rho0[i], UNIFORM)
        np.testing.assert_allclose(o.rho[i], rho_ref, rtol=0, atol=1e-12)


def test_limits_and_state_properties(points, generic, uniform):
    ss = je.observables(points)
    for f in ("rho", "Q_h", "Q_c", "J", "negativity"):
        np.testing.assert_allclose(getattr(generic, f)[:, -1], getattr(ss, f), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(generic.rho[:, 0], np.broadcast_to(_ground(), (6, 4, 4)), rtol=0, atol=1e-15)
    rho0, o = uniform
    np.testing.assert_allclose(o.rho[:, 0], rho0, rtol=0, atol=1e-15)
    for r in (generic.rho, o.rho):
        r = np.asarray(r)
        np.testing.assert_allclose(np.trace(r, axis1=-2, axis2=-1), 1, rtol=0, atol=1e-14)
        np.testing.assert_array_equal(r, np.conj(np.swapaxes(r, -1, -2)))
        assert np.linalg.eigvalsh(r).min() > -1e-13


def test_energy_balance_in_transients(points, generic):
    """Q_h + Q_c = dE/dt with E = Tr[H rho(t)] (full H): a 4-point stencil on the evolved states."""
    H = np.asarray(je.hamiltonian(points))
    E = np.einsum("bij,btji->bt", H, np.asarray(generic.rho)).real
    dE = (E[:, 3] - 8 * E[:, 4] + 8 * E[:, 6] - E[:, 7]) / (12 * H_D)
    total = np.asarray(generic.Q_h + generic.Q_c)[:, 5]
    assert np.all(np.abs(total) > 1e-6)  # a real transient: the first law does not hold as Q_h + Q_c = 0
    np.testing.assert_allclose(total, dE, rtol=1e-7)


@pytest.mark.slow
def test_evolve_against_qutip_mesolve(points):
    qutip = pytest.importorskip("qutip")
    times = np.array([0.0, 2.0, 50.0, 300.0])
    o = je.evolve(points, times)
    for i in (0, 2):
        H, c_ops = np_model(point(points, i))
        dims = [[2, 2], [2, 2]]
        res = qutip.mesolve(
            qutip.Qobj(H, dims=dims),
            qutip.Qobj(_ground(), dims=dims),
            times,
            [qutip.Qobj(c, dims=dims) for c in c_ops],
            options={"atol": 1e-13, "rtol": 1e-13, "nsteps": 10**7, "method": "adams"},
        )
        ref = np.stack([s.full() for s in res.states])
        # the ODE solver's global error at these tolerances (a few hundred oscillations), not ours (see scipy test)
        np.testing.assert_allclose(o.rho[i], ref, rtol=0, atol=1e-10)


def test_relaxation_gap_against_numpy(points):
    r = je.relaxation(points)
    assert bool(r.ok.all())
    for i in range(6):
        lam = np.linalg.eigvals(np_liouvillian(*np_model(point(points, i))))
        lam = np.delete(lam, np.argmin(np.abs(lam)))  # the steady state's 0
        np.testing.assert_allclose(r.rate[i], np.min(-lam.real), rtol=1e-9)
    np.testing.assert_allclose(r.time, 1 / r.rate, rtol=1e-15)


def test_evolve_errors():
    p = je.EngineParams()
    with pytest.raises(ValueError, match="times"):
        je.evolve(p, np.array([[0.0, 1.0]]))
    with pytest.raises(ValueError, match="times"):
        je.evolve(p, np.array([0.0, -1.0]))
    with pytest.raises(ValueError, match="rho0"):
        je.evolve(p, np.array([0.0]), rho0=np.eye(4))
    with pytest.raises(ValueError, match="rho0"):
        je.evolve(p, np.array([0.0]), rho0=np.eye(3) / 3)


@pytest.mark.slow
def test_evolve_gradients(points):
    """check_grads in both modes with respect to the parameters (in the scaled coordinates of test_gradients.py)
    and to the times."""
    from test_gradients import _shift

    p = point(points, 2)
    t = jnp.array([5.0, 300.0])

    def f_params(v):
        o = je.evolve(_shift(p, v), t, throw=False)
        return jnp.stack([o.Q_h * 1e3, o.Q_c * 1e3, o.rho[..., 1, 2].imag * 1e2, o.rho[..., 0, 0].real * 10])

    check_grads(f_params, (jnp.zeros(9),), order=1, modes=("fwd", "rev"), atol=1e-6, rtol=1e-6)

    def f_time(s):
        o = je.evolve(p, s, throw=False)
        return jnp.stack([o.Q_h * 1e3, o.J * 1e3, o.rho[..., 1, 2].imag * 1e2])

    check_grads(f_time, (t,), order=1, modes=("fwd", "rev"), atol=1e-6, rtol=1e-6)


@pytest.mark.slow
def test_time_to_against_scipy_brentq(points):
    """time_to against brentq on N(t)/N_ss - f from the SciPy expm reference, and the first sampled crossing."""
    from scipy.optimize import brentq

    p = point(points, 0)
    r = je.time_to(p, "negativity", 0.5)
    H, c_ops = np_model(p)
    L = np_liouvillian(H, c_ops)
    v0 = _ground().reshape(-1, order="F")
    n_ss = float(je.observables(p).negativity)

    def f(t):
        return np_negativity((sl.expm(L * t) @ v0).reshape(4, 4, order="F")) / n_ss - 0.5

    grid = np.linspace(0, float(r.time) * 1.5, 64)
    k = np.argmax([f(t) >= 0 for t in grid])  # N(t) rises monotonically from 0 here
    t_ref = brentq(f, grid[k - 1], grid[k], xtol=1e-12, rtol=1e-14)
    assert bool(r.ok)
    np.testing.assert_allclose(float(r.time), t_ref, rtol=1e-9)


def test_cli_evolve_matches_evolve(points, generic, capsys):
    """`jaxengine evolve --json` at the paper's point (the fixture's program: same times, same bucket)."""
    import json

    from jaxengine.cli import main

    assert main(["evolve", "--times", ",".join(repr(float(t)) for t in TIMES), "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["t"] for r in rows] == list(TIMES)
    np.testing.assert_allclose([r["negativity"] for r in rows], generic.negativity[0], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose([r["J"] for r in rows], generic.J[0], rtol=1e-12)


def test_new_shapes_and_times_compile_nothing(points, generic, uniform):
    """Once the fixtures' programs exist (6 engines x 12 generic times, 6 x 24 `linspace` times), new batch shapes
    in the same engine bucket, other times of the same count (other spans: the squarings follow the batch), other
    initial states and the fermionic bath (the bath is data of the programs) compile nothing (JAX's
    `backend_compile` events, as in test_latency.py)."""
    before = len(_BACKEND_COMPILES)
    for shape, bath in [((), "bosonic"), ((3,), "fermionic"), ((2, 3), "bosonic"), ((7,), "fermionic")]:
        p = je.EngineParams(T_h=np.full(shape, 0.7), kappa_h=0.05, bath=bath)
        o = je.evolve(p, TIMES * 3)
        assert o.rho.shape == shape + (len(TIMES), 4, 4) and o.J.shape == shape + (len(TIMES),)
        o = je.evolve(p, np.linspace(0.0, 9e4, len(UNIFORM)), rho0=uniform[0][0])
        assert o.negativity.shape == shape + (len(UNIFORM),)
    assert len(_BACKEND_COMPILES) == before, _BACKEND_COMPILES[before:]


def test_fermionic_against_scipy_expm():
    """The fermionic bath (occupations f, 1 - f): rho, Q_h, Q_c, N against SciPy expm of the dense Liouvillian built
    in the test from helpers.np_model (bath="fermionic"); t -> infinity against `observables`."""
    p = random_params(np.random.default_rng(4), 3, bath="fermionic")
    o = je.evolve(p, TIMES)
    assert bool(o.ok.all())
    for i in range(3):
        rho_ref, H, c_ops = np_evolve(point(p, i), _ground(), TIMES[:-2])
        np.testing.assert_allclose(o.rho[i, :-2], rho_ref, rtol=0, atol=1e-12)
        heat = np.array([np_heat(H, c_ops, r) for r in rho_ref])
        np.testing.assert_allclose(o.Q_h[i, :-2], heat[:, 0], rtol=1e-9, atol=1e-15)
        np.testing.assert_allclose(o.Q_c[i, :-2], heat[:, 1], rtol=1e-9, atol=1e-15)
        np.testing.assert_allclose(o.negativity[i, :-2], [np_negativity(r) for r in rho_ref], rtol=0, atol=1e-12)
    ss = je.observables(p)
    np.testing.assert_allclose(o.rho[:, -1], ss.rho, rtol=0, atol=1e-12)
    # the bath matters: the bosonic engine at the same parameters evolves differently
    bos = je.evolve(p.replace(bath="bosonic"), TIMES[5:6])
    assert np.abs(np.asarray(bos.rho[:, 0] - o.rho[:, 5])).max() > 1e-4


def test_kappa_zero_x_state_path_against_scipy_expm(points):
    """kappa = 0 from |00> (an X state): eager calls propagate the 7 X components only and take N and C in closed
    form (`_observables.xstate`). Against SciPy expm as above, on both schedules; ρ stays exactly X-shaped; a
    non-X initial state (or one kappa != 0 point) takes the general programs."""
    from jaxengine._models.params import flat, prepare
    from jaxengine._solve import evolve as ev

    k0 = je.EngineParams(**{f: np.asarray(getattr(points, f))[:2] for f in je._models.params.NUMERIC_FIELDS})
    k0 = k0.replace(T_h=np.array([0.7, 1.3]))  # point 1 hot enough to entangle in the steady state
    ground = np.broadcast_to(np.eye(16)[0] + np.eye(16)[3] * -1 + np.eye(16)[12] * -1 + np.eye(16)[15], (2, 16))
    assert ev.x_only(flat(prepare(k0)[0]), ground)
    assert not ev.x_only(flat(prepare(points)[0]), np.broadcast_to(ground[0], (6, 16)))
    for times in (TIMES[:-2], UNIFORM):
        o = je.evolve(k0, times)
        assert bool(o.ok.all())
        anti = np.ones((4, 4), bool)
        anti[np.arange(4), np.arange(4)] = anti[np.arange(4), 3 - np.arange(4)] = False
        assert np.all(np.asarray(o.rho)[..., anti] == 0)
        for i in range(2):
            rho_ref, H, c_ops = np_evolve(point(k0, i), _ground(), times)
            np.testing.assert_allclose(o.rho[i], rho_ref, rtol=0, atol=1e-12)
            heat = np.array([np_heat(H, c_ops, r) for r in rho_ref])
            np.testing.assert_allclose(o.Q_h[i], heat[:, 0], rtol=1e-9, atol=1e-15)
            np.testing.assert_allclose(o.negativity[i], [np_negativity(r) for r in rho_ref], rtol=0, atol=1e-12)
            np.testing.assert_allclose(o.concurrence[i], [np_concurrence(r) for r in rho_ref], rtol=0, atol=1e-7)
        assert float(np.max(o.negativity)) > 0  # the closed forms were exercised on entangled states
