"""What the measurements are measured against: the machine's matmul peak, the harness's own
overhead, and the same case timed twice (A/A) to show how repeatable a median is."""

from __future__ import annotations

import pytest

import impls
from bench.schema import AAInfo, LaunchInfo, OverheadInfo, PeakInfo
from bench.test_bench import _library_arrays, phase_call
from impls.backends import DEVICES, DTYPES
from impls.contract import UnsupportedCase
from reference.check.session import Session
from reference.problem.cases import TUTORIAL_LR
from reference.problem.inputs import Problem, draw

pytestmark = pytest.mark.bench
PEAK_SIZE = 2048
AA_CANDIDATES = ("torch-autograd", "jax-grad", "numpy-manual")


@pytest.mark.parametrize("library", ["numpy", "torch"])
@pytest.mark.parametrize("dtype_name", DTYPES)
@pytest.mark.parametrize("device_name", DEVICES)
def test_peak(benchmark, library, dtype_name, device_name):
    """A large square product, timed like every case: the measured peak GFLOP/s of the device."""
    n = PEAK_SIZE
    backend, (a, b) = _library_arrays(library, device_name, dtype_name, (n, n), (n, n))
    benchmark.group = f"peak {device_name} {dtype_name}"
    benchmark.extra_info.update(PeakInfo(library=library, device=device_name, dtype=dtype_name, n=n, flops=2 * n**3,
                                         sync=backend.sync_policy(device_name)).extra_info())
    benchmark(lambda: backend.sync(a @ b, device_name))


def test_harness_overhead(benchmark):
    """An empty callable: what the timing loop itself adds to every measurement."""
    benchmark.group = "overhead"
    benchmark.extra_info.update(OverheadInfo().extra_info())
    benchmark(lambda: None)


def _aa_session() -> Session:
    for name in AA_CANDIDATES:
        try:
            return Session(impls.load(name), "cpu", "float32")
        except UnsupportedCase:
            continue
    raise AssertionError("numpy-manual is always available")


@pytest.mark.parametrize("repeat", ["A1", "A2"])
def test_aa(benchmark, repeat):
    """The same case twice in one run; the report states how far apart their medians are."""
    session, problem = _aa_session(), Problem()
    call = phase_call(session, session.link.state(session.prepare(draw(problem), TUTORIAL_LR)), "grads")
    benchmark.group = "A/A"
    benchmark.extra_info.update(AAInfo(repeat=repeat, impl=session.impl.name, device="cpu", dtype="float32",
                                       phase="grads", N=problem.N, D_in=problem.D_in, H=problem.H,
                                       D_out=problem.D_out).extra_info())
    with session.scope():
        benchmark(call)


LAUNCHES_PER_ROUND = 1000


def test_kernel_launch(benchmark):
    """The cost of launching one tiny CUDA kernel, queued back to back: the launch floor's unit."""
    backend, (tiny,) = _library_arrays("torch", "cuda", "float32", (1, 1))
    benchmark.group = "launch cuda"
    benchmark.extra_info.update(LaunchInfo(library="torch", device="cuda", calls_per_round=LAUNCHES_PER_ROUND,
                                           sync=backend.sync_policy("cuda")).extra_info())
    benchmark(lambda: backend.sync([tiny.add_(0) for _ in range(LAUNCHES_PER_ROUND)], "cuda"))
