"""`Network` (n qubits, local and global master equations) against independent references.

References: the two-qubit engine's own kernel (`observables(EngineParams)`, itself tested against NumPy/mpmath/QuTiP);
QuTiP `steadystate` of operators built here by hand with NumPy Kronecker products (not with jaxengine); QuTiP's
Bloch-Redfield tensor with its secular cutoff; the Gibbs state `scipy.linalg.expm(-H/T)`; NumPy partial transposes.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import qutip as qt
import scipy.linalg as sl
from helpers import random_params

import jaxengine as je

SP = np.array([[0, 1], [0, 0]], complex)  # sigma+ = |1><0| with |1> = (1, 0)
SM = SP.T.copy()
SX = np.array([[0, 1], [1, 0]], complex)


def op(o, j, n):
    """Single-qubit operator o on qubit j of n (qubit 0 = left Kronecker factor)."""
    out = np.eye(1, dtype=complex)
    for q in range(n):
        out = np.kron(out, o if q == j else np.eye(2))
    return out


def occupation(x, bath):
    if bath == "bosonic":
        return 1 / np.expm1(x), 1 / np.expm1(x) + 1
    f = 1 / (np.exp(x) + 1)
    return f, 1 - f


def np_network(eps, g, kappa, gamma, T, mu, bath):
    """(H, [[c_ops of bath j]]) built by hand: local master equation, rates at the bare gaps."""
    n = len(eps)
    H = sum(eps[j] * op(SP @ SM, j, n) + kappa[j] * op(SX, j, n) for j in range(n))
    for i in range(n):
        for j in range(i + 1, n):
            H = H + g[i][j] * (op(SP, i, n) @ op(SM, j, n) + op(SM, i, n) @ op(SP, j, n))
    baths = []
    for j in range(n):
        if gamma[j] == 0:
            baths.append([])
            continue
        up, down = occupation((eps[j] - mu[j]) / T[j], bath) if T[j] > 0 else (0.0, 1.0)
        baths.append([np.sqrt(gamma[j] * up) * op(SP, j, n), np.sqrt(gamma[j] * down) * op(SM, j, n)])
    return H, baths


def qutip_steady(H, baths):
    dims = [[2] * int(np.log2(H.shape[0]))] * 2
    c_ops = [qt.Qobj(a, dims=dims) for b in baths for a in b]
    return qt.steadystate(qt.Qobj(H, dims=dims), c_ops).full()


def currents(O, baths, rho):
    """Tr[O D_j rho] per bath."""
    out = []
    for b in baths:
        q = 0.0
        for a in b:
            ada = a.conj().T @ a
            q += np.trace(O @ (a @ rho @ a.conj().T - 0.5 * (ada @ rho + rho @ ada))).real
        out.append(q)
    return np.array(out)


def pair_state(rho, i, j, n):
    return qt.Qobj(rho, dims=[[2] * n] * 2).ptrace([i, j])


def np_pair_negativity(r):
    pt = r.full().reshape(2, 2, 2, 2).transpose(0, 3, 2, 1).reshape(4, 4)
    return np.sum(np.maximum(-np.linalg.eigvalsh(pt), 0))


def stack_networks(nets, bath, master_equation="local"):
    fields = {k: np.stack([np.asarray(d[k], float) for d in nets]) for k in ("eps", "g", "kappa", "gamma", "T", "mu")}
    return je.Network(**fields, bath=bath, master_equation=master_equation)


def network(n, edges, rng, *, kappa=0.0, detune=0.0, fermionic=False):
    eps = 1.0 + detune * rng.uniform(-1, 1, n)
    g = np.zeros((n, n))
    for i, j in edges:
        g[i, j] = g[j, i] = rng.uniform(0.005, 0.02)
    return dict(
        eps=eps,
        g=g,
        kappa=kappa * rng.uniform(-1, 1, n),
        gamma=rng.uniform(2e-3, 1e-2, n),
        T=np.concatenate([[rng.uniform(0.8, 2.0)], rng.uniform(0.05, 0.15, n - 1)]),
        mu=(np.concatenate([[0.6], rng.uniform(-0.6, -0.2, n - 1)]) if fermionic else np.zeros(n)),
    )


# ---------------------------------------------------------------------------------------------------------- n = 2


@pytest.mark.parametrize("bath", ["bosonic", "fermionic"])
def test_from_engine_equals_engine(bath):
    p = random_params(np.random.default_rng(3), 6, bath=bath)
    o = je.observables(p)
    on = je.observables(je.Network.from_engine(p))
    np.testing.assert_allclose(on.rho, o.rho, rtol=0, atol=1e-12)
    for got, want in ((on.Q[:, 0], o.Q_h), (on.Q[:, 1], o.Q_c)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-20)
    np.testing.assert_allclose(on.negativity[:, 0, 1], o.negativity, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(on.concurrence[:, 0, 1], o.concurrence, rtol=1e-10, atol=1e-13)
    assert (o.negativity > 0).any() and np.all(on.negativity[:, [0, 1], [0, 1]] == 0)
    assert on.ok.all() and on.rho.shape == (6, 4, 4) and on.Q.shape == (6, 2)


# ---------------------------------------------------------------------------------------------------------- n = 3


@pytest.fixture(scope="module")
def local3():
    """Two batches of four 3-qubit networks (bosonic; fermionic with a mu bias) and their QuTiP references."""
    rng = np.random.default_rng(7)
    shapes = [
        dict(edges=[(0, 1), (1, 2)]),  # chain
        dict(edges=[(0, 1), (1, 2), (0, 2)]),  # triangle
        dict(edges=[(0, 1), (1, 2)], detune=0.03),
        dict(edges=[(0, 1), (1, 2), (0, 2)], kappa=0.05, detune=0.02),
    ]
    out = {}
    for bath in ("bosonic", "fermionic"):
        nets = [network(3, rng=rng, fermionic=bath == "fermionic", **s) for s in shapes]
        o = je.observables(stack_networks(nets, bath))
        refs = []
        for d in nets:
            H, baths = np_network(*(d[k] for k in ("eps", "g", "kappa", "gamma", "T", "mu")), bath)
            rho = qutip_steady(H, baths)
            number = sum(op(SP @ SM, j, 3) for j in range(3))
            refs.append((H, baths, rho, currents(H, baths, rho), currents(number, baths, rho)))
        out[bath] = (nets, o, refs)
    return out


@pytest.mark.parametrize("bath", ["bosonic", "fermionic"])
def test_local_n3_against_qutip(local3, bath):
    nets, o, refs = local3[bath]
    assert o.ok.all()
    for b, (_, _, rho, Q, I) in enumerate(refs):
        np.testing.assert_allclose(o.rho[b], rho, rtol=0, atol=1e-10)
        np.testing.assert_allclose(o.Q[b], Q, rtol=1e-10, atol=1e-16)
        np.testing.assert_allclose(o.particle_current[b], I, rtol=1e-10, atol=1e-16)
        assert abs(float(o.Q[b].sum())) < 1e-13 * np.abs(Q).max()  # first law with the full H
        for i, j in ((0, 1), (1, 2), (0, 2)):
            r = pair_state(rho, i, j, 3)
            np.testing.assert_allclose(o.negativity[b, i, j], np_pair_negativity(r), rtol=1e-8, atol=1e-12)
            np.testing.assert_allclose(o.concurrence[b, i, j], qt.concurrence(r), rtol=1e-8, atol=1e-12)
    assert (o.negativity > 1e-5).any()  # the comparison includes entangled pairs


def test_entropy_production_local_and_first_law(local3):
    nets, o, refs = local3["fermionic"]
    for b, d in enumerate(nets):
        heat = np.asarray(o.Q[b]) - d["mu"] * np.asarray(o.particle_current[b])
        np.testing.assert_allclose(o.entropy_production[b], -np.sum(heat / d["T"]), rtol=1e-10, atol=1e-18)


@pytest.mark.slow
def test_local_n4_against_qutip():
    rng = np.random.default_rng(11)
    nets = [
        network(4, [(0, 1), (1, 2), (2, 3)], rng, kappa=0.03),  # chain
        network(4, [(0, 1), (1, 2), (2, 3), (3, 0)], rng, detune=0.02),  # ring
    ]
    for bath in ("bosonic", "fermionic"):
        if bath == "fermionic":
            nets = [network(4, [(0, 1), (1, 2), (2, 3), (3, 0)], rng, fermionic=True, kappa=0.02)] * 2
        o = je.observables(stack_networks(nets, bath))
        for b, d in enumerate(nets):
            H, baths = np_network(*(d[k] for k in ("eps", "g", "kappa", "gamma", "T", "mu")), bath)
            rho = qutip_steady(H, baths)
            np.testing.assert_allclose(o.rho[b], rho, rtol=0, atol=1e-10)
            np.testing.assert_allclose(o.Q[b], currents(H, baths, rho), rtol=1e-10, atol=1e-16)
            for i in range(4):
                for j in range(i + 1, 4):
                    r = pair_state(rho, i, j, 4)
                    np.testing.assert_allclose(o.negativity[b, i, j], np_pair_negativity(r), rtol=1e-8, atol=1e-12)
                    np.testing.assert_allclose(o.concurrence[b, i, j], qt.concurrence(r), rtol=1e-8, atol=1e-12)


def np_steady(H, baths):
    """The steady state by NumPy alone: the column-stacked Liouvillian of the hand-built operators, one row replaced
    by the trace condition, LAPACK's pivoted solve (independent of jaxengine's generator and of its sparse LU)."""
    d = H.shape[0]
    eye = np.eye(d)
    L = -1j * (np.kron(eye, H) - np.kron(H.T, eye))
    for a in (a for b in baths for a in b):
        ada = a.conj().T @ a
        L += np.kron(a.conj(), a) - 0.5 * (np.kron(eye, ada) + np.kron(ada.T, eye))
    L[0] = eye.reshape(-1)  # Tr rho = 1 (row 0 of L is a combination of the others)
    rhs = np.zeros(d * d, complex)
    rhs[0] = 1
    return np.linalg.solve(L, rhs).reshape(d, d).T


@pytest.mark.parametrize("n", [3, pytest.param(4, marks=pytest.mark.slow)])
def test_sparse_solve_edge_points_against_numpy(n):
    """The planned sparse LU (the eager path of the local ME at kappa != 0) on ONE batch whose points differ in
    structure: a bath-less qubit, kappa = 0 at one point (kappa != 0 elsewhere), a bath at T = 0, a coupling that
    vanishes at one point, a fermionic bias; and a point with no bath at all (no unique steady state: ok=False,
    while the other points stay ok). rho against NumPy's solve of the hand-built Liouvillian, 1e-10."""
    rng = np.random.default_rng(40 + n)
    ring = [(q, (q + 1) % n) for q in range(n)]
    base = [network(n, ring, rng, kappa=0.04, detune=0.03, fermionic=True) for _ in range(6)]
    base[1]["gamma"][1] = 0.0  # qubit 1 without bath
    base[2]["kappa"][:] = 0.0  # the pattern has kappa: explicit zeros at this point
    base[3]["T"][2] = 0.0  # a bath at zero temperature
    base[4]["g"][0, 1] = base[4]["g"][1, 0] = 0.0
    base[5]["gamma"][:] = 0.0  # no bath at all: singular
    net = stack_networks(base, "fermionic")
    o = je.observables(net, throw=False)
    assert o.ok.tolist() == [True] * 5 + [False]
    for b, d in enumerate(base[:5]):
        H, baths = np_network(*(d[k] for k in ("eps", "g", "kappa", "gamma", "T", "mu")), "fermionic")
        np.testing.assert_allclose(o.rho[b], np_steady(H, baths), rtol=0, atol=1e-10)
        assert float(o.residual[b]) < 1e-14
    with pytest.raises(RuntimeError, match="1 of 6"):
        je.observables(net)


