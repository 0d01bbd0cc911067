r"""Solvers built on autodiff through the steady state: $\kappa_{\max}$, critical boundaries, optimal operating points.

Every solver is batched over the broadcast shape of the parameters it is given and runs as one compiled call.
They differentiate the exact numerical steady state (`observables`), so they hold for any $\kappa$; at
$\kappa_h = \kappa_c = 0$ the critical boundaries use the closed form, where $N = 0 \Leftrightarrow |J| = J_c$.

- `kappa_max`: a coarse scan over the bracket finds the best cell, then a safeguarded Newton iteration on
  $f'(\kappa) = 0$ (the second derivative by forward-over-forward autodiff) refines it; a Newton step that leaves the
  current bracket or goes uphill in $f'$ is replaced by bisection.
- `critical_detuning` / `critical_temperature`: a scan locates the first sign change of the smooth signed
  negativity $n$ (eq 16 generalised: $-\lambda_{\min}$ of the partial transpose), then the same safeguarded Newton
  iteration (on $n$, with $n'$ by autodiff) converges to the root. No crossing in the bracket gives `ok=False`.
- `optimise`: multi-start gradient ascent (optax, every start with its own optimiser state) in a reflecting
  parametrisation of the box, so every iterate is physical and optima on a wall are reached; the signed
  negativity drives the gradient where $N = \max(0, n)$ would give none.
"""

import functools
from collections.abc import Mapping
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from . import _compile
from ._checks import is_concrete, unflat
from ._models import engine as _model
from ._models.params import NUMERIC_FIELDS, EngineParams, flat, prepare
from ._observables import _observables_impl
from ._observables import compact as compact_observables
from ._observables.closed_forms import _closed, stable_x_negativity, witness_ratio
from ._solve import chunks, compact

OBSERVABLES = ("negativity", "J", "witness")


class KappaMax(NamedTuple):
    """Result of `kappa_max`: the maximiser, the maximum, and whether the search converged inside the bracket."""

    kappa: jax.Array
    value: jax.Array
    ok: jax.Array


class Root(NamedTuple):
    """Result of a root search: the root (nan where `ok` is False) and whether a crossing was found and converged."""

    value: jax.Array
    ok: jax.Array


class OptimiseResult(NamedTuple):
    """Result of `optimise`: the best parameters over all starts, the objective there, and (steps, starts) history."""

    params: EngineParams
    value: jax.Array
    history: jax.Array


# --------------------------------------------------------------------------------------------------------------------
# smooth scalar observables of prepared, flat parameters (all differentiable)


def _pauli_state(p: EngineParams):
    """(theta (B, 9), x (B, 16), ok (B,), shape): the compact steady state (`_solve.compact`, differentiable to any
    order, quick to compile) of prepared parameters of any batch shape, flattened to B points."""
    shape = jnp.broadcast_shapes(*(jnp.shape(v) for v in jax.tree.leaves(p)))
    p = jax.tree.map(lambda v: jnp.broadcast_to(v, shape), p)
    theta = _model._coefficients(p, axis=-1).reshape(-1, 9)
    x, _, ok = compact.solve(theta)
    return theta, x, ok, shape


def _signed_negativity(p: EngineParams, exact_x: bool):
    if exact_x:  # kappa = 0 statically: the X-state closed form, exact and cheap
        k = _closed(p)
        return stable_x_negativity(k["r1"], k["r4"], k["c"])
    _, x, _, shape = _pauli_state(p)
    return -compact_observables.lambda_min(x).reshape(shape)


def _from_state(p: EngineParams, theta, x, shape, name: str, smooth: bool):
    if name == "negativity":
        n = -compact_observables.lambda_min(x).reshape(shape)
        return n if smooth else jnp.maximum(n, 0)
    q_h, q_c = compact_observables.heat(theta, x)
    J = (q_h - q_c).reshape(shape)
    if name == "J":
        return J
    return witness_ratio(J, _closed(p)["J_c"])


