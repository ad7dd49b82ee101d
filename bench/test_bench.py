"""Benchmarks: one race per (device, dtype, mode, size, phase, timing), every implementation in it.

Run by the main job (``python -m bench``, ``pytest --benchmark``); the plain test run does not
collect this folder. Who enters each race, its floors and its A/A twin, and what is recorded, is
bench/lineup.py; the race itself (bench/race.py) times the contenders interleaved.
"""

from __future__ import annotations

import pytest

from bench.alone import TurnTakers, record_turns, turn_takers
from bench.lineup import (RaceKey, aa_twin, device_measures, entrants, floor_contenders, library_arrays,
                          race_keys, record_race, scopes, settings)
from bench.race import race
from bench.schema import GemmInfo
from bench.sizes import matmuls
from bench.state import own_cpu_seconds, watched
from reference.problem.inputs import Problem

pytestmark = pytest.mark.bench


def pytest_generate_tests(metafunc):
    if "race_key" in metafunc.fixturenames:
        keys = race_keys(metafunc.config)
        metafunc.parametrize("race_key", keys, ids=[k.id for k in keys])


@pytest.fixture(scope="session")
def turn_children():
    children = TurnTakers()
    yield children
    children.close()


def test_race(request, race_key: RaceKey, turn_children: TurnTakers):
    """Every verified implementation and each library's floors of one phase, timed in shuffled rounds; at the
    default size, each plain way also in a process of its own that takes its turn (bench.alone.Turns)."""
    config, key = request.config, race_key
    with scopes(key):
        entered = entrants(config, key)
        if not entered:
            pytest.skip(f"no implementation to time on {key.device} {key.dtype} {key.mode} ({key.timing})")
        floors, twin = floor_contenders(key), aa_twin(entered, key)
        takers = turn_takers(config, key, entered, turn_children)
        field = [c for c, _, _ in entered] + [c for c, _ in floors] + ([twin] if twin else []) + [c for c, _ in takers]
        with watched(config, key.id, own=lambda: own_cpu_seconds(turn_children.pids)) as stage:
            timings = race(field, settings(config), after_round=stage.after_round)
        measures = device_measures(entered, key, timings)
    record_race(config, key, entered, floors, twin, timings, measures)
    record_turns(config, key, takers, timings)


# --- the GEMM floor: each product alone, with pytest-benchmark --------------------------------------

@pytest.mark.parametrize("product", [name for name, *_ in matmuls(Problem(), "step")])
@pytest.mark.parametrize("library", ["numpy", "torch"])
def test_gemm(benchmark, problem, product, library, dtype_name, device_name):
    """One matrix product of the step, timed alone; the report sums the fastest library's into the GEMM floor."""
    _, m, k, n = next(p for p in matmuls(problem, "step") if p[0] == product)
    # Operands laid out as in the step: "x.T" is a transposed view of x (N, D_in), not a copy.
    left, right = product.split("@")
    backend, (a, b) = library_arrays(library, device_name, dtype_name,
                                     (k, m) if left.endswith(".T") else (m, k),
                                     (n, k) if right.endswith(".T") else (k, n))
    a, b = (a.T if left.endswith(".T") else a), (b.T if right.endswith(".T") else b)
    benchmark.group = f"gemm {device_name} {dtype_name} {problem.id}"
    benchmark.extra_info.update(GemmInfo(
        library=library, device=device_name, dtype=dtype_name, N=problem.N, D_in=problem.D_in, H=problem.H,
        D_out=problem.D_out, product=product, flops=2 * m * k * n, sync=backend.sync_policy(device_name)).extra_info())
    benchmark(lambda: backend.sync(a @ b, device_name))

