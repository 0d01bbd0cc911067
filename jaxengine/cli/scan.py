"""`jaxengine scan` and `jaxengine plot`: grid scans to a Zarr store from the shell, and quick-look figures of them.

    jaxengine scan --axis T_h=0.3:1.0:500 --axis delta=-0.05:0.05:501 --set kappa_h=0.07 --out scan.zarr
    jaxengine plot scan.zarr --var negativity --out n.png

A thin layer over `jaxengine.scan` (no physics here). Rerunning the same `scan` command resumes it; Ctrl-C leaves a
resumable store and exits with status 130 and a one-line message.

Several processes: `--processes N` starts N local processes on one coordinator (127.0.0.1, a free port), each on its
share of this host's cores; `--distributed` makes this process one of a multi-process scan started by something else
(`srun` on a Slurm cluster, `mpirun`, or `--coordinator/--num-processes/--process-id`, which is what `--processes`
passes its children). See `jaxengine._scan._Processes` and the README ("Several hosts").
"""

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time

from .._models.params import DEFAULTS, NUMERIC_FIELDS

# --------------------------------------------------------------------------------------------------------- scan


def parse_axis(text: str):
    """`NAME=START:STOP:NUM` (NUM points, both ends included) or `NAME=V1,V2,...` -> (name, 1-D float array)."""
    import numpy as np

    name, sep, spec = text.partition("=")
    name = name.strip()
    if not sep or not name or not spec.strip():
        raise ValueError(f"--axis must look like NAME=START:STOP:NUM or NAME=V1,V2,..., but got {text!r}.")
    try:
        if ":" in spec:
            parts = spec.split(":")
            if len(parts) != 3:
                raise ValueError
            start, stop, num = float(parts[0]), float(parts[1]), parts[2]
            if not num.strip().isdigit() or int(num) < 1:
                raise ValueError
            return name, np.linspace(start, stop, int(num))
        return name, np.array([float(v) for v in spec.split(",")])
    except ValueError:
        raise ValueError(
            f"--axis {name}: cannot read {spec!r}; give START:STOP:NUM (NUM a positive integer) or a comma list."
        ) from None


def parse_set(text: str):
    """`NAME=VALUE` -> (name, float)."""
    name, sep, value = text.partition("=")
    name = name.strip()
    if not sep or name not in NUMERIC_FIELDS:
        raise ValueError(f"--set must look like NAME=VALUE with NAME one of {NUMERIC_FIELDS}, but got {text!r}.")
    try:
        return name, float(value)
    except ValueError:
        raise ValueError(f"--set {name}: {value!r} is not a number.") from None


def add_set_options(p):
    """`--set NAME=VALUE` (repeatable) and `--bath`: the fixed parameters of a sweep or a solver."""
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a fixed parameter other than its default (energies in units of eps_h); repeatable. Defaults: "
        + ", ".join(f"{k}={DEFAULTS[k]}" for k in NUMERIC_FIELDS),
    )
    p.add_argument("--bath", choices=("bosonic", "fermionic"), default=DEFAULTS["bath"])


def _fix_mmap_threshold():
    """Keep glibc from moving its mmap threshold up (this process only; the command owns it).

    After a large block is freed glibc raises the threshold, so later ~8 MiB chunk buffers come from the heap, which
    fragments: the peak RSS of a streamed scan then creeps up with the number of chunks (976, 1141, 1265 MiB for 1e6,
    1e7, 1e8 points). A fixed threshold (what MALLOC_MMAP_THRESHOLD_ does) keeps it flat (964, 999, 995 MiB).
    """
    if "MALLOC_MMAP_THRESHOLD_" in os.environ or not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL("libc.so.6").mallopt(-3, 1 << 20)  # M_MMAP_THRESHOLD = 1 MiB
    except (OSError, AttributeError):  # not glibc
        pass


# A process of a multi-process scan: join jax.distributed (recoverable: a lost process then gives the others a Python
# error, not an abort; see `jaxengine._scan._Processes`) before anything starts JAX's backend (the launcher's children
# join before they import jaxengine).
_JOIN = (
    "import sys, jax; jax.config.update('jax_enable_recoverability', True); a = sys.argv[1:4]; "
    "jax.distributed.initialize(*([a[0], int(a[1]), int(a[2])] if a[0] else [])); "
    "from jaxengine.cli import main; sys.exit(main(sys.argv[4:]))"
)
_JOIN_OPTIONS = ("processes", "distributed", "coordinator", "num_processes", "process_id")


