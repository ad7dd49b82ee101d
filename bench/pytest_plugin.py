"""The benchmarks' pytest plugin: ``pytest --benchmark`` (the main job), the timing options, the progress lines.

Loaded by the repository's root conftest.py beside the checking plugin. ``pytest`` alone stays
the correctness suite; ``pytest --benchmark [selection]`` runs the main job exactly as
``python -m bench`` does (bench.job): the benchmarks under bench/ in a child pytest with the
thread settings, then the report under results/.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

import pytest

from bench import job, store
from bench.sizes import PRESETS

STARTED = pytest.StashKey[float]()
RACES = pytest.StashKey[int]()
DONE = pytest.StashKey[int]()


def pytest_addoption(parser):
    group = parser.getgroup("twolayer-bench benchmarks")
    group.addoption("--benchmark", action="store_true",
                    help="run the main job instead of the tests: time the selected cases (--impl, --device, ...) "
                         "and write a report under results/, as python -m bench does")
    group.addoption("--preset", default="default", choices=sorted(PRESETS), help="sizes to time (default: default)")
    group.addoption("--threads", default="all", help="threads per framework: 'all' (every core) or a number")
    group.addoption("--results", default="results", help="folder the run's folder is written under")
    group.addoption("--time-unverified", action="store_true",
                    help="time cases that fail verification too (flagged in every table and plot)")
    group.addoption("--rounds", type=int, default=None, help="rounds per race (default: the preset's)")
    # Set by the job for its child pytest: where the races are written (and the progress lines shown).
    group.addoption("--races-json", default=None, help=argparse.SUPPRESS)


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config):
    if not config.getoption("benchmark"):
        return None
    if config.getoption("shape"):
        print("error: --shape selects the checks' shapes; the benchmarks' sizes come from --preset", file=sys.stderr)
        return pytest.ExitCode.USAGE_ERROR
    try:
        options = job.Options.parse(
            preset=config.getoption("preset"), threads=config.getoption("threads"),
            impl=config.getoption("impl") or "all", device=config.getoption("device") or "all",
            dtype=config.getoption("dtype") or "all", mode=config.getoption("mode") or "all",
            impl_paths=tuple(config.getoption("impl_path")), results=Path(config.getoption("results")),
            time_unverified=config.getoption("time_unverified"), rounds=config.getoption("rounds"),
            command=shlex.join(["pytest", *config.invocation_params.args]))
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return pytest.ExitCode.USAGE_ERROR
    return job.run(options)


def _is_race(item) -> bool:
    return getattr(item, "originalname", "") == "test_race"


def pytest_collection_finish(session):
    session.config.stash[STARTED] = time.perf_counter()
    session.config.stash[RACES] = sum(1 for item in session.items if _is_race(item))
    session.config.stash[DONE] = 0


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """Before each race: which case group, how many remain, and the time left at the pace so far."""
    config = item.config
    if _is_race(item) and config.getoption("races_json"):
        races, done, elapsed = config.stash[RACES], config.stash[DONE], time.perf_counter() - config.stash[STARTED]
        left = f", about {_duration(elapsed / done * (races - done))} left" if done else ""
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter:
            reporter.ensure_newline()
            reporter.write_line(f"[{done + 1}/{races}] timing {item.callspec.id} "
                                f"({_duration(elapsed)} so far{left})")
    yield
    if _is_race(item):
        config.stash[DONE] += 1


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def pytest_report_teststatus(report, config):
    # The progress lines say what ran; a dot per race would only interleave with them.
    if config.getoption("races_json") and report.when == "call" and report.passed:
        return "passed", "", "PASSED"
    return None


def pytest_sessionfinish(session):
    path = session.config.getoption("races_json")
    if path and not hasattr(session.config, "workerinput"):
        store.write(session.config, Path(path))


def pytest_terminal_summary(terminalreporter, config):
    grouped = store.excluded_by_reason(config)
    if grouped:
        terminalreporter.section("not timed")
        for reason, names in grouped.items():
            terminalreporter.write_line(f"{', '.join(names)}: {reason}")


def pytest_configure(config):
    config.addinivalue_line("markers", "load: a benchmark timed with one core kept busy (bench/test_load.py)")
