"""findings.json: what a run's raw JSON says beyond one row per case, kept so that a committed run
(whose raw/ stays on the machine that ran it) can have its report written again."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

#: The tables of a findings.json, by key.
TABLES = ("aa", "parts", "load", "excluded", "alone")


@dataclass(frozen=True)
class Findings:
    """A/A per race, where the time goes, the load test, the cases not timed, the plain ways alone beside
    raced, the harness's overhead, each implementation's one-line summary, when and at which commit the
    run was measured, and what the machine did meanwhile (bench.state's records, per timed stage)."""

    aa: pd.DataFrame
    parts: pd.DataFrame
    load: pd.DataFrame
    excluded: pd.DataFrame
    alone: pd.DataFrame = field(default_factory=pd.DataFrame)
    overhead_s: float | None = None
    implementations: dict[str, str] = field(default_factory=dict)
    #: versions (of the raw files' writers), datetime, commit, dirty.
    measured: dict[str, Any] = field(default_factory=dict)
    #: Benchmarks in the raw JSON of no known kind, left out.
    ignored: int = 0
    machine_state: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        tables = {name: _records(getattr(self, name)) for name in TABLES}
        return {**tables, "overhead_s": self.overhead_s, "implementations": self.implementations,
                "measured": self.measured, "ignored": self.ignored,
                "machine_state": self.machine_state}

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> "Findings":
        return cls(**{name: pd.DataFrame(document.get(name, [])) for name in TABLES},
                   overhead_s=document.get("overhead_s"), implementations=document.get("implementations", {}),
                   measured=document.get("measured", {}), ignored=document.get("ignored", 0),
                   machine_state=document.get("machine_state", []))


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    # JSON has no NaN: a missing number is null.
    return frame.astype(object).where(frame.notna(), None).to_dict("records")
