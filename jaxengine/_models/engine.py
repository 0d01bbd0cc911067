r"""The engine: bath rates, Hamiltonian and jump operators (paper eqs 2-4 and 19).

$$H = \varepsilon_h n_h + \varepsilon_c n_c + g(\sigma_+^{(h)}\sigma_-^{(c)} + \sigma_-^{(h)}\sigma_+^{(c)})
      + \kappa_h \sigma_x^{(h)} + \kappa_c \sigma_x^{(c)}, \qquad \varepsilon_c = \varepsilon_h + \delta,$$

and for each qubit $j \in \{h, c\}$ the local dissipator $\gamma_j^+ D[\sigma_+^{(j)}] + \gamma_j^- D[\sigma_-^{(j)}]$
with bosonic rates $\gamma_j^+ = \gamma_j n_B$, $\gamma_j^- = \gamma_j (1 + n_B)$ (eq 4) or fermionic rates
$\gamma_j^+ = \gamma_j f$, $\gamma_j^- = \gamma_j (1 - f)$, each evaluated at the qubit's OWN bare gap
$\varepsilon_j$ and bath temperature $T_j$.

Both $H$ and the dissipators are linear in the nine numbers returned by `_coefficients` (the "theta" vector); the fast
real-basis kernel uses this to build the Liouvillian as one contraction with a constant tensor.
"""

import contextlib
import contextvars

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import complex_dtype
from .._models.params import prepare
from . import operators as ops
from .params import EngineParams

# H = sum_k theta_k H_OPS[k] for the first five coefficients (eps_h, eps_c, g, kappa_h, kappa_c).
H_OPS = np.stack(
    [
        ops.embed(ops.NUMBER, "h"),
        ops.embed(ops.NUMBER, "c"),
        ops.embed(ops.SIGMA_PLUS, "h") @ ops.embed(ops.SIGMA_MINUS, "c")
        + ops.embed(ops.SIGMA_MINUS, "h") @ ops.embed(ops.SIGMA_PLUS, "c"),
        ops.embed(ops.SIGMA_X, "h"),
        ops.embed(ops.SIGMA_X, "c"),
    ]
)
# Unit-rate jump operators in the public order: sigma+_h, sigma-_h, sigma+_c, sigma-_c.
JUMP_OPS = np.stack(
    [
        ops.embed(ops.SIGMA_PLUS, "h"),
        ops.embed(ops.SIGMA_MINUS, "h"),
        ops.embed(ops.SIGMA_PLUS, "c"),
        ops.embed(ops.SIGMA_MINUS, "c"),
    ]
)
THETA_NAMES = (
    "eps_h",
    "eps_c",
    "g",
    "kappa_h",
    "kappa_c",
    "gamma_h_plus",
    "gamma_h_minus",
    "gamma_c_plus",
    "gamma_c_minus",
)


# While a program is traced inside `dynamic_bath(flag)`, `_occupation` ignores the static `bath` and selects, per
# point, the fermionic form where flag > 0 and the bosonic one elsewhere: ONE compiled program then serves both baths
# (the eager entry points pass the flag as data; a second bath would otherwise cost a second compilation).
DYNAMIC_BATH = contextvars.ContextVar("jaxengine_dynamic_bath", default=None)


@contextlib.contextmanager
def dynamic_bath(flag):
    token = DYNAMIC_BATH.set(flag)
    try:
        yield
    finally:
        DYNAMIC_BATH.reset(token)


def split_bath(p: EngineParams):
    """(p typed bosonic, flag (n,)) for flat prepared parameters: the programs that take the bath as data
    (`dynamic_bath`), so that one compiled program serves both baths."""
    xp = jnp if any(isinstance(v, jax.core.Tracer) for v in jax.tree.leaves(p)) else np
    n = p.eps_h.shape[0]
    return p.replace(bath="bosonic"), xp.full(n, 1.0 if p.bath == "fermionic" else 0.0, dtype=p.eps_h.dtype)


def _occupation(eps, T, bath):
    """Thermal occupation and its complement, (n, 1 + n) for bosons or (f, 1 - f) for fermions; exact at T = 0."""
    flag = DYNAMIC_BATH.get()
    if flag is not None:
        bose, fermi = _occupation_static(eps, T, "bosonic"), _occupation_static(eps, T, "fermionic")
        return tuple(jnp.where(flag > 0, f, b) for b, f in zip(bose, fermi, strict=True))
    return _occupation_static(eps, T, bath)


