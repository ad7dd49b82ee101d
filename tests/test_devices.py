"""cuda against cpu for the same implementation: each within one tolerance of the reference, so within two of each other."""

import numpy as np
import pytest

from impls.contract import UnsupportedCase
from reference.harness.selection import kept
from reference.harness.session import Session
from reference.model import network
from reference.model.points import inputs_at
from reference.model.tolerance import compare


def outputs(session, inputs):
    value, grads = session.loss_and_grads(session.prepare(inputs), tuple(inputs.params))
    return {"loss": value, **grads}


def test_cuda_agrees_with_cpu(request, cuda_case):
    case = cuda_case
    impl = kept(request.config).implementation(case.impl)
    try:
        cuda, cpu = Session(impl, "cuda", case.dtype, case.mode), Session(impl, "cpu", case.dtype)
    except UnsupportedCase as reason:
        pytest.skip(str(reason))
    inputs = inputs_at("tutorial", True)
    _, _, scales = network.reference_at(inputs)
    on_cuda, on_cpu = outputs(cuda, inputs), outputs(cpu, inputs)
    for name, value in on_cuda.items():
        result = compare(name, value, on_cpu[name], 2 * np.asarray(scales[name]), inputs.problem, cuda.precision)
        assert result.passed, result.describe(f"{case.impl} cuda vs cpu")
