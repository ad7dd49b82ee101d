"""What each race times and records: its key, its entrants (verified first), the floors, the A/A twin.

The benchmarks (bench/test_bench.py, bench/test_load.py) only parametrize and call these. Before a
case is timed, the catalogue's agreement check runs on it at its size (once per implementation,
device, dtype, mode and size, in a child process); a case that fails is left out of the race, or
timed and flagged with ``--time-unverified``. A latency race also times each library's own
products and elementwise work, and the first verified implementation of ``AA_CANDIDATES`` twice
(A/A). Set-up happens before the timed region, and every timed call ends with the device
synchronized. The plan (bench.options) and the selection (reference.harness.selection) are the
run's, kept on the pytest config.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np
import pytest

import impls
from bench.floors import LIBRARIES, PARTS, part_call
from bench.options import plan_of
from bench.race import Contender, Settings, Timings
from bench.schema import AAInfo, CaseInfo, FloorInfo
from bench.sizes import call_flops, dynamic_flops, flops
from bench.store import excluded, recorded
from impls.backends import BACKENDS
from impls.contract import UnsupportedCase
from impls.threads import thread_count
from reference.checks import dynamic as dynamic_checks
from reference.checks.catalogue import agreement_at, applies
from reference.checks.check import Outcome
from reference.checks.run import run_check
from reference.harness.selection import kept
from reference.harness.session import Session, combinations
from reference.model import dynamic
from reference.problem.cases import TUTORIAL_LR
from reference.problem.inputs import Problem, draw
from reference.problem.variants import DEPTH_SEED, middle_repeats

#: Calls queued per invocation in throughput timing, with one synchronization at the end.
QUEUED_CALLS = 20
#: The first of these in a race is timed twice (A/A): how far apart two timings of one case come.
AA_CANDIDATES = ("torch-autograd", "jax-grad", "numpy-manual")
#: The depths a dynamic implementation's timed steps go through, in turn (seeded, 0 to 3 each).
TIMED_DEPTHS = middle_repeats(DEPTH_SEED, 1000)

VERDICTS = pytest.StashKey[dict]()
SESSIONS = pytest.StashKey[dict]()

#: One entrant of a race: what is timed, the session it runs in, and its verdict.
Entrant = tuple[Contender, Session, Outcome]


@dataclass(frozen=True)
class RaceKey:
    device: str
    dtype: str
    mode: str
    problem: Problem
    phase: str
    timing: str

    @property
    def id(self) -> str:
        return f"{self.device}-{self.dtype}-{self.mode}-{self.problem.id}-{self.phase}-{self.timing}"


def race_keys(config) -> list[RaceKey]:
    """One race per selected (device, dtype, mode) and the preset's size, phase and timing."""
    preset, selection = plan_of(config).sizes_and_phases, kept(config)
    return [RaceKey(device, dtype, mode, problem, phase, timing)
            for device, dtype, mode in combinations(selection.devices, selection.dtypes, selection.modes)
            for problem in preset.sizes for phase in preset.phases for timing in preset.timings]


def settings(config) -> Settings:
    return Settings(rounds=plan_of(config).rounds_per_race)


def verdict(config, name: str, key: RaceKey) -> Outcome:
    """The catalogue's agreement check (loss, gradients, one step) at the race's size, in a child process.

    In a child, so that the implementation cannot decide its own verdict and so that its first
    call in this process, the one timed, still includes compilation. Cached per implementation,
    device, dtype, mode and size: the phases and timings share one verdict.
    """
    cache, selection = config.stash.setdefault(VERDICTS, {}), kept(config)
    cache_key = (name, key.device, key.dtype, key.mode, key.problem)
    if cache_key not in cache:
        session = Session.isolated(selection.spec(name), key.device, key.dtype, key.mode, selection.pool)
        cache[cache_key] = run_check(agreement_at(key.problem, selection.implementation(name).model), session)
    return cache[cache_key]


def timing_session(config, name: str, key: RaceKey) -> Session:
    """The implementation in this process, where it is timed: one per implementation, device, dtype, mode and size.

    The races of one size (its phases and timings) share it; a new size lets the previous size's
    sessions and their prepared arrays go, so a sweep holds one size's arrays at a time.
    """
    cache = config.stash.setdefault(SESSIONS, {})
    cache_key = (name, key.device, key.dtype, key.mode, key.problem)
    if cache_key not in cache:
        for stale in [k for k in cache if k[1:] != cache_key[1:]]:
            del cache[stale]
        cache[cache_key] = Session(impls.load_any(kept(config).spec(name)), key.device, key.dtype, key.mode)
    return cache[cache_key]


