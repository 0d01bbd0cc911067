r"""The engine's Liouvillian in a real basis: the constant tensor behind every engine program.

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

Also here, all constant and built in NumPy at import (so importing compiles nothing): the static sparsity of $M$
(`M_PATTERN`, `A_PATTERN`, `B_PATTERN`, the Gram form `GRAM` of $\|M\|_F^2$), the Pauli entries of $\rho$
(`PAULI_ENTRIES`), the sign flips of the partial transpose (`PT_SIGN`) and the heat-current weights (`HEAT_W`).
"""

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import complex_dtype
from .._linalg.jacobi import _entries
from .._models import engine as _model
from .._models.operators import pauli_basis

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


def rho_from_pauli_batch_last(x):
    """(16, B) real -> (B, 4, 4) complex, exactly Hermitian, using only the non-zeros of the Pauli strings."""
    rho = [v for row in _entries(*_hermitian_from_pauli(x)) for v in row]
    re, im = jnp.stack([v[0] for v in rho], axis=-1), jnp.stack([v[1] for v in rho], axis=-1)
    return jax.lax.complex(re, im).astype(complex_dtype(x.dtype)).reshape(re.shape[:-1] + (4, 4))
