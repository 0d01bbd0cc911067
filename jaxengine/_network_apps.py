r"""Applications for `Network`: entries addressed by field paths, grids, scans and optimisation.

A **field path** names one number of a network: `"T[0]"` (qubit 0's bath temperature), `"g[0,1]"` (the coupling
of qubits 0 and 1; it sets $g_{01} = g_{10}$), `"eps[2]"`, or a whole per-qubit field, `"T"` (every qubit at
once). `je.scan(Network(...), axes={"T[0]": ..., "g[0,1]": ...})` and `je.optimise(..., free="T[0],g[0,1]")`
accept them: `scan` plans a `Network` base with `network_plan` here and runs it with `_scan`'s chunked, streamed,
resumable machinery (a Zarr store with `out`, several processes); `optimise` hands it to `network_optimise`.
"""

import dataclasses
import re
from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np
import optax

from . import _scan
from ._generator import network as gen
from ._models.network import FIELDS, Network, flat_network, prepare_network
from ._observables.network import NetworkObservables, network_observables

_PATH = re.compile(r"^\s*(\w+)\s*(?:\[\s*(\d+)\s*(?:,\s*(\d+)\s*)?\])?\s*$")


def field_path(path: str, n: int) -> tuple[str, tuple[int, ...]]:
    """Parse "T[0]", "g[0,1]" or "T" into (field, index); errors name the path and what is allowed."""
    m = _PATH.match(path) if isinstance(path, str) else None
    if m is None or m.group(1) not in FIELDS:
        raise ValueError(
            f"Field path {path!r} must be a Network field {FIELDS}, optionally indexed like 'T[0]' or 'g[0,1]'."
        )
    name = m.group(1)
    idx = tuple(int(g) for g in m.groups()[1:] if g is not None)
    if name == "g" and len(idx) != 2:
        raise ValueError(f"Field path {path!r}: a coupling needs two qubit indices, e.g. 'g[0,1]'.")
    if name != "g" and len(idx) > 1:
        raise ValueError(f"Field path {path!r}: `{name}` is per qubit and takes one index, e.g. '{name}[0]'.")
    if any(i >= n for i in idx):
        raise ValueError(f"Field path {path!r} names a qubit beyond 0..{n - 1}.")
    if name == "g" and idx[0] == idx[1]:
        raise ValueError(f"Field path {path!r}: the diagonal of g must stay zero.")
    return name, idx


def split_paths(text: str) -> list[str]:
    """Split "T[0],g[0,1]" into ["T[0]", "g[0,1]"] (commas inside brackets belong to the path)."""
    return [m.strip() for m in re.findall(r"[^,\[\]]+(?:\[[^\]]*\])?", text) if m.strip()]


def set_path(net: Network, path: str, value, xp=jnp):
    """`net` (prepared: per-qubit fields (..., n), g (..., n, n)) with the entry at `path` set to `value` (...);
    `xp=np` for concrete NumPy values (no JAX operation, so nothing is compiled)."""
    name, idx = field_path(path, net.eps.shape[-1])
    field = xp.asarray(getattr(net, name))
    value = xp.asarray(value, field.dtype)
    tail = field.shape[field.ndim - (2 if name == "g" else 1) :]
    shape = np.broadcast_shapes(field.shape[: field.ndim - len(tail)], value.shape)
    field = xp.broadcast_to(field, shape + tail)
    value = xp.broadcast_to(value, shape)
    if xp is np:
        field = field.copy()
        if name == "g":
            field[..., idx[0], idx[1]] = field[..., idx[1], idx[0]] = value
        elif idx:
            field[..., idx[0]] = value
        else:
            field[...] = value[..., None]
    elif name == "g":
        i, j = idx
        field = field.at[..., i, j].set(value).at[..., j, i].set(value)
    elif idx:
        field = field.at[..., idx[0]].set(value)
    else:
        field = jnp.broadcast_to(value[..., None], field.shape)
    return net.replace(**{name: field})


