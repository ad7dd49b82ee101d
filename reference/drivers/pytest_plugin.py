"""The pytest driver: case-selection options, the report header, and the ``case``, ``session`` and ``check`` fixtures.

Loaded by the repository's root conftest.py for the tests (tests/) and the benchmarks (bench/).
The options become one ``reference.harness.selection.Selection``, kept on the config for the
fixtures below and for the benchmarks (``kept(config)``). A test that asks for ``session`` runs
once per selected case (implementation, device, dtype, mode), and one that also asks for ``check`` once per
check of the catalogue, after the checks it rests on, judged by a per-process ``ledger`` (a failed check reads what
those found instead of naming a cause of its own); the terminal summary ends with each case's most
likely cause. Devices and modes that are not present here are not generated unless asked for
(``--device cuda``, ``--mode tf32``): the header says once what was left out and why.
"""

from __future__ import annotations

import os
import platform

import pytest

from impls.backends import BACKENDS, DEVICES
from impls.contract import UnsupportedCase
from impls.threads import thread_settings
from reference.checks.catalogue import applies, left_out, select
from reference.checks.check import Outcome
from reference.checks.diagnose import Diagnosis
from reference.checks.run import Ledger
from reference.checks.verdict import order, root_cause
from reference.harness.isolation import DEFAULT_MEMORY_LIMIT
from reference.harness.selection import Selection, add_selection_options, keep, kept
from reference.harness.session import Case, Session

#: Seconds a check may run in pytest before it fails as timed out (the CLI's --timeout).
CHECK_TIMEOUT_S = float(os.environ.get("TWOLAYER_CHECK_TIMEOUT_S", 120))
#: Address space (GiB) each implementation's process may use (the CLI's --memory-limit); 0: no limit.
MEMORY_LIMIT_GIB = float(os.environ.get("TWOLAYER_MEMORY_LIMIT_GIB", DEFAULT_MEMORY_LIMIT / 2**30))


def pytest_addoption(parser):
    add_selection_options(parser.getgroup("twolayer-bench", "case selection").addoption)


def pytest_configure(config):
    # A selection kept already came with the benchmarks' plan (bench.pytest_plugin), not from these options.
    if kept(config) is None:
        try:
            keep(config, Selection(impl=config.getoption("impl"), device=config.getoption("device"),
                                   dtype=config.getoption("dtype"), mode=config.getoption("mode"),
                                   shape=config.getoption("shape"), impl_paths=config.getoption("impl_path"),
                                   memory_limit=int(MEMORY_LIMIT_GIB * 2**30), threads=1))
        except ValueError as error:
            raise pytest.UsageError(str(error)) from None
    config.pluginmanager.register(Causes(), "twolayer-causes")
    config.addinivalue_line("markers", "slow: long-running case, deselected by default (-m slow runs it)")
    config.addinivalue_line("markers", "bench: a benchmark (run by the main job, not the test suite)")


def pytest_report_header(config):
    lines = [f"python {platform.python_version()} on {platform.machine()}"]
    for backend in BACKENDS.values():
        if backend.missing_reason(here=False):
            lines.append(f"{backend.name}: not installed")
            continue
        devices = [d for d in DEVICES if backend.device_missing_reason(d) is None]
        lines.append(f"{backend.name} {backend.version()}: devices {', '.join(devices)}")
    lines.append("threads: " + ", ".join(f"{k}={v}" for k, v in thread_settings().items() if v))
    selection = kept(config)
    for device, reason in selection.absent.items():
        mode = " and mode tf32" if device == "cuda" else ""
        lines.append(f"not generated: device {device}{mode} ({reason}); ask with --device/--mode to see each case skip")
    if selection.plugins:
        lines.append("plug-ins: " + ", ".join(f"{p.name} ({p.summary})" for _, p in selection.plugins.values()))
    for name in selection.impls:
        try:
            lines.append(left_out(select(selection.shapes), selection.implementation(name)))
        except UnsupportedCase:
            continue
    return [line for line in lines if line]


