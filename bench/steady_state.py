"""Throughput of `jaxengine.observables` against a naive JAX solve and a QuTiP loop, in one run.

Each implementation computes the steady state and J, N at random kappa != 0 points. For each one the script
(1) builds the inputs, (2) times the first call on its own (compile time), (3) checks the results against
jaxengine's (and QuTiP against both) before timing anything, (4) takes the best of R repeats with
`block_until_ready`, and (5) prints one JSON line.

    python bench/steady_state.py                 # CPU smoke sizes (1e4, 1e5 points; QuTiP 500 points), < 3 min
    python bench/steady_state.py --large         # the throughput curve 1e4 ... 1e7 (naive baseline up to 1e6)
    python bench/steady_state.py --sizes 1e4 1e5 1e6 --qutip 1000

Memory: each point costs its inputs (9 float64) and outputs (rho as 16 complex128 plus 8 float64 scalars and a bool);
the kernel's temporaries live per block of `chunks.BLOCK` points, independent of the batch size. The JSON lines give
`bytes_per_point` (inputs + outputs) for jaxengine.

Roofline: a first JSON line (`impl: work_per_point`) gives the floating-point operations per point, counted in the
program's jaxpr, XLA's estimate of the bytes its fused loops read and write per point, and the device's FP64 peak
(GPUs: data sheet; CPUs: cores x clock x AVX lanes x 2 FMA units x 2, or `--peak-gflops`); each jaxengine line then
has `gflops_per_s` and `fraction_of_peak_fp64`. On accelerators the inputs are put on the device before timing.
"""

import argparse
import datetime
import json
import platform
import time
import timeit

import jax
import jax.numpy as jnp
import numpy as np

import jaxengine as je


def random_params(rng, n):
    return je.EngineParams(
        eps_h=rng.uniform(0.9, 1.1, n),
        delta=rng.uniform(-0.05, 0.05, n),
        g=rng.uniform(5e-4, 5e-3, n),
        gamma_h=rng.uniform(5e-4, 5e-3, n),
        gamma_c=rng.uniform(2e-3, 2e-2, n),
        T_h=rng.uniform(0.3, 1.5, n),
        T_c=rng.uniform(0.05, 0.2, n),
        kappa_h=rng.uniform(0.01, 0.1, n),
        kappa_c=rng.uniform(0.005, 0.05, n),
    )


# --- the naive JAX baseline: complex 16x16 Liouvillian by kron, trace row, jnp.linalg.solve, eigvalsh ---
_SP = np.array([[0, 1], [0, 0]], complex)
_SM, _SX, _I2 = _SP.T, np.array([[0, 1], [1, 0]], complex), np.eye(2)


def _naive_one(eps_h, delta, g, gamma_h, gamma_c, T_h, T_c, kappa_h, kappa_c):
    k = jnp.kron
    eps_c = eps_h + delta
    H = (
        eps_h * k(_SP @ _SM, _I2)
        + eps_c * k(_I2, _SP @ _SM)
        + g * (k(_SP, _SM) + k(_SM, _SP))
        + kappa_h * k(_SX, _I2)
        + kappa_c * k(_I2, _SX)
    )
    n_h, n_c = 1 / jnp.expm1(eps_h / T_h), 1 / jnp.expm1(eps_c / T_c)
    rates = jnp.stack([gamma_h * n_h, gamma_h * (1 + n_h), gamma_c * n_c, gamma_c * (1 + n_c)])
    ops = jnp.stack([k(_SP, _I2), k(_SM, _I2), k(_I2, _SP), k(_I2, _SM)])
    eye = jnp.eye(4)
    L = -1j * (k(eye, H) - k(H.T, eye))
    dis = []
    for r, a in zip(rates, ops, strict=True):
        ada = a.conj().T @ a
        d = r * (k(a.conj(), a) - 0.5 * k(eye, ada) - 0.5 * k(ada.T, eye))
        L = L + d
        dis.append(d)
    A = L.at[0].set(eye.reshape(-1).astype(L.dtype))
    b = jnp.zeros(16, L.dtype).at[0].set(1)
    x = jnp.linalg.solve(A, b)
    rho = x.reshape(4, 4).T
    q = [jnp.trace(H @ (d @ x).reshape(4, 4).T).real for d in dis]
    pt = rho.reshape(2, 2, 2, 2).transpose(0, 3, 2, 1).reshape(4, 4)
    lam = jnp.linalg.eigvalsh(pt)
    return (q[0] + q[1]) - (q[2] + q[3]), jnp.sum(jnp.maximum(-lam, 0))


