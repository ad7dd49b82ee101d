"""Timing cases against each other: rounds of a shuffled round-robin, every sample kept.

pytest-benchmark times one benchmark to its end before the next starts, so a burst of load
from elsewhere lands on whichever case is running, and a ratio between two cases compares
moments minutes apart. Here the cases that are compared with each other take turns: each
round times every contender once, in an order drawn afresh, so drift lands on all alike, and
a ratio can be taken round by round (paired samples).
"""

from __future__ import annotations

import gc
import math
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from impls.serve import first_line


@dataclass(frozen=True)
class Contender:
    """One callable in a race (one invocation; a throughput case queues several calls in it)."""

    key: str
    call: Callable[[], object]
    twin_of: str | None = None   # an A/A twin: timed with the same invocations per sample as its original


@dataclass(frozen=True)
class Settings:
    """How long a race runs: warm-up, the shortest sample, and the number of rounds."""

    rounds: int = 60
    warmup_s: float = 0.05          # per contender, after its first call
    warmup_calls: int = 5           # at least this many warm-up calls, however slow
    min_sample_s: float = 5e-3      # invocations per sample repeated up to this: a sample averages out per-call jitter
    settle_calls: int = 1           # untimed calls at the start of each turn: caches and thread pools back to this case
    seed: int = 0


@dataclass(frozen=True)
class Timings:
    """What one race measured, per contender: seconds per invocation."""

    first_call_s: dict[str, float]
    loops: dict[str, int]                # invocations per sample
    samples_s: dict[str, np.ndarray]     # one per round, aligned by round across contenders
    failed: dict[str, str]               # contenders that raised, and the exception's first line: no samples


def _failure(error: Exception) -> str:
    return f"{type(error).__name__}: {first_line(error)}"


def _per_invocation(contender: Contender, loops: int, clock: Callable[[], float]) -> float:
    start = clock()
    for _ in range(loops):
        contender.call()
    return (clock() - start) / loops


def race(contenders: list[Contender], settings: Settings = Settings(),
         clock: Callable[[], float] = time.perf_counter) -> Timings:
    """Every contender's first call alone, a warm-up, then ``settings.rounds`` shuffled rounds.

    A contender that raises is dropped from the rest of the race and named in ``failed``; the others go on.
    ``clock`` reads seconds (pytest-benchmark's ``timer``): a test passes a fake one that only its planted
    calls move, so that what it asserts about the timings holds however loaded the machine is.
    """
    keys = [c.key for c in contenders]
    if len(set(keys)) != len(keys):
        raise ValueError(f"race: contender keys must be unique, got {keys}")
    first_call_s, loops, failed = {}, {}, {}
    for contender in contenders:
        try:
            first_call_s[contender.key] = _per_invocation(contender, 1, clock)
            warmup_end, calls, estimate = clock() + settings.warmup_s, 0, math.inf
            while calls < settings.warmup_calls or clock() < warmup_end:
                estimate = min(estimate, _per_invocation(contender, 1, clock))
                calls += 1
        except Exception as error:  # noqa: BLE001 (the code under test failed: reported, not fatal)
            failed[contender.key] = _failure(error)
            continue
        loops[contender.key] = max(1, math.ceil(settings.min_sample_s / max(estimate, 1e-9)))

    for contender in contenders:
        if contender.twin_of in loops and contender.key in loops:
            loops[contender.key] = loops[contender.twin_of]

    rng = np.random.default_rng(settings.seed)
    samples = {key: np.empty(settings.rounds) for key in keys}
    collecting = gc.isenabled()
    gc.disable()
    try:
        for round_index in range(settings.rounds):
            for i in rng.permutation(len(contenders)):
                contender = contenders[i]
                if contender.key in failed:
                    continue
                try:
                    for _ in range(settings.settle_calls):
                        contender.call()
                    samples[contender.key][round_index] = _per_invocation(contender, loops[contender.key], clock)
                except Exception as error:  # noqa: BLE001
                    failed[contender.key] = _failure(error)
    finally:
        if collecting:
            gc.enable()
    return Timings(first_call_s, loops, {k: v for k, v in samples.items() if k not in failed}, failed)
