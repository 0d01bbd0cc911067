r"""Fig 3 of the paper: the witness $|J|/J_c$ and $N$ (a) against $\delta$ per $T_h$, (b) against $T_h$ per $\delta$.

Markers: the roots $\delta^*_\pm$ and $T_h^*$ of the shared part "roots". Writes `fig3.png` and `fig3.csv` (column
`panel`: 0 = (a), 1 = (b)); contributes the summary's tables of $\delta^*_\pm$ and $T_h^*$ (`dstar`, `tstar`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import _plotting as P
from ._common import FIG3A_DELTA, FIG3B_DELTAS, FIG3B_T_H, PHASE_DELTA, T_HS, fmt_f

NEEDS = ("roots",)


def points(B, D, ctx):
    nl = ctx.res["line"]
    B.add("fig3a", T_h=np.array(T_HS)[:, None], delta=np.linspace(*FIG3A_DELTA, nl))
    B.add("fig3b", T_h=np.linspace(*FIG3B_T_H, nl), delta=np.array(FIG3B_DELTAS)[:, None])


def plot(D, out: Path):
    plt = P.plt()
    a3, b3 = D["batch"]["fig3a"], D["batch"]["fig3b"]
    fig, ax = plt.subplots(2, 2, figsize=(10, 6.6), sharex="col", constrained_layout=True)
    for i, c in enumerate(P.colors(len(T_HS))):
        lab = f"$T_h = {T_HS[i]}$"
        ax[0, 0].plot(a3["delta"][i], a3["witness"][i], c, label=lab)
        ax[1, 0].plot(a3["delta"][i], a3["negativity"][i], c, label=lab)
        for key, mk in (("plus", "o"), ("minus", "s")):
            v, ok = D[f"dstar_{key}"]
            if ok[i]:
                ax[0, 0].plot(v[i], 1.0, mk, color=c, ms=5, mfc="none")
                ax[1, 0].plot(v[i], 0.0, mk, color=c, ms=5, mfc="none")
    for i, c in enumerate(P.colors(len(FIG3B_DELTAS))):
        lab = rf"$\delta = {FIG3B_DELTAS[i]}$"
        ax[0, 1].plot(b3["T_h"][i], b3["witness"][i], c, label=lab)
        ax[1, 1].plot(b3["T_h"][i], b3["negativity"][i], c, label=lab)
        v, ok = D["tstar"]
        if ok[i]:
            ax[0, 1].plot(v[i], 1.0, "o", color=c, ms=5, mfc="none")
            ax[1, 1].plot(v[i], 0.0, "o", color=c, ms=5, mfc="none")
    for a in ax[0]:
        a.axhline(1.0, color="k", lw=0.8, ls=":")
        a.set_ylabel(r"witness $|J_{ss}|/J_c$")
    for a in ax[1]:
        a.set_ylabel(r"negativity $N(\rho_{ss})$")
        a.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
    ax[1, 0].set_xlabel(r"detuning $\delta/\varepsilon_h$")
    ax[1, 1].set_xlabel(r"hot-bath temperature $T_h/\varepsilon_h$")
    ax[0, 0].set_title(r"(a) vs $\delta$ at fixed $T_h$ (markers: $\delta^*_\pm$, where $N = 0$)")
    ax[0, 1].set_title(r"(b) vs $T_h$ at fixed $\delta$ (markers: $T_h^*$)")
    ax[0, 0].set_xlim(*FIG3A_DELTA)
    ax[0, 1].set_xlim(*FIG3B_T_H)
    ax[0, 0].legend(loc="upper left", title=r"$\kappa = 0$", title_fontsize=8.5)
    ax[0, 1].legend(loc="lower right", title=r"$\kappa = 0$", title_fontsize=8.5)
    ax[0, 0].set_ylim(bottom=0)
    ax[0, 1].set_ylim(bottom=0)
    fig.suptitle(
        r"Fig 3: $\kappa_h = \kappa_c = 0$, $T_c = 0.1$, $g = 1.6\times10^{-3}$, "
        r"$\gamma_h = 10^{-3}$, $\gamma_c = 1.1\times10^{-2}$ (energies in units of $\varepsilon_h$)",
        fontsize=10,
    )
    P.save(fig, out, "fig3")
    cols = {
        k: np.concatenate([np.ravel(a3[k]), np.ravel(b3[k])])
        for k in ("T_h", "delta", "witness", "negativity", "J", "J_c")
    }
    cols["panel"] = np.concatenate([np.zeros(a3["T_h"].size), np.ones(b3["T_h"].size)])
    P.write_csv(
        out / "fig3.csv",
        cols,
        f"Fig 3: panel 0 = (a) vs delta, panel 1 = (b) vs T_h; witness = |J|/J_c; kappa=0; {P.PARAMS_NOTE}",
    )


def summarise(D, S):
    B = D["batch"]
    dp, okp = D["dstar_plus"]
    dm, okm = D["dstar_minus"]
    ad = B["at_dstar"]
    nT = len(T_HS)
    S["dstar"] = [
        dict(
            T_h=t,
            plus=float(dp[i]) if okp[i] else None,
            minus=float(dm[i]) if okm[i] else None,
            witness_at_plus=float(ad["witness"][i]) if okp[i] else None,
            witness_at_minus=float(ad["witness"][nT + i]) if okm[i] else None,
        )
        for i, t in enumerate(T_HS)
    ]
    ts, okt = D["tstar"]
    at = B["at_tstar"]
    S["tstar"] = [
        dict(delta=d, T_h_star=float(ts[i]) if okt[i] else None, witness_at=float(at["witness"][i]) if okt[i] else None)
        for i, d in enumerate(FIG3B_DELTAS)
    ]


def summary_md(S, w):
    w(f"\n## Critical detuning δ*± (N = 0, equivalently |J| = J_c at κ = 0), searched in |δ| ≤ {PHASE_DELTA[1]}\n")
    w("| T_h | δ*+ | \\|J\\|/J_c at δ*+ | δ*− | \\|J\\|/J_c at δ*− |\n|---|---|---|---|---|")
    for r in S["dstar"]:
        wp = "—" if r["witness_at_plus"] is None else f"{r['witness_at_plus']:.8f}"
        wm = "—" if r["witness_at_minus"] is None else f"{r['witness_at_minus']:.8f}"
        w(f"| {r['T_h']} | {fmt_f(r['plus'])} | {wp} | {fmt_f(r['minus'])} | {wm} |")
    w("\n## Critical temperature T_h* (entangled above), per δ\n")
    w("| δ | T_h* | \\|J\\|/J_c at T_h* |\n|---|---|---|")
    for r in S["tstar"]:
        wa = "—" if r["witness_at"] is None else f"{r['witness_at']:.8f}"
        w(f"| {r['delta']} | {fmt_f(r['T_h_star'])} | {wa} |")
