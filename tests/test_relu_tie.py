"""relu at exactly 0: each implementation's subgradient there is measured and matches what it declares."""

import numpy as np
import pytest

from reference.checks import relu_grad_at_zero, tie_inputs


def test_tie_inputs_really_sit_on_the_kink():
    inputs = tie_inputs(bias=True)
    h = inputs.x @ inputs.params["w1"] + inputs.params["b1"]
    assert np.all(h[:, 0] == 0.0)


@pytest.mark.parametrize("bias", [False, True], ids=["nobias", "bias"])
def test_relu_subgradient_at_zero_is_the_declared_one(session, bias):
    measured = relu_grad_at_zero(session, bias)
    declared = session.impl.relu_grad_at_zero
    assert measured == pytest.approx(declared, abs=1e-6), (
        f"{session.label}: relu'(0) measured {measured:.6g}, declared {declared}")
