r"""`Network`: n >= 2 qubits with pairwise flip-flop couplings, each qubit with its own bath (a JAX pytree).

$$H = \sum_j \varepsilon_j n_j + \sum_{i<j} g_{ij}(\sigma_+^{(i)}\sigma_-^{(j)} + \sigma_-^{(i)}\sigma_+^{(j)})
      + \sum_j \kappa_j \sigma_x^{(j)},$$

and bath $j$ (rate $\gamma_j$, temperature $T_j$, chemical potential $\mu_j$) acts on qubit $j$ only:

- `master_equation="local"`: $\gamma_j^+ D[\sigma_+^{(j)}] + \gamma_j^- D[\sigma_-^{(j)}]$ at the qubit's own bare gap,
  bosonic $\gamma_j^+ = \gamma_j n_B(\varepsilon_j, T_j)$, $\gamma_j^- = \gamma_j(1 + n_B)$, or fermionic
  $\gamma_j^+ = \gamma_j f$, $\gamma_j^- = \gamma_j(1 - f)$ with $f = 1/(e^{(\varepsilon_j - \mu_j)/T_j} + 1)$;
- `master_equation="global"`: a secular (Davies) dissipator in the eigenbasis of the full $H$, the bath coupling
  through $\sigma_x^{(j)}$ with a flat spectrum (see `jaxengine._generator.network`).

Conventions are the engine's (`_operators`): qubit 0 is the LEFT Kronecker factor, $|1\rangle = (1, 0)^T$ is excited,
so `rho[..., 0, 0]` is the population of all qubits excited. `Network.from_engine(p)` is the two-qubit engine with
qubit 0 = h and qubit 1 = c.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import is_concrete
from .params import BATHS

MASTER_EQUATIONS = ("local", "global")
PER_QUBIT = ("eps", "kappa", "gamma", "T", "mu")
FIELDS = ("eps", "g", "kappa", "gamma", "T", "mu")


def _g_from_dict(g: dict, n: int):
    """{(i, j): value} -> symmetric (..., n, n) array with zero diagonal; errors name the offending key."""
    seen = {}
    for key, value in g.items():
        if not (isinstance(key, tuple) and len(key) == 2 and all(isinstance(k, (int, np.integer)) for k in key)):
            raise ValueError(f"Field `g` given as a dict needs keys (i, j) of two qubit indices, but has key {key!r}.")
        i, j = int(key[0]), int(key[1])
        if not (0 <= i < n and 0 <= j < n):
            raise ValueError(f"Field `g` has key {key!r}, but the qubits are 0..{n - 1} (n = {n} from `eps`).")
        if i == j:
            raise ValueError(f"Field `g` must have a zero diagonal (no self-coupling), but got g[{key!r}]={value!r}.")
        pair = (min(i, j), max(i, j))
        if pair in seen and is_concrete(value) and is_concrete(seen[pair]):
            if not np.array_equal(np.asarray(seen[pair]), np.asarray(value)):
                raise ValueError(
                    f"Field `g` must be symmetric, but got g[{pair}]={seen[pair]!r} and g[{pair[::-1]}]={value!r}."
                )
        seen[pair] = value
    batch = np.broadcast_shapes(*(np.shape(v) for v in seen.values())) if seen else ()
    if all(is_concrete(v) for v in seen.values()):
        out = np.zeros(batch + (n, n), dtype=np.result_type(float, *(np.asarray(v) for v in seen.values())))
        for (i, j), v in seen.items():
            out[..., i, j] = out[..., j, i] = v
        return out
    out = jnp.zeros(batch + (n, n))
    for (i, j), v in seen.items():
        out = out.at[..., i, j].set(v).at[..., j, i].set(v)
    return out


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Network:
    r"""A network of n >= 2 qubits, each coupled to its own bath (energies in any unit, $\hbar = k_B = 1$).

    Numeric fields broadcast with NumPy rules over leading batch dimensions; per-qubit fields are scalars (the same
    value for every qubit) or arrays whose last axis has length n (or 1). The broadcast of the leading dimensions is
    the batch shape of every result.

    Attributes:
        eps (array of shape (..., n)): qubit gaps $\varepsilon_j$ (n is read from here).
        g (array of shape (..., n, n), or dict): symmetric flip-flop couplings $g_{ij}$ with a zero diagonal; a dict
            `{(i, j): value}` sets $g_{ij} = g_{ji}$ and leaves the other pairs uncoupled.
        kappa (array of shape (..., n)): tunnelling $\kappa_j\sigma_x^{(j)}$.
        gamma (array of shape (..., n)): bare rate of qubit j's bath, $\ge 0$; 0 means no bath.
        T (array of shape (..., n)): bath temperatures, $\ge 0$.
        mu (array of shape (..., n)): chemical potentials (fermionic baths only; must be 0 for bosonic baths).
        bath: "bosonic" or "fermionic" (static).
        master_equation: "local" or "global" (static).

    Examples:
        >>> import jaxengine as je
        >>> net = je.Network(eps=[1.0, 1.0, 1.0], g={(0, 1): 0.01, (1, 2): 0.01}, gamma=[1e-3, 0, 1e-3], T=[1, 0, 0.1])
        >>> net.n, net.batch_shape
        (3, ())
        >>> je.Network(eps=[[1.0, 1.1]], g=[[0, 0.1], [0.1, 0]], T=[[0.5], [0.7], [0.9]]).batch_shape
        (3,)
    """

    eps: jax.Array
    g: jax.Array | dict
    kappa: jax.Array | float = 0.0
    gamma: jax.Array | float = 0.0
    T: jax.Array | float = 1.0
    mu: jax.Array | float = 0.0
    bath: str = dataclasses.field(default="bosonic", metadata=dict(static=True))
    master_equation: str = dataclasses.field(default="local", metadata=dict(static=True))

    def __post_init__(self):
        # Only the static fields and the dict form of g are handled here: pytree unflattening rebuilds the class with
        # arbitrary leaves (tracers, None, sentinels), so numeric checks live in `prepare_network`.
        if self.bath not in BATHS:
            raise ValueError(f"Argument `bath` must be one of {BATHS}, but is bath={self.bath!r}.")
        if self.master_equation not in MASTER_EQUATIONS:
            raise ValueError(
                f"Argument `master_equation` must be one of {MASTER_EQUATIONS}, but is "
                f"master_equation={self.master_equation!r}."
            )
        if isinstance(self.g, dict):
            shape = np.shape(self.eps)
            if len(shape) < 1:
                raise ValueError(f"Field `eps` must have shape (..., n) with n >= 2, but has shape {shape}.")
            object.__setattr__(self, "g", _g_from_dict(self.g, shape[-1]))

    @property
    def n(self) -> int:
        """Number of qubits (the last axis of `eps`)."""
        return np.shape(self.eps)[-1]

    @property
    def batch_shape(self) -> tuple[int, ...]:
        """Broadcast batch shape of the fields; `ValueError` naming the field if the shapes do not fit."""
        return network_shapes(self)[1]

    def replace(self, **changes) -> "Network":
        """A copy with some fields changed, e.g. `net.replace(T=[0.5, 0.1, 0.1])`."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_engine(cls, p) -> "Network":
        r"""The two-qubit engine `p` (an `EngineParams`) as a `Network` (qubit 0 = h, qubit 1 = c), same physics.

        Examples:
            >>> import jaxengine as je
            >>> net = je.Network.from_engine(je.EngineParams(delta=0.01))
            >>> [round(float(e), 12) for e in net.eps], float(net.g[0, 1])
            ([1.0, 1.01], 0.0016)
        """
        stack = lambda a, b: jnp.stack(jnp.broadcast_arrays(jnp.asarray(a), jnp.asarray(b)), axis=-1)  # noqa: E731
        g = jnp.asarray(p.g)
        zero = jnp.zeros_like(g)
        return cls(
            eps=stack(p.eps_h, p.eps_c),
            g=jnp.stack([jnp.stack([zero, g], -1), jnp.stack([g, zero], -1)], -2),
            kappa=stack(p.kappa_h, p.kappa_c),
            gamma=stack(p.gamma_h, p.gamma_c),
            T=stack(p.T_h, p.T_c),
            mu=0.0,
            bath=p.bath,
            master_equation=getattr(p, "master_equation", "local"),
        )


