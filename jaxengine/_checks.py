"""Eager argument checks. Messages name the argument and show what it got; nothing here compiles anything.

Shape and type checks always run. Value checks (signs, finiteness) run only on concrete inputs, never on
tracers, so the public functions stay usable under `jit`, `grad` and `vmap`.
"""

import jax
import jax.numpy as jnp
import numpy as np

from ._params import NUMERIC_FIELDS, EngineParams

RATES = ("gamma_h", "gamma_c")
TEMPERATURES = ("T_h", "T_c")


def is_concrete(x) -> bool:
    return not isinstance(x, jax.core.Tracer)


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


def check_square(name: str, x, n: int | None = None) -> jax.Array:
    """Check that `x` has shape (..., n, n) (any n if None) and return it as an inexact array."""
    x = jnp.asarray(x)
    if x.ndim < 2 or x.shape[-1] != x.shape[-2] or (n is not None and x.shape[-1] != n):
        want = f"(..., {n}, {n})" if n is not None else "(..., n, n)"
        raise ValueError(f"Argument `{name}` must have shape {want}, but has shape {name}.shape={x.shape}.")
    if not jnp.issubdtype(x.dtype, jnp.inexact):
        x = x.astype(jnp.result_type(float))
    return x


def flat(p: EngineParams) -> EngineParams:
    """Prepared parameters reshaped to one batch axis: the kernels work on 1-D batches (structure of arrays).
    NumPy fields stay NumPy (contiguous copies where broadcast), so no eager JAX operation compiles anything."""
    return jax.tree.map(lambda x: np.ascontiguousarray(x).reshape(-1) if isinstance(x, np.ndarray) else x.reshape(-1),
                        p)


def unflat(tree, shape: tuple[int, ...]):
    """Give every leaf of a result computed on `flat` parameters its batch shape back (a reshape of a concrete JAX
    array on the CPU goes through NumPy without a copy: an eager `jnp.reshape` would compile a program per shape)."""

    def reshape(y):
        new = shape + y.shape[1:]
        if y.shape == new:
            return y
        if is_concrete(y) and isinstance(y, jax.Array) and _on_cpu(y):
            return jax.device_put(np.asarray(y).reshape(new))  # (jnp.asarray would compile a copy per shape)
        return y.reshape(new)

    return jax.tree.map(reshape, tree)


def _on_cpu(y) -> bool:
    try:
        return all(d.platform == "cpu" for d in y.devices())
    except Exception:
        return False


def complex_dtype(*dtypes):
    """The complex dtype matching the widest of `dtypes` (real or complex), without implicit promotion.

    Written out because `jnp.result_type(float64, complex64)` is an error under strict dtype promotion.
    """
    bits = max(jnp.finfo(jnp.dtype(d)).bits if jnp.issubdtype(d, jnp.inexact) else 64 for d in dtypes)
    return jnp.dtype(jnp.complex128 if bits > 32 else jnp.complex64)


SINGULAR = "the steady state is not unique or the system is numerically singular there (e.g. no dissipation)"


def raise_if_failed(ok, what: str, why: str = SINGULAR):
    """The `throw=True` policy of every solver: one `RuntimeError` after the computation (when `ok` is concrete),
    naming how many points failed, the first index and why."""
    if not is_concrete(ok):
        return
    ok = np.asarray(ok)
    if ok.all():
        return
    bad = np.argwhere(~np.atleast_1d(ok))
    first = tuple(int(i) for i in bad[0]) if ok.ndim else ()
    raise RuntimeError(
        f"{what} failed at {len(bad)} of {max(ok.size, 1)} grid points (first at index {first}): {why}. Pass "
        "throw=False to get the results with their `ok` mask."
    )
