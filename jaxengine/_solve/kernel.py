r"""The fast steady-state kernel, the THROUGHPUT path of `steady_state` / `observables` (batches of at least
65 536 points): the engine's real 15×15 system $A y = b$ (`_generator.pauli`) solved batch-last by an unrolled
sparse block LU. Its observables are in `_observables.fast`, how it is run in blocks and threads in `_solve.chunks`.

**The fast kernel** (`fast_solve`, `fast_observables`) is the THROUGHPUT path: `observables` and `steady_state`
use it for batches of at least 65 536 points (it takes ~10 s to compile); smaller batches, and every derivative of
them, run the compact program of `jaxengine._solve.compact` (same algorithms as dense rolled loops, compiled in about
a second). In six ideas:

1. *Static sparsity.* Only ~70 of the 256 entries of $M$ are structurally non-zero (`M_PATTERN`). Every entry is
   written as a short sum $\sum c_k\theta_k$ at trace time; zeros are never stored or multiplied.
2. *Batch last (structure of arrays).* Each matrix entry is one (B,) vector over the points of a block. All the
   arithmetic below is elementwise on such vectors, so XLA emits loops that vectorise ACROSS points (SIMD lanes on
   CPU, threads on GPU); nothing is a per-point 15×15 object and nothing calls LAPACK.
3. *Block elimination unrolled at trace time, without runtime pivoting.* LU of $A$ in a fixed order of 1x1 and
   2x2 pivot blocks (`BLOCKS`: 136 factor entries after fill-in instead of 225) is written out as straight-line code
   over the non-zeros. Each 2x2 block is a Pauli component and its partner under one qubit's precession,
   $\begin{psmallmatrix}-G & -\varepsilon\\ \varepsilon & -G\end{psmallmatrix}$ with $G$ a decay rate: inverted
   explicitly ($\det = G^2 + \varepsilon^2$ does not cancel), it has norm ~$1/\varepsilon$, whereas the scalar
   pivot $-G$ (~1e-3) gave multipliers $\varepsilon/G$ ~ 1e3 and an error of up to ~1e-11 in x. Scalar pivots are
   the decay rates of the $\sigma_z$ components, and eliminating in this order never produces a tiny pivot over the
   physical range (tested: min pivot / max |rate| ~ 3e-8 at worst over 2e4 points with rates from 1e-5 to 30,
   couplings up to 3, `tests/test_kernel.py`; `ok` needs > 3e-15). In the paper's range the solution's
   componentwise backward error is then below ~16 eps. Where some point of a block exceeds `REFINE_TOL` = 32 eps
   (far outside that range: tiny rates against couplings ~1), the block gets ONE step of iterative refinement in
   float64 against the exact sparse $A$, which brings every point back to a few eps (`_primal`). Refining a
   point already below the threshold changes nothing measurable (both are within ~3e-15 of a 40-digit solve,
   tested). In the paper's regime the result agrees with the pivoted dense solve to ~1e-14; at extreme rate ratios
   (1e-6) it is exact to 1e-14 against a 30-digit mpmath solve where the pivoted LAPACK LU is off by 4e-10.
4. *Materialise what is shared* (`_materialise`). XLA fuses a cheap elementwise value into EVERY consumer, so in
   unrolled elimination, whose values each feed many later ones, it recomputes them recursively: the plain unrolled
   LU executed ~10x its own flops. Dividing a value v by the 1.0 `where(v == v | v != v, 1, 2)`, which XLA does not
   fold, makes XLA treat it as expensive and compute it once; LLVM then folds the comparison and the division by 1
   away, so it costs nothing. We materialise the rows of U and the multipliers of L, every y_k and x_k of the
   substitutions, the Cholesky factor of the concurrence, and every entry a Jacobi round produces.
5. *Honest diagnostics.* `residual` = $\|Mx\|/2$ of the returned state with the exact sparse $M$; `ok` = finite,
   residual at roundoff level and the smallest pivot above $15\epsilon\|M\|_F$ (`health`). At a singular point
   (e.g. $\gamma_h = \gamma_c = 0$) a pivot is exactly zero, the state is non-finite, `residual` is +inf, `ok` False.
   Observables straight from the real vector: `_observables.fast`.

**Gradients.** `_solve_theta` is a `jax.custom_jvp`: implicit differentiation of $M(\theta)x = 0$ gives
$A\,\dot y = -(\dot M x)_{1:}$, solved by `_linalg.dense.loop_solve` (a rolled, pivoted LU inside
`lax.custom_linear_solve`), so no derivative ever traces the unrolled elimination and derivative graphs stay small.

**References kept.** `_linalg.dense.lu_solve_checked` (LAPACK) and the generic complex path of `_solve.steady` are
the references the tests compare against.

**Rows, not stacks.** The kernel passes vectors around as Python tuples of (B,) rows (the solution y, theta in
`observable_rows`) and stacks them only for the caller; block-wide decisions are max-reductions (`_block_any`). So
`observable_rows` is also the body of the experimental fused GPU kernel (`_observables.fused`, Pallas/Triton), whose
lowering
accepts neither non-power-of-2 tensors such as a (15, B) stack nor boolean reductions; there `IN_REGISTERS` makes
`_materialise` the identity.
"""