def _field_shape(name, value):
    try:
        return np.shape(value)
    except Exception as e:  # e.g. a ragged list
        raise ValueError(f"Field `{name}` must be a number or an array, but is {name}={value!r}.") from e


def network_shapes(net: Network) -> tuple[int, tuple[int, ...]]:
    """(n, batch shape) of a network, with errors naming the field whose shape does not fit."""
    eps_shape = _field_shape("eps", net.eps)
    if len(eps_shape) < 1 or eps_shape[-1] < 2:
        raise ValueError(f"Field `eps` must have shape (..., n) with n >= 2 qubits, but has shape {eps_shape}.")
    n = eps_shape[-1]
    g_shape = _field_shape("g", net.g)
    if len(g_shape) < 2 or g_shape[-2:] != (n, n):
        raise ValueError(
            f"Field `g` must have shape (..., {n}, {n}) (n = {n} qubits from `eps`), but has shape {g_shape}."
        )
    batches = {"eps": eps_shape[:-1], "g": g_shape[:-2]}
    for name in PER_QUBIT[1:]:
        s = _field_shape(name, getattr(net, name))
        if len(s) >= 1 and s[-1] not in (n, 1):
            raise ValueError(
                f"Field `{name}` must be a scalar or have shape (..., {n}) (one value per qubit; n = {n} from `eps`), "
                f"but has shape {s}."
            )
        batches[name] = s[:-1] if len(s) else ()
    try:
        batch = tuple(np.broadcast_shapes(*batches.values()))
    except ValueError:
        shown = ", ".join(f"{k}{v}" for k, v in batches.items() if v != ())
        raise ValueError(f"The batch dimensions of the Network fields do not broadcast: {shown}.") from None
    return n, batch


