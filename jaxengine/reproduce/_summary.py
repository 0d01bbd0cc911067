"""summary.json and summary.md: the paper's headline numbers, each figure's contributions, then the errata.

Written only when every registered figure is requested. Order: the header (parameters, the delta = 0, kappa = 0
references of block `ref0`), then each figure's `summarise(D, S)` / `summary_md(S, w)` in registry order, then the
errata (`_errata.py`).
"""

from __future__ import annotations

from . import _errata
from ._common import T_HS, fmt_e


def _header(D, S):
    ref = D["batch"]["ref0"]
    S["delta0"] = [
        dict(
            T_h=t,
            J=float(ref["J"][i]),
            N=float(ref["negativity"][i]),
            J_c=float(ref["J_c"][i]),
            witness=float(ref["witness"][i]),
        )
        for i, t in enumerate(T_HS)
    ]


def _header_md(S, w):
    w("# Reproducing Khandelwal, Palazzo, Brunner & Haack: headline numbers\n")
    w(
        "Parameters of the paper: $T_c = 0.1$, $g = 1.6\\times10^{-3}$, $\\gamma_h = 10^{-3}$, "
        "$\\gamma_c = 1.1\\times10^{-2}$, $\\varepsilon_h = 1$ (all energies in units of $\\varepsilon_h$), "
        "$J = Q_h - Q_c$ (eq 11). Every number is from the exact float64 steady state (`jaxengine.observables`) or the "
        "solvers `kappa_max`, `critical_detuning`, `critical_temperature`."
        + (" **Quick (reduced) resolution.**" if S["quick"] else "")
        + "\n"
    )
    w("## At δ = 0, κ = 0 (the dashed references of Figs 4 and 5)\n")
    w("| T_h | J | N | J_c | \\|J\\|/J_c |\n|---|---|---|---|---|")
    for r in S["delta0"]:
        w(f"| {r['T_h']} | {fmt_e(r['J'])} | {fmt_e(r['N'])} | {fmt_e(r['J_c'])} | {r['witness']:.4f} |")


def summarise(D) -> tuple[dict, str]:
    """The headline numbers (a JSON-able dict) and summary.md's text, from `compute` over every figure."""
    from . import FIGURES
    from ._run import figure_module

    mods = [figure_module(f) for f in FIGURES if f in D["figures"]]
    S: dict = {"quick": D["quick"], "T_h": list(T_HS)}
    _header(D, S)
    for m in mods:
        if hasattr(m, "summarise"):
            m.summarise(D, S)
    _errata.summarise(D, S)
    L: list[str] = []
    _header_md(S, L.append)
    for m in mods:
        if hasattr(m, "summary_md"):
            m.summary_md(S, L.append)
    _errata.summary_md(S, L.append)
    L.append("")
    return S, "\n".join(L)
