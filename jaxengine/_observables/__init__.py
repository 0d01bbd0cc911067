r"""Observables of a two-qubit state: heat currents, partial transpose, negativity, concurrence.

Heat currents use the FULL Hamiltonian that generates the dynamics (bare + exchange + tunnelling):
$Q_j = \mathrm{Tr}[H\,\mathcal{D}_j\rho]$. Only then does the first law $Q_h + Q_c = 0$ hold exactly in the steady
state; the bare Hamiltonian of the paper's eq 10 is off by up to ~12 % at $\delta \ne 0$ and gives a spurious current
at $g = 0$ when $\kappa \ne 0$.
"""

import functools

import jax
import jax.numpy as jnp

from .. import _compile
from .._checks import check_square, complex_dtype, unflat
from .._generator.liouvillian import _dag
from .._models import engine as _model
from .._models.params import EngineParams, flat, prepare
from .._solve import chunks
from .._solve.steady import raise_if_failed
from . import compact, fast
from . import fused as _fused
from .closed_forms import Observables, _closed, witness_ratio
from .network import Network, negativity_cut, network_observables


def partial_transpose(rho, site: str = "c"):
    r"""Partial transpose of a two-qubit state on `site` ("h" or "c"), shape (..., 4, 4)."""
    rho = check_square("rho", rho, 4)
    if site not in ("h", "c"):
        raise ValueError(f"Argument `site` must be 'h' or 'c', but is site={site!r}.")
    r = rho.reshape(rho.shape[:-2] + (2, 2, 2, 2))  # (h, c, h', c')
    r = jnp.swapaxes(r, -3, -1) if site == "c" else jnp.swapaxes(r, -4, -2)
    return r.reshape(rho.shape)


def _pt_eigenvalues(rho):
    return jnp.linalg.eigvalsh(partial_transpose(rho))


def negativity(rho, *, cut=None):
    r"""Negativity $N(\rho) = \sum_{\lambda_i < 0}|\lambda_i|$ over the spectrum of the partial transpose (eq 14).

    Args:
        rho (array of shape (..., 4, 4)): two-qubit density matrices; with `cut`, n-qubit ones (..., 2^n, 2^n).
        cut (tuple of int, optional): the qubits on one side of the bipartition (`negativity_cut`); None: two qubits.

    Returns:
        (array of shape (...)) values in $[0, 1/2]$.

    Examples:
        >>> import jax.numpy as jnp, jaxengine as je
        >>> bell = jnp.array([1, 0, 0, 1]) / jnp.sqrt(2)
        >>> round(float(je.negativity(jnp.outer(bell, bell))), 12)
        0.5
    """
    if cut is not None:
        return negativity_cut(rho, cut)
    lam = _pt_eigenvalues(rho)
    return jnp.sum(jnp.maximum(-lam, 0), axis=-1)


def negativity_signed(rho):
    r"""Smooth signed negativity $n = -\lambda_{\min}(\rho^{T_c})$: equals $N$ where $N > 0$ (a two-qubit partial
    transpose has at most one negative eigenvalue) and stays informative (negative) on separable states, so its
    gradient is useful where that of $N = \max(0, n)$ vanishes. Generalises the $n$ of eq 16."""
    return -_pt_eigenvalues(rho)[..., 0]


def concurrence(rho):
    r"""Wootters concurrence $C = \max(0, \lambda_1 - \lambda_2 - \lambda_3 - \lambda_4)$, shape (...).

    $\lambda_i$ are the decreasing square roots of the eigenvalues of the Hermitian
    $\sqrt\rho\,\tilde\rho\sqrt\rho$ with $\tilde\rho = (\sigma_y\otimes\sigma_y)\rho^*(\sigma_y\otimes\sigma_y)$
    (Hermitian eigensolvers only, so it runs on every backend).
    """
    rho = check_square("rho", rho, 4)
    w, v = jnp.linalg.eigh(rho)
    sq = (v * jnp.sqrt(jnp.maximum(w, 0)).astype(v.dtype)[..., None, :]) @ _dag(v)
    yy = jnp.asarray([[0, 0, 0, -1], [0, 0, 1, 0], [0, 1, 0, 0], [-1, 0, 0, 0]], dtype=rho.dtype)
    rho_tilde = yy @ jnp.conj(rho) @ yy
    mu = jnp.linalg.eigvalsh(sq @ rho_tilde @ sq)
    lam = jnp.sqrt(jnp.maximum(mu, 0))  # clamp roundoff-negative eigenvalues to avoid nan
    return jnp.maximum(0, lam[..., 3] - lam[..., 2] - lam[..., 1] - lam[..., 0])


