r"""Observables of a qubit `Network`: state, heat and particle currents, entropy production, pairwise entanglement.

For each bath j (qubit j's own reservoir), with the FULL Hamiltonian H and the dissipator $\mathcal{D}_j$ of the
chosen master equation (local or global):

$$Q_j = \mathrm{Tr}[H\,\mathcal{D}_j\rho], \qquad I_j = \mathrm{Tr}[\hat N\,\mathcal{D}_j\rho], \qquad
\Sigma = -\sum_{j:\,\gamma_j > 0}\frac{Q_j - \mu_j I_j}{T_j},$$

$\hat N = \sum_q n_q$. $Q_j$ is the energy flowing from bath j into the system; with chemical potentials the heat is
$Q_j - \mu_j I_j$ (the same at $\mu = 0$). In the steady state $\sum_j Q_j = 0$ exactly (first law; also the local
ME, because H is the full one). $\Sigma \ge 0$ for the global ME; the local ME can give $\Sigma < 0$ where it is
outside its validity (strong coupling, large detuning) -- a useful diagnostic. A bath at $T_j = 0$ that receives heat
gives $\Sigma = +\infty$.

Pairwise entanglement: the reduced state of qubits (i, j) has the Pauli coordinates $x$ at the strings with
identities elsewhere, so no partial trace is computed; its negativity (partial-transpose spectrum) and concurrence
(Wootters) fill symmetric (n, n) matrices with a zero diagonal. `negativity_cut` gives the negativity across any
bipartition of an n-qubit state.
"""

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .. import _compile
from .._analytic import Observables, _closed, witness_ratio
from .._checks import check_square, complex_dtype, prepare
from .._generator import network as gen
from .._models.network import Network, flat_network, prepare_network
from .._params import EngineParams
from .._solve.network import solve_pauli, solve_reduced
from .._steady import raise_if_failed

YY = np.array([[0, 0, 0, -1], [0, 0, 1, 0], [0, 1, 0, 0], [-1, 0, 0, 0]], dtype=float)


class NetworkObservables(NamedTuple):
    r"""Result of `observables(net)` for a `Network` of n qubits (batch shape `...`).

    Attributes:
        rho: (complex array of shape (..., 2^n, 2^n)) steady state; qubit 0 is the left factor, |1> excited first.
        Q: (array of shape (..., n)) energy current from each qubit's bath into the system (full H); 0 without bath.
        particle_current: (array of shape (..., n)) excitations delivered by each bath per unit time.
        entropy_production: (array of shape (...)) $\Sigma = -\sum_j (Q_j - \mu_j I_j)/T_j$.
        negativity: (array of shape (..., n, n)) negativity of each pair's reduced state (zero diagonal).
        concurrence: (array of shape (..., n, n)) Wootters concurrence of each pair's reduced state.
        residual: (array of shape (...)) $\|\mathcal{L}\,\mathrm{vec}\rho\|_2$.
        ok: (bool array of shape (...)) trustworthy solve (and, for the global ME, a valid secular grouping).
    """

    rho: jax.Array
    Q: jax.Array
    particle_current: jax.Array
    entropy_production: jax.Array
    negativity: jax.Array
    concurrence: jax.Array
    residual: jax.Array
    ok: jax.Array


def _safe_sqrt(v):
    """sqrt(max(v, 0)) with a finite derivative everywhere (0 where v <= 0; double where)."""
    pos = v > 0
    return jnp.where(pos, jnp.sqrt(jnp.where(pos, v, 1)), 0)