import jax
import jax.numpy as jnp

from .._generator import pauli
from .._linalg import dense, unrolled
from .._linalg.unrolled import _block_any, _materialise
from .._models import engine as _model


def _blocks(*groups):
    return tuple(tuple(pauli.PAULI_NAMES.index(name) for name in g.split()) for g in groups)


# The static pivot blocks, in elimination order. Each pair is a Pauli component and its partner under the precession
# of one qubit (eps_h turns X <-> Y on the hot qubit, eps_c on the cold one): a 2x2 block [[-G, -eps], [eps, -G]]
# with G a decay rate ~gamma. As a scalar pivot, -G would give multipliers eps / G ~ 1e3 (element growth: x off by
# up to ~1e-11 without refinement); the block's explicit inverse has norm ~1 / eps and no growth. The XX, XY, YX, YY
# quartet precesses under both qubits and is taken as two such pairs. Single-qubit components (I x sigma,
# sigma x I) decay with ONE qubit's rates only: with gamma_h = 0 (or gamma_c = 0) their diagonal is exactly 0
# although the steady state is unique (the coupling g links them to the dissipative two-body components);
# eliminated last, their pivots are Schur complements that carry that coupling, so they stay non-zero.
# Among the orders of these blocks (single-qubit ones last) this one has little fill-in (136 factor entries; the
# fewest possible is 128) and the smallest componentwise backward error without refinement: <= 9 eps at 2e4 points
# of the paper's range, where some orders reach 200 eps (searched over all 5760 orders, 2026-11-26).
BLOCKS = _blocks("ZZ", "XX YX", "XZ YZ", "ZX ZY", "XY YY", "IZ", "XI YI", "ZI", "IX IY")


assert sorted(k for blk in BLOCKS for k in blk) == list(range(15))


def _entry(terms, theta):
    """sum_k c_k theta_k for one matrix entry; theta is (9, B). The c_k are small integers and halves."""
    out = None
    for k, c in terms:
        t = theta[k] if c == 1 else (-theta[k] if c == -1 else c * theta[k])
        out = t if out is None else out + t
    return out


def _matvec(pattern, theta, x):
    """Rows of M x (dict row -> (B,)) for a batch-last x (n, B), using only the structural non-zeros."""
    rows = {}
    for (i, j), terms in pattern.items():
        v = _entry(terms, theta) * x[j]
        rows[i] = v if i not in rows else rows[i] + v
    return rows


def _factor(theta):
    """The block LU (`_linalg.unrolled.block_lu`) of the engine's A = M[1:, 1:] (batch last) in the order `BLOCKS`:
    (L, U, inv, min_pivot)."""
    return unrolled.block_lu({ij: _entry(t, theta) for ij, t in pauli.A_PATTERN.items()}, BLOCKS)


def _apply(F, rhs):
    """x = A^{-1} rhs (a tuple of 15 (B,) rows) with the factors F of `_factor`; rhs is a dict index -> (B,)."""
    return unrolled.block_lu_apply(F, rhs, BLOCKS)


def _rhs(theta):
    return {i: -_entry(t, theta) for i, t in pauli.B_PATTERN.items()}


def _residual_rows(theta, y, b):
    """For each row i of A y = b, in order: ((b - A y)_i, (|A||y| + |b|)_i), from the exact sparse A."""
    for i in range(15):
        terms = [(_entry(t, theta), j) for (ii, j), t in pauli.A_PATTERN.items() if ii == i]
        ay = sum(c * y[j] for c, j in terms)
        den = sum(jnp.abs(c * y[j]) for c, j in terms)
        yield (b[i] - ay, den + jnp.abs(b[i])) if i in b else (-ay, den)


def _check(theta, y, b):
    """(||A y - b||_2, worst) per point: the residual of y (that of M x, whose first row is identically 0) and
    max_i (|b - A y|_i - REFINE_TOL eps (|A||y| + |b|)_i), positive where the componentwise backward error of y
    exceeds REFINE_TOL eps. Both are reductions over the rows, so the rows are never stored."""
    sq = worst = None
    tol = REFINE_TOL * jnp.finfo(y[0].dtype).eps
    for r, den in _residual_rows(theta, y, b):
        sq = r * r if sq is None else sq + r * r
        bad = jnp.abs(r) - tol * den
        worst = bad if worst is None else jnp.maximum(worst, bad)
    return jnp.sqrt(sq), worst


