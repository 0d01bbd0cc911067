r"""Closed forms of the paper at $\kappa_h = \kappa_c = 0$ (eqs 6-18), written to avoid cancellation.

With $\Gamma_j = \gamma_j^- + \gamma_j^+$, $\Gamma = \Gamma_h + \Gamma_c$, $s = \Gamma^2 + 4\delta^2$ and
$\chi = (4g^2 + \Gamma_h\Gamma_c)\Gamma^2 + 4\delta^2\Gamma_h\Gamma_c$ (eq 9):

- populations $r_{1..4}$ (eq 7) and coherence $c = \rho_{12} = \langle 10|\rho|01\rangle = 2gD(i\Gamma - 2\delta)/\chi$
  (eq 8), with $D = \gamma_h^+\gamma_c^- - \gamma_h^-\gamma_c^+$ evaluated as $\gamma_h\gamma_c(n_h - n_c)$ (eq 12;
  the same identity holds for fermions with $f$ in place of $n_B$), which is exact and free of cancellation;
- $J = Q_h - Q_c = 8g^2 D(\varepsilon_h\Gamma_c + \varepsilon_c\Gamma_h)/\chi$ (eq 11) and $Q_h = -Q_c = J/2$;
- $n = 2(|c|^2 - r_1r_4)/(\sqrt{4|c|^2 + (r_1 - r_4)^2} + r_1 + r_4)$, algebraically eq 16 without its
  catastrophic cancellation, $N = \max(0, n)$;
- $J_c = 4|g|\sqrt{r_1r_4/s}\,(\varepsilon_h\Gamma_c + \varepsilon_c\Gamma_h)$ (eq 18), compared with $|J|$.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import is_concrete, unflat
from .._generator import pauli
from .._linalg import dense
from .._models import engine as _model
from .._models.params import EngineParams, flat, prepare


class Observables(NamedTuple):
    r"""Every observable of the paper at a steady state (all of the batch shape of the parameters).

    Attributes:
        rho: (..., 4, 4) complex steady state.
        Q_h: heat flow from the hot bath into the qubits, $\mathrm{Tr}[H D_h\rho]$ with the full H.
        Q_c: heat flow from the cold bath ($Q_h + Q_c = 0$).
        J: $J_{ss} = Q_h - Q_c$, the quantity of eq 11 and of Figs 2-5.
        negativity: $N(\rho)$, sum of the moduli of the negative eigenvalues of the partial transpose.
        concurrence: Wootters concurrence.
        J_c: critical current of eq 18 (parameters only, independent of kappa).
        witness: $|J|/J_c$; at kappa = 0, $N > 0 \Leftrightarrow$ witness $> 1$.
        residual: $\|\mathcal{L}\,\mathrm{vec}(\rho)\|_2$.
        ok: whether the point is trustworthy.
    """

    rho: jax.Array
    Q_h: jax.Array
    Q_c: jax.Array
    J: jax.Array
    negativity: jax.Array
    concurrence: jax.Array
    J_c: jax.Array
    witness: jax.Array
    residual: jax.Array
    ok: jax.Array


def _closed(p: EngineParams):
    """Closed-form pieces of prepared parameters (kappa ignored)."""
    ghp, ghm, gcp, gcm = _model._rates(p)
    occ_h = _model._occupation(p.eps_h, p.T_h, p.bath)[0]
    occ_c = _model._occupation(p.eps_c, p.T_c, p.bath)[0]
    Gh, Gc = ghm + ghp, gcm + gcp
    G = Gh + Gc
    d, g = p.delta, p.g
    s = G**2 + 4 * d**2
    chi = (4 * g**2 + Gh * Gc) * G**2 + 4 * d**2 * Gh * Gc
    up, down = ghp + gcp, ghm + gcm
    r1 = (4 * g**2 * up**2 + ghp * gcp * s) / chi
    r2 = (4 * g**2 * down * up + ghp * gcm * s) / chi
    r3 = (4 * g**2 * down * up + ghm * gcp * s) / chi
    r4 = (4 * g**2 * down**2 + ghm * gcm * s) / chi
    D = p.gamma_h * p.gamma_c * (occ_h - occ_c)
    c = jax.lax.complex(-4 * g * D * d / chi, 2 * g * D * G / chi)
    E = p.eps_h * Gc + p.eps_c * Gh
    J = 8 * g**2 * D * E / chi
    J_c = 4 * jnp.abs(g) * jnp.sqrt(r1 * r4 / s) * E
    return dict(r1=r1, r2=r2, r3=r3, r4=r4, c=c, J=J, J_c=J_c)


def stable_x_negativity(r1, r4, c):
    r"""Signed $n$ of eq 16 for an X state, in the cancellation-free form; $N = \max(0, n)$."""
    c2 = jnp.real(c) ** 2 + jnp.imag(c) ** 2
    return 2 * (c2 - r1 * r4) / (jnp.sqrt(4 * c2 + (r1 - r4) ** 2) + r1 + r4)


def witness_ratio(J, J_c):
    """|J| / J_c, and 0 where J_c = 0, gradient-safe (double where).

    J_c = 0 only at g = 0 or when both baths are at T = 0, and there the exact current vanishes as well: a numerical
    J of roundoff size must not turn into an infinite witness.
    """
    pos = J_c > 0
    return jnp.where(pos, jnp.abs(J) / jnp.where(pos, J_c, 1), jnp.zeros_like(J))


def _check_kappa_zero(p: EngineParams, what: str):
    for name in ("kappa_h", "kappa_c"):
        v = getattr(p, name)
        if is_concrete(v) and np.any(np.asarray(v) != 0):
            raise ValueError(
                f"{what} holds only at kappa_h = kappa_c = 0 (X-shaped steady state), but got {name}={np.asarray(v)}; "
                "use `observables` for kappa != 0."
            )


@jax.jit
def _closed_form_impl(p: EngineParams) -> Observables:
    k = _closed(p)
    r1, r2, r3, r4, c = k["r1"], k["r2"], k["r3"], k["r4"], k["c"]
    zero = jnp.zeros_like(c)
    cr = lambda x: x.astype(c.dtype)  # noqa: E731
    rho = jnp.stack(
        [
            jnp.stack([cr(r1), zero, zero, zero], -1),
            jnp.stack([zero, cr(r2), c, zero], -1),
            jnp.stack([zero, jnp.conj(c), cr(r3), zero], -1),
            jnp.stack([zero, zero, zero, cr(r4)], -1),
        ],
        -2,
    )
    n = stable_x_negativity(r1, r4, c)
    conc = 2 * jnp.maximum(0, jnp.abs(c) - jnp.sqrt(r1 * r4))
    # residual of the closed-form state in the numerical Liouvillian (Pauli basis: ||L vec rho|| = ||M x|| / 2)
    M = pauli.engine_generator(p)
    x = jnp.einsum("kij,...ji->...k", jnp.asarray(pauli.PAULI, dtype=c.dtype), rho).real
    residual = jnp.linalg.norm(jnp.einsum("...ij,...j->...i", M, x), axis=-1) / 2
    residual, ok = dense.health(
        residual,
        jnp.linalg.norm(M, axis=(-1, -2)) / 2,
        jnp.linalg.norm(x, axis=-1) / 2,
        jnp.ones_like(residual),
        15,
        residual.dtype,
    )
    J = k["J"]
    return Observables(
        rho, J / 2, -J / 2, J, jnp.maximum(0, n), conc, k["J_c"], witness_ratio(J, k["J_c"]), residual, ok
    )


def closed_form(p: EngineParams) -> Observables:
    r"""All observables from the paper's closed forms (eqs 6-18); valid only at $\kappa_h = \kappa_c = 0$.

    Raises `ValueError` for a concrete non-zero kappa (a traced kappa is ignored). `residual` is that of the
    closed-form state in the numerical Liouvillian, so `ok` also cross-checks the formulas.

    Examples:
        >>> import jaxengine as je
        >>> o = je.closed_form(je.EngineParams(T_h=0.7))
        >>> f"{float(o.J):.10e} {float(o.negativity):.10e} {float(o.J_c):.10e}"
        '1.9948078937e-04 8.9722638102e-04 9.0461953850e-05'
    """
    p, shape = prepare(p)
    _check_kappa_zero(p, "closed_form")
    return unflat(_closed_form_impl(flat(p)), shape)


@jax.jit
def _critical_current_impl(p):
    return _closed(p)["J_c"]


def critical_current(p: EngineParams):
    r"""Critical heat current $J_c$ of eq 18 (with $|J|$ on the left: entangled iff $|J| > J_c$ at kappa = 0).

    $$J_c = \sqrt{\frac{16 g^2 r_1 r_4}{\Gamma^2 + 4\delta^2}}\,(\varepsilon_h\Gamma_c + \varepsilon_c\Gamma_h),$$

    with $r_1, r_4$ the kappa = 0 populations (eq 7): $J_c$ depends on the parameters only, not on kappa.
    """
    p, shape = prepare(p)
    return unflat(_critical_current_impl(flat(p)), shape)
