"""The benchmarks' process: thread counts applied as the job set them; sizes, devices and dtypes as planned."""

from __future__ import annotations

import os

from bench.alone import PROCESSES
from bench.options import plan_of
from bench.schedule import spread
from impls.threads import limit_threads
from reference.harness.selection import kept
from reference.problem.inputs import Problem


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


def pytest_collection_modifyitems(items):
    """Each plain way's fresh processes spread through the default-size races they are compared with (bench.schedule)."""
    params = [getattr(getattr(item, "callspec", None), "params", {}) for item in items]
    alone = [item for item, p in zip(items, params) if "alone" in p]
    races = [(item, p["race_key"]) for item, p in zip(items, params) if "race_key" in p]
    if not alone or not races:
        return
    groups = [(key.device, key.dtype, key.mode) if key.problem == Problem() else None for _, key in races]
    processes = [(tuple(item.callspec.params["alone"][1:4]), item.callspec.params["process"]) for item in alone]
    pending, before = [], {}  # race -> the processes that run just before it
    for kind, index in spread(groups, processes, PROCESSES):
        if kind == "alone":
            pending.append(alone[index])
        else:
            before[races[index][0]], pending = pending, []
    ordered, spread_out = [], set(alone)
    for item in items:
        if item not in spread_out:
            ordered += before.get(item, []) + [item]
            if item is races[-1][0]:
                ordered += pending  # those after the last race
    items[:] = ordered
