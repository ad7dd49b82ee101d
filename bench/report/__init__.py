"""The report: the raw JSON (pytest-benchmark's schema) in, a run folder of tables, plots and a summary out.

One module per stage: ``load`` (the raw JSON through bench.schema's records), ``statistics``
(intervals and the rank test), ``tables``, ``analysis`` (A/A, decomposition, load,
crossovers), ``plots``, ``summary``, ``build`` (writes a run folder), ``compare`` (two runs),
and the command line in ``cli`` (``python -m bench.report``). This package's public names are below.
"""

from bench.report.build import OUTPUTS, build
from bench.report.cli import main
from bench.report.compare import compare
from bench.report.load import ReportError, read_run
from bench.schema import COLUMNS

__all__ = ["COLUMNS", "OUTPUTS", "ReportError", "build", "compare", "main", "read_run"]