def _pair_entanglement(x, n: int):
    """(negativity, concurrence), each (B, n, n), of every pair's reduced state, from the Pauli vector x (B, 4^n).

    The LAPACK calls run strictly one after another (two concurrent batched LAPACK calls can deadlock XLA:CPU's
    small thread pool, see README): `optimization_barrier` orders them. The partial transposes use `eigvalsh`, whose
    derivative needs no eigenvectors (exactly degenerate spectra give finite gradients).
    """
    prs = gen.pairs(n)
    B, P = x.shape[0], len(prs)
    xs = jnp.stack([gen.pair_pauli(x, n, i, j) for i, j in prs], axis=1).reshape(B * P, 16)
    rho = gen.rho_from_pauli(xs, 2)  # (B P, 4, 4)
    pt = jnp.swapaxes(rho.reshape(-1, 2, 2, 2, 2), -3, -1).reshape(-1, 4, 4)  # transpose on the second qubit
    lam_pt = jnp.linalg.eigvalsh(pt)
    lam_pt, rho = jax.lax.optimization_barrier((lam_pt, rho))
    neg = jnp.sum(jnp.maximum(-lam_pt, 0), axis=-1)
    w_rho, v_rho = jnp.linalg.eigh(rho)
    sq = (v_rho * _safe_sqrt(w_rho).astype(v_rho.dtype)[:, None, :]) @ jnp.conj(jnp.swapaxes(v_rho, -1, -2))
    yy = jnp.asarray(YY, rho.dtype)
    mu = jnp.linalg.eigvalsh(sq @ (yy @ jnp.conj(rho) @ yy) @ sq)
    lam = _safe_sqrt(mu)
    conc = jnp.maximum(0, lam[:, 3] - lam[:, 2] - lam[:, 1] - lam[:, 0])
    iu = tuple(np.array(a) for a in zip(*prs, strict=True))

    def square(vals):
        vals = vals.reshape(B, P)
        out = jnp.zeros((B, n, n), vals.dtype).at[:, iu[0], iu[1]].set(vals)
        return out.at[:, iu[1], iu[0]].set(vals)

    return square(neg), square(conc)


def _entropy(net, Q, I):
    """Sigma = -sum_j (Q_j - mu_j I_j) / T_j over the baths with gamma_j > 0 (double where at T = 0)."""
    heat = Q - net.mu * I
    has = net.gamma > 0
    pos = net.T > 0
    at_zero = jnp.where(heat == 0, 0.0, jnp.where(heat > 0, jnp.inf, -jnp.inf)).astype(heat.dtype)  # no derivative
    term = jnp.where(pos, heat / jnp.where(pos, net.T, 1), at_zero)
    return -jnp.sum(jnp.where(has, term, 0), axis=-1)


def _local_currents(net, x):
    n = net.eps.shape[-1]
    t = gen.local_terms(n)
    up, down = gen.local_rates(net)
    rates = jnp.stack([up, down], axis=-1)  # (B, n, 2)
    th = gen.theta_hamiltonian(net)  # (B, n_H)
    hw = jnp.einsum("jrad,bd->bjra", jnp.asarray(t["heat_w"], x.dtype), x)
    Q = jnp.einsum("bjra,ba,bjr->bj", hw, th, rates)
    I = jnp.einsum("jrd,bd,bjr->bj", jnp.asarray(t["particle_w"], x.dtype), x, rates)
    return Q, I


def _local_impl(net):
    n = net.eps.shape[-1]
    x, residual, ok = solve_pauli(gen.local_generator(net))
    Q, I = _local_currents(net, x)
    neg, conc = _pair_entanglement(x, n)
    rho = gen.rho_from_pauli(x, n)
    return NetworkObservables(rho, Q, I, _entropy(net, Q, I), neg, conc, residual, ok)


def _local_symmetric_impl(net, R, c, Q):
    # kappa = 0: the steady state lies in the commutant of the excitation number (`gen.number_symmetric_basis`)
    n = net.eps.shape[-1]
    up, down = gen.local_rates(net)
    theta = jnp.concatenate([gen.theta_hamiltonian(net), up, down], axis=-1)
    A = jnp.einsum("bk,kij->bij", theta, R)
    b = -jnp.einsum("bk,ki->bi", theta, c)
    x, residual, ok = solve_reduced(A, b, Q)
    Q_, I = _local_currents(net, x)
    neg, conc = _pair_entanglement(x, n)
    rho = gen.rho_from_pauli(x, n)
    return NetworkObservables(rho, Q_, I, _entropy(net, Q_, I), neg, conc, residual, ok)


def _global_one(net):
    """The global (secular) ME at one point: (x, Q, I, ok_secular)."""
    n = net.eps.shape[-1]
    H = gen.hamiltonian_dense(jax.tree.map(lambda a: a[None], net))[0]
    E, V = jnp.linalg.eigh(H)
    G, K, secular_ok = gen.global_dissipator(E, V, net, n)
    M_d = gen.pauli_transfer_eigen(gen.superoperator(G, K), V, n)
    th = gen.theta_hamiltonian(jax.tree.map(lambda a: a[None], net))
    M_h = gen.scatter_generator(th, n, which=th.shape[-1])[0]  # the Hamiltonian terms only
    return M_h + M_d, (E, V, G, K, secular_ok)


