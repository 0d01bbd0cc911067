"""The run: shared parts, one `observables` batch for every figure, the figures' hooks in order, then the files.

`compute` calls the hooks of the requested figures (registry order) and of the shared parts they name in `NEEDS`
(`PARTS` order), in phases: every `start`, then every `points` into one `Batch` (block `ref0` first), one
`observables` call, then every `compute`. `reproduce` then calls each figure's `plot` and, when every figure was
requested, writes the summary.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from types import ModuleType

import numpy as np

from . import _errata, _kmax, _roots
from ._batch import Batch
from ._common import RESOLUTION, T_HS, Context, log, restart_clock

# the shared parts a figure can name in NEEDS, in the order their hooks run (roots finish before kmax starts its
# background threads)
PARTS: dict[str, ModuleType] = {"roots": _roots, "kmax": _kmax}


def figure_module(name: str) -> ModuleType:
    """The module `jaxengine.reproduce.<name>` of a registered figure."""
    from . import FIGURES

    if name not in FIGURES:
        raise ValueError(f"Argument `figures` must name figures among {FIGURES}, but got {name!r}.")
    return importlib.import_module(f"{__package__}.{name}")


def _call(mods, hook, *args):
    for m in mods:
        f = getattr(m, hook, None)
        if f is not None:
            f(*args)


def compute(figures=None, *, quick: bool = False, quiet: bool = False) -> dict:
    """Every number of the requested figures (default: all) and, for all, of the summary, as NumPy arrays.

    Returns the dict `D` that the figures' `plot` and `summarise` hooks read: `D["batch"][block]` (see `_batch`),
    the shared parts' entries, and whatever the figures' `compute` hooks added; `D["quick"]`, `D["figures"]`.
    """
    from . import FIGURES

    figures = FIGURES if figures is None else tuple(figures)
    unknown = [f for f in figures if f not in FIGURES]
    if unknown:
        raise ValueError(f"Argument `figures` must name figures among {FIGURES}, but got {unknown}.")
    mods = [figure_module(f) for f in FIGURES if f in figures]
    full = set(figures) == set(FIGURES)
    ctx = Context(
        figures=tuple(f for f in FIGURES if f in figures),
        quick=quick,
        quiet=quiet,
        res=RESOLUTION["quick" if quick else "full"],
        full=full,
    )
    needs = set()
    for f, m in zip(ctx.figures, mods, strict=True):
        unknown = [n for n in getattr(m, "NEEDS", ()) if n not in PARTS]
        if unknown:
            raise ValueError(f"Figure {f!r} NEEDS unknown parts {unknown}; the parts are {tuple(PARTS)}.")
        needs.update(getattr(m, "NEEDS", ()))
    parts = [m for k, m in PARTS.items() if k in needs]
    extra = [_errata] if full else []  # the summary's own points and computations

    D: dict = {"quick": quick, "figures": figures}
    _call(parts + mods, "start", D, ctx)
    B = Batch()
    B.add("ref0", T_h=np.array(T_HS), delta=0.0)  # delta = 0, kappa = 0 references (Figs 2, 4, 5; the summary)
    _call(mods + parts + extra, "points", B, D, ctx)
    B.run(ctx.res["pad"], quiet)
    D["batch"] = B
    _call(parts + extra + mods, "compute", D, ctx)
    return D


def reproduce(out, *, figures=None, quick: bool = False, quiet: bool = False) -> dict:
    """Compute, plot and write everything into `out`; returns the summary dict (or {} for a subset of figures)."""
    from . import FIGURES
    from ._summary import summarise

    restart_clock()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    figures = FIGURES if figures is None else tuple(f for f in FIGURES if f in figures)
    D = compute(figures, quick=quick, quiet=quiet)
    for f in figures:
        log(f"plotting {f}.png", quiet)
        figure_module(f).plot(D, out)
    S = {}
    if set(figures) == set(FIGURES):
        S, text = summarise(D)
        (out / "summary.md").write_text(text)
        (out / "summary.json").write_text(json.dumps(S, indent=1))
        log(f"wrote {out / 'summary.md'}", quiet)
    log(f"done: {', '.join(f + '.png' for f in figures)} (each with its data as .csv) in {out}", quiet)
    return S
