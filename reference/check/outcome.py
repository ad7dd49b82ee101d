"""What one check found (``Outcome``), shared by the catalogue and the modules that hold its checks."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from reference.check.diagnose import Diagnosis
from reference.check.measure import Result


@dataclass(frozen=True)
class Outcome:
    """What one check found: pass or fail, the worst error/tolerance, why, and every failing comparison."""

    passed: bool
    ratio: float = math.nan                 # worst error / tolerance (nan where the check is no comparison)
    diagnoses: tuple[Diagnosis, ...] = ()
    details: tuple[str, ...] = field(default=(), compare=False)  # failing comparisons, worst entry first

    @property
    def codes(self) -> set[str]:
        return {d.code for d in self.diagnoses}

    @property
    def explanation(self) -> str:
        """The diagnosis line: what the CLI's table and a failing pytest case both show."""
        return "; ".join(dict.fromkeys(d.text for d in self.diagnoses))


def failed(results: list[Result]) -> tuple[str, ...]:
    """The failing comparisons' descriptions, worst first."""
    failing = sorted((r for r in results if not r.passed), key=lambda r: -r.comparison.ratio)
    return tuple(r.describe() for r in failing)
