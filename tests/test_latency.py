"""Compile once per program: no compilation for a new batch shape or bath, the compact and throughput paths agree
(and both agree with an independent NumPy solve), `fields`, and the executable cache (round trip, corrupt entries,
an unwritable directory, off)."""

import os
import warnings

import jax
import jax.monitoring
import numpy as np
import pytest
from helpers import np_heat, np_model, np_negativity, np_steady, point, random_params

import jaxengine as je
from jaxengine import _compile
from jaxengine._observables import THROUGHPUT_MIN

_BACKEND_COMPILES = []
jax.monitoring.register_event_duration_secs_listener(
    lambda event, duration, **kw: (
        _BACKEND_COMPILES.append(event) if event == "/jax/core/compile/backend_compile_duration" else None
    )
)


def backend_compiles() -> int:
    """XLA compilations in this process so far (every program, ours or JAX's own)."""
    return len(_BACKEND_COMPILES)


def test_new_batch_shapes_and_baths_compile_nothing():
    je.observables(je.EngineParams(T_h=0.7, delta=0.01))  # the first call may compile (or load) the program
    before = backend_compiles()
    for shape in [(3,), (5,), (100,), (1000,), (3, 4), (2, 1, 7)]:
        o = je.observables(je.EngineParams(T_h=np.full(shape, 0.7), delta=0.01))
        assert o.J.shape == shape and o.rho.shape == shape + (4, 4)
    je.observables(je.EngineParams(T_h=np.linspace(0.3, 1, 9), bath="fermionic"))
    je.steady_state(je.EngineParams(T_h=np.linspace(0.3, 1, 11)))  # its own program: may compile once
    after_first = backend_compiles()
    je.steady_state(je.EngineParams(T_h=np.linspace(0.3, 1, 17), bath="fermionic"))
    assert backend_compiles() == after_first
    # observables: nothing at all for new shapes or the other bath
    assert after_first - before <= 1, _BACKEND_COMPILES[before:]


def test_a_new_program_is_counted():
    """The counter above is not blind: a genuinely new program (the user's own jit) is seen."""
    before = backend_compiles()
    jax.jit(lambda x: x * 3 + 1)(np.arange(5.0))
    assert backend_compiles() > before


EDGE = [
    je.EngineParams(T_h=0.7),  # the paper's point
    je.EngineParams(T_h=0.7, g=0.0),  # no exchange: product state, J = 0
    je.EngineParams(T_h=0.7, T_c=0.0),  # a bath at zero temperature
    je.EngineParams(T_h=0.3, delta=-0.05, kappa_h=0.2, kappa_c=-0.1),
    je.EngineParams(T_h=1.5, gamma_h=1e-5, gamma_c=30.0, g=0.5, kappa_h=0.3),  # far outside the paper's range
    je.EngineParams(T_h=2.0, gamma_h=3.0, gamma_c=1e-4, g=1e-5, delta=0.2),
]


def _batch(points):
    fields = je._models.params.NUMERIC_FIELDS
    return je.EngineParams(**{f: np.array([float(getattr(q, f)) for q in points]) for f in fields})


