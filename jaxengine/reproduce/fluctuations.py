r"""Beyond the paper: fluctuations of the hot bath's heat current and the classical uncertainty relations over
$(T_h, \delta)$ at $\kappa = 0$.

(a) the Fano factor $c_2/|c_1|$ of the excitations the hot bath puts in, (b) the TUR ratio $(c_2/c_1^2)\Sigma$
(classical bound 2) and (c) the KUR ratio $(c_2/c_1^2)\mathcal{A}$ (classical bound 1), from `counting_statistics`
and `thermodynamics`. Where a ratio goes below its bound a contour marks it. Writes `fluctuations.png` and
`fluctuations.csv`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import _plotting as P
from ._common import log

NEEDS = ()
T_H = (0.15, 1.5)
DELTA = (-0.1, 0.1)


def compute(D, ctx):
    import jaxengine as je

    n = 16 if ctx.quick else ctx.res["map"]  # quick: 256 points, one batch bucket
    T = np.linspace(*T_H, n)
    d = np.linspace(*DELTA, n)
    p = je.EngineParams(T_h=T[:, None], delta=d)
    cs = je.counting_statistics(p)
    th = je.thermodynamics(p)
    D["fluctuations"] = dict(
        T_h=T,
        delta=d,
        mean=np.asarray(cs.mean),
        noise=np.asarray(cs.noise),
        skewness=np.asarray(cs.skewness),
        fano=np.asarray(cs.fano),
        tur=np.asarray(th.tur),
        kur=np.asarray(th.kur),
        sigma=np.asarray(th.entropy_production),
        heat=np.asarray(th.heat),
        counted_heat=np.asarray(th.counted_heat),
    )
    log(f"fluctuations: counting statistics on {n} x {n} points done", ctx.quiet)


def plot(D, out: Path):
    plt = P.plt()
    R = D["fluctuations"]
    T, d = R["T_h"], R["delta"]
    fig, axes = plt.subplots(1, 3, figsize=(13.0, 4.3), constrained_layout=True, sharey=True)
    panels = (
        ("fano", "(a) Fano factor $c_2/|c_1|$", None),
        ("tur", r"(b) TUR $(c_2/c_1^2)\,\Sigma$ (classical $\geq 2$)", 2.0),
        ("kur", r"(c) KUR $(c_2/c_1^2)\,\mathcal{A}$ (classical $\geq 1$)", 1.0),
    )
    from matplotlib.colors import LogNorm

    for ax, (key, title, bound) in zip(axes, panels, strict=True):
        Z = R[key]
        m = ax.pcolormesh(d, T, Z, shading="auto", norm=LogNorm(vmin=np.nanmin(Z), vmax=np.nanmax(Z)))
        fig.colorbar(m, ax=ax)
        if bound is not None and np.nanmin(Z) < bound:
            ax.contour(d, T, Z, levels=[bound], colors="r", linewidths=1.2)
        ax.set(title=title, xlabel=r"detuning $\delta/\varepsilon_h$")
        ax.grid(False)
    axes[0].set_ylabel(r"$T_h/\varepsilon_h$")
    P.save(fig, out, "fluctuations")
    cols = {"T_h": np.repeat(T, d.size), "delta": np.tile(d, T.size)}
    cols.update({k: R[k] for k in ("mean", "noise", "skewness", "fano", "sigma", "tur", "kur", "heat", "counted_heat")})
    P.write_csv(
        out / "fluctuations.csv",
        cols,
        "counted excitations of the hot bath (mean, noise, skewness per unit time), entropy production sigma with the "
        f"full-H heat currents, kappa=0; {P.PARAMS_NOTE}",
    )


def summarise(D, S):
    R = D["fluctuations"]
    out = {}
    for key, bound in (("tur", 2.0), ("kur", 1.0)):
        Z = R[key]
        i, j = np.unravel_index(np.nanargmin(Z), Z.shape)
        out[key] = dict(
            min=float(Z[i, j]),
            at_T_h=float(R["T_h"][i]),
            at_delta=float(R["delta"][j]),
            bound=bound,
            violated_points=int(np.sum(Z < bound)),
            points=int(Z.size),
        )
    F = R["fano"]
    out["fano"] = dict(min=float(np.nanmin(F)), max=float(np.nanmax(F)))
    rel = np.abs(R["heat"] - R["counted_heat"]) / np.abs(R["heat"])
    out["counted_vs_full_heat_max_rel"] = float(np.nanmax(rel))
    S["fluctuations"] = out


def summary_md(S, w):
    F = S["fluctuations"]
    w("## Beyond the paper: current fluctuations and uncertainty relations (`fluctuations.png`)")
    w("")
    for key, name in (("tur", "TUR"), ("kur", "KUR")):
        r = F[key]
        verdict = (
            f"violated at {r['violated_points']} of {r['points']} points"
            if r["violated_points"]
            else f"never violated ({r['points']} points)"
        )
        w(
            f"- {name} ratio: minimum {r['min']:.4f} at T_h = {r['at_T_h']:.3f}, delta = {r['at_delta']:.3f}; the "
            f"classical bound {r['bound']:g} is {verdict}."
        )
    w(f"- Fano factor of the hot bath's excitations: {F['fano']['min']:.4f} ... {F['fano']['max']:.4f}.")
    w(
        f"- Counted energy current eps_h x particles vs the full-H heat current Q_h: up to "
        f"{100 * F['counted_vs_full_heat_max_rel']:.2f} % apart (equal at delta = 0)."
    )
    w("")
