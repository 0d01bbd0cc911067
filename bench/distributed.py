"""Two local processes against one on a 1e6-point scan (`jaxengine.scan` on `jax.distributed`, CPU).

Each case starts fresh processes (as `jaxengine scan --processes N` does: process i of N pinned to its share of this
host's cores, one coordinator on 127.0.0.1). In each process: `jax.distributed.initialize` (N > 1), a warm-up scan of
the same chunk shape into a scratch store (compiles the chunk program; timed as `compile_s`), then the timed scan of
the whole grid into a fresh store, `run_s` = from the call until it returns, i.e. until every process's chunks are on
disk (a multi-process scan returns when all processes have finished). One JSON line per case and repeat, then a
summary line with the best `run_s` of each case and their ratio.

    python bench/distributed.py                       # 1e6 points, chunks of 2**16 (16 chunks), 3 repeats
    python bench/distributed.py --points 1e5 --repeat 1 --chunk-size 16384   # a quick look

On a host with P cores one process already computes P chunks at once (one thread per core, see
`jaxengine._scan`), so N local processes can only share the same cores: expect ~1x. The figure that matters is on
several hosts (each brings its own cores or GPUs), where the same code scales with the hosts, less the per-process
start (import, compile) and the shared filesystem's write rate.
"""

import argparse
import datetime
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import numpy as np

N_DELTA = 5000


def grid_axes(n: int) -> dict:
    n_delta = min(N_DELTA, n)
    return {"T_h": np.linspace(0.3, 1.0, max(n // n_delta, 1)), "delta": np.linspace(-0.05, 0.05, n_delta)}


def child(args):
    import jax

    if args.n > 1:
        jax.config.update("jax_enable_recoverability", True)
        jax.distributed.initialize(f"127.0.0.1:{args.port}", num_processes=args.n, process_id=args.i)
    import jaxengine as je
    from jaxengine import _scan

    base = je.EngineParams(kappa_h=0.07)
    axes = grid_axes(int(args.points))
    chunk = _scan.chunk_shape(tuple(len(v) for v in axes.values()), args.chunk_size)
    # one chunk per process (each process compiles the same chunk program): the compile, timed on its own
    warm = {
        k: v[: c * (args.n if a == 0 else 1)] for a, ((k, v), c) in enumerate(zip(axes.items(), chunk, strict=True))
    }
    t0 = time.perf_counter()
    je.scan(base, axes=warm, out=os.path.join(args.dir, "warm.zarr"), chunk_size=args.chunk_size, progress=False)
    t1 = time.perf_counter()
    ds = je.scan(base, axes=axes, out=os.path.join(args.dir, "run.zarr"), chunk_size=args.chunk_size, progress=False)
    t2 = time.perf_counter()
    assert bool(_scan.done_chunks(os.path.join(args.dir, "run.zarr")).all())
    ok = bool(ds.ok.values[-1].all()) if jax.process_index() == 0 else None
    print(json.dumps(dict(i=args.i, compile_s=t1 - t0, run_s=t2 - t1, cores=len(os.sched_getaffinity(0)), ok=ok)))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def case(n: int, args, workdir: str) -> dict:
    run_dir = tempfile.mkdtemp(dir=workdir)
    cores = sorted(os.sched_getaffinity(0))
    port = free_port()
    procs = []
    for i in range(n):
        cmd = [
            sys.executable,
            __file__,
            "--child",
            "--n",
            str(n),
            "--i",
            str(i),
            "--port",
            str(port),
            "--dir",
            run_dir,
            "--points",
            str(args.points),
            "--chunk-size",
            str(args.chunk_size),
        ]
        procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        if n > 1 and len(cores) >= n:
            os.sched_setaffinity(procs[-1].pid, cores[i * len(cores) // n : (i + 1) * len(cores) // n])
    lines = []
    for p in procs:
        out, err = p.communicate()
        if p.returncode != 0:
            raise RuntimeError(err)
        lines.append(json.loads(out.strip().splitlines()[-1]))
    shutil.rmtree(run_dir, ignore_errors=True)
    n_points = int(np.prod([len(v) for v in grid_axes(int(args.points)).values()]))
    run_s = max(x["run_s"] for x in lines)
    return dict(
        bench="scan_processes",
        processes=n,
        grid_points=n_points,
        chunk_size=args.chunk_size,
        cores_per_process=[x["cores"] for x in lines],
        compile_s=round(max(x["compile_s"] for x in lines), 2),
        run_s=round(run_s, 3),
        points_per_s=n_points / run_s,
        ok=lines[0]["ok"],
    )


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=float, default=1e6)
    ap.add_argument("--chunk-size", type=int, default=1 << 16)
    ap.add_argument("--processes", type=int, nargs="*", default=[1, 2])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--i", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--dir", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        return child(args)
    import jax

    meta = dict(
        backend=jax.default_backend(),
        jax_version=jax.__version__,
        machine=f"{platform.machine()} {os.cpu_count()} CPU(s)",
        date=datetime.date.today().isoformat(),
    )
    workdir = tempfile.mkdtemp(prefix="jaxengine-bench-distributed-")
    best = {}
    try:
        for _ in range(args.repeat):  # interleaved: every case sees the same (shared, noisy) machine
            for n in args.processes:
                line = dict(meta, **case(n, args, workdir))
                print(json.dumps(line), flush=True)
                best[n] = min(best.get(n, np.inf), line["run_s"])
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    one = best.get(1)
    summary = dict(meta, bench="scan_processes_summary", best_run_s={str(k): v for k, v in best.items()})
    if one:
        summary["speedup_vs_1"] = {str(k): round(one / v, 3) for k, v in best.items()}
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
