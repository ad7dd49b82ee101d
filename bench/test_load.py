"""The load test: the default size's grads race timed on a quiet machine, then with one core kept busy.

A busy-loop process pinned to one core takes half of a two-core machine from the threads of
every implementation alike; interleaved rounds should keep each × fastest where it was. The
report compares the two (bench.report.analysis.load_table). Marker ``load``: deselect with
``-m "not load"``.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bench.race import Contender, race
from bench.schema import LoadInfo
from bench.store import recorded
from bench.test_bench import RaceKey, entrants, scopes, settings, timed_call
from reference.problem.inputs import Problem

pytestmark = [pytest.mark.bench, pytest.mark.load]
BUSY_LOOP = "while True: pass"


class BusyCore:
    """A process spinning on one core for as long as the context lasts."""

    def __enter__(self):
        self.process = subprocess.Popen([sys.executable, "-c", BUSY_LOOP])
        os.sched_setaffinity(self.process.pid, {min(os.sched_getaffinity(0))})
        return self

    def __exit__(self, *exc):
        self.process.kill()
        self.process.wait()


def test_ratios_under_load(request):
    """x fastest of every implementation in the grads race, quiet and with a busy core."""
    if not hasattr(os, "sched_setaffinity"):
        pytest.skip("pinning a process to one core needs os.sched_setaffinity (Linux)")
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("one core only: a busy core would leave nothing to time on")
    config = request.config
    key = RaceKey("cpu", "float32", "strict", Problem(), "grads", "latency")
    sessions = entrants(config, key)
    if len(sessions) < 2:
        pytest.skip("fewer than two implementations to compare on cpu float32")
    with scopes(key, [s for s, _ in sessions]):
        field = [Contender(s.impl.name, timed_call(s, key)) for s, _ in sessions]
        quiet = race(field, settings(config))
        with BusyCore():
            busy = race(field, settings(config))
    for condition, timings in (("quiet", quiet), ("busy", busy)):
        for contender in field:
            recorded(config, LoadInfo(impl=contender.key, device=key.device, dtype=key.dtype, phase=key.phase,
                                      condition=condition, race=f"{key.id}-{condition}"), timings, contender.key)