def _global_impl(net):
    n = net.eps.shape[-1]
    M, (E, V, G, K, secular_ok) = jax.lax.map(_global_one, net, batch_size=8)
    x, residual, ok = solve_pauli(M)
    rho = gen.rho_from_pauli(x, n)
    Vc = V.astype(rho.dtype)
    rho_e = jnp.swapaxes(Vc, -1, -2) @ rho @ Vc
    Nop = jnp.asarray(gen.number_op(n), V.dtype)
    N_e = jnp.swapaxes(V, -1, -2) @ Nop @ V

    def currents(args):
        G, K, rho_e, E, N_e = args
        Dr = gen.apply_dissipators(G.astype(rho_e.dtype), K.astype(rho_e.dtype), rho_e)  # (n, d, d)
        Q = jnp.einsum("a,jaa->j", E, Dr.real)
        I = jnp.einsum("ca,jac->j", N_e, Dr.real)
        return Q, I

    Q, I = jax.lax.map(currents, (G, K, rho_e, E, N_e), batch_size=8)
    neg, conc = _pair_entanglement(x, n)
    return NetworkObservables(rho, Q, I, _entropy(net, Q, I), neg, conc, residual, ok & secular_ok)


def _network_impl(net: Network) -> NetworkObservables:
    # a flat 1-D batch in; bath and master equation are static (in the pytree structure, hence in the cache key)
    if net.master_equation == "global":
        return _global_impl(net)
    return _local_impl(net)


# Eager calls run on padded buckets (`_compile.bucket`, `_compile.pad_batch`): one executable per (n, bucket, bath,
# master equation, dtype), whatever the batch shape; batches beyond the largest bucket run in chunks of it. The
# buckets shrink with n: one point's generator has 16^n entries (8 MB at n = 5). The executables stay in jit's
# in-memory cache; `_compile`'s disk cache is not used here: a deserialised executable of this program crashed the
# process (segfault in the next eager JAX operation, jax 0.10.2 CPU), reported to the lead.
_jitted = jax.jit(_network_impl)
_jitted_symmetric = jax.jit(_local_symmetric_impl)
SYMMETRIC_MAX_N = 4  # the reduced basis of n = 5 takes a 1024 x 1024 SVD to build; the full solve is fast enough there
_BUCKETS = {"small": _compile.BUCKETS, 4: (8, 256), "large": (1, 8)}


def _symmetric(net: Network) -> bool:
    """Use the kappa = 0 reduction: local ME, concrete kappa equal to 0 everywhere (never under a trace, where a
    derivative with respect to kappa would leave the symmetric subspace)."""
    n = net.eps.shape[-1]
    if net.master_equation != "local" or not 2 <= n <= SYMMETRIC_MAX_N or _compile.is_traced(net):
        return False
    return not np.any(np.asarray(net.kappa))


def _run_bucketed(net: Network, buckets) -> NetworkObservables:
    if _compile.is_traced(net):
        return _jitted(net)
    if _symmetric(net):
        R, c, Q = (jnp.asarray(a, net.eps.dtype) for a in gen.number_symmetric_basis(net.eps.shape[-1]))
        run = functools.partial(_jitted_symmetric, R=R, c=c, Q=Q)
    else:
        run = _jitted
    B = net.eps.shape[0]
    size = _compile.bucket(B, buckets)
    outs = []
    for start in range(0, B, size):
        part = jax.tree.map(lambda v, s=start: np.asarray(v)[s : s + size], net)
        m = part.eps.shape[0]
        out = run(_compile.pad_batch(part, size))
        outs.append(jax.tree.map(lambda y, m=m: y[:m], out) if m < size else out)
    return outs[0] if len(outs) == 1 else jax.tree.map(lambda *ys: jnp.concatenate(ys), *outs)


def _program(n: int):
    return functools.partial(_run_bucketed, buckets=_BUCKETS["small" if n <= 3 else 4 if n == 4 else "large"])


