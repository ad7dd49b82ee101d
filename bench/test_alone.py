"""Each framework's plain way timed alone, in fresh processes, to set beside its time in the races.

Run by the main job among the races, at the default size where the preset has it (latency, the
preset's phases): one benchmark per fresh process, spread through the races it is compared with
(bench/schedule.py). What is timed, and how, is bench/alone.py; the report compares the two.
"""

from __future__ import annotations

import pytest

from bench.alone import PLAIN_WAYS, PROCESSES, time_alone
from bench.lineup import RaceKey, enters, race_keys, settings, verdict
from bench.schema import AloneInfo, alone_stage
from bench.state import watched
from bench.store import recorded
from impls.contract import UnsupportedCase
from impls.threads import thread_count
from reference.harness.selection import kept
from reference.problem.inputs import Problem

pytestmark = pytest.mark.bench


def pytest_generate_tests(metafunc):
    """One case per process of each plain way selected and (device, dtype, mode) raced at the default size: its
    phases there."""
    if "alone" not in metafunc.fixturenames:
        return
    config, found = metafunc.config, {}
    for key in race_keys(config):
        if key.problem == Problem() and key.timing == "latency":
            found.setdefault((key.device, key.dtype, key.mode), []).append(key.phase)
    cases = [(name, *where, phases) for name in PLAIN_WAYS.values() if name in kept(config).impls
             for where, phases in found.items()]
    metafunc.parametrize("alone", cases, ids=["-".join(case[:4]) for case in cases])
    metafunc.parametrize("process", range(PROCESSES), ids=[f"process{p + 1}" for p in range(PROCESSES)])


def test_alone(request, alone, process):
    """A plain way in a fresh process under its framework's defaults, spread through the races it is set beside."""
    config, (name, device, dtype, mode, phases) = request.config, alone
    key = RaceKey(device, dtype, mode, Problem(), phases[0], "latency")
    try:
        if not enters(config, name, key):
            pytest.skip(f"{name} does not race on {device} {dtype} {mode}")
        outcome = verdict(config, name, key)
    except UnsupportedCase as reason:
        pytest.skip(f"{name} cannot run here: {reason}")
    if not outcome.passed:
        pytest.skip(f"{name} failed verification: not timed alone")
    spec = kept(config).spec(name)
    framework = kept(config).implementation(name).backend
    with watched(config, alone_stage(name, device, dtype, mode, process)):
        timings = time_alone(spec, device, dtype, mode, phases, settings(config).rounds)
    for phase, timed in timings.items():
        assert not timed.failed, f"{name} {phase} raised when timed alone: {timed.failed}"
        recorded(config, AloneInfo(impl=name, framework=framework, device=device, dtype=dtype, mode=mode,
                                   N=key.problem.N, D_in=key.problem.D_in, H=key.problem.H,
                                   D_out=key.problem.D_out, bias=key.problem.bias, phase=phase,
                                   threads=thread_count(), process=process,
                                   faults_per_call=timed.faults_per_call.get(spec)), timed, spec)
