"""`counting_statistics` and `thermodynamics` against independent references: QuTiP `countstat_current_noise` (with
`rhoss=` from an independent NumPy null space: QuTiP 5.3.1's own steady state is wrong for these stiff rates), the
third cumulant from finite differences of the tilted generator's leading eigenvalue in mpmath (written here, from
the NumPy model of tests/helpers.py), the particle current from rho, and the first law at delta = kappa = 0."""

import jax
import jax.monitoring
import numpy as np
import pytest
from helpers import np_heat, np_model, np_steady, point, random_params
from jax.test_util import check_grads

import jaxengine as je

_BACKEND_COMPILES = []
jax.monitoring.register_event_duration_secs_listener(
    lambda event, duration, **kw: (
        _BACKEND_COMPILES.append(event) if event == "/jax/core/compile/backend_compile_duration" else None
    )
)


@pytest.fixture(scope="module")
def points():
    rng = np.random.default_rng(5)
    p = random_params(rng, 5)
    fields = {k: np.array(getattr(p, k), dtype=float) for k in je._models.params.NUMERIC_FIELDS}
    for k, v in je._models.params.DEFAULTS.items():  # point 0: the paper's Fig 2 point (delta = kappa = 0)
        if k in fields:
            fields[k][0] = v
    fields["kappa_h"][1] = fields["kappa_c"][1] = 0.0  # point 1: kappa = 0, delta != 0
    return je.EngineParams(**fields)


@pytest.fixture(scope="module")
def energy_c(points):
    return je.counting_statistics(points, bath="c", quantity="energy")


@pytest.fixture(scope="module")
def thermo(points):
    return je.thermodynamics(points)  # bath "h", particles: mean and noise of the hot bath's counted current


@pytest.fixture(scope="module")
def references(points):
    """Per point: (H, c_ops, rho_ss) from NumPy, independent of jaxengine."""
    out = []
    for i in range(5):
        H, c_ops = np_model(point(points, i))
        out.append((H, c_ops, np_steady(H, c_ops)))
    return out


def _qutip_counting(H, c_ops, rho, jumps, nu):
    qutip = pytest.importorskip("qutip")
    dims = [[2, 2], [2, 2]]
    cq = [qutip.Qobj(c, dims=dims) for c in c_ops]
    L = qutip.liouvillian(qutip.Qobj(H, dims=dims), cq)
    out = qutip.countstat_current_noise(L, [cq[k] for k in jumps], rhoss=qutip.Qobj(rho, dims=dims), sparse=False)
    current, noise = np.asarray(out[0]).reshape(-1), np.asarray(out[1]).reshape(len(jumps), len(jumps))
    return nu @ current, nu @ noise @ nu


def test_mean_and_noise_against_qutip(points, energy_c, thermo, references):
    assert bool(energy_c.ok.all()) and bool(thermo.ok.all())
    for i, (H, c_ops, rho) in enumerate(references):
        q = point(points, i)
        mean, noise = _qutip_counting(H, c_ops, rho, [0, 1], np.array([1.0, -1.0]))
        np.testing.assert_allclose(thermo.mean[i], mean, rtol=1e-8)
        np.testing.assert_allclose(thermo.noise[i], noise, rtol=1e-8)
        eps_c = q.eps_h + q.delta
        mean, noise = _qutip_counting(H, c_ops, rho, [2, 3], np.array([eps_c, -eps_c]))
        np.testing.assert_allclose(energy_c.mean[i], mean, rtol=1e-8)
        np.testing.assert_allclose(energy_c.noise[i], noise, rtol=1e-8)
    np.testing.assert_allclose(energy_c.fano, energy_c.noise / np.abs(energy_c.mean), rtol=1e-14)


