"""Benchmarks: one race per (device, dtype, mode, size, phase, timing), every implementation in it.

Run by the main job (``python -m bench``, ``pytest --benchmark``); the plain test run does not
collect this folder. Before a case is timed, the catalogue's agreement check runs on it at its
size (once per implementation, device, dtype, mode and size, in a child process); a case that
fails is left out of the race, or timed and flagged with ``--time-unverified``. The race (bench/race.py) times
the cases interleaved; a latency race also times each library's own products and elementwise
work, and the first verified implementation of ``AA_CANDIDATES`` twice (A/A). Set-up happens
before the timed region, and every timed call ends with the device synchronized.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np
import pytest

import impls
from bench.floors import LIBRARIES, PARTS, part_call
from bench.race import Contender, Settings, race
from bench.schema import AAInfo, CaseInfo, FloorInfo, GemmInfo
from bench.sizes import PRESETS, call_flops, dynamic_flops, flops, matmuls
from bench.store import excluded, recorded
from impls.backends import BACKENDS, DTYPES
from impls.contract import UnsupportedCase
from impls.threads import thread_count
from reference.checks import dynamic as dynamic_checks
from reference.checks.catalogue import agreement_at
from reference.checks.check import Outcome
from reference.drivers.pytest_plugin import OPTIONS, devices_and_modes, implementation, pool, selected, spec
from reference.checks.run import run_check
from reference.harness.session import Session, combinations
from reference.problem.cases import TUTORIAL_LR
from reference.model import dynamic
from reference.problem.inputs import Problem, draw
from reference.problem.variants import DEPTH_SEED, middle_repeats

pytestmark = pytest.mark.bench
#: Calls queued per invocation in throughput timing, with one synchronization at the end.
QUEUED_CALLS = 20
#: The first of these in a race is timed twice (A/A): how far apart two timings of one case come.
AA_CANDIDATES = ("torch-autograd", "jax-grad", "numpy-manual")


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


def settings(config) -> Settings:
    return Settings(rounds=config.getoption("rounds") or PRESETS[config.getoption("preset")].rounds)


def pytest_generate_tests(metafunc):
    if "race_key" in metafunc.fixturenames:
        config = metafunc.config
        preset = PRESETS[config.getoption("preset")]
        devices, modes = devices_and_modes(config)
        keys = [RaceKey(device, dtype, mode, problem, phase, timing)
                for device, dtype, mode in combinations(devices, selected(config, "dtype") or DTYPES, modes)
                for problem in preset.sizes for phase in preset.phases for timing in preset.timings]
        metafunc.parametrize("race_key", keys, ids=[k.id for k in keys])


# --- the cases of a race ------------------------------------------------------------------------

VERDICTS = pytest.StashKey[dict]()
SESSIONS = pytest.StashKey[dict]()


def verdict(config, name: str, key: RaceKey) -> Outcome:
    """The catalogue's agreement check (loss, gradients, one step) at the race's size, in a child process.

    In a child, so that the implementation cannot decide its own verdict and so that its first
    call in this process, the one timed, still includes compilation. Cached per implementation,
    device, dtype, mode and size: the phases and timings share one verdict.
    """
    cache = config.stash.setdefault(VERDICTS, {})
    cache_key = (name, key.device, key.dtype, key.mode, key.problem)
    if cache_key not in cache:
        session = Session.isolated(spec(config, name), key.device, key.dtype, key.mode, pool(config))
        cache[cache_key] = run_check(agreement_at(key.problem, implementation(config, name).model), session)
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
        cache[cache_key] = Session(impls.load_any(spec(config, name)), key.device, key.dtype, key.mode)
    return cache[cache_key]


def phase_call(session: Session, state, phase: str, synchronized: bool = True):
    """The callable to time: one phase on the prepared state, ending with the device synchronized."""
    impl, sync, device = session.impl, session.backend.sync, session.device
    method = {"forward": impl.loss, "grads": impl.loss_and_grads, "step": impl.step}[phase]
    return (lambda: sync(method(state), device)) if synchronized else (lambda: method(state))


#: The depths a dynamic implementation's timed steps go through, in turn (seeded, 0 to 3 each).
TIMED_DEPTHS = middle_repeats(DEPTH_SEED, 1000)


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


def entrants(config, key: RaceKey) -> list[tuple[Contender, Session, Outcome]]:
    """The race's implementations: the verified ones (and with --time-unverified those that disagree in numbers).

    Every one left out is recorded with its reason (bench.store.excluded).
    """
    found = []
    for name in selected(config, "impl") or OPTIONS["impl"]:
        try:
            declared = implementation(config, name)
            if key.device not in declared.devices or key.dtype not in declared.dtypes:
                continue
            if (declared.optimizer != "sgd" or declared.batching != "full" or declared.model != "two-layer") \
                    and config.getoption("impl") in (None, "all") and not PRESETS[config.getoption("preset")].variants:
                continue
            if declared.model == "dynamic" and key.phase != "step":
                continue  # loss() and loss_and_grads() stay at one depth; a step takes each in turn
            if key.timing == "throughput" and BACKENDS[declared.backend].sync_policy(key.device).startswith("none"):
                continue
            outcome = verdict(config, name, key)
        except UnsupportedCase as reason:
            excluded(config, name, key, f"cannot run here: {reason}")
            continue
        if not outcome.passed:
            why = outcome.explanation or "disagrees with the reference"
            if not config.getoption("time_unverified"):
                excluded(config, name, key, f"failed verification, not timed (--time-unverified times it, "
                         f"flagged): {why}")
                continue
            if not np.isfinite(outcome.ratio):  # an error, a crash or a hang: nothing to time
                excluded(config, name, key, f"failed verification without an answer to time: {why}")
                continue
        try:
            session = timing_session(config, name, key)
            contender = Contender(name, timed_call(session, key))
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
                found.append((Contender(f"{part}:{library}", call), info))
    return found


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


def test_race(request, race_key: RaceKey):
    """Every verified implementation and each library's floors of one phase, timed in shuffled rounds."""
    config, key = request.config, race_key
    with scopes(key):
        entered = entrants(config, key)
        if not entered:
            pytest.skip(f"no implementation to time on {key.device} {key.dtype} {key.mode} ({key.timing})")
        floors = floor_contenders(key)
        verified = [c for c, _, outcome in entered if outcome.passed]
        by_name = {c.key: c for c in verified}
        twin = next((by_name[name] for name in AA_CANDIDATES if name in by_name), None) \
            if key.timing == "latency" else None
        field = [c for c, _, _ in entered] + [c for c, _ in floors] + ([Contender("A/A", twin.call, twin_of=twin.key)] if twin else [])
        timings = race(field, settings(config))
        device_measures = {c.key: _device_measures(s, c) for c, s, _ in entered
                           if key.timing == "latency" and c.key not in timings.failed}
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
            **device_measures.get(contender.key, {}))
        recorded(config, record, timings, contender.key)
    for contender, info in floors:
        if contender.key not in timings.failed:
            recorded(config, info, timings, contender.key)
    if twin and not {twin.key, "A/A"} & set(timings.failed):
        for repeat, contender_key in (("A1", twin.key), ("A2", "A/A")):
            recorded(config, AAInfo(repeat=repeat, impl=twin.key, device=key.device, dtype=key.dtype,
                                    mode=key.mode, phase=key.phase, race=key.id,
                                    **{k: v for k, v in _size(key.problem).items() if k != "bias"}),
                     timings, contender_key)


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _device_measures(session: Session, contender: Contender) -> dict:
    backend, device = session.backend, session.device
    return dict(device_time_s=backend.device_seconds(contender.call, device),
                peak_memory_bytes=backend.peak_memory_bytes(contender.call, device),
                kernels_per_call=backend.kernels_per_call(contender.call, device))