_XLA_COMPILES = []
jax.monitoring.register_event_duration_secs_listener(
    lambda event, duration, **kw: (
        _XLA_COMPILES.append(event) if event == "/jax/core/compile/backend_compile_duration" else None
    )
)


def test_network_new_batch_shapes_compile_nothing():
    """Network programs are bucketed (`_compile.bucketed`): after a first call, new batch shapes in the same bucket,
    and batches beyond the largest bucket (run as chunks of it, in threads for the sparse program), compile nothing;
    the counter sees every XLA compilation of the process."""
    from jaxengine._compile import COMPILES

    rng = np.random.default_rng(5)

    def batch(shape, kappa):
        size = int(np.prod(shape))
        nets = [network(2, [(0, 1)], rng, kappa=kappa) for _ in range(size)]
        flat = stack_networks(nets, "bosonic")
        return flat.replace(
            **{
                k: np.asarray(getattr(flat, k)).reshape(shape + np.shape(getattr(flat, k))[1:])
                for k in ("eps", "g", "kappa", "gamma", "T", "mu")
            }
        )

    for kappa in (0.03, 0.0):  # the sparse program, then the kappa = 0 reduction
        je.observables(batch((3,), kappa))
        before = (len(_XLA_COMPILES), dict(COMPILES))
        for shape in [(5,), (2, 4), (1,)]:
            o = je.observables(batch(shape, kappa))
            assert o.rho.shape == shape + (4, 4) and o.negativity.shape == shape + (2, 2)
        assert (len(_XLA_COMPILES), dict(COMPILES)) == before, _XLA_COMPILES[before[0] :]
    je.observables(batch((130,), 0.03))  # the largest bucket (128): compiled once
    before = (len(_XLA_COMPILES), dict(COMPILES))
    o = je.observables(batch((300,), 0.03))  # three chunks of 128
    assert (len(_XLA_COMPILES), dict(COMPILES)) == before, _XLA_COMPILES[before[0] :]
    assert np.asarray(o.ok).all() and o.rho.shape == (300, 4, 4)


