"""`jaxengine.scan`: values, labels, errors, streaming to Zarr, resume after SIGKILL, several devices, and the CLI.

Every grid here has chunks of 32 points (`chunk_size=32`, last axis of 8 or fewer values) so that the whole file
compiles the chunk kernel once per process (plus once for `store_rho`); references are independent
`je.observables` calls at single points.
"""

import os
import subprocess
import sys
import textwrap
import threading

import jax
import numpy as np
import pytest

import jaxengine as je
from jaxengine import _scan

VARS = ("J", "Q_h", "Q_c", "negativity", "concurrence", "J_c", "witness", "residual", "ok")
BASE = je.EngineParams(g=2e-3, kappa_h=0.03, kappa_c=0.01)  # kappa != 0: the numerical steady state, not eq 6-18
AXES = {"T_h": np.linspace(0.3, 1.0, 6), "delta": np.linspace(-0.05, 0.05, 8)}
CHUNK = 32
ENV = {**os.environ, "JAXENGINE_ENABLE_X64": "1"}


def point_refs(base, axes):
    """Observables at every grid point, one `je.observables` call per point (an independent path)."""
    names = list(axes)
    shape = tuple(len(v) for v in axes.values())
    refs = {v: np.empty(shape, bool if v == "ok" else float) for v in VARS}
    refs["rho"] = np.empty(shape + (4, 4), complex)
    for idx in np.ndindex(shape):
        p = base.replace(**{n: float(axes[n][i]) for n, i in zip(names, idx, strict=True)})
        o = je.observables(p, throw=False)
        for v in [*VARS, "rho"]:
            refs[v][idx] = np.asarray(getattr(o, v))
    return refs


@pytest.fixture(scope="module")
def refs():
    return point_refs(BASE, AXES)


# A point call runs the kernel on a batch of one (scalar code), the scan on batches of 32 (vector code): XLA rounds
# some operations differently, so the two agree to rounding level, not bit for bit. rho and the negativity to ~1 ulp
# of the unit-trace rho (atol 1e-15, 1e-16); the heat currents are sums of terms ~|H| gamma |x| far larger than
# themselves, so an ulp of x moves them by up to ~1e-13 relative (seen: 2e-14 to 9e-14 between the 1- and 4-device
# programs; 2.5e-13 is their float64 error against a 40-digit solve), rtol 1e-12, and where they are small by one ulp
# of their largest terms (~eps_h gamma ~ 1e-3 here: 1.2e-18 seen at Q_c = -1.1e-6), atol 1e-17 (the witness is
# |J| / J_c with J_c >= 1e-6 on these grids: atol 1e-11); the concurrence takes square roots of small eigenvalues,
# which amplifies rounding (1e-14 seen, atol 1e-12); the residual is itself rounding noise (checked tiny).
ATOL = {"negativity": 1e-16, "concurrence": 1e-12, "rho": 1e-15, "J": 1e-17, "Q_h": 1e-17, "Q_c": 1e-17}
ATOL["witness"] = 1e-11
RTOL = {"J": 1e-12, "Q_h": 1e-12, "Q_c": 1e-12, "witness": 1e-12}


def assert_matches_points(ds, ref, names=VARS):
    for v in names:
        a = ds[v].values
        if v == "ok":
            np.testing.assert_array_equal(a, ref[v])
        elif v == "residual":
            assert (a <= 1e-15).all() and (ref[v] <= 1e-15).all()
        else:
            np.testing.assert_allclose(a, ref[v], rtol=RTOL.get(v, 1e-14), atol=ATOL.get(v, 0.0), err_msg=v)


def assert_same_dataset(a, b):
    """Bit-for-bit equality of the data variables and coordinates of two datasets (NaN == NaN)."""
    assert list(a.data_vars) == list(b.data_vars) and dict(a.sizes) == dict(b.sizes)
    for name in [*a.data_vars, *a.coords]:
        x, y = a[name].values, b[name].values
        assert x.dtype == y.dtype, name
        np.testing.assert_array_equal(x, y, err_msg=name)


def store_files(path):
    """{relative path: bytes} of every file of a Zarr store."""
    files = {}
    for root, _, names in os.walk(path):
        for n in names:
            full = os.path.join(root, n)
            with open(full, "rb") as f:
                files[os.path.relpath(full, path)] = f.read()
    return files


