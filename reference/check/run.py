"""Running checks: an exception or a hang inside the implementation is a failed check, not a crash.

Both drivers call ``run_check``, so a check fails with the same one-line reason in the CLI's
table and in pytest.
"""

from __future__ import annotations

import contextlib
import signal
import time
import traceback
from dataclasses import dataclass
from typing import Iterable, Iterator

from reference.check.catalogue import Check, Outcome
from reference.check.diagnose import Diagnosis
from reference.check.session import Session

DEFAULT_TIMEOUT_S = 120.0


class CheckTimeout(Exception):
    pass


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Interrupt the block after ``seconds`` (Unix main thread; elsewhere, no limit)."""
    if seconds <= 0 or not hasattr(signal, "setitimer"):
        yield
        return

    def interrupt(signum, frame):
        raise CheckTimeout(f"no result after {seconds:g} s")
    try:
        previous = signal.signal(signal.SIGALRM, interrupt)
    except ValueError:  # not the main thread
        yield
        return
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_check(check: Check, session: Session, timeout_s: float = DEFAULT_TIMEOUT_S) -> Outcome:
    """``check.run(session)``; an exception or running past ``timeout_s`` becomes a failed outcome naming it."""
    try:
        with time_limit(timeout_s):
            return check.run(session)
    except CheckTimeout as stop:
        return Outcome(False, diagnoses=(Diagnosis("timeout", f"timed out: {stop}"),))
    except Exception as error:  # noqa: BLE001 (the implementation's own failure is the finding)
        message = str(error).strip().splitlines()[0] if str(error).strip() else ""
        return Outcome(False, diagnoses=(Diagnosis("error", f"raised {type(error).__name__}: {message}"),),
                       details=(traceback.format_exc(),))


@dataclass(frozen=True)
class Row:
    """One check's outcome on one session, and how long it took."""

    check: Check
    outcome: Outcome
    seconds: float


def evaluate(session: Session, checks: Iterable[Check], timeout_s: float = DEFAULT_TIMEOUT_S) -> list[Row]:
    """Every check in order on one session; each failure is recorded and the rest still run."""
    rows = []
    for check in checks:
        started = time.perf_counter()
        outcome = run_check(check, session, timeout_s)
        rows.append(Row(check, outcome, time.perf_counter() - started))
    return rows
