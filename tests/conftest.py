"""The correctness suite runs its BLAS and torch on one thread (impls/threads.py says why).

With ``--impl-path`` alone, pytest checks the plug-ins and deselects every test not about a case
(reference/drivers/pytest_plugin.py); the modules holding none are not even collected here, so
that such a run does not import torch and jax (seconds in each worker) for tests it would drop.
"""

import importlib.util
import os

import pytest

from impls.threads import limit_threads
from reference.harness.selection import kept
from reference.model import store

#: The modules with tests about a selected case (the ``case`` fixture); tests/test_plugins.py
#: holds this list to what the modules say.
ABOUT_CASES = {"test_checks.py"}


def pytest_configure(config):
    share_compiled_jax_programs()


def share_compiled_jax_programs():
    """Every child the suite starts keeps the programs XLA compiles in the store's folder, and reads them there.

    Most jax implementations, variants and mistakes jit the same few loss, gradient and step programs at
    the same shapes; each child would compile each again (a jitted way's checks spent a quarter of their
    time compiling). The cached program is the one XLA would compile, so no verdict changes. The suite
    only: a benchmark reports a first call's compile time, which a cache would hide. jax's own threshold
    keeps only compiles over a second, and these take a tenth.
    """
    where = store.folder()
    if where is None or "JAX_COMPILATION_CACHE_DIR" in os.environ:
        return  # the store is off, or the user keeps jax's programs somewhere of their own
    os.environ["JAX_COMPILATION_CACHE_DIR"] = str(where / "jax")
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")


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