def _heat_currents(p: EngineParams, rho):
    H = _model._hamiltonian(p).astype(rho.dtype)
    A = _model._jump_operators(p).astype(rho.dtype)  # (..., 4, 4, 4): +h, -h, +c, -c
    r = rho[..., None, :, :]
    ada = _dag(A) @ A
    d = A @ r @ _dag(A) - 0.5 * (ada @ r + r @ ada)  # each jump's dissipator applied to rho
    q = jnp.einsum("...ij,...kji->...k", H, d).real
    return q[..., 0] + q[..., 1], q[..., 2] + q[..., 3]


def heat_currents(p: EngineParams, rho):
    r"""Heat flows $(Q_h, Q_c)$ from each bath into the qubits, $Q_j = \mathrm{Tr}[H\mathcal{D}_j\rho]$ with the full H.

    Args:
        p: parameters (batch shape must broadcast with that of `rho`).
        rho (array of shape (..., 4, 4)): states.
    """
    p, shape = prepare(p)
    rho = check_square("rho", rho, 4)
    shape = jnp.broadcast_shapes(shape, rho.shape[:-2])
    p = jax.tree.map(lambda x: jnp.broadcast_to(x, shape), p)
    rho = jnp.broadcast_to(rho, shape + (4, 4)).astype(complex_dtype(rho.dtype, p.eps_h.dtype))
    return _heat_currents(p, rho)


KERNELS = ("xla", "fused")


def check_kernel(kernel) -> str:
    """The `kernel` argument of `observables` and `scan`, checked before anything compiles."""
    if kernel not in KERNELS:
        raise ValueError(f"Argument `kernel` must be one of {KERNELS}, but is kernel={kernel!r}.")
    if kernel == "fused" and jax.default_backend() != "gpu" and not _fused.INTERPRET_OFF_GPU:
        raise ValueError(
            f"Argument kernel='fused' needs a GPU backend (Pallas Triton), but the default backend is "
            f"{jax.default_backend()!r}."
        )
    return kernel


FIELDS = Observables._fields
ALWAYS = ("residual", "ok")  # every call returns the health of each point


def check_fields(fields) -> tuple[str, ...]:
    """The `fields` argument of `observables` and `scan`: None (everything), a name, or a sequence of names; returned
    as a tuple in the canonical order of `Observables`, with `residual` and `ok` always included."""
    if fields is None:
        return FIELDS
    names = (fields,) if isinstance(fields, str) else fields
    try:
        names = tuple(names)
    except TypeError:
        raise ValueError(
            f"Argument `fields` must be None, a field name or a sequence of them, but is {fields!r}."
        ) from None
    unknown = [f for f in names if f not in FIELDS]
    if unknown or not names:
        raise ValueError(f"Argument `fields` must name fields of Observables {FIELDS}, but is fields={fields!r}.")
    return tuple(f for f in FIELDS if f in names or f in ALWAYS)


THROUGHPUT_MIN, path_for = chunks.THROUGHPUT_MIN, chunks.path_for  # the path policy lives with the kernel


def _impl(p: EngineParams, kernel: str = "xla", fields: tuple = FIELDS, path: str | None = None) -> Observables:
    # flat parameters -> Observables with the requested fields (None elsewhere). The throughput path solves in
    # blocks with the unrolled batch-last kernel (no LAPACK call per point, see `_solve.kernel`), the compact path with
    # rolled pure-JAX loops (`_solve.compact`); the fused kernel (`_observables.fused`, GPU only) runs the throughput
    # code as one
    # Pallas kernel. Unrequested outputs are not returned, so XLA removes whatever computes only them.
    path = path_for(p.eps_h.shape[0]) if path is None else path
    if kernel == "fused":
        o = _fused.fused_observables(p, interpret=jax.default_backend() != "gpu")
    elif path == "compact":
        o = compact.observables(_model._coefficients(p, axis=-1), fields)
    elif _model.DYNAMIC_BATH.get() is not None:  # the flag is per point: it goes through the blocks with p

        def block(batch):
            with _model.dynamic_bath(batch[1]):
                return fast.fast_observables(batch[0])

        o = chunks.blocked(block, (p, _model.DYNAMIC_BATH.get()))
    else:
        o = chunks.blocked(fast.fast_observables, p)
    want = set(fields)
    J = o["Q_h"] - o["Q_c"] if want & {"J", "witness"} else None
    J_c = _closed(p)["J_c"] if want & {"J_c", "witness"} else None  # parameters only (eq 18), independent of kappa
    values = dict(o, J=J, J_c=J_c, witness=witness_ratio(J, J_c) if "witness" in want else None)
    return Observables(*(values[f] if f in want else None for f in FIELDS))


