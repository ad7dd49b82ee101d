"""Options for the benchmarks: the size preset (the selection is the project plugin's, shared with the tests).

Timing runs the implementation in this process: the ``session`` here replaces the checking
plugin's, which runs implementations in child processes.
"""

from __future__ import annotations

import os

import pytest

import impls
from bench.sizes import PRESETS
from impls.contract import UnsupportedCase
from impls.threads import limit_threads
from reference.check.pytest_plugin import spec
from reference.check.session import Case, Session


def pytest_addoption(parser):
    parser.getgroup("twolayer-bench").addoption(
        "--preset", default="default", choices=sorted(PRESETS), help="problem sizes to time (default: default)")


def pytest_configure(config):
    # Threads come from the environment (bench.__main__ sets it for every framework); torch and
    # BLAS are told again here, in case a pool started before the variables were read.
    threads = os.environ.get("OMP_NUM_THREADS")
    if threads:
        limit_threads(int(threads))


@pytest.fixture
def session(request, case: Case) -> Session:
    """The implementation under test, in this process, on this case's device, dtype and mode; a skip if it cannot run here."""
    try:
        return Session(impls.load_any(spec(request.config, case.impl)), case.device, case.dtype, case.mode)
    except UnsupportedCase as reason:
        pytest.skip(str(reason))
