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
from .._checks import check_square, complex_dtype
from .._generator import network as gen
from .._models.network import Network, flat_network, prepare_network
from .._models.params import EngineParams, prepare
from .._solve.network import solve_pauli, solve_reduced, solve_sparse, sparse_available
from .._solve.steady import raise_if_failed
from . import compact as compact_observables
from . import fast
from .closed_forms import Observables, _closed, witness_ratio


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


def _pair_states(x, n: int):
    """(xs (B P, 16), square): the Pauli vectors of every pair's reduced state (pairs i < j, `gen.pairs`) for the
    network states x (B, 4^n), and the function that puts one value per pair into symmetric (B, n, n) matrices."""
    prs = gen.pairs(n)
    B, P = x.shape[0], len(prs)
    xs = jnp.stack([gen.pair_pauli(x, n, i, j) for i, j in prs], axis=1).reshape(B * P, 16)
    iu = tuple(np.array(a) for a in zip(*prs, strict=True))

    def square(vals):
        vals = vals.reshape(B, P)
        out = jnp.zeros((B, n, n), vals.dtype).at[:, iu[0], iu[1]].set(vals)
        return out.at[:, iu[1], iu[0]].set(vals)

    return xs, square


def _pair_entanglement(x, n: int):
    r"""(negativity, concurrence), each (B, n, n), of every pair's reduced state, from the Pauli vector x (B, 4^n).

    Each pair's 16 Pauli coordinates go to the two-qubit routines of the compact program (`_observables.compact`): the
    negativity is $\max(0, -\lambda_{\min})$ of the partial transpose (a two-qubit partial transpose has at most
    one negative eigenvalue), the concurrence Wootters'; both by cyclic Jacobi in pure JAX (no LAPACK: the
    program can run in threads, see `_linalg.dense`), with exact derivative rules.
    """
    xs, square = _pair_states(x, n)
    neg = jnp.maximum(-compact_observables.lambda_min(xs), 0)
    return square(neg), square(compact_observables.concurrence(xs))


def _pair_entanglement_eager(x, n: int):
    """`_pair_entanglement` for the eager (never differentiated) sparse path: the throughput kernel's unrolled
    batch-last routines (`_observables.fast`: real-arithmetic Jacobi run to a proven convergence bound, Cholesky for
    the concurrence), ~1 us per pair and point instead of ~25 us for the rolled Jacobi of the compact routines (whose
    per-iteration overhead dominates at these batch sizes); they add ~4 s to the program's one compilation (kept in
    the disk cache)."""
    xs, square = _pair_states(x, n)
    xs = xs.T  # (16, B P): batch last
    return square(fast._negativity_from_pauli(xs)), square(fast._concurrence_from_pauli(xs))


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


def _local_from_x(net, x, residual, ok, pairs=_pair_entanglement):
    n = net.eps.shape[-1]
    Q, I = _local_currents(net, x)
    neg, conc = pairs(x, n)
    rho = gen.rho_from_pauli(x, n)
    return NetworkObservables(rho, Q, I, _entropy(net, Q, I), neg, conc, residual, ok)


def _local_impl(net):
    return _local_from_x(net, *solve_pauli(gen.local_generator(net)))


def _local_sparse_impl(net, structure):
    # the eager path of the local ME: the planned sparse LU (`_solve.network.solve_sparse`), no LAPACK
    x, residual, ok = solve_sparse(gen.local_theta(net), net.eps.shape[-1], structure)
    return _local_from_x(net, x, residual, ok, pairs=_pair_entanglement_eager)


def _local_symmetric_impl(net, R, c, Q):
    # kappa = 0: the steady state lies in the commutant of the excitation number (`gen.number_symmetric_basis`)
    theta = gen.local_theta(net)
    A = jnp.einsum("bk,kij->bij", theta, R)
    b = -jnp.einsum("bk,ki->bi", theta, c)
    x, residual, ok = solve_reduced(A, b, Q)
    return _local_from_x(net, x, residual, ok, pairs=_pair_entanglement_eager)  # eager calls only (`_symmetric`)


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


def _global_impl(net, eager: bool = False):
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
    neg, conc = (_pair_entanglement_eager if eager else _pair_entanglement)(x, n)
    return NetworkObservables(rho, Q, I, _entropy(net, Q, I), neg, conc, residual, ok & secular_ok)


def _network_impl(net: Network, eager: bool = False) -> NetworkObservables:
    # a flat 1-D batch in; bath and master equation are static (in the pytree structure, hence in the cache key).
    # `eager`: never differentiated (the bucketed program), so the pair observables need no derivative rules
    if net.master_equation == "global":
        return _global_impl(net, eager)
    if eager:
        return _local_from_x(net, *solve_pauli(gen.local_generator(net)), pairs=_pair_entanglement_eager)
    return _local_impl(net)


