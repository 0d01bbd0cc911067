r"""The real Pauli-basis generator of an n-qubit `Network`, local and global (secular) master equations.

**Basis.** $\rho = 2^{-n}\sum_k x_k P_k$ with the $4^n$ Pauli strings $P_k = \sigma_{a_0}\otimes\cdots\otimes
\sigma_{a_{n-1}}$, $k = \sum_q a_q 4^{n-1-q}$ (qubit 0 is the left factor and the most significant digit,
$\sigma_0 = I$, $\sigma_{1,2,3} = X, Y, Z$), real $x_k = \mathrm{Tr}(P_k\rho)$, $x_0 = 1$. The generator is the real
$4^n\times 4^n$ matrix $M_{kl} = 2^{-n}\mathrm{Tr}(P_k\mathcal{L}(P_l))$; its row 0 vanishes (trace preservation), so
the steady state solves $M_{1:,1:}\,y = -M_{1:,0}$, $x = (1, y)$ (`jaxengine._solve.network`). With
$U = \mathrm{vec}(P)/2^{n/2}$ unitary, $\|\mathcal{L}\,\mathrm{vec}\rho\|_2 = \|Mx\|_2/2^{n/2}$.

**Local master equation.** $M(\theta) = \sum_k\theta_k B_k$ is linear in
$\theta = (\varepsilon_j, g_{i<j}, \kappa_j, \gamma_j^+, \gamma_j^-)$, and every $B_k$ is a one- or two-qubit
superoperator times the identity on the other qubits. Its Pauli transfer matrix is the small $4\times4$ or
$16\times16$ one embedded on those qubits, so $B$ is stored as a sparse list of (k, row, col, coefficient) entries
(`local_terms`, ~$10^4$ entries at n = 4, instead of a dense $(4n + n(n-1)/2)\times 4^n\times 4^n$ tensor) and
$M(\theta)$ is one scatter-add (`local_generator`).

**Global master equation** (`global_dissipator`). With $H = V\,\mathrm{diag}(E)\,V^T$ (H is real symmetric) and the
coupling $X_j = \sigma_x^{(j)}$, $\tilde X_j = V^T X_j V$, each transition $b\to a$ carries the Bohr frequency
$\omega_{ab} = E_b - E_a$. Frequencies closer than the grouping tolerance $\tau = \max_j\gamma_j$ (the bath cannot
resolve them) are chained into one group with its mean frequency $\bar\omega$; the group containing 0
(populations, exact degeneracies) is dropped (a flat spectrum has no zero-frequency term). The dissipator of bath j is
$$\mathcal{D}_j\rho = \sum_{\text{groups } \bar\omega \ne 0} \Gamma_j(\bar\omega)
   \big(A_j(\bar\omega)\rho A_j(\bar\omega)^\dagger - \tfrac12\{A_j^\dagger A_j, \rho\}\big), \qquad
   A_j(\bar\omega) = \sum_{\omega_{ab}\in\bar\omega}\tilde X_{j,ab}|a\rangle\langle b|,$$
with $\Gamma_j = \gamma_j(1 + n_j(\bar\omega))$ for $\bar\omega > 0$ (emission) and $\gamma_j n_j(|\bar\omega|)$ for
$\bar\omega < 0$ (absorption), bosonic $n_B$ or fermionic $f((\omega - \mu_j)/T_j)$. For well-separated frequencies
this is the Davies generator: the Gibbs state of the full H is stationary at equal temperatures (and chemical
potentials), and the entropy production is non-negative. Grouping within $\tau$ makes it reduce to the local
master equation as $g \to 0$ at equal gaps. Between the two regimes, where two distinct groups are closer than
$10\tau$ or a chained group spreads over more than $10\tau$, neither approximation holds and the point gets
`ok=False` (`secular_ok`).
"""

import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np

from .._models import engine as _model
from .._models.operators import I2, NUMBER, SIGMA_MINUS, SIGMA_PLUS, SIGMA_X, SIGMA_Y, SIGMA_Z

PAULI_1 = np.stack([I2, SIGMA_X, SIGMA_Y, SIGMA_Z])  # (4, 2, 2) complex
# the real matrices P' = P / i^{m}, m = number of sigma_y factors; single-qubit Y' = Y / i = [[0, -1], [1, 0]]
PAULI_1_REAL = np.stack([I2.real, SIGMA_X.real, (SIGMA_Y / 1j).real, SIGMA_Z.real])
SECULAR_WINDOW = 10.0  # groups closer than this many tolerances (and not within one) set ok=False


