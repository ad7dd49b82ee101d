"""``python -m reference FILE``: check an implementation against the float64 reference (reference.drivers.cli)."""

import sys

from reference.drivers.cli import main

sys.exit(main())
