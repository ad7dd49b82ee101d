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
                "numpy-manual", "--dtype=float64", "--shape=odd", tmp_path=tmp_path)
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert any(line.startswith("throwaway-loss-not-negative  pass") for line in cli.stdout.splitlines()), cli.stdout
    monkeypatch.setattr(catalogue, "CHECKS", [*catalogue.CHECKS, THROWAWAY])
    (found,) = score([NegativeLoss], select(shapes=()))
    (row,) = [row for row in found.rows if row.check is THROWAWAY]
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


def test_both_drivers_give_the_same_verdict_on_every_builtin_and_every_public_mistake(tmp_path):
    pytest.importorskip("torch", reason="the catalogue of mistakes is written in numpy, torch and jax")
    pytest.importorskip("jax", reason="the catalogue of mistakes is written in numpy, torch and jax")
    pytest.importorskip("optax", reason="the catalogue's Adam slips include optax's")
    from tests.hostile.plugins import CATALOGUED
    from tests.known_wrong.catalogue import MISTAKES
    # The plug-ins that exit, crash or exhaust memory restart a child for every check; both drivers
    # fail each of them with its reason in tests/test_isolation.py, so they stay out of this run.
    checked = [m for m in MISTAKES if m not in CATALOGUED]
    mistakes = [impls.spec_of(m) for m in checked]
    # float64 and one shape besides the shape-less checks (training among them): a bounded run in which
    # both outcomes occur; tests/test_catalogue.py scores every mistake at the shapes that find it.
    selection = ["--dtype=float64", "--shape=odd"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cli = subprocess.Popen([sys.executable, "-m", "reference", *impls.REGISTRY, *mistakes, *selection,
                            f"--json={tmp_path / 'cli.json'}"], cwd=ROOT, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    pytest_run = subprocess.run([sys.executable, "-m", "pytest", "-n", "0", "-p", "no:cacheprovider", "-q",
                                 "tests/test_checks.py", "--impl=all", *(f"--impl-path={m}" for m in mistakes),
                                 *selection, "-m", "slow or not slow", f"--junitxml={tmp_path / 'pytest.xml'}"],
                                cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    cli_output = cli.communicate(timeout=900)[0]
    assert cli.returncode == 1, cli_output[-3000:]  # the mistakes fail
    assert pytest_run.returncode == 1, pytest_run.stdout[-3000:]
    by_cli = {(row["impl"], row["check"]): row["passed"] for row in json.loads((tmp_path / "cli.json").read_text())}
    by_pytest = junit_verdicts(tmp_path / "pytest.xml")
    names = {impl for impl, _ in by_cli}
    assert {m.name for m in checked} <= names and len(names) == len(checked) + len(impls.REGISTRY) - 1  # cuda-only
    assert by_pytest == by_cli
    assert all(passed for (impl, _), passed in by_cli.items() if impl in impls.REGISTRY)
    rejected = {impl for (impl, _), passed in by_cli.items() if not passed}
    assert len(rejected) > len(checked) / 2, sorted({m.name for m in checked} - rejected)


def test_the_cli_shows_each_failing_rows_worst_entry_and_each_checks_time():
    cli = subprocess.run([sys.executable, "-m", "reference", "tests.known_wrong.more:DenseError1e4",
                          "--dtype=float32", "--shape=odd", "--check=agreement-odd-bias-step0,matmul-precision"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert cli.returncode == 1, cli.stdout + cli.stderr
    lines = cli.stdout.splitlines()
    row = next(i for i, line in enumerate(lines) if line.startswith("agreement-odd-bias-step0  FAIL"))
    assert re.search(r"\d+\.\d\d s  ", lines[row]), lines[row]
    assert re.fullmatch(r"    worst: .*: \w+\[.*\] = \S+, reference \S+, error \S+ vs tolerance \S+ \(ratio .*\)",
                        lines[row + 1]), lines[row + 1]
    passing = next(line for line in lines if line.startswith("matmul-precision"))
    assert " pass " in passing and re.search(r"\d+\.\d\d s", passing) and not lines[lines.index(passing) + 1].startswith("    worst")
