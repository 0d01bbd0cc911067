"""Autodiff through the steady state: exact first and second derivatives of every observable with respect to every
numeric field, checked against central differences (jax.test_util.check_grads), between modes, against the
gradients of the closed form, and at the singular-looking points (N = 0, delta = 0, g = 0, small T)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import random_params
from jax.test_util import check_grads

import jaxengine as je
from jaxengine._models.params import NUMERIC_FIELDS

# Each field moves by SCALE * v, so that a unit of v is a sizeable but perturbative change of every field.
SCALE = dict(eps_h=0.1, delta=0.01, g=1e-3, gamma_h=1e-3, gamma_c=1e-2, T_h=0.1, T_c=0.02, kappa_h=0.02, kappa_c=0.02)
SCALES = jnp.asarray([SCALE[k] for k in NUMERIC_FIELDS])


def _shift(p, v):
    """Parameters p + SCALE * v, v of shape (..., 9) with the batch shape of p."""
    return p.replace(**{k: getattr(p, k) + SCALE[k] * v[..., i] for i, k in enumerate(NUMERIC_FIELDS)})


def _outputs(p):
    """Every differentiable output of observables, scaled to O(1): (..., 12)."""
    o = je.observables(p, throw=False)
    n = je.negativity_signed(o.rho)
    return jnp.stack(
        [
            o.rho[..., 0, 0].real * 10,
            o.rho[..., 1, 1].real * 10,
            o.rho[..., 1, 2].real * 1e2,
            o.rho[..., 1, 2].imag * 1e2,
            o.rho[..., 0, 1].real * 1e2,
            o.rho[..., 0, 3].imag * 1e2,
            o.Q_h * 1e3,
            o.Q_c * 1e3,
            o.J * 1e3,
            n * 1e2,
            o.J_c * 1e3,
            o.witness,
        ],
        axis=-1,
    )


def _points(bath, n=10, seed=1):
    """n random points (kappa != 0, both signs of delta) whose signed negativity keeps clear of 0, so that the
    kinked outputs (N, concurrence) are smooth within the finite-difference steps."""
    p = random_params(np.random.default_rng(seed), 4 * n, bath=bath)
    n_signed = np.asarray(je.negativity_signed(je.observables(p).rho))
    keep = np.flatnonzero(np.abs(n_signed) > 1e-5)[:n]
    assert keep.size == n
    return p.replace(**{k: jnp.asarray(np.broadcast_to(getattr(p, k), (4 * n,))[keep]) for k in NUMERIC_FIELDS})


# the fermionic run is in the slow suite (CI budget: ~100 s each): the kernel and its derivative rules are the same for
# both baths, only the rates differ, and their first derivatives are checked in CI (test_kernel.py, forward mode)
@pytest.mark.parametrize("bath", ["bosonic", pytest.param("fermionic", marks=pytest.mark.slow)])
def test_check_grads_order2_fwd_rev_at_random_points(bath):
    """Order-2 forward and reverse derivatives of every output with respect to every field at 10 random points per
    bath (20 in all, kappa != 0), against central differences in float64. One batched function: its output at a point
    depends on that point's v only, so the random-direction checks cover every point at once."""
    p = _points(bath)

    f = jax.jit(lambda v: _outputs(_shift(p, v)))
    v0 = (jnp.zeros((10, 9)),)
    # (order 2 with both modes at once would also check every mixed composition: 3x the compile time, no new code path)
    check_grads(f, v0, order=1, modes=("fwd", "rev"), eps=1e-4, atol=1e-6, rtol=1e-5)
    check_grads(f, v0, order=2, modes=("fwd",), eps=1e-4, atol=1e-6, rtol=1e-5)
    check_grads(f, v0, order=2, modes=("rev",), eps=1e-4, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("mode", ["fwd", pytest.param("rev", marks=pytest.mark.slow)])
def test_negativity_and_concurrence_gradients_where_entangled(mode):
    """N and C themselves (not the signed n) at entangled points, first order. (Reverse mode through the Jacobi
    sweeps of the concurrence compiles for over a minute on 2 cores: a slow test.)"""
    p = _points("bosonic", n=10, seed=2)
    n_signed = np.asarray(je.negativity_signed(je.observables(p).rho))
    ent = np.flatnonzero(n_signed > 1e-5)
    assert ent.size >= 3
    p = p.replace(**{k: getattr(p, k)[ent] for k in NUMERIC_FIELDS})

    @jax.jit
    def f(v):
        o = je.observables(_shift(p, v), throw=False)
        return jnp.stack([o.negativity * 1e2, o.concurrence * 1e2], -1)

    check_grads(f, (jnp.zeros((ent.size, 9)),), order=1, modes=(mode,), eps=1e-3, atol=1e-6, rtol=1e-4)


def test_jacfwd_jacrev_hessian_vmap_jit_agree():
    """jacfwd == jacrev, the hessian is symmetric and equals central differences of the gradient, and
    vmap(jit(grad)) == a loop of grads."""
    p0 = je.EngineParams(T_h=0.8, delta=0.02, kappa_h=0.05, kappa_c=-0.01)

    def f(v):
        return _outputs(_shift(p0, v))

    v0 = jnp.zeros(9)
    jf, jr = jax.jit(jax.jacfwd(f))(v0), jax.jit(jax.jacrev(f))(v0)
    np.testing.assert_allclose(jf, jr, rtol=1e-9, atol=1e-12)

    def J(v):
        return f(v)[8]

    h = jax.jit(jax.hessian(J))(v0)
    np.testing.assert_allclose(h, h.T, rtol=1e-8, atol=1e-12)
    # second derivative against central differences of the first (independent of the hessian's code path)
    g = jax.jit(jax.grad(J))
    e = 1e-3
    fd = np.stack([(g(v0.at[i].set(e)) - g(v0.at[i].set(-e))) / (2 * e) for i in range(9)])
    np.testing.assert_allclose(h, fd, rtol=1e-4, atol=1e-7)

    vs = jnp.asarray(np.random.default_rng(3).normal(size=(5, 9)) * 0.5)
    batched = jax.vmap(jax.jit(jax.grad(J)))(vs)
    looped = np.stack([g(v) for v in vs])
    np.testing.assert_allclose(batched, looped, rtol=1e-10, atol=1e-14)


SPECIAL = {  # name: (parameters, the field to move, a central-difference step for it)
    "separable (N = 0), g = 0": (je.EngineParams(g=0.0, kappa_h=0.03), "T_h", 1e-4),
    "separable (N = 0), low T_h": (je.EngineParams(T_h=0.15, kappa_c=0.02), "T_h", 1e-5),
    "delta = 0, kappa = 0 (X state)": (je.EngineParams(), "delta", 1e-5),
    "g = 0, kappa = 0": (je.EngineParams(g=0.0), "g", 1e-6),
    "small T_c": (je.EngineParams(T_c=1e-3, kappa_h=0.01), "T_c", 1e-6),
    "small T_h": (je.EngineParams(T_h=0.02, T_c=0.01), "T_h", 1e-6),
    "T_c = 0": (je.EngineParams(T_c=0.0, kappa_c=0.01), "T_h", 1e-5),
}


def test_gradients_finite_at_special_points():
    """Every derivative is finite, in both modes, at points where a naive implementation divides by zero,
    overflows or sits on a kink (N = 0, delta = 0, g = 0, T -> 0), and those of J, Q_h and the signed n agree with
    central differences. All points in one batch: one compilation per mode."""
    names = list(SPECIAL)
    p = je.EngineParams(**{k: jnp.asarray([float(getattr(SPECIAL[n][0], k)) for n in names]) for k in NUMERIC_FIELDS})
    onehot = jnp.asarray([[float(SPECIAL[n][1] == k) / SCALE[k] for k in NUMERIC_FIELDS] for n in names])
    h = jnp.asarray([SPECIAL[n][2] for n in names])

    def outs(x):  # x (B,): each point moved along its own field
        o = je.observables(_shift(p, onehot * x[:, None]), throw=False)
        return jnp.stack([o.J, o.Q_h, je.negativity_signed(o.rho), o.negativity, o.concurrence, o.witness, o.J_c], -1)

    x0 = jnp.zeros(len(names))
    tangent = jnp.ones(len(names))
    f = jax.jit(outs)
    jvp = jax.jit(lambda x: jax.jvp(outs, (x,), (tangent,))[1])(x0)
    vjp = jnp.einsum("bib->bi", jax.jit(jax.jacrev(outs))(x0))  # each output depends on its own point only
    for i, name in enumerate(names):
        assert np.all(np.isfinite(jvp[i])) and np.all(np.isfinite(vjp[i])), (name, jvp[i], vjp[i])
    np.testing.assert_allclose(vjp, jvp, rtol=1e-9, atol=1e-15)
    fd = (f(h) - f(-h)) / (2 * h[:, None])
    scale = np.abs(np.asarray(f(x0))[:, :3]).max(axis=1, keepdims=True) * 10
    for i, name in enumerate(names):
        if scale[i, 0] < 1e-12:  # J ~ exp(-eps/T_h) ~ 1e-22 at T_h = 0.02: finite is all that can be asked there
            continue
        np.testing.assert_allclose(jvp[i, :3], fd[i, :3], rtol=1e-4, atol=1e-5 * scale[i, 0], err_msg=name)


def _central(f, x, h):
    return (f(x + h) - f(x - h)) / (2 * h)


@pytest.mark.slow  # ~40-70 s of compilation on 2 cores; CI budget
def test_signed_negativity_gradient_points_to_entanglement_where_N_is_zero():
    """Below the critical temperature N = 0 and so is dN/dT_h; the signed n is negative there and its derivative
    is positive (heating the hot bath brings entanglement), equal to central differences."""
    p = je.EngineParams(T_h=0.15)

    @jax.jit
    def n(t):
        return je.negativity_signed(je.observables(p.replace(T_h=t)).rho)

    @jax.jit
    def N(t):
        return je.observables(p.replace(T_h=t)).negativity

    assert float(N(0.15)) == 0.0 and float(jax.jit(jax.grad(N))(0.15)) == 0.0
    dn = float(jax.jit(jax.grad(n))(0.15))
    assert float(n(0.15)) < 0 and dn > 0
    np.testing.assert_allclose(dn, float(_central(n, 0.15, 1e-5)), rtol=1e-6, atol=1e-11)  # FD roundoff ~1e-12


def test_closed_form_gradients_match_numerical_steady_state():
    """At kappa = 0, derivatives of the closed form (eqs 6-18) and of the numerical steady state agree."""
    fields = ("delta", "g", "gamma_h", "gamma_c", "T_h", "T_c", "eps_h")
    p0 = je.EngineParams(T_h=0.6, delta=0.015)

    def f(v, fn):
        p = p0.replace(**{k: getattr(p0, k) + SCALE[k] * v[i] for i, k in enumerate(fields)})
        o = fn(p)
        return jnp.stack([o.J * 1e3, o.negativity * 1e2, o.J_c * 1e3, o.witness, o.Q_h * 1e3])

    v0 = jnp.zeros(len(fields))
    jc = jax.jit(jax.jacfwd(lambda v: f(v, je.closed_form)))(v0)
    jn = jax.jit(jax.jacfwd(lambda v: f(v, je.observables)))(v0)
    assert np.all(np.isfinite(jc))
    np.testing.assert_allclose(jc, jn, rtol=1e-8, atol=1e-10)
    jr = jax.jit(jax.jacrev(lambda v: f(v, je.closed_form)))(v0)
    np.testing.assert_allclose(jr, jc, rtol=1e-10, atol=1e-13)
