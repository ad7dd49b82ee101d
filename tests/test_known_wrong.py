"""The suite can fail: every known-wrong implementation is rejected, by the check that should catch it."""

import pytest

from impls.contract import Session
from reference.cases import inputs_at
from reference.checks import agreement, training

torch = pytest.importorskip("torch", reason="the tutorial mistakes are written in torch and numpy")
from tests.known_wrong import tutorial_mistakes as tm  # noqa: E402

#: Each mistake, and the label of a check that must fail on it.
MISTAKES = {
    tm.RebindingUpdate: "first step",
    tm.MinibatchOverwrite: "loss_and_grads()",
    tm.GradW2FromPreactivation: "grad",
    tm.GradsNeverZeroed: "call 2",
    tm.MSELossMean: "call 1 loss()",
}


def failed_checks(session: Session) -> list[str]:
    """Labels and messages of every check the implementation fails, at the tutorial's shape."""
    results = agreement(session, inputs_at("tutorial", False)).results
    run = training(session, inputs_at("tutorial", False), steps=20)
    results += run.curve + run.first_update
    return [r.describe() for r in results if not r.passed]


@pytest.mark.parametrize("mistake", MISTAKES, ids=lambda cls: cls.name)
def test_suite_rejects_known_wrong_implementation(mistake, dtype):
    failures = failed_checks(Session(mistake(), "cpu", dtype))
    expected = MISTAKES[mistake]
    assert any(expected in f for f in failures), (
        f"{mistake.name}: expected a failing '{expected}' check; failures were: {failures[:3]}")
