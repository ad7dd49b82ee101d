"""Every driver iterates the one catalogue: a check added once shows everywhere, and both give one verdict."""

import json
import re
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import impls
from impls.numpy_manual import NumpyManual
from reference.checks import catalogue
from reference.checks.catalogue import select
from reference.checks.check import Check, Outcome
from reference.checks.diagnose import Diagnosis
from reference.checks.verdict import NAMES_NO_CAUSE
from reference.model.points import inputs_at
from reference.drivers.score import score

ROOT = Path(__file__).parent.parent


def loss_is_not_negative(session):
    inputs_loss = session.loss(session.prepare(inputs_at("odd", False)))
    return Outcome(inputs_loss >= 0, diagnoses=() if inputs_loss >= 0 else (
        Diagnosis("negative-loss", f"the loss is {inputs_loss:.6g}, a sum of squares below 0"),))


THROWAWAY = Check("throwaway-loss-not-negative", "a sum of squares below zero", loss_is_not_negative)
#: The one edit that adds a check, as a plug-in module the child processes load before anything else.
ADD_THROWAWAY = "from reference.checks.catalogue import CHECKS\nfrom tests.test_drivers import THROWAWAY\n" \
                "CHECKS.append(THROWAWAY)\n"


def child(*args, tmp_path):
    """A driver in a child process with the throw-away check added by ADD_THROWAWAY (importable as add_throwaway)."""
    (tmp_path / "add_throwaway.py").write_text(ADD_THROWAWAY)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=600, cwd=ROOT, env=env)


def test_a_check_added_once_appears_in_pytest_the_cli_and_the_score(tmp_path, monkeypatch):
    ids = child("-m", "pytest", "-n", "0", "-p", "add_throwaway", "-p", "no:cacheprovider", "--collect-only", "-q",
                "--impl=numpy-manual", "--dtype=float64", "tests/test_checks.py", tmp_path=tmp_path).stdout
    assert "test_check[numpy-manual-cpu-float64-strict-throwaway-loss-not-negative]" in ids, ids[-2000:]
    cli = child("-c", "import add_throwaway, sys; from reference.drivers.cli import main; sys.exit(main())",
                "numpy-manual", "--dtype=float64", "--shape=odd", f"--check={THROWAWAY.id}", tmp_path=tmp_path)
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert any(line.startswith("throwaway-loss-not-negative  pass") for line in cli.stdout.splitlines()), cli.stdout
    monkeypatch.setattr(catalogue, "CHECKS", [*catalogue.CHECKS, THROWAWAY])
    # Only the new check, as the CLI above: --check and this filter both find it in the catalogue's list.
    (found,) = score([NegativeLoss], [c for c in select(shapes=()) if c.id == THROWAWAY.id])
    (row,) = found.rows
    assert found.rejected and not row.outcome.passed and row.outcome.codes == {"negative-loss"}


class NegativeLoss(NumpyManual):
    """A mistake only the throw-away check can see: loss() negated, everything else right."""

    name = "negative-loss"

    def loss(self, s):
        return -super().loss(s)


def junit_verdicts(path: Path) -> dict[tuple[str, str], bool]:
    verdicts = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        if "check" in props and case.find("skipped") is None:
            verdicts[props["impl"], props["check"]] = case.find("failure") is None and case.find("error") is None
    return verdicts


#: Built-ins that between them take every path a driver picks by what an implementation declares:
#: each framework (pytest reads a built-in's declaration in its own process, the CLI in a child;
#: numpy's by numpy-dynamic), the two-layer network (torch-manual, jax-grad) and the dynamic one
#: (its own checks), and cuda alone (torch-cuda-graph: no case on a cpu). numpy-manual would add
#: no path: it is a numpy built-in as numpy-dynamic is, and its two-layer numpy code passes checks
#: in both drivers already, under the mistakes below.
BUILTINS = ("torch-manual", "jax-grad", "numpy-dynamic", "torch-cuda-graph")
#: What these tests expect is the CPU's: on a machine with a GPU the torch and jax ways would run on cuda too.
ON_CPU = "--device=cpu"