# --------------------------------------------------------------------------------------------------- values, labels


def test_values_equal_observables(refs, tmp_path):
    ds = je.scan(BASE, axes=AXES, chunk_size=CHUNK, progress=False)
    assert ds.sizes == {"T_h": 6, "delta": 8}
    assert_matches_points(ds, refs)
    assert ds.ok.values.all() and (ds.negativity.values > 0).any()
    streamed = je.scan(BASE, axes=AXES, out=tmp_path / "s.zarr", chunk_size=CHUNK, progress=False)
    assert_same_dataset(streamed, ds)
    assert _scan.done_chunks(tmp_path / "s.zarr").tolist() == [1, 1]


def test_threads_change_nothing(tmp_path, monkeypatch):
    """Chunks computed by several threads at once (one per core on a CPU) are written in order, bit for bit as by
    one thread, in memory and in a store."""
    axes = {"T_h": np.linspace(0.3, 1.0, 20), "delta": np.linspace(-0.05, 0.05, 8)}  # 5 chunks of (4, 8)
    monkeypatch.setattr(_scan, "_threads", lambda: 1)
    one = je.scan(BASE, axes=axes, chunk_size=CHUNK, progress=False)
    names = []
    compute = _scan._Runner.fetch
    monkeypatch.setattr(_scan._Runner, "fetch", lambda *a: names.append(threading.current_thread().name) or compute(*a))
    monkeypatch.setattr(_scan, "_threads", lambda: 3)
    assert_same_dataset(je.scan(BASE, axes=axes, chunk_size=CHUNK, progress=False), one)
    assert_same_dataset(je.scan(BASE, axes=axes, out=tmp_path / "t.zarr", chunk_size=CHUNK, progress=False), one)
    assert len(names) == 10 and all(n.startswith("jaxengine") for n in names)


def test_three_axes_edge_chunks():
    # chunks of shape (2, 2, 8): the last chunk along g is clipped, the padding points must be dropped
    axes = {"g": [1e-3, 2e-3, 4e-3], "T_c": np.array([0.08, 0.12]), "delta": np.linspace(-0.02, 0.03, 8)}
    base = je.EngineParams(T_h=0.9, kappa_h=0.02)
    ds = je.scan(base, axes=axes, chunk_size=CHUNK, progress=False)
    assert _scan.chunk_shape((3, 2, 8), CHUNK) == (2, 2, 8)
    ref = point_refs(base, axes)
    assert list(ds.dims) == ["g", "T_c", "delta"]
    assert_matches_points(ds, ref)


def test_dataset_labels():
    ds = je.scan(BASE, axes=AXES, chunk_size=CHUNK, progress=False)
    assert list(ds.dims) == ["T_h", "delta"] and list(ds.data_vars) == list(VARS)
    for name, v in AXES.items():
        np.testing.assert_array_equal(ds[name].values, v)
        assert ds[name].dims == (name,)
    for v in VARS:
        assert ds[v].dims == ("T_h", "delta") and ds[v].attrs["long_name"] and "units" in ds[v].attrs
    assert ds.ok.dtype == bool and ds.J.dtype == np.float64
    a = ds.attrs
    for f in ("eps_h", "g", "gamma_h", "gamma_c", "T_c", "kappa_h", "kappa_c"):
        assert a[f] == float(getattr(BASE, f)), f
    assert "T_h" not in a and "delta" not in a  # scanned fields are coordinates, not attributes
    assert a["bath"] == "bosonic" and a["axes"] == ["T_h", "delta"]
    assert a["jaxengine_version"] == je.__version__ and a["jax_version"] == jax.__version__


