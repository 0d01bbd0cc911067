r"""Beyond the paper: $N$ over $(T_h, \delta)$ at $\kappa = 0$ with the witness boundary $|J| = J_c$ and the roots
$\delta^*_\pm(T_h)$, $T_h^*(\delta)$ of the shared part "roots" overlaid.

Writes `phase_diagram.png` and `phase_diagram.csv`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import _plotting as P
from ._common import PHASE_DELTA, PHASE_T_H

NEEDS = ("roots",)


def points(B, D, ctx):
    nm = ctx.res["map"]
    B.add("phase", T_h=np.linspace(*PHASE_T_H, nm)[:, None], delta=np.linspace(*PHASE_DELTA, nm))


def plot(D, out: Path):
    plt = P.plt()
    from matplotlib.colors import LogNorm

    b = D["batch"]["phase"]
    T, d, N, W = b["T_h"], b["delta"], b["negativity"], b["witness"]
    fig, ax = plt.subplots(figsize=(7.6, 5.4), constrained_layout=True)
    Nm = np.ma.masked_where(N <= 0, N)
    cmap = plt.get_cmap("viridis").with_extremes(bad="0.85")
    pos = N[N > 0]
    m = ax.pcolormesh(d, T, Nm, shading="auto", cmap=cmap, norm=LogNorm(vmin=max(pos.min(), 1e-8), vmax=pos.max()))
    fig.colorbar(m, ax=ax, label=r"negativity $N(\rho_{ss})$ (grey: $N = 0$)")
    ax.contour(d, T, W, levels=[1.0], colors="w", linewidths=2.0)
    ax.contour(d, T, W, levels=[1.0], colors="r", linewidths=0.9, linestyles="--")
    for key, mk in (("plus", "o"), ("minus", "s")):
        th, v, ok = D[f"dstar_{key}_line"]
        ax.plot(v[ok], th[ok], mk, color="k", ms=3.5, mfc="none", ls="")
    dl, ts, okt = D["tstar_line"]
    ax.plot(dl[okt], ts[okt], "^", color="k", ms=3.5, mfc="none", ls="")
    h = [
        plt.Line2D([], [], color="r", ls="--"),
        plt.Line2D([], [], color="k", marker="o", ls="", mfc="none", ms=4),
        plt.Line2D([], [], color="k", marker="^", ls="", mfc="none", ms=4),
    ]
    ax.legend(
        h,
        [
            r"$|J_{ss}| = J_c$ (witness = 1)",
            r"$\delta^*_\pm(T_h)$ (critical_detuning)",
            r"$T_h^*(\delta)$ (critical_temperature)",
        ],
        loc="upper center",
        bbox_to_anchor=(0.5, -0.13),
        ncol=3,
        fontsize=8,
    )
    ax.set(
        xlabel=r"detuning $\delta/\varepsilon_h$",
        ylabel=r"hot-bath temperature $T_h/\varepsilon_h$",
        title=r"Beyond the paper: $N$ over $(T_h, \delta)$ at $\kappa = 0$ with the witness boundary",
    )
    ax.set_xlim(*PHASE_DELTA)
    ax.set_ylim(*PHASE_T_H)
    ax.grid(False)
    P.save(fig, out, "phase_diagram")
    P.write_csv(
        out / "phase_diagram.csv",
        {"T_h": T, "delta": d, "negativity": N, "J": b["J"], "J_c": b["J_c"], "witness": W},
        f"phase diagram, kappa=0; {P.PARAMS_NOTE}",
    )
