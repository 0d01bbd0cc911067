r"""Fig 4 of the paper: $J$ and $N$ against $\kappa_h$ at $\delta$ = `FIG4_DELTA`, one curve per $T_h$ in `T_HS`.

Dashed: the $\delta = \kappa = 0$ references (batch block `ref0`); markers: $\kappa_{\max}$ (shared part "kmax");
dotted: gap matching. Writes `fig4.png` and `fig4.csv`; contributes the summary's $\kappa_{\max}$ table per $T_h$
(`kmax_fig4`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import _plotting as P
from ._common import FIG4_DELTA, FIG4_KAPPA, T_HS, gap_matching_kappa
from ._kmax import kmax_rows, ktable

NEEDS = ("kmax",)


def points(B, D, ctx):
    B.add("fig4", T_h=np.array(T_HS)[:, None], delta=FIG4_DELTA, kappa_h=np.linspace(*FIG4_KAPPA, ctx.res["line"]))


def plot(D, out: Path):
    plt = P.plt()
    b, ref = D["batch"]["fig4"], D["batch"]["ref0"]
    fig, ax = plt.subplots(1, 2, figsize=(10, 4.2), constrained_layout=True)
    labels = [f"$T_h = {t}$" for t in T_HS]
    gap = gap_matching_kappa(FIG4_DELTA)
    for a, key, kk in ((ax[0], "J", "J"), (ax[1], "negativity", "N")):
        P.kappa_panels(a, b["kappa_h"], b[key], ref[key], labels, D[f"kmax_{kk}_fig4"], kk, P.colors(3), gap)
        a.set_xlim(*FIG4_KAPPA)
        a.set_ylim(bottom=0)
        a.set_xlabel(r"tunnelling $\kappa_h/\varepsilon_h$")
        a.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
    ax[0].set(ylabel=r"heat current $J_{ss}/\varepsilon_h$", title=r"(a) heat current")
    ax[1].set(ylabel=r"negativity $N(\rho_{ss})$", title=r"(b) negativity")
    h = [
        plt.Line2D([], [], color="k", ls="--", lw=1.0),
        plt.Line2D([], [], color="k", marker="o", ls="", mfc="none"),
        plt.Line2D([], [], color="0.4", ls=":"),
    ]
    extra = [r"$\delta = \kappa = 0$", r"$\kappa_{\max}$ (kappa_max)", "gap matching"]
    for a in ax:
        hh, ll = a.get_legend_handles_labels()
        a.legend(hh + h, ll + extra, loc="upper right", ncol=2)
    ax[0].set_ylim(top=1.35 * float(np.max(ref["J"])))
    ax[1].set_ylim(top=1.35 * float(np.max(ref["negativity"])))
    # the T_h = 0.3 negativity is 50 times smaller than at T_h = 0.7: zoom on it
    i3 = list(T_HS).index(0.3)
    ins = ax[1].inset_axes([0.6, 0.25, 0.37, 0.36])
    P.kappa_panels(
        ins,
        b["kappa_h"][i3 : i3 + 1],
        b["negativity"][i3 : i3 + 1],
        ref["negativity"][i3 : i3 + 1],
        [""],
        {k: v[i3 : i3 + 1] for k, v in D["kmax_N_fig4"].items()},
        "N",
        ["C0"],
        gap,
    )
    ins.set_xlim(*FIG4_KAPPA)
    ins.set_ylim(0, 1.25 * float(ref["negativity"][i3]))
    ins.set_title(r"zoom: $T_h = 0.3$", fontsize=8, pad=2)
    ins.tick_params(labelsize=7)
    ins.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
    ins.yaxis.get_offset_text().set_fontsize(7)
    fig.suptitle(
        rf"Fig 4: $\delta = {FIG4_DELTA}$, $\kappa_c = 0$, $T_c = 0.1$ (dashed: $\delta = 0$, $\kappa_h = 0$)",
        fontsize=10,
    )
    P.save(fig, out, "fig4")
    P.write_csv(
        out / "fig4.csv",
        P.curve_columns(b),
        f"Fig 4: J and N vs kappa_h per T_h, delta={FIG4_DELTA}, "
        f"kappa_c=0; references (delta=0, kappa=0) in summary.md; {P.PARAMS_NOTE}",
    )


def summarise(D, S):
    ref = D["batch"]["ref0"]
    S["kmax_fig4"] = kmax_rows(D, "fig4", ref["J"], ref["negativity"])


def summary_md(S, w):
    ktable(w, S["kmax_fig4"], "κ_max per T_h (Fig 4: δ = 0.01, κ_c = 0); fractions of the δ = 0, κ = 0 value")
