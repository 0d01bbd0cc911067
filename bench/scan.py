"""Throughput and peak memory of `jaxengine.scan` streaming to Zarr, against the in-memory `observables` call.

Cases, each printed as one JSON line:

1. `scan_streamed` vs `observables_in_memory`: the same N-point T_h x delta grid (kappa_h = 0.07, the general
   numerical path), computed once by `je.scan(out=...)` (chunks written to a Zarr store as they finish) and once by one
   `je.observables` call on the whole grid held in memory, in the same process. Each: compile time on its own (a
   first call: a one-chunk scan of the same chunk shape / `lower().compile()` of the kernel), a check of the results
   against each other, then the best of `--repeat` timed runs with `block_until_ready` (the scan returns after its
   last chunk is on disk). `overhead` = in-memory rate / streamed rate - 1 (goal: < 10 %).
2. `scan_rss`: peak resident memory (VmHWM, and `resource.getrusage(RUSAGE_SELF).ru_maxrss`) of a streamed scan of
   each size in a FRESH subprocess (import + compile + scan), so sizes do not share a high-water mark. Goal: flat in
   the grid size. For contrast, `observables_rss` (`--rss-in-memory`) gives the in-memory call's peak.

    python bench/scan.py                   # 1e7-point throughput, RSS of 1e6 vs 1e7 points (minutes on 2 cores)
    python bench/scan.py --quick           # 1e5-point throughput, RSS of 1e5 vs 1e6 points (~1 min)
    python bench/scan.py --rss-sizes 1e6 1e7 1e8 --throughput 0   # add the 1e8-point scan (minutes)
"""

import argparse
import datetime
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import timeit

import jax
import numpy as np

import jaxengine as je
from jaxengine import _scan

BASE = je.EngineParams(kappa_h=0.07)
N_DELTA = 5000  # points along delta; the grid is (N / 5000) x 5000


