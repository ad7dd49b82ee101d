"""The checks for mini-batch training: correct code written other ways passes well inside, every way of
mishandling the rows fails far outside and is named, in both dtypes.

The registered ways (numpy-minibatch, torch-dataloader) go through both drivers with the rest
(tests/test_drivers.py); here two more correct ways, written differently, and one implementation
per diagnosis of reference/checks/batches.py meet the checks meant for them.
"""

import numpy as np
import pytest

pytest.importorskip("torch", reason="the mini-batch ways are written in numpy and torch")
import torch  # noqa: E402

from impls.numpy_manual import NumpyManual  # noqa: E402
from impls.numpy_minibatch import NumpyMinibatch  # noqa: E402
from impls.torch_autograd import TorchAutograd  # noqa: E402
from impls.torch_dataloader import TorchDataLoader  # noqa: E402
from reference.checks import measure  # noqa: E402
from reference.checks.catalogue import CHECKS, agreement_at  # noqa: E402
from reference.checks.run import run_check  # noqa: E402
from reference.harness.session import Session  # noqa: E402
from reference.model.points import inputs_at  # noqa: E402
from reference.problem.optimizers import TRAINING_OPTIMIZERS  # noqa: E402
from reference.problem.cases import LONGEST_CHECK_STEPS, SHAPES, TUTORIAL_STEPS  # noqa: E402
from tests.correct.correct_rows_stream import StreamedBatches  # noqa: E402
from tests.correct.variants import grads_by_hand  # noqa: E402
from tests.known_wrong import minibatch as slips  # noqa: E402


class IteratedEinsum(NumpyManual):
    """Correct, written differently: the batches read by iterating (fancy indexing), products by einsum."""
    name, summary, batching = "correct-minibatch-einsum", "batches iterated, products by einsum", "minibatch"

    def prepare(self, x, y, params, lr, batches):
        state = super().prepare(x, y, params, lr)
        state.batches, state.pending = batches, []
        return state

    def step(self, s):
        if not s.pending:
            s.pending = list(s.batches)
        rows = s.pending.pop(0)
        loss, grads = grads_by_hand(s.x[rows], s.y[rows], **s.params, mm=lambda a, b: np.einsum("ij,jk->ik", a, b))
        s.params = {k: v - s.lr * grads[k] for k, v in s.params.items()}
        return loss


class IndexSelectAutograd(TorchAutograd):
    """Correct, written differently: torch autograd on rows gathered with index_select, whole epochs at once."""
    name, summary, batching = "correct-minibatch-index-select", "torch autograd on index_select batches", "minibatch"

    def prepare(self, x, y, params, lr, batches):
        state = super().prepare(x, y, params, lr)
        state.epoch, state.batches = [], batches
        return state

    def step(self, s):
        if not s.epoch:
            s.epoch = [torch.tensor(rows, device=s.x.device) for rows in s.batches]
        rows = s.epoch.pop(0)
        x_batch, y_batch = s.x.index_select(0, rows), s.y.index_select(0, rows)
        full_x, full_y = s.x, s.y
        s.x, s.y = x_batch, y_batch
        try:
            return super().step(s)
        finally:
            s.x, s.y = full_x, full_y


class PeeksInPrepare(TorchDataLoader):
    """Correct: looks at the first batch in prepare (next(iter(batches))) before building its loader."""
    name, summary = "correct-dataloader-peeks", "a peek at the first batch, then torch-dataloader"

    def prepare(self, x, y, params, lr, batches):
        first = next(iter(batches))
        if len(first) != batches.batch_size:
            raise ValueError(f"the first batch has {len(first)} rows, not {batches.batch_size}")
        return super().prepare(x, y, params, lr, batches)


class ReadsAnEpochInPrepare(TorchDataLoader):
    """Looks at the order in prepare with list(batches): the first epoch, read whole, is used up untrained."""
    name, planted = "wrong-dataloader-epoch-read-in-prepare", "epoch-skipped"

    def prepare(self, x, y, params, lr, batches):
        first_epoch = list(batches)
        if len(first_epoch) != len(batches):
            raise ValueError(f"{len(first_epoch)} batches in the first epoch, not {len(batches)}")
        return super().prepare(x, y, params, lr, batches)


class EveryRow(NumpyMinibatch):
    """Declares mini-batches and trains on every row: the step is numpy-manual's."""
    name, planted = "wrong-minibatch-every-row", "full-batch"

    def step(self, s):
        return NumpyManual.step(self, s)


class OwnFixedOrder(NumpyMinibatch):
    """Slices rows in an order of its own, the same every run (a generator seeded by the implementation)."""
    name, planted = "wrong-minibatch-own-order", "batch-order"

    def prepare(self, x, y, params, lr, batches):
        state = super().prepare(x, y, params, lr, batches)
        state.batches.permutation = lambda: np.random.default_rng(1234).permutation(len(x))
        return state


class ScaledStep(NumpyMinibatch):
    """numpy-minibatch whose step() takes ``lr * factor(s)``: the factor is the mistake."""

    def step(self, s):
        lr = s.lr
        s.lr = lr * self.factor(s)
        try:
            return super().step(s)
        finally:
            s.lr = lr


class SumLossMeanStep(ScaledStep):
    """Reports the batch's sum of squares but steps on the gradient of its mean (over its rows x D_out)."""
    name, planted = "wrong-minibatch-mean-gradient", "mean-reduction"

    def factor(self, s):
        rows_left = len(s.x) - s.start if s.start < len(s.x) else len(s.x)   # a new epoch starts at its first row
        return 1 / (min(s.batches.batch_size, rows_left) * s.y.shape[1])


