"""`EngineParams`: the parameters of the two-qubit entanglement engine, as a JAX pytree."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import is_concrete

BATHS = ("bosonic", "fermionic")


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class EngineParams:
    r"""Parameters of the engine (energies in units of $\varepsilon_h$, $\hbar = k_B = 1$).

    Every numeric field may be a Python scalar or an array; the fields broadcast together with NumPy rules and the
    broadcast shape is the batch shape of every result computed from these parameters. The defaults are the
    parameters of the paper's Figs 2-5 (T_h and delta are the ones that the figures vary).

    Attributes:
        eps_h: gap of the hot qubit $\varepsilon_h$.
        delta: detuning $\delta = \varepsilon_c - \varepsilon_h$.
        g: qubit-qubit exchange coupling.
        gamma_h: bare coupling rate of the hot qubit to its bath, $\gamma_h \ge 0$.
        gamma_c: bare coupling rate of the cold qubit to its bath, $\gamma_c \ge 0$.
        T_h: temperature of the hot bath, $\ge 0$.
        T_c: temperature of the cold bath, $\ge 0$.
        kappa_h: tunnelling $\kappa_h \sigma_x^{(h)}$ on the hot qubit (eq 19).
        kappa_c: tunnelling $\kappa_c \sigma_x^{(c)}$ on the cold qubit (eq 19).
        bath: "bosonic" (the paper, eq 4) or "fermionic"; a static field (part of the jit cache key).
        master_equation: "local" (the paper, eq 3) or "global" (secular, in the eigenbasis of the full H; computed by
            `observables` through `Network.from_engine`, see `jaxengine._generator.network`); static.

    Examples:
        >>> import jaxengine as je
        >>> p = je.EngineParams(T_h=0.7, delta=0.01)
        >>> float(p.eps_c)
        1.01
        >>> je.EngineParams(T_h=[0.5, 0.7], delta=[[0.0], [0.01]]).batch_shape
        (2, 2)
    """

    eps_h: jax.Array | float = 1.0
    delta: jax.Array | float = 0.0
    g: jax.Array | float = 1.6e-3
    gamma_h: jax.Array | float = 1e-3
    gamma_c: jax.Array | float = 1.1e-2
    T_h: jax.Array | float = 0.7
    T_c: jax.Array | float = 0.1
    kappa_h: jax.Array | float = 0.0
    kappa_c: jax.Array | float = 0.0
    bath: str = dataclasses.field(default="bosonic", metadata=dict(static=True))
    master_equation: str = dataclasses.field(default="local", metadata=dict(static=True))

    def __post_init__(self):
        # Only the static field is checked here: pytree unflattening rebuilds the class with arbitrary leaves
        # (tracers, None, sentinels), so numeric checks live in `prepare`.
        if self.bath not in BATHS:
            raise ValueError(f"Argument `bath` must be one of {BATHS}, but is bath={self.bath!r}.")
        if self.master_equation not in ("local", "global"):
            raise ValueError(
                "Argument `master_equation` must be 'local' or 'global', but is "
                f"master_equation={self.master_equation!r}."
            )

    @property
    def eps_c(self):
        r"""Gap of the cold qubit, $\varepsilon_c = \varepsilon_h + \delta$."""
        return self.eps_h + self.delta

    @property
    def batch_shape(self) -> tuple[int, ...]:
        """Broadcast shape of the numeric fields; `ValueError` naming the fields if they do not broadcast."""
        return batch_shape(self)

    def replace(self, **changes) -> "EngineParams":
        """A copy with some fields changed, e.g. `p.replace(kappa_h=0.05)`."""
        return dataclasses.replace(self, **changes)


NUMERIC_FIELDS = tuple(f.name for f in dataclasses.fields(EngineParams) if not f.metadata.get("static"))
DEFAULTS = {f.name: f.default for f in dataclasses.fields(EngineParams)}


def grid(base: EngineParams | None = None, **axes) -> EngineParams:
    """An N-D outer-product grid: `grid(T_h=a, delta=b)` gives fields of shapes (len(a), 1) and (len(b),).

    The batch shape is `tuple(len(v) for v in axes.values())`, in the order the axes are given; fields not named
    keep their values from `base` (which must then be scalars).
    """
    base = EngineParams() if base is None else base
    unknown = [k for k in axes if k not in NUMERIC_FIELDS]
    if unknown:
        raise ValueError(f"Unknown EngineParams field(s) {unknown}; the numeric fields are {NUMERIC_FIELDS}.")
    nd = len(axes)
    changes = {}
    for i, (name, values) in enumerate(axes.items()):
        values = np.asarray(values) if not isinstance(values, jax.Array) else values
        if values.ndim != 1:
            raise ValueError(f"Axis `{name}` must be 1-D, but has shape {values.shape}.")
        changes[name] = values.reshape((-1,) + (1,) * (nd - 1 - i))
    return base.replace(**changes)


# Eager checks of EngineParams (before anything compiles): messages name the field and show its value.
RATES = ("gamma_h", "gamma_c")


TEMPERATURES = ("T_h", "T_c")


def _shape(name, value):
    try:
        return np.shape(value)
    except Exception as e:  # e.g. a ragged list
        raise ValueError(f"Field `{name}` must be a number or an array, but is {name}={value!r}.") from e


def batch_shape(p: EngineParams) -> tuple[int, ...]:
    shapes = {name: _shape(name, getattr(p, name)) for name in NUMERIC_FIELDS}
    try:
        return tuple(np.broadcast_shapes(*shapes.values()))
    except ValueError:
        shown = ", ".join(f"{k}{v}" for k, v in shapes.items() if v != ())
        raise ValueError(f"The fields of EngineParams do not broadcast together: shapes {shown}.") from None


def _check_values(p: EngineParams):
    """Raise `ValueError` for unphysical concrete values."""

    def bad(name, mask, what):
        a = np.asarray(getattr(p, name))
        if np.any(mask):
            idx = np.argwhere(np.atleast_1d(mask))[0]
            got = a.item() if a.ndim == 0 else f"{a[tuple(idx)]!r} at index {tuple(int(i) for i in idx)}"
            raise ValueError(f"Field `{name}` must be {what}, but got {name}={got}.")

    for name in NUMERIC_FIELDS:
        v = getattr(p, name)
        if is_concrete(v):
            a = np.asarray(v)
            if a.dtype.kind == "c":
                raise TypeError(f"Field `{name}` must be real, but has dtype {a.dtype}.")
            if a.dtype.kind not in "biuf":
                raise TypeError(f"Field `{name}` must be a real number or array, but got {name}={v!r}.")
            bad(name, ~np.isfinite(a), "finite")
            if name in RATES:
                bad(name, a < 0, "a non-negative rate")
            if name in TEMPERATURES:
                bad(name, a < 0, "a non-negative temperature")
    if p.bath == "bosonic":
        if is_concrete(p.eps_h) and is_concrete(p.delta):
            eps_c = np.asarray(p.eps_h) + np.asarray(p.delta)
            if np.any(np.asarray(p.eps_h) <= 0):
                bad("eps_h", np.asarray(p.eps_h) <= 0, "> 0 for bosonic baths (n_B needs a positive gap)")
            if np.any(eps_c <= 0):
                raise ValueError(
                    "eps_c = eps_h + delta must be > 0 for bosonic baths (n_B needs a positive gap), but got "
                    f"eps_c={eps_c.min()!r} (eps_h={p.eps_h!r}, delta={p.delta!r})."
                )


def prepare(p: EngineParams) -> tuple[EngineParams, tuple[int, ...]]:
    """Check `p` and return a copy whose fields are arrays of one real dtype broadcast to the batch shape."""
    if not isinstance(p, EngineParams):
        raise TypeError(f"Argument `p` must be an EngineParams, but is of type {type(p).__name__}.")
    if p.master_equation != "local":  # the engine's own kernels solve the local ME only (issue 18)
        raise ValueError(
            f"master_equation={p.master_equation!r} is computed by `observables` only (through `Network`); this "
            "function solves the local master equation: pass master_equation='local'."
        )
    shape = batch_shape(p)
    _check_values(p)
    values = [getattr(p, name) for name in NUMERIC_FIELDS]
    values = [np.asarray(v) if isinstance(v, (list, tuple)) else v for v in values]
    dtype = jnp.result_type(*values)
    if not jnp.issubdtype(dtype, jnp.inexact):
        dtype = jnp.result_type(float)
    if jnp.issubdtype(dtype, jnp.complexfloating):
        raise TypeError(f"The fields of EngineParams must be real, but their common dtype is {dtype}.")
    # concrete fields stay NumPy arrays: eager jnp operations compile a small program per shape, and the entry points
    # hand these arrays to bucketed executables (`_compile`) that take NumPy input as it is
    concrete = all(is_concrete(v) for v in values)
    xp = np if concrete else jnp
    arrays = {
        name: xp.broadcast_to(xp.asarray(v, dtype=dtype), shape) for name, v in zip(NUMERIC_FIELDS, values, strict=True)
    }
    return p.replace(**arrays), shape


def flat(p: EngineParams) -> EngineParams:
    """Prepared parameters reshaped to one batch axis: the kernels work on 1-D batches (structure of arrays).
    NumPy fields stay NumPy (contiguous copies where broadcast), so no eager JAX operation compiles anything."""
    return jax.tree.map(lambda x: np.ascontiguousarray(x).reshape(-1) if isinstance(x, np.ndarray) else x.reshape(-1),
                        p)
