r"""Time evolution of the engine: exact propagation of the real Pauli-basis generator, and its relaxation rate.

In the real basis of `_generator.pauli` ($\rho = \frac14\sum_k x_kP_k$, $x_0 = 1$) the master equation is $\dot x = Mx$
with the real 16×16 generator $M(\theta) = \sum_k\theta_kB_k$ of the steady state, whose first row vanishes. With the
steady state $x_{ss}$ (`_solve.kernel`'s exact solve) and the trace-eliminated block $A = M_{1:,1:}$, the deviation $d =
x_{1:} - x_{ss,1:}$ obeys $\dot d = Ad$, so

$$x(t) = x_{ss} + \begin{pmatrix}0\\ e^{At}\,d(0)\end{pmatrix}.$$

**Exact propagation, not ODE stepping.** $e^{At}$ is computed by scaling and squaring of the degree-18 Taylor polynomial
(`_linalg.expm`: matrix products only, no LAPACK, so chunks can run in threads at once), accurate to float64's unit
roundoff for any matrix. This is exact at $t = 0$ ($e^{0} = I$ exactly), at large $t$ (every mode of $A$ decays, the
squarings drive $e^{At}$ to 0 and $x(t)$ to the steady state itself, never away from it), and for defective or
near-degenerate spectra, where an eigendecomposition would lose accuracy with its eigenvector condition number. (The
default Fig 2 point already has an exactly double real eigenvalue.) Two schedules, chosen eagerly from concrete times:

- *uniform* times $t_k = t_0 + kh$ (``linspace``): two exponentials per engine, $e^{At_0}$ and $e^{Ah}$ (one when
  $t_0 = 0$), then $d_{k+1} = e^{Ah}d_k$ in a `lax.scan`. Rounding accumulates as ~k eps (1e-14 after 100 steps).
- *any* other times, or traced ones: one exponential per (engine, time), no accumulation at all.

An eigendecomposition ($x(t) = x_{ss} + Ve^{\Lambda t}V^{-1}d_0$) is not used: `jnp.linalg.eig` costs ~0.1 ms per
15×15 matrix on CPU (LAPACK geev, 5× one exponential), JAX differentiates its eigenvectors only under an opt-in that
assumes distinct eigenvalues, and it needs a condition-number check with a fallback anyway.

**Two programs for eager calls, one for traced ones.** An eager call runs the propagation per engine
(`states_impl`: steady state, exponentials, steps; buckets of engines) and then the observables per state
(`observe_impl`: heat currents, N, C and rho of the T requested times only; buckets of states), each compiled once
per bucket and kept in `_compile`'s executable cache, chunks of the largest bucket on every core. The eager
exponentials take exactly the squarings each batch needs (`expm(..., squarings=None)`), so neither a new time span
nor a new number of times or engines compiles anything once the buckets exist. Traced calls (the user's `jit`,
`grad`, `vmap`) run the whole evolution as one program (`evolve_impl`) with a fixed `TRACED_SQUARINGS`.

**Failures are data.** `ok` at each time requires the steady state to be ok, every exponential to have had enough
squarings (always so for eager calls; traced calls have `TRACED_SQUARINGS`, enough for
$\|A\|_1 t \le 1.2\times10^{12}$), a finite result, and a state with purity
$\mathrm{Tr}\rho^2 = \|x\|^2/4 \le 1$ to roundoff (a cheap necessary condition of positivity).

**Derivatives.** Everything is plain JAX (matrix products and loops with static trip counts), so `jax.grad` and
`jacfwd` work with respect to every parameter, the times and the initial state, in both modes and to any order.
The number of squarings is piecewise constant in $\|At\|$ (a `stop_gradient`): the derivative is that of the
approximant, which equals the exact one to the approximant's accuracy.
"""

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .. import _compile
from .._checks import check_square, complex_dtype, is_concrete, raise_if_failed, unflat
from .._generator import pauli
from .._linalg import jacobi
from .._linalg.expm import expm, expm_batch_last
from .._linalg.unrolled import _materialise
from .._models import engine as _model
from .._models.params import flat, prepare
from .._observables import fast, xstate
from .._observables.closed_forms import Observables, _closed, witness_ratio
from . import chunks
from . import kernel as _kernel

TRACED_SQUARINGS = 40  # traced calls (a fixed trip count): enough for ||A||_1 t <= 1.09 * 2^40


class Relaxation(NamedTuple):
    r"""Result of `relaxation`.

    Attributes:
        rate: (array of shape (...)) the Liouvillian gap, smallest $-\mathrm{Re}\,\lambda$ over the non-zero
            eigenvalues $\lambda$ of the generator.
        time: (array of shape (...)) the relaxation time 1/rate.
        ok: (bool array of shape (...)) finite, positive gap (the steady state is unique).
    """

    rate: jax.Array
    time: jax.Array
    ok: jax.Array