def pairs(n: int):
    """The pairs (i, j), i < j, in the order of the g entries of theta."""
    return tuple(itertools.combinations(range(n), 2))


def n_theta(n: int) -> int:
    """Length of theta: eps (n), g (n(n-1)/2), kappa (n), gamma+ (n), gamma- (n)."""
    return 4 * n + len(pairs(n))


def _np_liouvillian(H, jumps):
    """Column-stacked Lindblad superoperator in NumPy (same convention as `_liouvillian.liouvillian`)."""
    d = H.shape[0]
    eye = np.eye(d)
    L = -1j * (np.kron(eye, H) - np.kron(H.T, eye))
    for a in jumps:
        ada = a.conj().T @ a
        L = L + np.kron(a.conj(), a) - 0.5 * (np.kron(eye, ada) + np.kron(ada.T, eye))
    return L


def _local_ptm(L, k: int):
    """Real Pauli transfer matrix (4^k, 4^k) of a k-qubit column-stacked superoperator."""
    P = PAULI_1
    for _ in range(k - 1):
        P = np.stack([np.kron(a, b) for a in P for b in PAULI_1])
    V = np.stack([p.T.reshape(-1) for p in P], axis=1)  # columns vec(P_k), column stacking
    M = V.conj().T @ L @ V / 2**k
    assert np.abs(M.imag).max() < 1e-14
    M = M.real
    M[np.abs(M) < 1e-15] = 0
    return M


