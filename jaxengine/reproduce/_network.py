r"""Figures beyond the paper for networks and the global master equation (compute + plot, no physics here).

- `local_global`: the paper's engine ($\delta = \kappa = 0$, its couplings and rates) under the local and the global
  (secular) master equation, $N$ and $J$ against $g/\varepsilon_h$ from $10^{-4}$ to 0.3 at the Fig 2 temperatures;
  the global ME is drawn only where its secular grouping is valid (`ok`), the grey zone is shaded.
- `entropy_sign`: the sign of the local master equation's entropy production
  $\Sigma = -Q_h/T_h - Q_c/T_c$ over $(\delta, T_h)$: where $\Sigma < 0$ the local ME is outside its validity.
- `three_qubits`: pairwise negativities of a three-qubit triangle (qubit 0 hot, qubit 2 cold, qubit 1 without a
  bath) over the coupling $g$ and $T_h$.

Every number comes from the public API (`observables` of `EngineParams` and `Network`). Each figure's module
(`local_global.py`, `entropy_sign.py`, `three_qubits.py`) registers it with `jaxengine reproduce`, which writes
`<name>.png` and `<name>.csv`.
"""

from pathlib import Path

import numpy as np

T_HS = (0.3, 0.5, 0.7)  # the Fig 2 temperatures


def compute_local_global(n_g: int = 61):
    import jaxengine as je

    g = np.logspace(-4, np.log10(0.3), n_g)
    p = je.EngineParams(T_h=np.asarray(T_HS)[:, None], g=g[None, :])
    loc = je.observables(p)
    glo = je.observables(p.replace(master_equation="global"), throw=False)
    return dict(
        g=g,
        T_h=np.asarray(T_HS),
        N_local=np.asarray(loc.negativity),
        J_local=np.asarray(loc.J),
        N_global=np.asarray(glo.negativity),
        J_global=np.asarray(glo.J),
        ok_global=np.asarray(glo.ok),
    )


def compute_entropy_sign(n_delta: int = 141, n_T: int = 91):
    import jaxengine as je

    delta = np.linspace(-0.9, 0.5, n_delta)
    T_h = np.linspace(0.11, 1.0, n_T)  # T_h > T_c: at T_h = T_c, Sigma is zero up to roundoff
    p = je.EngineParams(T_h=T_h[:, None], delta=delta[None, :])
    o = je.observables(p)
    sigma = -np.asarray(o.Q_h) / T_h[:, None] - np.asarray(o.Q_c) / 0.1
    return dict(delta=delta, T_h=T_h, sigma=sigma, Q_h=np.asarray(o.Q_h))


def compute_three_qubits(n_g: int = 31, n_T: int = 31):
    import jaxengine as je

    g = np.logspace(-4, np.log10(3e-2), n_g)
    T_h = np.linspace(0.2, 2.0, n_T)
    G = np.zeros((n_T, n_g, 3, 3))
    for i, j in ((0, 1), (1, 2), (0, 2)):
        G[..., i, j] = G[..., j, i] = g[None, :]
    T = np.zeros((n_T, n_g, 3))
    T[..., 0] = T_h[:, None]
    T[..., 1] = 0.1
    T[..., 2] = 0.05
    net = je.Network(eps=[1.0, 1.0, 1.0], g=G, gamma=[1e-3, 0.0, 1e-2], T=T)
    o = je.observables(net)
    return dict(g=g, T_h=T_h, N=np.asarray(o.negativity), C=np.asarray(o.concurrence))


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _csv(path: Path, columns: dict, comment: str):
    """Equal-size columns as CSV: a `# comment` line, then `# name,...` (the format of `reproduce`'s CSV files)."""
    data = np.column_stack([np.asarray(v, float).ravel() for v in columns.values()])
    header = comment + "\n" + ",".join(columns)
    np.savetxt(path, data, delimiter=",", header=header, comments="# ", fmt="%.12e")


