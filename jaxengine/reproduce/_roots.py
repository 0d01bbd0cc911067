r"""Shared part "roots": $\delta^*_\pm(T_h)$ and $T_h^*(\delta)$ at $\kappa = 0$ (closed-form fast path of the solvers).

Used by Fig 3 (markers and the summary's tables) and the phase diagram (overlay). Writes into `D`:
`dstar_plus`, `dstar_minus` ((value, ok) at `T_HS`), `dstar_plus_line`, `dstar_minus_line` ((T_h, value, ok) along
a line), `tstar` ((value, ok) at `FIG3B_DELTAS`), `tstar_line` ((delta, value, ok)); and the batch blocks
`at_dstar`, `at_tstar` (the witness at the roots, which should be 1 there).
"""

from __future__ import annotations

import numpy as np

from ._common import FIG3B_DELTAS, PHASE_DELTA, PHASE_T_H, T_HS, log


def start(D, ctx):
    import jaxengine as je

    nk = ctx.res["kmax"]
    T_hs = np.array(T_HS)
    log("critical detuning delta*(T_h) and temperature T_h*(delta)", ctx.quiet)
    th_line = np.linspace(0.16, PHASE_T_H[1], 2 * nk // 3 + 3)  # overlay on the phase diagram
    th_all = np.concatenate([T_hs, th_line])
    p = je.EngineParams(T_h=th_all)
    bracket = (0.0, PHASE_DELTA[1])
    for sign, key in ((+1, "plus"), (-1, "minus")):
        r = je.critical_detuning(p, sign=sign, bracket=bracket)
        D[f"dstar_{key}"] = np.asarray(r.value)[: len(T_hs)], np.asarray(r.ok)[: len(T_hs)]
        D[f"dstar_{key}_line"] = th_line, np.asarray(r.value)[len(T_hs) :], np.asarray(r.ok)[len(T_hs) :]
    d_line = np.linspace(*PHASE_DELTA, 2 * nk // 3 + 3)
    d_all = np.concatenate([np.array(FIG3B_DELTAS), d_line])
    r = je.critical_temperature(je.EngineParams(delta=d_all), bracket=(0.1, PHASE_T_H[1]))
    n3 = len(FIG3B_DELTAS)
    D["tstar"] = np.asarray(r.value)[:n3], np.asarray(r.ok)[:n3]
    D["tstar_line"] = d_line, np.asarray(r.value)[n3:], np.asarray(r.ok)[n3:]


def points(B, D, ctx):
    """The witness at the roots: |J| / J_c should be 1 there."""
    T_hs = np.array(T_HS)
    dp, okp = D["dstar_plus"]
    dm, okm = D["dstar_minus"]
    B.add("at_dstar", T_h=np.concatenate([T_hs, T_hs]), delta=np.nan_to_num(np.concatenate([dp, dm])))
    ts, okt = D["tstar"]
    B.add("at_tstar", T_h=np.where(okt, ts, 0.5), delta=np.array(FIG3B_DELTAS))
