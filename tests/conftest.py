"""The correctness suite runs its BLAS and torch on one thread (impls/threads.py says why)."""

import pytest

from impls.threads import limit_threads


@pytest.fixture(scope="session", autouse=True)
def one_thread():
    limit_threads(1)
