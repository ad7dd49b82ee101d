"""The report: the raw JSON (pytest-benchmark's schema) in, a run folder of tables, plots and a summary out.

One module per stage: ``load`` (the raw JSON through bench.schema's records, and a run folder's
own files back), ``statistics`` (intervals and the rank test), ``tables``, ``analysis`` (A/A,
decomposition, load, crossovers), ``findings`` (findings.json), ``headline`` (the answer first:
the plain ways at the default size; LATEST.md), ``plots``, ``summary``, ``build`` (writes a run
folder, or its report again), ``compare`` (two runs), and the command line in ``cli``
(``python -m bench.report``). This package's public names are below.
"""

from bench.report.build import OUTPUTS, build, rebuild, write_latest
from bench.report.cli import main
from bench.report.compare import compare
from bench.report.headline import headline_markdown
from bench.report.load import ReportError, read_run
from bench.schema import COLUMNS

__all__ = ["COLUMNS", "OUTPUTS", "ReportError", "build", "compare", "headline_markdown", "main", "read_run", "rebuild",
           "write_latest"]