def test_local_kappa0_symmetric_path_against_qutip():
    # at kappa = 0 the solve runs in the commutant of the excitation number (70 unknowns instead of 255 at n = 4)
    rng = np.random.default_rng(21)
    for n, edges, bath in (
        (3, [(0, 1), (1, 2), (0, 2)], "fermionic"),
        (4, [(0, 1), (1, 2), (2, 3), (3, 0)], "bosonic"),
    ):
        nets = [network(n, edges, rng, detune=0.02, fermionic=bath == "fermionic") for _ in range(2)]
        o = je.observables(stack_networks(nets, bath))
        assert o.ok.all()
        for b, d in enumerate(nets):
            H, baths = np_network(*(d[k] for k in ("eps", "g", "kappa", "gamma", "T", "mu")), bath)
            rho = qutip_steady(H, baths)
            np.testing.assert_allclose(o.rho[b], rho, rtol=0, atol=1e-10)
            np.testing.assert_allclose(o.Q[b], currents(H, baths, rho), rtol=1e-10, atol=1e-16)
            for i, j in ((0, 1), (1, 2)):
                r = pair_state(rho, i, j, n)
                np.testing.assert_allclose(o.negativity[b, i, j], np_pair_negativity(r), rtol=1e-8, atol=1e-12)
                np.testing.assert_allclose(o.concurrence[b, i, j], qt.concurrence(r), rtol=1e-8, atol=1e-12)