def phase_call(session: Session, state, phase: str, synchronized: bool = True):
    """The callable to time: one phase on the prepared state, ending with the device synchronized."""
    impl, sync, device = session.impl, session.backend.sync, session.device
    method = {"forward": impl.loss, "grads": impl.loss_and_grads, "step": impl.step}[phase]
    return (lambda: sync(method(state), device)) if synchronized else (lambda: method(state))


def timed_call(session: Session, key: RaceKey):
    """What one invocation in the race does: one synchronized call (latency) or QUEUED_CALLS queued (throughput)."""
    if session.impl.model == "dynamic":  # each step takes the next depth: the time is their average
        state = session.link.state(session.prepare(dynamic.inputs_for(key.problem, TIMED_DEPTHS),
                                                   dynamic_checks.TRAINING_LR))
    else:
        state = session.link.state(session.prepare(draw(key.problem), TUTORIAL_LR))
    if key.timing == "latency":
        return phase_call(session, state, key.phase)
    method = phase_call(session, state, key.phase, synchronized=False)
    return lambda: session.backend.sync([method() for _ in range(QUEUED_CALLS)], session.device)


def enters(config, name: str, key: RaceKey) -> bool:
    """Whether the implementation belongs in this race at all (UnsupportedCase if it cannot load here)."""
    declared = kept(config).implementation(name)
    if key.device not in declared.devices or key.dtype not in declared.dtypes:
        return False
    if not plan_of(config).sizes_and_phases.races(name, named=kept(config).impl_named or name in kept(config).plugins):
        return False
    if (declared.optimizer != "sgd" or declared.batching != "full" or declared.model != "two-layer") \
            and not kept(config).impl_named and not plan_of(config).sizes_and_phases.variants:
        return False
    if declared.model == "dynamic" and key.phase != "step":
        return False  # loss() and loss_and_grads() stay at one depth; a step takes each in turn
    if not applies(agreement_at(key.problem, declared.model), declared):
        return False  # a network it does not compute (its bias declaration)
    return not (key.timing == "throughput" and BACKENDS[declared.backend].sync_policy(key.device).startswith("none"))


def entrants(config, key: RaceKey) -> list[Entrant]:
    """The race's implementations: the verified ones (and with --time-unverified those that disagree in numbers).

    Every one left out is recorded with its reason (bench.store.excluded).
    """
    found = []
    for name in kept(config).impls:
        try:
            if not enters(config, name, key):
                continue
            outcome = verdict(config, name, key)
        except UnsupportedCase as reason:
            excluded(config, name, key, f"cannot run here: {reason}")
            continue
        if not outcome.passed:
            why = outcome.explanation or "disagrees with the reference"
            if not plan_of(config).time_unverified:
                excluded(config, name, key, f"failed verification, not timed (--time-unverified times it, "
                         f"flagged): {why}")
                continue
            if not np.isfinite(outcome.ratio):  # an error, a crash or a hang: nothing to time
                excluded(config, name, key, f"failed verification without an answer to time: {why}")
                continue
        try:
            session = timing_session(config, name, key)
            contender = Contender(name, timed_call(session, key), pool=session.backend.name)
        except Exception as error:  # noqa: BLE001 (it failed to load or prepare in this process: it is not timed)
            excluded(config, name, key, f"could not be prepared for timing: {type(error).__name__}: {error}")
            continue
        found.append((contender, session, outcome))
    return found


def _libraries(key: RaceKey) -> list[str]:
    """The libraries present here that run on the race's device in its mode."""
    return [library for library in LIBRARIES
            if not (BACKENDS[library].missing_reason() or BACKENDS[library].device_missing_reason(key.device)
                    or BACKENDS[library].mode_missing_reason(key.device, key.dtype, key.mode))]


def floor_contenders(key: RaceKey) -> list[tuple[Contender, FloorInfo]]:
    """Each library's products and elementwise work of the phase (latency races only)."""
    if key.timing != "latency":
        return []
    found = []
    for library in _libraries(key):
        with BACKENDS[library].scope(key.device, key.dtype, key.mode):
            for part in PARTS:
                call = part_call(library, part, key.problem, key.phase, key.device, key.dtype)
                info = FloorInfo(library=library, part=part, device=key.device, dtype=key.dtype, mode=key.mode,
                                 **_size(key.problem), phase=key.phase, flops=flops(key.problem, key.phase) if
                                 part == "products" else 0, race=key.id)
                found.append((Contender(f"{part}:{library}", call, pool=library), info))
    return found


