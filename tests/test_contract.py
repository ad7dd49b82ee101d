"""What an implementation may return, and the one-line message for what it may not.

Gradients and parameters: a mapping by name, or a sequence in the documented order (what
``torch.autograd.grad``, keras and ``jax.grad(argnums=...)`` give). The loss: a framework array
or 0-d array in the asked dtype, or a Python number whose value that dtype holds exactly.
"""

import numpy as np
import pytest

from impls.contract import ContractViolation
from impls.numpy_manual import NumpyManual, forward
from reference.check.catalogue import CHECKS
from reference.check.run import run_check
from reference.check.session import Session
from reference.model.points import inputs_at

AGREEMENT = next(c for c in CHECKS if c.id == "agreement-odd-bias-step0")
TRAINING = next(c for c in CHECKS if c.id == "training-bias")


class GradsAsList(NumpyManual):
    name = "grads-as-list"

    def loss_and_grads(self, s):
        loss, grads = super().loss_and_grads(s)
        return loss, [grads[k] for k in ("w1", "w2", "b1", "b2") if k in grads]


class GradsAsTupleMissingOne(GradsAsList):
    name = "grads-as-short-tuple"

    def loss_and_grads(self, s):
        loss, grads = super().loss_and_grads(s)
        return loss, tuple(grads[:-1])


class GradsAsSet(NumpyManual):
    name = "grads-as-set"

    def loss_and_grads(self, s):
        loss, grads = super().loss_and_grads(s)
        return loss, set(grads)


class ParametersAsTuple(NumpyManual):
    name = "parameters-as-tuple"

    def parameters(self, s):
        return tuple(s.params[k] for k in ("w1", "w2", "b1", "b2") if k in s.params)


class LossAsPythonFloat(NumpyManual):
    """``.item()`` on the loss: a Python float holding the float32 value exactly."""

    name = "loss-as-python-float"

    def loss_and_grads(self, s):
        loss, grads = super().loss_and_grads(s)
        return loss.item(), grads


class LossInMorePrecision(NumpyManual):
    """A float32 run whose loss is summed in float64 and handed back as a Python float."""

    name = "loss-in-more-precision"

    def loss_and_grads(self, s):
        _, grads = super().loss_and_grads(s)
        y_pred = forward(s.x.astype(np.float64), **{k: v.astype(np.float64) for k, v in s.params.items()})[2]
        return float(np.square(y_pred - s.y).sum()), grads


class ReturnsATorchTensor(NumpyManual):
    """Declares numpy, returns a torch tensor: the harness would convert it as a numpy array."""

    name = "returns-a-torch-tensor"

    def loss(self, s):
        torch = pytest.importorskip("torch")
        return torch.tensor(super().loss(s))


def outcome(impl, check=AGREEMENT, dtype="float32"):
    return run_check(check, Session(impl, "cpu", dtype))


@pytest.mark.parametrize("impl", [GradsAsList(), ParametersAsTuple(), LossAsPythonFloat()], ids=lambda i: i.name)
def test_sequences_in_the_documented_order_and_exact_python_losses_are_accepted(impl):
    for check in (AGREEMENT, TRAINING):
        found = outcome(impl, check)
        assert found.passed, found.explanation


@pytest.mark.parametrize("impl,message", [
    (GradsAsTupleMissingOne(), "loss_and_grads() returned 3 gradients in a tuple; expected 4, in the order w1, w2, "
                               "b1, b2, or a mapping from those names"),
    (GradsAsSet(), "loss_and_grads() returned a set for the gradients; expected a mapping from w1, w2, b1, b2 to "
                   "arrays, or a sequence in that order"),
    (LossInMorePrecision(), "returned loss as a Python float "),
    (ReturnsATorchTensor(), "returned loss as a torch.Tensor, not a numpy array (backend 'numpy' is declared)"),
], ids=lambda v: getattr(v, "name", ""))
def test_what_the_contract_does_not_allow_gets_one_line_naming_it(impl, message):
    found = outcome(impl)
    assert not found.passed and found.codes == {"contract"}, found
    assert message in found.explanation and "\n" not in found.explanation, found.explanation
    if isinstance(impl, LossInMorePrecision):
        assert found.explanation.endswith("which is not a float32 value"), found.explanation


def test_a_python_float_loss_is_judged_as_its_value_in_float64():
    assert outcome(LossInMorePrecision(), dtype="float64").passed  # every Python float is a float64 value


def test_a_contract_violation_is_raised_by_the_session_itself():
    session = Session(GradsAsSet(), "cpu", "float64")
    inputs = inputs_at("odd", False)
    with pytest.raises(ContractViolation, match=r"^grads-as-set \[cpu, float64\]: loss_and_grads\(\) returned a set"):
        session.loss_and_grads(session.prepare(inputs), tuple(inputs.params))