def _observable(p: EngineParams, name: str, *, smooth: bool = False):
    """One observable per point. With smooth=True the negativity is the signed n (for gradients and roots)."""
    theta, x, _, shape = _pauli_state(p)
    return _from_state(p, theta, x, shape, name, smooth)


def _check_field(field: str, what: str = "field"):
    if field not in NUMERIC_FIELDS:
        raise ValueError(f"Argument `{what}` must be a numeric EngineParams field {NUMERIC_FIELDS}, but is {field!r}.")


def _check_bracket(bracket, name="bracket"):
    try:
        lo, hi = (float(x) for x in bracket)
    except (TypeError, ValueError):
        raise ValueError(f"Argument `{name}` must be a pair (lo, hi) of numbers, but is {name}={bracket!r}.") from None
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise ValueError(f"Argument `{name}` must satisfy lo < hi (both finite), but is {name}={bracket!r}.")
    return lo, hi


# --------------------------------------------------------------------------------------------------------------------
# safeguarded Newton on g(x) = 0 inside a per-point bracket [a, b] with g(a) > 0 > g(b) (or the reverse)


def _newton_bracketed(g_and_dg, x0, a, b, sign_a, *, iters: int, xtol: float):
    """Root of g in [a, b] per point, sign(g(a)) = sign_a. g_and_dg(x) -> (g, g') elementwise. -> (x, converged).

    Every evaluation of g goes through the one call site in the loop body, so the (large) steady-state kernel is
    compiled once here.
    """

    def body(state):
        x, a, b, it, done = state
        gx, dgx = g_and_dg(x)
        # keep the bracket: the endpoint with the same sign as g(x) moves to x
        same_as_a = jnp.sign(gx) == sign_a
        a = jnp.where(done, a, jnp.where(same_as_a, x, a))
        b = jnp.where(done, b, jnp.where(same_as_a, b, x))
        step = gx / jnp.where(dgx == 0, 1, dgx)
        newton = x - step
        inside = (newton > jnp.minimum(a, b)) & (newton < jnp.maximum(a, b)) & (dgx != 0) & jnp.isfinite(newton)
        x_new = jnp.where(inside, newton, (a + b) / 2)
        tol = xtol * (1 + jnp.abs(x))
        converged = (jnp.abs(x_new - x) <= tol) | (jnp.abs(b - a) <= tol) | (gx == 0)
        x_new = jnp.where(done, x, x_new)
        return x_new, a, b, it + 1, done | converged

    def cond(state):
        return (state[3] < iters) & ~jnp.all(state[4])

    done0 = jnp.zeros(x0.shape, bool)
    x, a, b, _, done = jax.lax.while_loop(cond, body, (x0, a, b, 0, done0))
    return x, done


def _with(p: EngineParams, changes: Mapping, shape):
    """p with `changes` applied and every field broadcast to `shape` (no implicit rank promotion downstream)."""
    return p.replace(**{k: jnp.broadcast_to(changes.get(k, getattr(p, k)), shape) for k in NUMERIC_FIELDS})


def _replace(p: EngineParams, field: str, value):
    """p with `field` set to value, every field broadcast to the shape of value."""
    value = jnp.asarray(value)
    return _with(p, {field: value}, value.shape)


def _derivatives(f, x):
    """(f'(x), f''(x)) elementwise for an elementwise-independent batched f, by forward-over-forward autodiff."""

    def d1(x):
        return jax.jvp(f, (x,), (jnp.ones_like(x),))[1]

    return jax.jvp(d1, (x,), (jnp.ones_like(x),))


# --------------------------------------------------------------------------------------------------------------------
# kappa_max


