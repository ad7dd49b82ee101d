"""The bug catalogue: every known-wrong implementation is rejected and its planted mistake named."""

import pytest

pytest.importorskip("torch", reason="the catalogue is written in numpy, torch and jax")
pytest.importorskip("jax", reason="the catalogue is written in numpy, torch and jax")
pytest.importorskip("optax", reason="the catalogue's Adam slips include optax's")
from reference.checks.catalogue import select  # noqa: E402
from reference.harness.isolation import Pool  # noqa: E402
from reference.drivers.score import score  # noqa: E402
from tests.known_wrong.catalogue import MISTAKES  # noqa: E402

#: Shapes enough to find every planted mistake: some hide at N <= 64 ("large" finds them) or
#: until N == H ("square"); the other shapes of the suite add time, not findings, here.
SHAPES = ("tutorial", "square", "odd", "large")


@pytest.fixture(scope="module")
def pool():
    """One child process per worker serves every mistake (they share a module)."""
    pool = Pool()
    yield pool
    pool.close()


@pytest.mark.parametrize("mistake", MISTAKES, ids=lambda cls: cls.name)
def test_catalogue_mistake_is_rejected_and_named(mistake, pool):
    # float64, where every mistake in the catalogue is a mistake (float32 work passed off as
    # float64 is the precision class's whole point).
    (found,) = score([mistake], select(SHAPES), pool=pool, until_named=True)
    assert found.rejected, f"{mistake.name} passed every check"
    if found.planted:
        first = next(row for row in found.rows if not row.outcome.passed)
        assert found.named, (f"{mistake.name}: planted {found.planted!r}, diagnosed {sorted(found.codes)}; "
                             f"first failure: {first.check.id}: {first.outcome.explanation}")


def test_catalogue_is_large_and_covers_the_classes():
    assert len(MISTAKES) >= 40
    planted = {m.planted for m in MISTAKES} - {None}
    assert {"scale:1/N", "scale:1/2", "scale:1/(N*D_out)", "sign", "transposed", "relu-mask-missing",
            "accumulates", "unchanged", "precision", "update-missing", "lr-mismatch", "crash", "call-order",
            "weight-decay", "lr-float32", "contract", "not-repeatable", "relu-declaration", "momentum",
            "schedule", "adam-bias-correction", "adam-eps-inside", "adam-betas-swapped", "adam-state-not-carried",
            "momentum-not-carried", "last-batch-dropped", "unseeded-shuffle", "mean-reduction",
            "shared-layer-one-use", "momentum-paused"} <= planted
    # Each planted mistake must be named (the test above); those without a class stay under a tenth.
    assert sum(m.planted is not None for m in MISTAKES) >= 0.9 * len(MISTAKES)
