r"""What every figure shares: the paper's parameters and the figures' choices, resolutions, progress log, gap matching.

Energies are in units of $\varepsilon_h$; every field not named is the paper's default of `EngineParams`. The printed
paper does not list the $T_h$ values of its curves nor all axis ranges; the choices here follow its text (see the
package docstring).
"""

from __future__ import annotations

import sys
import time
from typing import NamedTuple

import numpy as np

FIELDS = ("eps_h", "delta", "g", "gamma_h", "gamma_c", "T_h", "T_c", "kappa_h", "kappa_c")
T_HS = (0.3, 0.5, 0.7)  # the T_h of the curves of Figs 2, 3a and 4
FIG2_DELTA = (-0.05, 0.05)
FIG3A_DELTA = (-0.1, 0.1)
FIG3B_T_H = (0.1, 1.2)
FIG3B_DELTAS = (0.0, 0.01, 0.02, 0.05)
FIG4_DELTA = 0.01
FIG4_KAPPA = (0.0, 0.2)
FIG5_T_H = 0.7
FIG5_DELTAS = (0.0, 0.01, 0.02, 0.03, 0.05)
FIG5_KAPPA = (0.0, 0.25)
PHASE_T_H = (0.1, 1.5)
PHASE_DELTA = (-0.1, 0.25)  # the bracket of critical_detuning: every delta* lies inside
KMAX_DELTA = (0.0, 0.1)  # the continuous delta range of kappa_max(delta)
KMAX_T_HS = (0.3, 0.7)
KMAX_MAP_KAPPA = (0.0, 0.3)
KMAX_BRACKET = (0.0, 0.4)
KMAX_N_SCAN = 256  # resolves the double peaks of N(kappa_h) ~0.005 apart at T_h = 0.3 (see `kappa_max`)
ERRATUM_1_DELTA = 0.05  # where the bare-H heat current is compared (the edge of Fig 2)

# resolutions: number of points along a curve, a map axis, the continuous kappa_max(delta) curve, and the kappa_max
# and observables batch paddings (one compiled shape each)
RESOLUTION = {
    "full": dict(line=401, map=201, kmax=81, pad=8192),
    "quick": dict(line=41, map=25, kmax=9, pad=1024),
}
DPI = 110

_T0 = [time.perf_counter()]


def log(msg: str, quiet: bool = False):
    """One progress line with the seconds since the run started (one write per line: threads log concurrently)."""
    if not quiet:
        sys.stdout.write(f"[{time.perf_counter() - _T0[0]:6.1f} s] {msg}\n")
        sys.stdout.flush()


def restart_clock():
    _T0[0] = time.perf_counter()


def gap_matching_kappa(delta, eps_h=1.0):
    r"""Gap matching for $\kappa_h$: $\sqrt{\varepsilon_h^2 + 4\kappa_h^2} = \varepsilon_c$, i.e.
    $\kappa = \sqrt{(\varepsilon_h + \delta)^2 - \varepsilon_h^2}/2$ (CONVENTIONS.md #9); nan for $\delta < 0$, where
    tunnelling on the hot qubit can only widen its splitting further from $\varepsilon_c$."""
    d = np.asarray(delta, float)
    s = (eps_h + d) ** 2 - eps_h**2
    return np.where(s >= 0, np.sqrt(np.maximum(s, 0.0)) / 2, np.nan)


class Context(NamedTuple):
    """What a figure's hooks know about the run: the requested figures, resolution, and flags."""

    figures: tuple[str, ...]  # the figures of this run, in registry order
    quick: bool
    quiet: bool
    res: dict  # RESOLUTION["quick"] or RESOLUTION["full"]: line, map, kmax, pad
    full: bool  # every registered figure is requested: the summary and its errata are computed too


def fmt_e(x, d=4):
    """summary.md's scientific format; "n/a" for None or non-finite."""
    return "n/a" if x is None or not np.isfinite(x) else f"{x:.{d}e}"


def fmt_f(x, d=5):
    """summary.md's fixed format; "none" for None or non-finite (a root that was not found)."""
    return "none" if x is None or not np.isfinite(x) else f"{x:.{d}f}"
