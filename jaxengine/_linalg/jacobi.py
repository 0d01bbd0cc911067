r"""Eigenvalues of batch-last 4x4 Hermitian matrices by cyclic Jacobi, in real arithmetic, unrolled at trace time.

A matrix is (diag, off): 4 real (B,) vectors and {(i, j): (re, im)} for i < j. A sweep is 3 rounds of two rotations
on disjoint index pairs (the parallel ordering), so XLA evaluates it as a few fused loops over the points. After a
fixed number of sweeps (unrolled), more run in a rolled loop only while some point of the block has not converged;
the eigenvalues are then second-order estimates of the nearly diagonal result, whose error has a rigorous bound
(`_second_order`, tested against LAPACK in `tests/test_kernel.py`). Used by the throughput observables
(`_observables.fast`: the negativity and the concurrence). Pure numerics: no physics.
"""

import functools

import jax
import jax.numpy as jnp

from .dense import safe_sqrt
from .unrolled import _block_any, _cconj, _cmul, _materialise

MAX_EXTRA_SWEEPS = 5  # 7 or 8 sweeps in all: far more than 4x4 Hermitian matrices need (2-5 in our tests)


ROUNDS = (((0, 1), (2, 3)), ((0, 2), (1, 3)), ((0, 3), (1, 2)))  # a cyclic sweep as 3 rounds of disjoint pairs


PAIRS = tuple(pq for r in ROUNDS for pq in r)


def _rotation(d, r2):
    """Scalars of the Jacobi rotation that zeros a_pq = b (r2 = |b|^2) given d_p, d_q: (c, sigma, shift).

    With diff = d_q - d_p and the stable tangent t = sign(diff) 2|b| / (|diff| + sqrt(diff^2 + 4|b|^2)): c = cos,
    sigma = sin / |b| (so that no |b| and no phase need computing) and shift = t |b|. Where b = 0 and diff = 0 the
    rotation is the identity. One sqrt and one rsqrt, no division: with e = sqrt(diff^2 + 4|b|^2) and
    den = |diff| + e, ri = 1 / sqrt(2 e den) = 1 / sqrt(den^2 + 4|b|^2), c = den ri, and 1 / den = 2 e ri^2 (sqrt and
    division dominate a rotation's cost on CPU: ~4 % of `observables` against the form with r2 / den).
    """
    diff = d[1] - d[0]
    e = safe_sqrt(diff * diff + 4 * r2)
    den = jnp.abs(diff) + e
    pos = den > 0
    sgn = jnp.where(diff >= 0, 2.0, -2.0)
    ri = jnp.where(pos, jax.lax.rsqrt(2 * e * den + jnp.where(pos, 0, 1)), 0)
    return jnp.where(pos, den * ri, 1), sgn * ri, sgn * r2 * (2 * e * ri * ri)


def _jacobi_round(d, o, pairs):
    """One round of cyclic Jacobi on the Hermitian matrix (d, o): the rotations of two disjoint index pairs."""
    d, o = list(d), dict(o)

    def get(i, j):
        return o[(i, j)] if i < j else _cconj(o[(j, i)])

    # the two rotations touch disjoint index pairs, so both take their scalars from the matrix at the start of the
    # round; the four entries that both change are composed inline and materialised once
    rot = {}
    for p, q in pairs:
        b = o[(p, q)]
        c, sg, shift = _rotation((d[p], d[q]), b[0] * b[0] + b[1] * b[1])
        rot[(p, q)] = b, _materialise(c), _materialise(sg), shift
    (p1, q1), (p2, q2) = pairs
    cross = {(i, j): get(i, j) for i in (p1, q1) for j in (p2, q2)}  # a_ij, i in the first pair, j in the second
    for (p, q), first in (((p1, q1), True), ((p2, q2), False)):
        b, c, sg, _ = rot[(p, q)]
        for k in (p2, q2) if first else (p1, q1):
            # rotate indices p, q of a_kp, a_kq (k in the other pair), then undo the phase of b on index q:
            # a_kp <- c a_kp - sigma conj(b) a_kq,  a_kq <- c a_kq + sigma b a_kp
            akp = _cconj(cross[(p, k)]) if first else cross[(k, p)]
            akq = _cconj(cross[(q, k)]) if first else cross[(k, q)]
            m1, m2 = _cmul(akq, _cconj(b)), _cmul(akp, b)
            nkp = (c * akp[0] - sg * m1[0], c * akp[1] - sg * m1[1])
            nkq = (c * akq[0] + sg * m2[0], c * akq[1] + sg * m2[1])
            if first:
                cross[(p, k)], cross[(q, k)] = _cconj(nkp), _cconj(nkq)
            else:
                cross[(k, p)], cross[(k, q)] = nkp, nkq
    for (i, j), v in cross.items():
        o[(i, j) if i < j else (j, i)] = tuple(_materialise(u) for u in (v if i < j else _cconj(v)))
    for p, q in pairs:
        shift = rot[(p, q)][3]
        d[p], d[q] = _materialise(d[p] - shift), _materialise(d[q] + shift)
        o[(p, q)] = (jnp.zeros_like(d[p]), jnp.zeros_like(d[p]))
    return d, o