def _kappa_max_impl(p, observable, field, lo, hi, n_scan, iters, xtol):
    f = lambda k: _observable(_replace(p, field, k), observable, smooth=True)  # noqa: E731
    g_and_dg = lambda k: _derivatives(f, k)  # noqa: E731
    grid = jnp.linspace(lo, hi, n_scan, dtype=p.eps_h.dtype)
    vals = f(jnp.broadcast_to(grid[:, None], (n_scan,) + p.eps_h.shape))  # (n_scan, B), one kernel call
    vals = jnp.where(jnp.isfinite(vals), vals, -jnp.inf)
    # candidates: the two best local maxima of the scan (values only: derivatives cost ~10x more per point), each
    # refined by Newton in its neighbouring cells; the better one wins (N has close double peaks at low T_h)
    pad = jnp.full_like(vals[:1], -jnp.inf)
    left, right = jnp.concatenate([pad, vals[:-1]]), jnp.concatenate([vals[1:], pad])
    peak = jnp.where((vals >= left) & (vals >= right), vals, -jnp.inf)
    top, idx = jax.lax.top_k(peak.T, 2)
    top, i = top.T, idx.T  # (2, B)
    i = jnp.where(jnp.isfinite(top), i, i[:1])  # a single peak: refine it twice
    step = (hi - lo) / (n_scan - 1)
    x0 = lo + i.astype(grid.dtype) * step
    a = jnp.maximum(x0 - step, lo)
    b = jnp.minimum(x0 + step, hi)
    g3, _ = g_and_dg(jnp.stack([a, x0, b]))  # f' at the cell ends and at the scan's best point
    ga, g0, gb = g3[0], g3[1], g3[2]
    # the tighter half-cell where f' goes from + to -; on an edge of the bracket with f' pointing outward, the edge
    right = (g0 > 0) & (gb < 0)
    left = (ga > 0) & (g0 <= 0) & ~right
    interior = right | left
    lo_b, hi_b = jnp.where(right, x0, a), jnp.where(right, b, x0)
    lo_b, hi_b = jnp.where(interior, lo_b, x0), jnp.where(interior, hi_b, x0)
    x, conv = _newton_bracketed(g_and_dg, (lo_b + hi_b) / 2, lo_b, hi_b, 1.0, iters=iters, xtol=xtol)
    x = jnp.where(interior, x, x0)
    edge_ok = ((i == 0) & (g0 <= 0)) | ((i == n_scan - 1) & (g0 >= 0))
    good = jnp.where(interior, conv, edge_ok)
    # both refined candidates (2, B) in one steady-state evaluation; the better one wins
    q = _replace(p, field, x)
    theta, xs, ok_ss, shape = _pauli_state(q)
    fx = _from_state(q, theta, xs, shape, observable, smooth=False)
    best = jnp.argmax(jnp.where(good & jnp.isfinite(fx), fx, -jnp.inf), axis=0)[None]
    pick = lambda v: jnp.take_along_axis(v, best, 0)[0]  # noqa: E731
    x, good, value, ok_ss = pick(x), pick(good), pick(fx), pick(ok_ss.reshape(shape))
    ok = ok_ss & jnp.isfinite(value) & good
    if observable == "negativity":
        ok = ok & (value > 0)  # a maximum of N = 0 (separable everywhere) has no meaningful argmax
    return x, value, ok


# The solvers run on buckets of SOLVER_BUCKET points (`_compile.bucketed`): one compiled program per set of static
# options, whatever the batch shape (each point costs a scan of n_scan steady states and a Newton iteration, so
# padding a single point to the bucket costs milliseconds, not a compilation).
SOLVER_BUCKET = 32


def _kappa_max_batched(p, lo, hi, xtol, *, observable, field, n_scan, iters):
    return _kappa_max_impl(p, observable, field, lo, hi, n_scan, iters, xtol)


_kappa_max_bucketed = _compile.bucketed(
    _kappa_max_batched,
    name="kappa_max",
    static_argnames=("observable", "field", "n_scan", "iters"),
    buckets=(SOLVER_BUCKET,),
)


