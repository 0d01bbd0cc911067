"""`python -m jaxengine.reproduce [FIGURE] [--out DIR] [--quick]`: one figure, as scripts/figN.py does."""

import sys

from ._cli import figure_main

if __name__ == "__main__":
    sys.exit(figure_main(sys.argv[1] if len(sys.argv) > 1 else "fig2", sys.argv[2:]))