def mistakes_of_every_kind() -> list:
    """One public mistake per kind of failure a driver reports.

    Wrong values, a wrong declaration, a contract broken, an exception raised, state kept across
    calls and across sessions (the CLI runs a case's checks on one session, pytest on one each: a
    verdict that hung on that would part them), and the dynamic network's. The framework or the
    optimizer a mistake is written in changes what its child computes, never how a driver routes
    or records the verdict. Two modules and the built-ins' one (impls): three children, the three
    the pool keeps alive.
    """
    from tests.known_wrong import dynamic, more
    return [more.DeclaresTheWrongRelu, more.SumsAcrossSessions, more.LossStaleAfterStep, more.GradsAsSet,
            more.RaisesInStep, dynamic.SharedLayerOneUse]


def both_verdicts(specs: list[str], names: list[str], tmp_path: Path) -> tuple[dict, dict]:
    """(implementation, check) -> passed, by the CLI and by pytest, run side by side on the same cases.

    float64 and one shape besides the shape-less checks (training among them); each driver must
    exit 1 if anything failed and 0 if not. Why the few cases above suffice: both drivers run each
    check through ``run_check`` on a ``Session.isolated``, so they could part only in which pairs
    they generate, in what order, on which session and child, and in how they record a verdict.
    Those turn on what an implementation declares and on how a check fails, never on which value
    a mistake gets wrong, so the cases above stand for the rest of the registry and of the
    catalogue (tests/test_checks.py checks every built-in, tests/test_catalogue.py every mistake).
    """
    selection = [ON_CPU, "--dtype=float64", "--shape=odd"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cli = subprocess.Popen([sys.executable, "-m", "reference", *specs, *selection, f"--json={tmp_path / 'cli.json'}"],
                           cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    plugins = [f"--impl-path={spec}" for spec in specs if spec not in impls.REGISTRY]
    pytest_run = subprocess.run([sys.executable, "-m", "pytest", "-n", "0", "-p", "no:cacheprovider", "-q",
                                 "tests/test_checks.py", f"--impl={','.join(names)}", *plugins, *selection,
                                 f"--junitxml={tmp_path / 'pytest.xml'}"],
                                cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    cli_output = cli.communicate(timeout=900)[0]
    assert cli.returncode in (0, 1), cli_output[-3000:]
    by_cli = {(row["impl"], row["check"]): row["passed"] for row in json.loads((tmp_path / "cli.json").read_text())}
    failed = int(not all(by_cli.values()))
    assert cli.returncode == failed, cli_output[-3000:]
    assert pytest_run.returncode == failed, pytest_run.stdout[-3000:]
    return by_cli, junit_verdicts(tmp_path / "pytest.xml")


def test_both_drivers_give_each_builtin_and_each_kind_of_mistake_one_verdict(tmp_path):
    """Every pair of the built-ins and of the mistakes above gets one verdict in both drivers (why
    these suffice: ``both_verdicts``): each built-in passes every check, each mistake fails one and
    passes another.

    One run of each driver for both sets: each driver process computes the float64 reference
    once, so one process per driver, not one per set, spends that time once.
    """
    pytest.importorskip("torch", reason="torch-manual and DynamicNet's mistakes are written in torch")
    pytest.importorskip("jax", reason="jax-grad is one of the built-ins")
    mistakes = mistakes_of_every_kind()
    names = [*BUILTINS, *(m.name for m in mistakes)]
    by_cli, by_pytest = both_verdicts([*BUILTINS, *map(impls.spec_of, mistakes)], names, tmp_path)
    assert by_pytest == by_cli
    assert {impl for impl, _ in by_cli} == set(names) - {"torch-cuda-graph"}
    assert all(passed for (impl, _), passed in by_cli.items() if impl in BUILTINS)
    for mistake in mistakes:
        assert {passed for (impl, _), passed in by_cli.items() if impl == mistake.name} == {True, False}, mistake.name


def test_the_cli_shows_each_failing_rows_worst_entry_and_each_checks_time():
    cli = subprocess.run([sys.executable, "-m", "reference", "tests.known_wrong.more:DenseError1e4",
                          "--dtype=float32", "--shape=odd", "--check=agreement-odd-bias-step0,matmul-precision", "-v"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert cli.returncode == 1, cli.stdout + cli.stderr
    lines = cli.stdout.splitlines()
    row = next(i for i, line in enumerate(lines) if line.startswith("agreement-odd-bias-step0  FAIL"))
    assert re.search(r"\d+\.\d\d s  ", lines[row]), lines[row]
    assert re.fullmatch(r"    worst: .*: \w+\[.*\] = \S+, reference \S+, error \S+ vs tolerance \S+ \(ratio .*\)",
                        lines[row + 1]), lines[row + 1]
    passing = next(line for line in lines if line.startswith("matmul-precision"))
    assert " pass " in passing and re.search(r"\d+\.\d\d s", passing) and not lines[lines.index(passing) + 1].startswith("    worst")


def test_the_cli_ends_each_mistake_with_its_planted_cause_in_a_short_table(tmp_path):
    """Three public mistakes (a loss, a gradient, an update): at most 20 lines per case by default, the second
    naming the planted cause, no failing row naming another, and a progress line per check on stderr."""
    pytest.importorskip("torch", reason="two of the tutorial mistakes are written in torch")
    from tests.known_wrong import catalogue as wrong, tutorial_mistakes as tm
    mistakes = {m.name: m for m in (tm.MSELossMean, wrong.MissingReluMask, tm.RebindingUpdate)}
    cli = subprocess.run([sys.executable, "-m", "reference", *map(impls.spec_of, mistakes.values()), ON_CPU,
                          "--dtype=float64", f"--json={tmp_path / 'cli.json'}"], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert cli.returncode == 1, cli.stdout[-3000:] + cli.stderr[-3000:]
    cases = [block for block in cli.stdout.split("\n\n") if re.match(r"\S+ \[cpu, float64\]: ", block)]
    assert len(cases) == len(mistakes), cli.stdout
    for case in cases:
        lines = case.strip().splitlines()
        assert len(lines) <= 20 and lines[1].startswith("most likely cause: "), case
        assert not any(line.startswith("most likely cause: ") for line in lines[2:]), case  # said once
        assert re.search(r"\(the implementation \d+\.\d s; the harness's own float64 reference and comparisons "
                         r"\d+\.\d s\)$", lines[0]), lines[0]  # the reference's cost is not the implementation's
        assert not any(line.startswith("    worst:") for line in lines), case  # every failure is the cause's
    rows = json.loads((tmp_path / "cli.json").read_text())
    for name, mistake in mistakes.items():
        mine = [row for row in rows if row["impl"] == name]
        failing = [row for row in mine if not row["passed"]]
        assert failing and all(row["root_cause"]["code"] == mistake.planted for row in mine), name
        assert all(row["root_cause"]["explains"] for row in failing), name
        misleading = [(row["check"], row["diagnosis"]) for row in failing
                      if set(row["codes"]) - NAMES_NO_CAUSE - {mistake.planted}]
        assert not misleading, (name, misleading)
    progress = [line for line in cli.stderr.splitlines() if re.search(r"\[cpu, float64\] \d+/\d+: \S+ (pass|FAIL)", line)]
    assert len(progress) == len(rows), cli.stderr[-3000:]


def test_pytest_gives_each_failure_its_diagnosis_and_each_case_its_most_likely_cause():
    pytest.importorskip("torch", reason="the mean-reduced loss is written in torch")
    from tests.known_wrong import tutorial_mistakes as tm
    # A wide terminal: pytest trims a short summary's reason to the width, and the ids here are long.
    run = subprocess.run([sys.executable, "-m", "pytest", "-n", "0", "-p", "no:cacheprovider", "-q", "tests/test_checks.py",
                          f"--impl-path={impls.spec_of(tm.MSELossMean)}", ON_CPU, "--dtype=float64", "--shape=odd",
                          "-k", "matmul-precision or agreement-odd-nobias-step0"],
                         cwd=ROOT, capture_output=True, text=True, timeout=600, env={**os.environ, "COLUMNS": "400"})
    assert run.returncode == 1, run.stdout[-3000:]
    summary = run.stdout[run.stdout.index("short test summary info"):].splitlines()
    reason = "off by a constant factor 1/(N*D_out) = 1/259: a mean over all elements instead of a sum"
    (probe,) = [line for line in summary if "matmul-precision]" in line]
    assert probe.endswith(" - Failed: not judged, as agreement-odd-nobias-step0 failed: loss, w1, w2: " + reason
                          + " (MSELoss's default reduction)"), probe
    (agreement,) = [line for line in summary if "agreement-odd-nobias-step0]" in line]
    assert reason in agreement, agreement
    section = run.stdout[run.stdout.index("most likely cause of each case's failures"):]
    assert f"wrong-mseloss-mean [cpu, float64]: most likely cause: loss, w1, w2: {reason}" in section, section
    assert "(explains 2 of 2 failing checks)" in section, section