def network_grid(base: Network, axes: Mapping) -> Network:
    """An outer-product grid over field paths: batch shape `tuple(len(v) for v in axes.values())`."""
    base, shape = prepare_network(base)
    if shape != ():
        raise ValueError(f"Argument `base` must be a single Network (no batch dimensions), but has batch {shape}.")
    nd = len(axes)
    net = base
    for k, (path, values) in enumerate(axes.items()):
        v = np.asarray(values, dtype=float)
        if v.ndim != 1:
            raise ValueError(f"Axis {path!r} must be 1-D, but has shape {v.shape}.")
        net = set_path(net, path, v.reshape((-1,) + (1,) * (nd - 1 - k)))
    full = tuple(len(np.asarray(v)) for v in axes.values())
    n = net.eps.shape[-1]
    return net.replace(**{k: jnp.broadcast_to(getattr(net, k), full + ((n, n) if k == "g" else (n,))) for k in FIELDS})


NETWORK_VARS = ("Q", "particle_current", "entropy_production", "negativity", "concurrence", "residual", "ok")
_CURRENT = "energy / time (hbar = k_B = 1)"
NETWORK_VAR_ATTRS = {
    "Q": dict(long_name="energy current from each qubit's bath into the system (full H)", units=_CURRENT),
    "particle_current": dict(long_name="excitations delivered by each bath per unit time", units="1 / time"),
    "entropy_production": dict(long_name="entropy production -sum_j (Q_j - mu_j I_j) / T_j", units="1 / time"),
    "negativity": dict(long_name="negativity of each pair's reduced state", units="1"),
    "concurrence": dict(long_name="concurrence of each pair's reduced state", units="1"),
    "residual": dict(long_name="steady-state residual ||L vec(rho)||", units="energy"),
    "ok": dict(long_name="steady state trustworthy", units="1"),
    "rho": dict(long_name="steady state rho", units="1", basis="qubit 0 the left Kronecker factor, |1> excited"),
}
NETWORK_CHUNK = 4096  # points per chunk by default: a network point costs 100-1000x an engine point


def _dims(name):
    if name in ("Q", "particle_current"):
        return ("qubit",)
    if name in ("negativity", "concurrence"):
        return ("qubit_i", "qubit_j")
    return ("row", "col") if name == "rho" else ()


@dataclasses.dataclass(frozen=True)
class NetworkPlan(_scan._Plan):
    """A `scan` of a `Network` over field paths: `_scan`'s chunked, streamed, resumable machinery with the Network's
    variables (`names` are field paths; `base` is the prepared single Network; `structure` the sparsity structure
    of the whole grid, so that every chunk runs the same program)."""

    structure: tuple = ()

    @property
    def n(self) -> int:
        return int(np.shape(self.base.eps)[-1])

    def base_values(self) -> dict:
        scanned = {field_path(p, self.n) for p in self.names}
        whole = {name for name, idx in scanned if not idx}
        out = {}
        for name in FIELDS:
            a = np.asarray(getattr(self.base, name))
            entries = (
                [((i, j), a[i, j]) for i in range(self.n) for j in range(i + 1, self.n)]
                if name == "g"
                else [((j,), a[j]) for j in range(self.n)]
            )
            for idx, v in entries:
                if name not in whole and (name, idx) not in scanned:
                    out[f"{name}[{','.join(map(str, idx))}]"] = float(v)
        out["master_equation"] = self.base.master_equation
        return out

    def spec(self) -> dict:
        return dict(super().spec(), model="Network", bath=self.base.bath)

    def var_dims(self, name):
        dims = _dims(name)
        return dims, tuple(2**self.n if d in ("row", "col") else self.n for d in dims)

    def var_attrs(self, name) -> dict:
        return NETWORK_VAR_ATTRS[name]

    def extra_coords(self) -> dict:
        q = np.arange(self.n)
        out = dict(qubit=q, qubit_i=q, qubit_j=q)
        if self.store_rho:
            out.update(row=np.arange(2**self.n), col=np.arange(2**self.n))
        return out

    def attrs(self) -> dict:
        return dict(
            **self.base_values(),
            model="Network",
            n=self.n,
            bath=self.base.bath,
            axes=list(self.names),
            units="hbar = k_B = 1",
            jaxengine_version=_scan._version(),
            jax_version=jax.__version__,
            jaxengine_scan=self.spec(),
        )

    def runner(self, kernel: str):
        return _NetworkRunner(self)

    def threads(self) -> int:
        # chunks run one at a time in the calling thread: the sparse program spreads each chunk over the cores
        # itself (`_compile.bucketed`), and the programs with LAPACK must not run concurrently
        return 0


