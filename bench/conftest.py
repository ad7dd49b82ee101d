"""Options for the benchmarks: the size preset and the selection shared with the test suite."""

from __future__ import annotations

import os

from bench.sizes import PRESETS


def pytest_addoption(parser):
    parser.getgroup("twolayer-bench").addoption(
        "--preset", default="default", choices=sorted(PRESETS), help="problem sizes to time (default: default)")


def pytest_configure(config):
    # Threads are set by the environment (bench.__main__ sets OMP/MKL/OPENBLAS/XLA); torch
    # reads its own count at start-up from OMP_NUM_THREADS, and is told again here to be sure.
    threads = os.environ.get("OMP_NUM_THREADS")
    if threads:
        try:
            import torch
        except ImportError:
            return
        torch.set_num_threads(int(threads))
