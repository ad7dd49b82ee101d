"""The benchmarks' pytest plugin: ``pytest --benchmark`` (the main job), the job's options, the progress lines.

Loaded by the repository's root conftest.py beside the checking plugin. ``pytest`` alone stays
the correctness suite; ``pytest --benchmark [selection]`` runs the main job exactly as
``python -m bench`` does (bench.job): the benchmarks under bench/ in a child pytest with the
thread settings, then the report under results/. Every run keeps its ``bench.options.Plan``
on the config; the job's child reads the job's (``--bench-plan``), selection included.
"""

from __future__ import annotations

import sys
import time
from collections import Counter

import pytest

from bench import job, store
from bench.options import PLAN, Plan, add_pytest_options, plan_of
from reference.harness.selection import Selection, keep

STARTED = pytest.StashKey[float]()
RACES = pytest.StashKey[int]()
DONE = pytest.StashKey[int]()
#: When the second race began: the pace of the races leaves out the stages before them and the first race (which
#: also verifies the first dtype's implementations and starts its turns); it includes the plain ways' processes
#: spread among the races (bench.schedule), which the time left then counts too.
RACES_STARTED = pytest.StashKey[float]()
#: Benchmarks collected per test function, and the function whose progress line was printed last.
COUNTS = pytest.StashKey[Counter]()
SHOWN = pytest.StashKey[str]()


def pytest_addoption(parser):
    group = parser.getgroup("twolayer-bench benchmarks")
    group.addoption("--benchmark", action="store_true",
                    help="run the main job instead of the tests: time the selected cases (--impl, --device, ...) "
                         "and write a report under results/, as python -m bench does")
    add_pytest_options(group)


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config):
    if not config.getoption("benchmark") or config.getoption("help") or config.getoption("version"):
        return None  # pytest answers --help and --version itself, the job's options included
    if config.getoption("shape"):
        print("error: --shape selects the checks' shapes; the benchmarks' sizes come from --preset", file=sys.stderr)
        return pytest.ExitCode.USAGE_ERROR
    try:
        plan = plan_of(config)
    except pytest.UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return pytest.ExitCode.USAGE_ERROR
    return job.run(plan)


@pytest.hookimpl(tryfirst=True)  # before the checking plugin, which keeps a selection only where none is kept
def pytest_configure(config):
    config.addinivalue_line("markers", "load: a benchmark timed with one core kept busy (bench/test_load.py)")
    path = config.getoption("bench_plan")
    if path:  # the job's child: the plan the job wrote, its selection included
        try:
            plan = Plan.read(path)
            keep(config, Selection(**plan.selection_options()))
        except ValueError as error:
            raise pytest.UsageError(str(error)) from None
        config.stash[PLAN] = plan


def _is_race(item) -> bool:
    return getattr(item, "originalname", "") == "test_race"


def pytest_collection_finish(session):
    session.config.stash[STARTED] = time.perf_counter()
    session.config.stash[RACES] = sum(1 for item in session.items if _is_race(item))
    session.config.stash[DONE] = 0
    session.config.stash[COUNTS] = Counter(getattr(item, "originalname", item.name) for item in session.items)
    session.config.stash[SHOWN] = ""


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """Before each race: which case group, how many remain, and the time left at the pace so far; before
    the first of each other benchmark (the ceilings, the load test): what it times and how many."""
    config = item.config
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if plan_of(config).races and reporter:
        races, done, elapsed = config.stash[RACES], config.stash[DONE], time.perf_counter() - config.stash[STARTED]
        name = getattr(item, "originalname", item.name)
        if _is_race(item):
            if done == 1:  # the pace from here: see RACES_STARTED
                config.stash[RACES_STARTED] = time.perf_counter()
            pace = (time.perf_counter() - config.stash[RACES_STARTED]) / (done - 1) if done > 1 else None
            left = f", about {_duration(pace * (races - done))} of races left" if pace else ""
            reporter.ensure_newline()
            reporter.write_line(f"[{done + 1}/{races}] timing {item.callspec.id} ({_duration(elapsed)} so far{left})")
        elif name != config.stash[SHOWN]:
            config.stash[SHOWN] = name
            doc = (getattr(getattr(item, "function", None), "__doc__", None) or "").strip().split("\n")[0]
            reporter.ensure_newline()
            reporter.write_line(f"timing {name} ({config.stash[COUNTS][name]} benchmark(s), {_duration(elapsed)} "
                                f"so far): {doc}")
    yield
    if _is_race(item):
        config.stash[DONE] += 1


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def pytest_report_teststatus(report, config):
    # The progress lines say what ran; a letter per race would only run into the next line ("stiming"). A skip's
    # reason is in the summary's SKIPPED lines.
    if plan_of(config).races and report.when == "call" and report.passed:
        return "passed", "", "PASSED"
    if plan_of(config).races and report.skipped:
        return "skipped", "", "SKIPPED"
    return None


def pytest_sessionfinish(session):
    races = plan_of(session.config).races
    if races and not hasattr(session.config, "workerinput"):
        store.write(session.config, races)


def pytest_terminal_summary(terminalreporter, config):
    grouped = store.excluded_by_reason(config)
    if grouped:
        terminalreporter.section("not timed")
        for reason, names in grouped.items():
            terminalreporter.write_line(f"{', '.join(names)}: {reason}")
