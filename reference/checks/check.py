"""What a check is (``Check``) and what it found (``Outcome``), shared by the catalogue and the check bodies."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from reference.checks.diagnose import Diagnosis
from reference.checks.measure import Result

if TYPE_CHECKING:
    from reference.harness.session import Session


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
        """The diagnosis line: what the CLI's table and a failing pytest case both show.

        A first text that ends in a colon introduces the rest ("not judged, as ... failed: <its cause>").
        """
        texts = list(dict.fromkeys(d.text for d in self.diagnoses))
        if texts and texts[0].endswith(":"):
            return f"{texts[0]} {'; '.join(texts[1:])}".rstrip()
        return "; ".join(texts)


def failed(results: list[Result]) -> tuple[str, ...]:
    """The failing comparisons' descriptions, worst first."""
    failing = sorted((r for r in results if not r.passed), key=lambda r: -r.comparison.ratio)
    return tuple(r.describe() for r in failing)


@dataclass(frozen=True)
class Check:
    """One check of the catalogue."""


    id: str                                  # stable, unique; part of every test id and table row
    catches: str                             # one line: the mistake this check exists to find
    run: Callable[["Session"], Outcome] = field(repr=False)
    shape: str | None = None                 # the named shape it is about; None: it runs whatever --shape says
    bias: bool | None = None                 # the two-layer network it is about, with or without bias; None: either
    device: str | None = None                # the device whose sessions it runs on; None: every device
    model: str | None = "two-layer"          # the network it checks (impls.contract.MODELS); None: every network
