"""Every check of the catalogue on every selected case: the pytest driver of reference/checks/catalogue.py.

A failure shows the same diagnosis line as ``python -m reference``'s table, then every
failing comparison with its worst entry and ratio.
"""

import pytest

from reference.drivers.pytest_plugin import CHECK_TIMEOUT_S
from reference.checks.run import run_check


def test_check(session, check, record_property):
    record_property("impl", session.impl.name)
    record_property("check", check.id)
    outcome = run_check(check, session, CHECK_TIMEOUT_S)
    if not outcome.passed:
        pytest.fail(f"{session.label} {check.id}: {outcome.explanation}\n" + "\n".join(outcome.details), pytrace=False)