def aa_twin(entered: list[Entrant], key: RaceKey) -> Contender | None:
    """The A/A twin of a latency race: the first verified implementation of AA_CANDIDATES, timed again."""
    by_name = {c.key: c for c, _, outcome in entered if outcome.passed}
    first = next((by_name[name] for name in AA_CANDIDATES if name in by_name), None)
    if first is None or key.timing != "latency":
        return None
    return Contender("A/A", first.call, twin_of=first.key, pool=first.pool)


def _size(problem: Problem) -> dict:
    return dict(N=problem.N, D_in=problem.D_in, H=problem.H, D_out=problem.D_out, bias=problem.bias)


def scopes(key: RaceKey) -> contextlib.ExitStack:
    """Every framework's context for the race's numerics (jax's x64, torch's TF32 switches), entered together.

    Every implementation that runs here is written on one of these libraries.
    """
    stack = contextlib.ExitStack()
    for library in _libraries(key):
        stack.enter_context(BACKENDS[library].scope(key.device, key.dtype, key.mode))
    return stack


def device_measures(entered: list[Entrant], key: RaceKey, timings: Timings) -> dict[str, dict]:
    """Each timed implementation's device time, peak memory and kernels per call (latency races only)."""
    if key.timing != "latency":
        return {}
    return {contender.key: dict(device_time_s=session.backend.device_seconds(contender.call, session.device),
                                peak_memory_bytes=session.backend.peak_memory_bytes(contender.call, session.device),
                                kernels_per_call=session.backend.kernels_per_call(contender.call, session.device))
            for contender, session, _ in entered if contender.key not in timings.failed}


def record_race(config, key: RaceKey, entered: list[Entrant], floors: list[tuple[Contender, FloorInfo]],
                twin: Contender | None, timings: Timings, measures: dict[str, dict]) -> None:
    """Every contender's record and samples for the races file; those that raised while timed, as excluded."""
    for contender, session, outcome in entered:
        if contender.key in timings.failed:
            excluded(config, contender.key, key, f"raised while timed: {timings.failed[contender.key]}")
            continue
        impl = session.impl
        record = CaseInfo(
            impl=impl.name, summary=impl.summary, framework=impl.backend, eager_by_design=impl.eager_by_design,
            device=key.device, dtype=key.dtype, mode=key.mode, **_size(key.problem), phase=key.phase,
            timing=key.timing, calls_per_round=QUEUED_CALLS if key.timing == "throughput" else 1,
            sync=session.backend.sync_policy(key.device), threads=thread_count(),
            flops=dynamic_flops(key.problem, TIMED_DEPTHS) if impl.model == "dynamic" else
            call_flops(key.problem, key.phase, session.batching), first_call_s=timings.first_call_s[contender.key],
            race=key.id, verified=outcome.passed, worst_error_over_tol=_finite(outcome.ratio),
            faults_per_call=timings.faults_per_call.get(contender.key), **measures.get(contender.key, {}))
        recorded(config, record, timings, contender.key)
    for contender, info in floors:
        if contender.key not in timings.failed:
            recorded(config, info, timings, contender.key)
    if twin and not {twin.twin_of, "A/A"} & set(timings.failed):
        for repeat, contender_key in (("A1", twin.twin_of), ("A2", "A/A")):
            recorded(config, AAInfo(repeat=repeat, impl=twin.twin_of, device=key.device, dtype=key.dtype,
                                    mode=key.mode, phase=key.phase, race=key.id,
                                    **{k: v for k, v in _size(key.problem).items() if k != "bias"}),
                     timings, contender_key)


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def library_arrays(library: str, device: str, dtype: str, *shapes: tuple[int, int]):
    """The library's backend and random arrays of ``shapes`` on the device; a skip where it cannot run here."""
    backend = BACKENDS[library]
    reason = backend.missing_reason() or backend.device_missing_reason(device)
    if reason:
        pytest.skip(reason)
    rng = np.random.default_rng(0)
    return backend, [backend.from_numpy(rng.standard_normal(shape), device, dtype) for shape in shapes]
