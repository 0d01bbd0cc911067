"""Qubit networks: `je.observables(Network)` against a QuTiP `steadystate` + pairwise-negativity loop, in one run.

For n = 3 and n = 4 qubits (chains with random gaps, couplings, rates, temperatures and kappa != 0, bosonic, local
ME) the script (1) builds a batch of random networks, (2) times the first call on its own (compile), (3) checks rho
and the pairwise negativities against QuTiP on a few points, (4) times the best of R repeats with
`block_until_ready`, and the QuTiP loop per point (steadystate of the same operators, built by hand, plus
`ptrace` and a NumPy partial-transpose spectrum for every pair), and (5) prints one JSON line per case. Then one
n = 5 point (a 1023 x 1023 real system, dense LAPACK LU) timed on its own, and the global ME at n = 3. At kappa != 0
the local ME runs the planned sparse LU (`jaxengine._solve.network.solve_sparse`, batch last, no LAPACK, chunks of
128 points on all cores); the kappa = 0 cases use the excitation-number symmetry (a system of C(2n, n) - 1 = 19 and
69 unknowns instead of 63 and 255). Each line records the load average (the machine is shared).

    python bench/network.py                # n = 3 (256 points), n = 4 (256 points), n = 5 (1 point), ~2 min
    python bench/network.py --points 256 --qutip 10
"""

import argparse
import datetime
import json
import os
import platform
import sys
import time
import timeit

import jax
import numpy as np
import qutip as qt

import jaxengine as je

SP = np.array([[0, 1], [0, 0]], complex)
SM = SP.T.copy()
SX = np.array([[0, 1], [1, 0]], complex)


def op(o, j, n):
    out = np.eye(1, dtype=complex)
    for q in range(n):
        out = np.kron(out, o if q == j else np.eye(2))
    return out


def random_networks(rng, n, B):
    g = np.zeros((B, n, n))
    for i in range(n - 1):
        g[:, i, i + 1] = g[:, i + 1, i] = rng.uniform(0.005, 0.03, B)
    return je.Network(
        eps=rng.uniform(0.95, 1.05, (B, n)),
        g=g,
        kappa=rng.uniform(0.01, 0.05, (B, n)),
        gamma=rng.uniform(1e-3, 1e-2, (B, n)),
        T=np.concatenate([rng.uniform(0.8, 1.5, (B, 1)), rng.uniform(0.05, 0.2, (B, n - 1))], axis=1),
    )


def qutip_point(net, b):
    """rho and the pairwise negativities of point b, from QuTiP with hand-built operators."""
    eps, g, kappa, gamma, T = (np.asarray(getattr(net, k))[b] for k in ("eps", "g", "kappa", "gamma", "T"))
    n = len(eps)
    H = sum(eps[j] * op(SP @ SM, j, n) + kappa[j] * op(SX, j, n) for j in range(n))
    for i in range(n):
        for j in range(i + 1, n):
            H = H + g[i, j] * (op(SP, i, n) @ op(SM, j, n) + op(SM, i, n) @ op(SP, j, n))
    dims = [[2] * n] * 2
    c_ops = []
    for j in range(n):
        nb = 1 / np.expm1(eps[j] / T[j])
        c_ops += [qt.Qobj(np.sqrt(gamma[j] * nb) * op(SP, j, n), dims=dims)]
        c_ops += [qt.Qobj(np.sqrt(gamma[j] * (1 + nb)) * op(SM, j, n), dims=dims)]
    rho = qt.steadystate(qt.Qobj(H, dims=dims), c_ops)
    N = np.zeros((n, n))
    for i in range(n):
        for j in range(i + 1, n):
            r = rho.ptrace([i, j]).full().reshape(2, 2, 2, 2).transpose(0, 3, 2, 1).reshape(4, 4)
            N[i, j] = N[j, i] = np.sum(np.maximum(-np.linalg.eigvalsh(r), 0))
    return rho.full(), N


def meta():
    return dict(
        backend=jax.default_backend(),
        device=str(jax.devices()[0].device_kind),
        cpu=platform.processor() or platform.machine(),
        cores=os.cpu_count(),
        jax_version=jax.__version__,
        qutip_version=qt.__version__,
        date=datetime.date.today().isoformat(),
        time=datetime.datetime.now().strftime("%H:%M"),
        load_avg_1_5_15=[round(v, 2) for v in os.getloadavg()],  # `uptime`: the machine is shared
    )


def bench_case(n, B, n_qutip, repeat, master_equation="local", kappa=True):
    rng = np.random.default_rng(n)
    net = random_networks(rng, n, B).replace(master_equation=master_equation)
    if not kappa:  # the excitation-number symmetry: C(2n, n) - 1 unknowns instead of 4^n - 1
        net = net.replace(kappa=np.zeros((B, n)))
    if master_equation == "global":  # the secular regime: rates far below the Bohr-frequency spacings
        net = net.replace(
            eps=rng.uniform(0.6, 1.4, (B, n)), gamma=np.asarray(net.gamma) * 1e-4, g=np.asarray(net.g) * 5
        )
    f = lambda: je.observables(net, throw=False)  # noqa: E731
    t0 = time.perf_counter()
    o = jax.block_until_ready(f())
    first = time.perf_counter() - t0
    run = min(timeit.repeat(lambda: jax.block_until_ready(f()), number=1, repeat=repeat))
    line = dict(bench="network", n=n, master_equation=master_equation, kappa=bool(kappa), points=B)
    line.update(compile_s=round(first - run, 3))
    line.update(run_s=round(run, 4), points_per_s=round(B / run, 1), ok=int(np.asarray(o.ok).sum()))
    if master_equation == "local" and n_qutip:
        t0 = time.perf_counter()
        for b in range(n_qutip):
            rho, N = qutip_point(net, b)
            assert np.abs(np.asarray(o.rho[b]) - rho).max() < 1e-9, "rho differs from QuTiP"
            assert np.abs(np.asarray(o.negativity[b]) - N).max() < 1e-9, "negativity differs from QuTiP"
        per_point = (time.perf_counter() - t0) / n_qutip
        line.update(qutip_s_per_point=round(per_point, 5), speedup_vs_qutip=round(per_point * B / run, 1))
    print(json.dumps({**line, **meta()}), flush=True)
    return line


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--points", type=int, default=256, help="batch size for n = 3 and n = 4 (default 256)")
    ap.add_argument("--qutip", type=int, default=5, help="QuTiP points per case (default 5)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-n5", action="store_true")
    args = ap.parse_args(argv)
    bench_case(3, args.points, args.qutip, args.repeat)
    bench_case(4, args.points, max(1, args.qutip // 2), args.repeat)
    bench_case(3, args.points, args.qutip, args.repeat, kappa=False)
    bench_case(4, args.points, max(1, args.qutip // 2), args.repeat, kappa=False)
    bench_case(3, args.points, 0, args.repeat, master_equation="global")
    if not args.skip_n5:
        bench_case(5, 1, 1, 2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