def _bad(name, a, mask, what):
    if np.any(mask):
        idx = tuple(int(i) for i in np.argwhere(np.atleast_1d(mask))[0])
        got = a.item() if a.ndim == 0 else f"{a[idx].item()!r} at index {idx}"
        raise ValueError(f"Field `{name}` must be {what}, but got {name}={got}.")


def _check_values(net: Network, n: int):
    for name in FIELDS:
        v = getattr(net, name)
        if not is_concrete(v):
            continue
        a = np.asarray(v)
        if a.dtype.kind == "c":
            raise TypeError(f"Field `{name}` must be real, but has dtype {a.dtype}.")
        if a.dtype.kind not in "biuf":
            raise TypeError(f"Field `{name}` must be a real number or array, but got {name}={v!r}.")
        _bad(name, a, ~np.isfinite(a), "finite")
        if name in ("gamma", "T"):
            _bad(name, a, a < 0, "non-negative")
        if name == "g":
            _bad("g", a, np.broadcast_to(np.eye(n, dtype=bool), a.shape) & (a != 0), "zero on the diagonal")
            asym = a != np.swapaxes(a, -1, -2)
            if asym.any():
                idx = tuple(int(i) for i in np.argwhere(asym)[0])
                mirror = idx[:-2] + (idx[-1], idx[-2])
                raise ValueError(
                    f"Field `g` must be symmetric, but got g{list(idx)}={a[idx].item()!r} and "
                    f"g{list(mirror)}={a[mirror].item()!r}."
                )
        if name == "mu" and net.bath == "bosonic":
            _bad("mu", a, a != 0, "0 for a bosonic bath (chemical potentials need bath='fermionic')")
        if name == "eps" and net.bath == "bosonic":
            _bad("eps", a, a <= 0, "> 0 for bosonic baths (n_B needs a positive gap)")


def prepare_network(net: Network) -> tuple[Network, tuple[int, ...]]:
    """Check `net` and return a copy whose fields are arrays of one real dtype: per-qubit fields (*batch, n), g
    (*batch, n, n); and the batch shape."""
    if not isinstance(net, Network):
        raise TypeError(f"Argument `net` must be a Network, but is of type {type(net).__name__}.")
    n, batch = network_shapes(net)
    _check_values(net, n)
    values = {name: getattr(net, name) for name in FIELDS}
    values = {k: np.asarray(v) if isinstance(v, (list, tuple)) else v for k, v in values.items()}
    dtype = jnp.result_type(*values.values())
    if not jnp.issubdtype(dtype, jnp.inexact):
        dtype = jnp.result_type(float)
    if jnp.issubdtype(dtype, jnp.complexfloating):
        raise TypeError(f"The fields of Network must be real, but their common dtype is {dtype}.")
    # concrete inputs stay NumPy arrays (an eager jnp op compiles a small program for every new batch shape);
    # traced ones are broadcast by JAX
    xp = np if all(is_concrete(v) for v in values.values()) else jnp
    out = {}
    for k, v in values.items():
        tail = (n, n) if k == "g" else (n,)
        out[k] = xp.broadcast_to(xp.asarray(v, dtype=dtype), batch + tail)
    return net.replace(**out), batch


def flat_network(net: Network) -> Network:
    """Prepared fields with the batch flattened to one axis: (B, n) and g (B, n, n)."""
    n = net.eps.shape[-1]
    return net.replace(**{k: getattr(net, k).reshape((-1, n, n) if k == "g" else (-1, n)) for k in FIELDS})