def kappa_max(
    p: EngineParams,
    *,
    observable: str = "negativity",
    field: str = "kappa_h",
    bracket=(0.0, 0.5),
    n_scan: int = 128,
    iters: int = 40,
    xtol: float = 5e-9,
) -> KappaMax:
    r"""The tunnelling that maximises an observable, $\kappa_{\max} = \arg\max_{\kappa} f(\kappa)$, per point.

    Args:
        p: parameters; the value of `field` in `p` is ignored. Batched over the broadcast shape of `p`.
        observable: "negativity" or "J" (or "witness").
        field: the field to maximise over ("kappa_h", "kappa_c", or any numeric field).
        bracket: (lo, hi) search interval.
        n_scan: points of the coarse scan; its two best local maxima are refined by Newton and the better one
            wins. Maxima closer than about two scan steps may be missed: N at low T_h (~0.3) has double peaks
            ~0.005 apart in kappa, which need n_scan = 256 over a bracket of width 0.4.
        iters, xtol: Newton iteration limit and relative step tolerance (the last Newton step is quadratically
            converged, so the returned kappa is far more accurate than xtol; a bisection end is within xtol).

    Returns:
        `KappaMax(kappa, value, ok)`; a maximum on an edge of the bracket is returned there with `ok=True` when the
        derivative points out of the bracket. For the negativity, `ok=False` where N = 0 throughout.
        N is flat at its maximum: its argmax is meaningful to ~1e-6, its maximum to full precision.

    Examples:
        >>> import jaxengine as je
        >>> r = je.kappa_max(je.EngineParams(T_h=0.7, delta=0.01), observable="J")
        >>> f"{float(r.kappa):.6f}"  # gap matching would give sqrt(1.01**2 - 1) / 2 = 0.070887
        '0.070879'
    """
    if observable not in OBSERVABLES:
        raise ValueError(f"Argument `observable` must be one of {OBSERVABLES}, but is observable={observable!r}.")
    _check_field(field)
    lo, hi = _check_bracket(bracket)
    if n_scan < 3:
        raise ValueError(f"Argument `n_scan` must be >= 3, but is n_scan={n_scan}.")
    q, shape = prepare(p)
    dtype = q.eps_h.dtype
    x, value, ok = _kappa_max_bucketed(
        flat(q),
        np.asarray(lo, dtype),
        np.asarray(hi, dtype),
        np.asarray(xtol, dtype),
        observable=observable,
        field=field,
        n_scan=int(n_scan),
        iters=int(iters),
    )
    return KappaMax(*unflat((x, value, ok), shape))


# --------------------------------------------------------------------------------------------------------------------
# critical boundaries


def _first_crossing_root(f, lo, hi, n_scan, iters, xtol, dtype, shape):
    """Root of f on the first sign change along lo -> hi (lo, hi scalars or per-point arrays)."""
    t = jnp.linspace(0.0, 1.0, n_scan, dtype=dtype)
    lo, hi = (jnp.broadcast_to(jnp.asarray(v, dtype), shape)[None] for v in (lo, hi))
    xs = lo + (hi - lo) * t[:, None]  # (n_scan, B)
    vals = f(xs)  # one kernel call for the whole scan
    s = jnp.sign(vals)
    change = (s[1:] * s[:-1] <= 0) & (s[:-1] != 0)
    has = jnp.any(change, axis=0)
    i = jnp.argmax(change, axis=0)
    a = jnp.take_along_axis(xs, i[None], 0)[0]
    b = jnp.take_along_axis(xs, i[None] + 1, 0)[0]

    def g_and_dg(x):
        return jax.jvp(f, (x,), (jnp.ones_like(x),))

    sign_a = jnp.take_along_axis(s, i[None], 0)[0]
    x, conv = _newton_bracketed(g_and_dg, (a + b) / 2, a, b, sign_a, iters=iters, xtol=xtol)
    ok = has & conv & jnp.isfinite(x)
    return jnp.where(ok, x, jnp.nan), ok


def _critical_impl(p, field, lo, hi, exact_x, n_scan, iters, xtol):
    f = lambda v: _signed_negativity(_replace(p, field, v), exact_x)  # noqa: E731
    return _first_crossing_root(f, lo, hi, n_scan, iters, xtol, p.eps_h.dtype, p.eps_h.shape)


