"""The correctness suite runs its BLAS and torch on one thread.

Its products are small, so more threads buy nothing; and on a machine where other work holds
a core, BLAS threads that spin-wait for a busy core slow every product down many times over.
"""

import pytest


@pytest.fixture(scope="session", autouse=True)
def one_thread():
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        limits = None
    else:
        limits = threadpool_limits(1)
    try:
        import torch
    except ImportError:
        torch = None
    previous = torch.get_num_threads() if torch else None
    if torch:
        torch.set_num_threads(1)
    yield
    if torch:
        torch.set_num_threads(previous)
    if limits:
        limits.restore_original_limits()