def _join(args):
    """`--distributed`: make this process one of a multi-process scan, then scan (never returns if it re-executes)."""
    explicit = (args.coordinator, args.num_processes, args.process_id)
    if any(v is not None for v in explicit) and None in explicit:
        raise ValueError("--coordinator, --num-processes and --process-id go together: give all three or none.")
    import jax
    from jax._src import xla_bridge

    if jax.distributed.is_initialized():
        return
    if not xla_bridge.backends_are_initialized():
        jax.config.update("jax_enable_recoverability", True)
        jax.distributed.initialize(*([args.coordinator, args.num_processes, args.process_id] if explicit[0] else []))
        return
    # JAX's backend already runs in this process (something started it before this command): run the command again
    # in a fresh interpreter that joins first (same process id, environment and Slurm/MPI variables)
    argv = [str(v) if v is not None else "" for v in explicit]
    os.execv(sys.executable, [sys.executable, "-c", _JOIN, *argv, "scan", *_child_argv(args)])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _child_argv(args) -> list:
    """This command's options again (as parsed), for a child process: every option of the `scan` parser."""
    argv = []
    for action in args.scan_parser._actions:
        if not action.option_strings or action.dest in ("help", *_JOIN_OPTIONS):
            continue
        flag, value = action.option_strings[-1], getattr(args, action.dest)
        if isinstance(action, type(args.scan_parser._option_string_actions["--store-rho"])):  # store_true
            argv += [flag] if value else []
        elif isinstance(value, list):
            for v in value:
                argv += [flag, str(v)]
        elif value is not None and value != action.default:
            argv += [flag, str(value)]
    return argv


