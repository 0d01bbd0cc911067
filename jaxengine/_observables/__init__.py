r"""Observables of a two-qubit state: heat currents, partial transpose, negativity, concurrence.

Heat currents use the FULL Hamiltonian that generates the dynamics (bare + exchange + tunnelling):
$Q_j = \mathrm{Tr}[H\,\mathcal{D}_j\rho]$. Only then does the first law $Q_h + Q_c = 0$ hold exactly in the steady
state; the bare Hamiltonian of the paper's eq 10 is off by up to ~12 % at $\delta \ne 0$ and gives a spurious current
at $g = 0$ when $\kappa \ne 0$.
"""

import functools

import jax
import jax.numpy as jnp

from .. import _fused, _kernel, _model
from .._analytic import Observables, _closed, witness_ratio
from .._checks import check_square, complex_dtype, flat, prepare
from .._liouvillian import _dag
from .._params import EngineParams
from .._steady import raise_if_failed


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


def negativity(rho):
    r"""Negativity $N(\rho) = \sum_{\lambda_i < 0}|\lambda_i|$ over the spectrum of the partial transpose (eq 14).

    Args:
        rho (array of shape (..., 4, 4)): two-qubit density matrices.

    Returns:
        (array of shape (...)) values in $[0, 1/2]$.

    Examples:
        >>> import jax.numpy as jnp, jaxengine as je
        >>> bell = jnp.array([1, 0, 0, 1]) / jnp.sqrt(2)
        >>> round(float(je.negativity(jnp.outer(bell, bell))), 12)
        0.5
    """
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


@functools.partial(_kernel.jit, static_argnames=("kernel",))
def _observables_impl(p: EngineParams, kernel: str = "xla") -> Observables:
    # One batch-last solve and every observable from its real Pauli vector (heat currents as sparse bilinear forms,
    # PT spectrum and concurrence by batch-last Jacobi): no LAPACK call per point, see `_kernel`. The fused kernel
    # (`_fused`, GPU only) runs the same code as one Pallas kernel over the whole batch.
    if kernel == "fused":
        o = _fused.fused_observables(p, interpret=jax.default_backend() != "gpu")
    else:
        o = _kernel.blocked(_kernel.fast_observables, p)
    J = o["Q_h"] - o["Q_c"]
    J_c = _closed(p)["J_c"]  # parameters only (eq 18), independent of kappa
    return Observables(
        o["rho"],
        o["Q_h"],
        o["Q_c"],
        J,
        o["negativity"],
        o["concurrence"],
        J_c,
        witness_ratio(J, J_c),
        o["residual"],
        o["ok"],
    )


def observables(p: EngineParams, *, throw: bool = True, kernel: str = "xla") -> Observables:
    r"""Exact numerical steady state of the engine and every observable of the paper, valid for any kappa.

    Args:
        p: parameters; every numeric field may be an array, and the broadcast shape is the shape of each result.
        throw: raise `RuntimeError` if the steady state failed at any point (else see `ok`).
        kernel: "xla" (default): the kernel of `_kernel`, in blocks. "fused": EXPERIMENTAL, GPU only: the same
            computation as one Pallas (Triton) kernel that keeps every intermediate on the chip (`_fused`); it has
            not yet been run on a GPU by us, see `bench/gpu.sh`.

    Returns:
        `Observables(rho, Q_h, Q_c, J, negativity, concurrence, J_c, witness, residual, ok)`.

    Examples:
        >>> import jaxengine as je
        >>> o = je.observables(je.EngineParams(T_h=0.7))
        >>> f"J = {float(o.J):.10e}, N = {float(o.negativity):.10e}"
        'J = 1.9948078937e-04, N = 8.9722638102e-04'
    """
    check_kernel(kernel)
    p, shape = prepare(p)
    out = _kernel.split_over_threads(functools.partial(_observables_impl, kernel=kernel), flat(p), shape)
    if throw:
        raise_if_failed(out.ok, "observables")
    return out