naive = jax.jit(jax.vmap(_naive_one))


def _fields(p):
    return [jnp.asarray(getattr(p, f)) for f in je._models.params.NUMERIC_FIELDS]


def _jaxengine(p, kernel="xla"):
    o = je.observables(p, throw=False, kernel=kernel)
    return o.J, o.negativity


def _jaxengine_fields(p):
    """Only what the naive baseline computes: J and N (`observables(..., fields=...)`)."""
    o = je.observables(p, throw=False, fields=("J", "negativity"))
    return o.J, o.negativity


def qutip_loop(p, n):
    import qutip

    dims = [[2, 2], [2, 2]]
    ops = [
        qutip.Qobj(o, dims=dims) for o in (np.kron(_SP, _I2), np.kron(_SM, _I2), np.kron(_I2, _SP), np.kron(_I2, _SM))
    ]
    out = np.empty((2, n))
    f = [np.asarray(getattr(p, name)) for name in je._models.params.NUMERIC_FIELDS]
    for i in range(n):
        eps_h, delta, g, gamma_h, gamma_c, T_h, T_c, kappa_h, kappa_c = (x[i] for x in f)
        eps_c = eps_h + delta
        H = (
            eps_h * np.kron(_SP @ _SM, _I2)
            + eps_c * np.kron(_I2, _SP @ _SM)
            + g * (np.kron(_SP, _SM) + np.kron(_SM, _SP))
            + kappa_h * np.kron(_SX, _I2)
            + kappa_c * np.kron(_I2, _SX)
        )
        n_h, n_c = 1 / np.expm1(eps_h / T_h), 1 / np.expm1(eps_c / T_c)
        rates = (gamma_h * n_h, gamma_h * (1 + n_h), gamma_c * n_c, gamma_c * (1 + n_c))
        c_ops = [np.sqrt(r) * o for r, o in zip(rates, ops, strict=True)]
        Hq = qutip.Qobj(H, dims=dims)
        rho = qutip.steadystate(Hq, c_ops)
        r, cs = rho.full(), [c.full() for c in c_ops]
        q = [np.trace(H @ (c @ r @ c.conj().T - 0.5 * (c.conj().T @ c @ r + r @ c.conj().T @ c))).real for c in cs]
        out[0, i] = (q[0] + q[1]) - (q[2] + q[3])
        out[1, i] = qutip.negativity(rho, 0)
    return out


def first_call(f, args):
    """(result, seconds) of the first call: compilation plus one run."""
    t0 = time.perf_counter()
    out = jax.block_until_ready(f(*args))
    return out, time.perf_counter() - t0


def best_run(f, args, repeat):
    return min(timeit.repeat(lambda: jax.block_until_ready(f(*args)), number=1, repeat=repeat))


# --- the roofline: work per point, and the machine's peak -------------------------------------------------------------
_ONE_FLOP = {"add", "add_any", "sub", "mul", "div", "max", "min", "sqrt", "rsqrt", "exp", "expm1", "log", "log1p"}


def _count_flops(jaxpr):
    """Floating-point operations of a jaxpr: one per element of each arithmetic op (an FMA counts 2: mul + add).

    Comparisons, selects, negations, abs and data movement count 0. Control flow takes the common path of the kernel:
    `cond` its cheapest branch (no refinement), `while` one test of its condition (no extra Jacobi sweep), `scan`
    its length times its body."""
    from jax.extend import core as jcore

    total = 0
    for e in jaxpr.eqns:
        name, params = e.primitive.name, e.params
        subs = [v.jaxpr if isinstance(v, jcore.ClosedJaxpr) else v for v in params.values()]
        subs = [v for v in subs if isinstance(v, jcore.Jaxpr)]
        if name == "cond":
            total += min(_count_flops(b.jaxpr) for b in params["branches"])
        elif name == "while":
            total += _count_flops(params["cond_jaxpr"].jaxpr)
        elif name == "scan":
            total += params["length"] * _count_flops(params["jaxpr"].jaxpr)
        elif subs:
            total += sum(_count_flops(s) for s in subs)
        elif name in ("dot_general", "reduce_sum", "cumsum", "conv_general_dilated"):
            raise NotImplementedError(f"_count_flops does not count {name}")
        elif name in _ONE_FLOP or name == "integer_pow":
            aval = e.outvars[0].aval
            if jnp.issubdtype(aval.dtype, jnp.floating):
                k = max(abs(params["y"]) - 1, 1) if name == "integer_pow" else 1
                total += k * int(np.prod(aval.shape))
    return total


