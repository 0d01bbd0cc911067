r"""Beyond the paper: the pairwise negativities of a three-qubit triangle over the coupling and $T_h$
(see `jaxengine.reproduce._network`)."""

from __future__ import annotations

from pathlib import Path

from ._common import log

NEEDS = ()


def compute(D, ctx):
    from . import _network as F

    D["three_qubits"] = F.compute_three_qubits(n_g=8 if ctx.quick else 31, n_T=8 if ctx.quick else 31)
    log("three_qubits: done", ctx.quiet)


def plot(D, out: Path):
    from . import _network as F

    F.plot_three_qubits(D["three_qubits"], Path(out))
