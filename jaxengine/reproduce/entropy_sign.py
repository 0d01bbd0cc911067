r"""Beyond the paper: the sign of the local master equation's entropy production over $(\delta, T_h)$, where
it leaves its range of validity (see `jaxengine.reproduce._network`)."""

from __future__ import annotations

from pathlib import Path

from ._common import log

NEEDS = ()


def compute(D, ctx):
    from . import _network as F

    D["entropy_sign"] = F.compute_entropy_sign(n_delta=16 if ctx.quick else 141, n_T=16 if ctx.quick else 91)
    log("entropy_sign: done", ctx.quiet)


def plot(D, out: Path):
    from . import _network as F

    F.plot_entropy_sign(D["entropy_sign"], Path(out))