def _embed(M_local, sites, n: int):
    """COO (rows, cols, values) of the n-qubit Pauli transfer matrix of a superoperator acting on `sites` only."""
    k = len(sites)
    rest = [q for q in range(n) if q not in sites]
    r_loc, c_loc = np.nonzero(M_local)
    vals = M_local[r_loc, c_loc]
    digits = lambda idx: [(idx // 4 ** (k - 1 - s)) % 4 for s in range(k)]  # noqa: E731
    r_dig, c_dig = digits(r_loc), digits(c_loc)
    rows, cols, out = [], [], []
    for other in itertools.product(range(4), repeat=len(rest)):
        base = sum(a * 4 ** (n - 1 - q) for a, q in zip(other, rest, strict=True))
        r = base + sum(r_dig[s] * 4 ** (n - 1 - q) for s, q in enumerate(sites))
        c = base + sum(c_dig[s] * 4 ** (n - 1 - q) for s, q in enumerate(sites))
        rows.append(r)
        cols.append(c)
        out.append(vals)
    return np.concatenate(rows), np.concatenate(cols), np.concatenate(out)


def _pauli_coords(op, sites, n: int):
    """Pauli coordinates Tr(P_k O) (4^n,) of an operator acting on `sites` (identity elsewhere)."""
    k = len(sites)
    P = PAULI_1
    for _ in range(k - 1):
        P = np.stack([np.kron(a, b) for a in P for b in PAULI_1])
    loc = np.einsum("kij,ji->k", P, op).real * 2 ** (n - k)
    out = np.zeros(4**n)
    for idx in np.flatnonzero(np.abs(loc) > 1e-15):
        dig = [(idx // 4 ** (k - 1 - s)) % 4 for s in range(k)]
        out[sum(dig[s] * 4 ** (n - 1 - q) for s, q in enumerate(sites))] = loc[idx]
    return out


FLIP_FLOP = np.kron(SIGMA_PLUS, SIGMA_MINUS) + np.kron(SIGMA_MINUS, SIGMA_PLUS)


def _hamiltonian_terms(n: int):
    """[(operator, sites)] of the Hamiltonian part of theta, in theta order (eps, g pairs, kappa)."""
    return (
        [(NUMBER, (j,)) for j in range(n)]
        + [(FLIP_FLOP, (i, j)) for i, j in pairs(n)]
        + [(SIGMA_X, (j,)) for j in range(n)]
    )


@functools.cache
def local_terms(n: int):
    r"""Sparse generator tensor of the local ME: (k, row, col, coefficient) arrays with M = sum theta_k B_k.

    Also returns the Pauli coordinates of the Hamiltonian terms `h_coords` (n_H, 4^n), the heat weights
    `heat_w` (n, 2, n_H, 4^n) with $Q_j = \sum_{r,a}\gamma_j^{r}\theta_a\,w_{jra}\cdot x$, and the particle weights
    `particle_w` (n, 2, 4^n) with $I_j = \sum_r\gamma_j^r\,w_{jr}\cdot x$ (number operator $\sum_q n_q$).
    """
    ks, rows, cols, vals = [], [], [], []
    zero1, zero2 = np.zeros((2, 2), complex), np.zeros((4, 4), complex)
    terms = []
    for op, sites in _hamiltonian_terms(n):
        terms.append((_np_liouvillian(op, []), sites))
    for jump in (SIGMA_PLUS, SIGMA_MINUS):
        for j in range(n):
            terms.append((_np_liouvillian(zero1, [jump]), (j,)))
    del zero2
    # theta order: eps (n), g, kappa (n), then rates: gamma+_0..n-1, gamma-_0..n-1
    for k, (L, sites) in enumerate(terms):
        r, c, v = _embed(_local_ptm(L, len(sites)), sites, n)
        ks.append(np.full(r.shape, k))
        rows.append(r)
        cols.append(c)
        vals.append(v)
    ks, rows, cols, vals = (np.concatenate(a) for a in (ks, rows, cols, vals))
    n_h = 2 * n + len(pairs(n))
    h_coords = np.stack([_pauli_coords(op, sites, n) for op, sites in _hamiltonian_terms(n)])
    number = sum(_pauli_coords(NUMBER, (q,), n) for q in range(n))
    D = 4**n
    heat_w = np.zeros((n, 2, n_h, D))
    particle_w = np.zeros((n, 2, D))
    for r in range(2):
        for j in range(n):
            sel = ks == n_h + r * n + j
            for a in range(n_h):
                np.add.at(heat_w[j, r, a], cols[sel], vals[sel] * h_coords[a, rows[sel]] / 2**n)
            np.add.at(particle_w[j, r], cols[sel], vals[sel] * number[rows[sel]] / 2**n)
    return dict(k=ks, rows=rows, cols=cols, vals=vals, h_coords=h_coords, heat_w=heat_w, particle_w=particle_w)


def theta_hamiltonian(net):
    """The Hamiltonian coefficients (B, n_H) of flat prepared parameters: eps, g_{i<j}, kappa."""
    n = net.eps.shape[-1]
    iu = tuple(np.array(a) for a in zip(*pairs(n), strict=True))
    return jnp.concatenate([net.eps, net.g[:, iu[0], iu[1]], net.kappa], axis=-1)


def local_rates(net):
    """(up, down) (B, n): the local ME's rates gamma_j^+-, at the bare gaps (fermions: at eps_j - mu_j)."""
    up, down = _model._occupation(net.eps - net.mu, net.T, net.bath)
    return net.gamma * up, net.gamma * down


def _group_terms(k, pos, vals):
    """(uniq, kk, cc): the distinct flat positions `uniq` of generator entries given as terms (coefficient index k,
    position pos, value), and per position the padded lists of its terms' indices kk and values cc (zero padding)."""
    uniq, slot = np.unique(pos, return_inverse=True)
    m = int(np.bincount(slot).max())
    kk = np.zeros((len(uniq), m), np.int32)
    cc = np.zeros((len(uniq), m))
    fill = np.zeros(len(uniq), int)
    for e, u in enumerate(slot):
        kk[u, fill[u]], cc[u, fill[u]] = k[e], vals[e]
        fill[u] += 1
    return uniq, kk, cc


@functools.cache
def _gather_plan(n: int, which: int | None):
    """The sparse generator regrouped by matrix position, for a gather instead of a scatter-add (serial on CPU).

    Returns (kk, cc, inv): the U structurally non-zero positions each get up to m contributions theta[kk] * cc
    (padded with coefficient 0), and inv (4^n * 4^n,) maps every position of M to its slot (U: the zero slot)."""
    t = local_terms(n)
    k, rows, cols, vals = t["k"], t["rows"], t["cols"], t["vals"]
    if which is not None:
        sel = k < which
        k, rows, cols, vals = k[sel], rows[sel], cols[sel], vals[sel]
    D = 4**n
    uniq, kk, cc = _group_terms(k, rows * D + cols, vals)
    inv = np.full(D * D, len(uniq), np.int32)
    inv[uniq] = np.arange(len(uniq))
    return kk, cc, inv


def scatter_generator(theta, n: int, which=None):
    """M = sum_k theta_k B_k, (B, 4^n, 4^n), from theta (B, K); `which` restricts to the terms k < which.

    Two gathers (the contributions of each non-zero position, then the positions of M): no scatter-add."""
    kk, cc, inv = _gather_plan(n, which)
    D = 4**n
    vals = jnp.einsum("bum,um->bu", theta[:, kk], jnp.asarray(cc, theta.dtype))
    vals = jnp.concatenate([vals, jnp.zeros_like(vals[:, :1])], axis=1)
    return vals[:, inv].reshape(-1, D, D)


# --------------------------------------------------------------------------------------------------------------------
# The static sparsity of the local generator, for the sparse solve (`jaxengine._solve.network.solve_sparse`)


def structure_of(net) -> tuple:
    """The static structure of a concrete flat batch: (coupled pairs, qubits with a bath, qubits with kappa != 0),
    each a tuple of bools, True where the term is non-zero at SOME point of the batch (zero terms are dropped from
    the sparsity pattern; a point where such a term is 0 is still solved exactly, with explicit zeros)."""
    n = net.eps.shape[-1]
    g, gamma, kappa = (np.asarray(a) for a in (net.g, net.gamma, net.kappa))
    return (
        tuple(bool(np.any(g[:, i, j] != 0)) for i, j in pairs(n)),
        tuple(bool(np.any(gamma[:, j] != 0)) for j in range(n)),
        tuple(bool(np.any(kappa[:, j] != 0)) for j in range(n)),
    )


def precession_blocks(n: int):
    """Pivot blocks of the trace-eliminated unknowns (index k - 1 for the Pauli string k): each string with an X or Y
    factor is paired with its partner under the precession of its FIRST such qubit (X <-> Y there); strings of I and
    Z only are single."""
    D = 4**n
    seen, out = set(), []
    for k in range(1, D):
        if k in seen:
            continue
        dig = [(k // 4 ** (n - 1 - q)) % 4 for q in range(n)]
        xy = [q for q in range(n) if dig[q] in (1, 2)]
        if xy:
            q = xy[0]
            partner = k + (4 ** (n - 1 - q)) * (3 - 2 * dig[q])  # X (1) <-> Y (2)
            out.append((k - 1, partner - 1))
            seen |= {k, partner}
        else:
            out.append((k - 1,))
            seen.add(k)
    return tuple(out)


@functools.cache
def sparse_pattern(n: int, structure: tuple):
    r"""The structural non-zeros of the local generator M for a `structure_of`, and how theta fills them.

    Returns a dict: `rows`, `cols` (U,) the positions of M, `kk`, `cc` (U, m) with $M_u = \sum_m \theta_{kk_{um}}
    cc_{um}$ (padded with coefficient 0), `a` the positions inside $A = M_{1:,1:}$ and `b` those in column 0
    (rows >= 1), and the pivot `blocks`."""
    pairs_on, bath_on, kappa_on = structure
    t = local_terms(n)
    P = len(pairs(n))
    live = np.ones(n_theta(n), bool)
    live[n : n + P] = pairs_on
    live[n + P : 2 * n + P] = kappa_on
    live[2 * n + P : 3 * n + P] = bath_on
    live[3 * n + P :] = bath_on
    sel = live[t["k"]]
    k, rows, cols, vals = (t[name][sel] for name in ("k", "rows", "cols", "vals"))
    D = 4**n
    uniq, kk, cc = _group_terms(k, rows * D + cols, vals)
    r, c = uniq // D, uniq % D
    if np.any(r == 0):
        raise AssertionError("row 0 of the generator must vanish (trace preservation)")
    return dict(
        rows=r, cols=c, kk=kk, cc=cc, a=np.flatnonzero(c > 0), b=np.flatnonzero(c == 0), blocks=precession_blocks(n)
    )


def sparse_values(theta, pattern):
    """The structural non-zeros of M, batch last: (U, B) from theta (B, K)."""
    tT = theta.T  # (K, B)
    return jnp.einsum("umB,um->uB", tT[jnp.asarray(pattern["kk"])], jnp.asarray(pattern["cc"], theta.dtype))


def local_theta(net):
    """theta (B, K) of the local ME: eps, g_{i<j}, kappa, gamma^+, gamma^-."""
    up, down = local_rates(net)
    return jnp.concatenate([theta_hamiltonian(net), up, down], axis=-1)


def local_generator(net):
    """Real Pauli-basis generator (B, 4^n, 4^n) of flat prepared parameters, local master equation."""
    up, down = local_rates(net)
    theta = jnp.concatenate([theta_hamiltonian(net), up, down], axis=-1)
    return scatter_generator(theta, net.eps.shape[-1])


def rho_from_pauli(x, n: int):
    """(B, 4^n) real Pauli vector -> (B, 2^n, 2^n) complex density matrix, one small contraction per qubit."""
    B = x.shape[0]
    cdtype = jnp.complex128 if x.dtype == jnp.float64 else jnp.complex64
    t = x.astype(cdtype).reshape((B,) + (4,) * n)
    sig = jnp.asarray(PAULI_1, cdtype)
    for _ in range(n):
        # contract axis 1 (the next qubit's Pauli index; earlier qubits moved to the end as (row, col) pairs)
        t = jnp.einsum("ba...,aij->b...ij", t, sig)
    d = 2**n
    t = t.reshape((B,) + (2, 2) * n)
    perm = (0,) + tuple(1 + 2 * q for q in range(n)) + tuple(2 + 2 * q for q in range(n))
    return t.transpose(perm).reshape(B, d, d) / d


def pair_pauli(x, n: int, i: int, j: int):
    """The 16 Pauli coordinates of the reduced state of qubits (i, j), (B, 16): x at strings with I elsewhere."""
    idx = [a * 4 ** (n - 1 - i) + b * 4 ** (n - 1 - j) for a in range(4) for b in range(4)]
    return x[:, np.array(idx)]


# --------------------------------------------------------------------------------------------------------------------
# Global (secular) master equation


@functools.cache
def sigma_x_ops(n: int) -> np.ndarray:
    """sigma_x of each qubit, (n, 2^n, 2^n) real."""
    out = []
    for j in range(n):
        op = np.array([[1.0]])
        for q in range(n):
            op = np.kron(op, SIGMA_X.real if q == j else np.eye(2))
        out.append(op)
    return np.stack(out)


@functools.cache
def number_op(n: int) -> np.ndarray:
    """The total excitation number sum_q n_q, (2^n, 2^n) real diagonal."""
    d = 2**n
    return np.diag([float(bin(d - 1 - r).count("1")) for r in range(d)])  # |1> = (1, 0): index bit 0 is excited


@functools.cache
def y_parity_sign(n: int) -> np.ndarray:
    """S_kl = Re(i^{m_k + m_l}) for Pauli strings with m sigma_y factors (0 where m_k + m_l is odd), (4^n, 4^n)."""
    m = np.zeros(4**n, int)
    for k in range(4**n):
        m[k] = sum(((k // 4 ** (n - 1 - q)) % 4) == 2 for q in range(n))
    tot = m[:, None] + m[None, :]
    return np.where(tot % 2 == 0, np.where(tot % 4 == 0, 1.0, -1.0), 0.0)


def hamiltonian_dense(net):
    """Full H (B, 2^n, 2^n), real, from flat prepared parameters (for the eigenbasis of the global ME)."""
    n = net.eps.shape[-1]
    ops = np.stack([_dense(op, sites, n) for op, sites in _hamiltonian_terms(n)]).real
    return jnp.einsum("ba,aij->bij", theta_hamiltonian(net), jnp.asarray(ops, net.eps.dtype))


def _dense(op, sites, n):
    """A one- or two-qubit operator on adjacent-or-not `sites`, as a dense 2^n matrix (numpy)."""
    d = 2**n
    k = len(sites)
    out = np.zeros((d, d), complex)
    for r in range(d):
        for c in range(d):
            rb = [(r >> (n - 1 - q)) & 1 for q in range(n)]
            cb = [(c >> (n - 1 - q)) & 1 for q in range(n)]
            if any(rb[q] != cb[q] for q in range(n) if q not in sites):
                continue
            ri = sum(rb[s] << (k - 1 - t) for t, s in enumerate(sites))
            ci = sum(cb[s] << (k - 1 - t) for t, s in enumerate(sites))
            out[r, c] = op[ri, ci]
    return out


def _group(w, relevant, tol):
    """Group ids (d*d,) of chained Bohr frequencies, the groups' mean frequency per entry, and the secular flag."""
    f = w.reshape(-1)
    rel = relevant.reshape(-1)
    m = f.shape[0]
    span = jnp.max(jnp.abs(f)) + 1
    key = jnp.where(rel, f, 4 * span * (2 + jnp.arange(m, dtype=f.dtype)))  # irrelevant: far apart, alone
    order = jnp.argsort(key)
    ks = key[order]
    gaps = jnp.diff(ks)
    new = gaps > tol
    gid_sorted = jnp.concatenate([jnp.zeros(1, jnp.int32), jnp.cumsum(new, dtype=jnp.int32)])
    gid = jnp.zeros(m, jnp.int32).at[order].set(gid_sorted)
    relf = rel.astype(f.dtype)
    total = jax.ops.segment_sum(f * relf, gid, num_segments=m)
    count = jax.ops.segment_sum(relf, gid, num_segments=m)
    mean = total / jnp.maximum(count, 1)
    lo = jax.ops.segment_min(jnp.where(rel, f, jnp.inf), gid, num_segments=m)
    hi = jax.ops.segment_max(jnp.where(rel, f, -jnp.inf), gid, num_segments=m)
    spread = jnp.where(count > 0, hi - lo, 0)
    both_rel = rel[order][1:] & rel[order][:-1]
    ambiguous = jnp.any(both_rel & (gaps > tol) & (gaps < SECULAR_WINDOW * tol))
    ok = ~ambiguous & jnp.all(spread <= SECULAR_WINDOW * tol)
    return gid, mean[gid], ok


def global_dissipator(E, V, net_point, n: int):
    r"""The secular dissipators of one point in the eigenbasis.

    Args:
        E (d,), V (d, d): eigenvalues and (real orthogonal) eigenvectors of H.
        net_point: prepared parameters of ONE point (fields (n,), g (n, n)).

    Returns:
        (G, K, ok): G (n, d, d, d, d) with $\mathcal{D}_j(\tilde\rho)_{ac} = \sum_{bd}G_{j,abcd}\tilde\rho_{bd}
        - \frac12(K_j\tilde\rho + \tilde\rho K_j)_{ac}$, K (n, d, d), and the secular flag.
    """
    d = E.shape[0]
    X = jnp.einsum("ia,jik,kb->jab", V, jnp.asarray(sigma_x_ops(n), V.dtype), V)  # (n, d, d) in the eigenbasis
    w = E[None, :] - E[:, None]  # w[a, b] = E_b - E_a: energy given to the bath by the transition b -> a
    gamma = net_point.gamma
    relevant = (jnp.max(jnp.where(gamma[:, None, None] > 0, jnp.abs(X), 0), axis=0) > 1e-12) | jnp.eye(d, dtype=bool)
    tol = jnp.maximum(jnp.max(gamma), 1e-10 * (jnp.max(jnp.abs(E)) + 1))
    gid, wbar, ok = _group(w, relevant, tol)
    zero_group = gid[0]  # w[0, 0] = 0: the group of the populations and of exact degeneracies
    live = (gid != zero_group).reshape(d, d) & relevant  # irrelevant entries have no group frequency (mean 0)
    x = jnp.abs(wbar).reshape(d, d)
    x = jnp.where(live, x, 1.0)[None]  # dropped entries: any positive frequency keeps the occupations finite
    up, down = _model._occupation(x - net_point.mu[:, None, None], net_point.T[:, None, None], net_point.bath)
    emit = wbar.reshape(d, d)[None] > 0
    rate = jnp.where(live[None], gamma[:, None, None] * jnp.where(emit, down, up), 0)  # (n, d, d)
    same = (gid[:, None] == gid[None, :]).reshape(d, d, d, d)  # same[a, b, c, d']
    A = rate * X  # rate folded in once: within a group the rate is the same for every entry
    G = jnp.where(same[None], jnp.einsum("jab,jcd->jabcd", A, X), 0)
    K = jnp.einsum("jabad->jdb", G)
    return G, K, ok


def superoperator(G, K):
    """S[a, c, b, d] of the summed dissipators (see `global_dissipator`), (d, d, d, d)."""
    d = K.shape[-1]
    eye = jnp.eye(d, dtype=K.dtype)
    Gs, Ks = G.sum(0), K.sum(0)
    return (
        jnp.einsum("abcd->acbd", Gs)
        - 0.5 * jnp.einsum("ab,cd->acbd", Ks, eye)
        - 0.5 * jnp.einsum("ab,dc->acbd", eye, Ks)
    )


def apply_dissipators(G, K, rho_e):
    """Each bath's dissipator applied to rho in the eigenbasis: (n, d, d) from G (n, d,d,d,d), K (n, d, d)."""
    jump = jnp.einsum("jabcd,bd->jac", G, rho_e)
    return jump - 0.5 * (K @ rho_e[None] + rho_e[None] @ K)


def pauli_transfer_eigen(S, V, n: int):
    r"""$M_{kl} = 2^{-n}\mathrm{Tr}(P_k\,\mathcal{S}(P_l))$ for a superoperator given in the eigenbasis as
    S[a, c, b, d] ($\mathcal{S}(\tilde\rho)_{ac} = \sum_{bd} S_{acbd}\tilde\rho_{bd}$), real (d^4,) -> (4^n, 4^n)."""
    d = 2**n
    # to the computational basis: S'[x, y, u, v] = V_xa V_yc S[a, c, b, d] V_ub V_vd
    t = jnp.einsum("xa,acbd->xcbd", V, S)
    t = jnp.einsum("yc,xcbd->xybd", V, t)
    t = jnp.einsum("ub,xybd->xyud", V, t)
    t = jnp.einsum("vd,xyud->xyuv", V, t)
    # to the real Pauli basis, one qubit at a time: contract (x_q, y_q) and (u_q, v_q) with P'
    t = t.reshape((2,) * (4 * n))
    sig = jnp.asarray(PAULI_1_REAL, S.dtype)
    operands = [t, list(range(4 * n))]
    out_k, out_l = [], []
    for q in range(n):
        a, b = 4 * n + q, 5 * n + q
        x_q, y_q, u_q, v_q = q, n + q, 2 * n + q, 3 * n + q
        operands += [sig, [a, y_q, x_q], sig, [b, u_q, v_q]]
        out_k.append(a)
        out_l.append(b)
    M = jnp.einsum(*operands, out_k + out_l).reshape(4**n, 4**n) / d
    return M * jnp.asarray(y_parity_sign(n), S.dtype)


# --------------------------------------------------------------------------------------------------------------------
# The excitation-number symmetry of the local ME at kappa = 0


@functools.cache
def number_symmetric_basis(n: int):
    r"""At $\kappa = 0$ the local generator commutes with $[\hat N, \cdot]$, so the steady state lies in the
    commutant of $\hat N = \sum_q n_q$: $\binom{2n}{n}$ real dimensions instead of $4^n$ (20, 70, 252 for n = 3, 4, 5).

    Returns the reduced generators of the local ME in that subspace, trace eliminated: `R` (K, r, r) and `c` (K, r)
    with $A(\theta) = \sum_k\theta_k R_k$, $b(\theta) = -\sum_k\theta_k c_k$, and the basis `Q` (4^n, r) (orthonormal,
    orthogonal to the identity), so that $x = e_0 + Q y$ with $A y = b$ ($r = \binom{2n}{n} - 1$).
    """
    import scipy.sparse as sp

    t = local_terms(n)
    D, K = 4**n, n_theta(n)
    mats = [
        sp.csr_matrix((t["vals"][t["k"] == k], (t["rows"][t["k"] == k], t["cols"][t["k"] == k])), shape=(D, D))
        for k in range(K)
    ]
    ad_n = sum(mats[:n]).toarray()  # sum of the eps generators: -i[N, .] in the Pauli basis
    _, s, vt = np.linalg.svd(ad_n)
    kernel = vt[s < 1e-9 * max(s.max(), 1)].T  # (D, C(2n, n))
    kernel = kernel - np.outer(np.eye(D)[0], kernel[0])  # remove the identity direction
    q, sv, _ = np.linalg.svd(kernel, full_matrices=False)
    Q = q[:, sv > 1e-9]  # (D, r)
    R = np.stack([Q.T @ (m @ Q) for m in mats])
    c = np.stack([Q.T @ m[:, [0]].toarray()[:, 0] for m in mats])
    return R, c, Q
