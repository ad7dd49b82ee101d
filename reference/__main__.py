"""``python -m reference FILE``: check an implementation against the float64 reference (reference.drivers.cli)."""

import sys

from impls.threads import limit_threads
from reference.drivers.cli import main

# This process's own products (the reference, the diagnoses) are small: one thread, as pytest's
# checks get (tests/conftest.py). Measured under load on two cores: training-bias at 14.4 s
# with BLAS's default threads, 3.5 s on one. --threads is the implementation's process's count.
limit_threads(1)
sys.exit(main())
