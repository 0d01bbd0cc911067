r"""Full counting statistics of the excitations (or energy quanta) that one bath exchanges with the engine.

**Tilted generator.** Count $+\nu$ for every jump $\sigma_+^{(j)}$ (bath $j$ puts an excitation into the qubits) and
$-\nu$ for every jump $\sigma_-^{(j)}$ ($\nu = 1$ for particles, $\nu = \varepsilon_j$, the qubit's bare gap, for
energy). With the jump superoperators $\mathcal{J}_k\rho = L_k\rho L_k^\dagger$ (rate-weighted) of bath $j$, the
generating function of the counted quantity $n$ grows as $\langle e^{sn}\rangle \sim e^{\lambda(s)t}$, where
$\lambda(s)$ is the eigenvalue of the tilted generator

$$M(s) = M + \sum_{k\in j}(e^{\nu_k s} - 1)\,\mathcal{J}_k, \qquad \nu_{+} = \nu,\ \nu_{-} = -\nu,$$

that continues the steady state's 0, and the cumulants per unit time are $c_n = \lambda^{(n)}(0)$: mean, noise
(zero-frequency noise $c_2$) and skewness $c_3$ (Esposito, Harbola & Mukamel, Rev. Mod. Phys. 81, 1665 (2009)).

**Perturbative expansion (Flindt et al., Phys. Rev. B 82, 155407 (2010)).** With $M_n = \sum_k\nu_k^n\mathcal{J}_k$,
$\langle 1|$ the trace, $|x\rangle$ the steady state and the Drazin inverse $M^D$ ($M M^D = M^D M = 1 -
|x\rangle\langle 1|$, $M^D|x\rangle = 0$, $\langle 1|M^D = 0$), Rayleigh–Schrödinger perturbation theory in $s$ gives

$$c_1 = \langle 1|M_1|x\rangle,\quad x_1 = -M^DM_1x,\quad c_2 = \langle 1|M_2|x\rangle + 2\langle 1|M_1|x_1\rangle,$$
$$x_2 = -M^D\bigl(M_1x_1 + \tfrac12M_2x - c_1x_1\bigr),\quad
c_3 = \langle 1|M_3|x\rangle + 3\langle 1|M_2|x_1\rangle + 6\langle 1|M_1|x_2\rangle.$$

**The Drazin inverse is the steady state's own 15×15 solve.** In the real Pauli basis $\langle 1|v\rangle = v_0$ and
the first row of $M$ vanishes. The bordered system $\begin{psmallmatrix}M & x\\ \langle 1| & 0\end{psmallmatrix}
\begin{psmallmatrix}z\\ \mu\end{psmallmatrix} = \begin{psmallmatrix}v - v_0x\\ 0\end{psmallmatrix}$ that defines
$z = M^Dv$ has $z_0 = 0$ from its last row, and then its rows 1..15 read $A z_{1:} = (v - v_0x)_{1:}$ with the same
$A = M_{1:,1:}$ as the steady state ($\mu = 0$ from row 0). So each application of $M^D$ is one solve with $A$, done
with the steady-state kernel's unrolled, batch-last block LU (`_kernel._factor`, factorised once per point and shared
by the two solves: no LAPACK, vectorised across points). Derivatives go through `lax.custom_linear_solve` (tangents
solved with the same factors; the transposed solves of reverse mode with `_kernel`'s rolled, pivoted LU of $A$), the
steady state through the kernel's implicit rule: the cumulants are differentiable with respect to every parameter.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .. import _compile
from .._checks import unflat
from .._generator import pauli
from .._linalg import dense
from .._models import engine as _model
from .._models.params import flat, prepare
from . import kernel as _kernel

QUANTITIES = ("particles", "energy")
BATHS = ("h", "c")


def _jump_superoperators() -> np.ndarray:
    """(4, 16, 16) real Pauli-basis matrices of rho -> L_k rho L_k^dag for the unit jump operators (+h, -h, +c, -c)."""
    P = np.asarray(pauli.PAULI)
    out = []
    for L in _model.JUMP_OPS:
        # M_jl = Tr(P_j L P_l L^dag) / 4
        out.append(np.einsum("jab,bc,lcd,da->jl", P, L, P, L.conj().T).real / 4)
    return np.stack(out)


JUMPS = _jump_superoperators()


class CountingStatistics(NamedTuple):
    r"""Result of `counting_statistics`: cumulants per unit time of the counted quantity in the long-time limit.

    Attributes:
        mean: (array of shape (...)) $c_1$, the mean current (positive: the bath puts excitations / energy in).
        noise: (array of shape (...)) $c_2$, the zero-frequency noise (variance per unit time).
        skewness: (array of shape (...)) $c_3$, the third cumulant per unit time (nan when `order` < 3).
        fano: (array of shape (...)) $c_2/|c_1|$ (inf where the mean vanishes).
        ok: (bool array of shape (...)) the steady state is ok and the cumulants are finite.
    """

    mean: jax.Array
    noise: jax.Array
    skewness: jax.Array
    fano: jax.Array
    ok: jax.Array


def kernel_solver(theta, A):
    """x = A^{-1} b for (B, 15) right-hand sides with the steady-state kernel's unrolled, batch-last block LU of A
    (`_kernel._factor`, factorised once, no LAPACK, vectorised across points), wrapped in `lax.custom_linear_solve`:
    tangents are solved with the same factors, and the transpose solve of reverse mode (A^T, which the kernel does
    not factorise) uses the rolled, pivoted LU of `_kernel`, computed only when reverse mode asks for it."""
    F = _kernel._factor(jax.lax.stop_gradient(theta).T)  # batch-last theta (9, B)

    def forward(_, v):  # v (B, 15)
        return jnp.stack(_kernel._apply(F, {i: v[:, i] for i in range(15)}), axis=-1)

    def transpose(_, v):
        def one(a, b):
            lu, perm = dense._lu_loop(a)
            return dense._lu_apply(lu, perm, b, True)

        return jax.vmap(one)(jax.lax.stop_gradient(A), v)

    def solve(b):
        return jax.lax.custom_linear_solve(
            lambda v: jnp.einsum("bij,bj->bi", A, v), b, solve=forward, transpose_solve=transpose
        )

    return solve, F[3]  # F[3]: the smallest pivot per point (a singularity indicator)


def cumulants(theta, x, weights, order: int, solve):
    r"""(c1, c2, c3) per point from theta (B, 9), the steady state x (B, 16), the counting weights (B, 4)
    $\nu_k$ of the four jumps (zero for jumps that are not counted) and `solve` (b -> A^{-1} b, from
    `steady_pauli`). c3 is nan when `order` < 3."""
    rated = weights * theta[:, 5:]  # nu_k gamma_k (theta[5:] are the four rates)
    J = jnp.asarray(JUMPS, dtype=theta.dtype)

    def Mn(n, v):  # M_n v = sum_k nu_k^n gamma_k J_k v
        w = rated * weights ** (n - 1)
        return jnp.einsum("bk,kij,bj->bi", w, J, v)

    def drazin(v):  # z = M^D v: z_0 = 0, A z_{1:} = (v - v_0 x)_{1:}
        r = v - v[:, :1] * x
        return jnp.concatenate([jnp.zeros_like(v[:, :1]), solve(r[:, 1:])], axis=1)

    m1x = Mn(1, x)
    c1 = m1x[:, 0]
    x1 = -drazin(m1x)
    m1x1 = Mn(1, x1)
    c2 = Mn(2, x)[:, 0] + 2 * m1x1[:, 0]
    if order < 3:
        return c1, c2, jnp.full_like(c1, jnp.nan)
    x2 = -drazin(m1x1 + 0.5 * Mn(2, x) - c1[:, None] * x1)
    c3 = Mn(3, x)[:, 0] + 3 * Mn(2, x1)[:, 0] + 6 * Mn(1, x2)[:, 0]
    return c1, c2, c3


def counting_weights(p, bath: str, quantity: str):
    """(B, 4) counting weights nu_k of the jumps (+h, -h, +c, -c) for flat prepared parameters."""
    nu = jnp.ones_like(p.eps_h) if quantity == "particles" else (p.eps_h if bath == "h" else p.eps_c)
    zero = jnp.zeros_like(nu)
    cols = (nu, -nu, zero, zero) if bath == "h" else (zero, zero, nu, -nu)
    return jnp.stack(cols, axis=-1)


def steady_pauli(p):
    """(theta (B, 9), x (B, 16), residual, ok, solve) of flat prepared parameters: the steady state
    $A y = -M_{1:,0}$ solved with the same factorisation (`kernel_solver`) that the Drazin solves reuse, so the
    program holds ONE unrolled factorisation; `residual` = ||L vec rho|| and `ok` as in `dense.health` (finite,
    residual at roundoff, no numerically zero pivot). Unlike `_kernel.fast_solve` there is no refinement step (the
    block LU's backward error stays below ~16 eps in the paper's range, `_kernel`'s docstring)."""
    theta = _model._coefficients(p)
    M = jnp.einsum("bk,kij->bij", theta, jnp.asarray(pauli.GENERATORS, dtype=theta.dtype))
    solve, min_pivot = kernel_solver(theta, M[:, 1:, 1:])
    y = solve(-M[:, 1:, 0])
    x = jnp.concatenate([jnp.ones_like(y[:, :1]), y], axis=1)
    res = jnp.sqrt(jnp.sum(jnp.einsum("bij,bj->bi", M, x) ** 2, axis=-1))
    residual, ok = _kernel._health_rows(theta.T, tuple(x.T), min_pivot, res)
    return theta, x, residual, ok, solve


@_compile.bucketed(name="counting_statistics", static_argnames=("bath", "quantity", "order"))
def counting_impl(batch, *, bath: str, quantity: str, order: int) -> CountingStatistics:
    """`CountingStatistics` of batch = (bosonic-typed flat p, fermionic flag) (`_model.split_bath`): the bath is data,
    so one program serves both baths."""
    p, fermionic = batch
    with _model.dynamic_bath(fermionic):
        theta, x, _, ok, solve = steady_pauli(p)
        c1, c2, c3 = cumulants(theta, x, counting_weights(p, bath, quantity), order, solve)
    fano = c2 / jnp.abs(c1)
    ok = ok & jnp.isfinite(c1) & jnp.isfinite(c2) & (jnp.isfinite(c3) | (order < 3))
    return CountingStatistics(c1, c2, c3, fano, ok)


def check_counting_args(bath, quantity, order):
    if bath not in BATHS:
        raise ValueError(f"Argument `bath` must be one of {BATHS}, but is bath={bath!r}.")
    if quantity not in QUANTITIES:
        raise ValueError(f"Argument `quantity` must be one of {QUANTITIES}, but is quantity={quantity!r}.")
    if order not in (1, 2, 3) or isinstance(order, bool):
        raise ValueError(f"Argument `order` must be 1, 2 or 3, but is order={order!r}.")


def counting_statistics(p, *, bath: str = "h", quantity: str = "particles", order: int = 3, throw: bool = True):
    r"""Cumulants per unit time of the net number of excitations (or energy quanta) that bath `bath` puts into the
    engine, in the long-time limit (module docstring: tilted generator, perturbative expansion, Drazin inverse).

    $$c_n = \frac{d^n\lambda(s)}{ds^n}\Big|_{s=0}, \qquad \text{mean} = c_1,\ \text{noise} = c_2,\
    \text{skewness} = c_3,\ \text{fano} = c_2/|c_1|.$$

    With ``quantity="energy"`` each excitation counts $\varepsilon_j$ (the bare gap of qubit j): the mean is then
    $\varepsilon_j$ times the particle current, which equals the full-H heat current $Q_j$ only at
    $\delta = \kappa = 0$ (see `thermodynamics`).

    Args:
        p: parameters, any batch shape.
        bath: "h" or "c", the bath whose jumps are counted.
        quantity: "particles" or "energy".
        order: 1, 2 or 3: the highest cumulant computed (2 skips one solve; the skewness is then nan).
        throw: raise `RuntimeError` if the steady state failed anywhere (else see `ok`).

    Returns:
        `CountingStatistics(mean, noise, skewness, fano, ok)`, each of the batch shape.

    Examples:
        >>> import jaxengine as je
        >>> cs = je.counting_statistics(je.EngineParams(T_h=0.7))
        >>> f"{float(cs.mean):.6e} {float(cs.noise):.6e} {float(cs.fano):.4f}"
        '9.974039e-05 8.928339e-05 0.8952'
    """
    check_counting_args(bath, quantity, order)
    p, shape = prepare(p)
    # bucketed: one executable per bucket (from the disk cache when there), chunks of the largest on every core
    out = unflat(counting_impl(_model.split_bath(flat(p)), bath=bath, quantity=quantity, order=order), shape)
    if throw:
        from .._checks import raise_if_failed

        raise_if_failed(out.ok, "counting_statistics", "the steady state is not unique or numerically singular")
    return out
