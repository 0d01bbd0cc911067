"""`jaxengine reproduce` and scripts/figN.py: argparse only (no physics)."""

from __future__ import annotations

import argparse
import os

from ._run import reproduce


def _cmd_reproduce(args) -> int:
    from . import FIGURES

    figures = FIGURES if args.only is None else tuple(s.strip() for s in args.only.split(","))
    unknown = [f for f in figures if f not in FIGURES]
    if unknown:
        raise ValueError(f"Argument `--only` must name figures among {FIGURES}, but got {unknown}.")
    reproduce(args.out, figures=figures, quick=args.quick, quiet=args.quiet)
    return 0


def add_arguments(p: argparse.ArgumentParser, *, out_default: str = "reproduce"):
    from . import FIGURES

    p.add_argument("--out", default=out_default, help=f"output folder (default: {out_default})")
    p.add_argument("--quick", action="store_true", help="reduced resolution (for tests and a first look)")
    p.add_argument("--only", default=None, help=f"comma-separated subset of {','.join(FIGURES)} (no summary)")
    p.add_argument("--quiet", action="store_true", help="no progress output")


def register_reproduce(sub):
    p = sub.add_parser("reproduce", help="regenerate the paper's Figs 2-5, summary.md and two figures beyond it")
    add_arguments(p)
    p.set_defaults(func=_cmd_reproduce)


def figure_main(figure: str, argv=None) -> int:
    """Entry point of scripts/figN.py: one figure (and its data) into --out."""
    parser = argparse.ArgumentParser(prog=f"{figure}.py", description=f"Regenerate {figure} of the paper.")
    add_arguments(parser, out_default=os.path.join("reproduce"))
    parser.set_defaults(only=figure)
    args = parser.parse_args(argv)
    args.only = figure
    return _cmd_reproduce(args)
