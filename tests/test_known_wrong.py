"""The suite can fail: each of the tutorials' own mistakes fails the catalogue check meant for it, in both dtypes."""

import pytest

from impls.numpy_manual import NumpyManual
from reference.checks.catalogue import CHECKS
from reference.checks.run import run_check
from reference.harness.session import Session

torch = pytest.importorskip("torch", reason="the tutorial mistakes are written in torch and numpy")
from tests.known_wrong import tutorial_mistakes as tm  # noqa: E402
from tests.known_wrong.more import DeclaresTheWrongRelu, SumsAcrossSessions  # noqa: E402
from tests.test_tolerance import EmulatedTF32  # noqa: E402

#: Each mistake, and the id of the check that must fail on it.
MISTAKES = {
    tm.RebindingUpdate: "first-step-nobias",
    tm.MinibatchOverwrite: "agreement-tutorial-nobias-step0",
    tm.GradW2FromPreactivation: "agreement-tutorial-nobias-step0",
    tm.GradsNeverZeroed: "agreement-tutorial-nobias-step0",
    tm.MSELossMean: "agreement-tutorial-nobias-step0",
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("mistake", MISTAKES, ids=lambda cls: cls.name)
def test_the_check_meant_for_a_tutorial_mistake_rejects_it(mistake, dtype):
    check = next(c for c in CHECKS if c.id == MISTAKES[mistake])
    outcome = run_check(check, Session(mistake(), "cpu", dtype))
    assert not outcome.passed, f"{mistake.name} passed {check.id} in {dtype}"


@pytest.mark.parametrize("mistake,check_id", [
    (DeclaresTheWrongRelu, "relu-at-zero"),
    (SumsAcrossSessions, "repeatable"),
    (EmulatedTF32, "matmul-precision"),
], ids=lambda value: getattr(value, "name", value))
def test_each_check_beyond_agreement_and_training_rejects_a_mistake_made_for_it(mistake, check_id):
    check = next(c for c in CHECKS if c.id == check_id)
    assert not run_check(check, Session(mistake(), "cpu", "float32")).passed
    assert run_check(check, Session(NumpyManual(), "cpu", "float32")).passed
