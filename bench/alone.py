"""Each framework's plain way timed alone: in a fresh process that loads that framework only.

The races run every framework in one process, taking turns (bench/race.py). Whether they time
each framework as its users see it is shown, not assumed: the plain way of each framework
(``PLAIN_WAYS``) is timed again in processes of its own, with the job's thread counts and
nothing else, at the default size; the report sets the median of their medians beside its median
in the race, with how far the fresh processes differ from each other.

``python -m bench.alone SPEC DEVICE DTYPE MODE ROUNDS PHASE...`` is that process: it prints one
JSON line, per phase the samples of a race with one contender.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

import impls
from bench.lineup import RaceKey, timed_call
from bench.race import Contender, Settings, Timings, race
from impls.threads import limit_threads, thread_count
from reference.harness.session import Session
from reference.problem.inputs import Problem

ROOT = Path(__file__).resolve().parent.parent
#: Each framework's way as its tutorial writes it first: the one a user of that framework runs.
PLAIN_WAYS = {"numpy": "numpy-manual", "torch": "torch-autograd", "jax": "jax-grad"}
#: Fresh processes per plain way. One is not enough: on the 2-core machine, numpy-manual's float32
#: forward read 134, 196 and 117 µs in three fresh processes one after another (each 15 rounds,
#: within a few % inside each process), so one process's median says which draw it got, not
#: how fast the code is; the race's own process is one such draw.
PROCESSES = 5


def time_alone(spec: str, device: str, dtype: str, mode: str, phases: list[str], rounds: int) -> dict[str, Timings]:
    """The plain way's phases timed in a fresh child process with this process's environment (the job's)."""
    command = [sys.executable, "-m", "bench.alone", spec, device, dtype, mode, str(rounds), *phases]
    child = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    if child.returncode != 0:
        last = (child.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"{spec} alone failed (exit {child.returncode}): {last}")
    found = json.loads(child.stdout.splitlines()[-1])
    return {phase: Timings(first_call_s=t["first_call_s"], loops=t["loops"], failed=t["failed"],
                           samples_s={k: np.asarray(v) for k, v in t["samples_s"].items()},
                           faults_per_call=t["faults_per_call"])
            for phase, t in found.items()}


def _timed(spec: str, device: str, dtype: str, mode: str, phases: list[str], rounds: int) -> dict[str, dict]:
    limit_threads(thread_count())  # as bench/conftest.py does in the races' process
    session = Session(impls.load_any(spec), device, dtype, mode)
    found = {}
    with session.backend.scope(device, dtype, mode):
        for phase in phases:
            call = timed_call(session, RaceKey(device, dtype, mode, Problem(), phase, "latency"))
            timings = race([Contender(spec, call, pool=session.backend.name)], Settings(rounds=rounds))
            found[phase] = {"first_call_s": timings.first_call_s, "loops": timings.loops, "failed": timings.failed,
                            "samples_s": {k: v.tolist() for k, v in timings.samples_s.items()},
                            "faults_per_call": timings.faults_per_call}
    return found


if __name__ == "__main__":
    spec_, device_, dtype_, mode_, rounds_, *phases_ = sys.argv[1:]
    print(json.dumps(_timed(spec_, device_, dtype_, mode_, phases_, int(rounds_))))
