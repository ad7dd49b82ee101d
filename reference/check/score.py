"""The bug-catalogue score: known-wrong implementations through the catalogue of checks.

Each mistake is rejected when any check fails on it, and named when the diagnoses include the
class it was planted as (its ``planted`` attribute, a diagnosis code; None where the mistake has
no class of its own and rejection is what counts).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from impls.contract import Implementation
from reference.check.catalogue import Check
from reference.check.run import DEFAULT_TIMEOUT_S, Row, evaluate
from reference.check.session import Session


@dataclass(frozen=True)
class Score:
    name: str
    planted: str | None
    rows: tuple[Row, ...]

    @property
    def failed(self) -> list[str]:
        return [row.check.id for row in self.rows if not row.outcome.passed]

    @property
    def codes(self) -> set[str]:
        return set().union(*(row.outcome.codes for row in self.rows))

    @property
    def rejected(self) -> bool:
        return bool(self.failed)

    @property
    def named(self) -> bool | None:
        return None if self.planted is None else self.planted in self.codes


def score(mistakes: Iterable[Implementation], checks: Iterable[Check], dtype: str = "float64",
          timeout_s: float = DEFAULT_TIMEOUT_S) -> list[Score]:
    """Every mistake through every check, on the cpu, in ``dtype`` (float64: where every planted mistake is one)."""
    checks = list(checks)
    return [Score(m.name, getattr(m, "planted", None), tuple(evaluate(Session(m, "cpu", dtype), checks, timeout_s)))
            for m in mistakes]
