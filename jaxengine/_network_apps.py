r"""Applications for `Network`: entries addressed by field paths, grids, scans and optimisation.

A **field path** names one number of a network: `"T[0]"` (qubit 0's bath temperature), `"g[0,1]"` (the coupling
of qubits 0 and 1; it sets $g_{01} = g_{10}$), `"eps[2]"`, or a whole per-qubit field, `"T"` (every qubit at
once). `je.scan(Network(...), axes={"T[0]": ..., "g[0,1]": ...})` and `je.optimise(..., free="T[0],g[0,1]")`
accept them (`scan` and `optimise` hand a `Network` base to `network_scan` / `network_optimise` here).
"""

import re
from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ._models.network import FIELDS, Network, network_shapes, prepare_network
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


def set_path(net: Network, path: str, value):
    """`net` (prepared: per-qubit fields (..., n), g (..., n, n)) with the entry at `path` set to `value` (...)."""
    name, idx = field_path(path, net.eps.shape[-1])
    field = jnp.asarray(getattr(net, name))
    value = jnp.asarray(value, field.dtype)
    tail = field.shape[field.ndim - (2 if name == "g" else 1) :]
    shape = jnp.broadcast_shapes(field.shape[: field.ndim - len(tail)], value.shape)
    field = jnp.broadcast_to(field, shape + tail)
    value = jnp.broadcast_to(value, shape)
    if name == "g":
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


def network_scan(base: Network, *, axes: Mapping, store_rho: bool = False, throw: bool = False, **ignored):
    """`scan` for a `Network` base: every observable on the outer-product grid of `axes` (field paths), in memory.

    Returns an `xarray.Dataset` with dimensions the axis names (then `qubit`, and `qubit_i`, `qubit_j` for the pair
    matrices): variables Q, particle_current, entropy_production, negativity, concurrence, residual, ok (and rho).
    """
    import xarray as xr

    if not axes:
        raise ValueError("Argument `axes` must name at least one field path, e.g. {'T[0]': [...]}, but is empty.")
    unsupported = {k: v for k, v in ignored.items() if v not in (None, False, True) and k != "progress"}
    if unsupported:
        raise ValueError(f"scan of a Network computes in memory; unsupported options: {sorted(unsupported)}.")
    n, _ = network_shapes(base)
    for path in axes:
        field_path(path, n)
    grid = network_grid(base, axes)
    o = network_observables(grid, throw=throw)
    dims = tuple(axes)
    coords = {k: np.asarray(v, dtype=float) for k, v in axes.items()}
    coords.update(qubit=np.arange(n), qubit_i=np.arange(n), qubit_j=np.arange(n))
    data = {
        "Q": (dims + ("qubit",), np.asarray(o.Q)),
        "particle_current": (dims + ("qubit",), np.asarray(o.particle_current)),
        "entropy_production": (dims, np.asarray(o.entropy_production)),
        "negativity": (dims + ("qubit_i", "qubit_j"), np.asarray(o.negativity)),
        "concurrence": (dims + ("qubit_i", "qubit_j"), np.asarray(o.concurrence)),
        "residual": (dims, np.asarray(o.residual)),
        "ok": (dims, np.asarray(o.ok)),
    }
    if store_rho:
        d = 2**n
        data["rho"] = (dims + ("row", "col"), np.asarray(o.rho))
        coords.update(row=np.arange(d), col=np.arange(d))
    import jaxengine

    attrs = dict(model="Network", n=n, bath=base.bath, master_equation=base.master_equation)
    attrs["jaxengine_version"] = jaxengine.__version__
    return xr.Dataset(data, coords=coords, attrs=attrs)


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
