"""Shared test helpers: tolerances, random parameter draws, and an independent NumPy reference solver."""

import numpy as np

import jaxengine as je

TOL = {np.dtype("float64"): dict(rtol=1e-10, atol=1e-12), np.dtype("float32"): dict(rtol=1e-4, atol=1e-5)}

# Independent operators, written out by hand (not imported from jaxengine)
SP = np.array([[0, 1], [0, 0]], complex)  # sigma+ = |1><0| with |1> = (1, 0)
SM = SP.T.copy()
SX = np.array([[0, 1], [1, 0]], complex)
I2 = np.eye(2)


def random_params(rng, n, *, kappa=True, bath="bosonic"):
    """n random parameter points around the paper's regime (kappa != 0 if asked, both signs of delta)."""
    return je.EngineParams(
        eps_h=rng.uniform(0.8, 1.3, n),
        delta=rng.uniform(-0.08, 0.08, n),
        g=rng.uniform(5e-4, 5e-3, n),
        gamma_h=rng.uniform(5e-4, 5e-3, n),
        gamma_c=rng.uniform(2e-3, 2e-2, n),
        T_h=rng.uniform(0.3, 2.0, n),
        T_c=rng.uniform(0.05, 0.2, n),
        kappa_h=rng.uniform(-0.1, 0.1, n) if kappa else np.zeros(n),
        kappa_c=rng.uniform(-0.05, 0.05, n) if kappa else np.zeros(n),
        bath=bath,
    )


def point(p, i):
    """The i-th point of a 1-D batch of parameters, as Python floats."""
    shape = p.batch_shape
    fields = je._models.params.NUMERIC_FIELDS
    return p.replace(**{k: float(np.broadcast_to(getattr(p, k), shape)[i]) for k in fields})


def np_rates(eps, T, gamma, bath="bosonic"):
    if bath == "bosonic":
        n = np.exp(-eps / T) / -np.expm1(-eps / T) if T > 0 else 0.0
        return gamma * n, gamma * (1 + n)
    f = np.exp(-eps / T) / (1 + np.exp(-eps / T)) if T > 0 else 0.0
    return gamma * f, gamma * (1 - f)


def np_model(p):
    """(H, [c_ops]) of one point, built independently with NumPy."""
    eps_c = p.eps_h + p.delta
    k = np.kron
    H = (
        p.eps_h * k(SP @ SM, I2)
        + eps_c * k(I2, SP @ SM)
        + p.g * (k(SP, SM) + k(SM, SP))
        + p.kappa_h * k(SX, I2)
        + p.kappa_c * k(I2, SX)
    )
    uh, dh = np_rates(p.eps_h, p.T_h, p.gamma_h, p.bath)
    uc, dc = np_rates(eps_c, p.T_c, p.gamma_c, p.bath)
    c_ops = [np.sqrt(uh) * k(SP, I2), np.sqrt(dh) * k(SM, I2), np.sqrt(uc) * k(I2, SP), np.sqrt(dc) * k(I2, SM)]
    return H, c_ops


def np_steady(H, c_ops):
    """Steady state by an SVD null space of the row-stacked Liouvillian (a different stacking and solver)."""
    n = H.shape[0]
    eye = np.eye(n)
    # row stacking: vec_r(A X B) = (A kron B^T) vec_r(X)
    L = -1j * (np.kron(H, eye) - np.kron(eye, H.T))
    for a in c_ops:
        ada = a.conj().T @ a
        L += np.kron(a, a.conj()) - 0.5 * (np.kron(ada, eye) + np.kron(eye, ada.T))
    _, s, vh = np.linalg.svd(L)
    v = vh[-1].conj()
    rho = v.reshape(n, n)
    rho = rho / np.trace(rho)
    return (rho + rho.conj().T) / 2


def np_heat(H, c_ops, rho):
    """(Q_h, Q_c) = Tr[H D_j rho] with the full H; c_ops ordered +h, -h, +c, -c."""
    q = []
    for a in c_ops:
        ada = a.conj().T @ a
        q.append(np.trace(H @ (a @ rho @ a.conj().T - 0.5 * (ada @ rho + rho @ ada))).real)
    return q[0] + q[1], q[2] + q[3]


def np_negativity(rho):
    r = rho.reshape(2, 2, 2, 2).transpose(0, 3, 2, 1).reshape(4, 4)
    lam = np.linalg.eigvalsh(r)
    return np.sum(np.maximum(-lam, 0))


def mp_steady(p, dps=40):
    """Steady state of one point in `dps`-digit arithmetic (mpmath), rows of rho00 replaced by the trace."""
    import mpmath as mp

    mp.mp.dps = dps
    H, c_ops = np_model(p)
    eps_c = mp.mpf(p.eps_h) + mp.mpf(p.delta)

    def rates(eps, T, gamma):
        x = mp.mpf(eps) / mp.mpf(T)
        if p.bath == "bosonic":
            n = 1 / mp.expm1(x)
            return mp.mpf(gamma) * n, mp.mpf(gamma) * (1 + n)
        f = 1 / (mp.exp(x) + 1)
        return mp.mpf(gamma) * f, mp.mpf(gamma) * (1 - f)

    r = [*rates(p.eps_h, p.T_h, p.gamma_h), *rates(eps_c, p.T_c, p.gamma_c)]
    Hm = mp.matrix(4, 4)
    k = np.kron
    ops = [
        (mp.mpf(p.eps_h), k(SP @ SM, I2)),
        (eps_c, k(I2, SP @ SM)),
        (mp.mpf(p.g), k(SP, SM) + k(SM, SP)),
        (mp.mpf(p.kappa_h), k(SX, I2)),
        (mp.mpf(p.kappa_c), k(I2, SX)),
    ]
    for coef, op in ops:
        for i in range(4):
            for j in range(4):
                if op[i, j] != 0:
                    Hm[i, j] += coef * float(op[i, j].real)
    units = [k(SP, I2), k(SM, I2), k(I2, SP), k(I2, SM)]
    n = 4
    # column stacking: index i + 4 j <-> rho[i, j]
    L = mp.matrix(16, 16)

    def add_left_right(A, B, coef):  # coef * A X B
        for i in range(n):
            for j in range(n):
                for a in range(n):
                    for b in range(n):
                        if A[i, a] != 0 and B[b, j] != 0:
                            L[i + n * j, a + n * b] += coef * A[i, a] * B[b, j]

    eye = mp.eye(4)
    add_left_right(Hm, eye, mp.mpc(0, -1))
    add_left_right(eye, Hm, mp.mpc(0, 1))
    for rate, u in zip(r, units, strict=True):
        um = mp.matrix(u.real.tolist())
        ud = um.T
        udu = ud * um
        add_left_right(um, ud, rate)
        add_left_right(udu, eye, -rate / 2)
        add_left_right(eye, udu, -rate / 2)
    b = mp.matrix(16, 1)
    for j in range(16):
        L[0, j] = 1 if j in (0, 5, 10, 15) else 0
    b[0] = 1
    x = mp.lu_solve(L, b)
    return [[x[i + n * j] for j in range(n)] for i in range(n)]