def _refine(theta, y):
    """One step of float64 iterative refinement of A y = b against the exact sparse A: (y, ||A y - b||)."""
    b = _rhs(theta)
    r = {i: ri for i, (ri, _) in enumerate(_residual_rows(theta, y, b))}  # the unused |A||y| is dead code to XLA
    y = tuple(v + d for v, d in zip(y, _apply(_factor(theta), r), strict=True))
    return y, _check(theta, y, b)[0]


def _primal(theta):
    r"""(F, y, ||A y - b||): the block LU's solution, refined once where some point of the batch needs it.

    A point needs refinement when its componentwise backward error $\max_i |b - Ay|_i / (|A||y| + |b|)_i$ exceeds
    `REFINE_TOL` eps. Where it does not, y is the exact solution of a system whose every entry is within a few eps
    (relative) of A's and b's, which is what one refinement step in float64 achieves, and refining changes nothing
    measurable (tested). In the paper's range the block LU's backward error stays below ~16 eps, so refinement is
    rare there; far outside it (rate ratios of 1e-5, couplings ~1) ~5 % of the points need it. The test is made on
    the whole batch (one `lax.cond`); the refining branch factorises again rather than receive the ~150 factor
    arrays (operands of a `cond` are copied, which costs more than the factorisation), so a batch that needs
    refinement pays ~1.6x the solve.
    """
    F = _factor(theta)
    b = _rhs(theta)
    y = _apply(F, b)
    res, worst = _check(theta, y, b)
    refine = _block_any(worst > 0)  # nan (a singular point) compares False: nothing to refine there
    y, res = jax.lax.cond(refine, _refine, lambda theta, y: (y, res), theta, y)
    return F, y, res


REFINE_TOL = 32  # componentwise backward error (in eps) above which the batch gets one step of refinement


@jax.custom_jvp
def _solve_theta(theta):
    """(y, min_pivot, residual): the reduced steady state y = x[1:] (15, B) of theta (9, B),
    A(theta) y = -M[1:, 0](theta), the smallest pivot of the factorisation per point (a singularity indicator) and
    ||M x||_2 (neither of the last two is differentiated)."""
    F, y, res = _primal(theta)
    return jnp.stack(y), F[3], res


@_solve_theta.defjvp
def _solve_theta_jvp(primals, tangents):
    # Implicit differentiation of M(theta) x = 0 (x_0 = 1): A dy = -(dM x)[1:].
    # The primal comes from `_solve_theta` itself and the tangent solve from `dense.loop_solve` (a rolled LU inside
    # `custom_linear_solve`), so derivatives of any order and mode never differentiate or transpose the unrolled
    # elimination: the derivative graph stays small (compile seconds, not minutes).
    (theta,), (dtheta,) = primals, tangents
    y, min_pivot, res = _solve_theta(theta)
    x = jnp.concatenate([jnp.ones_like(y[:1]), y])
    dMx = _matvec(pauli.M_PATTERN, dtheta, x)
    r = jnp.stack([-dMx[i] if i in dMx else jnp.zeros_like(y[0]) for i in range(1, 16)])
    A = jnp.einsum("kB,kij->Bij", theta, jnp.asarray(pauli.GENERATORS[:, 1:, 1:], dtype=theta.dtype))
    dy = dense.loop_solve(A, r.T).T
    return (y, min_pivot, res), (dy, jnp.zeros_like(min_pivot), jnp.zeros_like(res))


def fast_solve(p):
    """Steady state of prepared parameters with a 1-D batch, BATCH LAST: (x (16, B), residual (B,), ok (B,))."""
    return _fast_solve_theta(_model._coefficients(p, axis=0))


def _fast_solve_theta(theta):
    """(x (16, B), residual, ok) from theta (9, B).

    `residual` is ||L vec(rho)||_2 of the returned state in the true Liouvillian (from the exact sparse M), and `ok`
    also requires every pivot of the static-order LU to be non-negligible relative to ||M||_F (>= max |A|).
    """
    y, min_pivot, res = _solve_theta(theta)
    x = jnp.concatenate([jnp.ones_like(y[:1]), y])
    return (x, *_health_rows(theta, x, min_pivot, res))


def _health_rows(theta, x, min_pivot, res):
    """(residual, ok) of the state x (16 rows) from the solve's smallest pivot and ||A y - b|| (see `dense.health`)."""
    residual = _materialise(res / 2)  # an output, and read by `ok`
    m2 = sum(g * theta[k] * theta[l] for (k, l), g in pauli.GRAM.items())  # ||M||_F^2 from the 9x9 Gram form of theta
    op_norm = jnp.sqrt(m2) / 2
    x_norm = jnp.sqrt(sum(v * v for v in x)) / 2  # unrolled: a reduce over 16 rows is a slow library call
    return dense.health(residual, op_norm, x_norm, min_pivot / (2 * op_norm), 15, x[0].dtype)