def _critical_batched(batch, xtol, *, field, exact_x, n_scan, iters):
    p, lo, hi = batch  # per-point bracket
    return _critical_impl(p, field, lo, hi, exact_x, n_scan, iters, xtol)


_critical_bucketed = _compile.bucketed(
    _critical_batched,
    name="critical",
    static_argnames=("field", "exact_x", "n_scan", "iters"),
    buckets=(SOLVER_BUCKET,),
)


def _critical_call(qf, field, lo, hi, exact_x, n_scan, iters, xtol):
    xp = jnp if _compile.is_traced((qf, lo, hi)) else np
    n, dtype = qf.eps_h.shape[0], qf.eps_h.dtype
    lo, hi = (xp.broadcast_to(xp.asarray(v, dtype=dtype), (n,)) for v in (lo, hi))
    return _critical_bucketed(
        (qf, lo, hi), np.asarray(xtol, dtype), field=field, exact_x=exact_x, n_scan=n_scan, iters=iters
    )


def _kappa_is_zero(q: EngineParams) -> bool:
    return all(is_concrete(v) and not np.any(np.asarray(v)) for v in (q.kappa_h, q.kappa_c))


def critical_detuning(
    p: EngineParams, *, sign: int = +1, bracket=None, n_scan: int = 64, iters: int = 60, xtol: float = 1e-13
) -> Root:
    r"""The critical detuning $\delta^*$ where the negativity reaches 0, on the side `sign` of $\delta = 0$.

    Searches outward from $\delta = 0$ (the value of `delta` in `p` is ignored) for the first zero of the signed
    negativity; at $\kappa = 0$ that is also where $|J| = J_c$. Default bracket: $|\delta| \le 0.25\,\varepsilon_h$.

    Returns:
        `Root(value, ok)`: `ok=False` (and value nan) where the engine is not entangled at $\delta = 0$ or stays
        entangled over the whole bracket (for $\delta > 0$ at high $T_h$ there is no crossing, CONVENTIONS.md #8).
    """
    if sign not in (1, -1):
        raise ValueError(f"Argument `sign` must be +1 or -1, but is sign={sign!r}.")
    lo, hi = _check_bracket((0.0, 0.25) if bracket is None else bracket)
    if lo < 0:
        raise ValueError(f"Argument `bracket` gives |delta| and must be >= 0, but is bracket={bracket!r}.")
    q, shape = prepare(p)
    eps = np.asarray(q.eps_h) if is_concrete(q.eps_h) else None
    if sign < 0 and q.bath == "bosonic" and eps is not None and np.any(hi >= eps):
        raise ValueError(f"Argument `bracket`: |delta| must stay below eps_h for sign=-1, but is bracket={bracket!r}.")
    lo_s, hi_s = (lo, hi) if sign > 0 else (-lo, -hi)
    value, ok = _critical_call(flat(q), "delta", lo_s, hi_s, _kappa_is_zero(q), int(n_scan), int(iters), float(xtol))
    return Root(*unflat((value, ok), shape))


def critical_temperature(
    p: EngineParams, *, bracket=None, n_scan: int = 64, iters: int = 60, xtol: float = 1e-13
) -> Root:
    r"""The critical hot-bath temperature $T_h^*$ above which the steady state is entangled (first zero of the
    signed negativity along $T_h$, from below). Default bracket: $T_h \in [T_c, 5\varepsilon_h]$ per point.

    Returns:
        `Root(value, ok)`; `ok=False` where no crossing lies in the bracket.
    """
    q, shape = prepare(p)
    qf = flat(q)
    if bracket is None:
        lo, hi = qf.T_c, 5.0
    else:
        lo, hi = _check_bracket(bracket)
        if lo < 0:
            raise ValueError(f"Argument `bracket` must hold temperatures >= 0, but is bracket={bracket!r}.")
    value, ok = _critical_call(qf, "T_h", lo, hi, _kappa_is_zero(q), int(n_scan), int(iters), float(xtol))
    return Root(*unflat((value, ok), shape))