@pytest.fixture(scope="module")
def both_paths():
    """The same points through the compact program (a small batch) and the throughput kernel (the same points tiled
    to THROUGHPUT_MIN: the standard fixed-chunk executable), bosonic and fermionic."""
    rng = np.random.default_rng(7)
    out = {}
    for bath in ("bosonic", "fermionic"):
        rand = random_params(rng, 40, bath=bath)
        points = [point(rand, i) for i in range(40)] + [q.replace(bath=bath) for q in EDGE]
        small = _batch(points).replace(bath=bath)
        reps = -(-THROUGHPUT_MIN // len(points))
        big = small.replace(**{f: np.tile(getattr(small, f), reps) for f in je._models.params.NUMERIC_FIELDS})
        out[bath] = points, je.observables(small, throw=False), je.observables(big, throw=False)
    return out


@pytest.mark.xdist_group("both_paths")  # one worker computes the module fixture (a kernel compilation) once
@pytest.mark.parametrize("bath", ["bosonic", "fermionic"])
def test_compact_and_throughput_paths_agree(both_paths, bath):
    points, c, t = both_paths[bath]
    n = len(points)
    assert bool(np.all(c.ok)) and bool(np.all(t.ok[:n]))
    np.testing.assert_allclose(c.rho, t.rho[:n], rtol=0, atol=1e-13)
    # currents are O(rate x eps) per point and can be far smaller (1e-11 at g = 1e-5): compare on that scale
    rates = np.array([abs(float(q.gamma_h)) + abs(float(q.gamma_c)) for q in points])
    for name in ("Q_h", "Q_c", "J"):
        err = np.abs(np.asarray(getattr(c, name)) - np.asarray(getattr(t, name)[:n]))
        assert np.all(err <= 1e-13 * rates), (name, err.max())
    np.testing.assert_allclose(c.negativity, t.negativity[:n], rtol=0, atol=1e-13)
    # C takes square roots of the eigenvalues of rho rho~: where one of them is tiny both methods are only accurate
    # to ~sqrt(eps) of it (`_kernel._concurrence`); elsewhere they agree to roundoff
    np.testing.assert_allclose(c.concurrence, t.concurrence[:n], rtol=0, atol=1e-9)
    np.testing.assert_allclose(c.J_c, t.J_c[:n], rtol=1e-15)


@pytest.mark.xdist_group("both_paths")
@pytest.mark.parametrize("bath", ["bosonic", "fermionic"])
def test_compact_path_against_numpy(both_paths, bath):
    """The compact program against an independent NumPy solve (SVD null space, row stacking) at every point."""
    points, c, _ = both_paths[bath]
    for i, q in enumerate(points):
        H, c_ops = np_model(q)
        rho = np_steady(H, c_ops)
        scale = max(abs(np.asarray(q.gamma_h)), abs(np.asarray(q.gamma_c)), 1e-3)
        np.testing.assert_allclose(c.rho[i], rho, rtol=0, atol=1e-10)
        qh, qc = np_heat(H, c_ops, rho)
        np.testing.assert_allclose([c.Q_h[i], c.Q_c[i]], [qh, qc], rtol=0, atol=1e-10 * scale)
        np.testing.assert_allclose(c.negativity[i], np_negativity(rho), rtol=0, atol=1e-10)


def test_traced_calls_take_the_path_of_their_size():
    f = jax.jit(lambda T: je.observables(je.EngineParams(T_h=T, delta=0.01, kappa_h=0.05)).negativity)
    T = np.linspace(0.3, 1.2, 7)
    np.testing.assert_allclose(
        f(T), je.observables(je.EngineParams(T_h=T, delta=0.01, kappa_h=0.05)).negativity, rtol=0, atol=1e-15
    )
    # the compact program: ~1e3 equations (rolled loops); the unrolled kernel traces to ~2e4
    assert len(str(jax.make_jaxpr(f)(T)).splitlines()) < 3000


def test_fields_compute_only_what_is_asked():
    p = je.EngineParams(T_h=np.linspace(0.3, 1.0, 6), delta=0.01, kappa_h=0.04)
    full = je.observables(p)
    part = je.observables(p, fields=("J", "negativity"))
    assert part.rho is None and part.concurrence is None and part.Q_h is None and part.witness is None
    np.testing.assert_array_equal(part.J, full.J)
    np.testing.assert_array_equal(part.negativity, full.negativity)
    assert part.ok.shape == (6,) and part.residual.shape == (6,)
    assert je.observables(p, fields="witness").witness.shape == (6,)
    with pytest.raises(ValueError, match=r"Argument `fields`.*'Jc'"):
        je.observables(p, fields=("J", "Jc"))


def test_scan_fields():
    axes = {"T_h": np.linspace(0.3, 1.0, 4), "delta": [0.0, 0.02]}
    part = je.scan(axes=axes, fields=("J", "negativity"), progress=False)
    assert set(part.data_vars) == {"J", "negativity", "residual", "ok"}
    ref = je.observables(je.grid(T_h=axes["T_h"], delta=np.array(axes["delta"])))
    np.testing.assert_allclose(part.J.values, ref.J, rtol=1e-12, atol=1e-18)
    np.testing.assert_allclose(part.negativity.values, ref.negativity, rtol=0, atol=1e-15)
    with pytest.raises(ValueError, match="Argument `fields`"):
        je.scan(axes=axes, fields=("J", "entropy"), progress=False)


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    d = tmp_path / "cache"
    monkeypatch.setenv("JAXENGINE_CACHE_DIR", str(d))
    return d


def _tiny():
    @_compile.bucketed(name="test_tiny", buckets=(8,))
    def tiny(batch):
        return {"y": batch["x"] * 2.0 + 1.0}

    return tiny


def _run(tiny):
    _compile.clear_memory()
    return np.asarray(tiny({"x": np.arange(5.0)})["y"])


def test_executable_cache_round_trip(cache_dir):
    tiny = _tiny()
    compiles, loads = _compile.COMPILES["test_tiny"], _compile.LOADS["test_tiny"]
    np.testing.assert_array_equal(_run(tiny), np.arange(5.0) * 2 + 1)
    files = list(cache_dir.glob("test_tiny-*.jxc"))
    assert len(files) == 1 and _compile.COMPILES["test_tiny"] == compiles + 1
    np.testing.assert_array_equal(_run(tiny), np.arange(5.0) * 2 + 1)  # from disk this time
    assert _compile.COMPILES["test_tiny"] == compiles + 1 and _compile.LOADS["test_tiny"] == loads + 1


@pytest.mark.parametrize("damage", ["flip", "truncate", "garbage"])
def test_corrupt_cache_entry_is_recompiled_not_trusted(cache_dir, damage):
    tiny = _tiny()
    _run(tiny)
    (path,) = cache_dir.glob("test_tiny-*.jxc")
    blob = bytearray(path.read_bytes())
    if damage == "flip":
        blob[len(blob) // 2] ^= 0xFF
    elif damage == "truncate":
        blob = blob[: len(blob) // 3]
    else:
        blob = bytearray(os.urandom(len(blob)))
    path.write_bytes(bytes(blob))
    compiles, loads = _compile.COMPILES["test_tiny"], _compile.LOADS["test_tiny"]
    np.testing.assert_array_equal(_run(tiny), np.arange(5.0) * 2 + 1)
    assert _compile.COMPILES["test_tiny"] == compiles + 1 and _compile.LOADS["test_tiny"] == loads
    _run(tiny)  # the entry was replaced by a good one
    assert _compile.LOADS["test_tiny"] == loads + 1


def test_unwritable_cache_dir_warns_once_and_runs(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("JAXENGINE_CACHE_DIR", str(blocker / "cache"))
    monkeypatch.setitem(_compile._DISK_STATE, "warned", False)
    tiny = _tiny()
    with pytest.warns(RuntimeWarning, match="cannot be written"):
        np.testing.assert_array_equal(_run(tiny), np.arange(5.0) * 2 + 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(_run(tiny), np.arange(5.0) * 2 + 1)  # no second warning


def test_cache_off(tmp_path, monkeypatch):
    monkeypatch.setenv("JAXENGINE_CACHE_DIR", "off")
    assert _compile.cache_dir() is None
    np.testing.assert_array_equal(_run(_tiny()), np.arange(5.0) * 2 + 1)


def test_warmup_clear(cache_dir, capsys):
    from jaxengine.cli import main

    cache_dir.mkdir()
    (cache_dir / "observables_compact-0123.jxc").write_bytes(b"x")
    (cache_dir / "keep.txt").write_text("not ours")
    assert main(["warmup", "--clear"]) == 0
    assert '"removed": 1' in capsys.readouterr().out
    assert not list(cache_dir.glob("*.jxc")) and (cache_dir / "keep.txt").exists()