def work_per_point():
    """(flops, bytes) per point of one block of `je.observables`.

    flops: counted in the program's jaxpr (`_count_flops`), traced with `unrolled.IN_REGISTERS` so that
    `_materialise` (a division by 1.0 that LLVM removes) is the identity. bytes: XLA's own estimate ("bytes
    accessed") for the one-block program as the kernel compiles it (with `chunks.COMPILER_OPTIONS`) on this
    backend, i.e. the operand reads and result writes of all its fused loops (the traffic between the loops through
    cache or device memory), an estimate that counts each while-loop body once."""
    from jaxengine import _observables
    from jaxengine._linalg import unrolled
    from jaxengine._models.params import flat, prepare
    from jaxengine._solve import chunks

    n = chunks.block_size()
    p = flat(prepare(random_params(np.random.default_rng(1), n))[0])
    token = unrolled.IN_REGISTERS.set(True)
    try:
        # the throughput kernel's block (a block alone would choose the compact program: fewer than 65 536 points)
        flops = _count_flops(jax.make_jaxpr(lambda p: _observables._observables_impl(p, path="throughput"))(p).jaxpr)
    finally:
        unrolled.IN_REGISTERS.reset(token)
    cost = _observables._observables_impl.lower(p, path="throughput").compile().cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    return flops / n, float(cost.get("bytes accessed", float("nan"))) / n


# FP64 peak (vector units, no tensor cores) of the GPUs we may be lent, from the vendors' data sheets
_GPU_PEAK_FP64 = (("H100 PCIe", 25.6e12), ("H100", 33.5e12), ("H200", 33.5e12), ("A100", 9.7e12))


def peak_flops(override_gflops=None):
    """(FP64 FLOP/s, how it was obtained) of the default device."""
    if override_gflops:
        return override_gflops * 1e9, "--peak-gflops"
    dev = jax.devices()[0]
    if dev.platform == "gpu":
        for key, peak in _GPU_PEAK_FP64:
            if key in dev.device_kind:
                return peak, f"data sheet FP64 (no tensor cores) of {key}"
        return None, "unknown GPU: pass --peak-gflops"
    try:  # CPU: cores x clock x SIMD lanes x 2 (FMA) x 2 FMA units (Xeon Scalable with AVX-512; assumed)
        info = open("/proc/cpuinfo").read()
        mhz = float(next(line for line in info.splitlines() if line.startswith("cpu MHz")).split(":")[1])
        lanes = 8 if " avx512f" in info else 4 if " avx2" in info else 2
    except (OSError, StopIteration, ValueError):
        return None, "unknown CPU: pass --peak-gflops"
    from jaxengine._compile import cpu_workers

    cores = cpu_workers()
    return cores * mhz * 1e6 * lanes * 4, f"{cores} cores x {mhz:.0f} MHz x {lanes} lanes x 2 FMA units x 2"


