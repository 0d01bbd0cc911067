"""`EngineParams`: the parameters of the two-qubit entanglement engine, as a JAX pytree."""

import dataclasses

import jax
import numpy as np

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
        # (tracers, None, sentinels), so numeric checks live in `_checks.prepare`.
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
        from ._checks import batch_shape

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
