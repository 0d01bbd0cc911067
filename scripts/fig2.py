"""Regenerate Fig 2 of the paper (PNG + CSV) into --out: `python scripts/fig2.py --out reproduce [--quick]`.

A thin wrapper: the figure's parameters, computation and plotting live in `jaxengine.reproduce` (no physics here).
"""

import sys

from jaxengine.reproduce import figure_main


def main(argv=None) -> int:
    return figure_main("fig2", argv)


if __name__ == "__main__":
    sys.exit(main())
