"""The report: pytest-benchmark's JSON in, a run folder of tables, plots and a summary out.

One module per stage: ``load`` (the raw JSON through bench.schema's records), ``tables``,
``plots``, ``summary``, ``build`` (writes a run folder), ``compare`` (two runs), and the
command line in ``__main__``. This package's public names are below.
"""

from bench.report.__main__ import main
from bench.report.build import OUTPUTS, build
from bench.report.compare import compare
from bench.report.load import ReportError, read_run
from bench.schema import COLUMNS

__all__ = ["COLUMNS", "OUTPUTS", "ReportError", "build", "compare", "main", "read_run"]
