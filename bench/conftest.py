"""The benchmarks' process: thread counts applied as the job set them; sizes, devices and dtypes as planned."""

from __future__ import annotations

import os

from bench.options import plan_of
from impls.threads import limit_threads
from reference.harness.selection import kept


def pytest_configure(config):
    # Threads come from the environment (bench.job sets it for every framework); torch and
    # BLAS are told again here, in case a pool started before the variables were read.
    threads = os.environ.get("OMP_NUM_THREADS")
    if threads:
        limit_threads(int(threads))


def pytest_generate_tests(metafunc):
    """Sizes from the preset; devices and dtypes as selected, present ones only (as the checks' cases)."""
    config = metafunc.config
    if "problem" in metafunc.fixturenames:
        sizes = plan_of(config).sizes_and_phases.sizes
        metafunc.parametrize("problem", sizes, ids=[p.id for p in sizes])
    if "device_name" in metafunc.fixturenames:
        metafunc.parametrize("device_name", kept(config).devices)
    if "dtype_name" in metafunc.fixturenames:
        metafunc.parametrize("dtype_name", kept(config).dtypes)
