"""Running checks: an exception or a hang inside the implementation is a failed check, not a crash.

Both drivers call ``run_check``, so a check fails with the same one-line reason in the CLI's
table and in pytest.
"""

from __future__ import annotations

import contextlib
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from impls.contract import ContractViolation
from impls.protocol import Frame
from impls.serve import first_line
from reference.checks.catalogue import applies
from reference.checks.check import Check, Outcome
from reference.checks.diagnose import Diagnosis
from reference.checks.verdict import judged, order
from reference.harness.isolation import CheckTimeout, ChildDied, ChildLink, Raised
from reference.harness.session import Session

DEFAULT_TIMEOUT_S = 120.0


def run_check(check: Check, session: Session, timeout_s: float = DEFAULT_TIMEOUT_S) -> Outcome:
    """``check.run(session)``; whatever the implementation does instead of answering becomes a failed outcome naming it."""
    try:
        with session.time_limit(timeout_s):
            return check.run(session)
    except CheckTimeout as stop:
        return Outcome(False, diagnoses=(Diagnosis("timeout", f"timed out: {stop}"),))
    except ChildDied as death:
        return Outcome(False, diagnoses=(Diagnosis("crash", str(death)),))
    except ContractViolation as violation:
        return Outcome(False, diagnoses=(Diagnosis("contract", first_line(violation)),))
    except Raised as error:
        diagnosis = f"{place(error.at)}raised {error.kind}: {first_line(error)}"
        return Outcome(False, diagnoses=(Diagnosis("error", diagnosis),), details=(error.trace,))
    except Exception as error:  # noqa: BLE001 (an implementation run in this process fails the same way)
        if isinstance(session.link, ChildLink):  # its own exceptions arrive as Raised: this one is the harness's
            return Outcome(False, diagnoses=(Diagnosis("unreadable", (
                f"the harness could not read the answers ({type(error).__name__}: {first_line(error)})")),),
                details=(traceback.format_exc(),))
        return Outcome(False, diagnoses=(Diagnosis("error", f"raised {type(error).__name__}: {first_line(error)}"),),
                       details=(traceback.format_exc(),))


def place(at: Frame | None) -> str:
    """Where in the implementation's code an exception was raised, to lead its diagnosis ("" where unknown):
    the file (relative to the working directory when under it), line, and that line's text."""
    if at is None:
        return ""
    path = Path(at.filename)
    with contextlib.suppress(ValueError):
        path = path.relative_to(Path.cwd())
    return f"{path}:{at.lineno} ({at.line}) " if at.line else f"{path}:{at.lineno} "


@dataclass(frozen=True)
class Row:
    """One check's outcome on one session, and where its time went."""

    check: Check
    outcome: Outcome
    seconds: float                  # the implementation's: waiting for its answers
    harness_seconds: float = 0.0    # the harness's own: the float64 reference, comparisons and diagnoses


class Ledger:
    """Each check's judged outcome per case, run at most once, so that a check reads what those it rests on found.

    A check that failed consults the checks it rests on (``verdict.RESTS_ON``) among ``checks``:
    ones already run are looked up; ones not run in this process yet (pytest-xdist may have sent
    them to another worker) are run here, on the same session, and kept. Run in ``verdict.order``,
    as the CLI does, nothing runs twice; in any order, a check's outcome is the same.
    """

    def __init__(self, checks: Iterable[Check], timeout_s: float = DEFAULT_TIMEOUT_S):
        self.checks = {c.id: c for c in checks}
        self.timeout_s = timeout_s
        self._found: dict[tuple, Row] = {}

    def row(self, check: Check, session: Session) -> Row:
        key = (session.case, check.id)
        if key not in self._found:
            started, waited = time.perf_counter(), session.waited
            outcome = run_check(check, session, self.timeout_s)
            seconds = time.perf_counter() - started
            own = session.waited - waited
            # What it rests on among the checks of this implementation's own network: a two-layer probe says
            # nothing of a DynamicNet, nor one of the network with bias of a plug-in that declares none.
            its_network = [c.id for c in self.checks.values() if applies(c, session.impl, session.device)]
            outcome = judged(check, outcome, lambda dependency: self.row(self.checks[dependency], session).outcome,
                             its_network)
            self._found[key] = Row(check, outcome, own, seconds - own)
        return self._found[key]

    def outcome(self, check: Check, session: Session) -> Outcome:
        return self.row(check, session).outcome


def evaluate(session: Session, checks: Iterable[Check], timeout_s: float = DEFAULT_TIMEOUT_S) -> list[Row]:
    """Every check about the session's network, dependencies first; each failure is recorded and the rest still run."""
    return list(each_row(session, checks, timeout_s))


def each_row(session: Session, checks: Iterable[Check], timeout_s: float = DEFAULT_TIMEOUT_S) -> Iterator[Row]:
    """``evaluate``'s rows, each as its check ends: a caller that has seen what it asks about stops there."""
    about = order(c for c in checks if applies(c, session.impl, session.device))
    ledger = Ledger(about, timeout_s)
    for check in about:
        yield ledger.row(check, session)