@pytest.mark.parametrize(
    ("axes", "match"),
    [
        ({"T_h": [0.5], "temperature": [1.0]}, "temperature"),
        ({"bath": [0.0]}, "bath"),
        ({"T_h": [0.5], "delta": []}, "delta"),
        ({"T_h": [0.5, np.nan]}, "T_h"),
        ({"kappa_h": [0.0, np.inf]}, "kappa_h"),
        ({"delta": np.zeros((2, 3))}, "delta"),
        ({"T_c": 0.1}, "T_c"),
        ({"gamma_h": [1e-3, -1e-3]}, "gamma_h"),
        ({"delta": [0.0, -1.5]}, "eps_c"),
        ({}, "axes"),
    ],
)
def test_bad_axes(axes, match):
    with pytest.raises(ValueError, match=match):
        je.scan(axes=axes, progress=False)


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="chunk_size"):
        je.scan(axes={"T_h": [0.5]}, chunk_size=0)
    with pytest.raises(ValueError, match="`base`"):
        je.scan(je.EngineParams(g=[1e-3, 2e-3]), axes={"T_h": [0.5]})
    with pytest.raises(TypeError, match="axes"):
        je.scan(axes=[("T_h", [0.5])])
    with pytest.raises(ValueError, match="Argument `base`: Field `gamma_c`"):
        je.scan(je.EngineParams(gamma_c=-1e-3), axes={"T_h": [0.5]})


def test_store_rho(refs, tmp_path):
    ds = je.scan(BASE, axes=AXES, chunk_size=CHUNK, progress=False, store_rho=True)
    assert ds.rho.dims == ("T_h", "delta", "rho_row", "rho_col") and ds.rho.dtype == np.complex128
    assert_matches_points(ds, refs, names=[*VARS, "rho"])
    streamed = je.scan(BASE, axes=AXES, out=tmp_path / "r.zarr", chunk_size=CHUNK, progress=False, store_rho=True)
    assert_same_dataset(streamed, ds)


def test_progress_bar_only_on_a_terminal(capsys, monkeypatch):
    je.scan(BASE, axes=AXES, chunk_size=CHUNK, progress=True)  # stderr is captured: not a terminal
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    je.scan(BASE, axes=AXES, chunk_size=CHUNK, progress=False)
    assert capsys.readouterr().err == ""
    je.scan(BASE, axes=AXES, chunk_size=CHUNK, progress=True)
    err = capsys.readouterr().err
    assert "48.0/48.0" in err and "pt/s" in err and "<00:00" in err  # points done, points/s, ETA


# ------------------------------------------------------------------------------------------------ store and resume


def test_spec_mismatch_and_overwrite(tmp_path):
    out = tmp_path / "s.zarr"
    first = je.scan(BASE, axes=AXES, out=out, chunk_size=CHUNK, progress=False)
    J = first.J.values
    again = je.scan(BASE, axes=AXES, out=out, progress=False)  # resumes (nothing left to do) with the store's chunks
    np.testing.assert_array_equal(again.J.values, J)
    other = BASE.replace(kappa_h=0.05)
    with pytest.raises(ValueError, match="kappa_h=0.03.*kappa_h=0.05.*overwrite=True"):
        je.scan(other, axes=AXES, out=out, chunk_size=CHUNK, progress=False)
    with pytest.raises(ValueError, match="axis `delta`"):
        je.scan(BASE, axes={**AXES, "delta": AXES["delta"] + 1e-3}, out=out, chunk_size=CHUNK, progress=False)
    with pytest.raises(ValueError, match="axes"):
        je.scan(BASE, axes={"delta": AXES["delta"], "T_h": AXES["T_h"]}, out=out, chunk_size=CHUNK, progress=False)
    with pytest.raises(ValueError, match="store_rho"):
        je.scan(BASE, axes=AXES, out=out, chunk_size=CHUNK, progress=False, store_rho=True)
    with pytest.raises(ValueError, match="chunked"):
        je.scan(BASE, axes=AXES, out=out, chunk_size=16, progress=False)
    np.testing.assert_array_equal(first.J.values, J)  # the failed calls left the store alone
    replaced = je.scan(other, axes=AXES, out=out, chunk_size=CHUNK, progress=False, overwrite=True)
    assert replaced.attrs["kappa_h"] == 0.05
    np.testing.assert_array_equal(replaced.J.values, je.scan(other, axes=AXES, chunk_size=CHUNK, progress=False).J)
    assert not np.array_equal(replaced.J.values, J)