# --- the GEMM floor: each product alone, with pytest-benchmark --------------------------------------

def _library_arrays(library: str, device: str, dtype: str, *shapes: tuple[int, int]):
    backend = BACKENDS[library]
    reason = backend.missing_reason() or backend.device_missing_reason(device)
    if reason:
        pytest.skip(reason)
    rng = np.random.default_rng(0)
    return backend, [backend.from_numpy(rng.standard_normal(shape), device, dtype) for shape in shapes]


@pytest.mark.parametrize("product", [name for name, *_ in matmuls(Problem(), "step")])
@pytest.mark.parametrize("library", ["numpy", "torch"])
def test_gemm(benchmark, problem, product, library, dtype_name, device_name):
    """One matrix product of the step, timed alone; the report sums the fastest library's into the GEMM floor."""
    _, m, k, n = next(p for p in matmuls(problem, "step") if p[0] == product)
    # Operands laid out as in the step: "x.T" is a transposed view of x (N, D_in), not a copy.
    left, right = product.split("@")
    backend, (a, b) = _library_arrays(library, device_name, dtype_name,
                                      (k, m) if left.endswith(".T") else (m, k),
                                      (n, k) if right.endswith(".T") else (k, n))
    a, b = (a.T if left.endswith(".T") else a), (b.T if right.endswith(".T") else b)
    benchmark.group = f"gemm {device_name} {dtype_name} {problem.id}"
    benchmark.extra_info.update(GemmInfo(
        library=library, device=device_name, dtype=dtype_name, N=problem.N, D_in=problem.D_in, H=problem.H,
        D_out=problem.D_out, product=product, flops=2 * m * k * n, sync=backend.sync_policy(device_name)).extra_info())
    benchmark(lambda: backend.sync(a @ b, device_name))

