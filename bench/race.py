"""Timing cases against each other: rounds of a shuffled round-robin, every sample kept.

pytest-benchmark times one benchmark to its end before the next starts, so a burst of load
from elsewhere lands on whichever case is running, and a ratio between two cases compares
moments minutes apart. Here the cases that are compared with each other take turns: each
round times every contender once, in an order drawn afresh, so drift lands on all alike, and
a ratio can be taken round by round (paired samples).

Within a round the contenders of one thread pool (one framework) run back to back, the pools
in an order drawn afresh. After each framework's calls its idle pool threads keep spinning for
a while (OpenBLAS about 0.1 s, GNU OpenMP and Eigen less), on the cores the next framework
needs: a switch of pool waits, untimed, until those threads sleep, and the first contender after it
settles longer than a turn within its pool. Every framework is thus timed
under its own defaults without another's pool on its cores, and cross-framework ratios still
pair samples of the same round, seconds apart.
"""

from __future__ import annotations

import gc
import math
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from bench.faults import minor_faults
from impls.serve import first_line


@dataclass(frozen=True)
class Contender:
    """One callable in a race (one invocation; a throughput case queues several calls in it)."""

    key: str
    call: Callable[[], object]
    twin_of: str | None = None   # an A/A twin: timed with the same invocations per sample as its original
    pool: str = ""               # the framework whose thread pools it runs on: one pool's calls run back to back
    #: A contender that runs in another process (bench.alone.Turns): given the invocations per sample, it settles
    #: there, times them with that process's clock and returns seconds and minor page faults per invocation (None
    #: where not counted). The race does not settle it or count its faults here; its pipe's round trip is not timed.
    sampled_elsewhere: Callable[[int], tuple[float, float | None]] | None = None


@dataclass(frozen=True)
class Settings:
    """How long a race runs: warm-up, the shortest sample, and the number of rounds."""

    rounds: int = 60
    warmup_s: float = 0.05          # per contender, after its first call
    warmup_calls: int = 5           # at least this many warm-up calls, however slow
    min_sample_s: float = 5e-3      # invocations per sample repeated up to this: a sample averages out per-call jitter
    settle_calls: int = 1           # at least this many untimed calls at the start of each turn
    #: ... and as many as take this long (from the warm-up's estimate): caches, thread pools and the cores' clocks
    #: back to this case after another's turn. One call was not enough: numpy-manual's grads raced against its own
    #: twin read 14% slower than raced alone in the same process; with about 1.2 ms of calls, within 5%. Within 1% it
    #: is not: torch-autograd's float32 grads at 1 thread, raced after five other torch ways against two processes of
    #: its own taking turns (which settle 50 ms), read +1.3% slower than them (median of thirteen races of 40 rounds),
    #: +0.65% with 20 ms and +0.0% with 50 ms (median of seven); but 50 ms made the 1-thread job take 1,673 s
    #: instead of 688 (2026-12-05), where issue 3 asks for 10 minutes.
    settle_s: float = 2e-3
    #: ... and at a switch of pool, as many as take this long. jax-grad's float32 grads at 1 thread, raced with
    #: torch-autograd in fresh processes taking turns: 385 to 509 µs with 2 ms of calls, 370 to 426 with 10 ms,
    #: 363 to 372 with 50 ms, where raced alone they read 349 to 371 (2026-12-04, five or six processes each).
    switch_settle_s: float = 5e-2
    #: The longest wait at a switch of pool for the previous pool's threads to sleep: above OpenBLAS's
    #: default spin (2**28 cycles, about 0.1 s), so that a fixed wait suffices where threads cannot be seen.
    switch_wait_s: float = 0.25
    seed: int = 0


@dataclass(frozen=True)
class Timings:
    """What one race measured, per contender: seconds per invocation."""

    first_call_s: dict[str, float]
    loops: dict[str, int]                # invocations per sample
    samples_s: dict[str, np.ndarray]     # one per round, aligned by round across contenders
    failed: dict[str, str]               # contenders that raised, and the exception's first line: no samples
    #: the median over rounds of minor page faults per invocation (bench/faults.py); absent where not counted
    faults_per_call: dict[str, float] = field(default_factory=dict)


def _failure(error: Exception) -> str:
    return f"{type(error).__name__}: {first_line(error)}"


def _per_invocation(contender: Contender, loops: int, clock: Callable[[], float]) -> float:
    if contender.sampled_elsewhere:
        return contender.sampled_elsewhere(loops)[0]
    start = clock()
    for _ in range(loops):
        contender.call()
    return (clock() - start) / loops


def running_threads(task_dir: str = "/proc/self/task") -> int | None:
    """How many of this process's threads other than the calling one are running (spinning), None where unseen."""
    me, running = str(threading.get_native_id()), 0
    try:
        for tid in os.listdir(task_dir):
            if tid == me:
                continue
            try:
                with open(f"{task_dir}/{tid}/stat") as stat:
                    running += stat.read().rpartition(")")[2].split()[0] == "R"
            except (OSError, IndexError):
                continue  # the thread ended while it was read
    except OSError:
        return None
    return running