# --------------------------------------------------------------------------------------------------------------------
# optimise


def _reflect(u):
    """The triangle wave R -> [0, 1] (period 2, slope +-1): a reflecting reparametrisation of the unit interval."""
    return 1 - jnp.abs(1 - jnp.mod(u, 2))


def _box(lo, hi, log):
    """u in R -> x in [lo, hi] by reflection at the walls (linear, or in log space for positive ranges spanning
    decades). Unlike a sigmoid, the walls are reached at finite u with an undiminished gradient, so optima on a wall
    of the box (common: a tunnelling that is best at 0) are found as quickly as interior ones."""
    if log:
        llo, lhi = np.log(lo), np.log(hi)
        return lambda u: jnp.exp(llo + (lhi - llo) * _reflect(u))
    return lambda u: lo + (hi - lo) * _reflect(u)


class _Spec(NamedTuple):
    """The static part of an optimisation problem (hashable: one compilation per problem, reused across calls)."""

    objective: object
    free: tuple
    boxes: tuple
    logs: tuple
    opt: object


def _params_of(spec: _Spec, q: EngineParams, u):
    new = {f: _box(*spec.boxes[i], spec.logs[i])(u[..., i]) for i, f in enumerate(spec.free)}
    return _with(q, new, u.shape[:-1])


def _value(spec: _Spec, q: EngineParams, u, smooth: bool):
    p = _params_of(spec, q, u)
    if callable(spec.objective):
        shape = jnp.shape(p.eps_h)
        o = _observables_impl(jax.tree.map(lambda v: jnp.reshape(v, (-1,)), p))  # the kernel wants a flat batch
        return spec.objective(jax.tree.map(lambda v: jnp.reshape(v, shape + v.shape[1:]), o))
    return _observable(p, spec.objective, smooth=smooth)


def _run(spec: _Spec, q: EngineParams, u, state, n: int):
    """n optimiser steps of every start at once; each start has its own optimiser state (and line search)."""
    opt = spec.opt

    def one_step(u, state):  # one start: u (n_free,)
        def loss(u):
            return -_value(spec, q, u, smooth=True)

        value, g = jax.value_and_grad(loss)(u)
        if isinstance(opt, optax.GradientTransformationExtraArgs):
            updates, state = opt.update(g, state, u, value=value, grad=g, value_fn=loss)
        else:
            updates, state = opt.update(g, state, u)
        return optax.apply_updates(u, updates), state

    def step(carry, _):
        u, state = jax.vmap(one_step)(*carry)
        return (u, state), _value(spec, q, u, smooth=False)

    (u, state), hist = jax.lax.scan(step, (u, state), None, length=n)
    return u, state, hist


_run_jit = chunks.jit(_run, static_argnums=(0, 4))
_value_jit = chunks.jit(lambda spec, q, u: _value(spec, q, u, smooth=False), static_argnums=0)


@functools.lru_cache(maxsize=16)
def default_optimizer(steps: int):
    """Adam on the box coordinates with a cosine-decaying step (0.1 -> 1e-4), so the iterates settle."""
    return optax.adam(optax.cosine_decay_schedule(0.1, steps, alpha=1e-3))


