"""The job's order: each plain way's fresh processes run among the races they are compared with, not before them.

The report sets the processes' median beside the race's; run in the job's first minutes, the processes
and the races sampled different minutes of a drifting machine (bench/schedule.py).
"""

import subprocess
import sys
from pathlib import Path

from bench.alone import PROCESSES
from bench.schedule import spread

ROOT = Path(__file__).parent.parent


def test_three_races_and_three_processes_worked_by_hand():
    # Process k goes to gap k * 3 / 2 rounded: 0 (before race 0), 2 (before race 2), 3 (after race 2).
    order = spread(["a", "a", "a"], [("a", 0), ("a", 1), ("a", 2)], processes=3)
    assert order == [("alone", 0), ("race", 0), ("race", 1), ("alone", 1), ("race", 2), ("alone", 2)]


def test_each_group_spans_its_races_and_finishes_before_the_next_group_starts():
    races = [None] + ["f32"] * 6 + ["f64"] * 6 + [None]  # None: a race at another size
    ways, processes = 3, 5
    alone = [(group, process) for group in ("f32", "f64") for way in range(ways) for process in range(processes)]
    order = spread(races, alone, processes)
    assert sorted(order) == sorted([("race", i) for i in range(len(races))] + [("alone", i) for i in range(len(alone))])
    assert [i for kind, i in order if kind == "race"] == list(range(len(races)))  # the races keep their order
    position = {step: at for at, step in enumerate(order)}
    for group in ("f32", "f64"):
        first, last = (position[("race", i)] for i in (races.index(group), len(races) - 1 - races[::-1].index(group)))
        mine = [(alone[i][1], position[("alone", i)]) for kind, i in order if kind == "alone" and alone[i][0] == group]
        # Process 1 of every way before the group's first race, process 5 after its last, the others among them.
        assert all(at < first for process, at in mine if process == 0)
        assert all(at > last for process, at in mine if process == processes - 1)
        assert all(first < at < last for process, at in mine if 0 < process < processes - 1)
        assert [process for process, _ in mine] == sorted(process for process, _ in mine)
    # The float32 processes after its last race run before float64's first ones, and before its first race.
    f32_after = max(position[("alone", i)] for i, (group, process) in enumerate(alone) if group == "f32")
    assert f32_after < min(position[("alone", i)] for i, (group, _) in enumerate(alone) if group == "f64")


def test_processes_without_a_race_of_their_group_run_first():
    assert spread(["a", "a"], [("b", 0), ("a", 0), ("b", 1)], processes=2) == \
        [("alone", 0), ("alone", 2), ("alone", 1), ("race", 0), ("race", 1)]


def test_the_job_collects_the_processes_among_the_races():
    """The conftest hook applies the order to what the job's child pytest runs."""
    listing = subprocess.run([sys.executable, "-m", "pytest", "bench", "--collect-only", "-q", "-p", "no:cacheprovider",
                              "-n", "0", "--dtype=float32"], cwd=ROOT, capture_output=True, text=True)
    assert listing.returncode == 0, listing.stdout[-2000:] + listing.stderr[-2000:]
    names = [line for line in listing.stdout.splitlines() if "::" in line]
    races = [at for at, name in enumerate(names) if "::test_race[" in name]
    alone = [at for at, name in enumerate(names) if "::test_alone[" in name]
    assert races and alone and races[0] > min(alone) and races[-1] < max(alone)
    # each way's first process before the races, its last after them, the others among them
    assert sum(races[0] < at < races[-1] for at in alone) == len(alone) * (PROCESSES - 2) // PROCESSES
