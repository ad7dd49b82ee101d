"""Consistency across devices and runs: cuda against cpu for the same implementation, and repeats."""

import numpy as np
import pytest

import impls
from impls.contract import Session, UnsupportedCase
from reference import model
from reference.cases import inputs_at
from reference.tolerance import compare


def outputs(session, inputs):
    value, grads = session.loss_and_grads(session.prepare(inputs), tuple(inputs.params))
    return {"loss": value, **grads}


def test_cuda_agrees_with_cpu(impl_name, dtype, mode):
    try:
        cuda = Session(impls.load(impl_name), "cuda", dtype, mode)
        cpu = Session(impls.load(impl_name), "cpu", dtype)
    except UnsupportedCase as reason:
        pytest.skip(str(reason))
    inputs = inputs_at("tutorial", True)
    scales = model.error_scales(inputs.x, inputs.y, inputs.params)
    on_cuda, on_cpu = outputs(cuda, inputs), outputs(cpu, inputs)
    for name, value in on_cuda.items():
        # Each is within one tolerance of the reference, so within two of each other.
        result = compare(name, value, on_cpu[name], 2 * np.asarray(scales[name]), inputs.problem, cuda.precision)
        assert result.passed, result.describe(f"{impl_name} cuda vs cpu")


def test_repeated_runs_agree(session, record_property):
    inputs = inputs_at("odd", True)
    runs = [outputs(session, inputs) for _ in range(3)]
    identical = all(np.array_equal(run[k], runs[0][k]) for run in runs for k in run)
    record_property("bitwise_repeatable", identical)
    scales = model.error_scales(inputs.x, inputs.y, inputs.params)
    for run in runs[1:]:
        for name, value in run.items():
            result = compare(name, value, runs[0][name], 2 * np.asarray(scales[name]), inputs.problem, session.precision)
            assert result.passed, result.describe(f"{session.label} repeat")
