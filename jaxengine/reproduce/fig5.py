r"""Fig 5 of the paper at $T_h$ = `FIG5_T_H`: (a, b) $J$ and $N$ over $(\kappa_h, \delta)$ with $\kappa_{\max}(\delta)$
and gap matching overlaid; (c, d) cuts against $\kappa_h$ at the $\delta$ of `FIG5_DELTAS` with their $\kappa_{\max}$.

Writes `fig5.png`, `fig5.csv` (the cuts) and `fig5_map.csv` (the maps); contributes the summary's $\kappa_{\max}$
table per $\delta$ (`kmax_fig5`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import _plotting as P
from ._common import (
    FIG4_DELTA,
    FIG5_DELTAS,
    FIG5_KAPPA,
    FIG5_T_H,
    KMAX_DELTA,
    KMAX_MAP_KAPPA,
    T_HS,
    gap_matching_kappa,
)
from ._kmax import kmax_rows, ktable

NEEDS = ("kmax",)


def points(B, D, ctx):
    nl, nm = ctx.res["line"], ctx.res["map"]
    B.add("fig5", T_h=FIG5_T_H, delta=np.array(FIG5_DELTAS)[:, None], kappa_h=np.linspace(*FIG5_KAPPA, nl))
    # the paper's Fig 5 (a, b): maps over (kappa_h, delta)
    B.add("kmap", T_h=FIG5_T_H, delta=np.linspace(*KMAX_DELTA, nm)[:, None], kappa_h=np.linspace(*KMAX_MAP_KAPPA, nm))


def _kmap_panel(fig, a, D, key, label):
    """The paper's Fig 5 panel: `key` over (kappa_h, delta) at T_h = FIG5_T_H, with kappa_max(delta) overlaid."""
    b = D["batch"]["kmap"]
    m = a.pcolormesh(b["kappa_h"], b["delta"], b[key], shading="auto", cmap="magma")
    fig.colorbar(m, ax=a, label=label, format="%.1e")
    dl = np.linspace(*KMAX_DELTA, 400)
    a.plot(gap_matching_kappa(dl), dl, color="c", lw=2.2, label="gap matching")
    km = D[f"kmax_{'J' if key == 'J' else 'N'}_line_{FIG5_T_H}"]
    ok = km["ok"]
    a.plot(km["kappa"][ok], km["delta"][ok], "w--", lw=1.2, label=r"$\kappa_{\max}(\delta)$ (kappa_max)")
    a.axhline(FIG4_DELTA, color="w", ls=(0, (5, 3)), lw=0.9, alpha=0.7)
    a.annotate(
        rf"Fig 4, $T_h = {FIG5_T_H}$",
        (KMAX_MAP_KAPPA[1], FIG4_DELTA),
        xytext=(-4, 3),
        textcoords="offset points",
        ha="right",
        va="bottom",
        color="w",
        fontsize=8,
    )
    a.set(xlabel=r"tunnelling $\kappa_h/\varepsilon_h$", ylabel=r"detuning $\delta/\varepsilon_h$")
    a.set_xlim(*KMAX_MAP_KAPPA)
    a.set_ylim(*KMAX_DELTA)
    a.legend(loc="upper left", framealpha=0.85)
    a.grid(False)


def plot(D, out: Path):
    plt = P.plt()
    b, ref = D["batch"]["fig5"], D["batch"]["ref0"]
    r7 = {k: float(ref[k][list(T_HS).index(FIG5_T_H)]) for k in ("J", "negativity")}
    fig, ax = plt.subplots(2, 2, figsize=(10, 8), constrained_layout=True)
    _kmap_panel(fig, ax[0, 0], D, "J", r"heat current $J_{ss}/\varepsilon_h$")
    _kmap_panel(fig, ax[0, 1], D, "negativity", r"negativity $N(\rho_{ss})$")
    ax[0, 0].set_title(r"(a) heat current over $(\kappa_h, \delta)$")
    ax[0, 1].set_title(r"(b) negativity over $(\kappa_h, \delta)$")
    labels = [rf"$\delta = {d}$" for d in FIG5_DELTAS]
    gap = gap_matching_kappa(np.array(FIG5_DELTAS))
    for a, key, kk in ((ax[1, 0], "J", "J"), (ax[1, 1], "negativity", "N")):
        P.kappa_panels(a, b["kappa_h"], b[key], None, labels, D[f"kmax_{kk}_fig5"], kk, P.colors(len(FIG5_DELTAS)), gap)
        a.axhline(r7[key], color="k", ls="--", lw=1.0, label=r"$\delta = \kappa = 0$")
        a.set_xlim(*FIG5_KAPPA)
        a.set_ylim(0, 1.6 * r7[key])
        a.set_xlabel(r"tunnelling $\kappa_h/\varepsilon_h$")
        a.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
        hh, ll = a.get_legend_handles_labels()
        h = [plt.Line2D([], [], color="k", marker="o", ls="", mfc="none"), plt.Line2D([], [], color="0.4", ls=":")]
        a.legend(hh + h, ll + [r"$\kappa_{\max}$", "gap matching"], loc="upper right", ncol=2, fontsize=8)
    ax[1, 0].set(ylabel=r"heat current $J_{ss}/\varepsilon_h$", title=r"(c) cuts of (a) at fixed $\delta$")
    ax[1, 1].set(ylabel=r"negativity $N(\rho_{ss})$", title=r"(d) cuts of (b) at fixed $\delta$")
    fig.suptitle(
        rf"Fig 5: $T_h = {FIG5_T_H}$, $\kappa_c = 0$, $T_c = 0.1$, $g = 1.6\times10^{{-3}}$, $\gamma_h = 10^{{-3}}$, "
        r"$\gamma_c = 1.1\times10^{-2}$ (dashed in (c, d): $\delta = \kappa = 0$ at the same $T_h$)",
        fontsize=10,
    )
    P.save(fig, out, "fig5")
    P.write_csv(
        out / "fig5.csv",
        P.curve_columns(b),
        f"Fig 5 (c, d): J and N vs kappa_h per delta, T_h={FIG5_T_H}, kappa_c=0; the maps of (a, b) are in "
        f"fig5_map.csv; {P.PARAMS_NOTE}",
    )
    m = D["batch"]["kmap"]
    P.write_csv(
        out / "fig5_map.csv",
        {"delta": m["delta"], "kappa_h": m["kappa_h"], "J": m["J"], "negativity": m["negativity"]},
        f"Fig 5 (a, b): J and N over (delta, kappa_h) at T_h={FIG5_T_H}, kappa_c=0; {P.PARAMS_NOTE}",
    )


def summarise(D, S):
    ref = D["batch"]["ref0"]
    i7 = list(T_HS).index(FIG5_T_H)
    n5 = len(FIG5_DELTAS)
    S["kmax_fig5"] = kmax_rows(D, "fig5", np.full(n5, ref["J"][i7]), np.full(n5, ref["negativity"][i7]))


def summary_md(S, w):
    ktable(w, S["kmax_fig5"], "κ_max per δ (Fig 5: T_h = 0.7, κ_c = 0); fractions of the δ = 0, κ = 0 value")
