r"""The engine's observables straight from batch-last Pauli vectors x (16, B), without LAPACK: the throughput path's
heat currents, negativity and concurrence (the solve is `_solve.kernel`).

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

**Gradients.** $\lambda_{\min}$ of the partial transpose (N and the signed negativity) has an exact implicit
derivative from the adjugate (`_pt_lambda_min`), so its primal may use the convergence loop; the concurrence
differentiates the same Jacobi with a fixed number of sweeps rolled in a `fori_loop` (`_concurrence_from_pauli`'s
JVP). Every rule is linear in the tangents: reverse mode comes from JAX's transposition, higher orders from
differentiating the rules.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import complex_dtype
from .._generator import pauli
from .._linalg import jacobi
from .._linalg.dense import safe_sqrt
from .._linalg.unrolled import _cconj, _cmul, _materialise
from .._models import engine as _model
from .._solve import kernel as _kernel

N_SWEEPS, C_SWEEPS = 2, 3  # unrolled Jacobi sweeps for N and C; more (rolled) only where a block has not converged


GRADIENT_SWEEPS = 5  # fixed sweeps of the concurrence's derivative path


def _heat_from_pauli(theta, x):
    """(Q_h, Q_c) = Tr[H D_j rho] with the full H, from theta (9, B) and x (16, B)."""
    q = []
    for site in (0, 1):  # rates 5, 6 are the hot bath, 7, 8 the cold one
        acc = None
        for a in range(5):
            for r in (2 * site, 2 * site + 1):
                w = pauli.HEAT_W[a, r]
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


def _dense_hermitian(x, sign=None):
    """(4, 4) nested list of (B,) complex entries of the Hermitian matrix with Pauli vector x (batch last)."""
    cdt = complex_dtype(x.dtype)
    rows = jacobi._entries(*pauli._hermitian_from_pauli(x, sign))
    return [[jax.lax.complex(*v).astype(cdt) for v in row] for row in rows]


def _pt_lambda_min_primal(x):
    """Smallest eigenvalue of the partial transpose of the state with Pauli vector x (16 rows), by Jacobi."""
    lam = jacobi._jacobi_eigenvalues_converged(*pauli._hermitian_from_pauli(x, pauli.PT_SIGN), N_SWEEPS)
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
    A = _dense_hermitian(x, pauli.PT_SIGN)
    dA = _dense_hermitian(dx, pauli.PT_SIGN)
    lam_c = lam.astype(A[0][0].dtype)
    M = [[A[i][j] - lam_c if i == j else A[i][j] for j in range(4)] for i in range(4)]
    num = tr = None
    for i in range(4):
        for j in range(4):
            # adj(M)[i, j] = (-1)^(i+j) det(M without row j and column i)
            cof = jacobi._det3(M, [r for r in range(4) if r != j], [c for c in range(4) if c != i])
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
    rho = jacobi._entries(*pauli._hermitian_from_pauli(x))
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
        mu = jacobi._jacobi_eigenvalues(diag, off, GRADIENT_SWEEPS, rolled=True)
    else:
        mu = jacobi._jacobi_eigenvalues_converged(diag, off, C_SWEEPS)
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


def observable_rows(theta):
    """The kernel on rows: theta (9 rows of (B,)) -> dict of x (tuple of 16 rows), Q_h, Q_c, negativity,
    concurrence, residual, ok. No derivative rule and no stacked (n, B) array: the body of the fused GPU kernel."""
    F, y, res = _kernel._primal(theta)
    x = (jnp.ones_like(y[0]), *y)
    residual, ok = _kernel._health_rows(theta, x, F[3], res)
    Q_h, Q_c = _heat_from_pauli(theta, x)
    negativity = jnp.maximum(-_pt_lambda_min_primal(x), 0)
    concurrence = _concurrence(x, rolled=False)
    return dict(x=x, Q_h=Q_h, Q_c=Q_c, negativity=negativity, concurrence=concurrence, residual=residual, ok=ok)


def fast_observables_theta(theta):
    """(x (16, B), dict of Q_h, Q_c, negativity, concurrence, residual, ok) from theta (9, B), with the derivative
    rules of the solve and of N and C."""
    x, residual, ok = _kernel._fast_solve_theta(theta)
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
    return dict(o, rho=pauli.rho_from_pauli_batch_last(x))