def _occupation_static(eps, T, bath):
    pos = T > 0
    x = jnp.where(pos, eps / jnp.where(pos, T, 1), jnp.inf)  # double where: finite gradients at T = 0
    if bath == "bosonic":
        # n = e^{-x} / (1 - e^{-x}): accurate for x -> 0 (expm1), exactly 0 for x -> inf, and so are its derivatives
        # (the textbook 1 / expm1(x) has derivative -e^x / (e^x - 1)^2 = inf / inf = nan once e^x overflows)
        one_minus = -jnp.expm1(-x)
        return jnp.exp(-x) / one_minus, 1 / one_minus
    # sigmoid(-x) = 1/(e^x + 1) without the cancellation of (1 - tanh(x/2))/2 at large x
    return jax.nn.sigmoid(-x), jax.nn.sigmoid(x)


def occupations(p: EngineParams):
    r"""Bath occupations at the qubits' own gaps: $(n_h, n_c)$ ($n_B$ for bosons, $f$ for fermions)."""
    p, _ = prepare(p)
    return _occupation(p.eps_h, p.T_h, p.bath)[0], _occupation(p.eps_c, p.T_c, p.bath)[0]


def _rates(p: EngineParams):
    """(gamma_h+, gamma_h-, gamma_c+, gamma_c-) of prepared parameters."""
    up_h, down_h = _occupation(p.eps_h, p.T_h, p.bath)
    up_c, down_c = _occupation(p.eps_c, p.T_c, p.bath)
    return p.gamma_h * up_h, p.gamma_h * down_h, p.gamma_c * up_c, p.gamma_c * down_c


def rates(p: EngineParams):
    r"""Transition rates $(\gamma_h^+, \gamma_h^-, \gamma_c^+, \gamma_c^-)$, each of the batch shape of `p`.

    Examples:
        >>> import jaxengine as je
        >>> up, down, _, _ = je.rates(je.EngineParams(T_h=0.7))
        >>> round(float(down - up), 12)  # gamma_h^- - gamma_h^+ is the bare rate gamma_h
        0.001
    """
    p, _ = prepare(p)
    return _rates(p)


def _coefficients(p: EngineParams, axis: int = -1):
    """The nine real numbers that H and the dissipator are linear in, stacked on an axis of size 9 (the last one by
    default; `axis=0` gives the batch-last theta (9, ...) of the fast kernel)."""
    return jnp.stack([p.eps_h, p.eps_c, p.g, p.kappa_h, p.kappa_c, *_rates(p)], axis=axis)


def _hamiltonian(p: EngineParams):
    theta = _coefficients(p)[..., :5]
    cdtype = complex_dtype(theta.dtype)
    return jnp.einsum("...k,kij->...ij", theta.astype(cdtype), jnp.asarray(H_OPS, dtype=cdtype))


def hamiltonian(p: EngineParams):
    r"""The full system Hamiltonian (eq 19, with eq 2's exchange term), shape (..., 4, 4).

    Examples:
        >>> import jaxengine as je
        >>> H = je.hamiltonian(je.EngineParams(delta=0.01, g=0.1))
        >>> H.real.round(3).tolist()[1]  # the |10> row: eps_h on the diagonal, g to |01>
        [0.0, 1.0, 0.1, 0.0]
    """
    p, _ = prepare(p)
    return _hamiltonian(p)


def _jump_operators(p: EngineParams):
    r = jnp.stack(_rates(p), axis=-1)
    cdtype = complex_dtype(r.dtype)
    return jnp.einsum("...k,kij->...kij", jnp.sqrt(r).astype(cdtype), jnp.asarray(JUMP_OPS, dtype=cdtype))


def jump_operators(p: EngineParams):
    r"""Rate-weighted jump operators $\sqrt{\gamma_h^+}\sigma_+^{(h)}, \sqrt{\gamma_h^-}\sigma_-^{(h)},
    \sqrt{\gamma_c^+}\sigma_+^{(c)}, \sqrt{\gamma_c^-}\sigma_-^{(c)}$.

    Returns:
        (array of shape (..., 4, 4, 4)) with the operator axis third-last.
    """
    p, _ = prepare(p)
    return _jump_operators(p)