def _launch(args) -> int:
    """`--processes N`: N local processes of one multi-process scan; report any that fails."""
    from .. import _scan

    n = args.processes
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    shares = [cores[i * len(cores) // n : (i + 1) * len(cores) // n] for i in range(n)] if len(cores) >= n else []
    address = f"127.0.0.1:{_free_port()}"
    logs, procs = [], []
    for i in range(n):
        # process 0 owns the terminal (progress bar, summary); the others' stderr is shown only if they fail
        log = None if i == 0 else tempfile.TemporaryFile("w+")
        argv = [sys.executable, "-c", _JOIN, address, str(n), str(i), "scan", *_child_argv(args)]
        procs.append(subprocess.Popen(argv, stdout=None if i == 0 else subprocess.DEVNULL, stderr=log))
        if shares:  # before it starts JAX's threads (an interpreter takes far longer to get there)
            with contextlib.suppress(OSError):
                os.sched_setaffinity(procs[-1].pid, shares[i])
        logs.append(log)
    try:
        codes = [p.wait() for p in procs]
    except KeyboardInterrupt:  # the children got the Ctrl-C too and leave a resumable store
        codes = [p.wait() for p in procs]
        return 130
    if all(c == 0 for c in codes):
        return 0
    lines = []
    for i, c in enumerate(codes):
        if c < 0:
            lines.append(f"process {i} of {n} was ended by {signal.Signals(-c).name}")
        elif c != 0 and i > 0:
            logs[i].seek(0)
            last = [t for t in logs[i].read().splitlines() if t.strip()][-1:] or ["(no output)"]
            lines.append(f"process {i} of {n} exited with status {c}: {last[0]}")
    if codes[0] < 0:
        lines.append("process 0 hosts JAX's coordination service: when it is lost, JAX stops the others at once")
    try:
        done = _scan.done_chunks(args.out)
        saved = f"{int(done.sum())} of {done.size} chunks are saved in {args.out}"
    except Exception:
        saved = f"nothing is saved in {args.out} yet"
    for line in lines:
        print(f"jaxengine scan: {line}", file=sys.stderr)
    print(f"jaxengine scan: {saved}; run the same command again (with any --processes) to finish it.", file=sys.stderr)
    return 1


def _cmd_scan(args):
    if args.processes is not None:
        if args.processes < 1:
            raise ValueError(f"--processes must be a positive integer, but is {args.processes}.")
        if args.distributed or args.coordinator is not None:
            raise ValueError("--processes starts its own processes: do not combine it with --distributed.")
        if args.processes > 1:
            return _launch(args)
    if args.distributed or args.coordinator is not None:
        _join(args)
    import jax
    import numpy as np

    import jaxengine as je

    from .. import _scan

    axes = {}
    for text in args.axis:
        name, values = parse_axis(text)
        if name in axes:
            raise ValueError(f"--axis {name} is given twice.")
        axes[name] = values
    fixed = dict(parse_set(t) for t in args.set)
    both = sorted(set(fixed) & set(axes))
    if both:
        raise ValueError(f"{both[0]} is both scanned (--axis) and fixed (--set): give one of the two.")
    base = je.EngineParams(**fixed, bath=args.bath)
    _fix_mmap_threshold()
    shape = " x ".join(f"{len(v)} {k}" for k, v in axes.items())
    t0 = time.perf_counter()
    try:
        ds = je.scan(
            base,
            axes=axes,
            out=args.out,
            chunk_size=args.chunk_size,
            progress=not args.quiet,
            store_rho=args.store_rho,
            overwrite=args.overwrite,
            kernel=args.kernel,
            fields=args.fields.split(",") if args.fields else None,
        )
    except KeyboardInterrupt:
        try:
            done = _scan.done_chunks(args.out)
            saved = f"{int(done.sum())} of {done.size} chunks are saved in {args.out}"
        except Exception:  # interrupted before the store existed
            saved = f"nothing is saved in {args.out} yet"
        print(f"jaxengine scan: interrupted; {saved}; run the same command again to resume.", file=sys.stderr)
        return 130
    if jax.process_index() != 0:
        return 0  # process 0 reports for all
    bad = int(np.size(ds.ok) - int(ds.ok.sum()))
    print(
        f"{args.out}: {int(np.prod(list(ds.sizes.values())))} points ({shape}) in {time.perf_counter() - t0:.1f} s; "
        + (f"{bad} points not ok (see `ok`, `residual`)" if bad else "all points ok")
    )
    return 0


def register_scan(sub):
    p = sub.add_parser(
        "scan",
        help="every observable on an N-D parameter grid, streamed to a resumable Zarr store",
        description="Every observable on the outer-product grid of the --axis values, written chunk by chunk to the "
        "Zarr store --out. Running the same command again resumes an interrupted scan.",
    )
    p.add_argument(
        "--axis",
        action="append",
        required=True,
        metavar="NAME=START:STOP:NUM",
        help="a scanned EngineParams field: NUM values from START to STOP, or NAME=V1,V2,...; repeat for more "
        f"dimensions, in order. Fields: {', '.join(NUMERIC_FIELDS)}",
    )
    add_set_options(p)
    p.add_argument("--out", required=True, help="the Zarr store (a directory), e.g. scan.zarr")
    p.add_argument("--chunk-size", type=int, default=None, help="points per chunk (default: from available memory)")
    p.add_argument("--store-rho", action="store_true", help="also store the 4x4 steady state at every point")
    p.add_argument(
        "--fields", default=None, help="observables to compute and store, comma-separated (default: all): J,negativity"
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing store made with other parameters")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--kernel", choices=("xla", "fused"), default="xla", help="fused: the experimental one-kernel GPU path"
    )
    several = p.add_argument_group("several processes (one store, each process computes its share of the chunks)")
    several.add_argument(
        "--processes",
        type=int,
        default=None,
        metavar="N",
        help="start N local processes (each on its share of the "
        "CPU cores) on one coordinator at 127.0.0.1; a rerun with any N resumes",
    )
    several.add_argument(
        "--distributed",
        action="store_true",
        help="this process is one of several started by srun, mpirun, ...: "
        "call jax.distributed.initialize() (JAX detects Slurm and Open MPI) before scanning",
    )
    several.add_argument(
        "--coordinator",
        default=None,
        metavar="HOST:PORT",
        help="with --num-processes and --process-id: join a multi-process scan explicitly (implies --distributed)",
    )
    several.add_argument("--num-processes", type=int, default=None, metavar="N", help="processes in all")
    several.add_argument("--process-id", type=int, default=None, metavar="I", help="this one: 0 ... N - 1")
    p.set_defaults(func=_cmd_scan, scan_parser=p)


# --------------------------------------------------------------------------------------------------------- plot

_SYMBOL = {
    "eps_h": r"$\varepsilon_h$",
    "delta": r"$\delta$",
    "g": r"$g$",
    "gamma_h": r"$\gamma_h$",
    "gamma_c": r"$\gamma_c$",
    "T_h": r"$T_h$",
    "T_c": r"$T_c$",
    "kappa_h": r"$\kappa_h$",
    "kappa_c": r"$\kappa_c$",
}
_UNIT = {"eps_h^2 / hbar": r"$\varepsilon_h^2/\hbar$", "1": ""}


def _axis_label(name: str) -> str:
    return f"{_SYMBOL.get(name, name)} [$\\varepsilon_h$]"  # every field is an energy or a rate in units of eps_h


def _var_label(da) -> str:
    units = da.attrs.get("units", "")
    unit = _UNIT.get(units, units)
    return da.attrs.get("long_name", da.name) + (f" [{unit}]" if unit else "")


def _fixed_value(ds, name):
    """The value of field `name` on the plotted slice: an attribute, or a scalar coordinate after --sel."""
    if name in ds.attrs:
        return float(ds.attrs[name])
    if name in ds.coords and ds[name].ndim == 0:
        return float(ds[name])
    return None


def _cmd_plot(args):
    import numpy as np
    import xarray as xr
    from matplotlib.figure import Figure  # no pyplot: no global backend state, renders with Agg

    ds = xr.open_zarr(args.store, consolidated=True)
    if "jaxengine_scan" not in ds.attrs:
        raise ValueError(f"{args.store!r} is not a jaxengine scan store.")
    if args.var not in ds.data_vars or args.var == "rho":
        names = [v for v in ds.data_vars if v != "rho"]
        raise ValueError(f"--var must be one of {names}, but got {args.var!r}.")
    sel = {}
    for text in args.sel:
        name, value = parse_set(text)
        if name not in ds.dims:
            raise ValueError(f"--sel {name}: not a dimension of this scan (dimensions: {list(ds.dims)}).")
        sel[name] = value
    ds = ds.sel(sel, method="nearest") if sel else ds
    da = ds[args.var]
    if da.dtype == bool:
        da = da.astype(float)
    if da.ndim not in (1, 2):
        raise ValueError(
            f"{args.var} has {da.ndim} dimensions {list(da.dims)}; pick values of all but one or two of them with "
            "--sel NAME=VALUE."
        )
    fixed = [f"{k}={_fixed_value(ds, k):g}" for k in NUMERIC_FIELDS if _fixed_value(ds, k) is not None]
    fixed.append(f"bath={ds.attrs.get('bath', '?')}")

    fig = Figure(figsize=(6.4, 4.8) if da.ndim == 2 else (6.4, 4.2), layout="constrained")
    ax = fig.add_subplot()
    x = da.dims[0]
    if da.ndim == 1:
        ax.plot(ds[x].values, np.asarray(da.values), lw=1.5)
        ax.set_ylabel(_var_label(ds[args.var]))
        ax.grid(alpha=0.3)
    else:
        y = da.dims[1]
        z = np.ma.masked_invalid(np.asarray(da.transpose(y, x).values))
        mesh = ax.pcolormesh(ds[x].values, ds[y].values, z, shading="auto", cmap=args.cmap)
        fig.colorbar(mesh, ax=ax, label=_var_label(ds[args.var]))
        ax.set_ylabel(_axis_label(y))
        if _fixed_value(ds, "kappa_h") == 0 and _fixed_value(ds, "kappa_c") == 0 and "witness" in ds:
            # on the kappa = 0 plane, |J| = J_c (witness = 1) is the paper's entanglement boundary (eq 18)
            w = np.asarray(ds["witness"].transpose(y, x).values)
            if np.nanmin(w) < 1 < np.nanmax(w):
                ax.contour(ds[x].values, ds[y].values, w, levels=[1.0], colors="white", linewidths=1.5)
                ax.plot([], [], color="white", lw=1.5, label=r"$J = J_c$ (witness = 1)")
                ax.legend(loc="best", facecolor="0.5", framealpha=0.6, labelcolor="white")
    ax.set_xlabel(_axis_label(x))
    ax.set_title(textwrap.fill(", ".join(fixed), 72), fontsize=8)
    fig.savefig(args.out, dpi=args.dpi)
    print(f"{args.out}: {args.var} over {' x '.join(da.dims)}")
    return 0


def register_plot(sub):
    p = sub.add_parser(
        "plot",
        help="a 1-D line or 2-D map of one variable of a scan store",
        description="Draw one variable of a `jaxengine scan` store: a line for 1-D scans, a map for 2-D ones (with "
        "the J = J_c contour on maps of the kappa = 0 plane). Unfinished points are left blank.",
    )
    p.add_argument("store", help="the Zarr store written by `jaxengine scan`")
    p.add_argument("--var", default="negativity", help="J, Q_h, Q_c, negativity, concurrence, J_c, witness, ...")
    p.add_argument("--out", required=True, help="image file (PNG, PDF or SVG by extension)")
    p.add_argument(
        "--sel", action="append", default=[], metavar="NAME=VALUE", help="fix a dimension at its nearest value"
    )
    p.add_argument("--cmap", default="viridis", help="matplotlib colormap of 2-D maps")
    p.add_argument("--dpi", type=int, default=120)
    p.set_defaults(func=_cmd_plot)
