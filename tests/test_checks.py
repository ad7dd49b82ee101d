"""Every check of the catalogue on every selected case: the pytest driver of reference/checks/catalogue.py.

A failure's message (pytest's short summary reason) is the same diagnosis line as
``python -m reference``'s table; a section under it lists every failing comparison, worst first.
The ledger judges a check against those it rests on; the plugin reads the recorded diagnoses
for its closing section, the most likely cause of each case's failures.
"""

import pytest


def test_check(session, check, ledger, record_property, request):
    record_property("impl", session.impl.name)
    record_property("check", check.id)
    record_property("case", session.label)
    outcome = ledger.outcome(check, session)
    record_property("diagnoses", [(d.code, d.text) for d in outcome.diagnoses])
    if not outcome.passed:
        if outcome.details:
            request.node.add_report_section("call", "failing comparisons, worst first", "\n".join(outcome.details))
        pytest.fail(outcome.explanation, pytrace=False)