# ---------------------------------------------------------------------------------------------------------- global ME


def random_global(rng, B, n=3, *, equal_T=None):
    nets = []
    for _ in range(B):
        g = np.zeros((n, n))
        for i in range(n):
            for j in range(i + 1, n):
                g[i, j] = g[j, i] = rng.uniform(0.05, 0.25)
        nets.append(
            dict(
                eps=rng.uniform(0.7, 1.5, n),
                g=g,
                kappa=rng.uniform(-0.15, 0.15, n),
                gamma=rng.uniform(2e-5, 1e-4, n),
                T=np.full(n, equal_T) if equal_T else rng.uniform(0.1, 1.5, n),
                mu=np.zeros(n),
            )
        )
    return nets


@pytest.fixture(scope="module")
def global3():
    rng = np.random.default_rng(5)
    gibbs = random_global(rng, 8, equal_T=0.4)
    hot_cold = random_global(rng, 8)
    return (
        (gibbs, je.observables(stack_networks(gibbs, "bosonic", "global"), throw=False)),
        (hot_cold, je.observables(stack_networks(hot_cold, "bosonic", "global"), throw=False)),
    )


def test_global_gibbs_at_equal_temperature(global3):
    nets, o = global3[0]
    assert o.ok.all()
    for b, d in enumerate(nets):
        H, _ = np_network(d["eps"], d["g"], d["kappa"], d["gamma"], d["T"], d["mu"], "bosonic")
        gibbs = sl.expm(-H / d["T"][0])
        np.testing.assert_allclose(o.rho[b], gibbs / np.trace(gibbs), rtol=0, atol=1e-12)
    np.testing.assert_allclose(o.Q, 0, atol=1e-16)


