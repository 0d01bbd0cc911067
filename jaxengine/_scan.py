r"""Grid scans at scale: any N-D parameter grid, in chunks of bounded size, streamed to a resumable Zarr store.

`scan(base, axes=...)` evaluates `observables` on the outer product of 1-D axes and returns a labelled
`xarray.Dataset`. How it works, and why:

- **Chunks are N-D blocks of the grid.** The chunk shape is `(1, ..., 1, c_k, n_{k+1}, ..., n_{d-1})` with at most
  `chunk_size` points, so that every scan chunk is exactly ONE Zarr chunk of every variable: a chunk is written by
  one process in one go, never read-modified-written by two (which is what makes multi-host writes safe).
- **One compile per scan.** Every chunk runs the same executable: the kernel batch has a fixed size (the chunk's
  point count, rounded up to a multiple of the device count); edge chunks are padded with in-range points and the
  padding is dropped before writing. The executable is also independent of the axis NAMES and LENGTHS (the axes
  travel as one padded (9, L) value table plus integer strides), so scans of other grids with the same chunk point
  count reuse it.
- **Parameters are generated on the device** from the chunk's origin: `iota -> unravel over the chunk shape ->
  gather from the axis table`. The full grid is never materialised, on the host or on a device.
- **Devices.** The batch of a chunk is split over all local devices with `jax.shard_map` on a 1-D mesh; each device
  generates and solves its own slice. Results agree across device counts to rounding (tested with 4 CPU devices;
  most values bit for bit, rho and N within ~1 ulp, J and Q within ~1e-13 relative, the rounding level of their
  cancelling sums), because XLA fuses a partitioned program differently than a one-device one. A store resumed on
  the same number of devices is bit-identical to an uninterrupted run.
- **Threads.** Chunks are computed in worker threads and written in order by the calling thread, so the next chunks
  run while one is written. On a single CPU device `cpu_workers()` chunks run at once, one per core (XLA:CPU runs
  the kernel's small fused loops one after another, so one execution keeps only one core busy): ~1.6x on 2 cores.
- **Streaming and resume.** With `out`, each chunk is written to the Zarr store as soon as it is computed, and only
  after ALL its variables are written is its flag in `_scan/done` set (Zarr's local store writes each file
  atomically, via a temporary file and a rename). A rerun skips flagged chunks and recomputes the others with the
  same executable at the same batch positions, so the store ends up identical bit for bit to that of an
  uninterrupted run, even after SIGKILL. The store's root attributes record the scan's specification; a rerun with
  different parameters raises instead of mixing results.
- **Multi-host.** After `jax.distributed.initialize()` (with `jax_enable_recoverability`), every process calls the
  same `scan(out=...)` on a shared filesystem. The processes agree on the whole specification (or all refuse, before
  the store is touched), process 0 creates the store and reads its done flags, the unfinished chunks are dealt round
  robin, each process writes its own chunks, and all return when every process has finished; a process that stops
  before that is reported by name (`ScanProcessLost`) after `lost_after()` seconds without a heartbeat. They talk
  through JAX's coordination service, never through a device collective: see `_Processes`.
- **Models.** Everything above works on a `_Plan`; its hooks (`var_names`, `var_dims`, `runner`, `attrs`, ...) are
  what a model defines. `EngineParams` grids run the device-generated chunk kernel below; a qubit `Network` base
  (axes are field paths such as `"T[0]"`) is planned by `_network_apps.network_plan`, whose runner builds each
  chunk's points in NumPy and solves them with the network programs (which spread a chunk over the cores
  themselves), with the same store layout, resume and multi-process protocol.
"""

import contextlib
import dataclasses
import functools
import hashlib
import json
import os
import shutil
import sys
import threading
import time
import warnings
from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from . import _compile
from ._models.params import DEFAULTS, NUMERIC_FIELDS, EngineParams, prepare
from ._observables import _observables_impl, check_fields, check_kernel
from ._solve import chunks

VARS = ("J", "Q_h", "Q_c", "negativity", "concurrence", "J_c", "witness", "residual", "ok")
RHO_DIMS = ("rho_row", "rho_col")
FORMAT = 1  # version of the store layout below; bump when it changes

_ENERGY = "eps_h (hbar = k_B = 1)"
_CURRENT = "eps_h^2 / hbar"
VAR_ATTRS = {
    "J": dict(long_name="heat current J = Q_h - Q_c", units=_CURRENT),
    "Q_h": dict(long_name="heat flow from the hot bath Q_h", units=_CURRENT),
    "Q_c": dict(long_name="heat flow from the cold bath Q_c", units=_CURRENT),
    "negativity": dict(long_name="negativity N", units="1"),
    "concurrence": dict(long_name="concurrence C", units="1"),
    "J_c": dict(long_name="critical current J_c (eq 18)", units=_CURRENT),
    "witness": dict(long_name="witness |J| / J_c", units="1"),
    "residual": dict(long_name="steady-state residual ||L vec(rho)||", units=_ENERGY),
    "ok": dict(long_name="steady state trustworthy", units="1"),
    "rho": dict(long_name="steady state rho", units="1", basis="|11>, |10>, |01>, |00> = |h c>, |1> excited"),
}


# ----------------------------------------------------------------------------------------------------------- plan