def time_bucket(n: int) -> int:
    """Number of time slots a program is compiled for: 1, 2, 4, 8, then multiples of 8 up to 128, then of 32 (every
    slot costs the observables of one state per engine, so the padding is kept under ~15 %)."""
    if n <= 8:
        return 1 << max(0, (n - 1).bit_length())
    step = 8 if n <= 128 else 32
    return -(-n // step) * step


def plan(times):
    """Choice of the schedule: (mode, t0, h, squarings) from concrete times ("uniform" for a `linspace`, else "any"),
    the generic plan for traced ones. `squarings` is the fixed count of the traced program (`evolve_impl`); eager
    calls run exactly the squarings each batch needs (`run`)."""
    T = times.shape[0]
    if not is_concrete(times):
        return "any", None, None, TRACED_SQUARINGS
    t = np.asarray(times, dtype=float)
    mode, t0, h = "any", None, None
    if T >= 2:
        h = (t[-1] - t[0]) / (T - 1)
        k = np.arange(T)
        if h > 0 and np.all(np.abs(t - (t[0] + k * h)) <= 8 * np.finfo(float).eps * max(abs(t[-1]), 1.0)):
            mode, t0 = "uniform", float(t[0])
    return mode, t0, h, TRACED_SQUARINGS


def steady_and_generator(p):
    """(theta (B, 9), A (B, 15, 15), x_ss (B, 16), residual (B,), ok (B,)) of flat prepared parameters."""
    theta = _model._coefficients(p)
    M = jnp.einsum("bk,kij->bij", theta, jnp.asarray(pauli.GENERATORS, dtype=theta.dtype))

    def one_block(q):
        x, residual, ok = _kernel.fast_solve(q)
        return x.T, residual, ok

    flag = _model.DYNAMIC_BATH.get()
    if flag is None:
        x_ss, residual, ok = chunks.blocked(one_block, p)
    else:  # the bath is data (`_model.dynamic_bath`): the per-point flag goes through the blocks with p

        def block(batch):
            with _model.dynamic_bath(batch[1]):
                return one_block(batch[0])

        x_ss, residual, ok = chunks.blocked(block, (p, flag))
    return theta, M[:, 1:, 1:], x_ss, residual, ok


def _expm(X, squarings):
    return expm(X, squarings)


def propagate(A, d0, times, *, mode: str, squarings: int, t0=None, h=None, from_zero=False):
    r"""$e^{At}d_0$ at every time: A (B, n, n), d0 (B, n); returns (d (B, T, n), ok (B, T)).

    `mode="any"`: times (B, T), one exponential each. `mode="uniform"`: t0, h (B,), T = times.shape[1] slots
    $t_0 + kh$ (times itself unused); `from_zero` (static) skips $e^{At_0}$ when $t_0 = 0$.
    """
    B, T = times.shape
    if mode == "any":
        E, ok = _expm(A[:, None] * times[:, :, None, None], squarings)
        return jnp.einsum("btij,bj->bti", E, d0), ok
    if from_zero:
        E, ok = _expm(A * h[:, None, None], squarings)
        step, d = E, d0
    else:
        E, ok = _expm(jnp.stack([A * t0[:, None, None], A * h[:, None, None]]), squarings)  # ONE batched call
        step, d = E[1], jnp.einsum("bij,bj->bi", E[0], d0)
        ok = ok[0] & ok[1]

    def advance(d, _):
        return jnp.einsum("bij,bj->bi", step, d), d

    _, ds = jax.lax.scan(advance, d, None, length=T)
    return jnp.swapaxes(ds, 0, 1), jnp.broadcast_to(ok[:, None], (B, T))


def propagate_batch_last(A, d0, times, *, mode: str, squarings, t0=None, h=None, from_zero=False):
    """`propagate` in batch-last arithmetic, for small n (the X subspace): the same arguments and results.

    The matrices are (n, n, B) arrays and d is (n, B): each product is n broadcast FMAs (`_linalg.expm
    .expm_batch_last`), each step n, all of them fused loops along the engines; XLA:CPU's batched `@` of small
    matrices instead costs per matrix whatever n is (1000 7x7 products take as long as 1000 15x15 ones).
    """
    B, T = times.shape
    n = A.shape[-1]
    At = jnp.moveaxis(A, 0, -1)  # (n, n, B)
    d0 = d0.T  # (n, B)

    def apply(E, d):  # E d for E (n, n, m), d (n, m)
        return functools.reduce(jnp.add, [E[:, j] * d[j][None] for j in range(n)])

    if mode == "any":
        E, ok = expm_batch_last((At[..., None] * times[None, None]).reshape(n, n, B * T), squarings)
        ds = apply(E, jnp.broadcast_to(d0[..., None], (n, B, T)).reshape(n, B * T))
        return jnp.moveaxis(ds.reshape(n, B, T), 0, -1), ok.reshape(B, T)
    if from_zero:
        step, ok = expm_batch_last(At * h[None, None], squarings)
        d = d0
    else:
        both = jnp.concatenate([At * t0[None, None], At * h[None, None]], axis=-1)  # ONE call for both
        E, ok = expm_batch_last(both, squarings)
        step, ok = E[..., B:], ok[:B] & ok[B:]
        d = apply(E[..., :B], d0)

    def advance(d, _):
        return _materialise(apply(step, d)), d

    _, ds = jax.lax.scan(advance, d, None, length=T)  # (T, n, B)
    return jnp.transpose(ds, (2, 0, 1)), jnp.broadcast_to(ok[:, None], (B, T))


# The X subspace of the trace-eliminated system (`_observables.xstate`): invariant under A when kappa_h = kappa_c = 0
X_ROWS = np.array(xstate.X_INDICES[1:]) - 1


def evolve_pauli(p, x0, times, *, mode, squarings, t0=None, h=None, from_zero=False, x_only=False):
    """Pauli vectors x(t) (B, T, 16), and (theta, residual, ok (B, T)) for flat prepared parameters and x0 (B, 16).

    `x_only` (static; for kappa_h = kappa_c = 0 and X-shaped x0 only, which the caller checks): the propagation runs
    on the 7 components of the X subspace, which A leaves invariant there (the other 8 of d are exactly 0 at all
    times), so each exponential is a 7x7 instead of a 15x15 problem, in batch-last arithmetic
    (`propagate_batch_last`)."""
    theta, A, x_ss, residual, ss_ok = steady_and_generator(p)
    d0 = x0[:, 1:] - x_ss[:, 1:]
    if x_only:
        A_x, d0_x = A[:, X_ROWS][:, :, X_ROWS], d0[:, X_ROWS]
        d, ok = propagate_batch_last(A_x, d0_x, times, mode=mode, squarings=squarings, t0=t0, h=h, from_zero=from_zero)
        d = jnp.zeros(d.shape[:-1] + (15,), d.dtype).at[..., X_ROWS].set(d)
    else:
        d, ok = propagate(A, d0, times, mode=mode, squarings=squarings, t0=t0, h=h, from_zero=from_zero)
    x = jnp.concatenate([jnp.ones_like(d[..., :1]), x_ss[:, None, 1:] + d], axis=-1)
    purity = jnp.sum(x * x, axis=-1) / 4
    ok = ok & ss_ok[:, None] & jnp.all(jnp.isfinite(x), axis=-1) & (purity <= 1 + 1e-9)
    return x, theta, residual, ok


@_compile.bucketed(name="relaxation", threads=False)
def relaxation_impl(p) -> Relaxation:
    """`Relaxation` of flat prepared parameters: eigenvalues of the trace-eliminated block A (those of M but its 0).
    LAPACK (`eigvals`): the chunks of a large batch run one after another (`threads=False`; concurrent batched
    LAPACK calls have hung on small machines, `_linalg.dense`)."""
    theta = _model._coefficients(p)
    M = jnp.einsum("bk,kij->bij", theta, jnp.asarray(pauli.GENERATORS, dtype=theta.dtype))
    lam = jnp.linalg.eigvals(M[:, 1:, 1:])
    rate = jnp.min(-lam.real, axis=-1)
    ok = jnp.isfinite(rate) & (rate > 0)
    safe = jnp.where(ok, rate, 1)
    return Relaxation(rate, jnp.where(ok, 1 / safe, jnp.inf), ok)


# ---------------------------------------------------------------------------------------------------------------------
# Observables along the trajectory, and the public functions.


COMPACT = 64  # points per block whose N is re-swept to convergence on their own (`_lambda_min`)


def _lambda_min_primal(x):
    r"""Smallest eigenvalue of the partial transpose of the states x (16, n), to the kernel's accuracy.

    The throughput kernel's converged Jacobi (`_observables.fast`) sweeps a whole block once more as soon as ONE of
    its points has not converged after `N_SWEEPS` sweeps (its rigorous second-order bound). Steady states almost
    never need that; states early in a transient from a pure state (a PT spectrum with a nearly triple eigenvalue 0)
    often do: in `bench/transient.py` 32 of 28 000 states, but in 10 of the 14 blocks, so that 30 % of N's time went
    into extra sweeps of converged points. Here the `N_SWEEPS` sweeps run on every point, and only the (at most
    `COMPACT`) points that have not converged are gathered and swept to convergence by the kernel's own function; a
    block with more than `COMPACT` such points takes the kernel's path as a whole. The result meets the same bound
    at every point.
    """
    d, o = jacobi._jacobi_sweeps(*pauli._hermitian_from_pauli(x, pauli.PT_SIGN), fast.N_SWEEPS)
    est, (lhs, rhs) = jacobi._second_order(d, o)
    norm = jnp.sqrt(sum(v * v for v in d) + 2 * jacobi._off2(o))
    tol = 16 * jnp.finfo(x.dtype).eps
    done = functools.reduce(jnp.logical_and, [a <= tol * norm * b for a, b in zip(lhs, rhs, strict=True)])
    redo = ~done & jnp.isfinite(norm)
    lam = functools.reduce(jnp.minimum, est)
    k = min(COMPACT, x.shape[1])
    (idx,) = jnp.nonzero(redo, size=k, fill_value=0)  # padding re-sweeps point 0: the same value to roundoff
    compact = lambda: lam.at[idx].set(fast._pt_lambda_min_primal(x[:, idx]))  # noqa: E731
    return jax.lax.cond(jnp.sum(redo) > k, lambda: fast._pt_lambda_min_primal(x), compact)


@jax.custom_jvp
def _lambda_min(x):
    return _lambda_min_primal(x)


@_lambda_min.defjvp
def _lambda_min_jvp(primals, tangents):
    (x,), (dx,) = primals, tangents
    lam = _lambda_min(x)
    return lam, fast.lambda_min_tangent(x, dx, lam)  # the kernel's implicit rule (exact, any order)


def _observe_rows(theta, x):
    """Heat currents (full H), negativity, concurrence and rho from batch-last theta (9, n) and x (16, n)."""
    Q_h, Q_c = fast._heat_from_pauli(theta, x)
    return dict(
        Q_h=Q_h,
        Q_c=Q_c,
        negativity=jnp.maximum(-_lambda_min(x), 0),
        concurrence=fast._concurrence_from_pauli(x),
        rho=pauli.rho_from_pauli_batch_last(x),
    )


def _observe_x_rows(theta, x):
    """`_observe_rows` for X states (`_observables.xstate`): N and C in closed form instead of two Jacobi problems."""
    Q_h, Q_c = fast._heat_from_pauli(theta, x)
    return dict(
        Q_h=Q_h,
        Q_c=Q_c,
        negativity=xstate.negativity_x(x),
        concurrence=xstate.concurrence_x(x),
        rho=xstate.rho_x(x),
    )


def observe(theta, x, block=None):
    """Observables of states x (n, 16) under generators theta (n, 9), in blocks of `block_size()` points."""
    n = x.shape[0]
    block = chunks.block_size() if block is None else block
    if n <= block:
        return _observe_rows(theta.T, x.T)
    nb = -(-n // block)
    pad = nb * block - n

    def split(v):  # (n, k) -> (nb, k, block), padding with copies of the first point (a valid state)
        return jnp.swapaxes(chunks.pad_points(v.T, pad).reshape(v.shape[1], nb, block), 0, 1)

    out = jax.lax.map(lambda a: _observe_rows(*a), (split(theta), split(x)))
    return jax.tree.map(lambda y: y.reshape((nb * block,) + y.shape[2:])[:n], out)


@functools.partial(jax.jit, static_argnames=("mode", "squarings", "from_zero"))
def evolve_impl(batch, *, mode, squarings, from_zero):
    """`Observables` of shape (B, T) for batch = (flat prepared p (B,), x0 (B, 16), times (B, T), t0 (B,), h (B,)):
    the whole evolution as ONE program, for traced calls (compiled into the caller's jit, grad or vmap)."""
    p, x0, times, t0, h = batch
    x, theta, residual, ok = evolve_pauli(p, x0, times, mode=mode, squarings=squarings, t0=t0, h=h, from_zero=from_zero)
    B, T = ok.shape
    o = observe(jnp.repeat(theta, T, axis=0), x.reshape(B * T, 16))
    o = {k: v.reshape((B, T) + v.shape[1:]) for k, v in o.items()}
    J = o["Q_h"] - o["Q_c"]
    J_c = jnp.broadcast_to(_closed(p)["J_c"][:, None], (B, T))
    return Observables(
        o["rho"],
        o["Q_h"],
        o["Q_c"],
        J,
        o["negativity"],
        o["concurrence"],
        J_c,
        witness_ratio(J, J_c),
        jnp.broadcast_to(residual[:, None], (B, T)),
        ok,
    )


# Eager calls run in two programs, each compiled once per bucket and kept in `_compile`'s executable cache: the
# propagation per engine (`states_impl`, buckets of engines), then the observables per state (`observe_impl`, buckets
# of states, whatever the number of times). Batches beyond the largest bucket run in chunks on every core
# (`_compile.bucketed`). The observables, ~80 % of the time, see only the T requested times (not the padded time
# slots of the propagation), and a new T or batch size compiles nothing once both buckets exist.
STATE_BUCKETS = (8, 64, 128)
OBSERVE_BUCKETS = (256, 2048)  # 2048 states: one block of the kernel


@_compile.bucketed(
    name="evolve_states",
    static_argnames=("mode", "squarings", "from_zero", "x_only"),
    compiler_options=chunks.COMPILER_OPTIONS,
    buckets=STATE_BUCKETS,
)
def states_impl(batch, *, mode, squarings, from_zero, x_only=False):
    """(x (B, T, 16), theta (B, 9), residual (B,), ok (B, T), J_c (B,)) for batch as in `evolve_impl`, but with
    (bosonic-typed p, fermionic flag (B,)) for p (`_model.split_bath`): one program serves both baths."""
    (p, fermionic), x0, times, t0, h = batch
    with _model.dynamic_bath(fermionic):
        x, theta, residual, ok = evolve_pauli(
            p, x0, times, mode=mode, squarings=squarings, t0=t0, h=h, from_zero=from_zero, x_only=x_only
        )
        return x, theta, residual, ok, _closed(p)["J_c"]


@_compile.bucketed(name="evolve_observables", compiler_options=chunks.COMPILER_OPTIONS, buckets=OBSERVE_BUCKETS)
def observe_impl(batch):
    """Q_h, Q_c, negativity, concurrence (n,) and rho (n, 4, 4) of states x (n, 16) under theta (n, 9)."""
    theta, x = batch
    return _observe_rows(theta.T, x.T)


# closed forms need no cache blocking: larger chunks, fewer dispatches
OBSERVE_X_BUCKETS = (256, 2048, 8192)


@_compile.bucketed(name="evolve_observables_x", compiler_options=chunks.COMPILER_OPTIONS, buckets=OBSERVE_X_BUCKETS)
def observe_x_impl(batch):
    """`observe_impl` for X states (`_observables.xstate`): the negativity and the concurrence in closed form."""
    theta, x = batch
    return _observe_x_rows(theta.T, x.T)


def x_only(p, x0) -> bool:
    """Whether an eager batch may take the X-state programs: kappa_h = kappa_c = 0 at every point and X-shaped
    initial states (then every state of the evolution is an X state, `_observables.xstate`)."""
    return bool(np.all(np.asarray(p.kappa_h) == 0) and np.all(np.asarray(p.kappa_c) == 0)) and xstate.is_x_state(x0)


def run(batch, T: int, *, mode, squarings, from_zero) -> Observables:
    """`Observables` of shape (B, T) (the first T time slots) for batch as in `evolve_impl`: traced inputs run
    `evolve_impl` inside the caller's trace; concrete ones the two cached programs above (`squarings=None`: exactly
    the squarings each batch needs, one program for every time span)."""
    if _compile.is_traced(batch):
        out = evolve_impl(batch, mode=mode, squarings=squarings, from_zero=from_zero)
        return jax.tree.map(lambda v: v[:, :T], out)
    p, *rest = batch
    xs = x_only(p, rest[0])  # kappa = 0 from an X state: 7x7 exponentials and closed-form N and C
    # NumPy results (`.host`): reshaped here, then taken over by JAX without a copy where aligned (`_as_jax`)
    x, theta, residual, ok, J_c = states_impl.host(
        (_model.split_bath(p), *rest), mode=mode, squarings=None, from_zero=from_zero, x_only=xs
    )
    B = x.shape[0]
    states = np.ascontiguousarray(x[:, :T]).reshape(B * T, 16)
    o = (observe_x_impl if xs else observe_impl).host((np.repeat(theta, T, axis=0), states))
    o = {k: v.reshape((B, T) + v.shape[1:]) for k, v in o.items()}
    J = o["Q_h"] - o["Q_c"]
    J_c = np.broadcast_to(J_c[:, None], (B, T))
    pos = J_c > 0
    witness = np.where(pos, np.abs(J) / np.where(pos, J_c, 1), 0)  # `witness_ratio` in NumPy (no eager JAX op)
    fields = (
        o["rho"],
        o["Q_h"],
        o["Q_c"],
        J,
        o["negativity"],
        o["concurrence"],
        J_c,
        witness.astype(J.dtype),
        np.broadcast_to(residual[:, None], (B, T)),
        ok[:, :T],
    )
    return Observables(*(_as_jax(v) for v in fields))


def _as_jax(v) -> jax.Array:
    """A NumPy result as a JAX array: without a copy when it is writable, contiguous and 64-byte aligned (the chunked
    outputs of `_compile.bucketed`), else a copy (`jnp.asarray` would compile a copy program per shape)."""
    if v.flags.writeable and v.flags.c_contiguous and v.ctypes.data % 64 == 0 and jax.default_backend() == "cpu":
        return jax.dlpack.from_dlpack(v)
    return jax.device_put(np.ascontiguousarray(v))


def check_times(times) -> jax.Array:
    """`times` as a 1-D real array; concrete values must be finite and >= 0."""
    # concrete input stays NumPy: `jnp.asarray` of a NumPy array compiles a small copy program per shape
    t = times if isinstance(times, jax.core.Tracer) else np.asarray(times)
    if t.ndim != 1 or t.shape[0] == 0:
        raise ValueError(f"Argument `times` must be a non-empty 1-D array, but has shape times.shape={t.shape}.")
    if jnp.issubdtype(t.dtype, jnp.complexfloating) or not jnp.issubdtype(t.dtype, jnp.number):
        raise TypeError(f"Argument `times` must be real, but has dtype {t.dtype}.")
    if is_concrete(t):
        a = np.asarray(t)
        if not np.all(np.isfinite(a)) or np.any(a < 0):
            raise ValueError(f"Argument `times` must be finite and >= 0, but got times={a!r}.")
        return a  # NumPy: the eager code that follows runs no JAX operation (each would compile per shape)
    return t


GROUND = np.zeros(16)
GROUND[[0, 3, 12, 15]] = (1.0, -1.0, -1.0, 1.0)  # |00>: <II> = 1, <IZ> = <ZI> = -1, <ZZ> = 1


def initial_pauli(rho0, dtype) -> jax.Array:
    """Pauli vector (..., 16) of `rho0` (default |00>), checked to be a density matrix when concrete."""
    if rho0 is None:
        return GROUND.astype(dtype)
    if not isinstance(rho0, jax.core.Tracer):
        rho0 = jax.device_put(np.asarray(rho0))  # (`jnp.asarray` of NumPy input would compile a copy per shape)
    rho0 = check_square("rho0", rho0, 4)
    if is_concrete(rho0):
        r = np.asarray(rho0).astype(complex)
        herm = np.abs(r - np.conj(np.swapaxes(r, -1, -2))).max()
        tr = np.abs(np.trace(r, axis1=-2, axis2=-1) - 1).max()
        lam = np.linalg.eigvalsh((r + np.conj(np.swapaxes(r, -1, -2))) / 2).min()
        if herm > 1e-10 or tr > 1e-10 or lam < -1e-10:
            raise ValueError(
                "Argument `rho0` must be a density matrix (Hermitian, trace 1, positive semidefinite), but has "
                f"max |rho - rho^dag| = {herm:.2e}, max |Tr rho - 1| = {tr:.2e}, min eigenvalue = {lam:.2e}."
            )
        P = np.asarray(pauli.PAULI)  # concrete: NumPy (an eager jnp op would compile a program per shape)
        x = np.einsum("kij,...ji->...k", P, r).real
        return x.astype(dtype)
    P = jnp.asarray(pauli.PAULI, dtype=complex_dtype(rho0.dtype, dtype))
    x = jnp.einsum("kij,...ji->...k", P, rho0.astype(P.dtype)).real
    return x.astype(dtype)


def _broadcast(p, x0):
    """(flat p (B,), x0 (B, 16), batch shape) with the batch shapes of p and x0 broadcast (NumPy when concrete)."""
    p, shape = prepare(p)
    x0 = initial_pauli(x0, p.eps_h.dtype)
    try:
        shape = tuple(np.broadcast_shapes(shape, x0.shape[:-1]))
    except ValueError:
        raise ValueError(f"The batch shapes of `p` {shape} and `rho0` {x0.shape[:-1]} do not broadcast.") from None
    concrete = all(is_concrete(v) for v in jax.tree.leaves((p, x0)))
    xp = np if concrete else jnp
    p = jax.tree.map(lambda v: xp.broadcast_to(v, shape), p)
    x0 = xp.broadcast_to(x0, shape + (16,)).reshape(-1, 16)
    return flat(p), x0, shape


def evolve(p, times, *, rho0=None, throw: bool = True) -> Observables:
    r"""Exact time evolution of the engine from `rho0`, with every observable at each of `times`.

    $$\rho(t) = e^{\mathcal{L}t}\rho_0, \qquad x(t) = x_{ss} + \begin{pmatrix}0\\ e^{At}(x_{1:}(0) -
    x_{ss,1:})\end{pmatrix}$$

    in the real Pauli basis (module docstring): exact at any time from 0 to $10^8/\varepsilon_h$ and beyond, for
    any spectrum (scaling and squaring, not ODE stepping). Heat currents use the full H as in the steady state; in a
    transient they do not cancel: $Q_h + Q_c = \frac{d}{dt}\mathrm{Tr}[H\rho(t)]$.

    Args:
        p: parameters; any batch shape (the broadcast shape of its fields and of `rho0`'s leading axes).
        times (array of shape (T,)): times $\ge 0$ (units of $1/\varepsilon_h$). Evenly spaced times (``linspace``)
            take two matrix exponentials per engine, other times one per (engine, time).
        rho0 (array of shape (..., 4, 4), optional): initial states; default $|00\rangle\langle00|$ (both qubits in
            their ground state).
        throw: raise `RuntimeError` if any point failed (else see `ok`).

    Returns:
        `Observables` whose fields have shape batch + (T,) (`rho`: batch + (T, 4, 4)). `J_c` is eq 18 (parameters
        only); `witness` is $|J(t)|/J_c$; `residual` is that of the steady state the deviation is measured from;
        `ok` requires that steady state, enough squarings, a finite state and purity $\le 1$ at that time.

    Examples:
        >>> import numpy as np, jaxengine as je
        >>> o = je.evolve(je.EngineParams(T_h=0.7), np.array([0.0, 1e3, 1e8]))
        >>> o.negativity.shape, [f"{v:.6e}" for v in o.negativity.tolist()]
        ((3,), ['0.000000e+00', '7.030024e-04', '8.972264e-04'])
    """
    times = check_times(times)
    p, x0, shape = _broadcast(p, rho0)
    T = times.shape[0]
    concrete = all(is_concrete(v) for v in jax.tree.leaves((p, x0, times)))
    # eager calls need no norm bound: their squarings follow the batch (`run`); traced parameters take the fixed plan
    mode, t0, h, squarings = plan(times)
    slots = time_bucket(T)
    B = x0.shape[0]
    dtype = p.eps_h.dtype
    xp = np if concrete else jnp
    if mode == "uniform":
        tt = np.zeros((B, slots), dtype)
        t0a, ha = np.full((B,), t0, dtype), np.full((B,), h, dtype)
    else:
        tt = xp.concatenate([times.astype(dtype), xp.broadcast_to(times[-1:].astype(dtype), (slots - T,))])
        tt = xp.broadcast_to(tt, (B, slots))
        t0a = ha = np.zeros((B,), dtype)
    out = run((p, x0, tt, t0a, ha), T, mode=mode, squarings=squarings, from_zero=mode == "uniform" and t0 == 0)
    out = unflat(out, shape)
    if throw:
        raise_if_failed(out.ok, "evolve", "the steady state is not unique, or the propagation lost accuracy")
    return out


def relaxation(p) -> Relaxation:
    r"""The Liouvillian gap and the relaxation time.

    $$\Delta = \min_{\lambda \ne 0} (-\mathrm{Re}\,\lambda), \qquad \tau = 1/\Delta,$$

    over the eigenvalues $\lambda$ of the generator (those of the trace-eliminated real block $A$: the full 16×16
    generator adds only the steady state's 0). The deviation from the steady state decays as $e^{-\Delta t}$ at late
    times. Differentiable (JAX's eigenvalue derivative, exact where the slowest eigenvalue is simple or one of a
    complex-conjugate pair).

    Args:
        p: parameters, any batch shape.

    Returns:
        `Relaxation(rate, time, ok)`, each of the batch shape.

    Examples:
        >>> import jaxengine as je
        >>> r = je.relaxation(je.EngineParams(T_h=0.7))
        >>> f"{float(r.rate):.6e} {float(r.time):.2f}"
        '1.365985e-03 732.07'
    """
    p, shape = prepare(p)
    return unflat(relaxation_impl(flat(p)), shape)


class TimeTo(NamedTuple):
    r"""Result of `time_to`.

    Attributes:
        time: (array of shape (...)) first time at which the observable reaches `fraction` of its steady-state
            value (nan where it does not within `t_max`, or where the steady-state value is 0).
        ok: (bool array of shape (...)) a crossing was found and bracketed to roundoff.
    """

    time: jax.Array
    ok: jax.Array


TIME_TO_OBSERVABLES = ("negativity", "concurrence", "J", "Q_h", "Q_c", "witness")


def _run_per_engine(p, x0, times, mode, squarings, t0=None, h=None):
    """`run` on flat inputs with per-engine times (B, T) (mode "any") or per-engine t0, h (mode "uniform")."""
    B, T = times.shape
    zeros = np.zeros((B,), p.eps_h.dtype)
    t0 = zeros if t0 is None else t0
    h = zeros if h is None else h
    return run((p, x0, times, t0, h), T, mode=mode, squarings=squarings, from_zero=False)


def time_to(p, observable: str = "negativity", fraction: float = 0.5, *, rho0=None, t_max=None, n_scan: int = 256):
    r"""First time at which `observable` reaches `fraction` of its steady-state value, starting from `rho0`.

    $$t^* = \min\{t \ge 0 : O(t)/O_{ss} \ge f\}.$$

    The trajectory is sampled at `n_scan` evenly spaced times in $[0, t_{\max}]$ (default $t_{\max} = 30/\Delta$,
    thirty relaxation times, per point), and the first sampled crossing is then bisected to roundoff with `evolve`
    at one time per point. Oscillations faster than the sampling step ($t_{\max}/n_{scan}$; at $\kappa \ne 0$
    they have period ~$2\pi/\varepsilon$) can hide an earlier crossing: raise `n_scan` or lower `t_max` if that
    matters. Not differentiable as a whole (an eager search); its derivative is that of the implicit function
    theorem, $dt^*/d\theta = -\partial_\theta O/\partial_t O$, both available from `jax.jacfwd` of `evolve`.

    Args:
        p: parameters, any batch shape (concrete).
        observable: one of "negativity", "concurrence", "J", "Q_h", "Q_c", "witness".
        fraction: the fraction f of the steady-state value.
        rho0 (array of shape (..., 4, 4), optional): initial states (default |00>).
        t_max: end of the search (a number, or an array of the batch shape); default 30 relaxation times.
        n_scan: samples of the first pass.

    Returns:
        `TimeTo(time, ok)`, each of the batch shape.

    Examples:
        >>> import jaxengine as je
        >>> r = je.time_to(je.EngineParams(T_h=0.7), "negativity", 0.5)
        >>> f"{float(r.time):.4f}", bool(r.ok)
        ('658.0884', True)
    """
    from .._observables import observables  # the steady state's observables (a layer above: imported lazily)

    if observable not in TIME_TO_OBSERVABLES:
        raise ValueError(f"Argument `observable` must be one of {TIME_TO_OBSERVABLES}, but is {observable!r}.")
    if not np.isfinite(fraction):
        raise ValueError(f"Argument `fraction` must be a finite number, but is fraction={fraction!r}.")
    if int(n_scan) < 2:
        raise ValueError(f"Argument `n_scan` must be >= 2, but is n_scan={n_scan!r}.")
    pf, x0, shape = _broadcast(p, rho0)
    B = x0.shape[0]
    dtype = pf.eps_h.dtype
    ss = observables(pf, throw=False)
    o_ss = np.asarray(getattr(ss, observable))
    if t_max is None:
        t_max = np.asarray(relaxation_impl(pf).time, dtype=float).reshape(-1) * 30.0  # already flat (B,)
    else:
        t_max = np.broadcast_to(np.asarray(t_max, dtype=float), shape).reshape(-1)
    if not np.all(np.isfinite(t_max) & (t_max > 0)):
        raise ValueError("Argument `t_max` must be finite and > 0 (or the relaxation time is not finite).")
    squarings = None  # eager: `run` takes exactly the squarings each batch needs
    slots = time_bucket(int(n_scan))
    h = t_max / (n_scan - 1)
    scan = _run_per_engine(pf, x0, np.zeros((B, slots), dtype), "uniform", squarings, None, h.astype(dtype))
    ratio = np.asarray(getattr(scan, observable))[:, :n_scan] / np.where(o_ss != 0, o_ss, np.nan)[:, None]
    above = ratio >= fraction
    found = above.any(axis=1) & (o_ss != 0)
    k = np.argmax(above, axis=1)
    lo = np.where(k > 0, (k - 1) * h, 0.0)
    hi = np.where(k > 0, k * h, 0.0)
    done = ~found | (k == 0)
    for _ in range(200):  # bisection to roundoff, one evolve per iteration at the midpoints
        active = ~done & (hi - lo > 4 * np.finfo(float).eps * np.maximum(hi, 1e-300))
        if not active.any():
            break
        mid = np.where(active, 0.5 * (lo + hi), hi)
        o = _run_per_engine(pf, x0, mid[:, None].astype(dtype), "any", squarings)
        r = np.asarray(getattr(o, observable))[:, 0] / np.where(o_ss != 0, o_ss, np.nan)
        up = r >= fraction
        hi = np.where(active & up, mid, hi)
        lo = np.where(active & ~up, mid, lo)
    time = np.where(found, hi, np.nan)
    ok = found & np.asarray(ss.ok)
    return TimeTo(jnp.asarray(time.reshape(shape)), jnp.asarray(ok.reshape(shape)))
