"""The fast sparse batch-last kernel (`_kernel`) against the generic dense path, NumPy and QuTiP; ok/residual; grads."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import mp_steady, np_heat, np_model, np_negativity, np_steady, point, random_params

import jaxengine as je
from jaxengine import _compile
from jaxengine._generator import pauli
from jaxengine._linalg import jacobi, unrolled
from jaxengine._solve import chunks
from jaxengine._solve import kernel as _kernel


def _dense(p):
    """The generic reference: complex 16x16 Liouvillian of the public model, trace row, LAPACK LU."""
    L = je.liouvillian(je.hamiltonian(p), je.jump_operators(p))
    return je.steady_state(L, throw=False)


@pytest.mark.parametrize("bath", ["bosonic", "fermionic"])
def test_fast_matches_dense_at_random_points(rng, bath):
    p = random_params(rng, 1000, bath=bath)
    o = je.observables(p, throw=False)
    ref = _dense(p)
    assert bool(o.ok.all()) and bool(ref.ok.all())
    np.testing.assert_allclose(o.rho, ref.rho, rtol=0, atol=1e-10)
    Q_h, Q_c = je.heat_currents(p, ref.rho)
    np.testing.assert_allclose(o.J, Q_h - Q_c, rtol=1e-10, atol=1e-16)
    np.testing.assert_allclose(o.Q_h + o.Q_c, 0, atol=1e-17)  # first law with the full H
    np.testing.assert_allclose(o.negativity, je.negativity(ref.rho), rtol=0, atol=1e-12)
    # the concurrence takes square roots of eigenvalues that can be ~eps: ~sqrt(eps) accuracy by any method
    np.testing.assert_allclose(o.concurrence, je.concurrence(ref.rho), rtol=0, atol=1e-8)
    # the residual is that of the returned state in the true Liouvillian
    L = je.liouvillian(je.hamiltonian(p), je.jump_operators(p))
    vec = jnp.swapaxes(o.rho, -1, -2).reshape(-1, 16)
    np.testing.assert_allclose(o.residual, jnp.linalg.norm(jnp.einsum("nij,nj->ni", L, vec), axis=-1), atol=1e-15)


def test_fast_matches_numpy_null_space(rng):
    p = random_params(rng, 40)
    o = je.observables(p)
    for i in range(40):
        H, c_ops = np_model(point(p, i))
        rho = np_steady(H, c_ops)
        q_h, q_c = np_heat(H, c_ops, rho)
        np.testing.assert_allclose(o.rho[i], rho, rtol=0, atol=1e-10)
        np.testing.assert_allclose(o.J[i], q_h - q_c, rtol=1e-9, atol=1e-16)
        np.testing.assert_allclose(o.negativity[i], np_negativity(rho), rtol=0, atol=1e-12)


def test_fast_matches_qutip(rng):
    qutip = pytest.importorskip("qutip")
    p = random_params(rng, 20)
    o = je.observables(p)
    for i in range(20):
        H, c_ops = np_model(point(p, i))
        dims = [[2, 2], [2, 2]]
        rho = qutip.steadystate(qutip.Qobj(H, dims=dims), [qutip.Qobj(c, dims=dims) for c in c_ops]).full()
        np.testing.assert_allclose(o.rho[i], rho, rtol=0, atol=1e-10)


EDGES = dict(
    cold_T_c=dict(T_c=1e-4),
    hot_T_h=dict(T_h=100.0),
    both_cold=dict(T_c=1e-4, T_h=1e-3),
    resonant=dict(delta=0.0),
    uncoupled=dict(g=0.0),
    strong_gamma_c=dict(gamma_c=50.0),
    strong_both=dict(gamma_c=20.0, gamma_h=5.0, g=3.0),
    large_kappa=dict(kappa_h=2.0, kappa_c=-1.5),
    fermionic_cold=dict(T_c=1e-4, bath="fermionic"),
)


@pytest.mark.parametrize("edge", list(EDGES))
def test_edge_cases_ok_and_accurate(edge):
    p = je.EngineParams(kappa_h=0.05, kappa_c=0.02, delta=0.01).replace(**EDGES[edge])
    o = je.observables(p)
    assert bool(o.ok)
    ref = _dense(p)
    np.testing.assert_allclose(o.rho, ref.rho, rtol=0, atol=1e-10)
    np.testing.assert_allclose(o.negativity, je.negativity(ref.rho), rtol=0, atol=1e-12)
    Q_h, Q_c = je.heat_currents(p, ref.rho)
    np.testing.assert_allclose(o.J, Q_h - Q_c, rtol=1e-9, atol=1e-14)


def test_pivots_stay_large_over_the_parameter_range(rng):
    """No runtime pivoting: the static-order pivots, relative to max|A|, must stay far from roundoff."""
    n = 20000
    logu = lambda lo, hi: 10 ** rng.uniform(lo, hi, n)  # noqa: E731
    p = je.EngineParams(
        eps_h=rng.uniform(0.5, 2, n),
        delta=rng.uniform(-0.4, 0.4, n),
        g=logu(-5, 0.5),
        gamma_h=logu(-5, 1),
        gamma_c=logu(-5, 1.5),
        T_h=logu(-2, 2),
        T_c=logu(-3, 1),
        kappa_h=rng.uniform(-1, 1, n),
        kappa_c=rng.uniform(-1, 1, n),
    )
    pf = je._models.params.flat(je._models.params.prepare(p)[0])
    theta = jnp.moveaxis(je._models.engine._coefficients(pf), -1, 0)
    _, min_pivot, _ = _kernel._solve_theta(theta)
    o = je.observables(p, throw=False)
    assert bool(o.ok.all())
    assert float(jnp.min(min_pivot / jnp.max(jnp.abs(theta[5:]), axis=0))) > 1e-10  # seen: 7e-9; `ok` needs 3e-15
    ref = _dense(p)
    # rate ratios down to 1e-6 against couplings ~2 make A ill-conditioned: there the pivoted LAPACK LU is off by
    # up to ~5e-10, the refined kernel is not (checked against 30-digit mpmath at the worst points)
    np.testing.assert_allclose(o.rho, ref.rho, rtol=0, atol=1e-9)
    # far outside the paper's range some partial transposes need 4-5 Jacobi sweeps (3 are unrolled): the convergence
    # loop must still give N to roundoff, against LAPACK's eigvalsh of the same rho
    rho = np.asarray(o.rho)
    pt = rho.reshape(n, 2, 2, 2, 2).transpose(0, 1, 4, 3, 2).reshape(n, 4, 4)
    np.testing.assert_allclose(o.negativity, np.maximum(-np.linalg.eigvalsh(pt)[:, 0], 0), rtol=0, atol=1e-14)
    np.testing.assert_allclose(o.concurrence, je.concurrence(o.rho), rtol=0, atol=1e-8)  # C: ~sqrt(eps) at best
    err = np.abs(np.asarray(o.rho) - np.asarray(ref.rho)).max(axis=(1, 2))
    for i in np.argsort(err)[-2:]:
        exact = np.array(mp_steady(point(p, int(i)), 30), dtype=complex)
        np.testing.assert_allclose(o.rho[i], exact, rtol=0, atol=1e-14)


def _backward_error(theta, y):
    """Componentwise backward error max_i |b - A y|_i / (|A||y| + |b|)_i of A y = b (A = M[1:, 1:], b = -M[1:, 0]),
    in NumPy from the generator tensor, per point."""
    M = np.einsum("kn,kij->nij", np.asarray(theta), pauli.GENERATORS)
    A, b, y = M[:, 1:, 1:], -M[:, 1:, 0], np.asarray(y).T
    r = b - np.einsum("nij,nj->ni", A, y)
    return (np.abs(r) / (np.einsum("nij,nj->ni", np.abs(A), np.abs(y)) + np.abs(b))).max(axis=1)


def test_refinement_only_where_it_matters(rng, monkeypatch):
    """The block LU is refined (one float64 step) only in a batch where some point's componentwise backward error
    exceeds REFINE_TOL eps. In the paper's range none does, and forcing the refinement changes nothing measurable;
    far outside it the refinement runs and brings every point back to a few eps."""
    eps = np.finfo(float).eps
    solve = jax.jit(lambda t: _kernel._solve_theta(t))  # REFINE_TOL is read when this is traced
    theta = jnp.moveaxis(
        je._models.engine._coefficients(je._models.params.flat(je._models.params.prepare(random_params(rng, 3000))[0])), -1, 0
    )
    y, _, res = solve(theta)
    assert _backward_error(theta, y).max() <= _kernel.REFINE_TOL * eps  # so this batch was not refined
    monkeypatch.setattr(_kernel, "REFINE_TOL", -1.0)  # every point "needs" refinement
    y2, _, res2 = jax.jit(lambda t: _kernel._solve_theta(t))(theta)
    assert not np.array_equal(np.asarray(y), np.asarray(y2))  # the refining branch ran
    # both are within ~3e-15 of a 40-digit solve (|y| ~ 1; measured at the 8 points where they differ most): the
    # roundoff of the problem's conditioning, which refining does not reduce
    np.testing.assert_allclose(y2, y, rtol=0, atol=8e-15)
    assert _backward_error(theta, y2).max() <= 8 * eps
    n = 3000  # far outside the paper's range, tiny rates against couplings ~1: `solve` was traced with REFINE_TOL = 32
    p = je.EngineParams(
        eps_h=rng.uniform(0.5, 2, n),
        delta=rng.uniform(-0.4, 0.4, n),
        g=10 ** rng.uniform(-5, 0.5, n),
        gamma_h=10 ** rng.uniform(-5, 1, n),
        gamma_c=10 ** rng.uniform(-5, 1.5, n),
        T_h=10 ** rng.uniform(-2, 2, n),
        T_c=10 ** rng.uniform(-3, 1, n),
        kappa_h=rng.uniform(-1, 1, n),
        kappa_c=rng.uniform(-1, 1, n),
    )
    theta = jnp.moveaxis(je._models.engine._coefficients(je._models.params.flat(je._models.params.prepare(p)[0])), -1, 0)
    y, _, res = solve(theta)
    assert _backward_error(theta, y).max() <= 8 * eps


def test_jacobi_converges_on_random_hermitian_matrices(rng):
    """The batch-last Jacobi (parallel order, real arithmetic, convergence loop) against LAPACK on matrices with
    nothing of the engine's near-diagonal structure: random complex Hermitian, with degenerate cases mixed in."""
    n = 4000
    X = rng.normal(size=(n, 4, 4)) + 1j * rng.normal(size=(n, 4, 4))
    X = X + np.conj(np.swapaxes(X, 1, 2))
    X[:1000] = np.diag([1.0, 1.0, 1.0, 2.0]) + 1e-9 * X[:1000]  # a nearly triple eigenvalue
    X[1000:1100] = np.eye(4)  # exactly diagonal, all equal (zero rotations)
    diag = [jnp.asarray(X[:, i, i].real) for i in range(4)]
    off = {pq: (jnp.asarray(X[:, pq[0], pq[1]].real), jnp.asarray(X[:, pq[0], pq[1]].imag)) for pq in jacobi.PAIRS}
    ref = np.linalg.eigvalsh(X)
    scale = np.linalg.norm(X, axis=(1, 2))[:, None]
    for sweeps in (2, 3):
        f = jax.jit(lambda d, o, s=sweeps: jnp.sort(jnp.stack(jacobi._jacobi_eigenvalues_converged(d, o, s)), 0))
        lam = np.asarray(f(diag, off)).T
        assert (np.abs(lam - ref) <= 4e-15 * scale).all()


