r"""The engine's Liouvillian in a real basis, and the fast steady-state kernel behind `steady_state` / `observables`.

**Real basis.** A two-qubit density matrix is written in the Pauli basis, $\rho = \frac14\sum_{k=0}^{15} x_k P_k$ with
$P_{4a+b} = \sigma_a\otimes\sigma_b$ and real $x_k = \mathrm{Tr}(P_k\rho)$; $x_0 = \mathrm{Tr}\rho = 1$. In this basis
the Lindblad generator is a REAL 16×16 matrix $M_{jk} = \frac14\mathrm{Tr}(P_j\,\mathcal{L}(P_k))$ (real because
$\mathcal{L}$ maps Hermitian operators to Hermitian operators), and its first row vanishes (trace preservation).
The steady state therefore solves the real 15×15 system ("trace eliminated")

$$A\,y = b, \qquad A = M_{1:,1:},\quad b = -M_{1:,0},\quad x = (1, y),$$

which is the "15×15" system of the paper's Appendix A, built here without the misprinted eq 20.
The Hamiltonian and the dissipators are linear in nine numbers $\theta$ (`_model._coefficients`: eps_h, eps_c, g,
kappa_h, kappa_c and the four rates), so $M(\theta) = \sum_k \theta_k B_k$ with a constant tensor $B$ (9, 16, 16)
(`GENERATORS`) computed once, at import, from the generic `liouvillian` of unit operators; its entries are small
integers and halves. The basis change $U = \mathrm{vec}(P)/2$ is unitary, hence $\|\mathcal{L}\,\mathrm{vec}\rho\|_2
= \|Mx\|_2/2$: the residual reported here is the residual of the complex Liouvillian.

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
6. *Observables from the real vector* (`fast_observables`): heat currents are bilinear forms
   $Q_j = \sum_{a,r}\theta_a\theta_r\,W_{ar}\cdot x$ with constant sparse weights `HEAT_W` (full H, as CONVENTIONS.md
   requires); the partial transpose only flips the sign of the components with $\sigma_y$ on the cold qubit, and its
   spectrum comes from a cyclic Jacobi iteration in real arithmetic (complex numbers as (re, im) pairs), each sweep
   as 3 rounds of two rotations on disjoint index pairs, 2 sweeps unrolled and then more (rolled) only while some
   point of the block has not converged (`_jacobi_eigenvalues_converged`); the eigenvalues are then the second-order
   estimates of the nearly diagonal result, whose error has a rigorous bound (`_second_order`, tested against
   LAPACK), and "converged" means that bound is below $16\epsilon\|A\|_F$; the concurrence uses the eigenvalues of
   the Hermitian $L^\dagger\tilde\rho L$ ($\rho = LL^\dagger$ by an unrolled Cholesky), which are those of
   $\rho\tilde\rho$, again by Jacobi (3 sweeps unrolled: its eigenvalues are nearly degenerate).

The batch is processed in blocks of `block_size()` points with `lax.map` (`blocked`): 2048 on CPU, where the fused
loops stream their (B,) operands through the cache (~0.25 ns per point per loop plus ~0.08 ns per operand it reads,
which is what bounds the kernel: it runs ~650 fused loops per point), and 2^18 on accelerators, which need large
launches (not measured: no GPU was available to us). XLA:CPU executes those loops one after another, so one
execution keeps ONE core busy (measured: the same time on one core as on two): `split_over_threads` runs a large
concrete batch in chunks of whole blocks, one execution per core at a time, in threads (bit for bit the result of one
execution); each thread copies its chunk's results into an output allocated once in NumPy and handed to JAX without
a copy, which is faster than assembling the results with XLA (see its docstring). `observables` and `steady_state`
use it, and `scan` runs one of its chunks per core the same way.
The programs that run the kernel are compiled with 512-bit vectors (`COMPILER_OPTIONS`, through `jit`): XLA:CPU
emits 256-bit code by default, and on AVX-512 CPUs the wider loops are ~10 % faster.

**Gradients.** `_solve_theta` is a `jax.custom_jvp`: implicit differentiation of $M(\theta)x = 0$ gives
$A\,\dot y = -(\dot M x)_{1:}$, solved by `loop_solve` (a rolled, pivoted LU inside `lax.custom_linear_solve`), so no
derivative ever traces the unrolled elimination and derivative graphs stay small. $\lambda_{\min}$ of the partial
transpose (N and the signed negativity) has an exact implicit derivative from the adjugate (`_pt_lambda_min`), so
its primal may use the convergence loop; the concurrence differentiates the same Jacobi with a fixed number of
sweeps rolled in a `fori_loop` (`_concurrence_from_pauli`'s JVP). Every rule is linear in the tangents: reverse mode
comes from JAX's transposition, higher orders from differentiating the rules.

**References kept.** `lu_solve_checked` (LAPACK) and the generic complex path of `_steady` are the references the
tests compare against.

**Rows, not stacks.** The kernel passes vectors around as Python tuples of (B,) rows (the solution y, theta in
`observable_rows`) and stacks them only for the caller; block-wide decisions are max-reductions (`_block_any`). So
`observable_rows` is also the body of the experimental fused GPU kernel (`_fused`, Pallas/Triton), whose lowering
accepts neither non-power-of-2 tensors such as a (15, B) stack nor boolean reductions; there `IN_REGISTERS` makes
`_materialise` the identity.
"""

import contextvars
import functools
import threading