def _leading_eigenvalue(L0, tilt, s, dps):
    """Eigenvalue of L0 + sum_k (e^{nu_k s} - 1) T_k continuing 0, by inverse iteration in `dps` digits."""
    import mpmath as mp

    mp.mp.dps = dps
    n = L0.shape[0]
    Ls = mp.matrix(n, n)
    for nu, T in tilt:
        f = mp.expm1(nu * s)
        for a, b in zip(*np.nonzero(T), strict=True):
            Ls[a, b] += f * mp.mpc(T[a, b].real, T[a, b].imag)
    for a, b in zip(*np.nonzero(L0), strict=True):
        Ls[a, b] += mp.mpc(L0[a, b].real, L0[a, b].imag)
    trace = [mp.mpf(1) if a % 5 == 0 else mp.mpf(0) for a in range(n)]  # vec(I) in column stacking (n = 16)
    v = mp.matrix([1] * n)
    lam = mp.mpf(0)
    for _ in range(8):  # |lambda / lambda_2| ~ 1e-7: each step gains ~7 digits
        v = mp.lu_solve(Ls, v)
        v = v / sum(trace[a] * v[a] for a in range(n))
        Lv = Ls * v
        lam = sum(trace[a] * Lv[a] for a in range(n))
    return lam


def test_third_cumulant_against_mpmath(points, energy_c, references):
    """c3 = lambda'''(0) by a 4-point central difference (h = 1e-8) of the leading eigenvalue, in 50 digits."""
    from test_evolve import np_liouvillian

    for i in (1, 3):
        H, c_ops, _ = references[i]
        q = point(points, i)
        eps_c = q.eps_h + q.delta
        L0 = np_liouvillian(H, c_ops)
        tilt = [(eps_c, np.kron(c.conj(), c)) for c in c_ops[2:3]] + [(-eps_c, np.kron(c.conj(), c)) for c in c_ops[3:]]
        import mpmath as mp

        mp.mp.dps = 50
        h = mp.mpf("1e-8")
        lam = {k: _leading_eigenvalue(L0, tilt, k * h, 50) for k in (-2, -1, 1, 2)}
        c3 = (lam[2] - 2 * lam[1] + 2 * lam[-1] - lam[-2]) / (2 * h**3)
        c1 = (lam[-2] - 8 * lam[-1] + 8 * lam[1] - lam[2]) / (12 * h)
        np.testing.assert_allclose(energy_c.mean[i], float(c1.real), rtol=1e-10)
        np.testing.assert_allclose(energy_c.skewness[i], float(c3.real), rtol=1e-8)


def test_mean_is_the_particle_current(points, thermo, references):
    """c1 = gamma+ <sigma- sigma+> - gamma- <sigma+ sigma-> of the hot qubit; = Q_h / eps_h at delta = kappa = 0."""
    for i, (H, c_ops, rho) in enumerate(references):
        current = sum(sign * np.trace(c.conj().T @ c @ rho).real for sign, c in zip((1, -1), c_ops[:2], strict=True))
        np.testing.assert_allclose(thermo.mean[i], current, rtol=1e-9)
        Q_h, Q_c = np_heat(H, c_ops, rho)
        np.testing.assert_allclose(thermo.heat[i], Q_h, rtol=1e-9)
        np.testing.assert_allclose(thermo.counted_heat[i], point(points, i).eps_h * current, rtol=1e-9)
    # delta = kappa = 0 (point 0): the counted energy current is the full-H heat current
    np.testing.assert_allclose(thermo.counted_heat[0], thermo.heat[0], rtol=1e-10)
    # delta != 0 (point 1, kappa = 0) and kappa != 0 (points 2-4): they differ, by the exchange and tunnelling terms
    for i in range(1, 5):
        H, c_ops, rho = references[i]
        q = point(points, i)
        bare = q.eps_h * np.kron(np.diag([1.0, 0.0]), np.eye(2)) + (q.eps_h + q.delta) * np.kron(
            np.eye(2), np.diag([1.0, 0.0])
        )
        extra = np_heat(H - bare, c_ops, rho)[0]
        assert abs(extra) > 1e-6 * abs(thermo.heat[i])
        np.testing.assert_allclose(thermo.heat[i] - thermo.counted_heat[i], extra, rtol=1e-6, atol=1e-18)


def test_entropy_production_and_activity(points, thermo, references):
    for i, (H, c_ops, rho) in enumerate(references):
        q = point(points, i)
        Q_h, Q_c = np_heat(H, c_ops, rho)
        np.testing.assert_allclose(thermo.entropy_production[i], -Q_h / q.T_h - Q_c / q.T_c, rtol=1e-8)
        activity = sum(np.trace(c @ rho @ c.conj().T).real for c in c_ops)
        np.testing.assert_allclose(thermo.activity[i], activity, rtol=1e-10)
    assert np.all(np.asarray(thermo.entropy_production) > 0)  # second law
    rel = thermo.noise / thermo.mean**2
    np.testing.assert_allclose(thermo.tur, rel * thermo.entropy_production, rtol=1e-14)
    np.testing.assert_allclose(thermo.kur, rel * thermo.activity, rtol=1e-14)


