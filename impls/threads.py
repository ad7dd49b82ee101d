"""The one thread policy: how many threads BLAS, OpenMP, torch and XLA use, set and reported here.

Checks run on one thread: their products are small, and on a busy machine BLAS threads that
spin-wait for an occupied core slow every product down many times over. Benchmarks give every
framework the same count, through the variables each one reads at start-up, and nothing else:
how a pool waits (spin counts, timeouts, wait policies) stays at each framework's defaults, as
its users run it. bench/race.py keeps one framework's spinning pool off the next one's cores.
"""

from __future__ import annotations

import os
import sys

from impls.backends import BACKENDS

#: The environment variables the frameworks read their thread counts from at start-up.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
#: Variables that change how a framework's pool behaves, not how many threads it has: never set
#: here (GOMP_SPINCOUNT=1000 with OPENBLAS_THREAD_TIMEOUT=4 made torch autograd's gradients 1.9x
#: slower alone at 2 threads), reported where a user's environment sets them.
POOL_TUNING = ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY", "KMP_BLOCKTIME", "KMP_AFFINITY", "OMP_PROC_BIND",
               "OMP_PLACES", "GOMP_CPU_AFFINITY", "OMP_DYNAMIC", "MKL_DYNAMIC", "OPENBLAS_THREAD_TIMEOUT")


def limit_threads(threads: int) -> None:
    """Cap the BLAS and OpenMP pools now (threadpoolctl) and torch's intra-op threads, if torch is loaded.

    Call it after the implementations are imported: a pool loaded later starts at its default.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        print("note: threadpoolctl is not installed; BLAS keeps its default thread count", file=sys.stderr)
    else:
        threadpool_limits(threads)
    if sys.modules.get("torch") is not None:
        sys.modules["torch"].set_num_threads(threads)


def thread_environment(threads: int, use_gpu: bool) -> dict[str, str]:
    """The environment for a child process whose frameworks all use ``threads`` threads."""
    env = dict(os.environ)
    for var in THREAD_VARIABLES:
        env[var] = str(threads)
    if threads == 1:
        env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") +
                            " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1").strip()
    if not use_gpu:
        env["JAX_PLATFORMS"] = "cpu"
    # jax would otherwise take 75% of the GPU's memory at start-up, leaving torch little.
    env.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    return env


def thread_count() -> int:
    """Threads each framework was told to use: OMP_NUM_THREADS where set, else every core."""
    return int(os.environ.get("OMP_NUM_THREADS") or os.cpu_count() or 1)


def thread_settings() -> dict[str, str]:
    """The thread-related environment and per-framework thread counts, for reports and headers."""
    settings = {var: os.environ.get(var, "") for var in (*THREAD_VARIABLES, *POOL_TUNING, "XLA_FLAGS")}
    settings["cpu_count"] = str(os.cpu_count())
    # torch's own count where torch is in use in this process: importing it only to ask costs seconds.
    if sys.modules.get("torch") is not None:
        settings["torch_threads"] = str(BACKENDS["torch"].lib.get_num_threads())
    return settings