def plot_local_global(D, out: Path):
    plt = _plt()
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    g = D["g"]
    for i, T in enumerate(D["T_h"]):
        c = f"C{i}"
        a.loglog(g, np.maximum(D["N_local"][i], 1e-12), c, label=rf"local, $T_h = {T:g}$")
        b.loglog(g, np.abs(D["J_local"][i]), c)
        ok = D["ok_global"][i]
        a.loglog(
            g, np.where(ok, np.maximum(D["N_global"][i], 1e-12), np.nan), c + "--", label="global" if i == 0 else None
        )
        b.loglog(g, np.where(ok, np.abs(D["J_global"][i]), np.nan), c + "--")
    for ax in (a, b):
        ax.axvspan(1.1e-2 / 2, 1.1e-1 / 2, color="0.85", lw=0, zorder=0)
        ax.axvline(1.6e-3, color="k", ls=":", lw=0.8)
        ax.set_xlabel(r"$g/\varepsilon_h$")
    a.set(ylabel="negativity N", ylim=(1e-8, 1), title="(a) N: local (solid) vs global secular (dashed)")
    b.set(ylabel=r"$|J| = |Q_h - Q_c|$", title=r"(b) heat current; grey: $\gamma_c < 2g < 10\gamma_c$ (ok = False)")
    a.legend(fontsize=8)
    fig.savefig(out / "local_global.png", dpi=130)
    plt.close(fig)
    T, G = np.meshgrid(D["T_h"], g, indexing="ij")
    cols = dict(T_h=T, g=G, N_local=D["N_local"], J_local=D["J_local"], N_global=D["N_global"])
    cols.update(J_global=D["J_global"], ok_global=D["ok_global"])
    _csv(out / "local_global.csv", cols, "paper's engine (delta = kappa = 0), local vs global secular master equation")


def plot_entropy_sign(D, out: Path):
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4.2), constrained_layout=True)
    s = D["sigma"]
    im = ax.pcolormesh(D["delta"], D["T_h"], np.sign(s), cmap="coolwarm_r", vmin=-1.5, vmax=1.5, shading="auto")
    ax.contour(D["delta"], D["T_h"], s, levels=[0.0], colors="k", linewidths=0.9)
    ax.plot([-0.8], [0.3], "k*", ms=9)
    ax.set(
        xlabel=r"detuning $\delta$",
        ylabel=r"$T_h$ ($T_c = 0.1$)",
        title=r"local ME: sign of $\Sigma = -Q_h/T_h - Q_c/T_c$ (red: $\Sigma < 0$)",
    )
    fig.colorbar(im, ax=ax, ticks=[-1, 0, 1])
    fig.savefig(out / "entropy_sign.png", dpi=130)
    plt.close(fig)
    T, d = np.meshgrid(D["T_h"], D["delta"], indexing="ij")
    cols = dict(T_h=T, delta=d, sigma=s, Q_h=D["Q_h"])
    _csv(out / "entropy_sign.csv", cols, "local master equation, paper's couplings, T_c = 0.1: entropy production")


def plot_three_qubits(D, out: Path):
    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.8), constrained_layout=True, sharey=True)
    for ax, (i, j) in zip(axes, ((0, 1), (1, 2), (0, 2)), strict=True):
        Nij = D["N"][..., i, j]
        im = ax.pcolormesh(D["g"], D["T_h"], Nij, vmin=0, vmax=max(float(Nij.max()), 1e-12), shading="auto")
        ax.set(xscale="log", xlabel="g (all three pairs)", title=f"N of qubits {i}, {j} (max {float(Nij.max()):.2e})")
        fig.colorbar(im, ax=ax)
    axes[0].set_ylabel(r"$T_h$ of qubit 0 (qubit 2: $T = 0.05$; qubit 1: no bath)")
    fig.savefig(out / "three_qubits.png", dpi=130)
    plt.close(fig)
    T, g = np.meshgrid(D["T_h"], D["g"], indexing="ij")
    N = D["N"]
    cols = dict(T_h=T, g=g, N01=N[..., 0, 1], N12=N[..., 1, 2], N02=N[..., 0, 2])
    _csv(out / "three_qubits.csv", cols, "three-qubit triangle: qubit 0 hot, qubit 1 no bath, qubit 2 cold (T = 0.05)")