_observables_impl = chunks.jit(_impl, static_argnames=("kernel", "fields", "path"))


def _any_bath(batch, kernel: str, fields: tuple, path: str):
    """`_impl` on (bosonic-typed parameters, per-point fermionic flag): one program for both baths."""
    p, fermionic = batch
    with _model.dynamic_bath(fermionic):
        return _impl(p, kernel=kernel, fields=fields, path=path)


# ONE padded size for the compact program: whatever the batch shape (and bath), an eager call compiles nothing new
# (one point costs the 128-point program, ~3 ms; larger batches run in chunks of 128 on every core)
COMPACT_BUCKET = 128
_compact_bucketed = _compile.bucketed(
    functools.partial(_any_bath, path="compact"),
    name="observables_compact",
    static_argnames=("kernel", "fields"),
    buckets=(COMPACT_BUCKET,),
)
_throughput_jit = jax.jit(
    functools.partial(_any_bath, path="throughput"), static_argnames=("kernel", "fields")
)


def observables(p: EngineParams, *, throw: bool = True, kernel: str = "xla", fields=None) -> Observables:
    r"""Exact numerical steady state of the engine and every observable of the paper, valid for any kappa.

    Args:
        p: parameters; every numeric field may be an array, and the broadcast shape is the shape of each result.
        throw: raise `RuntimeError` if the steady state failed at any point (else see `ok`).
        kernel: "xla" (default): the kernel of `_solve.kernel`, in blocks. "fused": EXPERIMENTAL, GPU only: the same
            computation as one Pallas (Triton) kernel that keeps every intermediate on the chip
            (`_observables.fused`); it has not yet been run on a GPU by us, see `bench/gpu.sh`.
        fields: None (everything), or the names of the `Observables` fields to compute, e.g. `("J", "negativity")`:
            only those (and what they need) are computed, the others are None; `residual` and `ok` always come.

    Returns:
        `Observables(rho, Q_h, Q_c, J, negativity, concurrence, J_c, witness, residual, ok)`.

    Two programs compute it, chosen by the number of points n (the same for eager and traced calls): below
    `THROUGHPUT_MIN` (65 536) a compact program (`_solve.compact`: Gauss-Jordan with one refinement step and Jacobi
    eigenvalues, rolled loops in pure JAX) that compiles in about a second; from there on the unrolled kernel of
    `_solve.kernel` (~10 s to compile once, then ~30x faster per point). Both agree to ~1e-14. Eager calls pad the batch
    to one bucket size (or fixed-size chunks), so a new batch shape compiles nothing new, and keep the executables in a
    disk cache (`jaxengine._compile`) for later processes.

    Examples:
        >>> import jaxengine as je
        >>> o = je.observables(je.EngineParams(T_h=0.7))
        >>> f"J = {float(o.J):.10e}, N = {float(o.negativity):.10e}"
        'J = 1.9948078937e-04, N = 8.9722638102e-04'
    """
    if isinstance(p, Network) or getattr(p, "master_equation", "local") != "local":
        return network_observables(p, throw=throw)  # n qubits or the global ME (issue 18, `.network`)
    check_kernel(kernel)
    fields = check_fields(fields)
    p, shape = prepare(p)
    p = flat(p)
    n = p.eps_h.shape[0]
    if _compile.is_traced(p):  # inside the user's jit/grad/vmap: part of the user's program, path by size
        out = unflat(_observables_impl(p, kernel=kernel, fields=fields), shape)
    elif kernel == "fused":
        out = chunks.split_over_threads(functools.partial(_observables_impl, kernel=kernel, fields=fields), p, shape)
    elif path_for(n) == "throughput":  # fixed-size chunks: one executable whatever the batch shape
        batch = _model.split_bath(p)
        out = chunks.run_throughput(
            "observables_throughput", _throughput_jit, batch, shape, kernel=kernel, fields=fields
        )
    else:  # buckets of the compact program
        out = unflat(_compact_bucketed(_model.split_bath(p), kernel=kernel, fields=fields), shape)
    if throw:
        raise_if_failed(out.ok, "observables")
    return out
