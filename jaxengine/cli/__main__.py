"""`python -m jaxengine.cli ...`: the same as the `jaxengine` command."""

import sys

from . import main

sys.exit(main())
