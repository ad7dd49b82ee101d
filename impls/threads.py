"""The one thread policy: how many threads BLAS, OpenMP, torch and XLA use, set and reported here.

Checks run on one thread: their products are small, and on a busy machine BLAS threads that
spin-wait for an occupied core slow every product down many times over. Benchmarks give every
framework the same count, through the variables each one reads at start-up.
"""

from __future__ import annotations

import os
import sys

from impls.backends import BACKENDS

#: The environment variables the frameworks read their thread counts from at start-up.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
#: How long idle pool threads spin before they sleep. The benchmarks interleave numpy, torch and
#: jax call by call (bench/race.py): OpenBLAS's threads spin for about 2**28 cycles (0.1 s) after
#: each product and GNU OpenMP's (torch, MKL) for 300000 iterations, taking the cores from
#: whichever framework runs next (measured: numpy's products 1.9x slower interleaved than alone,
#: IQR 130%). 2**4 cycles and 1000 iterations end that (within 10% of alone, IQR <= 13%)
#: without the passive policy's cost (OMP_WAIT_POLICY=PASSIVE made torch's products 4x slower).
SPIN_LIMITS = {"OPENBLAS_THREAD_TIMEOUT": "4", "GOMP_SPINCOUNT": "1000"}


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
    for var, value in SPIN_LIMITS.items():
        env.setdefault(var, value)
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
    settings = {var: os.environ.get(var, "") for var in (*THREAD_VARIABLES, *SPIN_LIMITS, "XLA_FLAGS")}
    settings["cpu_count"] = str(os.cpu_count())
    if BACKENDS["torch"].missing_reason() is None:
        settings["torch_threads"] = str(BACKENDS["torch"].lib.get_num_threads())
    return settings
