r"""The compact program's observables (the latency path, small batches; see `_solve.compact` for the solve): heat
currents as the bilinear forms of $\theta$ and $x$ (`_generator.pauli.HEAT_W`), by einsum; the negativity from the
eigenvalues of the partial transpose, the concurrence from those of $W^{1/2}V^\dagger\tilde\rho V W^{1/2}$ with
$\rho = VWV^\dagger$ (unitarily similar to $\sqrt\rho\,\tilde\rho\,\sqrt\rho$), all by cyclic Jacobi
(`_linalg.dense.jacobi_eigh`), rolled, without LAPACK.

Derivatives: $\lambda_{\min}$ of the partial transpose by Hellmann-Feynman (with a second-order rule for
`kappa_max`'s f''), the concurrence by an analytic rule from the left and right eigenvectors of $\rho\tilde\rho$.
"""

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import complex_dtype
from .._generator import pauli
from .._generator.liouvillian import _dag
from .._linalg.dense import jacobi_eigh, safe_sqrt
from .._solve.compact import _mm, _mv, rho_from_pauli, solve

_PT = pauli.PAULI * pauli.PT_SIGN[:, None, None]  # Pauli strings of the partial transpose on the cold qubit
SWEEPS = 6  # Jacobi sweeps: 5 reach roundoff for 4x4 Hermitian matrices in our tests
_YY_SIGN = np.array([-1.0, 1.0, 1.0, -1.0])  # sigma_y x sigma_y = antidiag(-1, 1, 1, -1)


def heat(theta, x):
    """(Q_h, Q_c) = Tr[H D_j rho] with the full H: bilinear forms of theta and x (`pauli.HEAT_W`)."""
    W = jnp.asarray(pauli.HEAT_W, dtype=x.dtype)  # (5, 4, 16): Hamiltonian term a, rate r, Pauli component
    q = jnp.einsum("Ba,Br,arj,Bj->Br", theta[:, :5], theta[:, 5:], W, x)
    return q[:, 0] + q[:, 1], q[:, 2] + q[:, 3]


def _partial_transpose(x):
    cdt = complex_dtype(x.dtype)
    pt = jnp.einsum("Bk,kij->Bij", x.astype(cdt), jnp.asarray(_PT, dtype=cdt)) / 4
    return (pt + _dag(pt)) / 2


def _spectrum(x):
    """Eigenvalues (B, 4) ascending and eigenvectors (B, 4, 4) of the partial transpose of x (B, 16)."""
    return jacobi_eigh(_partial_transpose(x), SWEEPS, vectors=True)


@jax.custom_jvp
def lambda_min(x):
    """Smallest eigenvalue of the partial transpose of the state with Pauli vector x (B, 16)."""
    return _spectrum(x)[0][:, 0]


@lambda_min.defjvp
def _lambda_min_jvp(primals, tangents):
    # d lambda = v^H dA v with v the eigenvector (Hellmann-Feynman; the partial transpose A is linear in x). The
    # kernel's adjugate form is exact too, but its transpose compiles for seconds; this is a few products.
    (x,), (dx,) = primals, tangents
    return lambda_min(x), _lambda_min_tangent(x, dx)


@jax.custom_jvp
def _lambda_min_tangent(x, dx):
    w, V = _spectrum(x)
    v = V[:, :, 0]
    return jnp.sum(jnp.conj(v) * _mv(_partial_transpose(dx), v), axis=-1).real


@_lambda_min_tangent.defjvp
def _lambda_min_tangent_jvp(primals, tangents):
    # second-order perturbation theory: d(v0^H A1 v0) along A2 = v0^H dA1 v0
    #   + 2 Re sum_{k>0} (v0^H A1 v_k)(v_k^H A2 v0) / (lambda_0 - lambda_k),
    # A1 = A(dx), A2 = A(x_dot); so kappa_max's f'' needs no derivative of the Jacobi rotations (which compiles for
    # ~10 s). A (near-)degenerate lambda_0 has no second derivative; the rule drops those terms there.
    (x, dx), (x_dot, dx_dot) = primals, tangents
    w, V = _spectrum(x)
    v0 = V[:, :, 0]
    A1, A2 = _partial_transpose(dx), _partial_transpose(x_dot)
    first = jnp.sum(jnp.conj(v0) * _mv(A1, v0), axis=-1).real
    d_first = jnp.sum(jnp.conj(v0) * _mv(_partial_transpose(dx_dot), v0), axis=-1).real
    left = jnp.sum(jnp.conj(v0)[:, :, None] * _mm(A1, V), axis=1)  # (B, 4): v0^H A1 v_k
    right = jnp.sum(jnp.conj(V) * _mm(A2, v0[:, :, None]), axis=1)  # (B, 4): v_k^H A2 v0
    gap = w[:, :1] - w
    tol = 64 * jnp.finfo(w.dtype).eps * jnp.max(jnp.abs(w), axis=-1, keepdims=True)
    ok = jnp.abs(gap) > tol
    ok = ok.at[:, 0].set(False)
    terms = jnp.where(ok, (left * right).real / jnp.where(ok, gap, 1), 0)
    return first, d_first + 2 * jnp.sum(terms, axis=-1)


