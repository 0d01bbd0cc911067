"""The `jaxengine` command: a thin argparse layer over the public API (no physics here).

Each subcommand lives in a `register_*` function that adds its parser and sets `func`; `main` dispatches.
"""

import argparse
import json
import sys

from .._models.params import DEFAULTS, NUMERIC_FIELDS
from ..reproduce import register_reproduce
from .dynamics import register_evolve, register_fluctuations
from .network import register_network
from .scan import register_plot, register_scan
from .solvers import register_critical, register_kappa_max, register_optimise
from .warmup import register_warmup


def add_param_options(parser: argparse.ArgumentParser):
    """One `--FIELD VALUE` option per numeric EngineParams field, plus `--bath`."""
    group = parser.add_argument_group("engine parameters (energies in units of eps_h)")
    for name in NUMERIC_FIELDS:
        group.add_argument(f"--{name}", type=float, default=DEFAULTS[name], help=f"default {DEFAULTS[name]}")
    group.add_argument("--bath", choices=("bosonic", "fermionic"), default=DEFAULTS["bath"])


def params_from_args(args):
    from .._models.params import EngineParams

    return EngineParams(**{name: getattr(args, name) for name in NUMERIC_FIELDS}, bath=args.bath)


def _cmd_observables(args):
    import numpy as np

    import jaxengine as je

    p = params_from_args(args)
    o = je.observables(p, throw=False)
    scalars = {k: float(np.asarray(v)) for k, v in o._asdict().items() if k not in ("rho", "ok")}
    scalars["ok"] = bool(np.asarray(o.ok))
    scalars["entangled"] = scalars["negativity"] > 0
    if args.json:
        rho = np.asarray(o.rho)
        out = {"params": {k: getattr(args, k) for k in (*NUMERIC_FIELDS, "bath")}, **scalars}
        out["rho"] = {"real": rho.real.tolist(), "imag": rho.imag.tolist()}
        print(json.dumps(out))
    else:
        print("parameters: " + ", ".join(f"{k}={getattr(args, k):g}" for k in NUMERIC_FIELDS) + f", bath={args.bath}")
        for k, v in scalars.items():
            print(f"  {k:<12} {v:.10e}" if isinstance(v, float) else f"  {k:<12} {v}")
    return 0 if scalars["ok"] else 1


def register_observables(sub):
    p = sub.add_parser("observables", help="every observable of the paper at one parameter point")
    add_param_options(p)
    p.add_argument("--json", action="store_true", help="print one JSON object (with rho) instead of a table")
    p.set_defaults(func=_cmd_observables)


REGISTER = [
    register_observables,
    register_reproduce,
    register_scan,
    register_plot,
    register_kappa_max,
    register_critical,
    register_optimise,
    register_network,
    register_evolve,
    register_fluctuations,
    register_warmup,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jaxengine", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for register in REGISTER:
        register(sub)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, TypeError, RuntimeError) as e:  # bad input or failed solve: one line, no traceback
        print(f"jaxengine {args.command}: error: {e}", file=sys.stderr)
        return 2

