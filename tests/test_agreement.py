"""Every implementation computes the reference's loss and gradients, within the tolerance model."""

import numpy as np
import pytest

from reference.cases import POINTS, SHAPES, inputs_at
from reference.checks import agreement
from reference.verdict import agreement_outcome


@pytest.mark.parametrize("point", POINTS, ids=lambda p: f"step{p}")
@pytest.mark.parametrize("bias", [False, True], ids=["nobias", "bias"])
@pytest.mark.parametrize("shape", SHAPES)
def test_loss_and_gradients_agree(session, shape, bias, point):
    inputs = inputs_at(shape, bias, point)
    run = agreement(session, inputs)
    if not run.passed:
        diagnosis = agreement_outcome(f"{shape}", run, inputs, session.precision).explanation
        pytest.fail(f"{session.label}: probably {diagnosis}\n" + "\n".join(run.failures()))


def test_outputs_have_the_requested_dtype(session):
    # Session raises when a loss, gradient or parameter comes back in another dtype; this makes
    # the check explicit for the case that motivates it (jax computing float64 in float32).
    inputs = inputs_at("odd", True)
    state = session.prepare(inputs)
    with session.scope():
        value, grads = session.impl.loss_and_grads(state)
        dtypes = {session.backend.dtype_name(a) for a in [value, *grads.values()]}
    assert dtypes == {session.dtype}, f"{session.label} returned dtypes {dtypes}"


def test_preparing_does_not_change_the_callers_arrays(session):
    inputs = inputs_at("odd", True)
    before = {k: v.copy() for k, v in inputs.params.items()}
    state = session.prepare(inputs, lr=1e-3)
    session.step(state)
    for name, array in inputs.params.items():
        np.testing.assert_array_equal(array, before[name], err_msg=f"{session.label} changed input {name}")
