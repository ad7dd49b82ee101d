"""Training: the tutorial's 500 steps of gradient descent at lr = 1e-6 follow the reference's path."""

import pytest

from reference.cases import inputs_at
from reference.checks import training


@pytest.mark.parametrize("bias", [False, True], ids=["nobias", "bias"])
def test_training_curve_follows_the_reference(session, bias):
    run = training(session, inputs_at("tutorial", bias))
    failures = [r.describe() for r in run.curve if not r.passed]
    assert not failures, f"{len(failures)} of {len(run.curve)} steps off the reference curve; first: {failures[0]}"
    assert run.losses[-1] < run.losses[0], f"{session.label}: loss went from {run.losses[0]:.4g} to {run.losses[-1]:.4g}"


@pytest.mark.parametrize("bias", [False, True], ids=["nobias", "bias"])
def test_first_step_applies_its_own_gradient(session, bias):
    run = training(session, inputs_at("odd", bias), lr=1e-3, steps=1)
    failures = [r.describe() for r in run.first_update if not r.passed]
    assert not failures, "\n".join(failures)
