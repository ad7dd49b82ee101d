"""The correctness suite runs its BLAS and torch on one thread (impls/threads.py says why).

With ``--impl-path`` alone, pytest checks the plug-ins and deselects every test not about a case
(reference/drivers/pytest_plugin.py); the modules holding none are not even collected here, so
that such a run does not import torch and jax (seconds in each worker) for tests it would drop.
"""

import importlib.util

import pytest

from impls.threads import limit_threads
from reference.harness.selection import kept

#: The modules with tests about a selected case (the ``case`` and ``cuda_case`` fixtures); tests/test_plugins.py
#: holds this list to what the modules say.
ABOUT_CASES = {"test_checks.py", "test_devices.py"}


@pytest.fixture(scope="session", autouse=True)
def one_thread(request):
    # torch takes a cap only once loaded, and the drivers' own process no longer loads it: where a test may run
    # torch in this process, load it first (a run of plug-ins alone runs them in children, capped there).
    if not kept(request.config).plugins_alone and importlib.util.find_spec("torch") is not None:
        import torch  # noqa: F401
    limit_threads(1)


def pytest_ignore_collect(collection_path, config):
    selection = kept(config)
    if (selection is not None and selection.plugins_alone and collection_path.name.startswith("test_")
            and collection_path.suffix == ".py" and collection_path.name not in ABOUT_CASES):
        return True
    return None
