"""Benchmarks: every implementation x device x dtype x size x phase, through the same contract as the tests.

Run by ``python -m bench`` (the main job); the plain test run does not collect this folder.
Set-up and conversion happen before the timed region; the timed callable ends with the
device synchronized; warm-up is on; the first call (jit compilation, torch.compile, first
BLAS call) is timed on its own and recorded beside the steady-state figures.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from bench.schema import CaseInfo, GemmInfo
from bench.sizes import PHASES, PRESETS, flops, matmuls
from impls.backends import BACKENDS, DEVICES, DTYPES
from impls.threads import thread_count
from reference.problem.cases import TUTORIAL_LR
from reference.problem.inputs import draw

pytestmark = pytest.mark.bench
#: latency: every call synchronized; throughput: calls queued, one synchronization per round.
TIMINGS = ("latency", "throughput")


def pytest_generate_tests(metafunc):
    if "problem" in metafunc.fixturenames:
        sizes = PRESETS[metafunc.config.getoption("preset")]
        metafunc.parametrize("problem", sizes, ids=[p.id for p in sizes])


def phase_call(session, state, phase: str, synchronized: bool = True):
    """The callable to time: one phase on the prepared state, ending with the device synchronized."""
    impl, sync, device = session.impl, session.backend.sync, session.device
    method = {"forward": impl.loss, "grads": impl.loss_and_grads, "step": impl.step}[phase]
    return (lambda: sync(method(state), device)) if synchronized else (lambda: method(state))


def first_call_seconds(call) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


#: Calls queued per timed round in throughput mode, with one synchronization at the end.
QUEUED_CALLS = 20


@pytest.mark.parametrize("timing", TIMINGS)
@pytest.mark.parametrize("phase", PHASES)
def test_phase(benchmark, session, problem, phase, timing):
    """One phase, timed per call (latency: each call synchronized) or per queue (throughput)."""
    inputs = draw(problem)
    state = session.link.state(session.prepare(inputs, TUTORIAL_LR))
    call = phase_call(session, state, phase)
    if timing == "throughput":
        if session.backend.sync_policy(session.device).startswith("none"):
            pytest.skip(f"{session.impl.name} on {session.device} runs synchronously: throughput = latency")
        method = phase_call(session, state, phase, synchronized=False)
        timed = lambda: session.backend.sync([method() for _ in range(QUEUED_CALLS)], session.device)  # noqa: E731
    else:
        timed = call
    benchmark.group = f"{session.device} {session.dtype} {session.mode} {problem.id} {phase} {timing}"
    with session.scope():
        first_call_s = first_call_seconds(call)
        benchmark(timed)
        device_measures = {} if timing != "latency" else dict(
            device_time_s=session.backend.device_seconds(call, session.device),
            peak_memory_bytes=session.backend.peak_memory_bytes(call, session.device),
            kernels_per_call=session.backend.kernels_per_call(call, session.device))
    benchmark.extra_info.update(CaseInfo(
        impl=session.impl.name, summary=session.impl.summary, framework=session.impl.backend,
        eager_by_design=session.impl.eager_by_design,
        device=session.device, dtype=session.dtype, mode=session.mode, N=problem.N, D_in=problem.D_in, H=problem.H,
        D_out=problem.D_out, bias=problem.bias, phase=phase, timing=timing,
        calls_per_round=QUEUED_CALLS if timing == "throughput" else 1, sync=session.backend.sync_policy(session.device),
        threads=thread_count(), flops=flops(problem, phase), first_call_s=first_call_s, **device_measures).extra_info())


def _library_arrays(library: str, device: str, dtype: str, *shapes: tuple[int, int]):
    backend = BACKENDS[library]
    reason = backend.missing_reason() or backend.device_missing_reason(device)
    if reason:
        pytest.skip(reason)
    rng = np.random.default_rng(0)
    return backend, [backend.from_numpy(rng.standard_normal(shape), device, dtype) for shape in shapes]


@pytest.mark.parametrize("product", [name for name, *_ in matmuls(PRESETS["default"][0], "step")])
@pytest.mark.parametrize("library", ["numpy", "torch"])
@pytest.mark.parametrize("dtype_name", DTYPES)
@pytest.mark.parametrize("device_name", DEVICES)
def test_gemm(benchmark, problem, product, library, dtype_name, device_name):
    """One matrix product of the step, timed alone; the report sums the fastest library's into the GEMM floor."""
    _, m, k, n = next(p for p in matmuls(problem, "step") if p[0] == product)
    # Operands laid out as in the step: "x.T" is a transposed view of x (N, D_in), not a copy.
    left, right = product.split("@")
    backend, (a, b) = _library_arrays(library, device_name, dtype_name,
                                      (k, m) if left.endswith(".T") else (m, k),
                                      (n, k) if right.endswith(".T") else (k, n))
    a, b = (a.T if left.endswith(".T") else a), (b.T if right.endswith(".T") else b)
    benchmark.group = f"gemm {device_name} {dtype_name} {problem.id}"
    benchmark.extra_info.update(GemmInfo(
        library=library, device=device_name, dtype=dtype_name, N=problem.N, D_in=problem.D_in, H=problem.H,
        D_out=problem.D_out, product=product, flops=2 * m * k * n, sync=backend.sync_policy(device_name)).extra_info())
    benchmark(lambda: backend.sync(a @ b, device_name))
