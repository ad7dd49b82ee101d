"""Options for the benchmarks: the size preset (the selection is the project plugin's, shared with the tests)."""

from __future__ import annotations

import os

from bench.sizes import PRESETS
from impls.threads import limit_threads


def pytest_addoption(parser):
    parser.getgroup("twolayer-bench").addoption(
        "--preset", default="default", choices=sorted(PRESETS), help="problem sizes to time (default: default)")


def pytest_configure(config):
    # Threads come from the environment (bench.__main__ sets it for every framework); torch and
    # BLAS are told again here, in case a pool started before the variables were read.
    threads = os.environ.get("OMP_NUM_THREADS")
    if threads:
        limit_threads(int(threads))
