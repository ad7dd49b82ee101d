"""The bug-catalogue score: known-wrong implementations through the catalogue of checks.

Each mistake is rejected when any check fails on it, and named when the diagnoses include the
class it was planted as (its ``planted`` attribute, a diagnosis code; None where the mistake has
no class of its own and rejection is what counts). Over every check (no ``until_named``), its
``cause`` is the most likely cause the drivers print, and ``other_causes`` what failing rows name
besides the planted class: a row that would send its reader after another bug.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterable

from impls import spec_of
from impls.contract import Implementation
from reference.checks.check import Check
from reference.harness.isolation import Pool
from reference.checks.run import DEFAULT_TIMEOUT_S, Row, each_row
from reference.checks.verdict import NAMES_NO_CAUSE, RootCause, root_cause
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

    @property
    def cause(self) -> RootCause | None:
        return root_cause({row.check.id: row.outcome for row in self.rows})

    @property
    def other_causes(self) -> set[str]:
        failing = (row.outcome.codes for row in self.rows if not row.outcome.passed)
        return set().union(*failing) - NAMES_NO_CAUSE - {self.planted}


def score(mistakes: Iterable[type[Implementation]], checks: Iterable[Check], dtype: str = "float64",
          timeout_s: float = DEFAULT_TIMEOUT_S, pool: Pool | None = None, until_named: bool = False) -> list[Score]:
    """Every mistake through every check, on the cpu, in ``dtype`` (float64: where every planted mistake is one),
    or in the dtype a mistake says it is scored in (``scored_in``: float32's own small errors).

    Each class is instantiated and run only in a child process of ``pool`` (default: a pool of its
    own), loaded there from its import path, as the drivers run implementations: a mistake's
    constructor never runs here. ``until_named`` ends a mistake's checks at the first row that
    leaves it rejected and named (rejected, where nothing is planted): ``rejected`` and ``named``
    come out as over every check, since later rows can only add failures and codes.
    """
    checks, own = list(checks), pool is None
    pool = Pool() if own else pool
    try:
        return [_score_one(m, checks, dtype, timeout_s, pool, until_named) for m in mistakes]
    finally:
        if own:
            pool.close()


def _score_one(mistake: type[Implementation], checks: list[Check], dtype: str, timeout_s: float, pool: Pool,
               until_named: bool) -> Score:
    session = Session.isolated(spec_of(mistake), "cpu", getattr(mistake, "scored_in", dtype), "strict", pool)
    found = Score(mistake.name, getattr(mistake, "planted", None), ())
    for row in each_row(session, checks, timeout_s):
        found = replace(found, rows=(*found.rows, row))
        if until_named and found.rejected and found.named is not False:
            break
    return found
