"""The bug catalogue: the suite rejects every known-wrong implementation and names the planted mistake."""

import pytest

from impls.contract import Session

pytest.importorskip("torch", reason="the catalogue is written in numpy, torch and jax")
pytest.importorskip("jax", reason="the catalogue is written in numpy, torch and jax")
from reference.verdict import evaluate  # noqa: E402
from tests.known_wrong import tutorial_mistakes as tm  # noqa: E402
from tests.known_wrong.catalogue import CATALOGUE  # noqa: E402

#: Shapes enough to find every planted mistake: some hide at N <= 64 ("large" finds them) or
#: until N == H ("square"); the other shapes of the suite add time, not findings, here.
SHAPES = ("tutorial", "square", "odd", "large")
MISTAKES = [tm.RebindingUpdate, tm.MinibatchOverwrite, tm.GradW2FromPreactivation, tm.GradsNeverZeroed,
            tm.MSELossMean, *CATALOGUE]


@pytest.mark.parametrize("mistake", MISTAKES, ids=lambda cls: cls.name)
def test_catalogue_mistake_is_rejected_and_diagnosed(mistake):
    # float64, where every mistake in the catalogue is a mistake (float32 work passed off as
    # float64 is the precision class's whole point).
    verdict = evaluate(Session(mistake(), "cpu", "float64"), SHAPES)
    failed = [o for o in verdict.outcomes if not o.passed]
    assert failed, f"{mistake.name} passed every check"
    if mistake.planted:
        assert mistake.planted in verdict.codes(), (
            f"{mistake.name}: planted {mistake.planted!r}, diagnosed {sorted(verdict.codes())}; "
            f"first failure: {failed[0].check}: {failed[0].explanation}")


def test_catalogue_is_large_and_covers_the_classes():
    assert len(MISTAKES) >= 20
    planted = {m.planted for m in MISTAKES} - {None}
    assert {"scale:1/N", "scale:1/2", "scale:1/(N*D_out)", "sign", "transposed", "relu-mask-missing",
            "accumulates", "unchanged", "precision", "update-missing", "lr-mismatch"} <= planted