def test_global_entropy_production_nonnegative_and_first_law(global3):
    nets, o = global3[1]
    ok = np.asarray(o.ok)
    assert ok.sum() >= 6  # a point whose Bohr frequencies fall in the grey zone (between one and ten rates) is flagged
    sigma = np.asarray(o.entropy_production)[ok]
    assert (sigma > 0).all() and (sigma > 1e-8 * np.abs(np.asarray(o.Q)[ok]).max()).all()
    np.testing.assert_allclose(o.Q.sum(-1), 0, atol=1e-12 * np.abs(o.Q).max())  # roundoff of Tr[H D rho]


def test_global_against_qutip_bloch_redfield(global3):
    nets, o = global3[1]

    def spectrum(gamma, T):
        # flat spectral density: emission gamma (1 + n_B) for w > 0, absorption gamma n_B(|w|), nothing at w = 0
        return lambda w: gamma * (1 + 1 / np.expm1(w / T)) if w > 0 else (gamma / np.expm1(-w / T) if w < 0 else 0.0)

    for b in np.flatnonzero(o.ok)[:2]:
        d = nets[b]
        H, _ = np_network(d["eps"], d["g"], d["kappa"], d["gamma"], d["T"], d["mu"], "bosonic")
        dims = [[2] * 3] * 2
        a_ops = [[qt.Qobj(op(SX, j, 3), dims=dims), spectrum(d["gamma"][j], d["T"][j])] for j in range(3)]
        R = qt.bloch_redfield_tensor(qt.Qobj(H, dims=dims), a_ops, fock_basis=True)  # secular cutoff 0.1 (default)
        np.testing.assert_allclose(o.rho[b], qt.steadystate(R).full(), rtol=0, atol=1e-10)


@pytest.mark.slow
def test_global_fermionic_grand_canonical_gibbs():
    # equal T and mu, kappa = 0 (N conserved): the steady state is exp(-(H - mu N)/T) / Z
    g = np.array([[0, 0.2, 0.1], [0.2, 0, 0.15], [0.1, 0.15, 0]])
    eps, T, mu = np.array([1.0, 1.3, 0.8]), 0.4, 0.5
    net = je.Network(eps=eps, g=g, gamma=[1e-5, 2e-5, 3e-5], T=T, mu=mu, bath="fermionic", master_equation="global")
    o = je.observables(net)
    H, _ = np_network(eps, g, np.zeros(3), np.ones(3), np.full(3, T), np.zeros(3), "bosonic")
    number = sum(op(SP @ SM, j, 3) for j in range(3))
    gibbs = sl.expm(-(H - mu * number) / T)
    np.testing.assert_allclose(o.rho, gibbs / np.trace(gibbs), rtol=0, atol=1e-12)
    np.testing.assert_allclose(o.particle_current, 0, atol=1e-18)


def test_engine_global_equals_local_as_g_to_0():
    # Bohr frequencies eps +- g closer than the largest rate are one group: the global ME is then the local one
    g = np.array([1e-5, 1e-4, 1e-3])
    p = je.EngineParams(T_h=0.7, g=g)
    glob = je.observables(p.replace(master_equation="global"))
    loc = je.observables(p)
    assert isinstance(glob, je.Observables)
    np.testing.assert_allclose(glob.rho, loc.rho, rtol=0, atol=1e-12)
    np.testing.assert_allclose(glob.J, loc.J, rtol=1e-9)
    np.testing.assert_allclose(glob.negativity, loc.negativity, rtol=1e-9)


def test_engine_global_gibbs():
    # rates small against the splitting of the Bohr frequencies that kappa lifts (else they are grouped, see module)
    p = je.EngineParams(
        T_h=0.3,
        T_c=0.3,
        g=0.2,
        delta=0.1,
        kappa_h=0.05,
        kappa_c=-0.03,
        gamma_h=1e-5,
        gamma_c=2e-5,
        master_equation="global",
    )
    o = je.observables(p)
    H = je.hamiltonian(p.replace(master_equation="local"))
    gibbs = sl.expm(-np.asarray(H) / 0.3)
    np.testing.assert_allclose(o.rho, gibbs / np.trace(gibbs), rtol=0, atol=1e-12)


# ---------------------------------------------------------------------------------------------------------- cuts


