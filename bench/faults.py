"""Page faults: how many a timed call takes, and what one costs on this machine now.

A call that allocates its large arrays afresh may get memory the process has just given back to the
operating system, and fault it in again page by page. Whether it does depends on the allocator's
state, and so on what the process did before, not only on the call: at 1 thread on the 2-core machine
(2026-12-05), numpy-manual's float64 step took 1,380 µs with 358 minor faults per call in a fresh
process that timed only the step, and 656 µs in one that had timed the forward and the gradients
first; jax-grad's float64 step took 600 to 650 µs with none in some fresh processes and 710 to 770
with 90 to 135 in others. Each fault cost about 3 µs there (``fault_us``), far more than on bare metal.

``minor_faults()`` is the process's count so far (every thread's, so a pool's too); bench/race.py reads
it around each sample, outside the timed window. ``fault_us()`` maps fresh pages, touches each once
and unmaps them: bench/state.py records it before every timed stage, and bench/report/analysis.py
says where a difference in faults per call accounts for a difference in time.

``python -m bench.faults`` prints one reading of ``fault_us()``.
"""

from __future__ import annotations

import json
import mmap
import time

import numpy as np

try:
    import resource
except ImportError:     # not POSIX: faults are not counted
    resource = None

PAGE = mmap.PAGESIZE
#: About a float64 weight matrix of the default size (1000 x 100), the kind of buffer a step allocates.
FAULT_BYTES = 800 * 1024
REPEATS = 10


def minor_faults() -> int | None:
    """Minor page faults this process (all its threads) has taken so far; None where not counted."""
    return None if resource is None else resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def fault_us(nbytes: int = FAULT_BYTES, repeats: int = REPEATS) -> float | None:
    """Median µs per page to map ``nbytes`` of fresh memory, write one byte of each page and unmap it (the
    mapping's two system calls shared out over its pages); None where faults are not counted."""
    if resource is None:
        return None
    per_page = []
    for _ in range(repeats):
        start, faults = time.perf_counter_ns(), minor_faults()
        region = mmap.mmap(-1, nbytes)
        pages = np.frombuffer(region, dtype=np.uint8)
        pages[::PAGE] = 1
        del pages
        region.close()
        taken = minor_faults() - faults
        per_page.append((time.perf_counter_ns() - start) / 1e3 / max(taken, 1))
    return float(np.median(per_page))


if __name__ == "__main__":
    print(json.dumps({"fault_us": fault_us()}))
