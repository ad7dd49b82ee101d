"""The checks for Adam and momentum: the slips fail far outside the tolerance and are named, in both dtypes.

Correct code written three ways (numpy by hand, torch.optim, optax) passes every check through
the drivers (tests/test_drivers.py runs every registered implementation); here each slip of
tests/known_wrong/optimizers.py meets the check meant for it. Measured over the whole catalogue:
the correct ways' worst error/tolerance is 0.30 (numpy-momentum's first step, float32); the
slips' least is 4.1 (Adam's state dropped, training in float32; betas swapped 4.8), most are far
above 10.
"""

import pytest

pytest.importorskip("torch", reason="the slips are written in numpy, torch and jax")
pytest.importorskip("optax", reason="the slips are written in numpy, torch and jax")
from reference.checks.catalogue import CHECKS  # noqa: E402
from reference.checks.run import run_check  # noqa: E402
from reference.harness.session import Session  # noqa: E402
from impls.numpy_adam import NumpyAdam  # noqa: E402
from reference.model.tolerance import compare, tolerance  # noqa: E402
from reference.problem.inputs import Problem  # noqa: E402
from reference.checks.catalogue import applies  # noqa: E402
from tests.correct.optimizers import CORRECT_OPTIMIZERS  # noqa: E402
from tests.known_wrong import more, optimizers as slips  # noqa: E402

#: Each slip and the checks that must fail on it, naming it.
MEANT_FOR = {
    slips.AdamWithoutBiasCorrection: ("first-step-nobias", "training-nobias"),
    slips.AdamEpsInsideRoot: ("first-step-bias",),
    slips.AdamBetasSwapped: ("training-bias",),
    slips.MomentumOptimizerPerStep: ("training-nobias",),
    slips.JaxAdamStateDropped: ("training-nobias",),
    slips.AdamOtherBetas: ("training-bias",),
    slips.OptaxAdamEpsRoot: ("first-step-nobias",),
    slips.NesterovMomentum: ("training-nobias",),
    slips.MomentumWithDampening: ("training-bias",),
    slips.OtherMomentumCoefficient: ("training-nobias",),
    slips.MomentumOnTheFirstLayer: ("first-step-nobias", "training-bias"),
    slips.AdamMadeAtTheFirstStep: ("training-nobias",),
    more.UpdatesTheFirstLayerOnly: ("first-step-bias", "training-nobias"),
    more.SkipsTheFirstStep: ("training-bias",),
    more.ClippedGradients: ("first-step-nobias",),
}
#: Slips float32 cannot see: over Adam's 500 steps its tolerance covers betas (0.8, 0.999) (training passes).
FLOAT64_ONLY = {slips.AdamOtherBetas}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("slip", MEANT_FOR, ids=lambda cls: cls.name)
def test_each_optimizer_slip_fails_its_check_by_far_and_is_named(slip, dtype):
    if dtype == "float32" and slip in FLOAT64_ONLY:
        pytest.skip("float32's tolerance covers this slip")
    session = Session(slip(), "cpu", dtype)
    for check in (c for c in CHECKS if c.id in MEANT_FOR[slip]):
        outcome = run_check(check, session)
        assert not outcome.passed and outcome.ratio > 3, f"{slip.name} {check.id} {dtype}: ratio {outcome.ratio:.3g}"
        assert slip.planted in outcome.codes, f"{slip.name} {check.id} {dtype}: {outcome.explanation}"


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("correct", CORRECT_OPTIMIZERS, ids=lambda cls: cls.name)
def test_adam_and_momentum_written_other_ways_pass_the_training_checks_well_inside(correct, dtype):
    session = Session(correct(), "cpu", dtype)
    meant = [c for c in CHECKS if c.id.startswith(("training-", "first-step-")) and applies(c, correct(), "cpu")]
    assert len(meant) == 4
    for check in meant:
        outcome = run_check(check, session)
        assert outcome.passed and outcome.ratio < 0.5, f"{correct.name} {check.id} {dtype}: {outcome.explanation}"


def test_the_slips_are_in_the_public_catalogue():
    from tests.known_wrong.catalogue import MISTAKES
    assert set(slips.OPTIMIZER_SLIPS) <= set(MISTAKES)


class AdamStaleGradients(NumpyAdam):
    """numpy-adam whose loss_and_grads() keeps returning the first gradients it computed."""
    name = "adam-stale-gradients"

    def loss_and_grads(self, s):
        if not hasattr(s, "first"):
            s.first = super().loss_and_grads(s)
        return s.first


def test_the_kink_allowance_after_adam_training_still_leaves_stale_gradients_failing():
    # Adam trains hidden units onto the kink, and those entries' gradient shares are allowed;
    # gradients from the start are still far outside what that allows.
    training = next(c for c in CHECKS if c.id == "training-nobias")
    outcome = run_check(training, Session(AdamStaleGradients(), "cpu", "float32"))
    assert not outcome.passed and outcome.ratio > 10, outcome.ratio


def test_an_allowance_is_subtracted_before_the_error_is_judged():
    problem = Problem(N=2, D_in=3, H=2, D_out=1)
    tol = float(tolerance(problem, "update", "float64", 1.0))
    inside = compare("w1", 1.0 + 5 * tol, 1.0, 1.0, problem, "float64", kind="update", slack=5 * tol)
    beyond = compare("w1", 1.0 + 7 * tol, 1.0, 1.0, problem, "float64", kind="update", slack=5 * tol)
    assert inside.passed and inside.ratio == 0.0
    assert not beyond.passed and beyond.ratio == pytest.approx(2.0, rel=1e-6) and beyond.allowance == 5 * tol
    assert "beyond an allowance" in beyond.describe("w1")
