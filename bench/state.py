"""The machine's state while each race ran: how much CPU other processes took, the load average, the handoff.

A race's samples say how long the calls took, not whether something else held the cores meanwhile.
Around each race this module reads the machine's busy CPU time (/proc/stat: every process, steal
by the hypervisor included) and this process's own with its children's; the difference is what the rest
of the machine took. The records go into the races file (bench.store) and bench/trust.py judges
them. Where /proc/stat cannot be read (not Linux) the state is recorded as unknown. Before and
after each stage, and after each round of a race, it also times the cores' handoff (bench/cores.py),
which /proc does not show, and what a page fault costs (bench/faults.py).
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Iterable, Iterator

import pytest

from bench.cores import Handoff, measure as measure_handoff
from bench.faults import fault_us as measure_fault_us
from impls.threads import thread_count

STATES = pytest.StashKey[list]()
#: /proc/stat's cpu fields that are not busy: idle, and waiting for I/O while idle.
IDLE_FIELDS = (3, 4)


@dataclass(frozen=True)
class MachineState:
    """What the machine did while one race (or another timed stage) ran."""

    race: str
    wall_s: float
    cores: int
    threads: int                  # threads each framework was told to use
    others_cores: float | None    # mean cores busy with other processes (steal included); None: not readable
    load_average: float | None    # the 1-minute load average at the end (this process's threads included)
    #: µs for one core to read 400 KB another just wrote, before and after the stage; None: not measurable
    handoff_us: tuple[float | None, float | None] = (None, None)
    handoff_local_us: float | None = None   # ... and 400 KB it wrote itself, before the stage
    handoff_rounds_us: tuple[float, ...] = ()   # ... after each round of a race, where the race asked (Stage)
    fault_us: float | None = None   # µs per minor page fault before the stage (bench/faults.py); None: not counted


@dataclass
class Stage:
    """A watched stage while it runs: ``after_round`` (a race's hook, untimed) reads the handoff once more."""

    handoff: Callable[[], Handoff | None]
    rounds_us: list[float] = field(default_factory=list)

    def after_round(self) -> None:
        found = self.handoff()
        if found is not None:
            self.rounds_us.append(found.remote_us)


def busy_cpu_seconds(path: str = "/proc/stat") -> float | None:
    """Seconds of CPU time the whole machine has spent busy since boot, None where it cannot be read."""
    try:
        with open(path) as stat:
            fields = [int(v) for v in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    busy = sum(v for i, v in enumerate(fields[:8]) if i not in IDLE_FIELDS)  # guest time is inside user's
    return busy / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds(pids: Iterable[int], proc: str = "/proc") -> float:
    """CPU seconds of these running children of this process, and of those they waited for; a pid that has ended
    (or has no /proc) counts 0: once waited for, os.times() has its time."""
    me, total = str(os.getpid()), 0
    for pid in pids:
        try:
            with open(f"{proc}/{pid}/stat") as stat:
                fields = stat.read().rpartition(")")[2].split()  # the name before it may hold spaces
        except OSError:
            continue
        if len(fields) > 14 and fields[1] == me:  # ppid; then utime, stime, cutime, cstime
            total += sum(int(v) for v in fields[11:15])
    return total / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds(children: Iterable[int] = ()) -> float:
    """CPU seconds of this process, of its waited-for children (the alone stage's processes), and of ``children``
    while they run: os.times() counts a child only once waited for, and the processes taking turns in the races
    (bench.alone.Turns) live through several. Other running children are not counted as ours: a process run beside
    the benchmark is load like any other."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system + children_cpu_seconds(children)


def _load_average() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


@contextlib.contextmanager
def watched(config, race: str, busy: Callable[[], float | None] = busy_cpu_seconds,
            own: Callable[[], float] = own_cpu_seconds, clock: Callable[[], float] = time.monotonic,
            load_average: Callable[[], float | None] = _load_average,
            handoff: Callable[[], Handoff | None] = measure_handoff,
            fault_us: Callable[[], float | None] = measure_fault_us) -> Iterator[Stage]:
    """Record the machine's state over the block as one MachineState in the run's races file.

    ``busy``, ``own``, ``clock``, ``load_average``, ``handoff`` and ``fault_us`` are the readers; a test plants its
    own. The handoffs and the fault's cost are measured outside the busy and wall clocks' window; the block's own
    readings, through the ``Stage`` it is given, are inside it (a few milliseconds a round, taken by this process).
    """
    before, fault, stage = handoff(), fault_us(), Stage(handoff)
    busy_start, own_start, start = busy(), own(), clock()
    yield stage
    busy_end, own_end, wall = busy(), own(), clock() - start
    after = handoff()
    others = None
    if busy_start is not None and busy_end is not None and wall > 0:
        # Ticks are 10 ms: a negative difference is rounding, not time given back.
        others = max(0.0, (busy_end - busy_start) - (own_end - own_start)) / wall
    config.stash.setdefault(STATES, []).append(asdict(MachineState(
        race=race, wall_s=wall, cores=os.cpu_count() or 1, threads=thread_count(), others_cores=others,
        load_average=load_average(), handoff_us=(before and before.remote_us, after and after.remote_us),
        handoff_local_us=before and before.local_us, handoff_rounds_us=tuple(stage.rounds_us), fault_us=fault)))