def test_never_touches_other_data(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    for overwrite in (False, True):
        with pytest.raises(ValueError, match="not a jaxengine scan store"):
            je.scan(BASE, axes=AXES, out=out, chunk_size=CHUNK, progress=False, overwrite=overwrite)
    assert (out / "thesis.tex").read_text() == "precious"


# The child computes the chunks in order and, in the middle of writing chunk KILL_AT (some of its variables are on
# disk, its flag is not), kills itself with SIGKILL: no Python cleanup, no finally blocks, no flush.
KILLED_CHILD = textwrap.dedent(
    """
    import os, sys, numpy as np, jaxengine as je
    from jaxengine import _scan

    out, kill_at = sys.argv[1], int(sys.argv[2])
    written = []
    original = _scan._write_chunk

    def write_then_die(group, plan, k, data):
        if len(written) == kill_at:
            for name in _scan.VARS[:4]:
                group[name][plan.region(k)] = data[name]
            os.kill(os.getpid(), 9)
        original(group, plan, k, data)
        written.append(k)

    _scan._write_chunk = write_then_die
    axes = {"T_h": np.linspace(0.3, 1.0, 20), "delta": np.linspace(-0.05, 0.05, 8)}
    je.scan(je.EngineParams(g=2e-3, kappa_h=0.03, kappa_c=0.01), axes=axes, out=out, chunk_size=32, progress=False)
    """
)


def test_resume_after_sigkill(tmp_path):
    axes = {"T_h": np.linspace(0.3, 1.0, 20), "delta": np.linspace(-0.05, 0.05, 8)}  # 5 chunks of (4, 8)
    killed, clean = tmp_path / "killed.zarr", tmp_path / "clean.zarr"
    proc = subprocess.run(
        [sys.executable, "-c", KILLED_CHILD, str(killed), "3"], env=ENV, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == -9, proc.stderr
    assert _scan.done_chunks(killed).tolist() == [1, 1, 1, 0, 0]
    ref = je.scan(BASE, axes=axes, out=clean, chunk_size=CHUNK, progress=False)

    # readable as it stands: the finished chunks hold their final values
    import xarray as xr

    partial = xr.open_zarr(killed, consolidated=True)
    np.testing.assert_array_equal(partial.J.values[:12], ref.J.values[:12])
    assert np.isnan(partial.witness.values[12:]).all() and not partial.ok.values[12:].any()

    resumed = je.scan(BASE, axes=axes, out=killed, progress=False)
    assert _scan.done_chunks(killed).tolist() == [1] * 5
    assert_same_dataset(resumed, ref)
    assert store_files(killed) == store_files(clean)  # every file, metadata included, bit for bit


MULTI_DEVICE_CHILD = textwrap.dedent(
    """
    import sys, jax, numpy as np, jaxengine as je

    assert len(jax.devices()) == 4, jax.devices()
    axes = {"T_h": np.linspace(0.3, 1.0, 6), "delta": np.linspace(-0.05, 0.05, 8)}
    base = je.EngineParams(g=2e-3, kappa_h=0.03, kappa_c=0.01)
    je.scan(base, axes=axes, out=sys.argv[1], chunk_size=32, progress=False)
    """
)


def test_four_devices_identical(tmp_path):
    env = {**ENV, "XLA_FLAGS": (ENV.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4").strip()}
    out = tmp_path / "four.zarr"
    proc = subprocess.run(
        [sys.executable, "-c", MULTI_DEVICE_CHILD, str(out)], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    import xarray as xr

    four = xr.open_zarr(out, consolidated=True)
    assert _scan.done_chunks(out).tolist() == [1, 1]
    one = je.scan(BASE, axes=AXES, chunk_size=CHUNK, progress=False)
    # XLA compiles the 4-way partitioned program with other fusions than the 1-device one: the two agree to the
    # rounding level of the point-call comparison (J and the witness to ~1e-13 relative), not bit for bit
    assert_matches_points(four, {v: one[v].values for v in VARS})
    assert four.attrs == one.attrs


# ------------------------------------------------------------------------------------------------------------- CLI


def _png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR"
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def test_cli_scan_then_plot(tmp_path, capsys):
    from jaxengine.cli import main

    out = str(tmp_path / "cli.zarr")
    argv = ["scan", "--axis", "T_h=0.3:1.0:6", "--axis", "delta=" + ",".join(map(str, AXES["delta"]))]
    argv += ["--set", "g=2e-3", "--set", "kappa_h=0.03", "--set", "kappa_c=0.01", "--out", out, "--chunk-size", "32"]
    assert main(argv) == 0
    assert "48 points (6 T_h x 8 delta)" in capsys.readouterr().out
    ref = je.scan(BASE, axes=AXES, chunk_size=CHUNK, progress=False)
    import xarray as xr

    assert_same_dataset(xr.open_zarr(out, consolidated=True)[list(VARS)], ref)
    assert main(argv) == 0  # the same command again: resumes, nothing left to do
    assert main([*argv[:-4], "--set", "kappa_h=0.05", "--out", out]) == 2  # another scan into the same store
    assert "overwrite" in capsys.readouterr().err

    png = tmp_path / "n.png"
    assert main(["plot", out, "--var", "negativity", "--out", str(png)]) == 0
    w, h = _png_size(png)
    assert w > 300 and h > 300
    line = tmp_path / "line.png"
    assert main(["plot", out, "--var", "J", "--sel", "delta=0.0", "--out", str(line)]) == 0
    assert _png_size(line)[0] > 300
    assert main(["plot", out, "--var", "nope", "--out", str(line)]) == 2
    assert "--var must be one of" in capsys.readouterr().err


def test_cli_plot_draws_boundary_on_kappa_zero_plane(tmp_path, monkeypatch):
    from matplotlib.axes import Axes

    from jaxengine.cli import main

    calls = []
    monkeypatch.setattr(Axes, "contour", lambda self, *a, **k: calls.append(k.get("levels")))
    for kappa in ("0", "0.03"):
        out = str(tmp_path / f"k{kappa}.zarr")
        argv = ["scan", "--axis", "T_h=0.3:1.0:6", "--axis", "delta=-0.05:0.05:8", "--set", f"kappa_h={kappa}"]
        assert main([*argv, "--out", out, "--chunk-size", "32", "--quiet"]) == 0
        assert main(["plot", out, "--var", "negativity", "--out", str(tmp_path / f"k{kappa}.png")]) == 0
    assert calls == [[1.0]]  # the J = J_c contour on the kappa = 0 map only


def test_cli_ctrl_c_leaves_resumable_store(tmp_path, monkeypatch, capsys):
    from jaxengine.cli import main

    out = str(tmp_path / "int.zarr")
    argv = ["scan", "--axis", "T_h=0.3:1.0:20", "--axis", "delta=-0.05:0.05:8", "--set", "kappa_h=0.03"]
    argv += ["--out", out, "--chunk-size", "32", "--quiet"]
    original = _scan._write_chunk

    def interrupt_at_third(group, plan, k, data):
        if k == 2:
            raise KeyboardInterrupt
        original(group, plan, k, data)

    monkeypatch.setattr(_scan, "_write_chunk", interrupt_at_third)
    assert main(argv) == 130
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "2 of 5 chunks are saved" in err and "resume" in err
    monkeypatch.setattr(_scan, "_write_chunk", original)
    assert main(argv) == 0
    axes = {"T_h": np.linspace(0.3, 1.0, 20), "delta": np.linspace(-0.05, 0.05, 8)}
    ref = je.scan(je.EngineParams(kappa_h=0.03), axes=axes, chunk_size=CHUNK, progress=False)
    import xarray as xr

    assert_same_dataset(xr.open_zarr(out, consolidated=True)[list(VARS)], ref)


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["--axis", "T_h=0.3:1.0"], "START:STOP:NUM"),
        (["--axis", "T_h=0.3:1.0:x"], "START:STOP:NUM"),
        (["--axis", "T_h"], "NAME=START:STOP:NUM"),
        (["--axis", "T_h=0.5", "--axis", "T_h=0.6"], "twice"),
        (["--axis", "T_h=0.5", "--set", "T_h=0.6"], "both scanned"),
        (["--axis", "T_h=0.5", "--set", "kappa=0.1"], "--set"),
        (["--axis", "temp=0.5"], "temp"),
        pytest.param(
            ["--axis", "T_h=0.5", "--kernel", "fused"],
            "needs a GPU backend",
            marks=pytest.mark.skipif(jax.default_backend() == "gpu", reason="fused runs on a GPU"),
        ),
    ],
)
def test_cli_scan_bad_arguments(tmp_path, capsys, argv, match):
    from jaxengine.cli import main

    assert main(["scan", *argv, "--out", str(tmp_path / "x.zarr")]) == 2
    err = capsys.readouterr().err
    assert match in err and len(err.strip().splitlines()) == 1
