"""The bug-catalogue score: known-wrong implementations through the catalogue of checks.

Each mistake is rejected when any check fails on it, and named when the diagnoses include the
class it was planted as (its ``planted`` attribute, a diagnosis code; None where the mistake has
no class of its own and rejection is what counts).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from impls import spec_of
from impls.contract import Implementation
from reference.checks.check import Check
from reference.harness.isolation import Pool
from reference.checks.run import DEFAULT_TIMEOUT_S, Row, evaluate
from reference.harness.session import Session


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


def score(mistakes: Iterable[type[Implementation]], checks: Iterable[Check], dtype: str = "float64",
          timeout_s: float = DEFAULT_TIMEOUT_S, pool: Pool | None = None) -> list[Score]:
    """Every mistake through every check, on the cpu, in ``dtype`` (float64: where every planted mistake is one),
    or in the dtype a mistake says it is scored in (``scored_in``: float32's own small errors).

    Each class is instantiated and run only in a child process of ``pool`` (default: a pool of its
    own), loaded there from its import path, as the drivers run implementations: a mistake's
    constructor never runs here.
    """
    checks, own = list(checks), pool is None
    pool = Pool() if own else pool
    try:
        return [Score(m.name, getattr(m, "planted", None), tuple(evaluate(
            Session.isolated(spec_of(m), "cpu", getattr(m, "scored_in", dtype), "strict", pool), checks, timeout_s)))
            for m in mistakes]
    finally:
        if own:
            pool.close()