def pytest_generate_tests(metafunc):
    selection = kept(metafunc.config)
    if "case" in metafunc.fixturenames:
        found = selection.cases()
        metafunc.parametrize("case", found, ids=[c.id for c in found])
    if "check" in metafunc.fixturenames:
        found = order(select(selection.shapes))  # what a check rests on first: its ledger entry is then there
        metafunc.parametrize("check", found, ids=[c.id for c in found])


def pytest_collection_modifyitems(config, items):
    selection = kept(config)
    # --impl-path alone checks the plug-ins: the tests that are not about a case stay out.
    if selection.plugins_alone:
        about_cases = [item for item in items if "case" in getattr(item, "fixturenames", ())]
        config.hook.pytest_deselected(items=[item for item in items if item not in about_cases])
        items[:] = about_cases
    # A check runs on the network it is about: the other model's pairs are not generated.
    other_model = []
    for item in items:
        params = item.callspec.params if hasattr(item, "callspec") else {}
        case, check = params.get("case"), params.get("check")
        if case is not None and check is not None:
            try:
                if not applies(check, selection.implementation(case.impl), case.device):
                    other_model.append(item)
            except UnsupportedCase:
                if check.model != "two-layer":  # the framework is missing: one skip per case is enough
                    other_model.append(item)
    if other_model:
        config.hook.pytest_deselected(items=other_model)
        dropped = set(other_model)
        items[:] = [item for item in items if item not in dropped]
    # Implementations that compile for every new shape (seconds each) are checked at the
    # tutorial's shape by default; the other shapes run with -m slow.
    for item in items:
        params = item.callspec.params if hasattr(item, "callspec") else {}
        case, check = params.get("case"), params.get("check")
        if case is None or check is None or check.shape in (None, "tutorial"):
            continue
        try:
            compiles = selection.implementation(case.impl).compiles_per_shape
        except UnsupportedCase:
            continue
        if compiles:
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def session(request, case: Case) -> Session:
    """The implementation under test, in a child process, on this case's device, dtype and mode; a skip if it cannot run here."""
    selection = kept(request.config)
    try:
        selection.implementation(case.impl)
        return Session.isolated(selection.spec(case.impl), case.device, case.dtype, case.mode, selection.pool)
    except UnsupportedCase as reason:
        pytest.skip(str(reason))


@pytest.fixture(scope="session")
def ledger(request) -> Ledger:
    """This process's judged outcomes by case and check: a check reads what those it rests on found, run once here."""
    return Ledger(select(kept(request.config).shapes), CHECK_TIMEOUT_S)


class Causes:
    """Each case's outcomes, read from the test reports (under pytest-xdist the workers' reports reach the
    controller, which writes the summary), and at the end the most likely cause of each case's failures."""

    def __init__(self):
        self.outcomes: dict[str, dict[str, Outcome]] = {}   # case label -> check id -> outcome

    def pytest_runtest_logreport(self, report):
        properties = dict(report.user_properties)
        if report.when == "call" and "diagnoses" in properties:
            outcome = Outcome(report.passed, diagnoses=tuple(Diagnosis(*d) for d in properties["diagnoses"]))
            self.outcomes.setdefault(properties["case"], {})[properties["check"]] = outcome

    def pytest_terminal_summary(self, terminalreporter):
        causes = {case: root_cause(outcomes) for case, outcomes in self.outcomes.items()}
        if not any(causes.values()):
            return
        terminalreporter.section("most likely cause of each case's failures")
        for case, cause in causes.items():
            if cause:
                terminalreporter.line(f"{case}: {cause.line}")
                for check_id in cause.unexplained:
                    terminalreporter.line(f"    not explained by it: {check_id}: "
                                          f"{self.outcomes[case][check_id].explanation}")
