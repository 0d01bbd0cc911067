r"""Steady states: $\mathcal{L}\rho = 0$, $\mathrm{Tr}\rho = 1$, for one point or any batch of points.

Two paths, chosen statically by the type of the argument:

- `EngineParams`: the engine's real 15×15 system in the Pauli basis (`_solve.kernel`), built directly from the rates.
- A Liouvillian array (..., n², n²) in column stacking: the generic dense reference. The row of $\rho_{00}$ is
  replaced by the trace condition $\mathrm{vec}(I)^T\mathrm{vec}(\rho) = 1$ (trace preservation makes that row a
  combination of the other diagonal rows, so no information is lost) and the complex system is solved by LU.

Both report, per point, `residual` $= \|\mathcal{L}\,\mathrm{vec}(\rho)\|_2$ and `ok` (finite, residual at roundoff
level, no numerically zero pivot). A singular point (e.g. no dissipation, where the steady state is not unique) is
data: `ok=False` there. With `throw=True` (the default) a failure anywhere raises one `RuntimeError` after the
computation, when the result is concrete; under `jit` the mask is returned as is.
"""

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from .. import _compile
from .._checks import check_square, complex_dtype, raise_if_failed, unflat
from .._compile import is_traced
from .._generator import pauli
from .._linalg import dense
from .._models import engine as _model
from .._models.params import EngineParams, flat, prepare
from . import chunks, compact
from . import kernel as _kernel


class SteadyState(NamedTuple):
    """Result of `steady_state`.

    Attributes:
        rho: (array of shape (..., n, n)) steady-state density matrix, complex.
        residual: (array of shape (...)) $\\|\\mathcal{L}\\,\\mathrm{vec}(\\rho)\\|_2$.
        ok: (bool array of shape (...)) whether the solve at that point is trustworthy.
    """

    rho: jax.Array
    residual: jax.Array
    ok: jax.Array


def _engine_steady_impl(batch, path: str) -> SteadyState:
    # flat 1-D batch of (parameters, fermionic flag) in (see `_model.dynamic_bath`); the compact program
    # (`_solve.compact`) below THROUGHPUT_MIN points, else the sparse batch-last kernel (`_solve.kernel`) in blocks
    p, fermionic = batch
    with _model.dynamic_bath(fermionic):
        if path == "compact":
            x, residual, ok = compact.solve(_model._coefficients(p, axis=-1))
            return SteadyState(compact.rho_from_pauli(x), residual, ok)

    def one_block(batch):
        with _model.dynamic_bath(batch[1]):
            x, residual, ok = _kernel.fast_solve(batch[0])
        return SteadyState(pauli.rho_from_pauli_batch_last(x), residual, ok)

    return chunks.blocked(one_block, batch)


_steady_compact = _compile.bucketed(
    functools.partial(_engine_steady_impl, path="compact"), name="steady_state_compact", buckets=(128,)
)
_steady_throughput = jax.jit(functools.partial(_engine_steady_impl, path="throughput"))


def _engine_steady(p: EngineParams, shape) -> SteadyState:
    """Steady state of prepared flat parameters, by the program `observables` would use for this many points."""
    n = p.eps_h.shape[0]
    batch = _model.split_bath(p)
    if is_traced(p):
        return unflat(_engine_steady_impl(batch, chunks.path_for(n)), shape)
    if chunks.path_for(n) == "compact":
        return unflat(_steady_compact(batch), shape)
    return chunks.run_throughput("steady_state_throughput", _steady_throughput, batch, shape)


@jax.jit
def _generic_steady(L) -> SteadyState:
    n2 = L.shape[-1]
    n = round(n2**0.5)
    trace_row = jnp.eye(n, dtype=L.dtype).reshape(-1)  # vec(I) is the same in either stacking
    A = L.at[..., 0, :].set(jnp.broadcast_to(trace_row, L.shape[:-2] + (n2,)))
    b = jnp.zeros(L.shape[:-1], L.dtype).at[..., 0].set(1)
    x, rel_pivot = dense.lu_solve_checked(A, b)
    residual = jnp.linalg.norm(jnp.einsum("...ij,...j->...i", L, x), axis=-1)
    x_norm = jnp.linalg.norm(x, axis=-1)
    residual, ok = dense.health(residual, jnp.linalg.norm(L, axis=(-1, -2)), x_norm, rel_pivot, n2, x.real.dtype)
    rho = jnp.swapaxes(x.reshape(x.shape[:-1] + (n, n)), -1, -2)
    rho = (rho + jnp.conj(jnp.swapaxes(rho, -1, -2))) / 2  # remove the roundoff-level anti-Hermitian part
    return SteadyState(rho, residual, ok)


def steady_state(system, *, throw: bool = True) -> SteadyState:
    r"""Steady state of the engine, or of any Lindblad generator.

    Args:
        system: an `EngineParams` (any batch shape), or a Liouvillian array of shape (..., n², n²) in column
            stacking (as returned by `liouvillian`).
        throw: raise `RuntimeError` if the solve failed at any point (see the module docstring); with False, inspect
            `ok` instead.

    Returns:
        `SteadyState(rho, residual, ok)` with `rho` of shape (..., n, n) (n = 4 for the engine).

    Examples:
        >>> import jaxengine as je
        >>> ss = je.steady_state(je.EngineParams(T_h=0.7))
        >>> ss.rho.shape, bool(ss.ok)
        ((4, 4), True)
    """
    if isinstance(system, EngineParams):
        p, shape = prepare(system)
        out = _engine_steady(flat(p), shape)
    else:
        L = check_square("system", system)
        n = round(L.shape[-1] ** 0.5)
        if n * n != L.shape[-1]:
            raise ValueError(
                f"Argument `system` must be an EngineParams or a Liouvillian of shape (..., n², n²), but has shape "
                f"system.shape={L.shape} ({L.shape[-1]} is not a square)."
            )
        out = _generic_steady(L.astype(complex_dtype(L.dtype)))
    if throw:
        raise_if_failed(out.ok, "steady_state")
    return out
