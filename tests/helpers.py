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
    return p.replace(**{k: float(np.asarray(getattr(p, k))[i]) for k in je._params.NUMERIC_FIELDS})


def np_rates(eps, T, gamma, bath="bosonic"):
    if bath == "bosonic":
        n = 1 / np.expm1(eps / T) if T > 0 else 0.0
        return gamma * n, gamma * (1 + n)
    f = 1 / (np.exp(eps / T) + 1) if T > 0 else 0.0
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