def optimise(
    objective,
    base: EngineParams | None = None,
    *,
    free,
    bounds: Mapping,
    starts: int = 16,
    steps: int = 500,
    optimizer=None,
    seed: int = 0,
    progress: bool = False,
) -> OptimiseResult:
    r"""Maximise an objective of the steady state over some parameters within box bounds, from many starts at once.

    Args:
        objective: "negativity", "J", "witness", or a callable `Observables -> scalar per point` (maximised).
            For "negativity" the smooth signed $n$ drives the gradient (it equals N where N > 0).
        base: the fixed parameters (scalars).
        free: field names to optimise (a sequence, or a comma-separated string).
        bounds: {field: (lo, hi)} for every free field; ranges with 0 < lo and hi/lo > 100 are searched in log space.
        starts: number of starts, spread by a seeded Latin-hypercube draw over the box and run in one vmapped call.
        steps: optimiser steps.
        optimizer: an optax GradientTransformation acting on the box coordinates (each free field mapped to
            [0, 1], reflected at the walls). Default: Adam with a cosine-decaying step 0.1 -> 1e-4.
            `optax.lbfgs()` also works (each start runs its own line search).
        seed: seed of the starting points.
        progress: show a progress bar (steps are run in chunks of 25 so the bar moves).

    Returns:
        `OptimiseResult(params, value, history)`: the best `EngineParams` (scalars), the objective there (for
        "negativity", N itself) and the per-step objective of every start, shape (steps, starts).
    """
    from ._models.network import Network

    if isinstance(base, Network):  # field paths such as "T[0]", "g[0,1]" (issue 18, `_network_apps`)
        from ._network_apps import network_optimise

        return network_optimise(objective, base, free=free, bounds=bounds, starts=starts, steps=steps,
                                optimizer=optimizer, seed=seed)
    base = EngineParams() if base is None else base
    free = [f.strip() for f in free.split(",")] if isinstance(free, str) else list(free)
    if not free:
        raise ValueError("Argument `free` must name at least one field, but is empty.")
    for f in free:
        _check_field(f, "free")
        if f not in bounds:
            raise ValueError(f"Argument `bounds` must give (lo, hi) for every free field, but has none for {f!r}.")
    boxes = {f: _check_bracket(bounds[f], f"bounds[{f!r}]") for f in free}
    if isinstance(objective, str) and objective not in OBSERVABLES:
        raise ValueError(f"Argument `objective` must be one of {OBSERVABLES} or a callable, but is {objective!r}.")
    if not (isinstance(objective, str) or callable(objective)):
        raise ValueError(f"Argument `objective` must be a name or a callable, but is {objective!r}.")
    if starts < 1 or steps < 1:
        raise ValueError(f"Arguments `starts` and `steps` must be >= 1, but are starts={starts}, steps={steps}.")
    q, shape = prepare(base)
    if shape != ():
        raise ValueError(f"Argument `base` must hold scalars, but has batch shape {shape}.")
    logs = {f: lo > 0 and hi / lo > 100 for f, (lo, hi) in boxes.items()}

    # a Latin hypercube in the box coordinates t in [0, 1] (which `_box` maps to [lo, hi], linearly or in log space)
    rng = np.random.default_rng(seed)
    t = [(rng.permutation(starts) + rng.uniform(0.05, 0.95, starts)) / starts for _ in free]
    u0 = jnp.asarray(np.stack(t, -1), dtype=q.eps_h.dtype)  # (starts, n_free)

    opt = default_optimizer(int(steps)) if optimizer is None else optimizer
    spec = _Spec(objective, tuple(free), tuple(boxes[f] for f in free), tuple(logs[f] for f in free), opt)
    with jax.numpy_dtype_promotion("standard"):
        state = jax.vmap(opt.init)(u0)
    u = u0
    chunk = 25 if progress else steps
    hists = []
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=steps, desc="optimise", unit="step")
    done = 0
    while done < steps:
        n = min(chunk, steps - done)
        with jax.numpy_dtype_promotion("standard"):  # optax's own code relies on implicit promotion
            u, state, hist = _run_jit(spec, q, u, state, n)
        hists.append(hist)
        done += n
        if bar is not None:
            bar.update(n)
            bar.set_postfix(best=f"{float(jnp.max(hist[-1])):.4e}")
    if bar is not None:
        bar.close()
    history = jnp.concatenate(hists)
    final = _value_jit(spec, q, u)
    best = int(jnp.argmax(jnp.where(jnp.isfinite(final), final, -jnp.inf)))
    p_best = _params_of(spec, q, u[best])
    params = base.replace(**{f: float(getattr(p_best, f)) for f in free})
    return OptimiseResult(params, final[best], history)
