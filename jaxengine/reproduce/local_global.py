r"""Beyond the paper: the paper's engine under the local and the global (secular) master equation, N and J
against $g/\varepsilon_h$ from 1e-4 to 0.3 at the Fig 2 temperatures (see `jaxengine.reproduce._network`)."""

from __future__ import annotations

from pathlib import Path

from ._common import log

NEEDS = ()


def compute(D, ctx):
    from . import _network as F

    D["local_global"] = F.compute_local_global(n_g=11 if ctx.quick else 61)
    log("local_global: done", ctx.quiet)


def plot(D, out: Path):
    from . import _network as F

    F.plot_local_global(D["local_global"], Path(out))
