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
    shape = batch_shape(p)
    _check_values(p)
    values = [getattr(p, name) for name in NUMERIC_FIELDS]
    values = [np.asarray(v) if isinstance(v, (list, tuple)) else v for v in values]
    dtype = jnp.result_type(*values)
    if not jnp.issubdtype(dtype, jnp.inexact):
        dtype = jnp.result_type(float)
    if jnp.issubdtype(dtype, jnp.complexfloating):
        raise TypeError(f"The fields of EngineParams must be real, but their common dtype is {dtype}.")
    arrays = {
        name: jnp.broadcast_to(jnp.asarray(v, dtype=dtype), shape)
        for name, v in zip(NUMERIC_FIELDS, values, strict=True)
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
    """Prepared parameters reshaped to one batch axis: the kernels work on 1-D batches (structure of arrays)."""
    return jax.tree.map(lambda x: x.reshape(-1), p)


def unflat(tree, shape: tuple[int, ...]):
    """Give every leaf of a result computed on `flat` parameters its batch shape back."""
    return jax.tree.map(lambda y: y.reshape(shape + y.shape[1:]), tree)


def complex_dtype(*dtypes):
    """The complex dtype matching the widest of `dtypes` (real or complex), without implicit promotion.

    Written out because `jnp.result_type(float64, complex64)` is an error under strict dtype promotion.
    """
    bits = max(jnp.finfo(jnp.dtype(d)).bits if jnp.issubdtype(d, jnp.inexact) else 64 for d in dtypes)
    return jnp.dtype(jnp.complex128 if bits > 32 else jnp.complex64)
