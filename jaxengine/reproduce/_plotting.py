"""Plotting and data-file helpers shared by the figure modules (matplotlib with the Agg backend, CSV with a header)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._common import DPI

PARAMS_NOTE = "T_c=0.1, g=1.6e-3, gamma_h=1e-3, gamma_c=1.1e-2, eps_h=1 (energies in eps_h); J = Q_h - Q_c"


def write_csv(path: Path, columns: dict, comment: str = ""):
    """Columns of equal size (any shape, flattened) as `%.12e` CSV; `comment` lines and the names as `# ` header."""
    names = list(columns)
    data = np.column_stack([np.asarray(columns[k], float).ravel() for k in names])
    header = (comment.rstrip() + "\n" if comment else "") + ",".join(names)
    np.savetxt(path, data, delimiter=",", header=header, comments="# ", fmt="%.12e")


def curve_columns(b: dict, extra=("kappa_h",)) -> dict:
    """The CSV columns of a block of curves: parameters, then J, Q_h, N, J_c, witness, ok."""
    cols = {"T_h": b["T_h"], "delta": b["delta"]}
    for k in extra:
        cols[k] = b[k]
    cols.update(
        J=b["J"], Q_h=b["Q_h"], negativity=b["negativity"], J_c=b["J_c"], witness=b["witness"], ok=b["ok"].astype(float)
    )
    return cols


def plt():
    """matplotlib.pyplot on the Agg backend with the figures' style."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "font.size": 10,
            "axes.titlesize": 10,
            "legend.fontsize": 8.5,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.formatter.useoffset": False,
        }
    )
    return plt


def colors(n):
    return [f"C{i}" for i in range(n)]


def save(fig, out: Path, name: str):
    """Write `out/<name>.png` and close the figure."""
    fig.savefig(out / f"{name}.png", dpi=DPI)
    import matplotlib.pyplot as plt

    plt.close(fig)


def kappa_panels(ax, x_curves, ys, refs, labels, kmax, key, colors, gap):
    """Curves against kappa_h with their kappa_max markers, dashed references and dotted gap-matching lines."""
    for i, c in enumerate(colors):
        ax.plot(x_curves[i], ys[i], c, label=labels[i])
        if refs is not None:
            ax.axhline(refs[i], color=c, ls="--", lw=1.0)
        k = kmax["kappa"][i]
        if kmax["ok"][i]:
            ax.plot(k, kmax["value"][i], "o", color=c, ms=5, mfc="none")
    for g in np.atleast_1d(gap):
        if np.isfinite(g) and g > 0:
            ax.axvline(g, color="0.4", ls=":", lw=0.9)
