r"""Beyond the paper: the transient from $|00\rangle$ at the Fig 2 temperatures, and whether the heat-current witness
holds at finite times (the open question of the paper's conclusion).

$N(t)$ and $|J(t)|/J_c$ from `evolve` ($\delta = \kappa = 0$, $T_h \in \{0.3, 0.5, 0.7\}$), with the steady-state
values dashed. The witness statement $N > 0 \Leftrightarrow |J| > J_c$ is an identity of the steady state; here it is
tested at every time: the shaded intervals are where it fails. Writes `transient.png` and `transient.csv`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import _plotting as P
from ._common import T_HS, log

NEEDS = ()
T_MAX = 6000.0  # ~8 relaxation times at T_h = 0.7 (1/gap = 732)


def compute(D, ctx):
    import jaxengine as je

    n = 24 if ctx.quick else ctx.res["line"]  # quick: the time grid (and compiled program) of tests/test_evolve.py
    t = np.linspace(0.0, T_MAX, n)
    p = je.EngineParams(T_h=np.asarray(T_HS))
    o = je.evolve(p, t)
    ss = je.observables(p)
    r = je.relaxation(p)
    N, W = np.asarray(o.negativity), np.asarray(o.witness)
    fail = (N > 0) != (W > 1)
    D["transient"] = dict(
        t=t,
        T_h=np.asarray(T_HS),
        N=N,
        J=np.asarray(o.J),
        J_c=np.asarray(o.J_c),
        witness=W,
        fail=fail,
        N_ss=np.asarray(ss.negativity),
        witness_ss=np.asarray(ss.witness),
        gap=np.asarray(r.rate),
    )
    log(f"transient: evolve of {len(T_HS)} x {n} times done", ctx.quiet)


def _intervals(t, mask):
    """[(start, end)] of the runs of True in mask (on the sample grid)."""
    out, start = [], None
    for i, m in enumerate(mask):
        if m and start is None:
            start = t[i]
        if not m and start is not None:
            out.append((start, t[i - 1]))
            start = None
    if start is not None:
        out.append((start, t[-1]))
    return out


def plot(D, out: Path):
    plt = P.plt()
    R = D["transient"]
    t = R["t"]
    fig, (a, b) = plt.subplots(2, 1, figsize=(7.2, 6.4), sharex=True, constrained_layout=True)
    for i, (c, T) in enumerate(zip(P.colors(len(R["T_h"])), R["T_h"], strict=True)):
        a.plot(t, R["N"][i] * 1e3, c, label=rf"$T_h = {T:g}$")
        a.axhline(R["N_ss"][i] * 1e3, color=c, ls="--", lw=0.9)
        b.plot(t, R["witness"][i], c)
        for s, e in _intervals(t, R["fail"][i]):
            b.axvspan(s, e, color=c, alpha=0.12, lw=0)
    b.axhline(1.0, color="k", lw=0.9, ls=":")
    a.set(
        ylabel=r"$N(t)\ \times 10^3$",
        title=r"(a) negativity from $|00\rangle$ ($\delta = \kappa = 0$; dashed: $t\to\infty$)",
    )
    b.set(
        xlabel=r"time $t\,\varepsilon_h$",
        ylabel=r"$|J(t)|/J_c$",
        title=r"(b) witness $|J(t)|/J_c$; shaded: $N(t) > 0 \Leftrightarrow |J(t)| > J_c$ fails",
    )
    a.legend(loc="lower right")
    P.save(fig, out, "transient")
    nT, nt = R["N"].shape
    P.write_csv(
        out / "transient.csv",
        {
            "T_h": np.repeat(R["T_h"], nt),
            "t": np.tile(t, nT),
            "negativity": R["N"],
            "J": R["J"],
            "J_c": R["J_c"],
            "witness": R["witness"],
            "witness_fails": R["fail"].astype(float),
        },
        f"evolve from |00>, delta=kappa=0; {P.PARAMS_NOTE}",
    )


def summarise(D, S):
    R = D["transient"]
    t = R["t"]
    rows = []
    for i, T in enumerate(R["T_h"]):
        runs = _intervals(t, R["fail"][i])
        onset = t[np.argmax(R["N"][i] > 0)] if (R["N"][i] > 0).any() else None
        rows.append(
            dict(
                T_h=float(T),
                relaxation_time=float(1 / R["gap"][i]),
                entanglement_onset=None if onset is None else float(onset),
                witness_at_t0=float(R["witness"][i][0]),
                witness_fails=[[float(s), float(e)] for s, e in runs],
                witness_holds_after=float(runs[-1][1]) if runs else 0.0,
            )
        )
    S["transient"] = rows


def summary_md(S, w):
    w("## Beyond the paper: the transient from |00> (`transient.png`)")
    w("")
    w("| T_h | relaxation time | N > 0 from | \\|J\\|/J_c at t = 0 | witness fails on | holds for all t > |")
    w("|---|---|---|---|---|---|")
    for r in S["transient"]:
        fails = ", ".join(f"[{s:.0f}, {e:.0f}]" for s, e in r["witness_fails"]) or "never"
        onset = "never" if r["entanglement_onset"] is None else f"{r['entanglement_onset']:.0f}"
        w(
            f"| {r['T_h']:g} | {r['relaxation_time']:.0f} | {onset} | {r['witness_at_t0']:.3f} | {fails} | "
            f"{r['witness_holds_after']:.0f} |"
        )
    w("")
    w(
        "Times in units of 1/eps_h, on the figure's sampling grid. From |00> the qubits start separable while the "
        "hot bath already drives a current above J_c: during the early transient |J(t)| > J_c does NOT imply "
        "entanglement. The steady-state equivalence is recovered after the listed time."
    )
    w("")