@dataclasses.dataclass(frozen=True)
class _Plan:
    names: tuple[str, ...]  # axis names, in order
    values: tuple[np.ndarray, ...]  # axis values, cast to `dtype`
    base: EngineParams  # the non-axis fields (scalars)
    dtype: np.dtype
    chunk: tuple[int, ...]  # chunk shape (one Zarr chunk)
    store_rho: bool
    fields: tuple[str, ...] = VARS  # the observables computed and stored (residual and ok always)

    @property
    def shape(self):
        return tuple(len(v) for v in self.values)

    @property
    def size(self):
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def chunk_grid(self):
        return tuple(-(-n // c) for n, c in zip(self.shape, self.chunk, strict=True))

    @property
    def n_chunks(self):
        return int(np.prod(self.chunk_grid, dtype=np.int64))

    def region(self, k: int) -> tuple[slice, ...]:
        """The grid region of chunk k (C order over the chunk grid), clipped to the grid."""
        block = np.unravel_index(k, self.chunk_grid)
        return tuple(
            slice(b * c, min((b + 1) * c, n)) for b, c, n in zip(block, self.chunk, self.shape, strict=True)
        )

    def base_values(self) -> dict:
        return {k: float(getattr(self.base, k)) for k in NUMERIC_FIELDS if k not in self.names}

    def spec(self) -> dict:
        """What must agree between a store and a call that resumes it (chunking is adopted, not compared)."""
        return dict(
            format=FORMAT,
            axes=[[n, len(v), hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest()[:16]]
                  for n, v in zip(self.names, self.values, strict=True)],
            base=self.base_values(),
            bath=self.base.bath,
            dtype=str(self.dtype),
            store_rho=self.store_rho,
            fields=list(self.fields),
        )

    # The hooks below are what a model other than EngineParams overrides (a qubit `Network`: `_network_apps`);
    # the chunking, the store, resuming, threads and several processes are the same for every model.

    def var_names(self) -> tuple[str, ...]:
        return tuple(self.fields) + (("rho",) if self.store_rho else ())

    def var_dims(self, name) -> tuple[tuple[str, ...], tuple[int, ...]]:
        """(names, sizes) of the dimensions of variable `name` after the grid's."""
        return (RHO_DIMS, (4, 4)) if name == "rho" else ((), ())

    def var_dtype(self, name):
        if name == "ok":
            return np.dtype(bool)
        if name == "rho":
            return np.dtype(np.complex128 if self.dtype == np.float64 else np.complex64)
        return self.dtype

    def var_attrs(self, name) -> dict:
        return VAR_ATTRS[name]

    def extra_coords(self) -> dict:
        """Coordinates of the non-grid dimensions: {name: values}."""
        return {}

    def attrs(self) -> dict:
        return dict(
            **self.base_values(),
            bath=self.base.bath,
            axes=list(self.names),
            units="energies, temperatures and rates in units of eps_h (hbar = k_B = 1); currents in eps_h^2 / hbar",
            jaxengine_version=_version(),
            jax_version=jax.__version__,
            jaxengine_scan=self.spec(),
        )

    def runner(self, kernel: str):
        """An object whose `compute(k)` returns chunk k's host arrays, shaped like its region."""
        return _Runner(self, jax.local_devices(), kernel)

    def threads(self) -> int:
        """Chunks computed at once in worker threads; 0: in the calling thread (the model threads itself)."""
        return _threads()


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("jaxengine")
    except PackageNotFoundError:
        return "0+unknown"


def _available_memory() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 4 << 30


def _threads() -> int:
    """Chunks computed at once: one per core on a single CPU device (see the module docstring), else one."""
    devices = jax.local_devices()
    return _compile.cpu_workers() if len(devices) == 1 and devices[0].platform == "cpu" else 1


def default_chunk_size(store_rho: bool = False) -> int:
    """Points per chunk: a power of two using at most 1/16 of the available memory, between 2**14 and 2**20.

    ~0.5 KiB per point per chunk held in memory covers the generated parameters, the outputs on the device and on
    the host and Zarr's encode buffers; rho adds 0.25 KiB. `_threads()` chunks are computed while one more is
    written. 2**20 points keep a chunk around 2 s on a 2-core CPU, so per-chunk costs (dispatch, ~10 small files)
    stay small.
    """
    per_point = (512 + (256 if store_rho else 0)) * (_threads() + 1)
    n = max(_available_memory() // 16 // per_point, 1)
    return int(min(max(1 << (int(n).bit_length() - 1), 1 << 14), 1 << 20))


def chunk_shape(shape: tuple[int, ...], chunk_size: int) -> tuple[int, ...]:
    """Largest block `(1, ..., 1, c_k, n_{k+1}, ..., n_{d-1})` of at most `chunk_size` points (C-order contiguous)."""
    chunk = [1] * len(shape)
    left = chunk_size
    for a in range(len(shape) - 1, -1, -1):
        chunk[a] = max(1, min(shape[a], left))
        if chunk[a] < shape[a]:
            break
        left //= shape[a]
    return tuple(chunk)


def _check_axes(base: EngineParams, axes) -> tuple[tuple[str, ...], tuple[np.ndarray, ...], np.dtype]:
    if not isinstance(base, EngineParams):
        raise TypeError(f"Argument `base` must be an EngineParams, but is of type {type(base).__name__}.")
    if not isinstance(axes, Mapping):
        raise TypeError(
            f"Argument `axes` must be a mapping from field name to 1-D array, but is {type(axes).__name__}."
        )
    if len(axes) == 0:
        raise ValueError(f"Argument `axes` must name at least one of the fields {NUMERIC_FIELDS}, but is empty.")
    unknown = [k for k in axes if k not in NUMERIC_FIELDS]
    if unknown:
        raise ValueError(
            f"Unknown axis {unknown[0]!r} in `axes`: the axes must be EngineParams fields {NUMERIC_FIELDS}."
        )
    dtype = jnp.dtype(jnp.result_type(float))  # float64 unless x64 is off
    names, values = [], []
    for name, v in axes.items():
        try:
            a = np.asarray(v)
        except Exception as e:
            raise ValueError(f"Axis `{name}` must be a 1-D array of numbers, but is {v!r}.") from e
        if a.ndim != 1:
            raise ValueError(f"Axis `{name}` must be 1-D, but has shape {a.shape}.")
        if a.size == 0:
            raise ValueError(f"Axis `{name}` is empty: give it at least one value.")
        if a.dtype.kind not in "biuf":
            raise ValueError(f"Axis `{name}` must hold real numbers, but has dtype {a.dtype}.")
        bad = ~np.isfinite(a.astype(np.float64))
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(f"Axis `{name}` must be finite, but {name}[{i}] = {a[i]!r}.")
        names.append(name)
        values.append(a.astype(dtype))
    for name in NUMERIC_FIELDS:
        if name in axes:
            continue
        v = getattr(base, name)
        if isinstance(v, jax.core.Tracer) or np.ndim(v) != 0:
            raise ValueError(
                f"Field `{name}` of `base` must be a scalar (scan its values with an axis instead), but has shape "
                f"{np.shape(v)}."
            )
    # Physical checks (signs, eps_c > 0) of `prepare`, eagerly: each axis alone, the other axes at their maximum
    # (messages name the axis and index; a failure there is a failure at a grid point), then the corners of the grid
    # (the checks are monotone in each field, so the corners cover eps_h + delta > 0 everywhere).
    at_max = base.replace(**{n: a.max() for n, a in zip(names, values, strict=True)})
    for name, a in zip(names, values, strict=True):
        try:
            prepare(at_max.replace(**{name: a}))
        except (ValueError, TypeError) as e:
            field = str(e).split("`")[1] if str(e).startswith("Field `") else name
            where = f"Axis `{name}`" if field in names else "Argument `base`"  # a bad fixed field is not the axis's
            raise ValueError(f"{where}: {e}") from None
    corners = {n: np.array([a.min(), a.max()]).reshape((2,) + (1,) * (len(names) - 1 - i))
               for i, (n, a) in enumerate(zip(names, values, strict=True))}
    prepare(at_max.replace(**corners))
    return tuple(names), tuple(values), dtype


# --------------------------------------------------------------------------------------------------------- kernel


def _bucket(n: int) -> int:
    """Axis-table length: a power of two >= 256, so that grids of similar size share one executable."""
    return max(256, 1 << (n - 1).bit_length())


@functools.lru_cache(maxsize=16)
def _chunk_kernel(batch: int, bath: str, store_rho: bool, devices: tuple, kernel: str = "xla", fields=VARS):
    """The jitted chunk function for `batch` points split over `devices` (one compile per key)."""
    mesh = jax.sharding.Mesh(np.array(devices), ("d",))
    spec = jax.sharding.PartitionSpec
    n_local = batch // len(devices)

    def local(table, size, cshape, cstride, origin):
        # position of each of this device's points inside the chunk (C order over the chunk shape)
        k = jax.lax.axis_index("d").astype(size.dtype) * n_local + jnp.arange(n_local, dtype=size.dtype)
        idx = origin[:, None] + (k[None, :] // cstride[:, None]) % cshape[:, None]
        idx = jnp.minimum(idx, size[:, None] - 1)  # padding points of edge chunks: any in-range point
        vals = jnp.take_along_axis(table, idx, axis=1)  # (9, n_local)
        p = EngineParams(**{f: vals[i] for i, f in enumerate(NUMERIC_FIELDS)}, bath=bath)
        o = _observables_impl(p, kernel=kernel, fields=check_fields(fields + (("rho",) if store_rho else ())))
        out = {v: getattr(o, v) for v in fields}
        if store_rho:
            out["rho"] = o.rho
        return out

    # Pallas kernels (kernel="fused") do not track which values vary over the mesh axis: as JAX advises, the check
    # is off for them (each device computes its own points either way)
    f = jax.shard_map(local, mesh=mesh, in_specs=(spec(),) * 5, out_specs=spec("d"), check_vma=kernel != "fused")
    return chunks.jit(f)


class _Runner:
    """Compute chunks of a plan on the local devices; `submit(k)` dispatches asynchronously."""

    def __init__(self, plan: _Plan, devices, kernel: str = "xla"):
        self.plan = plan
        nd = len(devices)
        count = int(np.prod(plan.chunk))
        self.count = count
        # a power of two (>= 128 per device): grids of any size share a few compiled chunk programs
        self.batch = max(128 * nd, 1 << (count - 1).bit_length())
        self.fn = _chunk_kernel(self.batch, plan.base.bath, plan.store_rho, tuple(devices), kernel, plan.fields)
        itype = jax.dtypes.canonicalize_dtype(np.int64)
        L = _bucket(max(plan.shape))
        table = np.zeros((len(NUMERIC_FIELDS), L), plan.dtype)
        size = np.ones(len(NUMERIC_FIELDS), itype)
        cshape = np.ones(len(NUMERIC_FIELDS), itype)
        cstride = np.ones(len(NUMERIC_FIELDS), itype)
        self.axis_row = {}
        strides = np.cumprod((plan.chunk[1:] + (1,))[::-1])[::-1]
        for i, f in enumerate(NUMERIC_FIELDS):
            if f in plan.names:
                a = plan.names.index(f)
                v = plan.values[a]
                table[i, : len(v)] = v
                size[i], cshape[i], cstride[i] = len(v), plan.chunk[a], strides[a]
                self.axis_row[a] = i
            else:
                table[i, 0] = getattr(plan.base, f)
        self.itype = itype
        self.args = [jnp.asarray(x) for x in (table, size, cshape, cstride)]

    def submit(self, k: int):
        region = self.plan.region(k)
        origin = np.zeros(len(NUMERIC_FIELDS), self.itype)
        for a, i in self.axis_row.items():
            origin[i] = region[a].start
        return self.fn(*self.args, jnp.asarray(origin))

    def compute(self, k: int) -> dict:
        return self.fetch(k, jax.block_until_ready(self.submit(k)))

    def fetch(self, k: int, result) -> dict:
        """Host arrays of chunk k, shaped like its (clipped) region."""
        region = self.plan.region(k)
        sub = tuple(slice(0, s.stop - s.start) for s in region)
        out = {}
        for name, v in result.items():
            a = np.asarray(v)[: self.count]
            out[name] = a.reshape(self.plan.chunk + a.shape[1:])[sub]
        return out


# ---------------------------------------------------------------------------------------------------------- store


def _fill(name):
    return False if name == "ok" else (complex(np.nan, np.nan) if name == "rho" else np.nan)


def _create_store(path: str, plan: _Plan):
    import zarr

    g = zarr.open_group(path, mode="w")
    for name, v in zip(plan.names, plan.values, strict=True):
        c = g.create_array(name, shape=v.shape, dtype=v.dtype, chunks=v.shape, dimension_names=[name])
        c.attrs.update(long_name=name, units=_ENERGY)
        c[...] = v
    for name, v in plan.extra_coords().items():
        c = g.create_array(name, shape=v.shape, dtype=v.dtype, chunks=v.shape, dimension_names=[name])
        c[...] = v
    for name in plan.var_names():
        dims, extra = plan.var_dims(name)
        a = g.create_array(
            name,
            shape=plan.shape + extra,
            dtype=plan.var_dtype(name),
            chunks=plan.chunk + extra,
            fill_value=_fill(name),
            dimension_names=list(plan.names) + list(dims),
        )
        a.attrs.update(plan.var_attrs(name))
    # one flag per chunk, each its own (atomically written) file; a subgroup, so xarray does not show it
    g.create_group("_scan").create_array(
        "done", shape=plan.chunk_grid, dtype="u1", chunks=(1,) * len(plan.chunk_grid), fill_value=0, compressors=None
    )
    g.attrs.update(plan.attrs())  # the spec goes in last: a store without it is an unfinished creation
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "consolidated metadata is not part of the Zarr 3 spec": xarray reads it
        zarr.consolidate_metadata(path)


def _stored_spec(path: str):
    """(spec, chunk shape) of an existing jaxengine scan store, or None if `path` holds none."""
    import zarr

    if not os.path.exists(path):
        return None
    try:
        g = zarr.open_group(path, mode="r")
        spec = dict(g.attrs).get("jaxengine_scan")
    except Exception:
        spec = None
    if spec is None:
        if os.path.isdir(path) and not os.listdir(path):
            return None  # an empty directory: use it
        if os.path.isdir(os.path.join(path, "_scan")) and os.path.isfile(os.path.join(path, "zarr.json")):
            shutil.rmtree(path)  # a creation that was killed before it wrote the spec (the last step): no results
            return None
        raise ValueError(
            f"`out`={path!r} exists but is not a jaxengine scan store; jaxengine will not touch it (not even with "
            "overwrite=True): choose another path."
        )
    return spec, tuple(g["residual"].chunks)[: len(spec["axes"])]  # every model stores `residual`


def _spec_difference(stored: dict, want: dict) -> str | None:
    if stored.get("format") != want["format"]:
        return f"store format {stored.get('format')} (this jaxengine writes format {want['format']})"
    s_axes, w_axes = [tuple(a) for a in stored["axes"]], [tuple(a) for a in want["axes"]]
    if [a[0] for a in s_axes] != [a[0] for a in w_axes]:
        return f"axes {[a[0] for a in s_axes]} (this call: {[a[0] for a in w_axes]})"
    for s, w in zip(s_axes, w_axes, strict=True):
        if s != w:
            return f"values of axis `{s[0]}` ({s[1]} stored values, this call has {w[1]}, hashes differ)"
    for k, v in want["base"].items():
        if stored["base"].get(k) != v:
            return f"base parameter {k}={stored['base'].get(k)!r} (this call: {k}={v!r})"
    for k in ("bath", "dtype", "store_rho", "fields"):
        if k == "fields" and "fields" not in stored:  # stores written before `fields` existed hold every variable
            stored = dict(stored, fields=list(VARS))
        if stored.get(k) != want[k]:
            return f"{k}={stored.get(k)!r} (this call: {k}={want[k]!r})"
    return None


def _remove(path: str):
    """Delete the scan store at `path`; anything else is left alone (overwrite=True must not delete user data)."""
    if _stored_spec(path) is None:
        if os.path.isdir(path):
            os.rmdir(path)  # empty
        return
    shutil.rmtree(path)


def done_chunks(path: str) -> np.ndarray:
    """Flags (1 = finished) of the chunks of the scan store at `path`, flat in C order."""
    import zarr

    return np.asarray(zarr.open_group(path, mode="r")["_scan/done"][...]).reshape(-1)


def _write_chunk(group, plan: _Plan, k: int, data: dict):
    region = plan.region(k)
    for name in plan.var_names():
        group[name][region] = data[name]
    # only now is chunk k complete on disk: set its flag (a separate, atomically written file)
    group["_scan/done"][np.unravel_index(k, plan.chunk_grid)] = 1


# ------------------------------------------------------------------------------------------------------ processes


def lost_after() -> float:
    """Seconds without a heartbeat after which a process of a multi-process scan counts as lost.

    `JAXENGINE_SCAN_LOST_AFTER` (default 60). Each process beats every `lost_after() / 10` s (at most 1 s) from a
    thread of its own, which runs while the process compiles and computes, so only a dead or frozen process misses
    it. Keep it below `heartbeat_timeout_seconds` of `jax.distributed.initialize` (100 s): see `_Processes`.
    """
    value = os.environ.get("JAXENGINE_SCAN_LOST_AFTER", "60")
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise ValueError(f"JAXENGINE_SCAN_LOST_AFTER must be a positive number of seconds, but is {value!r}.")
    return seconds


START_TIMEOUT = 600.0  # seconds a process waits for another one that has not yet called `scan` at all


def _canonical(key: str, v, flat: dict):
    """Flatten `v` into `flat` as {dotted name: text}; equal texts mean equal values (arrays: bytes hashed)."""
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        for f in dataclasses.fields(v):
            _canonical(f"{key}.{f.name}", getattr(v, f.name), flat)
    elif isinstance(v, Mapping):
        for k, x in v.items():
            _canonical(f"{key}[{k!r}]", x, flat)
    elif isinstance(v, (tuple, list)):
        flat[f"{key} (length)"] = str(len(v))
        for i, x in enumerate(v):
            _canonical(f"{key}[{i}]", x, flat)
    elif isinstance(v, (np.ndarray, jax.Array)) and np.ndim(v) > 0:
        a = np.ascontiguousarray(v)
        digest = hashlib.sha256(a.tobytes()).hexdigest()[:16]
        flat[key] = f"{a.dtype}{list(a.shape)} from {a.flat[0].item()!r} to {a.flat[-1].item()!r} (sha256 {digest})"
    elif isinstance(v, (np.ndarray, np.generic, jax.Array)):
        flat[key] = f"{np.asarray(v).item()!r}"
    else:
        flat[key] = str(v) if isinstance(v, np.dtype) else repr(v)


def agreement_spec(plan: _Plan, **options) -> dict:
    """Everything the processes of a multi-process scan must agree on, as {name: text}.

    Every field of the plan (so a field added to `_Plan` is compared without a change here) except the chunk shape,
    which a process derives from its own free memory when `chunk_size` is None (all of them then adopt the chunking
    of the store process 0 creates); instead the requested options (`chunk_size`, `kernel`, ...) are compared.
    """
    flat = {}
    for f in dataclasses.fields(plan):
        if f.name != "chunk":
            _canonical(f.name, getattr(plan, f.name), flat)
    for k, v in options.items():
        _canonical(k, v, flat)
    return flat


class ScanProcessLost(RuntimeError):
    """A process of a multi-process scan stopped before finishing its chunks (the store stays resumable)."""


class _Processes:
    """The processes of one multi-process `scan` call (after `jax.distributed.initialize`).

    They coordinate through the key-value store of JAX's coordination service (hosted by process 0), under a prefix
    unique to this call; no device collective is used, so nothing waits inside the XLA runtime for a process that
    may be gone. Each process:

    1. starts a heartbeat thread (a counter it rewrites every `lost_after() / 10` s);
    2. publishes its `agreement_spec` (or the error that stopped it before it had one); every process compares all
       of them, and all refuse with the same error if any differ, before the store is touched;
    3. process 0 creates or opens the store, reads its done flags and publishes them (or its error); the others
       open the store after it and deal the unfinished chunks round robin from the SAME flags;
    4. adds the points of every chunk it writes to a shared counter (process 0's progress bar shows it);
    5. marks itself finished and waits until every process has; a process whose heartbeat has not changed for
       `lost_after()` s before it finished is reported by a `ScanProcessLost` error naming it.

    What JAX's runtime does when a process dies is outside jaxengine's hands: unless `jax_enable_recoverability`
    was True when `jax.distributed.initialize` ran, the coordination service declares the dead process's heartbeat
    missed after `heartbeat_timeout_seconds` (default 100 s) and makes every other process abort (SIGABRT); and
    when process 0, which hosts the service, dies, the others abort at once whatever the setting.
    """

    _calls = 0  # multi-process scans started by this process: the same sequence in every process
    lost = set()  # processes found lost by any scan of this process

    def __init__(self):
        from jax._src import distributed  # the client of jax.distributed (what Orbax uses for its barriers too)

        self.client = distributed.global_state.client
        if self.client is None:
            raise RuntimeError(
                f"jax.process_count() is {jax.process_count()}, but jax.distributed is not initialized: a "
                "multi-process scan needs jax.distributed.initialize() in every process."
            )
        if not jax.config.jax_enable_recoverability:
            warnings.warn(
                "jaxengine.scan on several processes with jax_enable_recoverability off: if a process dies, JAX's "
                "distributed runtime aborts all the others (SIGABRT) after heartbeat_timeout_seconds. Set "
                "JAX_ENABLE_RECOVERABILITY=1 (or jax.config.update('jax_enable_recoverability', True)) before "
                "jax.distributed.initialize() to get a Python error naming the lost process instead.",
                RuntimeWarning,
                stacklevel=3,
            )
        self.i, self.n = jax.process_index(), jax.process_count()
        if self.i == 0 and jax.config.jax_enable_recoverability and not _Processes._calls:
            import atexit

            atexit.register(_outlive_the_others, self.client, self.n)  # runs before JAX's own exit hook (LIFO)
        _Processes._calls += 1
        self.prefix = f"jaxengine.scan/{_Processes._calls}/"
        self.lost_after = lost_after()
        self.t0 = _now()
        self.seen = {}  # process -> (last heartbeat value, local time it was first seen)
        self.beats = 0
        self._beat()  # visible from the start
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._beating, name="jaxengine-scan-heartbeat", daemon=True)
        self.thread.start()

    def _beat(self):
        self.beats += 1
        self.client.key_value_set(f"{self.prefix}beat/{self.i}", str(self.beats), allow_overwrite=True)

    def _beating(self):
        period = min(self.lost_after / 10, 1.0)
        while not self.stop.wait(period):
            try:
                self._beat()
            except Exception:  # the coordination service is gone: JAX's runtime reports that itself
                return

    def close(self):
        self.stop.set()
        self.thread.join()

    def _dir(self, name: str) -> dict:
        return {int(k.rsplit("/", 1)[1]): v for k, v in self.client.key_value_dir_get(self.prefix + name)}

    def _check_alive(self, missing, doing: str, out):
        now = _now()
        for j, beat in self._dir("beat").items():
            if self.seen.get(j, (None,))[0] != beat:
                self.seen[j] = (beat, now)
        for j in missing:
            if j not in self.seen:
                if now - self.t0 > START_TIMEOUT:
                    raise ScanProcessLost(
                        f"jaxengine.scan: process {j} of {self.n} has not called scan within {START_TIMEOUT:.0f} s "
                        f"(while this process, {self.i}, waited for every process to {doing}). Every process must "
                        "call scan with the same arguments."
                    )
            elif now - self.seen[j][1] > self.lost_after:
                _Processes.lost.add(j)
                where = f"saved in {out!r}" if out else "kept"
                raise ScanProcessLost(
                    f"jaxengine.scan: process {j} of {self.n} was lost: no heartbeat for {self.lost_after:g} s "
                    f"before it could {doing} (killed, crashed, or its host is down). The chunks the processes "
                    f"finished are {where}; run the same scan again, with this or any other number of processes, to "
                    "finish the store: finished chunks are kept, not recomputed."
                )

    def _gather(self, name: str, doing: str, out=None, poll=None, only=None) -> dict:
        """{process: value} of key `name` once every process (or only process `only`) has set it."""
        want = set(range(self.n)) if only is None else {only}
        pause = 0.01
        while True:
            got = self._dir(name)
            missing = sorted(want - set(got))
            if not missing:
                return got
            if poll is not None:
                poll()
            self._check_alive(missing, doing, out)
            _sleep(pause)
            pause = min(2 * pause, 0.2 * max(1.0, self.n / 8))  # every process polls: spare a large job's coordinator

    def refuse(self, error: BaseException):
        """Tell the others that this process stopped before it could take part (its own error is raised)."""
        with contextlib.suppress(Exception):
            self.client.key_value_set(f"{self.prefix}spec/{self.i}", json.dumps({"error": _one_line(error)}))

    def agree(self, spec: dict):
        """Raise ValueError (in every process) unless all processes called scan with the same specification."""
        self.client.key_value_set(f"{self.prefix}spec/{self.i}", json.dumps({"spec": spec}))
        specs = {j: json.loads(v) for j, v in self._gather("spec", "start the scan").items()}
        for j in sorted(specs):
            if "error" in specs[j]:
                raise ValueError(
                    f"jaxengine.scan: process {j} of {self.n} refused the scan ({specs[j]['error']}), so no process "
                    "writes anything."
                )
        first = specs[0]["spec"]
        for j in range(1, self.n):
            other = specs[j]["spec"]
            for key in sorted(set(first) | set(other)):
                if first.get(key) != other.get(key):
                    raise ValueError(
                        f"jaxengine.scan: the {self.n} processes disagree about the scan, so none of them writes "
                        f"anything: process {j} has {key} = {other.get(key, '(none)')} where process 0 has {key} = "
                        f"{first.get(key, '(none)')}. Every process must call scan with the same axes, parameters and "
                        "options."
                    )

    def open_store(self, open_or_create, out: str):
        """(plan, done flags): process 0 creates/opens the store first and publishes its flags for all."""
        if self.i == 0:
            try:
                plan = open_or_create(True)
                done = done_chunks(out)
            except Exception as e:
                self.client.key_value_set(f"{self.prefix}store/0", json.dumps({"error": _one_line(e)}))
                raise
            flags = np.packbits(done.astype(bool)).tobytes().hex()
            self.client.key_value_set(f"{self.prefix}store/0", json.dumps({"done": flags}))
            return plan, done
        answer = json.loads(self._gather("store", "create the store", only=0)[0])
        if "error" in answer:
            raise ValueError(f"jaxengine.scan: process 0 could not open the store {out!r}: {answer['error']}")
        plan = open_or_create(False)
        done = np.unpackbits(np.frombuffer(bytes.fromhex(answer["done"]), np.uint8), count=plan.n_chunks)
        return plan, done

    def add_points(self, points: int):
        self.client.key_value_increment(f"{self.prefix}points", int(points))

    def points(self) -> int:
        """Points written in this scan by all processes together."""
        return int(self.client.key_value_increment(f"{self.prefix}points", 0))

    def finish(self, out: str, poll=None):
        """Mark this process finished; return once every process is (or raise `ScanProcessLost`)."""
        self.client.key_value_set(f"{self.prefix}finished/{self.i}", "1")
        self._gather("finished", "finish its chunks", out=out, poll=poll)


def _outlive_the_others(client, n: int, timeout: float = 300.0):
    """At the exit of process 0: wait until every other process has disconnected (or died), at most `timeout` s.

    With `jax_enable_recoverability` JAX's exit no longer waits for all processes (its shutdown barrier only blocks
    unrecoverable tasks), so process 0, which hosts the coordination service, could take the service down while
    another process still needs it to shut down; that process would then abort. `get_live_nodes` returns once every
    live process has called it too or disconnected; only process 0 calls it, so it returns when the others are gone.
    Processes found lost are left out: JAX may count a dead process as live until its heartbeat timeout (100 s).
    """
    others = [j for j in range(n) if j not in _Processes.lost]
    waiter = threading.Thread(target=lambda: client.get_live_nodes(others), daemon=True)
    waiter.start()
    waiter.join(timeout)


def _now() -> float:
    return time.monotonic()


def _sleep(seconds: float):
    time.sleep(seconds)


def _one_line(error: BaseException) -> str:
    return f"{type(error).__name__}: {' '.join(str(error).split())}"



# ------------------------------------------------------------------------------------------------------------ API


def _is_network(base) -> bool:
    from ._models.network import Network

    return isinstance(base, Network)


def scan(
    base: EngineParams = EngineParams(),  # noqa: B008 (frozen, hence safe as a default)
    *,
    axes: Mapping,
    out=None,
    chunk_size: int | None = None,
    progress: bool = True,
    store_rho: bool = False,
    overwrite: bool = False,
    kernel: str = "xla",
    fields=None,
):
    r"""Every observable on an N-D outer-product grid of parameters, in bounded memory, optionally streamed to Zarr.

    Args:
        base: the parameters that are not scanned (scalars; the fields named in `axes` are ignored); or a
            `Network`, whose axes are field paths (`"T[0]"`, `"g[0,1]"`, `"kappa"`) and whose variables are those
            of `NetworkObservables` (`fields` and `kernel` do not apply; 4096 points per chunk by default).
        axes: ordered mapping from EngineParams field name to a 1-D array of values, e.g.
            `{"T_h": np.linspace(0.3, 1, 500), "delta": np.linspace(-0.05, 0.05, 501)}`. The grid is their outer
            product, in this order.
        out: path of a Zarr store (directory). Chunks are written as they finish and the store can be read with
            `xarray.open_zarr` while the scan runs (unfinished points read as NaN / ok=False). If the store exists
            and was made by the same scan, the call resumes it: finished chunks are skipped. `None`: compute in
            memory.
        chunk_size: points per chunk (the default uses at most 1/16 of the available memory, up to 2**20). A
            resumed store keeps its own chunking; giving a `chunk_size` that implies another one is an error.
        progress: show a progress bar (points, points/s, ETA) when stderr is a terminal.
        store_rho: also return/store `rho`, complex, with two more dimensions `rho_row, rho_col` (4 each; complex128
            is native in Zarr 3 and in zarr-python 2).
        overwrite: replace an existing store at `out` instead of resuming it.
        kernel: "xla" (default) or "fused" (EXPERIMENTAL, GPU only), as in `observables`.
        fields: None (every variable), or the observables to compute and store, e.g. `("J", "negativity")`, as in
            `observables` (`residual` and `ok` always; `rho` through `store_rho`). Fewer fields compute faster.

    Returns:
        `xarray.Dataset` with dimensions = the axis names, coordinates = the axis values, data variables `J, Q_h,
        Q_c, negativity, concurrence, J_c, witness, residual, ok` (and `rho`), and attributes recording the
        non-scanned parameters, the bath, and the jaxengine and JAX versions. With `out` it is the (lazily loaded)
        store. Failed points are data (`ok` False), as with `observables(throw=False)`.

    Several processes: after `jax.distributed.initialize()` every process calls `scan` with the same arguments and
    an `out` on a filesystem they all see; each computes its share of the chunks, process 0 shows the progress of
    all, and each returns the whole store (module docstring, README "Several processes and hosts").

    Raises:
        ValueError: bad arguments (before anything is compiled); with several processes, also in every process
            when any two of them disagree about the scan, or one refused it, before the store is touched.
        ScanProcessLost: (a RuntimeError) with several processes, when another process stopped before finishing
            its chunks; the store is resumable by any number of processes.

    Examples:
        >>> import numpy as np, jaxengine as je
        >>> ds = je.scan(axes={"T_h": np.linspace(0.3, 1, 5), "delta": [0.0, 0.01]}, progress=False)
        >>> dict(ds.sizes), round(float(ds.negativity.sel(T_h=1.0, delta=0.0)), 6)
        ({'T_h': 5, 'delta': 2}, 0.002053)
    """
    # several processes (jax.distributed): they agree, create the store and finish through `_Processes`
    procs = _Processes() if jax.process_count() > 1 else None
    try:
        if chunk_size is not None:
            if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
                raise ValueError(
                    f"Argument `chunk_size` must be a positive integer, but is chunk_size={chunk_size!r}."
                )
        if _is_network(base):  # a qubit Network: field-path axes such as "T[0]" (issue 18, `_network_apps`)
            from ._network_apps import network_plan

            plan = network_plan(base, axes, chunk_size, store_rho, kernel, fields)
        else:
            check_kernel(kernel)
            fields = tuple(f for f in check_fields(fields) if f != "rho")  # rho is `store_rho`'s
            names, values, dtype = _check_axes(base, axes)
            shape = tuple(len(v) for v in values)
            base = base.replace(**{n: DEFAULTS[n] for n in names})  # scanned fields of `base` play no role
            plan = _Plan(names, values, base, dtype, chunk_shape(shape, chunk_size or default_chunk_size(store_rho)),
                         bool(store_rho), tuple(v for v in VARS if v in fields))
        if procs is not None and out is None:
            raise ValueError("A multi-process scan (jax.process_count() > 1) needs `out`: a store all processes share.")
    except Exception as e:
        if procs is not None:
            procs.refuse(e)
            procs.close()
        raise
    if procs is None:
        return _scan(plan, out, chunk_size, progress, overwrite, kernel, None)
    try:
        procs.agree(agreement_spec(plan, chunk_size=chunk_size, kernel=kernel, overwrite=bool(overwrite)))
        return _scan(plan, out, chunk_size, progress, overwrite, kernel, procs)
    finally:
        procs.close()


def _scan(plan: _Plan, out, chunk_size, progress: bool, overwrite: bool, kernel: str, procs):
    """The body of `scan` after the checks (and, with several processes, after they agreed)."""
    group = None
    done = np.zeros(plan.n_chunks, np.uint8)
    if out is not None:
        out = os.fspath(out)
        opener = functools.partial(_open_or_create, out, plan, chunk_size, overwrite)
        if procs is None:
            plan = opener(True)
            done = done_chunks(out)
        else:
            plan, done = procs.open_store(opener, out)
        import zarr

        group = zarr.open_group(out, mode="r+")
        memory = None
    else:
        memory = {
            n: np.full(plan.shape + plan.var_dims(n)[1], _fill(n), plan.var_dtype(n)) for n in plan.var_names()
        }

    # the unfinished chunks, dealt round robin over the processes (all deal from the flags process 0 read)
    pindex, pcount = (0, 1) if procs is None else (procs.i, procs.n)
    todo = [k for k in range(plan.n_chunks) if not done[k]][pindex::pcount]
    runner = plan.runner(kernel) if todo else None
    points = lambda k: int(np.prod([s.stop - s.start for s in plan.region(k)]))  # noqa: E731
    initial = sum(points(k) for k in range(plan.n_chunks) if done[k])
    bar = _progress_bar(plan.size, initial, progress and pindex == 0)  # process 0 shows the points of all processes
    # Chunks run in worker threads, each to completion and onto the host, while this thread writes finished ones in
    # order. On a single CPU device several chunks run at once, one per core: XLA:CPU executes the kernel's many
    # small fused loops one after another, so one execution keeps only one core busy. Elsewhere one chunk runs while
    # the previous one is written.
    workers = plan.threads()

    def show():  # several processes: the bar shows the points written by all of them (a shared counter)
        if not isinstance(bar, _NoBar):
            bar.update(initial + procs.points() - bar.n)

    try:
        compute = runner.compute if runner is not None else None
        results = _compile.in_order(compute, todo, workers) if workers else map(compute, todo)
        with contextlib.closing(results) if workers else contextlib.nullcontext(results):
            for k, data in zip(todo, results, strict=True):
                if group is not None:
                    _write_chunk(group, plan, k, data)
                else:
                    for n in plan.var_names():
                        memory[n][plan.region(k)] = data[n]
                if procs is None:
                    bar.update(points(k))
                else:
                    procs.add_points(points(k))
                    show()
                del data  # chunk k is on disk: free its buffers
        if procs is not None:
            # wait for the others (no device barrier: a lost process is reported, see `_Processes`)
            procs.finish(out, poll=show)
            show()
    finally:
        bar.close()

    if out is None:
        return _dataset(plan, memory)
    if procs is not None:
        flags = done_chunks(out)
        if not flags.all():
            raise RuntimeError(
                f"jaxengine.scan: every process reports its chunks written, but process {pindex} sees "
                f"{int(flags.sum())} of {flags.size} chunks done in {out!r}: is `out` on a filesystem all processes "
                "share (and see without delay)?"
            )
    import xarray as xr

    ds = xr.open_zarr(out, consolidated=True)
    return ds[list(plan.var_names())]  # the order of VARS, as in memory (Zarr lists the arrays alphabetically)


def _open_or_create(out: str, plan: _Plan, chunk_size, overwrite: bool, create: bool) -> _Plan:
    """The plan with the store's chunking; `create`: first replace (`overwrite`) or create the store as needed."""
    if create:
        if overwrite:
            _remove(out)
        stored = _stored_spec(out)
        if stored is None:
            _create_store(out, plan)
    stored = _stored_spec(out)
    if stored is None:
        raise ValueError(f"The scan store {out!r} was not created (is `out` on a filesystem all processes share?).")
    spec, chunks = stored
    diff = _spec_difference(spec, plan.spec())
    if diff is not None:
        raise ValueError(
            f"The store {out!r} holds a different scan: it has {diff}. Pass overwrite=True to replace it, or choose "
            "another `out`."
        )
    if chunks != plan.chunk:
        if chunk_size is not None:
            raise ValueError(
                f"The store {out!r} is chunked as {chunks}, but chunk_size={chunk_size} gives chunks {plan.chunk}; "
                "leave chunk_size=None to resume with the store's chunks, or pass overwrite=True."
            )
        plan = dataclasses.replace(plan, chunk=chunks)
    return plan


def _dataset(plan: _Plan, arrays: dict):
    import xarray as xr

    dims = list(plan.names)
    data_vars = {
        n: xr.Variable(dims + list(plan.var_dims(n)[0]), a, attrs=plan.var_attrs(n)) for n, a in arrays.items()
    }
    coords = {n: xr.Variable([n], v, attrs=dict(long_name=n, units=_ENERGY))
              for n, v in zip(plan.names, plan.values, strict=True)}
    coords.update({n: xr.Variable([n], v) for n, v in plan.extra_coords().items()})
    return xr.Dataset(data_vars, coords=coords, attrs=plan.attrs())


class _NoBar:
    n = 0

    def update(self, n):
        pass

    def close(self):
        pass


def _progress_bar(total: int, initial: int, progress: bool):
    if not (progress and sys.stderr.isatty()):
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="pt", unit_scale=True, desc="scan", file=sys.stderr,
                smoothing=0.1, dynamic_ncols=True)