def bytes_per_point(p, o):
    leaves = jax.tree.leaves(p) + jax.tree.leaves(o)
    return sum(x.nbytes for x in leaves) / p.batch_shape[0]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=float, nargs="+", default=None, help="default 1e4 1e5 (--large: 1e4 ... 1e7)")
    ap.add_argument("--large", action="store_true", help="the full throughput curve up to 1e7 points")
    ap.add_argument("--naive-max", type=float, default=1e6, help="largest size for the (slow) naive baseline")
    ap.add_argument("--qutip", type=int, default=500, help="points in the QuTiP loop (0 to skip)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--kernels", nargs="+", default=["xla"], choices=["xla", "fused"], help="fused: GPU only")
    ap.add_argument("--peak-gflops", type=float, default=None, help="FP64 peak of the device (default: detected)")
    args = ap.parse_args(argv)
    if args.sizes is None:
        args.sizes = [1e4, 3e4, 1e5, 3e5, 1e6, 3e6, 1e7] if args.large else [1e4, 1e5]

    rng = np.random.default_rng(args.seed)
    meta = dict(
        bench="steady_state",
        dtype="float64",
        backend=jax.default_backend(),
        device=str(jax.devices()[0].device_kind),
        jax_version=jax.__version__,
        machine=f"{platform.machine()} {jax.local_device_count()} device(s)",
        date=datetime.date.today().isoformat(),
    )
    # the roofline: counted flops per point against the device's peak, and XLA's estimate of the bytes moved
    flops_pp, bytes_pp = work_per_point()
    peak, peak_from = peak_flops(args.peak_gflops)
    print(
        json.dumps(
            dict(
                meta,
                impl="work_per_point",
                flops_per_point=flops_pp,
                xla_bytes_accessed_per_point=bytes_pp,
                peak_flops=peak,
                peak_from=peak_from,
            )
        ),
        flush=True,
    )
    lines = []
    naive_rate = None
    failed = set()
    for size in args.sizes:
        n = int(size)
        p = random_params(rng, n)
        if jax.default_backend() != "cpu":  # time the device, not the host-to-device copy of the inputs
            p = jax.device_put(p)
        run_naive = n <= args.naive_max
        (J, N), c_je = first_call(_jaxengine, (p, args.kernels[0]))
        if run_naive:
            (Jn, Nn), c_nv = first_call(naive, _fields(p))
            # accuracy before speed: the two must agree
            np.testing.assert_allclose(J, Jn, rtol=1e-9, atol=1e-18)
            np.testing.assert_allclose(N, Nn, rtol=1e-8, atol=1e-14)  # the naive complex solve: ~1e-15 absolute
        runs = [("jaxengine", args.kernels[0], c_je, best_run(_jaxengine, (p, args.kernels[0]), args.repeat))]
        (Jf, Nf), c_f = first_call(_jaxengine_fields, (p,))
        np.testing.assert_allclose(Jf, J, rtol=1e-13, atol=1e-20)
        np.testing.assert_allclose(Nf, N, rtol=1e-13, atol=1e-17)
        runs.append(("jaxengine_J_N", None, c_f, best_run(_jaxengine_fields, (p,), args.repeat)))
        for kernel in [k for k in args.kernels[1:] if k not in failed]:  # checked against the first, then timed
            try:
                (Jk, Nk), c = first_call(_jaxengine, (p, kernel))
                np.testing.assert_allclose(Jk, J, rtol=1e-10, atol=1e-18)
                np.testing.assert_allclose(Nk, N, rtol=1e-10, atol=1e-15)
            except Exception as e:  # an experimental kernel must not cost the other kernels' figures
                failed.add(kernel)
                print(json.dumps(dict(meta, impl="jaxengine", kernel=kernel, grid_points=n, error=repr(e)[:2000])))
                continue
            runs.append(("jaxengine", kernel, c, best_run(_jaxengine, (p, kernel), args.repeat)))
        if run_naive:
            r_nv = best_run(naive, _fields(p), args.repeat)
            naive_rate = n / r_nv
            runs.append(("naive_jax", None, c_nv, r_nv))
        for impl, kernel, c, r in runs:
            line = dict(meta, impl=impl, grid_points=n, compile_s=round(c - r, 4), run_s=r, points_per_s=n / r)
            if kernel:
                line["kernel"] = kernel
            # vs the naive rate at this size, or at the largest size it ran (its throughput is flat)
            line["speedup_vs_naive"] = (n / r) / naive_rate if naive_rate else None
            if impl == "jaxengine_J_N":
                line["fields"] = "J,negativity"  # the same work as the naive baseline
            if impl == "jaxengine":
                line["bytes_per_point"] = bytes_per_point(p, je.observables(p, throw=False, kernel=kernel))
                line["gflops_per_s"] = flops_pp * n / r / 1e9
                line["fraction_of_peak_fp64"] = flops_pp * n / r / peak if peak else None
            lines.append(line)
            print(json.dumps(line), flush=True)
    if args.qutip:
        n = args.qutip
        p = random_params(rng, n)
        J, N = (np.asarray(x) for x in _jaxengine(p))
        t0 = time.perf_counter()
        ref = qutip_loop(p, n)
        r = time.perf_counter() - t0
        np.testing.assert_allclose(J, ref[0], rtol=1e-8, atol=1e-18)
        np.testing.assert_allclose(N, ref[1], rtol=1e-6, atol=1e-12)  # qutip.negativity is ~1e-13 off
        best = max((x for x in lines if x["impl"] == "jaxengine"), key=lambda x: x["points_per_s"], default=None)
        line = dict(meta, impl="qutip_loop", grid_points=n, compile_s=0.0, run_s=r, points_per_s=n / r)
        if best:
            line["jaxengine_speedup_vs_qutip"] = best["points_per_s"] / line["points_per_s"]
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
