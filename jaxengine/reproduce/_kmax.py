r"""Shared part "kmax": $\kappa_{\max}$ of J and of N in one `kappa_max` call per observable, for every figure.

The groups (Fig 4: per $T_h$ at $\delta$ = `FIG4_DELTA`; Fig 5: per $\delta$ at $T_h$ = `FIG5_T_H`; `line_<T_h>`:
the continuous $\delta$ range `KMAX_DELTA` at each of `KMAX_T_HS`) are concatenated into one padded batch, so each
observable compiles one kernel. Compilation dominates and runs mostly outside the GIL, so the two calls run in two
background threads while the shared `observables` batch runs (`start`), and are collected after it (`compute`).
Writes `D[f"kmax_{J|N}_{group}"]`: dicts of `T_h`, `delta`, `kappa`, `value`, `ok`.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ._batch import pad
from ._common import (
    FIG4_DELTA,
    FIG5_DELTAS,
    FIG5_T_H,
    KMAX_BRACKET,
    KMAX_DELTA,
    KMAX_N_SCAN,
    KMAX_T_HS,
    T_HS,
    fmt_e,
    fmt_f,
    gap_matching_kappa,
    log,
)


def start(D, ctx):
    import jaxengine as je

    nk = ctx.res["kmax"]
    T_hs = np.array(T_HS)
    kd = np.linspace(*KMAX_DELTA, nk)
    groups = [
        ("fig4", np.asarray(T_hs), np.full(len(T_hs), FIG4_DELTA)),
        ("fig5", np.full(len(FIG5_DELTAS), FIG5_T_H), np.asarray(FIG5_DELTAS)),
    ] + [(f"line_{t}", np.full(nk, t), kd) for t in KMAX_T_HS]
    th = np.concatenate([g[1] for g in groups])
    dl = np.concatenate([g[2] for g in groups])
    size = 32 * math.ceil(len(th) / 32)
    p = je.EngineParams(T_h=pad(th, size), delta=pad(dl, size))

    def run_kmax(obs, key):
        log(f"kappa_max of {key}: {len(th)} points (compiles once; in the background)", ctx.quiet)
        r = je.kappa_max(p, observable=obs, bracket=KMAX_BRACKET, n_scan=KMAX_N_SCAN)
        k, v, ok = (np.asarray(x)[: len(th)] for x in (r.kappa, r.value, r.ok))
        i, res = 0, {}
        for name, a, b in groups:
            sl = slice(i, i + len(a))
            res[f"kmax_{key}_{name}"] = dict(T_h=a, delta=b, kappa=k[sl], value=v[sl], ok=ok[sl])
            i += len(a)
        log(f"kappa_max of {key} done", ctx.quiet)
        return res

    # Compilation dominates and runs mostly outside the GIL: compiling the two kappa_max kernels and the
    # observables kernel concurrently uses both cores. (Safe here: none of these kernels calls LAPACK, the
    # jaxlib 0.10 deadlock of the README's known issues needs two concurrent batched LAPACK calls.)
    pool = ThreadPoolExecutor(max_workers=2)
    D["_kmax_pending"] = pool, [pool.submit(run_kmax, "J", "J"), pool.submit(run_kmax, "negativity", "N")]


def points(B, D, ctx):
    B.add("ref_fig5", T_h=FIG5_T_H, delta=np.array(FIG5_DELTAS))


def compute(D, ctx):
    pool, futures = D.pop("_kmax_pending")
    for f in futures:
        D.update(f.result())
    pool.shutdown()


def kmax_rows(D, name, refJ, refN) -> list[dict]:
    """The summary's rows of group `name`: kappa_max and maxima of J and N, as fractions of the references."""
    rows = []
    gJ, gN = D[f"kmax_J_{name}"], D[f"kmax_N_{name}"]
    for i in range(len(gJ["kappa"])):
        rows.append(
            dict(
                T_h=float(gJ["T_h"][i]),
                delta=float(gJ["delta"][i]),
                kappa_gap=float(gap_matching_kappa(gJ["delta"][i])),
                kappa_J=float(gJ["kappa"][i]),
                J_max=float(gJ["value"][i]),
                ok_J=bool(gJ["ok"][i]),
                J_frac=float(gJ["value"][i] / refJ[i]),
                kappa_N=float(gN["kappa"][i]),
                N_max=float(gN["value"][i]),
                ok_N=bool(gN["ok"][i]),
                N_frac=float(gN["value"][i] / refN[i]),
            )
        )
    return rows


def ktable(w, rows, title):
    """summary.md's table of `kmax_rows`."""
    w(f"\n## {title}\n")
    w("| T_h | δ | κ gap matching | κ_max of J | J_max | J_max / J(δ=0) | κ_max of N | N_max | N_max / N(δ=0) |")
    w("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        w(
            f"| {r['T_h']} | {r['delta']} | {fmt_f(r['kappa_gap'], 6)} | {fmt_f(r['kappa_J'], 6)} | "
            f"{fmt_e(r['J_max'])} | {r['J_frac']:.5f} | {fmt_f(r['kappa_N'], 6)} | {fmt_e(r['N_max'])} | "
            f"{r['N_frac']:.5f} |"
        )