def test_second_order_estimates_are_within_their_bound(rng):
    """`_second_order`'s rigorous bound against LAPACK on nearly diagonal Hermitian matrices: separated, nearly
    degenerate and exactly degenerate diagonals, off-diagonal scales from 1e-2 to 1e-9. The error bound holds at every
    matrix (up to roundoff), and the estimate is second order where the diagonal is separated."""
    n = 6000
    d = rng.uniform(-1, 1, (n, 4))
    d[:1000, 1] = d[:1000, 0] + 1e-7 * rng.normal(size=1000)  # nearly degenerate pair
    d[1000:1500, 2] = d[1000:1500, 3]  # exactly degenerate pair
    E = rng.normal(size=(n, 4, 4)) + 1j * rng.normal(size=(n, 4, 4))
    E = (E + np.conj(np.swapaxes(E, 1, 2))) * 10.0 ** rng.uniform(-9, -2, (n, 1, 1))
    E[:, range(4), range(4)] = 0
    X = E + np.einsum("ni,ij->nij", d, np.eye(4))
    diag = [jnp.asarray(d[:, i]) for i in range(4)]
    off = {pq: (jnp.asarray(X[:, pq[0], pq[1]].real), jnp.asarray(X[:, pq[0], pq[1]].imag)) for pq in jacobi.PAIRS}
    est, (lhs, rhs) = jax.jit(jacobi._second_order)(diag, off)
    est = np.asarray(jnp.stack(est, -1))
    bound = np.asarray(jnp.stack(lhs, -1) / jnp.stack(rhs, -1)).max(axis=1)  # eta where not separated
    lam = np.linalg.eigvalsh(X)
    err = np.abs(np.sort(est, axis=1) - lam).max(axis=1)
    assert (err <= bound + 8 * np.finfo(float).eps).all()  # plus roundoff (here |A| ~ 1), both ours and LAPACK's
    eta = np.linalg.norm(E, axis=(1, 2)) * np.sqrt(0.75)
    delta = np.abs(d[:, :, None] - d[:, None, :] + np.eye(4) * 9).min(axis=(1, 2))
    assert (delta[1500:] > 2 * eta[1500:]).mean() > 0.5 and not (delta[1000:1500] > 2 * eta[1000:1500]).any()
    # well separated, the correction removes the second-order error of the diagonal alone (what is left is third order)
    well = delta > 1000 * eta
    first = np.abs(np.sort(d, axis=1) - lam).max(axis=1)
    assert well.mean() > 0.3 and (err[well] <= 1e-2 * first[well] + 8 * np.finfo(float).eps).all()