def grid_axes(n: int) -> dict:
    n_delta = min(N_DELTA, n)
    return {"T_h": np.linspace(0.3, 1.0, max(n // n_delta, 1)), "delta": np.linspace(-0.05, 0.05, n_delta)}


def meta() -> dict:
    return dict(
        dtype="float64",
        backend=jax.default_backend(),
        device=str(jax.devices()[0].device_kind),
        n_devices=jax.device_count(),
        jax_version=jax.__version__,
        machine=f"{platform.machine()} {os.cpu_count()} CPU(s)",
        date=datetime.date.today().isoformat(),
    )


def rss_mib() -> float:
    """This process's peak resident memory, MiB: VmHWM, else ru_maxrss.

    `ru_maxrss` alone misleads in a child: Linux carries the high-water mark of the mm it replaces at `execve` into
    it, and Python's subprocess starts children with vfork, so a child's ru_maxrss is at least its PARENT's peak.
    VmHWM (/proc/self/status) belongs to the child's own address space. Both are reported.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return ru_maxrss_mib()


def ru_maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _in_memory(p):
    o = je.observables(p, throw=False)
    return o


def throughput(n: int, repeat: int, chunk_size, workdir: str):
    axes = grid_axes(n)
    n = int(np.prod([len(v) for v in axes.values()]))
    runs = iter(range(10**6))

    def fresh_store() -> str:
        """A new store path for each timed run: deleting the last store (rmtree, 0.02-0.3 s here) is not timed."""
        shutil.rmtree(os.path.join(workdir, "throughput.zarr"), ignore_errors=True)
        os.makedirs(os.path.join(workdir, "throughput.zarr"))
        return os.path.join(workdir, "throughput.zarr", f"run{next(runs)}.zarr")

    def streamed(out):
        return je.scan(BASE, axes=axes, out=out, chunk_size=chunk_size, progress=False)

    # compile: a scan of exactly one chunk of the same shape (same executable), timed on its own
    shape = tuple(len(v) for v in axes.values())
    chunk = _scan.chunk_shape(shape, chunk_size or _scan.default_chunk_size())
    one = {k: v[:c] for (k, v), c in zip(axes.items(), chunk, strict=True)}
    t0 = time.perf_counter()
    je.scan(BASE, axes=one, out=os.path.join(workdir, "warm.zarr"), chunk_size=chunk_size, progress=False,
            overwrite=True)
    first_scan = time.perf_counter() - t0

    p = je.grid(BASE, **axes)
    t0 = time.perf_counter()
    prepared, _ = je._models.params.prepare(p)
    je._observables._observables_impl.lower(je._models.params.flat(prepared)).compile()
    compile_mem = time.perf_counter() - t0
    del prepared

    # check before timing: the streamed store equals the in-memory result (same kernel, rounding level)
    out = fresh_store()
    ds = streamed(out)
    o = jax.block_until_ready(_in_memory(p))
    for v in ("J", "negativity", "witness"):
        np.testing.assert_allclose(ds[v].values, np.asarray(getattr(o, v)), rtol=1e-14, atol=1e-16, err_msg=v)
    assert bool(ds.ok.values.all()) and bool(np.asarray(o.ok).all())
    del o, ds

    # interleave the repeats so that both see the same (shared, noisy) machine
    r_mem, r_scan = [], []
    for _ in range(repeat):
        r_mem += timeit.repeat(lambda: jax.block_until_ready(_in_memory(p)), number=1, repeat=1)
        out = fresh_store()
        r_scan += timeit.repeat(lambda: streamed(out), number=1, repeat=1)  # noqa: B023 (called right here)
    r_mem, r_scan = min(r_mem), min(r_scan)
    n_chunks = int(np.prod([-(-s // c) for s, c in zip(shape, chunk, strict=True)]))
    rate_scan = n / r_scan
    common = dict(meta(), grid_points=n, grid_shape=list(shape), repeat=repeat)
    lines = [
        dict(common, bench="observables_in_memory", compile_s=round(compile_mem, 3), run_s=round(r_mem, 3),
             points_per_s=n / r_mem),
        dict(common, bench="scan_streamed", chunk_shape=list(chunk), n_chunks=n_chunks,
             compile_s=round(first_scan - int(np.prod(chunk)) / rate_scan, 3), run_s=round(r_scan, 3),
             points_per_s=rate_scan, overhead=round((n / r_mem) / rate_scan - 1, 4),
             store_mib=round(du(out) / 2**20, 1)),
    ]
    for line in lines:
        print(json.dumps(line), flush=True)
    return lines


def du(path: str) -> int:
    return sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(path) for f in fs)


def child_rss(n: int, mode: str, chunk_size, out: str):
    """Run in a fresh process: one streamed scan (or one in-memory call) of n points, then report the peak RSS."""
    axes = grid_axes(n)
    n = int(np.prod([len(v) for v in axes.values()]))
    rss_import = rss_mib()
    t0 = time.perf_counter()
    if mode == "scan":
        ds = je.scan(BASE, axes=axes, out=out, chunk_size=chunk_size, progress=False, overwrite=True)
        assert int(_scan.done_chunks(out).sum()) == _scan.done_chunks(out).size
        ok = bool(ds.ok.values[-1].all())
    else:
        o = jax.block_until_ready(je.observables(je.grid(BASE, **axes), throw=False))
        ok = bool(np.asarray(o.ok).all())
    wall = time.perf_counter() - t0
    line = dict(meta(), bench=f"{'scan' if mode == 'scan' else 'observables'}_rss", grid_points=n,
                peak_rss_mib=round(rss_mib(), 1), ru_maxrss_mib=round(ru_maxrss_mib(), 1),
                rss_after_import_mib=round(rss_import, 1),
                wall_s_incl_compile=round(wall, 2), points_per_s_incl_compile=n / wall, ok_last_row=ok)
    if mode == "scan":
        line["store_mib"] = round(du(out) / 2**20, 1)
    print(json.dumps(line), flush=True)


def rss_in_subprocess(n: int, mode: str, chunk_size, workdir: str):
    out = os.path.join(workdir, f"rss_{n}.zarr")
    cmd = [sys.executable, __file__, "--child", mode, "--child-size", str(n), "--out", out]
    if chunk_size:
        cmd += ["--chunk-size", str(chunk_size)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr)
    print(proc.stdout.strip().splitlines()[-1], flush=True)
    shutil.rmtree(out, ignore_errors=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes: 1e5 throughput, RSS of 1e5 vs 1e6 points")
    ap.add_argument("--throughput", type=float, default=None, help="points of the throughput case (0: skip)")
    ap.add_argument("--rss-sizes", type=float, nargs="*", default=None, help="streamed scans measured for peak RSS")
    ap.add_argument("--rss-in-memory", action="store_true", help="also the in-memory call's peak RSS")
    ap.add_argument("--chunk-size", type=int, default=None, help="points per chunk (default: jaxengine's)")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--dir", default=None, help="where the stores go (default: a temporary directory)")
    ap.add_argument("--child", choices=("scan", "memory"), help=argparse.SUPPRESS)
    ap.add_argument("--child-size", type=float, help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        return child_rss(int(args.child_size), args.child, args.chunk_size, args.out)
    if args.throughput is None:
        args.throughput = 1e5 if args.quick else 1e7
    if args.rss_sizes is None:
        args.rss_sizes = [1e5, 1e6] if args.quick else [1e6, 1e7]
    if args.quick and args.chunk_size is None:
        args.chunk_size = 1 << 14  # several chunks even at quick sizes

    workdir = tempfile.mkdtemp(prefix="jaxengine-bench-", dir=args.dir)
    try:
        # memory first, while this process is small (see `rss_mib`)
        for n in args.rss_sizes:
            rss_in_subprocess(int(n), "scan", args.chunk_size, workdir)
        if args.rss_in_memory:
            rss_in_subprocess(int(max(args.rss_sizes)), "memory", args.chunk_size, workdir)
        if args.throughput:
            throughput(int(args.throughput), args.repeat, args.chunk_size, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