def _jacobi_sweep(d, o):
    """One cyclic Jacobi sweep of the Hermitian matrix (d, o): 3 rounds of two disjoint rotations."""
    for pairs in ROUNDS:
        d, o = _jacobi_round(d, o, pairs)
    return d, o


def _looped(n_or_cond, d, o):
    """More sweeps of (d, o) in a rolled loop: `fori_loop` for a fixed count (an int), else a `while_loop` on
    cond(d, o). The loop state is the flat tuple of the 16 real entries."""
    keys = list(o)
    unpack = lambda s: (list(s[0]), dict(zip(keys, s[1], strict=True)))  # noqa: E731
    pack = lambda d, o: (tuple(d), tuple(o[k] for k in keys))  # noqa: E731
    body = lambda s: pack(*_jacobi_sweep(*unpack(s)))  # noqa: E731
    if isinstance(n_or_cond, int):
        state = jax.lax.fori_loop(0, n_or_cond, lambda _, s: body(s), pack(d, o))
    else:
        _, state = jax.lax.while_loop(
            lambda c: n_or_cond(c[0], *unpack(c[1])), lambda c: (c[0] + 1, body(c[1])), (0, pack(d, o))
        )
    return unpack(state)


def _jacobi_sweeps(d, o, sweeps, rolled=False):
    """`sweeps` cyclic Jacobi sweeps of the Hermitian matrix (d, o), unrolled, or `rolled` in a `fori_loop` (one
    compiled sweep: small graphs for reverse mode)."""
    # the input is read by every entry of the first round: computed once, not once per reader
    d, o = [_materialise(v) for v in d], {k: tuple(_materialise(u) for u in v) for k, v in o.items()}
    if rolled:
        return _looped(sweeps, d, o)
    for _ in range(sweeps):
        d, o = _jacobi_sweep(d, o)
    return d, o


def _jacobi_eigenvalues(diag, off, sweeps, rolled=False):
    r"""Eigenvalues (list of 4 (B,)) of batch-last Hermitian 4x4 matrices by cyclic Jacobi, in real arithmetic.

    Each rotation is a diagonal unitary that makes $a_{pq}$ real, the real Schur rotation that zeros it, and a
    second diagonal unitary that undoes the phase, so that neither $|a_{pq}|$ nor its phase is ever computed. Jacobi
    converges quadratically and each rotation is backward stable, so the eigenvalues are accurate to roundoff times
    $\|A\|$ (the absolute accuracy that N needs). A sweep is 3 rounds of two rotations on disjoint index pairs (the
    parallel ordering), which XLA evaluates as few fused loops. A fixed number of sweeps, unrolled or `rolled`.
    """
    return _jacobi_sweeps(diag, off, sweeps, rolled)[0]


def _off2(o):
    return sum(v[0] * v[0] + v[1] * v[1] for v in o.values())


