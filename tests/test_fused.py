"""The experimental fused GPU kernel (`_fused`): on CPU, in Pallas's interpret mode against the dense LAPACK reference
and the XLA kernel, and its lowering to Triton for CUDA. Running it on a GPU is `bench/gpu.sh`'s job."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import random_params

import jaxengine as je
from jaxengine._models.params import flat, prepare
from jaxengine._observables import fast
from jaxengine._observables import fused as _fused


def _flat(p):
    return flat(prepare(p)[0])


# ~35-40 s each of Pallas interpretation on CPU: slow there; on a GPU (bench/gpu.sh) compiled, and in the fast suite
SLOW_OFF_GPU = pytest.mark.slow if jax.default_backend() != "gpu" else (lambda f: f)


@pytest.fixture(scope="module")
def fused_interpret():
    return jax.jit(lambda p: _fused.fused_observables(p, interpret=True))


def test_fused_matches_the_dense_reference_in_interpret_mode(rng, fused_interpret):
    """Two grid programs and a padded tail; a singular point (no dissipation) is reported, not hidden."""
    n = _fused.FUSED_BLOCK + 37
    p = random_params(rng, n)
    p = p.replace(
        gamma_h=np.where(np.arange(n) == 5, 0.0, p.gamma_h), gamma_c=np.where(np.arange(n) == 5, 0, p.gamma_c)
    )
    o = fused_interpret(_flat(p))
    L = je.liouvillian(je.hamiltonian(p), je.jump_operators(p))
    ref = je.steady_state(L, throw=False)
    good = np.arange(n) != 5
    assert o["rho"].shape == (n, 4, 4) and o["ok"].dtype == bool
    assert np.array_equal(np.asarray(o["ok"]), good) and np.array_equal(np.asarray(ref.ok), good)
    assert np.isinf(o["residual"][5])
    np.testing.assert_allclose(o["rho"][good], ref.rho[good], rtol=0, atol=1e-10)
    Q_h, Q_c = je.heat_currents(p, ref.rho)
    np.testing.assert_allclose(o["Q_h"][good] - o["Q_c"][good], (Q_h - Q_c)[good], rtol=1e-10, atol=1e-16)
    np.testing.assert_allclose(o["negativity"][good], je.negativity(ref.rho)[good], rtol=0, atol=1e-12)
    np.testing.assert_allclose(o["concurrence"][good], je.concurrence(ref.rho)[good], rtol=0, atol=1e-8)
    # and the XLA kernel: the same code, so the same values up to the rounding of differently fused expressions
    x = jax.jit(fast.fast_observables)(_flat(p))
    for k in ("Q_h", "Q_c", "negativity", "residual"):
        np.testing.assert_allclose(o[k][good], x[k][good], rtol=1e-12, atol=1e-18, err_msg=k)


@SLOW_OFF_GPU
def test_fused_derivatives_are_the_xla_kernels(rng):
    """The fused kernel's custom_jvp takes its tangents from the XLA kernel's implicit rules: forward and reverse."""
    p = _flat(random_params(rng, 8))

    def J(kernel, kappa):
        q = p.replace(kappa_h=kappa)
        o = _fused.fused_observables(q, interpret=True) if kernel == "fused" else fast.fast_observables(q)
        return jnp.sum(o["Q_h"] - o["Q_c"])

    k0 = p.kappa_h
    g_fused = jax.jit(jax.grad(lambda k: J("fused", k)))(k0)
    g_xla = jax.jit(jax.grad(lambda k: J("xla", k)))(k0)
    np.testing.assert_allclose(g_fused, g_xla, rtol=1e-12, atol=0)
    t = jnp.ones_like(k0)
    _, jf = jax.jit(lambda k: jax.jvp(lambda k: J("fused", k), (k,), (t,)))(k0)
    np.testing.assert_allclose(jf, jnp.sum(g_xla), rtol=1e-10)


def test_fused_lowers_to_one_triton_kernel_for_cuda():
    """Every operation of the kernel body has a Pallas Triton lowering: exporting for CUDA (no GPU needed) yields one
    Triton custom call. (Triton's own compilation to PTX happens on a GPU only.)"""
    from jax import export

    f = jax.jit(lambda theta: _fused._pallas_rows(theta, False))
    exp = export.export(
        f, platforms=["cuda"], disabled_checks=[export.DisabledSafetyCheck.custom_call("__gpu$xla.gpu.triton")]
    )(jax.ShapeDtypeStruct((9, 4 * _fused.FUSED_BLOCK), jnp.float64))
    text = exp.mlir_module()
    assert text.count("xla.gpu.triton") == 1
    assert "jaxengine_fused_observables" in text


def test_kernel_argument_is_checked():
    p = je.EngineParams()
    axes = {"T_h": [0.5, 0.6]}
    with pytest.raises(ValueError, match="Argument `kernel` must be one of .* kernel='pallas'"):
        je.observables(p, kernel="pallas")
    with pytest.raises(ValueError, match="Argument `kernel` must be one of"):
        je.scan(p, axes=axes, kernel=None, progress=False)
    if jax.default_backend() != "gpu":
        for call in (lambda: je.observables(p, kernel="fused"), lambda: je.scan(p, axes=axes, kernel="fused")):
            with pytest.raises(ValueError, match="kernel='fused' needs a GPU backend .* 'cpu'"):
                call()


@SLOW_OFF_GPU
def test_public_paths_run_the_fused_kernel(rng, monkeypatch):
    """`observables(kernel="fused")` and `scan(kernel="fused")` end to end (on CPU through Pallas's interpreter,
    which the module flag allows): the same values as the XLA kernel, N-D shapes, the scan's chunks and padding."""
    monkeypatch.setattr(_fused, "INTERPRET_OFF_GPU", jax.default_backend() != "gpu")
    p = random_params(rng, 6).replace(bath="fermionic")
    p = p.replace(**{k: np.reshape(getattr(p, k), (2, 3)) for k in je._models.params.NUMERIC_FIELDS})
    o, ref = je.observables(p, kernel="fused"), je.observables(p)
    assert o.rho.shape == (2, 3, 4, 4) and o.J.shape == (2, 3) and bool(o.ok.all())
    for name in ("rho", "J", "negativity", "concurrence", "witness"):
        np.testing.assert_allclose(getattr(o, name), getattr(ref, name), rtol=1e-10, atol=1e-15, err_msg=name)
    axes = {"T_h": np.linspace(0.4, 1.0, 7), "kappa_h": [0.0, 0.05, 0.1]}
    ds = je.scan(je.EngineParams(delta=0.01), axes=axes, chunk_size=8, progress=False, kernel="fused")
    ds_ref = je.scan(je.EngineParams(delta=0.01), axes=axes, chunk_size=8, progress=False)
    for name in ("J", "negativity", "concurrence"):
        np.testing.assert_allclose(ds[name].values, ds_ref[name].values, rtol=1e-10, atol=1e-17, err_msg=name)
    # residuals are roundoff (~1e-17) of two different solvers here (small scans run the compact program)
    np.testing.assert_allclose(ds["residual"].values, ds_ref["residual"].values, rtol=0, atol=1e-15)
    assert bool(ds.ok.all())


@pytest.mark.skipif(jax.default_backend() != "gpu", reason="the compiled Triton kernel needs a GPU")
def test_fused_on_a_gpu_matches_the_xla_kernel(rng):
    p = random_params(rng, 3 * _fused.FUSED_BLOCK + 5)
    o, ref = je.observables(p, throw=False, kernel="fused"), je.observables(p, throw=False)
    assert bool(o.ok.all()) and bool(ref.ok.all())
    np.testing.assert_allclose(o.rho, ref.rho, rtol=0, atol=1e-12)
    for k in ("J", "negativity", "residual"):
        np.testing.assert_allclose(getattr(o, k), getattr(ref, k), rtol=1e-10, atol=1e-17, err_msg=k)
    np.testing.assert_allclose(o.concurrence, ref.concurrence, rtol=0, atol=1e-8)