class _NetworkRunner:
    def __init__(self, plan: NetworkPlan):
        self.plan = plan

    def points(self, k: int) -> Network:
        """The flat batch of chunk k's grid points (NumPy: nothing compiles per chunk shape)."""
        plan, n = self.plan, self.plan.n
        region = plan.region(k)
        grids = np.meshgrid(*(v[r] for v, r in zip(plan.values, region, strict=True)), indexing="ij")
        m = grids[0].size
        fields = {
            name: np.array(
                np.broadcast_to(np.asarray(getattr(plan.base, name)), (m,) + ((n, n) if name == "g" else (n,)))
            )
            for name in FIELDS
        }
        for path, v in zip(plan.names, grids, strict=True):
            name, idx = field_path(path, n)
            v = v.reshape(-1)
            if name == "g":
                fields["g"][:, idx[0], idx[1]] = fields["g"][:, idx[1], idx[0]] = v
            elif idx:
                fields[name][:, idx[0]] = v
            else:
                fields[name][:] = v[:, None]
        return plan.base.replace(**fields)

    def compute(self, k: int) -> dict:
        from ._observables.network import _run

        plan = self.plan
        shape = tuple(r.stop - r.start for r in plan.region(k))
        o = _run(self.points(k), structure=plan.structure)
        return {name: np.asarray(getattr(o, name)).reshape(shape + plan.var_dims(name)[1]) for name in plan.var_names()}


def network_plan(base: Network, axes: Mapping, chunk_size, store_rho, kernel, fields) -> NetworkPlan:
    """Check a Network scan's arguments (before anything is computed) and plan it."""
    if not isinstance(axes, Mapping):
        raise TypeError(
            f"Argument `axes` must be a mapping from field path to 1-D array, but is {type(axes).__name__}."
        )
    if not axes:
        raise ValueError("Argument `axes` must name at least one field path, e.g. {'T[0]': [...]}, but is empty.")
    if kernel != "xla":
        raise ValueError(f"Argument `kernel` must be 'xla' for a Network scan, but is kernel={kernel!r}.")
    if fields is not None:
        raise ValueError("Argument `fields` is not supported for a Network scan (every variable is computed).")
    base_p, shape = prepare_network(base)
    if shape != ():
        raise ValueError(f"Argument `base` must be a single Network (no batch dimensions), but has batch {shape}.")
    n = base_p.eps.shape[-1]
    dtype = np.dtype(jnp.result_type(float))
    names, values, one_axis = [], [], []
    for path, v in axes.items():
        field_path(path, n)
        a = np.asarray(v)
        if a.ndim != 1 or a.size == 0 or a.dtype.kind not in "biuf":
            raise ValueError(f"Axis {path!r} must be a non-empty 1-D array of real numbers, but is {v!r}.")
        names.append(path)
        values.append(a.astype(dtype))
        # the physical checks of `prepare_network`, on this axis alone (they are per entry)
        try:
            line, _ = prepare_network(set_path(base_p, path, a, xp=np))
        except (ValueError, TypeError) as e:
            raise ValueError(f"Axis {path!r}: {e}") from None
        one_axis.append(flat_network(line))
    # the structure of the whole grid: an entry is non-zero somewhere iff it is in the base or on its axis
    parts = [gen.structure_of(flat_network(jax.tree.map(lambda a: np.asarray(a)[None], base_p)))]
    parts += [gen.structure_of(line) for line in one_axis]
    structure = tuple(tuple(any(bits) for bits in zip(*group, strict=True)) for group in zip(*parts, strict=True))
    grid_shape = tuple(len(v) for v in values)
    size = chunk_size or min(_scan.default_chunk_size(store_rho), NETWORK_CHUNK)
    base_p = jax.tree.map(np.asarray, base_p)
    return NetworkPlan(
        tuple(names),
        tuple(values),
        base_p,
        dtype,
        _scan.chunk_shape(grid_shape, size),
        bool(store_rho),
        NETWORK_VARS,
        structure,
    )


def _objective_value(objective, o: NetworkObservables):
    if callable(objective):
        return objective(o)
    m = _PATH.match(objective)
    field = m.group(1)
    idx = tuple(int(g) for g in m.groups()[1:] if g is not None)
    arr = getattr(o, field)
    return arr[(...,) + idx]


