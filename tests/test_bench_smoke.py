"""Every benchmark case runs once (timing off), so CI proves the main job's cases work."""

import os
import subprocess
import sys

import pytest

pytest.importorskip("pytest_benchmark", reason="the benchmarks need pytest-benchmark")


def run_benchmarks_once(*options: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "JAX_PLATFORMS": os.environ.get("JAX_PLATFORMS", "cpu")}
    return subprocess.run([sys.executable, "-m", "pytest", "-n", "0", "bench", "--benchmark-disable", "-q",
                           "-p", "no:cacheprovider", *options], capture_output=True, text=True, env=env, timeout=600)


def summary_line(run: subprocess.CompletedProcess) -> str:
    return run.stdout.strip().splitlines()[-1]


def test_every_default_benchmark_case_runs():
    run = run_benchmarks_once("--preset=default")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "passed" in summary_line(run) and "failed" not in summary_line(run), summary_line(run)


def test_sweep_preset_runs():
    run = run_benchmarks_once("--preset=sweep", "--impl=numpy-manual", "--dtype=float32", "-k", "test_phase")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "39 passed" in summary_line(run), summary_line(run)
