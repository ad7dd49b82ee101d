"""How much it costs one core to read what another core has just written: the machine's handoff.

A framework on two threads hands data between cores: OpenBLAS's two threads each write part of a
product that numpy's one thread then reads; torch's elementwise loops read rows a GEMM thread on
the other core wrote. On the 2-core cloud machine this costs a different amount from one minute
to the next, and nothing in /proc says so: the hypervisor moves the two virtual cores between
physical ones (the same core's two hyperthreads, two cores sharing a cache, two that share none).
Measured in one process at 2 threads, numpy's ``w1 -= g`` right after ``g = x.T @ grad_h``
(float32, default size, 2026-12-04 23:30) took 10, 15, 60 or 263 µs, in stretches of seconds to
minutes, while the same pass over a ``g`` the main thread had written itself took 10.7 to 19. At the
slow levels whole steps slow down, not only that pass: in a default run's fresh processes, numpy-manual's
float32 step took 270-286 µs where this probe read about 10 µs and 608-621 where it read about 18.

``measure()`` times that directly: a thread of its own pinned to one core fills 400 KB, and another
pinned to another core sums it; then that thread sums 400 KB it filled itself. It takes a few
milliseconds. bench/state.py records it before and after every timed stage and after each round of
a race, and bench/report/trust.py says where it moved.

``python -m bench.cores`` prints one measurement as JSON.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import asdict, dataclass

import numpy as np

#: About a weight matrix of the default size: w1 and its gradient are 1000 x 100 (400 KB in float32).
HANDOFF_BYTES = 400_000
#: Enough for a median that tells its levels apart (10 and 18 µs here), few enough for about 10 ms a reading.
REPEATS = 20


@dataclass(frozen=True)
class Handoff:
    """Median microseconds to read HANDOFF_BYTES another core wrote (``remote_us``), and ones this core wrote."""

    remote_us: float
    local_us: float


def measure(nbytes: int = HANDOFF_BYTES, repeats: int = REPEATS) -> Handoff | None:
    """The handoff, timed by two threads of this process pinned to two cores; None where fewer than two are allowed.

    The calling thread only waits: its own affinity, and so the benchmark's, is left as it was.
    """
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(cpus) < 2:
        return None
    buffer, clock = np.zeros(nbytes // 8), time.perf_counter_ns
    written, read = threading.Event(), threading.Event()
    remote, local = [], []

    def writer():
        os.sched_setaffinity(0, {cpus[1]})      # 0: the calling thread, on Linux
        for i in range(repeats):
            buffer.fill(i)
            written.set()
            read.wait()
            read.clear()

    def reader():
        os.sched_setaffinity(0, {cpus[0]})
        for i in range(repeats):
            written.wait()
            written.clear()
            start = clock()
            buffer.sum()
            remote.append(clock() - start)
            buffer.fill(-i)
            start = clock()
            buffer.sum()
            local.append(clock() - start)
            read.set()

    threads = [threading.Thread(target=writer), threading.Thread(target=reader)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Handoff(float(np.median(remote)) / 1e3, float(np.median(local)) / 1e3)


if __name__ == "__main__":
    measured = measure()
    print(json.dumps(asdict(measured) if measured else None))
