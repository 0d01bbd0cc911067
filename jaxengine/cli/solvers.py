"""`jaxengine kappa-max`, `jaxengine critical` and `jaxengine optimise`: argparse over the solvers (no physics here)."""

import csv
import json
import sys

from .._models.params import NUMERIC_FIELDS
from .scan import add_set_options, parse_axis, parse_set


def _add_grid_options(p, example: str):
    p.add_argument(
        "--axis",
        action="append",
        default=[],
        metavar="NAME=START:STOP:NUM",
        help=f"a swept EngineParams field (NUM values from START to STOP, or NAME=V1,V2,...); repeat for an "
        f"outer-product grid, e.g. --axis {example}",
    )
    add_set_options(p)


def _grid(args):
    """(EngineParams with one flat batch over the outer product of the axes, [(name, flat values)])."""
    import numpy as np

    from .._models.params import EngineParams

    fixed = dict(parse_set(s) for s in args.set)
    axes = [parse_axis(a) for a in args.axis]
    for name, _ in axes:
        if name not in NUMERIC_FIELDS:
            raise ValueError(f"--axis {name}: not an EngineParams field {NUMERIC_FIELDS}.")
    if len({n for n, _ in axes}) != len(axes):
        raise ValueError(f"--axis: each field may be swept once, but got {[n for n, _ in axes]}.")
    mesh = np.meshgrid(*(v for _, v in axes), indexing="ij") if axes else []
    cols = [(name, m.ravel()) for (name, _), m in zip(axes, mesh, strict=True)]
    return EngineParams(**{**fixed, **dict(cols)}, bath=args.bath), cols


def _bracket(text: str, what: str):
    try:
        lo, hi = (float(v) for v in text.split(":"))
    except ValueError:
        raise ValueError(f"--{what} must look like LO:HI, but got {text!r}.") from None
    return lo, hi


