r"""Fig 2 of the paper: $J$ and $N$ against $\delta$ at $\kappa = 0$, one curve per $T_h$ in `T_HS`.

Writes `fig2.png` and `fig2.csv` (columns `T_h, delta, J, Q_h, negativity, J_c, witness, ok`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import _plotting as P
from ._common import FIG2_DELTA, T_HS

NEEDS = ()


def points(B, D, ctx):
    B.add("fig2", T_h=np.array(T_HS)[:, None], delta=np.linspace(*FIG2_DELTA, ctx.res["line"]))


def plot(D, out: Path):
    plt = P.plt()
    b = D["batch"]["fig2"]
    fig, ax = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    for i, c in enumerate(P.colors(len(T_HS))):
        ax[0].plot(b["delta"][i], b["J"][i], c, label=f"$T_h = {T_HS[i]}\\,\\varepsilon_h$")
        ax[1].plot(b["delta"][i], b["negativity"][i], c, label=f"$T_h = {T_HS[i]}\\,\\varepsilon_h$")
    ax[0].set(
        xlabel=r"detuning $\delta/\varepsilon_h$",
        ylabel=r"heat current $J_{ss}/\varepsilon_h$",
        title=r"(a) heat current $J_{ss} = Q_h - Q_c$",
    )
    ax[1].set(xlabel=r"detuning $\delta/\varepsilon_h$", ylabel=r"negativity $N(\rho_{ss})$", title="(b) negativity")
    for a in ax:
        a.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
        a.legend(loc="upper right")
        a.set_xlim(*FIG2_DELTA)
        a.set_ylim(bottom=0)
    fig.suptitle(
        r"Fig 2: $\kappa_h = \kappa_c = 0$, $T_c = 0.1$, $g = 1.6\times10^{-3}$, "
        r"$\gamma_h = 10^{-3}$, $\gamma_c = 1.1\times10^{-2}$",
        fontsize=10,
    )
    P.save(fig, out, "fig2")
    P.write_csv(
        out / "fig2.csv", P.curve_columns(b, extra=()), f"Fig 2: J and N vs delta per T_h, kappa=0; {P.PARAMS_NOTE}"
    )