def test_counting_errors():
    p = je.EngineParams()
    with pytest.raises(ValueError, match="bath"):
        je.counting_statistics(p, bath="x")
    with pytest.raises(ValueError, match="quantity"):
        je.counting_statistics(p, quantity="charge")
    with pytest.raises(ValueError, match="order"):
        je.counting_statistics(p, order=4)
    with pytest.raises(ValueError, match="bath"):
        je.thermodynamics(p, bath="hot")


@pytest.mark.slow
def test_counting_and_thermodynamics_gradients(points):
    """check_grads in both modes in the scaled coordinates of test_gradients.py (every field moves by SCALE * v)."""
    from test_gradients import _shift

    p = point(points, 1)

    def f(v):
        q = _shift(p, v)
        cs = je.counting_statistics(q, throw=False)
        th = je.thermodynamics(q, throw=False)
        return jax.numpy.stack(
            [cs.mean * 1e4, cs.noise * 1e4, cs.skewness * 1e4, th.entropy_production * 1e3, th.tur, th.kur]
        )

    check_grads(f, (jax.numpy.zeros(9),), order=1, modes=("fwd", "rev"), atol=1e-6, rtol=1e-6)


@pytest.mark.slow
def test_cli_fluctuations(tmp_path, capsys):
    import json

    from jaxengine.cli import main

    out = tmp_path / "f.csv"
    assert main(["fluctuations", "--axis", "T_h=0.5,0.7", "--json", "--out", str(out)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    cs = je.counting_statistics(je.EngineParams(T_h=np.array([0.5, 0.7])))
    th = je.thermodynamics(je.EngineParams(T_h=np.array([0.5, 0.7])))
    np.testing.assert_allclose([r["noise"] for r in rows], cs.noise, rtol=1e-12)
    np.testing.assert_allclose([r["tur"] for r in rows], th.tur, rtol=1e-12)
    assert out.read_text().startswith("T_h,mean,noise")


def test_new_shapes_compile_nothing(points, energy_c, thermo):
    """After the fixtures' calls (5 points: the smallest bucket), new batch shapes in that bucket and the fermionic
    bath (data of the programs) compile nothing (JAX's `backend_compile` events, as in test_latency.py)."""
    before = len(_BACKEND_COMPILES)
    for shape, bath in [((), "bosonic"), ((3,), "fermionic"), ((2, 4), "bosonic"), ((7,), "fermionic")]:
        p = je.EngineParams(T_h=np.full(shape, 0.7), kappa_h=0.05, bath=bath)
        cs = je.counting_statistics(p, bath="c", quantity="energy")
        assert cs.noise.shape == shape
        assert je.thermodynamics(p).tur.shape == shape
    assert len(_BACKEND_COMPILES) == before, _BACKEND_COMPILES[before:]


def test_fermionic_against_qutip():
    """Fermionic baths: mean and noise of the hot bath's particles against QuTiP `countstat_current_noise` with
    `rhoss=` from helpers.np_steady (its own steady state is wrong for these stiff rates), and the mean against the
    particle current from that rho."""
    p = random_params(np.random.default_rng(8), 3, bath="fermionic")
    cs = je.counting_statistics(p)
    assert bool(cs.ok.all())
    for i in range(3):
        H, c_ops = np_model(point(p, i))
        rho = np_steady(H, c_ops)
        mean, noise = _qutip_counting(H, c_ops, rho, [0, 1], np.array([1.0, -1.0]))
        np.testing.assert_allclose(cs.mean[i], mean, rtol=1e-8)
        np.testing.assert_allclose(cs.noise[i], noise, rtol=1e-8)
        current = sum(s * np.trace(c @ rho @ c.conj().T).real for s, c in zip((1, -1), c_ops[:2], strict=True))
        np.testing.assert_allclose(cs.mean[i], current, rtol=1e-9)
    bos = je.counting_statistics(p.replace(bath="bosonic"), throw=False)
    assert np.all(np.abs(np.asarray(bos.noise - cs.noise)) > 1e-3 * np.abs(np.asarray(cs.noise)))
