"""``python -m bench.report``: the report's command line (bench.report.cli)."""

import sys

from bench.report.cli import main

sys.exit(main())