def network_observables(net, *, throw: bool = True):
    r"""Exact steady state and observables of a `Network` (or of an `EngineParams` with master_equation="global").

    Args:
        net: a `Network`; or an `EngineParams` (then the result is an `Observables`, computed through
            `Network.from_engine`; `J_c` and `witness` are the paper's eq 18, which belongs to the local ME).
        throw: raise `RuntimeError` if some point failed (see `ok`).

    Returns:
        `NetworkObservables(rho, Q, particle_current, entropy_production, negativity, concurrence, residual, ok)`.

    Examples:
        >>> import jaxengine as je
        >>> net = je.Network(eps=[1.0, 1.0, 1.0], g={(0, 1): 0.02, (1, 2): 0.02}, gamma=[1e-3, 0.0, 1e-2],
        ...                  T=[1.0, 0.0, 0.1])
        >>> o = je.observables(net)
        >>> o.negativity.shape, abs(float(o.Q.sum())) < 1e-15, bool(o.ok)  # first law with the full H
        ((3, 3), True, True)
    """
    if isinstance(net, EngineParams):
        return _engine_via_network(net, throw=throw)
    p, shape = prepare_network(net)
    out = _program(p.eps.shape[-1])(flat_network(p))
    out = jax.tree.map(lambda y: y.reshape(shape + y.shape[1:]), out)
    if throw:
        raise_if_failed(out.ok, "observables")
    return out


def _engine_via_network(p: EngineParams, *, throw: bool):
    local_p, shape = prepare(p.replace(master_equation="local") if hasattr(p, "master_equation") else p)
    o = network_observables(Network.from_engine(p), throw=throw)
    Q_h, Q_c = o.Q[..., 0], o.Q[..., 1]
    J = Q_h - Q_c
    J_c = _closed(local_p)["J_c"]
    return Observables(
        o.rho,
        Q_h,
        Q_c,
        J,
        o.negativity[..., 0, 1],
        o.concurrence[..., 0, 1],
        J_c,
        witness_ratio(J, J_c),
        o.residual,
        o.ok,
    )


def _check_cut(cut, n: int) -> tuple[int, ...]:
    try:
        cut = tuple(int(q) for q in np.atleast_1d(np.asarray(cut)))
    except (TypeError, ValueError):
        raise ValueError(f"Argument `cut` must be a tuple of qubit indices, but is cut={cut!r}.") from None
    if not cut or len(set(cut)) != len(cut) or any(not 0 <= q < n for q in cut) or len(cut) == n:
        raise ValueError(
            f"Argument `cut` must name a non-empty proper subset of the qubits 0..{n - 1} without repeats, but is "
            f"cut={cut!r}."
        )
    return cut


@functools.partial(jax.jit, static_argnames=("cut", "n"))
def _negativity_cut(rho, cut, n):
    r = rho.reshape(rho.shape[:-2] + (2,) * (2 * n))
    k = rho.ndim - 2
    perm = list(range(r.ndim))
    for q in cut:  # transpose qubit q: swap its row and column axes
        perm[k + q], perm[k + n + q] = perm[k + n + q], perm[k + q]
    pt = jnp.transpose(r, perm).reshape(rho.shape)
    lam = jnp.linalg.eigvalsh(pt)
    return jnp.sum(jnp.maximum(-lam, 0), axis=-1)


def negativity_cut(rho, cut):
    r"""Negativity across the bipartition (`cut` | rest) of an n-qubit state: $\sum_{\lambda<0}|\lambda|$ of
    $\rho^{T_{\text{cut}}}$ (the same for the complementary cut).

    Args:
        rho (array of shape (..., 2^n, 2^n)): states, qubit 0 the left Kronecker factor.
        cut (tuple of int): the qubits on one side.

    Examples:
        >>> import jax.numpy as jnp, jaxengine as je
        >>> ghz = jnp.zeros(8).at[0].set(1).at[7].set(1) / jnp.sqrt(2)
        >>> round(float(je.negativity(jnp.outer(ghz, ghz), cut=(0,))), 12)
        0.5
    """
    rho = check_square("rho", rho)
    n = int(round(np.log2(rho.shape[-1])))
    if 2**n != rho.shape[-1] or n < 2:
        raise ValueError(f"Argument `rho` must have shape (..., 2^n, 2^n) with n >= 2, but has shape {rho.shape}.")
    cut = _check_cut(cut, n)
    rho = rho.astype(complex_dtype(rho.dtype))
    return _negativity_cut(rho, tuple(sorted(cut)), n)