def _emit(args, header, rows, note=""):
    """Print a table (or JSON lines with --json) and write a CSV with --out."""
    if args.json:
        for r in rows:
            print(json.dumps(dict(zip(header, r, strict=True))))
    else:
        if note:
            print(note)
        print("  ".join(f"{h:>14}" for h in header))
        for r in rows:
            print("  ".join(f"{str(v):>14}" if isinstance(v, bool) else f"{v:>14.8g}" for v in r))
    if args.out:
        with open(args.out, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(header)
            w.writerows([[repr(float(v)) if not isinstance(v, bool) else int(v) for v in r] for r in rows])
        print(f"wrote {args.out}", file=sys.stderr)


def _add_output_options(p):
    p.add_argument("--out", help="also write the table as CSV to this file")
    p.add_argument("--json", action="store_true", help="print one JSON object per row instead of a table")


# ------------------------------------------------------------------------------------------------------ kappa-max


def _cmd_kappa_max(args):
    import numpy as np

    import jaxengine as je

    p, cols = _grid(args)
    r = je.kappa_max(p, observable=args.observable, field=args.field, bracket=_bracket(args.bracket, "bracket"))
    kappa, value, ok = (np.atleast_1d(np.asarray(v)) for v in r)
    header = [n for n, _ in cols] + [f"{args.field}_max", f"{args.observable}_max", "ok"]
    rows = [[*(c[i] for _, c in cols), kappa[i], value[i], bool(ok[i])] for i in range(kappa.size)]
    _emit(args, header, rows, f"argmax over {args.field} in {args.bracket} of {args.observable}")
    return 0 if ok.all() else 1


def register_kappa_max(sub):
    p = sub.add_parser(
        "kappa-max",
        help="the tunnelling that maximises N or J, per point of a grid (one compiled call)",
        description="kappa_max: the maximiser of an observable along one kappa field (Newton on autodiff "
        "derivatives), for every point of the outer-product grid of the --axis values.",
    )
    _add_grid_options(p, "delta=0.005:0.05:10")
    p.add_argument("--observable", choices=("negativity", "J", "witness"), default="negativity")
    p.add_argument("--field", default="kappa_h", help="the field to maximise over (default kappa_h)")
    p.add_argument("--bracket", default="0:0.5", metavar="LO:HI", help="search interval (default 0:0.5)")
    _add_output_options(p)
    p.set_defaults(func=_cmd_kappa_max)


# ------------------------------------------------------------------------------------------------------- critical


def _cmd_critical(args):
    import numpy as np

    import jaxengine as je

    p, cols = _grid(args)
    lo = je.critical_detuning(p, sign=-1)
    hi = je.critical_detuning(p, sign=+1)
    t = je.critical_temperature(p)
    out = [np.atleast_1d(np.asarray(v)) for v in (lo.value, lo.ok, hi.value, hi.ok, t.value, t.ok)]
    header = [n for n, _ in cols] + ["delta*-", "delta*+", "T_h*"]
    rows = [[*(c[i] for _, c in cols), out[0][i], out[2][i], out[4][i]] for i in range(out[0].size)]
    _emit(
        args,
        header,
        rows,
        "critical detuning delta*- < 0 < delta*+ where N reaches 0 (nan: no crossing within |delta| <= 0.25) and "
        "critical temperature T_h* above which N > 0 (the value of T_h in the row is ignored for T_h*)",
    )
    return 0


def register_critical(sub):
    p = sub.add_parser(
        "critical",
        help="critical detunings delta*+- and critical temperature T_h* per point of a grid",
        description="Roots of the signed negativity: delta*- and delta*+ (on each side of delta = 0) and T_h*, "
        "for every point of the outer-product grid of the --axis values. nan where there is no crossing.",
    )
    _add_grid_options(p, "T_h=0.2:1.0:9")
    _add_output_options(p)
    p.set_defaults(func=_cmd_critical)


# ------------------------------------------------------------------------------------------------------- optimise


def _cmd_optimise(args):
    import numpy as np
    import optax

    import jaxengine as je

    fixed = dict(parse_set(s) for s in args.set)
    base = je.EngineParams(**fixed, bath=args.bath)
    bounds = {}
    for b in args.bounds:
        name, sep, rng = b.partition("=")
        if not sep:
            raise ValueError(f"--bounds must look like NAME=LO:HI, but got {b!r}.")
        bounds[name.strip()] = _bracket(rng, f"bounds {name}")
    opt = {"adam": None, "lbfgs": optax.lbfgs()}[args.optimizer]
    r = je.optimise(
        args.objective,
        base,
        free=args.free,
        bounds=bounds,
        starts=args.starts,
        steps=args.steps,
        optimizer=opt,
        seed=args.seed,
        progress=not args.quiet and not args.json,
    )
    o = je.observables(r.params, throw=False)
    obs = {k: float(np.asarray(v)) for k, v in o._asdict().items() if k not in ("rho", "ok")}
    free = [f.strip() for f in args.free.split(",")]
    if args.json:
        params = {k: float(getattr(r.params, k)) for k in NUMERIC_FIELDS}
        out = {"objective": args.objective, "value": float(r.value), "free": free, "params": params}
        print(json.dumps({**out, "observables": obs, "ok": bool(o.ok)}))
    else:
        print(f"maximum of {args.objective}: {float(r.value):.10e}  (best of {args.starts} starts, {args.steps} steps)")
        print("at " + ", ".join(f"{k}={float(getattr(r.params, k)):.8g}" for k in free))
        print("fixed " + ", ".join(f"{k}={float(getattr(r.params, k)):g}" for k in NUMERIC_FIELDS if k not in free))
        for k, v in obs.items():
            print(f"  {k:<12} {v:.10e}")
        print(f"  {'ok':<12} {bool(o.ok)}")
    return 0 if bool(o.ok) else 1


def register_optimise(sub):
    p = sub.add_parser(
        "optimise",
        help="maximise N, J or the witness over chosen parameters within bounds (multi-start, gradient based)",
        description="Multi-start gradient ascent (optax) of an observable of the exact steady state over the --free "
        "fields within their --bounds; prints the optimum and every observable there.",
    )
    p.add_argument("--objective", choices=("negativity", "J", "witness"), default="negativity")
    p.add_argument("--free", required=True, help="comma-separated fields to optimise, e.g. kappa_h,kappa_c")
    p.add_argument(
        "--bounds",
        action="append",
        default=[],
        metavar="NAME=LO:HI",
        help="box bounds of each free field (repeat), e.g. --bounds kappa_h=0:0.3; ranges spanning more than two "
        "decades with LO > 0 are searched in log space",
    )
    add_set_options(p)
    p.add_argument("--starts", type=int, default=16, help="number of starts (default 16)")
    p.add_argument("--steps", type=int, default=500, help="optimiser steps (default 500)")
    p.add_argument("--optimizer", choices=("adam", "lbfgs"), default="adam")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_cmd_optimise)
