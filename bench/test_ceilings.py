"""What the measurements are measured against: the machine's matmul peak, the harness's own
overhead, and the cost of a CUDA launch. (The A/A pair is timed inside each race: bench/test_bench.py.)"""

from __future__ import annotations

import pytest

from bench.schema import LaunchInfo, OverheadInfo, PeakInfo
from bench.lineup import library_arrays

pytestmark = pytest.mark.bench
PEAK_SIZE = 2048


@pytest.mark.parametrize("library", ["numpy", "torch"])
def test_peak(benchmark, library, dtype_name, device_name):
    """A large square product, timed like every case: the measured peak GFLOP/s of the device."""
    n = PEAK_SIZE
    backend, (a, b) = library_arrays(library, device_name, dtype_name, (n, n), (n, n))
    benchmark.group = f"peak {device_name} {dtype_name}"
    benchmark.extra_info.update(PeakInfo(library=library, device=device_name, dtype=dtype_name, n=n, flops=2 * n**3,
                                         sync=backend.sync_policy(device_name)).extra_info())
    benchmark(lambda: backend.sync(a @ b, device_name))


def test_harness_overhead(benchmark):
    """An empty callable: what the timing loop itself adds to every measurement."""
    benchmark.group = "overhead"
    benchmark.extra_info.update(OverheadInfo().extra_info())
    benchmark(lambda: None)


LAUNCHES_PER_ROUND = 1000


def test_kernel_launch(benchmark):
    """The cost of launching one tiny CUDA kernel, queued back to back: the launch floor's unit."""
    backend, (tiny,) = library_arrays("torch", "cuda", "float32", (1, 1))
    benchmark.group = "launch cuda"
    benchmark.extra_info.update(LaunchInfo(library="torch", device="cuda", calls_per_round=LAUNCHES_PER_ROUND,
                                           sync=backend.sync_policy("cuda")).extra_info())
    benchmark(lambda: backend.sync([tiny.add_(0) for _ in range(LAUNCHES_PER_ROUND)], "cuda"))