def test_negativity_cut():
    rng = np.random.default_rng(0)
    ghz = np.zeros(8)
    ghz[[0, 7]] = 1 / np.sqrt(2)
    w = np.zeros(8)
    w[[1, 2, 4]] = 1 / np.sqrt(3)
    a = rng.normal(size=(8, 8)) + 1j * rng.normal(size=(8, 8))
    mixed = a @ a.conj().T
    mixed /= np.trace(mixed)
    states = np.stack([np.outer(ghz, ghz), np.outer(w, w), mixed]).astype(complex)
    for cut in ((0,), (1,), (2,), (0, 2)):
        got = je.negativity(states, cut=cut)
        axes = list(range(6))
        for q in cut:
            axes[q], axes[3 + q] = axes[3 + q], axes[q]
        pt = states.reshape(3, *(2,) * 6).transpose(0, *(1 + np.array(axes))).reshape(3, 8, 8)
        want = np.sum(np.maximum(-np.linalg.eigvalsh(pt), 0), axis=-1)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(je.negativity(states[:1], cut=(0,)), 0.5, rtol=1e-12)  # GHZ: 1/2 across any cut
    np.testing.assert_allclose(
        je.negativity(states[1:2], cut=(0,)), np.sqrt(2) / 3, rtol=1e-12
    )  # W: sqrt(l1 l2) of its Schmidt weights 1/3, 2/3
    bell = np.array([1, 0, 0, 1]) / np.sqrt(2)
    assert float(je.negativity(np.outer(bell, bell))) == pytest.approx(0.5, abs=1e-14)  # 2-qubit default unchanged


# ---------------------------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "changes, match",
    [
        (dict(g=[[0, 0.1, 0], [0.2, 0, 0], [0, 0, 0]]), r"`g` must be symmetric, but got g\[0, 1\]=0.1 and g\[1, 0\]"),
        (dict(g=[[0.1, 0, 0], [0, 0, 0], [0, 0, 0]]), r"`g` must be zero on the diagonal, but got g=0.1 at index"),
        (dict(g={(1, 1): 0.1}), r"`g` must have a zero diagonal.*g\[\(1, 1\)\]=0.1"),
        (dict(T=[1.0, 2.0]), r"`T` must be a scalar or have shape \(..., 3\).*has shape \(2,\)"),
        (dict(g=np.zeros((2, 2))), r"`g` must have shape \(..., 3, 3\).*\(2, 2\)"),
        (dict(gamma=[1e-3, -1e-3, 0]), r"`gamma` must be non-negative, but got gamma=-0.001 at index \(1,\)"),
        (dict(T=[1.0, -0.1, 1.0]), r"`T` must be non-negative, but got T=-0.1 at index \(1,\)"),
        (dict(mu=[0.1, 0, 0]), r"`mu` must be 0 for a bosonic bath.*mu=0.1 at index \(0,\)"),
        (dict(eps=[1.0]), r"`eps` must have shape \(..., n\) with n >= 2"),
        (dict(master_equation="redfield"), r"`master_equation` must be one of"),
    ],
)
def test_errors(changes, match):
    base = dict(eps=[1.0, 1.0, 1.0], g=np.zeros((3, 3)), gamma=1e-3)
    base.update(changes)
    with pytest.raises(ValueError, match=match):
        je.observables(je.Network(**base))


def test_engine_global_refused_by_local_only_functions():
    with pytest.raises(ValueError, match="master_equation='global' is computed by `observables` only"):
        je.steady_state(je.EngineParams(master_equation="global"))
    with pytest.raises(ValueError, match="cut"):
        je.negativity(np.eye(8) / 8, cut=(0, 1, 2))


# ---------------------------------------------------------------------------------------------------------- gradients


@pytest.mark.parametrize("master_equation", ["local", pytest.param("global", marks=pytest.mark.slow)])
def test_gradients_against_finite_differences(master_equation):
    from jax.test_util import check_grads

    g = np.array([[0, 0.08, 0.05], [0.08, 0, 0.06], [0.05, 0.06, 0]])
    base = je.Network(
        eps=[1.0, 1.05, 0.95],
        g=g,
        kappa=[0.02, 0, 0.01],
        gamma=[2e-3, 1e-3, 3e-3],
        T=[0.9, 0.4, 0.1],
        master_equation=master_equation,
    )

    def f(T, gval, kappa):
        o = je.observables(base.replace(T=T, g=g * gval, kappa=kappa), throw=False)
        return o.Q[0] * 1e3 + o.entropy_production * 1e3 + o.concurrence[0, 1] + jnp.real(o.rho[0, 3])

    check_grads(
        jax.jit(f), (np.array([0.9, 0.4, 0.1]), 1.0, np.array([0.02, 0.0, 0.01])), order=1, modes=("fwd", "rev")
    )


