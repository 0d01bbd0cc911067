r"""Steady-state thermodynamics of the engine: entropy production, dynamical activity and the two classical
uncertainty relations, from one steady state and the counting statistics of `_solve.counting`.

**Which current each quantity uses.**

- Entropy production $\Sigma = -Q_h/T_h - Q_c/T_c \ge 0$ with the FULL-H heat currents $Q_j = \mathrm{Tr}[H\mathcal{D}_j
  \rho]$ of `observables` (the convention of the whole package).
- Activity $\mathcal{A} = \sum_k \mathrm{Tr}[L_k\rho L_k^\dagger]$, the total rate of jumps of both baths.
- TUR and KUR use the COUNTED current of one bath (`bath`, default "h"): its mean $c_1$ and noise $c_2$ from
  `counting_statistics`. The ratio $c_2/c_1^2$ is the same for the particle current and for the counted energy
  current $\varepsilon_j\times$particles (a constant factor cancels), so
  $$\mathrm{TUR} = \frac{c_2}{c_1^2}\,\Sigma \quad(\text{classical bound } \ge 2), \qquad
  \mathrm{KUR} = \frac{c_2}{c_1^2}\,\mathcal{A} \quad(\text{classical bound } \ge 1).$$
  (Barato & Seifert, PRL 114, 158101 (2015); Horowitz & Gingrich, Nat. Phys. 16, 15 (2020); Di Terlizzi & Baiesi,
  J. Phys. A 52, 02LT03 (2019).) They are bounds for classical Markov jump processes; the engine's coherent exchange
  can go below them (Ptaszyński, PRB 98, 085425 (2018) for a related double dot). A value below the bound is a
  physics result, reported as is, not an error.

**Counted energy current vs full-H heat current.** With the local master equation, $\varepsilon_j c_1$ (energy
quanta counted at the bare gap) differs from $Q_j$ by $\mathrm{Tr}[(H - \varepsilon_hn_h - \varepsilon_cn_c)
\mathcal{D}_j\rho]$, the exchange and tunnelling parts of H. In the steady state at $\delta = \kappa = 0$ that part
vanishes ($\rho_{12}$ is then purely imaginary) and $Q_h = \varepsilon_h c_1$; at $\delta \ne 0$ or $\kappa \ne 0$
they differ (at the paper's Fig 2 parameters by 0.08-0.27 % at $\delta = 0.01$ and 0.4-1.3 % at
$\delta = 0.05$ for $T_h \in [0.2, 2]$; tested). `Thermodynamics.counted_heat` returns $\varepsilon_j c_1$
beside $Q_j$ so that users can see the difference.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp

from .. import _compile
from .._checks import unflat
from .._models import engine as _model
from .._models.params import flat, prepare
from .._solve import counting
from . import fast


class Thermodynamics(NamedTuple):
    r"""Result of `thermodynamics` (every field of the batch shape).

    Attributes:
        entropy_production: $\Sigma = -Q_h/T_h - Q_c/T_c$ (full-H heat currents).
        activity: $\mathcal{A}$, total jump rate of both baths.
        mean: $c_1$, mean counted particle current of `bath` (into the engine).
        noise: $c_2$, its zero-frequency noise.
        heat: $Q_j$ of `bath` with the full H.
        counted_heat: $\varepsilon_j c_1$, the counted energy current of `bath` (differs from `heat` at
            $\delta, \kappa \ne 0$).
        tur: $(c_2/c_1^2)\,\Sigma$; classical bound 2.
        kur: $(c_2/c_1^2)\,\mathcal{A}$; classical bound 1.
        ok: the steady state is ok and the cumulants are finite.
    """

    entropy_production: jax.Array
    activity: jax.Array
    mean: jax.Array
    noise: jax.Array
    heat: jax.Array
    counted_heat: jax.Array
    tur: jax.Array
    kur: jax.Array
    ok: jax.Array


@_compile.bucketed(name="thermodynamics", static_argnames=("bath",))
def thermodynamics_impl(batch, *, bath: str) -> Thermodynamics:
    """`Thermodynamics` of batch = (bosonic-typed flat p, fermionic flag) (`_model.split_bath`): one program serves
    both baths."""
    p, fermionic = batch
    with _model.dynamic_bath(fermionic):
        theta, x, _, ok, solve = counting.steady_pauli(p)
        c1, c2, _ = counting.cumulants(theta, x, counting.counting_weights(p, bath, "particles"), 2, solve)
    Q_h, Q_c = fast._heat_from_pauli(theta.T, x.T)
    sigma = -Q_h / p.T_h - Q_c / p.T_c
    J = jnp.asarray(counting.JUMPS[:, 0], dtype=x.dtype)  # trace row of each unit jump superoperator
    activity = jnp.einsum("bk,kj,bj->b", theta[:, 5:], J, x)
    rel = c2 / c1**2
    eps = p.eps_h if bath == "h" else p.eps_c
    ok = ok & jnp.isfinite(c1) & jnp.isfinite(c2) & jnp.isfinite(sigma)
    heat = Q_h if bath == "h" else Q_c
    return Thermodynamics(sigma, activity, c1, c2, heat, eps * c1, rel * sigma, rel * activity, ok)


def thermodynamics(p, *, bath: str = "h", throw: bool = True) -> Thermodynamics:
    r"""Entropy production, activity, and the TUR and KUR ratios of the engine's steady state (module docstring).

    $$\Sigma = -\frac{Q_h}{T_h} - \frac{Q_c}{T_c},\qquad \mathrm{TUR} = \frac{c_2}{c_1^2}\Sigma \ge 2,\qquad
    \mathrm{KUR} = \frac{c_2}{c_1^2}\mathcal{A} \ge 1 \quad\text{(classical bounds)}.$$

    Args:
        p: parameters, any batch shape (temperatures must be > 0 for a finite $\Sigma$).
        bath: "h" or "c": the bath whose counted current enters TUR and KUR.
        throw: raise `RuntimeError` if any point failed (else see `ok`).

    Returns:
        `Thermodynamics(entropy_production, activity, mean, noise, heat, counted_heat, tur, kur, ok)`.

    Examples:
        >>> import jaxengine as je
        >>> th = je.thermodynamics(je.EngineParams(T_h=0.7))
        >>> f"TUR = {float(th.tur):.4f}, KUR = {float(th.kur):.4f}"
        'TUR = 7.6728, KUR = 4.9188'
    """
    counting.check_counting_args(bath, "particles", 2)
    p, shape = prepare(p)
    # bucketed (chunks on every core, `_compile`); the bath as data: one program for both baths
    out = unflat(thermodynamics_impl(_model.split_bath(flat(p)), bath=bath), shape)
    if throw:
        from .._checks import raise_if_failed

        raise_if_failed(out.ok, "thermodynamics", "the steady state is not unique or numerically singular")
    return out