class UpdateLost(ScaledStep):
    """The weights never move, as with the tutorial's ``w = w - lr * g`` rebinding a loop variable."""
    name, planted = "wrong-minibatch-update-lost", "update-missing"

    def factor(self, s):
        return 0.0


class Diverges(NumpyMinibatch):
    """Right rows, a step so long the loss overflows to inf and then NaN."""
    name, planted = "wrong-minibatch-diverges", "not-finite"

    def prepare(self, x, y, params, lr, batches):
        return super().prepare(x, y, params, 1e6 * lr, batches)


class DoubleLearningRate(NumpyMinibatch):
    """Right rows, right reduction, twice the lr: the update on the batch is what is off."""
    name, planted = "wrong-minibatch-double-lr", "minibatch-update"

    def prepare(self, x, y, params, lr, batches):
        return super().prepare(x, y, params, 2 * lr, batches)


CORRECT = [IteratedEinsum, IndexSelectAutograd, PeeksInPrepare, StreamedBatches]
WRONG = [*slips.MINIBATCH_SLIPS, EveryRow, OwnFixedOrder, SumLossMeanStep, DoubleLearningRate, UpdateLost,
         Diverges, ReadsAnEpochInPrepare]
TRAINING_CHECKS = ("training-nobias", "training-bias", "first-step-nobias", "first-step-bias", "stateful-calls")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("impl", CORRECT, ids=lambda cls: cls.name)
def test_correct_minibatch_code_written_differently_passes_well_inside(impl, dtype):
    session = Session(impl(), "cpu", dtype)
    for check in (c for c in CHECKS if c.id in TRAINING_CHECKS):
        outcome = run_check(check, session)
        assert outcome.passed and outcome.ratio < 0.5, f"{impl.name} {check.id} {dtype}: {outcome.ratio:.3g} " \
                                                      f"{outcome.explanation} {outcome.details[:1]}"


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("impl", WRONG, ids=lambda cls: cls.name)
def test_each_way_of_mishandling_the_rows_fails_training_by_far_and_is_named(impl, dtype):
    outcome = run_check(next(c for c in CHECKS if c.id == "training-bias"), Session(impl(), "cpu", dtype))
    assert not outcome.passed and outcome.ratio > 10, f"{impl.name} {dtype}: ratio {outcome.ratio:.3g}"
    assert outcome.codes == {impl.planted}, f"{impl.name} {dtype}: {outcome.explanation}"


def test_the_slips_are_in_the_public_catalogue():
    from tests.known_wrong.catalogue import MISTAKES
    assert {*slips.MINIBATCH_SLIPS, slips.EpochOutlivesPrepare} <= set(MISTAKES)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_mini_batch_curve_sits_far_inside_its_tolerance(dtype):
    """The training curve's tolerance model (the batch loss's rounding bound, grown like sqrt(t + 1)) is
    wide for correct code: float32 mini-batch SGD against float64 uses under a fifth of it."""
    session = Session(NumpyMinibatch(), "cpu", dtype)
    result = measure.train_and_compare(session, inputs_at("tutorial", True), TRAINING_OPTIMIZERS["sgd"], TUTORIAL_STEPS)
    worst = max(r.comparison.ratio for r in result.curve)
    assert worst < 0.2, worst


@pytest.mark.parametrize("shape", ["square", "batch1", "odd"])
def test_the_verification_before_timing_names_only_what_the_shape_can_show(shape):
    """At N = 48 no batch is short (no last batch to drop) and at N = 1 one batch is every row: the
    diagnosis reads only the cuts that differ from the order there, so a mean-reduced loss is named alone."""
    problem = SHAPES[shape]
    outcome = agreement_at(problem).run(Session(slips.BatchLossMeanReduced(), "cpu", "float64"))
    assert not outcome.passed and outcome.codes == {"mean-reduction"}, outcome.explanation
    assert run_check(agreement_at(problem), Session(NumpyMinibatch(), "cpu", "float32")).passed


def test_the_order_handed_out_covers_every_check_that_steps():
    """The session sends as many epochs as LONGEST_CHECK_STEPS reach into; Batches repeats after them, the
    reference does not, so a check that stepped further would fail correct code."""
    from reference.checks import stateful, two_layer
    assert max(TUTORIAL_STEPS, two_layer.RULE_STEPS, two_layer.SLIP_STEPS, stateful.STEPS) <= LONGEST_CHECK_STEPS


def test_a_step_that_applies_the_rule_to_a_wrong_gradient_is_named_so():
    """MSELoss() with its mean: step() applies SGD to the gradient loss_and_grads() returns, 1/(N*D_out) of the sum's."""
    from tests.known_wrong.tutorial_mistakes import MSELossMean
    outcome = run_check(next(c for c in CHECKS if c.id == "first-step-nobias"), Session(MSELossMean(), "cpu", "float64"))
    assert not outcome.passed and outcome.codes == {"step-gradient"}, outcome.explanation


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_an_epoch_that_outlives_prepare_fails_the_call_sequences_and_is_named(dtype):
    """Its training passes (one prepare, then steps): only a prepare() after a step shows it."""
    session = Session(slips.EpochOutlivesPrepare(), "cpu", dtype)
    assert run_check(next(c for c in CHECKS if c.id == "training-bias"), session).passed
    outcome = run_check(next(c for c in CHECKS if c.id == "stateful-calls"), session)
    assert not outcome.passed and outcome.codes == {slips.EpochOutlivesPrepare.planted}, outcome.explanation
    assert "outlives prepare()" in outcome.explanation
