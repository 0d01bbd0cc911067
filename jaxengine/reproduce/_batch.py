"""One flat batch for every point of every figure: named blocks, one padded `observables` call, split back by name.

A figure's `points(B, D, ctx)` hook calls `B.add(name, **fields)` with broadcastable `EngineParams` fields (the
others take the paper's defaults); after the run, `D["batch"][name]` is a dict of NumPy arrays with the block's
broadcast shape in front: every field of `ObservablesResult` (`J`, `Q_h`, `negativity`, `J_c`, `witness`, `rho`,
`ok`, ...) and the parameter fields themselves.
"""

from __future__ import annotations

import math

import numpy as np

from ._common import FIELDS, log


class Batch:
    """Collects named blocks of parameter points, evaluates them in one padded `observables` call, splits back."""

    def __init__(self):
        self.blocks: dict[str, tuple[int, tuple[int, ...]]] = {}
        self.cols: dict[str, list[np.ndarray]] = {k: [] for k in FIELDS}
        self.n = 0
        self.out: dict[str, np.ndarray] = {}

    def add(self, name: str, **fields):
        import jaxengine as je

        base = je.EngineParams()
        values = {k: np.asarray(fields.get(k, getattr(base, k)), float) for k in FIELDS}
        shape = np.broadcast_shapes(*(v.shape for v in values.values()))
        for k, v in values.items():
            self.cols[k].append(np.broadcast_to(v, shape).ravel())
        size = math.prod(shape)
        self.blocks[name] = (self.n, shape)
        self.n += size

    def params(self, pad: int):
        import jaxengine as je

        total = max(pad, pad * math.ceil(self.n / pad))
        cols = {}
        for k, parts in self.cols.items():
            c = np.concatenate(parts)
            cols[k] = np.concatenate([c, np.full(total - self.n, c[0])])  # pad with a valid point
        return je.EngineParams(**cols)

    def run(self, pad: int, quiet: bool):
        import jax

        import jaxengine as je

        p = self.params(pad)
        log(f"observables: {self.n} points of {len(self.blocks)} curves and maps, one call of {p.T_h.size}", quiet)
        o = je.observables(p, throw=False)
        jax.block_until_ready(o)
        self.p = p
        self.out = {k: np.asarray(v) for k, v in o._asdict().items()}
        bad = int((~self.out["ok"][: self.n]).sum())
        log(f"observables done ({bad} points not ok)", quiet)

    def __getitem__(self, name) -> dict[str, np.ndarray]:
        start, shape = self.blocks[name]
        size = math.prod(shape)
        res = {}
        for k, v in self.out.items():
            res[k] = v[start : start + size].reshape(shape + v.shape[1:])
        for k in FIELDS:
            res[k] = np.asarray(getattr(self.p, k))[start : start + size].reshape(shape)
        return res


def pad(a: np.ndarray, size: int) -> np.ndarray:
    """`a` flattened and padded to `size` with its first value (a valid point)."""
    a = np.asarray(a, float).ravel()
    return np.concatenate([a, np.full(size - a.size, a[0])])
