"""Batching, compilation and dtypes: grids equal point-by-point calls, no recompilation, float32 still runs."""

import logging
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
from helpers import point

import jaxengine as je


def grid_50_60():
    return je.EngineParams(
        T_h=jnp.linspace(0.3, 1.0, 50)[:, None],
        delta=jnp.linspace(-0.05, 0.05, 60),
        kappa_h=0.03,
        g=jnp.linspace(1e-3, 3e-3, 60),
    )


def test_grid_equals_point_by_point():
    p = grid_50_60()
    og = je.observables(p)
    assert og.J.shape == (50, 60) and og.rho.shape == (50, 60, 4, 4) and og.ok.dtype == bool
    assert p.batch_shape == (50, 60)
    T, d, g = (np.broadcast_to(np.asarray(x), (50, 60)) for x in (p.T_h, p.delta, p.g))
    for i in range(50):
        for j in range(0, 60, 7):
            o = je.observables(
                je.EngineParams(T_h=float(T[i, j]), delta=float(d[i, j]), kappa_h=0.03, g=float(g[i, j]))
            )
            for name in ("J", "negativity", "concurrence", "J_c", "witness"):
                # a blocked batch and a single point round differently: float64 tolerance of tests/helpers.py
                np.testing.assert_allclose(getattr(og, name)[i, j], getattr(o, name), rtol=1e-10, atol=1e-16)
            np.testing.assert_allclose(og.rho[i, j], o.rho, rtol=0, atol=1e-14)


def test_shapes_of_every_function():
    p = je.EngineParams(T_h=jnp.ones((2, 1, 1)) * 0.7, delta=jnp.zeros((3, 1)), g=jnp.full((4,), 1e-3))
    assert je.hamiltonian(p).shape == (2, 3, 4, 4, 4)
    assert je.jump_operators(p).shape == (2, 3, 4, 4, 4, 4)
    assert je.steady_state(p).rho.shape == (2, 3, 4, 4, 4)
    assert je.critical_current(p).shape == (2, 3, 4)
    assert je.closed_form(p).J.shape == (2, 3, 4)
    q_h, q_c = je.heat_currents(p, je.steady_state(p).rho)
    assert q_h.shape == (2, 3, 4)
    assert je.negativity(je.steady_state(p).rho).shape == (2, 3, 4)


def test_grid_helper():
    p = je.grid(T_h=np.linspace(0.3, 1, 5), delta=np.linspace(-0.01, 0.01, 3), kappa_h=[0.0, 0.1])
    assert p.batch_shape == (5, 3, 2)
    o = je.observables(p)
    np.testing.assert_allclose(o.J[4, 2, 1], je.observables(je.EngineParams(T_h=1.0, delta=0.01, kappa_h=0.1)).J)


class _CompileLog(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        msg = record.getMessage()
        if "Compiling" in msg or "compil" in msg.lower() and "jit" in msg.lower():
            self.messages.append(msg)


def test_second_call_compiles_nothing():
    rng = np.random.default_rng(0)
    p1 = je.EngineParams(T_h=rng.uniform(0.3, 1, 64), delta=rng.uniform(-0.05, 0.05, 64), kappa_h=0.02)
    p2 = je.EngineParams(T_h=rng.uniform(0.3, 1, 64), delta=rng.uniform(-0.05, 0.05, 64), kappa_h=0.07)
    je.observables(p1)
    handler = _CompileLog()
    logger = logging.getLogger("jax")
    logger.addHandler(handler)
    try:
        with jax.log_compiles():
            je.observables(p2)
    finally:
        logger.removeHandler(handler)
    assert handler.messages == []
    # sanity: the handler does see a compilation (of a new program: a new shape compiles nothing, test_latency.py)
    handler2 = _CompileLog()
    logger.addHandler(handler2)
    try:
        with jax.log_compiles():
            jax.jit(lambda T: je.observables(je.EngineParams(T_h=T)).J)(np.linspace(0.3, 1, 65))
    finally:
        logger.removeHandler(handler2)
    assert handler2.messages


def test_jit_vmap_and_grad_compose():
    f = jax.jit(lambda T: je.observables(je.EngineParams(T_h=T, delta=0.01)).J)
    Ts = jnp.linspace(0.4, 0.9, 5)
    np.testing.assert_allclose(jax.vmap(f)(Ts), je.observables(je.EngineParams(T_h=Ts, delta=0.01)).J, rtol=1e-13)
    dJ = jax.grad(f)(0.7)
    h = 1e-5
    fd = (f(0.7 + h) - f(0.7 - h)) / (2 * h)
    np.testing.assert_allclose(dJ, fd, rtol=1e-6)


def test_float32_mode_runs_and_returns_float32():
    code = textwrap.dedent(
        """
        import json, numpy as np, jax.numpy as jnp, jaxengine as je
        o = je.observables(je.EngineParams(T_h=jnp.float32(0.7), delta=jnp.float32(0.01)))
        print(json.dumps({k: [str(np.asarray(v).dtype), np.asarray(v).real.tolist()]
                          for k, v in o._asdict().items() if k != "rho"} | {"rho": str(o.rho.dtype)}))
        """
    )
    env = dict(os.environ, JAXENGINE_ENABLE_X64="0", JAX_PLATFORMS="cpu")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    import json

    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["rho"] == "complex64"
    ref = je.observables(je.EngineParams(T_h=0.7, delta=0.01))
    for name in ("J", "negativity", "J_c", "witness"):
        dtype, value = res[name]
        assert dtype == "float32", name
        # float32 tolerance: condition number ~1e3 costs three digits of the 7
        np.testing.assert_allclose(value, float(getattr(ref, name)), rtol=1e-3)
    assert res["ok"][0] == "bool"


def test_params_pytree_roundtrip():
    p = je.EngineParams(T_h=jnp.arange(3.0), bath="fermionic")
    leaves, treedef = jax.tree.flatten(p)
    assert len(leaves) == 9
    q = jax.tree.unflatten(treedef, leaves)
    assert q.bath == "fermionic"
    np.testing.assert_array_equal(point(je.EngineParams(T_h=np.array([0.5, 0.6])), 1).T_h, 0.6)