# Eager calls run on padded buckets through `_compile.bucketed`: one executable per (program, n, bucket, static
# options, dtype), whatever the batch shape; batches beyond the largest bucket run in chunks of it. Three programs:
# - "sparse" (local ME, n = 2..4, kappa != 0 somewhere): the planned sparse LU, one program per sparsity structure
#   (`_generator.network.structure_of`); pure JAX, so its chunks run in threads on all cores and it is kept in
#   `_compile`'s disk cache. Points where it reports ok=False are solved again by the dense program (the pivoted
#   LAPACK LU), whose result is returned there: the sparse solve has no runtime pivoting.
# - "symmetric" (local ME, kappa = 0 everywhere, n = 2..4): the excitation-number reduction;
# - "dense" (global ME, n = 5, fallbacks): the dense generator and LAPACK's LU.
# The last two call batched LAPACK: their chunks run one after another (`threads=False`), and `_compile` keeps them
# off the disk cache (a deserialised executable of the dense program crashed the process, jax 0.10.2 CPU).
# Buckets shrink with n: one point's dense generator has 16^n entries (8 MB at n = 5).
_jitted = jax.jit(_network_impl)
SYMMETRIC_MAX_N = 4  # the reduced basis of n = 5 takes a 1024 x 1024 SVD to build; the full solve is fast enough there
SPARSE_BUCKETS = (8, 128)  # 128 points per chunk: the loop overheads amortised, and a few hundred points fill 2 cores
_DENSE_BUCKETS = {"small": _compile.BUCKETS, 4: (8, 256), "large": (1, 8)}


@functools.cache
def _program(kind: str, n: int):
    if kind == "sparse":
        return _compile.bucketed(
            _local_sparse_impl, name="network_sparse", static_argnames=("structure",), buckets=SPARSE_BUCKETS
        )
    if kind == "symmetric":
        return _compile.bucketed(_local_symmetric_impl, name="network_symmetric", threads=False)
    buckets = _DENSE_BUCKETS["small" if n <= 3 else 4 if n == 4 else "large"]
    return _compile.bucketed(
        _network_impl, name="network_dense", static_argnames=("eager",), buckets=buckets, threads=False
    )


def _symmetric(net: Network) -> bool:
    """Use the kappa = 0 reduction: local ME, concrete kappa equal to 0 everywhere (never under a trace, where a
    derivative with respect to kappa would leave the symmetric subspace)."""
    n = net.eps.shape[-1]
    if net.master_equation != "local" or not 2 <= n <= SYMMETRIC_MAX_N or _compile.is_traced(net):
        return False
    return not np.any(np.asarray(net.kappa))


def _run(net: Network, structure: tuple | None = None) -> NetworkObservables:
    """Observables of a flat prepared batch, by the program that fits it (see above). `structure`: the sparsity
    structure to use (default: that of `net`; a scan passes its whole grid's, so every chunk runs one program)."""
    if _compile.is_traced(net):
        return _jitted(net)
    n = net.eps.shape[-1]
    if _symmetric(net):
        R, c, Q = (np.asarray(a, net.eps.dtype) for a in gen.number_symmetric_basis(n))
        return _program("symmetric", n)(net, R, c, Q)
    if net.master_equation == "local":
        structure = gen.structure_of(net) if structure is None else structure
        if sparse_available(n, structure):
            return _dense_where_failed(net, _program("sparse", n)(net, structure=structure))
    return _program("dense", n)(net, eager=True)


def _dense_where_failed(net: Network, out: NetworkObservables) -> NetworkObservables:
    """`out` with the points where the sparse solve is not ok replaced by the dense program's result."""
    ok = np.asarray(out.ok)
    if ok.all():
        return out
    bad = np.flatnonzero(~ok)
    dense = _program("dense", net.eps.shape[-1])(jax.tree.map(lambda v: np.asarray(v)[bad], net), eager=True)

    def put(a, d):
        a = np.array(a)
        a[bad] = np.asarray(d)
        return jnp.asarray(a)

    return jax.tree.map(put, out, dense)


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
    out = _run(flat_network(p))
    if _compile.is_traced(p):
        out = jax.tree.map(lambda y: y.reshape(shape + y.shape[1:]), out)
    else:  # on the host: an eager reshape would compile a small program for every new batch shape
        out = jax.tree.map(lambda y: jax.device_put(np.asarray(y).reshape(shape + y.shape[1:])), out)
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
