"""The suite can fail, and says why: each tutorial mistake fails the check meant for it, in both dtypes; a check resting
on a failed one names that finding; each public mistake's most likely cause is the one planted."""

import importlib.util

import pytest

from impls.numpy_manual import NumpyManual
from reference.checks.catalogue import CHECKS, select
from reference.checks.check import Outcome
from reference.checks.diagnose import Diagnosis
from reference.checks.run import Ledger, evaluate, run_check
from reference.checks.verdict import NAMES_NO_CAUSE, RESTS_ON, family, order, root_cause
from reference.drivers.score import score
from reference.harness.isolation import Pool
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


def test_a_check_resting_on_a_failed_one_is_not_judged_in_any_order():
    """A mean-reduced loss fails the precision probe too; the probe rests on the loss, so it names the loss, not TF32."""
    agreement, probe = (next(c for c in CHECKS if c.id == i) for i in ("agreement-odd-nobias-step0", "matmul-precision"))
    alone = run_check(probe, Session(tm.MSELossMean(), "cpu", "float64"))
    assert not alone.passed and alone.codes == {"precision-mode"}  # what the probe alone would accuse
    assert order([probe, agreement]) == [agreement, probe]
    rows = evaluate(Session(tm.MSELossMean(), "cpu", "float64"), [probe, agreement])
    assert [row.check for row in rows] == [agreement, probe]
    judged = rows[1].outcome
    assert not judged.passed and judged.codes == {"not-judged", tm.MSELossMean.planted}, judged.explanation
    assert judged.explanation.startswith("not judged, as agreement-odd-nobias-step0 failed: loss, w1, w2: off by a "
                                         "constant factor 1/(N*D_out)"), judged.explanation
    # Asked first (pytest may run it first, or on another worker), the probe runs its dependency once, and agrees.
    session = Session(tm.MSELossMean(), "cpu", "float64")
    ledger = Ledger([probe, agreement])
    assert ledger.outcome(probe, session) == judged
    assert ledger.row(agreement, session) is ledger.row(agreement, session)
    cause = root_cause({row.check.id: row.outcome for row in rows})
    assert (cause.code, cause.explained, cause.unexplained) == (tm.MSELossMean.planted, (agreement.id, probe.id), ())


def test_the_call_sequences_on_a_dynamic_net_rest_on_its_own_networks_checks_never_on_the_two_layer_ones():
    """A DynamicNet whose shared layer counts one use: the sequences fail because the gradients do, and say so
    (not "call order"); the two-layer checks in the ledger are never run on it."""
    pytest.importorskip("hypothesis", reason="stateful-calls needs hypothesis")
    from tests.known_wrong.dynamic import SharedLayerOneUse

    by_id = {c.id: c for c in CHECKS}
    checks = [by_id[i] for i in ("agreement-odd-nobias-step0", "agreement-odd-bias-step0", "stateful-calls",
                                 *(f"dynamic-agreement-odd-depth{d}" for d in range(4)))]
    session = Session(SharedLayerOneUse(), "cpu", "float64")
    ledger = Ledger(checks)
    outcome = ledger.outcome(by_id["stateful-calls"], session)
    assert not outcome.passed and "not-judged" in outcome.codes and "call-order" not in outcome.codes, \
        outcome.explanation
    assert outcome.explanation.startswith("not judged, as dynamic-agreement-odd-depth"), outcome.explanation
    ran = {check_id for (_, check_id) in ledger._found}
    assert not ran & {"agreement-odd-nobias-step0", "agreement-odd-bias-step0"}, ran


def test_the_root_cause_is_the_diagnosis_that_explains_most_and_names_what_it_leaves():
    scale = Diagnosis("scale:1/2", "w1: off by a constant factor 1/2")
    unknown, one_param = Diagnosis("unknown", "w1 disagrees in no pattern"), Diagnosis("one-param", "w2 right, w1 wrong")
    outcomes = {"agreement-odd-nobias-step0": Outcome(False, diagnoses=(scale, one_param)),
                "agreement-batch1-nobias-step0": Outcome(False, diagnoses=(unknown, one_param)),
                "relu-at-zero": Outcome(True),
                "repeatable": Outcome(False, diagnoses=(Diagnosis("not-repeatable", "fresh sessions differ"),))}
    cause = root_cause(outcomes)
    assert cause.code == "scale:1/2" and cause.text == scale.text
    # The batch1 row names no cause of its own: its family's cause explains it; repeatable is a second bug.
    assert cause.explained == ("agreement-odd-nobias-step0", "agreement-batch1-nobias-step0")
    assert cause.unexplained == ("repeatable",)
    assert cause.line.endswith("(explains 2 of 3 failing checks; 1 not explained by it)")
    assert root_cause({"repeatable": Outcome(True)}) is None
    assert family("agreement-batch1-nobias-step25") == "agreement" and family("dynamic-agreement-odd-depth2") == \
        "dynamic-agreement" and family("first-step-bias") == "first-step" and family("relu-at-zero") == "relu-at-zero"


def test_every_dependency_names_checks_of_the_catalogue():
    ids = {c.id for c in CHECKS}
    assert set(RESTS_ON) <= ids | {"stateful-calls"}  # listed only where hypothesis is installed
    assert {a for entries in RESTS_ON.values() for alternatives in entries for a in alternatives} <= ids
    assert order(CHECKS) != CHECKS and sorted(c.id for c in order(CHECKS)) == sorted(ids)


def planted_mistakes() -> list:
    """The public mistakes with a class planted (tests/known_wrong/catalogue.py); none without jax and optax."""
    if not (importlib.util.find_spec("jax") and importlib.util.find_spec("optax")):
        return []
    from tests.known_wrong.catalogue import MISTAKES
    return [m for m in MISTAKES if m.planted]


@pytest.fixture(scope="module")
def pool():
    pool = Pool()
    yield pool
    pool.close()


@pytest.mark.slow
@pytest.mark.parametrize("mistake", planted_mistakes(), ids=lambda cls: cls.name)
def test_each_public_mistakes_most_likely_cause_is_the_planted_one_and_no_row_names_another(mistake, pool):
    """Every check at the shapes that find every mistake (tests/test_catalogue.py's), in the score's dtype."""
    (found,) = score([mistake], select(("tutorial", "square", "odd", "large")), pool=pool)
    assert found.cause.code == mistake.planted, found.cause.line
    misleading = [(row.check.id, row.outcome.explanation) for row in found.rows
                  if not row.outcome.passed and row.outcome.codes - NAMES_NO_CAUSE - {mistake.planted}]
    assert not misleading and not found.other_causes, misleading