import jax
import jax.dlpack
import jax.numpy as jnp
import numpy as np

from . import _compile, _model
from ._checks import complex_dtype, is_concrete, unflat
from ._compile import _POOL_PREFIX, _pool, cpu_workers, in_order, is_traced  # noqa: F401 (also used here)
from ._linalg.dense import safe_sqrt
from ._operators import pauli_basis

PAULI = pauli_basis()


def _pauli_transfer(L: np.ndarray) -> np.ndarray:
    """(16, 16) complex column-stacked superoperator -> real Pauli-basis matrix M_jk = Tr(P_j L(P_k)) / 4."""
    V = np.swapaxes(PAULI, -1, -2).reshape(16, 16).T  # columns vec(P_k), column stacking
    M = V.conj().T @ L @ V / 4
    assert np.abs(M.imag).max() < 1e-14
    return M.real


def _np_liouvillian(H: np.ndarray, jumps) -> np.ndarray:
    """The column-stacked Lindblad generator in NumPy, vec(A X B) = (B^T kron A) vec(X): the same formula as
    `_liouvillian.liouvillian` (tests check both agree), without JAX, so that importing jaxengine compiles nothing."""
    eye = np.eye(H.shape[-1])
    L = -1j * (np.kron(eye, H) - np.kron(H.T, eye))
    for a in jumps:
        ada = a.conj().T @ a
        L = L + np.kron(a.conj(), a) - 0.5 * np.kron(eye, ada) - 0.5 * np.kron(ada.T, eye)
    return L


def _build_generators() -> np.ndarray:
    gens = [_np_liouvillian(h, ()) for h in _model.H_OPS]
    gens += [_np_liouvillian(np.zeros((4, 4), complex), (a,)) for a in _model.JUMP_OPS]
    return np.stack([_pauli_transfer(L) for L in gens])


GENERATORS = _build_generators()  # (9, 16, 16), exact small integers and halves


def engine_generator(p):
    """Real Pauli-basis Liouvillian M of prepared parameters, shape (..., 16, 16)."""
    theta = _model._coefficients(p)
    return jnp.einsum("...k,kij->...ij", theta, jnp.asarray(GENERATORS, dtype=theta.dtype))


# XLA:CPU emits 256-bit vector code unless told otherwise. On CPUs with AVX-512 the kernel's loops run ~9 % faster
# with 512-bit vectors (bench/RESULTS.md, "fourth pass"); elsewhere LLVM uses the widest vectors the CPU has. This
# is a per-compilation option of the programs that run the kernel: nothing global changes for the user's own code.
COMPILER_OPTIONS = {"xla_cpu_prefer_vector_width": 512}


def jit(f=None, **kwargs):
    """`jax.jit` with `COMPILER_OPTIONS` where the call is a top-level compilation (usable as a decorator).

    JAX accepts compiler options on top-level compilations only, so a call with traced arguments (inside the
    user's `jit`, `grad` or `vmap`, or inside another of our programs) goes to the same function jitted without
    them: it is then compiled as part of the enclosing program, with that program's options.
    """
    if f is None:
        return functools.partial(jit, **kwargs)
    plain, tuned = jax.jit(f, **kwargs), jax.jit(f, compiler_options=COMPILER_OPTIONS, **kwargs)

    @functools.wraps(f)
    def call(*args, **kw):
        # traced arguments, or concrete ones inside a trace (constants closed over by the user's jit)
        return (plain if is_traced((args, kw)) else tuned)(*args, **kw)

    call.lower = tuned.lower  # ahead-of-time compilation (bench/scan.py) gets the options too
    return call


def lu_solve_checked(A, b):
    """Solve A x = b (batched, (..., n, n) and (..., n)) by partially pivoted LU.

    Also returns the smallest pivot relative to max|A|, a cheap singularity indicator: a backward-stable solve has a
    small residual even for a singular A, so the residual alone cannot flag a non-unique steady state.
    """
    lu, _, perm = jax.lax.linalg.lu(A)
    bp = jnp.take_along_axis(b, perm, axis=-1)[..., None]
    y = jax.lax.linalg.triangular_solve(lu, bp, left_side=True, lower=True, unit_diagonal=True)
    x = jax.lax.linalg.triangular_solve(lu, y, left_side=True, lower=False)[..., 0]
    scale = jnp.max(jnp.abs(A), axis=(-1, -2))
    min_pivot = jnp.min(jnp.abs(jnp.diagonal(lu, axis1=-2, axis2=-1)), axis=-1)
    return x, min_pivot / scale


def health(residual, op_norm, x_norm, rel_pivot, n, dtype):
    """(residual, ok): ok = finite, residual at roundoff level, and no (numerically) zero pivot.

    A non-finite residual is reported as +inf, so that `residual` stays a meaningful number at failed points.
    """
    eps = jnp.finfo(dtype).eps
    ok = (
        jnp.isfinite(residual)
        & jnp.isfinite(x_norm)
        & (residual <= 100 * n * eps * op_norm * x_norm)
        & (rel_pivot > n * eps)
    )
    return jnp.where(jnp.isfinite(residual), residual, jnp.inf), ok


# ---------------------------------------------------------------------------------------------------------------------
# The fast kernel: everything below works on BATCH-LAST arrays, one (B,) vector per matrix entry.