# ---------------------------------------------------------------------------------------------------------- scan


def test_scan_network_field_paths():
    net = je.Network(eps=[1.0, 1.02, 0.98], g={(0, 1): 0.004, (1, 2): 0.004}, gamma=[1e-3, 0, 1e-2], T=[1.0, 0.1, 0.05])
    T0, g01 = np.array([0.6, 1.2]), np.array([0.002, 0.004, 0.008])
    ds = je.scan(net, axes={"T[0]": T0, "g[0,1]": g01}, progress=False)
    assert dict(ds.sizes) == {"T[0]": 2, "g[0,1]": 3, "qubit": 3, "qubit_i": 3, "qubit_j": 3}
    for a, t in enumerate(T0):
        for b, g in enumerate(g01):
            G = np.zeros((3, 3))
            G[0, 1] = G[1, 0] = g
            G[1, 2] = G[2, 1] = 0.004
            d = dict(
                eps=[1.0, 1.02, 0.98], g=G, kappa=np.zeros(3), gamma=[1e-3, 0, 1e-2], T=[t, 0.1, 0.05], mu=np.zeros(3)
            )
            H, baths = np_network(*(d[k] for k in ("eps", "g", "kappa", "gamma", "T", "mu")), "bosonic")
            rho = qutip_steady(H, baths)
            np.testing.assert_allclose(ds.Q.values[a, b], currents(H, baths, rho), rtol=1e-10, atol=1e-16)
            want = np_pair_negativity(pair_state(rho, 1, 2, 3))
            np.testing.assert_allclose(ds.negativity.values[a, b, 1, 2], want, rtol=1e-8, atol=1e-12)
    assert (ds.negativity.values[..., 1, 2] > 0).any()
    with pytest.raises(ValueError, match="Field path 'g\\[1,1\\]'"):
        je.scan(net, axes={"g[1,1]": [0.1]}, progress=False)


def test_scan_network_streamed_resumed(tmp_path, monkeypatch):
    """A Network scan streamed to Zarr in chunks equals the in-memory scan; an interrupted one keeps its finished
    chunks, and the resumed store equals a clean one bit for bit."""
    import jaxengine._scan as _scan

    net = je.Network(
        eps=[1.0, 1.02, 0.98],
        g={(0, 1): 0.004, (1, 2): 0.004},
        kappa=[0.02, 0, 0.01],
        gamma=[1e-3, 0, 1e-2],
        T=[1.0, 0.1, 0.05],
    )
    axes = {"T[0]": np.linspace(0.5, 1.5, 5), "g[0,1]": np.linspace(0.0, 0.01, 7)}  # g[0,1] = 0 included
    mem = je.scan(net, axes=axes, progress=False)
    clean = je.scan(net, axes=axes, out=tmp_path / "clean.zarr", chunk_size=8, store_rho=True, progress=False)
    assert _scan.done_chunks(tmp_path / "clean.zarr").tolist() == [1] * 5  # chunks of (1, 7) points
    # chunks of other sizes run other compiled bucket sizes: equal to rounding (the concurrence's square roots of
    # eigenvalues ~1e-24 amplify it to ~1e-12)
    for name in mem.data_vars:
        np.testing.assert_allclose(clean[name].values, mem[name].values, rtol=1e-10, atol=1e-11, err_msg=name)
    point = net.replace(T=[1.25, 0.1, 0.05], g={(0, 1): 0.005, (1, 2): 0.004})
    np.testing.assert_allclose(clean.rho.values[3, 3], je.observables(point).rho, rtol=0, atol=1e-12)
    assert clean.attrs["model"] == "Network" and clean.attrs["g[1,2]"] == 0.004 and "T[0]" not in clean.attrs

    original, calls = _scan._write_chunk, []

    def interrupt_at_third(*args):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        original(*args)

    monkeypatch.setattr(_scan, "_write_chunk", interrupt_at_third)
    with pytest.raises(KeyboardInterrupt):
        je.scan(net, axes=axes, out=tmp_path / "resumed.zarr", chunk_size=8, store_rho=True, progress=False)
    assert _scan.done_chunks(tmp_path / "resumed.zarr").tolist() == [1, 1, 0, 0, 0]
    monkeypatch.setattr(_scan, "_write_chunk", original)
    resumed = je.scan(net, axes=axes, out=tmp_path / "resumed.zarr", progress=False, store_rho=True)
    for name in clean.data_vars:
        np.testing.assert_array_equal(resumed[name].values, clean[name].values, err_msg=name)
    with pytest.raises(ValueError, match="holds a different scan"):
        je.scan(net, axes={"T[0]": [0.5, 1.0]}, out=tmp_path / "resumed.zarr", progress=False)
    with pytest.raises(ValueError, match="Axis 'T\\[1\\]'.*non-negative"):
        je.scan(net, axes={"T[1]": [0.5, -1.0]}, progress=False)