def test_materialise_is_exact(rng):
    """The materialisation trick divides by a 1.0 that XLA cannot fold: bit for bit the identity for any finite or
    special value (subnormals, signed zeros, infinities, nan), alone and inside a fused expression."""
    v = jnp.asarray(
        np.concatenate(
            [rng.normal(size=100) * 10.0 ** rng.integers(-300, 300, 100), [5e-324, 0.0, -0.0, np.inf, -np.inf, np.nan]]
        )
    )
    out = jax.jit(unrolled._materialise)(v)
    np.testing.assert_array_equal(np.asarray(out), np.asarray(v))
    assert np.signbit(out[-4]) and out[-6] == 5e-324
    w = jax.jit(lambda v: unrolled._materialise(v * 3.0) - v * 3.0)(v[:100])  # fused with its producer and consumer
    assert (np.asarray(w) == 0).all()
    token = unrolled.IN_REGISTERS.set(True)  # the fused GPU kernel's body: no trick, the value itself
    try:
        assert unrolled._materialise(v) is v
    finally:
        unrolled.IN_REGISTERS.reset(token)


def test_kernel_programs_compile_inside_user_transformations(rng):
    """The kernel's programs carry compiler options (`chunks.COMPILER_OPTIONS`), which JAX accepts on top-level
    compilations only: called with traced arguments (inside the user's jit, vmap or grad) they must compile into
    the enclosing program instead, with the same results (gradients under jit: `test_gradients.py`)."""
    p = random_params(rng, 40)
    o = je.observables(p)
    oj = jax.jit(lambda p: je.observables(p, throw=False))(p)
    for name in ("rho", "J", "negativity", "concurrence"):
        np.testing.assert_allclose(getattr(oj, name), getattr(o, name), rtol=1e-12, atol=1e-16, err_msg=name)
    sj = jax.jit(lambda p: je.steady_state(p, throw=False))(p)
    np.testing.assert_allclose(sj.rho, o.rho, rtol=0, atol=1e-15)
    f = chunks.jit(lambda x: 2 * x)  # concrete arguments closed over inside a trace are a nested call too
    assert jax.jit(lambda: f(np.ones(3)))().tolist() == [2.0] * 3