def _pattern(G: np.ndarray):
    """{(i, j): ((k, c), ...)}: M_ij = sum c * theta_k over the structurally non-zero entries of M."""
    out = {}
    for i in range(G.shape[1]):
        for j in range(G.shape[2]):
            terms = tuple((k, float(G[k, i, j])) for k in range(G.shape[0]) if G[k, i, j] != 0)
            if terms:
                out[(i, j)] = terms
    return out


# ||M||_F^2 = sum_kl theta_k theta_l Tr(B_k^T B_l): {(k, l): weight} for k <= l (off-diagonal pairs counted twice)
GRAM = {
    (k, l): float((2 if k < l else 1) * np.sum(GENERATORS[k] * GENERATORS[l]))
    for k in range(9)
    for l in range(k, 9)  # noqa: E741
    if np.sum(GENERATORS[k] * GENERATORS[l]) != 0
}
M_PATTERN = _pattern(GENERATORS)  # 16x16 real Liouvillian: ~70 structural non-zeros out of 256
A_PATTERN = {(i - 1, j - 1): t for (i, j), t in M_PATTERN.items() if i > 0 and j > 0}  # the 15x15 system
B_PATTERN = {i - 1: t for (i, j), t in M_PATTERN.items() if i > 0 and j == 0}  # its right-hand side is -M[1:, 0]
PAULI_NAMES = tuple("IXYZ"[(i + 1) // 4] + "IXYZ"[(i + 1) % 4] for i in range(15))  # index i of A is P_{i+1}


def _blocks(*groups):
    return tuple(tuple(PAULI_NAMES.index(name) for name in g.split()) for g in groups)


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


def _block_any(mask):
    """Whether any point of the block has `mask`, as a max-reduction (which the Triton lowering of the fused GPU
    kernel has; it has no boolean reductions)."""
    return jnp.max(jnp.where(mask, 1.0, 0.0)) > 0


# True while the fused kernel (`_fused`) is traced: there every value lives in registers, nothing is recomputed, and
# `_materialise` is the identity
IN_REGISTERS = contextvars.ContextVar("jaxengine_in_registers", default=False)


def _materialise(v):
    """v itself, computed once: a division by a 1.0 that XLA cannot fold (exact), which XLA treats as expensive.

    XLA fuses every cheap elementwise producer into each of its consumers, so a value with several consumers deep in
    the unrolled elimination is recomputed once per consumer, recursively: the plain unrolled LU executes ~10x its
    own flops (16 000 instead of ~1 600 per point). XLA never duplicates a division into several consumers, so
    dividing by `where(v == v | v != v, 1, 2)` (1 also where v is nan; XLA does not simplify float comparisons of a
    value with itself) makes it compute v once and keep it in memory. LLVM then folds the comparison to true and the
    division by 1 away, so nothing is executed and the divisor reads no other array. On the 2-core CPU this cut the
    solve's run time by ~65 % and its compile time by more than half.
    """
    if IN_REGISTERS.get():
        return v
    return v / jnp.where((v == v) | (v != v), 1.0, 2.0).astype(v.dtype)


def _factor(theta):
    """Sparse block LU of A = M[1:, 1:] (batch last) in the static block order `BLOCKS`, without runtime pivoting.

    Returns (L, U, inv, min_pivot): the multipliers L[(i, K)] (a tuple, one per index of block K) of row i, the
    upper-factor entries U[(k, j)] (ORIGINAL indices), the inverse of each diagonal block (a tuple: 1/d, or the four
    entries of the explicit 2x2 inverse), and the smallest pivot per point (|d|, or |det D| / ||D||_F <= sigma_min
    for a 2x2 block). The structural zeros are known at trace time, so only the entries of the filled pattern are
    ever touched. U and L are materialised (`_materialise`): each is read by every later elimination step below it
    and by both substitutions.
    """
    a = {ij: _entry(t, theta) for ij, t in A_PATTERN.items()}
    zero = jnp.zeros_like(theta[0])
    get = lambda i, j: a.get((i, j), zero)  # noqa: E731
    rem = [k for blk in BLOCKS for k in blk]
    L, U, inv = {}, {}, {}
    min_pivot = None
    for blk in BLOCKS:
        for k in blk:
            rem.remove(k)
        if len(blk) == 1:
            (k,) = blk
            piv = a[(k, k)]
            inv[blk] = (1 / piv,)
            size = jnp.abs(piv)
        else:  # a rotating pair: [[-G, -w], [w, -G]] up to the updates; det = G^2 + w^2 does not cancel
            (k1, k2) = blk
            d11, d12, d21, d22 = get(k1, k1), get(k1, k2), get(k2, k1), get(k2, k2)
            det = d11 * d22 - d12 * d21
            r = 1 / det
            inv[blk] = tuple(_materialise(v) for v in (d22 * r, -d12 * r, -d21 * r, d11 * r))
            size = jnp.abs(det) / jnp.sqrt(d11 * d11 + d12 * d12 + d21 * d21 + d22 * d22)
        min_pivot = size if min_pivot is None else jnp.minimum(min_pivot, size)
        cols = [j for j in rem if any((k, j) in a for k in blk)]
        for k in blk:
            for j in cols:
                U[(k, j)] = _materialise(get(k, j))
        for i in rem:
            if not any((i, k) in a for k in blk):
                continue
            if len(blk) == 1:
                m = (_materialise(a[(i, blk[0])] * inv[blk][0]),)
            else:  # the row (a_ik1, a_ik2) times the 2x2 inverse
                (k1, k2), (i11, i12, i21, i22) = blk, inv[blk]
                r1, r2 = get(i, k1), get(i, k2)
                m = (_materialise(r1 * i11 + r2 * i21), _materialise(r1 * i12 + r2 * i22))
            L[(i, blk)] = m
            for j in cols:
                v = sum(mt * U[(k, j)] for mt, k in zip(m, blk, strict=True))
                a[(i, j)] = -v if (i, j) not in a else a[(i, j)] - v
    return L, U, inv, min_pivot


def _apply(F, rhs):
    """x = A^{-1} rhs (a tuple of 15 (B,) rows) with the factors F of `_factor`; rhs is a dict index -> (B,), missing
    rows are 0.

    Every y_k and x_k of the two substitutions is materialised: each one feeds all the later rows."""
    L, U, inv, _ = F
    zero = jnp.zeros_like(next(iter(U.values())))
    y = {}
    for blk in BLOCKS:  # forward substitution with the unit block-lower factor; structural zeros of rhs are skipped
        for k in blk:
            v = rhs.get(k)
            for (i, J), m in L.items():
                if i == k and J[0] in y:
                    for mt, j in zip(m, J, strict=True):
                        v = -mt * y[j] if v is None else v - mt * y[j]
            y[k] = _materialise(v) if v is not None else zero
    x = {}
    for blk in reversed(BLOCKS):  # back substitution, through the inverse of each diagonal block
        w = []
        for k in blk:
            v = y[k]
            for (i, j), u in U.items():
                if i == k:
                    v = v - u * x[j]
            w.append(v)
        if len(blk) == 1:
            x[blk[0]] = _materialise(w[0] * inv[blk][0])
        else:
            i11, i12, i21, i22 = inv[blk]
            x[blk[0]] = _materialise(i11 * w[0] + i12 * w[1])
            x[blk[1]] = _materialise(i21 * w[0] + i22 * w[1])
    return tuple(x[i] for i in range(15))


def _rhs(theta):
    return {i: -_entry(t, theta) for i, t in B_PATTERN.items()}


def _residual_rows(theta, y, b):
    """For each row i of A y = b, in order: ((b - A y)_i, (|A||y| + |b|)_i), from the exact sparse A."""
    for i in range(15):
        terms = [(_entry(t, theta), j) for (ii, j), t in A_PATTERN.items() if ii == i]
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
    # The primal comes from `_solve_theta` itself and the tangent solve from `loop_solve` (a rolled LU inside
    # `custom_linear_solve`), so derivatives of any order and mode never differentiate or transpose the unrolled
    # elimination: the derivative graph stays small (compile seconds, not minutes).
    (theta,), (dtheta,) = primals, tangents
    y, min_pivot, res = _solve_theta(theta)
    x = jnp.concatenate([jnp.ones_like(y[:1]), y])
    dMx = _matvec(M_PATTERN, dtheta, x)
    r = jnp.stack([-dMx[i] if i in dMx else jnp.zeros_like(y[0]) for i in range(1, 16)])
    A = jnp.einsum("kB,kij->Bij", theta, jnp.asarray(GENERATORS[:, 1:, 1:], dtype=theta.dtype))
    dy = loop_solve(A, r.T).T
    return (y, min_pivot, res), (dy, jnp.zeros_like(min_pivot), jnp.zeros_like(res))


def _lu_loop(a):
    """Partially pivoted LU of one (n, n) matrix with a rolled loop: (lu, perm), P a = L U as in LAPACK getrf."""
    n = a.shape[-1]
    idx = jnp.arange(n)

    def body(k, state):
        a, perm = state
        j = jnp.argmax(jnp.where(idx >= k, jnp.abs(a[:, k]), -1))
        rk, rj = a[k], a[j]
        a = a.at[k].set(rj).at[j].set(rk)
        pk, pj = perm[k], perm[j]
        perm = perm.at[k].set(pj).at[j].set(pk)
        m = jnp.where(idx > k, a[:, k] / a[k, k], 0)
        a = a - jnp.outer(m, jnp.where(idx > k, a[k], 0))
        a = a.at[:, k].set(jnp.where(idx > k, m, a[:, k]))
        return a, perm

    return jax.lax.fori_loop(0, n, body, (a, idx))


def _lu_apply(lu, perm, b, trans):
    """Solve with the factors of `_lu_loop`: A x = b (trans=False) or A^T x = b (trans=True)."""
    n = lu.shape[-1]
    idx = jnp.arange(n)
    lower = jnp.where(idx[:, None] > idx[None, :], lu, 0)
    upper = jnp.where(idx[:, None] <= idx[None, :], lu, 0)

    def forward(mat, unit, v):  # mat lower triangular
        def body(i, x):
            xi = (v[i] - mat[i] @ jnp.where(idx < i, x, 0)) / (1 if unit else mat[i, i])
            return x.at[i].set(xi)

        return jax.lax.fori_loop(0, n, body, jnp.zeros_like(v))

    def backward(mat, unit, v):  # mat upper triangular
        def body(t, x):
            i = n - 1 - t
            xi = (v[i] - mat[i] @ jnp.where(idx > i, x, 0)) / (1 if unit else mat[i, i])
            return x.at[i].set(xi)

        return jax.lax.fori_loop(0, n, body, jnp.zeros_like(v))

    if not trans:  # P A = L U: L U x = P b
        return backward(upper, False, forward(lower, True, b[perm]))
    # A^T = U^T L^T P: U^T z = b, L^T w = z, x = P^T w
    w = backward(lower.T, True, forward(upper.T, False, b))
    return jnp.zeros_like(w).at[perm].set(w)


def loop_solve(A, b):
    """x = A^{-1} b for (B, n, n), (B, n), differentiable to any order in A and b, without LAPACK.

    Mirrors `jnp.linalg.solve`: the LU is computed from `stop_gradient(A)`, and `lax.custom_linear_solve` supplies
    the implicit derivative (d x = A^{-1}(d b - d A x)) and the transpose solve for reverse mode. The factorisation is
    a rolled loop, so its graph is a few dozen ops whatever n is; it is the derivative path of the fast kernel.
    """

    def one(A, b):
        lu, perm = _lu_loop(jax.lax.stop_gradient(A))
        return jax.lax.custom_linear_solve(
            lambda v: A @ v,
            b,
            solve=lambda _, v: _lu_apply(lu, perm, v, False),
            transpose_solve=lambda _, v: _lu_apply(lu, perm, v, True),
        )

    return jax.vmap(one)(A, b)


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
    """(residual, ok) of the state x (16 rows) from the solve's smallest pivot and ||A y - b|| (see `health`)."""
    residual = _materialise(res / 2)  # an output, and read by `ok`
    m2 = sum(g * theta[k] * theta[l] for (k, l), g in GRAM.items())  # ||M||_F^2 from the 9x9 Gram form of theta
    op_norm = jnp.sqrt(m2) / 2
    x_norm = jnp.sqrt(sum(v * v for v in x)) / 2  # unrolled: a reduce over 16 rows is a slow library call
    return health(residual, op_norm, x_norm, min_pivot / (2 * op_norm), 15, x[0].dtype)


# ---------------------------------------------------------------------------------------------------------------------
# Observables straight from the batch-last Pauli vector x (16, B): no LAPACK call per point.


def _pauli_entries():
    """{(i, j): ((k, re, im), ...)} for i <= j: rho_ij = sum_k (re + i im) x_k / 4, from the Pauli strings."""
    out = {}
    for i in range(4):
        for j in range(i, 4):
            out[(i, j)] = tuple(
                (k, float(PAULI[k, i, j].real), float(PAULI[k, i, j].imag)) for k in range(16) if PAULI[k, i, j] != 0
            )
    return out


PAULI_ENTRIES = _pauli_entries()
PT_SIGN = np.array([-1.0 if k % 4 == 2 else 1.0 for k in range(16)])  # rho^{T_c}: sigma_y on c changes sign
# Heat-current weights: Q = sum_{a, r} theta_a theta_r W[a, r] . x, with h_a = Tr(P_k H_a) the Pauli coordinates of
# the a-th Hamiltonian term and GENERATORS[5 + r] the unit-rate dissipator r (Tr[H D rho] = h . (M_D x) / 4).
_H_COORDS = np.einsum("kij,aji->ak", PAULI, _model.H_OPS).real
HEAT_W = np.einsum("ak,rkj->arj", _H_COORDS, GENERATORS[5:]) / 4  # (5, 4, 16)
N_SWEEPS, C_SWEEPS = 2, 3  # unrolled Jacobi sweeps for N and C; more (rolled) only where a block has not converged
MAX_EXTRA_SWEEPS = 5  # 7 or 8 sweeps in all: far more than 4x4 Hermitian matrices need (2-5 in our tests)
GRADIENT_SWEEPS = 5  # fixed sweeps of the concurrence's derivative path


def _hermitian_from_pauli(x, sign=None):
    """A Hermitian 4x4 per point, in real arithmetic: (diag: list of 4 real (B,), off: {(i, j): (re, im)} for i < j)."""
    zero = jnp.zeros_like(x[0])
    diag, off = [], {}
    for (i, j), terms in PAULI_ENTRIES.items():
        re = im = None
        for k, a, b in terms:
            xk = x[k] if sign is None or sign[k] > 0 else -x[k]
            if a:
                re = a * xk if re is None else re + a * xk
            if b:
                im = b * xk if im is None else im + b * xk
        re = zero if re is None else re / 4
        if i == j:
            diag.append(re)
        else:
            off[(i, j)] = (re, zero if im is None else im / 4)
    return diag, off


# complex numbers as (re, im) pairs of real (B,) vectors: XLA's complex elementwise ops vectorise poorly on CPU
def _cmul(a, b):
    return a[0] * b[0] - a[1] * b[1], a[0] * b[1] + a[1] * b[0]


def _cconj(a):
    return a[0], -a[1]


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
    Not differentiable in reverse mode (a while loop): `_pt_lambda_min` carries its own derivative rule.
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


def _heat_from_pauli(theta, x):
    """(Q_h, Q_c) = Tr[H D_j rho] with the full H, from theta (9, B) and x (16, B)."""
    q = []
    for site in (0, 1):  # rates 5, 6 are the hot bath, 7, 8 the cold one
        acc = None
        for a in range(5):
            for r in (2 * site, 2 * site + 1):
                w = HEAT_W[a, r]
                dot = None
                for k in np.flatnonzero(w):
                    v = float(w[k]) * x[k]
                    dot = v if dot is None else dot + v
                if dot is None:
                    continue
                v = theta[a] * theta[5 + r] * dot
                acc = v if acc is None else acc + v
        q.append(acc)
    return q[0], q[1]


def _negativity_from_pauli(x):
    # a two-qubit partial transpose has at most one negative eigenvalue, so N = max(0, -lambda_min) (Sanpera et al.
    # 1998); lambda_min carries an exact implicit derivative (see `_pt_lambda_min`)
    return jnp.maximum(signed_negativity_from_pauli(x), 0)


def _entries(diag, off):
    """(4, 4) nested list of (re, im) pairs of a Hermitian matrix given as (diag, off)."""
    zero = jnp.zeros_like(diag[0])
    return [
        [(diag[i], zero) if i == j else (off[(i, j)] if i < j else _cconj(off[(j, i)])) for j in range(4)]
        for i in range(4)
    ]


def _dense_hermitian(x, sign=None):
    """(4, 4) nested list of (B,) complex entries of the Hermitian matrix with Pauli vector x (batch last)."""
    cdt = complex_dtype(x.dtype)
    return [[jax.lax.complex(*v).astype(cdt) for v in row] for row in _entries(*_hermitian_from_pauli(x, sign))]


def _det3(m, rows, cols):
    (a, b, c), (d, e, f), (g, h, i) = ([m[r][s] for s in cols] for r in rows)
    return a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g)


def _pt_lambda_min_primal(x):
    """Smallest eigenvalue of the partial transpose of the state with Pauli vector x (16 rows), by Jacobi."""
    lam = _jacobi_eigenvalues_converged(*_hermitian_from_pauli(x, PT_SIGN), N_SWEEPS)
    return functools.reduce(jnp.minimum, lam)


_pt_lambda_min = jax.custom_jvp(_pt_lambda_min_primal)


@_pt_lambda_min.defjvp
def _pt_lambda_min_jvp(primals, tangents):
    # Implicit differentiation of det(A - lambda I) = 0: d lambda = tr(adj(A - lambda) dA) / tr(adj(A - lambda)),
    # with the adjugate as explicit 3x3 cofactors (polynomials), so derivatives of every order are exact and cheap
    # (differentiating the Jacobi sweeps instead costs a minute of compilation for second derivatives).
    (x,), (dx,) = primals, tangents
    lam = _pt_lambda_min(x)
    return lam, lambda_min_tangent(x, dx, lam)


def lambda_min_tangent(x, dx, lam):
    r"""Tangent of $\lambda_{\min}$ of the partial transpose: $\mathrm{tr}(\mathrm{adj}(A - \lambda)\,dA) /
    \mathrm{tr}\,\mathrm{adj}(A - \lambda)$ from the Pauli vectors x, dx (16 rows) and the eigenvalue lam (B,)."""
    A = _dense_hermitian(x, PT_SIGN)
    dA = _dense_hermitian(dx, PT_SIGN)
    lam_c = lam.astype(A[0][0].dtype)
    M = [[A[i][j] - lam_c if i == j else A[i][j] for j in range(4)] for i in range(4)]
    num = tr = None
    for i in range(4):
        for j in range(4):
            # adj(M)[i, j] = (-1)^(i+j) det(M without row j and column i)
            cof = _det3(M, [r for r in range(4) if r != j], [c for c in range(4) if c != i])
            cof = cof if (i + j) % 2 == 0 else -cof
            t = cof * dA[j][i]
            num = t if num is None else num + t
            if i == j:
                tr = cof if tr is None else tr + cof
    return num.real / tr.real


def signed_negativity_from_pauli(x):
    r"""Smooth signed negativity $n = -\lambda_{\min}(\rho^{T_c})$ (= N where N > 0) from the Pauli vector."""
    return -_pt_lambda_min(x)


def _concurrence(x, rolled):
    r"""Wootters concurrence from the eigenvalues $\mu$ of $L^\dagger\tilde\rho L$ with $\rho = LL^\dagger$ (Cholesky):
    they are those of $\rho\tilde\rho$, i.e. $\lambda_i^2$, and the matrix is Hermitian so Jacobi applies. Like any
    method that takes $\sqrt{\mu}$, the result is accurate to ~sqrt(eps) where $\rho\tilde\rho$ has tiny eigenvalues.
    Jacobi runs to convergence, or (`rolled`, the derivative path) a fixed `GRADIENT_SWEEPS` in a `fori_loop`."""
    rho = _entries(*_hermitian_from_pauli(x))
    zero = jnp.zeros_like(x[0])
    L = {}
    for j in range(4):
        s = rho[j][j][0]
        for k in range(j):
            s = s - (L[(j, k)][0] ** 2 + L[(j, k)][1] ** 2)
        ljj = safe_sqrt(s)
        pos = ljj > 0
        den = jnp.where(pos, ljj, 1)
        L[(j, j)] = (_materialise(ljj), zero)
        for i in range(j + 1, 4):
            v = rho[i][j]
            for k in range(j):
                m = _cmul(L[(i, k)], _cconj(L[(j, k)]))
                v = (v[0] - m[0], v[1] - m[1])
            # rank-deficient: zero column. Each entry of L feeds the later columns and most of T and S: computed once
            # (without materialising, XLA recomputed them inside the 16 loops that build S; C took ~10 % longer)
            L[(i, j)] = (_materialise(jnp.where(pos, v[0] / den, 0)), _materialise(jnp.where(pos, v[1] / den, 0)))
    sgn = (-1.0, 1.0, 1.0, -1.0)  # sigma_y x sigma_y = antidiag(-1, 1, 1, -1)

    def tilde(i, j):
        re, im = rho[3 - i][3 - j]
        f = sgn[i] * sgn[j]
        return f * re, -f * im

    def csum(terms):
        terms = list(terms)
        return sum(t[0] for t in terms), sum(t[1] for t in terms)

    T = {(i, j): csum(_cmul(tilde(i, k), L[(k, j)]) for k in range(j, 4)) for i in range(4) for j in range(4)}
    S = {(i, j): csum(_cmul(_cconj(L[(k, i)]), T[(k, j)]) for k in range(i, 4)) for i in range(4) for j in range(i, 4)}
    diag, off = [S[(i, i)][0] for i in range(4)], {k: v for k, v in S.items() if k[0] < k[1]}
    if rolled:  # the derivative path: a fixed number of sweeps, differentiable in both modes
        mu = _jacobi_eigenvalues(diag, off, GRADIENT_SWEEPS, rolled=True)
    else:
        mu = _jacobi_eigenvalues_converged(diag, off, C_SWEEPS)
    lam = [safe_sqrt(m) for m in mu]
    top = functools.reduce(jnp.maximum, lam)
    return jnp.maximum(0, 2 * top - sum(lam))


@jax.custom_jvp
def _concurrence_from_pauli(x):
    """Concurrence from the Pauli vector x (16, B); its primal runs Jacobi to convergence (unrolled sweeps first)."""
    return _concurrence(x, rolled=False)


@_concurrence_from_pauli.defjvp
def _concurrence_from_pauli_jvp(primals, tangents):
    # derivatives go through the same sweeps ROLLED in a fori_loop: one compiled sweep keeps reverse and higher-order
    # graphs small (differentiating the unrolled sweeps quadruples the compile time of the gradient tests)
    return jax.jvp(functools.partial(_concurrence, rolled=True), primals, tangents)


def rho_from_pauli_batch_last(x):
    """(16, B) real -> (B, 4, 4) complex, exactly Hermitian, using only the non-zeros of the Pauli strings."""
    rho = [v for row in _entries(*_hermitian_from_pauli(x)) for v in row]
    re, im = jnp.stack([v[0] for v in rho], axis=-1), jnp.stack([v[1] for v in rho], axis=-1)
    return jax.lax.complex(re, im).astype(complex_dtype(x.dtype)).reshape(re.shape[:-1] + (4, 4))


def observable_rows(theta):
    """The kernel on rows: theta (9 rows of (B,)) -> dict of x (tuple of 16 rows), Q_h, Q_c, negativity,
    concurrence, residual, ok. No derivative rule and no stacked (n, B) array: the body of the fused GPU kernel."""
    F, y, res = _primal(theta)
    x = (jnp.ones_like(y[0]), *y)
    residual, ok = _health_rows(theta, x, F[3], res)
    Q_h, Q_c = _heat_from_pauli(theta, x)
    negativity = jnp.maximum(-_pt_lambda_min_primal(x), 0)
    concurrence = _concurrence(x, rolled=False)
    return dict(x=x, Q_h=Q_h, Q_c=Q_c, negativity=negativity, concurrence=concurrence, residual=residual, ok=ok)


def fast_observables_theta(theta):
    """(x (16, B), dict of Q_h, Q_c, negativity, concurrence, residual, ok) from theta (9, B), with the derivative
    rules of the solve and of N and C."""
    x, residual, ok = _fast_solve_theta(theta)
    Q_h, Q_c = _heat_from_pauli(theta, x)
    o = dict(
        Q_h=Q_h,
        Q_c=Q_c,
        negativity=_negativity_from_pauli(x),
        concurrence=_concurrence_from_pauli(x),
        residual=residual,
        ok=ok,
    )
    return x, o


def fast_observables(p):
    """Everything `observables` returns except J_c/witness, for prepared flat parameters, from one batch-last solve.

    Returns a dict of Q_h, Q_c, negativity, concurrence, residual, ok (each (B,)) and rho (B, 4, 4).
    """
    x, o = fast_observables_theta(_model._coefficients(p, axis=0))
    return dict(o, rho=rho_from_pauli_batch_last(x))


BLOCK = 2048  # points per block on CPU: measured fastest with one execution per core (1024-2048; 4096 -12 %)
GPU_BLOCK = 1 << 18  # on accelerators a block must fill the device; 2^18 points keep ~0.6 GB of temporaries


def block_size() -> int:
    """Points per block of `blocked` for the default backend."""
    return BLOCK if jax.default_backend() == "cpu" else GPU_BLOCK


def pad_points(v, pad: int):
    """v (..., n) with `pad` copies of its first point appended along the last (batch) axis: padding that is a valid
    engine state, so padded points cost no refinement and produce no nan."""
    return jnp.concatenate([v, jnp.broadcast_to(v[..., :1], v.shape[:-1] + (pad,))], axis=-1) if pad else v


def blocked(f, p, block=None):
    """Apply f (flat params -> pytree of (B, ...) arrays) in blocks of `block` points with `lax.map`.

    The unrolled kernel is hundreds of elementwise ops that XLA cannot fuse into one loop, so intermediates go through
    memory; blocks of a few thousand points keep them in cache (the batch-LAST layout vectorises each op across the
    block). The tail is padded with copies of the first point and dropped.
    """
    n = jax.tree.leaves(p)[0].shape[0]
    block = block_size() if block is None else block

    if n <= block:
        return f(p)
    nb = -(-n // block)
    pad = nb * block - n

    def split(v):
        return pad_points(v, pad).reshape(nb, block)

    out = jax.lax.map(f, jax.tree.map(split, p))
    return jax.tree.map(lambda y: y.reshape((nb * block,) + y.shape[2:])[:n], out)


CHUNK_BLOCKS = 16  # blocks per chunk of `split_over_threads` (2^15 points, ~13 MB of results: malloc reuses them)

# Batches of at least this many points run this kernel (the throughput path: ~10 s to compile once, then ~1.5e6
# points/s on 2 cores); smaller ones run the compact program of `_solve.compact` (compiles in about a second, ~5e4
# points/s). The choice depends on the batch size only, so a given call always takes the same path (eager or traced).
THROUGHPUT_MIN = 1 << 16


def path_for(n: int) -> str:
    """"compact" or "throughput": the program that computes a flat batch of n points."""
    return "throughput" if n >= THROUGHPUT_MIN else "compact"


def run_throughput(name: str, jitted, batch, shape, **static):
    """`jitted(batch, **static)` (a throughput program of a flat batch) in fixed-size chunks of whole blocks on every
    core (`split_over_threads`), each chunk by ONE executable from the cache of `_compile` (compiled with
    `COMPILER_OPTIONS` on CPU), whatever the batch size; results get the batch shape `shape`."""
    options = COMPILER_OPTIONS if jax.default_backend() == "cpu" else None

    def chunk(part):
        if is_traced(part):  # jax.eval_shape of the output structure
            return jitted(part, **static)
        return _compile.executable(name, jitted, (part,), static, options)(part)

    return split_over_threads(chunk, batch, shape, chunk=CHUNK_BLOCKS * block_size())


def _aligned_empty(shape, dtype):
    """An uninitialised NumPy array whose data start on a 64-byte boundary: XLA:CPU then takes it over without a copy
    (`jax.dlpack.from_dlpack`; at other alignments it copies)."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape)) * dtype.itemsize
    raw = np.empty(nbytes + 64, np.uint8)
    start = -raw.ctypes.data % 64
    return raw[start : start + nbytes].view(dtype).reshape(shape)


def split_over_threads(f, p, shape=None, workers=None, chunk=None):
    """f(p) for a jitted f of flat parameters with a 1-D batch, computed by `workers` threads at once on CPU; each
    result leaf gets the batch shape `shape` (default: the flat batch), as `unflat` would give it.

    XLA:CPU executes the kernel's ~700 small fused loops one after another: one execution keeps ONE core busy
    (measured: the same time with one core as with two). So for concrete inputs on a CPU backend, the batch is cut
    into chunks of `CHUNK_BLOCKS` whole blocks (`block_size`), each chunk runs as its own XLA execution in a pool of
    `workers` threads (all share one compiled program), and the thread that computed a chunk copies its results into
    place in the output, which is allocated once, in NumPy, and handed to JAX without a copy (`_aligned_empty`). So
    the copies run in parallel, and the small chunks' buffers are reused from one chunk to the next instead of being
    fresh memory each time. The blocks are the same as in one execution (the tail is padded with copies of the first
    point, as `blocked` does), so the results are bit for bit the same. Traced inputs, other backends, batches under
    two blocks per worker and calls from a pool thread take the plain call `f(p)`.

    With `chunk` (a multiple of the block size) every chunk has exactly that size, the last one padded, on any
    backend and with any number of workers: f then sees one input shape whatever n is (one compiled program).
    """
    on_cpu = jax.default_backend() == "cpu"
    workers = (cpu_workers() if on_cpu else 1) if workers is None else workers
    n = jax.tree.leaves(p)[0].shape[0]
    shape = (n,) if shape is None else tuple(shape)
    block = block_size()
    leaves = jax.tree.leaves(p)
    if not all(is_concrete(v) for v in leaves) or threading.current_thread().name.startswith(_POOL_PREFIX):
        return unflat(f(p), shape)  # traced, or already in a pool thread (waiting there on the pool could deadlock)
    if chunk is None:
        if n < 2 * workers * block or workers < 2 or not on_cpu:
            return unflat(f(p), shape)  # under two blocks per worker the overheads win
        chunk = min(CHUNK_BLOCKS, -(-n // (workers * block))) * block  # whole blocks per chunk
    m = chunk
    host = jax.tree.map(np.asarray, p)  # zero-copy views on CPU

    def piece(i):
        start = i * m
        part = jax.tree.map(lambda v: v[start : start + m], host)
        if n - start < m:  # the tail, padded as `blocked` pads
            part = jax.tree.map(lambda v, w: np.concatenate([v, np.broadcast_to(w[:1], (m - len(v),))]), part, host)
        return part

    results = jax.eval_shape(f, piece(0))
    out = jax.tree.map(lambda s: _aligned_empty((n,) + s.shape[1:], s.dtype), results)

    def run(i):
        start = i * m
        size = min(m, n - start)
        for o, v in zip(jax.tree.leaves(out), jax.tree.leaves(f(piece(i))), strict=True):
            np.copyto(o[start : start + size], np.asarray(v)[:size])  # waits for the chunk; releases the GIL

    for _ in in_order(run, range(-(-n // m)), workers):
        pass
    return jax.tree.map(lambda o: jax.dlpack.from_dlpack(o.reshape(shape + o.shape[1:])), out)