@pytest.mark.slow
def test_optimise_network_against_grid_search():
    net = je.Network(eps=[1.0, 1.0, 1.0], g={(0, 1): 0.004, (1, 2): 0.004}, gamma=[1e-3, 0, 1e-2], T=[1.0, 0.1, 0.05])
    bounds = {
        "g[0,1]": (5e-4, 5e-3),
        "g[1,2]": (5e-4, 5e-3),
    }  # N > 0 over most of the box (its gradient is 0 elsewhere)
    r = je.optimise("negativity[1,2]", net, free="g[0,1],g[1,2]", bounds=bounds, starts=4, steps=150)
    a, b = np.meshgrid(np.linspace(5e-4, 5e-3, 25), np.linspace(5e-4, 5e-3, 25), indexing="ij")
    G = np.zeros(a.shape + (3, 3))
    G[..., 0, 1] = G[..., 1, 0] = a
    G[..., 1, 2] = G[..., 2, 1] = b
    best = float(je.observables(net.replace(g=G)).negativity[..., 1, 2].max())
    assert float(r.value) >= best * (1 - 1e-6)
    np.testing.assert_allclose(float(je.observables(r.params).negativity[1, 2]), float(r.value), rtol=1e-10)


# ---------------------------------------------------------------------------------------------------------- CLI


def test_cli_network(tmp_path, capsys):
    import json

    from jaxengine import cli

    (tmp_path / "m.toml").write_text(
        'eps = [1.0, 1.02, 0.98]\ngamma = [1e-3, 0.0, 1e-2]\nT = [1.0, 0.1, 0.05]\n[g]\n"0-1" = 0.004\n"1-2" = 0.004\n'
    )
    assert cli.main(["network", "--model", str(tmp_path / "m.toml"), "--json", "--csv", str(tmp_path / "o.csv")]) == 0
    out = json.loads(capsys.readouterr().out)
    d = dict(
        eps=[1.0, 1.02, 0.98],
        g=np.diag([0.004, 0.004], 1) + np.diag([0.004, 0.004], -1),
        kappa=np.zeros(3),
        gamma=[1e-3, 0, 1e-2],
        T=[1.0, 0.1, 0.05],
        mu=np.zeros(3),
    )
    H, baths = np_network(*(d[k] for k in ("eps", "g", "kappa", "gamma", "T", "mu")), "bosonic")
    rho = qutip_steady(H, baths)
    np.testing.assert_allclose([q["Q"] for q in out["qubits"]], currents(H, baths, rho), rtol=1e-10, atol=1e-16)
    np.testing.assert_allclose(out["pairs"][2]["negativity"], np_pair_negativity(pair_state(rho, 1, 2, 3)), rtol=1e-8)
    assert (tmp_path / "o.csv").read_text().count("\n") == 7
    # flags: the same model, a table
    argv = ["network", "--eps", "1,1.02,0.98", "--g", "0-1=0.004", "--g", "1-2=0.004", "--gamma", "1e-3,0,1e-2"]
    assert cli.main([*argv, "--T", "1,0.1,0.05"]) == 0
    assert "1-2" in capsys.readouterr().out
    assert cli.main([*argv, "--T", "1,-0.1,0.05"]) == 2
    assert "Field `T` must be non-negative" in capsys.readouterr().err