def wait_for_idle_pools(longest_s: float) -> None:
    """Wait, at most ``longest_s``, until no other thread of this process runs: the last pool's spin has ended.

    Where threads cannot be seen (no /proc), wait ``longest_s``.
    """
    end = time.monotonic() + longest_s
    while time.monotonic() < end:
        running = running_threads()
        if running == 0:
            return
        time.sleep(2e-4 if running is not None else max(0.0, end - time.monotonic()))


def _round_order(contenders: list[Contender], rng: np.random.Generator) -> list[int]:
    """One round's order: the pools in a random order, each pool's contenders back to back in a random order."""
    pools: dict[str, list[int]] = {}
    for i, contender in enumerate(contenders):
        pools.setdefault(contender.pool, []).append(i)
    members = list(pools.values())
    return [members[p][i] for p in rng.permutation(len(members)) for i in rng.permutation(len(members[p]))]


def race(contenders: list[Contender], settings: Settings = Settings(),
         clock: Callable[[], float] = time.perf_counter,
         wait_for_idle: Callable[[float], None] = wait_for_idle_pools,
         after_round: Callable[[], None] = lambda: None,
         faults: Callable[[], int | None] = minor_faults) -> Timings:
    """Every contender's first call alone, a warm-up, then ``settings.rounds`` shuffled rounds.

    A contender that raises is dropped from the rest of the race and named in ``failed``; the others go on.
    ``clock`` reads seconds (pytest-benchmark's ``timer``): a test passes a fake one that only its planted
    calls move, so that what it asserts about the timings holds however loaded the machine is.
    ``wait_for_idle`` is called, untimed, wherever the next contender runs on another pool than the last, and
    ``after_round`` after each round (bench.state.Stage reads the machine's state there). ``faults`` counts the
    process's page faults so far; it is read around each sample, outside the timed window.
    """
    keys = [c.key for c in contenders]
    if len(set(keys)) != len(keys):
        raise ValueError(f"race: contender keys must be unique, got {keys}")
    first_call_s, loops, settles, switch_settles, failed = {}, {}, {}, {}, {}
    for previous, contender in zip([None, *contenders], contenders):
        if previous is None or contender.pool != previous.pool:
            wait_for_idle(settings.switch_wait_s)
        try:
            first_call_s[contender.key] = _per_invocation(contender, 1, clock)
            warmup_end, calls, estimate = clock() + settings.warmup_s, 0, math.inf
            while calls < settings.warmup_calls or clock() < warmup_end:
                estimate = min(estimate, _per_invocation(contender, 1, clock))
                calls += 1
        except Exception as error:  # noqa: BLE001 (the code under test failed: reported, not fatal)
            failed[contender.key] = _failure(error)
            continue
        per_call = max(estimate, 1e-9)
        loops[contender.key] = max(1, math.ceil(settings.min_sample_s / per_call))
        settles[contender.key] = max(settings.settle_calls, math.ceil(settings.settle_s / per_call))
        switch_settles[contender.key] = max(settles[contender.key], math.ceil(settings.switch_settle_s / per_call))

    for contender in contenders:
        if contender.twin_of in loops and contender.key in loops:
            for found in (loops, settles, switch_settles):
                found[contender.key] = found[contender.twin_of]

    rng = np.random.default_rng(settings.seed)
    samples = {key: np.empty(settings.rounds) for key in keys}
    faulted = {key: np.empty(settings.rounds) for key in keys}
    collecting, last_pool = gc.isenabled(), None
    gc.disable()
    try:
        for round_index in range(settings.rounds):
            for i in _round_order(contenders, rng):
                contender = contenders[i]
                if contender.key in failed:
                    continue
                settle = settles[contender.key]
                if contender.pool != last_pool:
                    wait_for_idle(settings.switch_wait_s)
                    last_pool, settle = contender.pool, switch_settles[contender.key]
                try:
                    if contender.sampled_elsewhere:
                        seconds, faulted_there = contender.sampled_elsewhere(loops[contender.key])
                        samples[contender.key][round_index] = seconds
                        faulted[contender.key][round_index] = np.nan if faulted_there is None else faulted_there
                        continue
                    for _ in range(settle):
                        contender.call()
                    before = faults()
                    samples[contender.key][round_index] = _per_invocation(contender, loops[contender.key], clock)
                    after = faults()
                    faulted[contender.key][round_index] = np.nan if before is None else \
                        (after - before) / loops[contender.key]
                except Exception as error:  # noqa: BLE001
                    failed[contender.key] = _failure(error)
            after_round()
    finally:
        if collecting:
            gc.enable()
    kept = [key for key in keys if key not in failed]
    return Timings(first_call_s, loops, {key: samples[key] for key in kept}, failed,
                   {key: float(np.median(faulted[key])) for key in kept if not np.isnan(faulted[key]).any()})