def _second_order(d, o):
    r"""Eigenvalue estimates of the nearly diagonal Hermitian $A = D + E$ given as (d, o), and what a point needs for
    their error to be provably below a tolerance.

    With $r_i = \sum_{j\ne i}|e_{ij}|^2$, $\eta = \sqrt{3/4}\,\|E\|_F \ge \|E\|_2$ (E is traceless) and
    $\delta_i = \min_{j\ne i}|d_i - d_j|$: where $\delta_i > 2\eta$ the interval $[d_i-\eta, d_i+\eta]$ holds exactly
    one eigenvalue (Weyl), and the Schur complement with the resolvent identity bound its distance to the
    second-order estimate $d_i + \sum_j |e_{ij}|^2/(d_i - d_j)$ by $2 r_i\eta / (\delta_i(\delta_i - 2\eta))$
    (`tests/test_kernel.py` checks the bound against LAPACK). Elsewhere the estimate is $d_i$, within $\eta$.
    Returns (estimates, (lhs, rhs)): the error bound is at most tol when lhs <= tol * rhs for every i (written
    without divisions).
    """
    w = {k: v[0] * v[0] + v[1] * v[1] for k, v in o.items()}  # |e_ij|^2, i < j
    eta = jnp.sqrt(0.75 * 2 * sum(w.values()))
    gap = {(i, j): d[i] - d[j] for i, j in w}
    est, lhs, rhs = [], [], []
    for i in range(4):
        others = [((i, j), 1.0) if i < j else ((j, i), -1.0) for j in range(4) if j != i]
        delta = functools.reduce(jnp.minimum, [jnp.abs(gap[k]) for k, _ in others])
        iso = delta > 2 * eta
        s = sum(w[k] / jnp.where(iso, sg * gap[k], 1) for k, sg in others)
        r = sum(w[k] for k, _ in others)
        est.append(jnp.where(iso, d[i] + s, d[i]))
        lhs.append(jnp.where(iso, 2 * r * eta, eta))
        rhs.append(jnp.where(iso, delta * (delta - 2 * eta), 1))
    return est, (lhs, rhs)


def _jacobi_eigenvalues_converged(diag, off, sweeps):
    r"""Eigenvalues by Jacobi until converged: `sweeps` unrolled sweeps, then (rolled) more while some point of the
    block has not converged, at most `MAX_EXTRA_SWEEPS`; the result is the second-order estimate of `_second_order`.

    A point has converged when the rigorous error bound of its estimates is below $16\epsilon\|A\|_F$ (plus the
    rotations' own roundoff). For N, two sweeps converge at all but ~6e-5 of the engine states of the paper's range
    (~9 % of the 2048-point blocks sweep once more), which saves ~20 % of N's cost against three sweeps. The
    concurrence's matrix has nearly equal eigenvalues (tiny $\delta_i$) and needs three. States far outside the
    paper's range (rates from 1e-5 to 30, couplings up to 3) take one or two more.
    Not differentiable in reverse mode (a while loop): `fast._pt_lambda_min` carries its own derivative rule.
    """
    d, o = _jacobi_sweeps(diag, off, sweeps)
    tol = 16 * jnp.finfo(d[0].dtype).eps

    def not_done(it, d, o):
        norm = jnp.sqrt(sum(v * v for v in d) + 2 * _off2(o))
        _, (lhs, rhs) = _second_order(d, o)
        done = functools.reduce(jnp.logical_and, [a <= tol * norm * b for a, b in zip(lhs, rhs, strict=True)])
        return (it < MAX_EXTRA_SWEEPS) & _block_any(~done & jnp.isfinite(norm))

    # the estimates are recomputed after the loop rather than carried in its state: carrying them (and the done
    # flag) costs more in loop-state copies than the recomputation (N: 138 vs 127 ns per point, measured)
    return _second_order(*_looped(not_done, d, o))[0]


def _entries(diag, off):
    """(4, 4) nested list of (re, im) pairs of a Hermitian matrix given as (diag, off)."""
    zero = jnp.zeros_like(diag[0])
    return [
        [(diag[i], zero) if i == j else (off[(i, j)] if i < j else _cconj(off[(j, i)])) for j in range(4)]
        for i in range(4)
    ]


def _det3(m, rows, cols):
    (a, b, c), (d, e, f), (g, h, i) = ([m[r][s] for s in cols] for r in rows)
    return a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g)