def _concurrence_parts(x):
    r"""(C, lam (B, 4) descending, a, b, c) of the state with Pauli vector x (B, 16).

    $\lambda_i = \sqrt{\mu_i}$ with $\mu_i$ the eigenvalues of $S' = W^{1/2}V^\dagger\tilde\rho VW^{1/2}$
    ($\rho = VWV^\dagger$), which is unitarily similar to $\sqrt\rho\,\tilde\rho\sqrt\rho$. With $u'_i$ the
    eigenvectors of $S'$, $a_i = VW^{1/2}u'_i = \sqrt\rho\,u_i$ is a right eigenvector of $R = \rho\tilde\rho$
    whose left partner is $\rho^{-1/2}u_i$ ($l_i^\dagger a_i = 1$); `_concurrence_jvp` uses $a_i$, $b_i = Y a_i^*$
    and $c_i = \tilde\rho a_i$ ($Y = \sigma_y\otimes\sigma_y$)."""
    rho = rho_from_pauli(x)
    w, v = jacobi_eigh(rho, SWEEPS, vectors=True)
    sign = jnp.asarray(_YY_SIGN, dtype=rho.dtype)
    tilde = (sign[:, None] * sign[None, :])[None] * jnp.conj(rho[:, ::-1, ::-1])  # Y conj(rho) Y
    root = safe_sqrt(jnp.maximum(w, 0)).astype(v.dtype)  # W^(1/2)
    T = _mm(_mm(_dag(v), tilde), v)
    S = root[:, :, None] * T * root[:, None, :]
    mu, u = jacobi_eigh((S + _dag(S)) / 2, SWEEPS, vectors=True)  # ascending
    mu, u = mu[:, ::-1], u[:, :, ::-1]  # descending
    lam = safe_sqrt(jnp.maximum(mu, 0))
    a = _mm(v * root[:, None, :], u)  # columns a_i = V W^(1/2) u'_i
    b = sign[None, :, None] * jnp.conj(a[:, ::-1, :])  # columns Y conj(a_i)
    cc = _mm(tilde, a)  # columns rho~ a_i
    C = jnp.maximum(0, lam[:, 0] - lam[:, 1] - lam[:, 2] - lam[:, 3])
    return C, lam, a, b, cc


@jax.custom_jvp
def concurrence(x):
    """Wootters concurrence of the state with Pauli vector x (B, 16)."""
    return _concurrence_parts(x)[0]


@concurrence.defjvp
def _concurrence_jvp(primals, tangents):
    # d mu_i = l_i^H dR a_i with R = rho rho~ (left/right eigenvectors, l_i^H a_i = 1), which with rho~ a_i = mu_i
    # rho^(-1/2) u_i and a^H drho~ a = b^H drho b gives
    #   d lambda_i = (c_i^H drho c_i / lambda_i^2 + b_i^H drho b_i) / (2 lambda_i):
    # a few elementwise products (the derivative through the Jacobi rotations compiles ~10x longer). Where
    # lambda_i = 0 (rank-deficient R) the square root has a kink and the rule takes the derivative 0.
    (x,), (dx,) = primals, tangents
    C, lam, a, b, cc = _concurrence_parts(x)
    drho = rho_from_pauli(dx)

    def quad(vecs):  # v_i^H drho v_i for the columns v_i
        return jnp.sum(jnp.conj(vecs) * _mm(drho, vecs), axis=1).real

    pos = lam > 1e-300
    safe = jnp.where(pos, lam, 1)
    dlam = jnp.where(pos, (quad(cc) / (safe * safe) + quad(b)) / (2 * safe), 0)
    dC = jnp.where(C > 0, dlam[:, 0] - dlam[:, 1] - dlam[:, 2] - dlam[:, 3], 0)
    return C, dC


NEEDS = {  # the pieces each observable needs
    "rho": {"rho"},
    "Q_h": {"heat"},
    "Q_c": {"heat"},
    "J": {"heat"},
    "witness": {"heat"},
    "negativity": {"negativity"},
    "concurrence": {"concurrence"},
    "J_c": set(),
    "residual": set(),
    "ok": set(),
}


def observables(theta, fields):
    """dict of the requested pieces (rho, Q_h, Q_c, negativity, concurrence) plus residual and ok, from theta (B, 9)."""
    need = set().union(*(NEEDS[f] for f in fields))
    x, residual, ok = solve(theta)
    out = dict(residual=residual, ok=ok)
    if "heat" in need:
        out["Q_h"], out["Q_c"] = heat(theta, x)
    if "negativity" in need:
        lam = lambda_min(x)
        out["negativity"] = jnp.maximum(-lam, 0)
    if "concurrence" in need:
        out["concurrence"] = concurrence(x)
    if "rho" in need:
        out["rho"] = rho_from_pauli(x)
    return out