def test_singular_point_is_flagged():
    p = je.EngineParams(gamma_h=jnp.array([0.0, 1e-3]), gamma_c=jnp.array([0.0, 1e-2]), kappa_h=0.1)
    o = je.observables(p, throw=False)
    assert o.ok.tolist() == [False, True]
    assert not bool(jnp.isnan(o.residual).any())  # a failed point reports residual inf, not nan
    with pytest.raises(RuntimeError, match="1 of 2"):
        je.observables(p)
    with pytest.raises(RuntimeError, match="1 of 2"):
        je.steady_state(p)


def test_blocks_and_padding(rng):
    """Batches larger than a block go through lax.map with a padded tail; results equal the unblocked kernel."""
    n = chunks.block_size() + 37  # 2^18 + 37 on a GPU
    p = random_params(rng, n)
    o = je.observables(p)
    assert o.rho.shape == (n, 4, 4)
    tail = je.observables(point(p, n - 1))
    np.testing.assert_allclose(o.rho[-1], tail.rho, rtol=0, atol=1e-14)
    np.testing.assert_allclose(o.negativity[-1], tail.negativity, rtol=0, atol=1e-16)


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="the thread split is for XLA:CPU only")
def test_threads_give_the_same_bits(rng, monkeypatch):
    """Large eager batches (the throughput path, >= THROUGHPUT_MIN points) run as one XLA execution per fixed-size
    chunk, in threads (`split_over_threads`): same blocks, same program, so every result is bit for bit that of one
    execution, for observables and steady_state, tail padding included, and for an N-D batch (the results get their
    shape without a copy)."""
    from jaxengine._observables import THROUGHPUT_MIN

    chunk = chunks.CHUNK_BLOCKS * chunks.BLOCK
    n = THROUGHPUT_MIN + 37
    monkeypatch.setattr(_compile, "cpu_workers", lambda: 2)
    p = random_params(rng, n)
    calls = []
    real = _compile.in_order
    monkeypatch.setattr(_compile, "in_order", lambda fn, items, w: real(fn, calls.append(list(items)) or calls[-1], w))
    o, ss = je.observables(p, throw=False), je.steady_state(p, throw=False)
    n_chunks = -(-n // chunk)  # the last one padded
    assert calls == [list(range(n_chunks))] * 2
    assert all(isinstance(v, jax.Array) for v in (*o, *ss))
    flat_p = je._models.params.flat(je._models.params.prepare(p)[0])
    one = jax.jit(lambda p: je.observables(p, throw=False))(flat_p)  # traced: one execution of the same kernel
    for name, a, b in zip(o._fields, o, one, strict=True):
        assert a.shape == b.shape and np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True), name
    one = jax.jit(lambda p: je.steady_state(p, throw=False))(flat_p)
    for a, b in zip(ss, one, strict=True):
        assert np.array_equal(np.asarray(a), np.asarray(b))
    # an N-D batch takes the same path and gets its shape back
    m = 2 * chunk
    grid = jax.tree.map(lambda v: np.reshape(v[:m], (4, -1)) if np.ndim(v) else v, p)
    o2 = je.observables(grid, throw=False)
    assert len(calls) == 3 and o2.rho.shape == (4, m // 4, 4, 4) and o2.J.shape == (4, m // 4)
    for a, b in zip(o2, o, strict=True):
        assert np.array_equal(np.asarray(a).reshape((-1,) + b.shape[1:]), np.asarray(b)[:m], equal_nan=True)
    # under a transformation the batch is traced: one execution, no threads
    calls.clear()
    np.testing.assert_array_equal(jax.jit(lambda p: je.observables(p, throw=False).J)(p), o.J)
    assert calls == []
    # called from a pool thread (e.g. by user code run there): no nested waiting on the pool, one execution
    J = _compile._pool(2).submit(lambda: je.observables(p, throw=False).J).result(timeout=120)
    np.testing.assert_array_equal(J, o.J)
    assert calls == []


NAMES = ("T_h", "T_c", "kappa_h", "kappa_c", "delta", "gamma_h", "gamma_c", "g")


def _relative(pt):
    """A function of relative changes v of NAMES around the point pt (all derivatives of order 1 in v)."""
    return lambda v: pt.replace(**{n: getattr(pt, n) * (1 + v[i]) for i, n in enumerate(NAMES)})


def test_gradients_forward_steady_state(rng):
    """Cheap check of the implicit JVP (forward mode compiles in seconds; reverse mode is in the slow tests)."""
    from jax.test_util import check_grads

    mk = _relative(point(random_params(rng, 1, bath="fermionic"), 0))

    @jax.jit
    def f(v):
        rho = je.steady_state(mk(v), throw=False).rho
        return jnp.stack([rho[1, 2].real * 1e2, rho[0, 1].imag * 1e2, rho[3, 3].real])

    check_grads(f, (jnp.zeros(len(NAMES)),), order=1, modes=("fwd",), eps=1e-4, atol=1e-6, rtol=1e-5)


# Reverse mode through the whole unrolled observables kernel takes ~2 min to compile on 2 cores: slow tests.
@pytest.mark.slow
@pytest.mark.parametrize("bath", ["bosonic", "fermionic"])
def test_gradients_implicit(rng, bath):
    from jax.test_util import check_grads

    mk = _relative(point(random_params(rng, 1, bath=bath), 0))

    @jax.jit
    def f(v):
        o = je.observables(mk(v), throw=False)
        return jnp.stack([o.rho[1, 2].real * 1e2, o.rho[0, 1].imag * 1e2, o.J * 1e3, o.negativity * 1e2])

    check_grads(f, (jnp.zeros(len(NAMES)),), order=1, modes=("fwd", "rev"), eps=1e-4, atol=1e-6, rtol=1e-5)


@pytest.mark.slow
def test_gradients_second_order(rng):
    from jax.test_util import check_grads

    mk = _relative(point(random_params(rng, 1), 0))

    @jax.jit
    def f(v):
        ss = je.steady_state(mk(v), throw=False)
        return ss.rho[1, 2].real * 1e2

    check_grads(f, (jnp.zeros(len(NAMES)),), order=2, modes=("fwd", "rev"), eps=1e-4, atol=1e-5, rtol=1e-4)


@pytest.mark.slow
def test_negativity_gradient_finite():
    for p in (je.EngineParams(kappa_h=0.05), je.EngineParams(g=0.0), je.EngineParams()):  # entangled, product, X
        grad = jax.grad(lambda t, p=p: je.observables(p.replace(T_h=t), throw=False).negativity)(0.7)
        assert bool(jnp.isfinite(grad))
