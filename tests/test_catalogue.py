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
#: The large shape's checks last: most mistakes are named by training or a first step, which would otherwise wait
#: behind four products at 256 x 2048 x 512 that cannot see them (a third of this file's time). A check's place
#: changes no verdict (``score``: later rows only add failures and codes), only how soon the naming comes.
LARGE_LAST = sorted(select(SHAPES), key=lambda check: check.shape == "large")


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
    (found,) = score([mistake], LARGE_LAST, pool=pool, until_named=True)
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
            "shared-layer-one-use", "momentum-paused", "adam-betas", "nesterov", "momentum-dampening",
            "momentum-coefficient", "update-skips-parameter", "first-step-skipped", "clipping"} <= planted
    # Each planted mistake must be named (the test above); those without a class stay under a tenth.
    assert sum(m.planted is not None for m in MISTAKES) >= 0.9 * len(MISTAKES)


def test_every_check_about_call_order_fresh_state_or_the_device_applies_to_every_network_and_batching():
    """The rule ABOUT_CALLS states: a model or batching the contract allows with no such check fails here."""
    pytest.importorskip("hypothesis", reason="stateful-calls needs hypothesis")
    from impls.contract import BATCHINGS, MODELS, Declaration, Implementation
    from reference.checks.catalogue import ABOUT_CALLS, CHECKS, applies

    for model in MODELS:
        for batching in BATCHINGS:
            declared = Declaration("any", "numpy", "", ("cpu", "cuda"), ("float64",), 0.0, batching=batching,
                                   model=model)
            Implementation.validate_declaration(declared)   # a pair the contract allows
            for family in ABOUT_CALLS:
                found = [c for c in CHECKS if c.id == family and any(applies(c, declared, d) for d in ("cpu", "cuda"))]
                assert found, f"{model}, {batching}: no {family} check applies"


def test_the_bias_declaration_leaves_out_the_other_networks_checks_and_says_so_once():
    from impls.numpy_manual import NumpyManual
    from reference.checks.catalogue import CHECKS, agreement_at, applies, left_out
    from reference.problem.inputs import Problem

    class BiasFree(NumpyManual):
        name, bias = "bias-free", False

    kept = [c for c in CHECKS if applies(c, BiasFree(), "cpu")]
    assert kept and not any(c.bias for c in kept) and any(c.bias is False for c in kept)
    assert {c.id for c in CHECKS if applies(c, NumpyManual(), "cpu")} >= {c.id for c in kept}
    assert left_out(CHECKS, NumpyManual()) is None
    line = left_out(CHECKS, BiasFree())
    dropped = [c for c in CHECKS if c.model == "two-layer" and c.bias]
    assert line == (f"bias-free: left out {len(dropped)} checks of the network with bias ({dropped[0].id} ...): "
                    "it declares bias = False")
    # The benchmarks' verification at a biased size is left out alike; a bias-free one stays.
    assert not applies(agreement_at(Problem(bias=True)), BiasFree())
    assert applies(agreement_at(Problem()), BiasFree())


def test_the_cuda_vs_cpu_body_compares_two_sessions_of_one_implementation_on_each_network():
    """Where no cuda is, the body runs on a cpu session against a fresh cpu one: the same code agrees, a result
    that differs from session to session does not (on cuda it is the cuda session against the cpu one)."""
    from impls.numpy_dynamic import NumpyDynamic
    from impls.numpy_manual import NumpyManual
    from reference.checks import dynamic, two_layer
    from reference.harness.session import Session
    from tests.known_wrong.more import SumsAcrossSessions

    assert two_layer.cuda_vs_cpu(Session(NumpyManual(), "cpu", "float64")).passed
    assert dynamic.cuda_vs_cpu(Session(NumpyDynamic(), "cpu", "float32")).passed
    outcome = two_layer.cuda_vs_cpu(Session(SumsAcrossSessions(), "cpu", "float64"))
    assert not outcome.passed and outcome.codes == {"device-disagrees"}, outcome.explanation