OBJECTIVE_FIELDS = ("Q", "particle_current", "entropy_production", "negativity", "concurrence")


def _check_objective(objective, n):
    if callable(objective):
        return
    m = _PATH.match(objective) if isinstance(objective, str) else None
    ok = m is not None and m.group(1) in OBJECTIVE_FIELDS
    if ok:
        idx = [int(g) for g in m.groups()[1:] if g is not None]
        want = {"Q": 1, "particle_current": 1, "entropy_production": 0, "negativity": 2, "concurrence": 2}
        ok = len(idx) == want[m.group(1)] and all(i < n for i in idx)
    if not ok:
        raise ValueError(
            "Argument `objective` for a Network must be a callable NetworkObservables -> scalar, or one of "
            f"'negativity[i,j]', 'concurrence[i,j]', 'Q[j]', 'particle_current[j]', 'entropy_production', but is "
            f"{objective!r}."
        )


def network_optimise(
    objective, base: Network, *, free, bounds: Mapping, starts=8, steps=200, optimizer=None, seed=0, **ignored
):
    """`optimise` for a `Network` base: maximise an objective over field paths, multi-start, reflecting box.

    `objective`: "negativity[i,j]", "concurrence[i,j]", "Q[j]", "particle_current[j]", "entropy_production", or a
    callable `NetworkObservables -> scalar`. The gradient is exact (implicit differentiation through the steady
    state); N = max(0, ...) has no gradient on separable states, so start inside the entangled region or use a
    smooth objective. Returns `OptimiseResult(params, value, history)` with `params` a `Network`.
    """
    from ._optimise import OptimiseResult, _box, default_optimizer

    base_p, shape = prepare_network(base)
    if shape != ():
        raise ValueError(f"Argument `base` must be a single Network (no batch dimensions), but has batch {shape}.")
    n = base_p.eps.shape[-1]
    free = split_paths(free) if isinstance(free, str) else list(free)
    if not free:
        raise ValueError("Argument `free` must name at least one field path, but is empty.")
    for f in free:
        field_path(f, n)
        if f not in bounds:
            raise ValueError(f"Argument `bounds` must give (lo, hi) for every free field, but has none for {f!r}.")
    _check_objective(objective, n)
    boxes = []
    for f in free:
        lo, hi = (float(v) for v in bounds[f])
        if not lo < hi:
            raise ValueError(f"Argument bounds[{f!r}] must be (lo, hi) with lo < hi, but is {bounds[f]!r}.")
        boxes.append(_box(lo, hi, lo > 0 and hi / lo > 100))
    rng = np.random.default_rng(seed)
    u0 = jnp.asarray(np.stack([(rng.permutation(starts) + rng.uniform(0.05, 0.95, starts)) / starts for _ in free], -1))
    opt = default_optimizer(int(steps)) if optimizer is None else optimizer

    def params(u):  # u (n_free,) -> Network of one point
        net = base_p
        for i, f in enumerate(free):
            net = set_path(net, f, boxes[i](u[i]))
        return net

    def value(u):
        return _objective_value(objective, network_observables(params(u), throw=False))

    def one_step(u, state):
        v, g = jax.value_and_grad(lambda u: -value(u))(u)
        updates, state = opt.update(g, state, u)
        return optax.apply_updates(u, updates), state

    @jax.jit
    def run(u, state):
        def step(carry, _):
            u, state = jax.vmap(one_step)(*carry)
            return (u, state), jax.vmap(value)(u)

        (u, state), hist = jax.lax.scan(step, (u, state), None, length=int(steps))
        return u, hist, jax.vmap(value)(u)

    with jax.numpy_dtype_promotion("standard"):  # optax's own code relies on implicit promotion
        state = jax.vmap(opt.init)(u0)
        u, history, final = run(u0, state)
    best = int(jnp.argmax(jnp.where(jnp.isfinite(final), final, -jnp.inf)))
    p_best = params(u[best])
    out = base
    for f in free:
        name, idx = field_path(f, n)
        out = out.replace(**{name: np.asarray(getattr(p_best, name))})
    return OptimiseResult(out, final[best], history)
