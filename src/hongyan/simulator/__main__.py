"""``python -m hongyan.simulator``: the same as ``hongyan simulator``."""

import sys

from hongyan.simulator.cli import main

sys.exit(main())
