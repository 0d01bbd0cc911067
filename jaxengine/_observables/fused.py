r"""The fast kernel as ONE fused GPU kernel (Pallas, Triton backend): experimental, opt-in, not yet run on a GPU.

**Why.** On XLA the kernel is ~600 fused loops per block (`_solve.kernel`): every materialised value (a row of U, a
multiplier, a Jacobi entry) is written to memory by one loop and read back by later ones. XLA's own estimate for one
block is ~78 kB of such traffic per point (`bench/steady_state.py`, `work_per_point`), against ~6 000 flops. On a
CPU that traffic stays in cache; on a GPU, blocks of 2^18 points do not fit in its L2, so if XLA:GPU keeps the
loops as separate as XLA:CPU does, it goes through device memory, and at ~3 TB/s that caps the XLA kernel near 4e7
points/s (a prediction: no GPU was lent to this project so far). The issue's target, 1e9 points/s, needs the
intermediates to stay on the chip.

**What.** Here the very same code (`fast.observable_rows`: the unrolled block LU, refinement, the heat currents
and both Jacobi iterations, written on (B,) rows) is traced as the body of a `pallas_call`: each program of the grid
takes `FUSED_BLOCK` points, and every intermediate is a register (or, when registers run out, thread-local memory
cached on chip). `unrolled._materialise`, whose only job is to stop XLA from recomputing fused values, is the
identity there (`unrolled.IN_REGISTERS`). Device memory then sees the 9 coefficients in and 22 rows out per point
(~250 B; rho is assembled from the Pauli vector afterwards, by XLA).

**Status.** Tested on CPU in Pallas's interpret mode against the XLA kernel (grid, padding, outputs, derivatives;
`_materialise` keeps its XLA meaning there, see `_pallas_rows`), and its Triton lowering is tested by exporting it
for CUDA (`jax.export`), which checks that every operation of the body has a Triton lowering. It has
never been compiled by Triton to PTX nor run on a GPU, so it is not the default: `observables(p, kernel="fused")`
and `scan(..., kernel="fused")` ask for it (off a GPU they refuse, unless `INTERPRET_OFF_GPU`, which the tests set
to run both public paths end to end through the interpreter). `bench/gpu.sh` measures it against the XLA kernel
when a GPU is lent.

Derivatives: the fused kernel is primal only; its `custom_jvp` takes tangents from the XLA kernel's implicit rules
(`fast.fast_observables_theta`), so `grad` through `kernel="fused"` is exact (the primal is then computed twice).
"""

import functools

import jax
import jax.numpy as jnp

from .._generator import pauli
from .._linalg import unrolled
from .._models import engine as _model
from .._solve import chunks
from . import fast

# use it to check the public paths, `observables` and `scan`, end to end on CPU)
INTERPRET_OFF_GPU = False
FUSED_BLOCK = 128  # points per program (one per thread with 4 warps); to be tuned on a GPU
FUSED_WARPS = 4
OUT_ROWS = ("Q_h", "Q_c", "negativity", "concurrence", "residual", "ok")


def _body(*refs, registers):
    theta = [r[...] for r in refs[:9]]
    token = unrolled.IN_REGISTERS.set(registers)
    try:
        o = fast.observable_rows(theta)
    finally:
        unrolled.IN_REGISTERS.reset(token)
    rows = (*o["x"], *(o[k] for k in OUT_ROWS))
    for ref, v in zip(refs[9:], rows, strict=True):
        ref[...] = v.astype(ref.dtype)


def _pallas_rows(theta, interpret):
    """theta (9, n) with n a multiple of FUSED_BLOCK -> 22 rows (n,): the 16 Pauli components, then OUT_ROWS (ok as
    0/1)."""
    from jax.experimental import pallas as pl
    from jax.experimental.pallas import triton as plt

    n = theta.shape[1]
    spec = pl.BlockSpec((FUSED_BLOCK,), lambda i: (i,))
    nout = 16 + len(OUT_ROWS)
    return pl.pallas_call(
        # interpret mode runs the body as an XLA program: there `_materialise` keeps its job (without it XLA
        # recomputes the shared values and the test program compiles for a minute instead of seconds)
        functools.partial(_body, registers=not interpret),
        out_shape=tuple(jax.ShapeDtypeStruct((n,), theta.dtype) for _ in range(nout)),
        grid=(n // FUSED_BLOCK,),
        in_specs=[spec] * 9,
        out_specs=tuple(spec for _ in range(nout)),
        interpret=interpret,
        compiler_params=None if interpret else plt.CompilerParams(num_warps=FUSED_WARPS),
        name="jaxengine_fused_observables",
    )(*theta)


@functools.partial(jax.custom_jvp, nondiff_argnums=(1,))
def _fused_theta(theta, interpret):
    n = theta.shape[1]
    rows = [v[:n] for v in _pallas_rows(chunks.pad_points(theta, -n % FUSED_BLOCK), interpret)]
    o = dict(zip(OUT_ROWS, rows[16:], strict=True))
    o["ok"] = o["ok"] > 0
    return jnp.stack(rows[:16]), o  # only the Pauli vector is stacked (for rho); the scalars stay rows


@_fused_theta.defjvp
def _fused_theta_jvp(interpret, primals, tangents):
    # tangents from the XLA kernel's implicit rules (exact); its primal is recomputed and discarded
    (theta,), (dtheta,) = primals, tangents
    primal = _fused_theta(theta, interpret)
    _, dout = jax.jvp(fast.fast_observables_theta, (theta,), (dtheta,))
    return primal, dout


def fused_observables(p, interpret=False):
    """Like `fast.fast_observables` (prepared flat parameters, batch (n,)), through the fused Pallas kernel."""
    theta = _model._coefficients(p, axis=0)
    x, o = _fused_theta(theta, interpret)
    return dict(o, rho=pauli.rho_from_pauli_batch_last(x))
