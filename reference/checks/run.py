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
from reference.harness.isolation import CheckTimeout, ChildDied, Raised
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
    """One check's outcome on one session, and how long it took."""

    check: Check
    outcome: Outcome
    seconds: float


def evaluate(session: Session, checks: Iterable[Check], timeout_s: float = DEFAULT_TIMEOUT_S) -> list[Row]:
    """Every check about the session's network, in order; each failure is recorded and the rest still run."""
    return list(each_row(session, checks, timeout_s))


def each_row(session: Session, checks: Iterable[Check], timeout_s: float = DEFAULT_TIMEOUT_S) -> Iterator[Row]:
    """``evaluate``'s rows, each as its check ends: a caller that has seen what it asks about stops there."""
    for check in (c for c in checks if applies(c, session.impl, session.device)):
        started = time.perf_counter()
        outcome = run_check(check, session, timeout_s)
        yield Row(check, outcome, time.perf_counter() - started)
