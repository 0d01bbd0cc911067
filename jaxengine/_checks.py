"""Eager argument checks shared by every layer (the checks of each model live with it, in `_models`). Messages name
the argument and show what it got; nothing here compiles anything.

Shape and type checks always run. Value checks (signs, finiteness) run only on concrete inputs, never on
tracers, so the public functions stay usable under `jit`, `grad` and `vmap`.
"""

import jax
import jax.numpy as jnp
import numpy as np


def is_concrete(x) -> bool:
    return not isinstance(x, jax.core.Tracer)


def check_square(name: str, x, n: int | None = None) -> jax.Array:
    """Check that `x` has shape (..., n, n) (any n if None) and return it as an inexact array."""
    x = jnp.asarray(x)
    if x.ndim < 2 or x.shape[-1] != x.shape[-2] or (n is not None and x.shape[-1] != n):
        want = f"(..., {n}, {n})" if n is not None else "(..., n, n)"
        raise ValueError(f"Argument `{name}` must have shape {want}, but has shape {name}.shape={x.shape}.")
    if not jnp.issubdtype(x.dtype, jnp.inexact):
        x = x.astype(jnp.result_type(float))
    return x


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
