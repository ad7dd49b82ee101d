"""Code under test never decides its verdict: exits, signals, runaway memory, hangs and monkeypatches fail, in both drivers."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from reference.checks.catalogue import CHECKS
from impls.contract import ContractViolation
from impls.numpy_manual import NumpyManual
from reference.harness.isolation import ChildDied, Pool, Raised
from reference.checks.run import run_check
from reference.harness.session import Session
from reference.model import network
from reference.model.points import inputs_at
from tests.hostile import plugins

ROOT = Path(__file__).parent.parent
HOSTILE = "tests/hostile/plugins.py"
#: Each hostile plug-in and the reason both drivers must give for it.
REASONS = {
    plugins.ExitsWithZero: "the implementation's process exited with status 0 during loss_and_grads()",
    plugins.ExitsAtOnce: "the implementation's process exited with status 0 during loss_and_grads()",
    plugins.RaisesKeyboardInterrupt: "the implementation's process was killed by SIGINT during loss_and_grads()",
    plugins.KillsItself: "the implementation's process was killed by SIGKILL during loss_and_grads()",
    plugins.AllocatesWithoutBound: "raised MemoryError",
    plugins.Hangs: "timed out: no answer from step() within the check's time limit",
    plugins.RewritesTheReference: "off by a constant factor 2",
}
SPECS = [f"{HOSTILE}:{cls.__name__}" for cls in REASONS]
LIMITS = {"TWOLAYER_CHECK_TIMEOUT_S": "2", "TWOLAYER_MEMORY_LIMIT_GIB": "1"}
#: A check that calls loss_and_grads() and one that calls step(): every plug-in above fails one.
CHECKED = ("agreement-odd-bias-step0", "training-bias")


def run(*args, env=None):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=600, cwd=ROOT,
                          env={**os.environ, **(env or {})})


def test_the_cli_fails_every_hostile_plugin_with_its_reason(tmp_path):
    verdict = tmp_path / "verdict.json"
    cli = run("-m", "reference", *SPECS, "--dtype=float64", "--shape=odd", "--timeout=2", "--memory-limit=1",
              f"--check={','.join(CHECKED)}", f"--json={verdict}")
    assert cli.returncode == 1, cli.stdout[-3000:] + cli.stderr[-3000:]
    rows = json.loads(verdict.read_text())
    for cls, reason in REASONS.items():
        mine = [row for row in rows if row["impl"] == cls.name]
        assert [row["check"] for row in mine] == list(CHECKED), f"{cls.name}: not every check reported"
        failing = [row for row in mine if not row["passed"]]
        assert failing and all(row["diagnosis"] and "\n" not in row["diagnosis"] for row in failing), mine
        assert any(reason in row["diagnosis"] for row in failing), (cls.name, [r["diagnosis"] for r in failing])
    assert cli.stdout.rstrip().endswith(f"verdict: FAIL ({sum(not r['passed'] for r in rows)} checks)")


def test_pytest_fails_every_hostile_plugin_with_its_reason():
    result = run("-m", "pytest", "-n", "0", "-p", "no:cacheprovider", *(f"--impl-path={s}" for s in SPECS),
                 "--dtype=float64", "--shape=odd", "-k", " or ".join(CHECKED), "tests/test_checks.py", env=LIMITS)
    assert result.returncode == pytest.ExitCode.TESTS_FAILED, result.stdout[-3000:] + result.stderr[-3000:]
    for cls, reason in REASONS.items():
        assert any(line.startswith(f"{cls.name} [cpu, float64]") and reason in line
                   for line in result.stdout.splitlines()), (cls.name, result.stdout[-3000:])


def test_a_plugin_that_exits_while_loading_is_a_usage_error_in_both_drivers(tmp_path):
    plugin = tmp_path / "exits_on_import.py"
    plugin.write_text("import sys\nsys.exit(0)\n")
    cli = run("-m", "reference", str(plugin))
    assert cli.returncode == 2 and cli.stderr.strip() == (
        "error: the implementation's process exited with status 0 during load()"), cli.stderr
    result = run("-m", "pytest", "-n", "0", "-p", "no:cacheprovider", f"--impl-path={plugin}", "tests/test_checks.py")
    assert result.returncode == pytest.ExitCode.USAGE_ERROR, result.stdout + result.stderr
    assert "exited with status 0 during load()" in result.stderr


RAISES = "tests/hostile/raises.py"


def raising_line() -> str:
    """How both drivers must lead the diagnosis of tests/hostile/raises.py: its file, the line that raises
    and that line's text, then the exception."""
    lines = (ROOT / RAISES).read_text().splitlines()
    number = next(i for i, line in enumerate(lines, 1) if "axis=None" in line)
    return f"{RAISES}:{number} ({lines[number - 1].strip()}) raised TypeError: "


def test_the_cli_shows_the_plugins_own_line_where_it_raised():
    cli = run("-m", "reference", RAISES, "--dtype=float64", "--shape=odd", "--check=agreement-odd-bias-step0")
    assert cli.returncode == 1, cli.stdout[-3000:] + cli.stderr[-3000:]
    # By default the row defers to the closing line, which names the cause; with -v the row names it too.
    assert any(line.startswith("most likely cause: ") and raising_line() in line
               for line in cli.stdout.splitlines()), cli.stdout
    verbose = run("-m", "reference", RAISES, "--dtype=float64", "--shape=odd", "--check=agreement-odd-bias-step0", "-v")
    assert any(line.startswith("agreement-odd-bias-step0") and raising_line() in line
               for line in verbose.stdout.splitlines()), verbose.stdout


def test_pytest_shows_the_plugins_own_line_where_it_raised():
    result = run("-m", "pytest", "-n", "0", "-p", "no:cacheprovider", f"--impl-path={RAISES}:SumWithAxis",
                 "--dtype=float64", "--shape=odd", "-k", "agreement-odd-bias-step0", "tests/test_checks.py")
    assert result.returncode == pytest.ExitCode.TESTS_FAILED, result.stdout[-3000:] + result.stderr[-3000:]
    assert any(line.startswith("raises-in-loss-and-grads [cpu, float64]") and raising_line() in line
               for line in result.stdout.splitlines()), result.stdout[-3000:]


def test_an_exception_in_a_builtin_is_placed_in_its_own_file_and_its_traceback_starts_there():
    """A module function of the built-in's file counts as its code; the harness's frames above it are left out."""
    session = Session(NumpyManual(), "cpu", "float64")
    state = session.prepare(inputs_at("odd", False))
    session.link.state(state).params["w2"] = np.ones((3, 3))  # no product with h_relu
    with pytest.raises(Raised) as raised:
        session.loss_and_grads(state, ("w1", "w2"))
    at = raised.value.at
    assert (Path(at.filename).resolve(), at.name) == (ROOT / "impls" / "numpy_manual.py", "forward"), at
    assert at.line.startswith("y_pred = h_relu @ w2"), at
    trace = raised.value.trace.splitlines()
    assert trace[1].endswith("in loss_and_grads") and "numpy_manual.py" in trace[1], raised.value.trace
    assert trace[-1].startswith("ValueError: matmul"), raised.value.trace


def test_the_reference_rewrite_would_pass_in_process_and_fails_isolated(monkeypatch):
    agreement = next(c for c in CHECKS if c.id == "agreement-odd-bias-step0")
    monkeypatch.setattr(network, "reference_at", network.reference_at)  # undone after the test
    fooled = run_check(agreement, Session(plugins.RewritesTheReference(), "cpu", "float64"))
    assert fooled.passed, "the hostile plug-in no longer fools an in-process check: the test shows nothing"
    monkeypatch.undo()
    pool = Pool()
    try:
        isolated = run_check(agreement, Session.isolated(f"{HOSTILE}:RewritesTheReference", "cpu", "float64",
                                                         "strict", pool))
        honest = run_check(agreement, Session.isolated("numpy-manual", "cpu", "float64", "strict", pool))
    finally:
        pool.close()
    assert not isolated.passed and "scale:2" in isolated.codes, isolated
    assert honest.passed


def test_the_process_that_judges_a_torch_plugin_imports_neither_torch_nor_jax():
    # Importing them only to learn what is installed cost the drivers seconds per process. CUDA hidden: on a
    # machine with a driver, finding the GPU takes asking the frameworks, which is right there.
    program = ("import sys; from reference.drivers.cli import main; "
               "rc = main(['tests/correct/tutorial_autograd.py', '--check', 'repeatable', '--dtype', 'float64']); "
               "print('rc', rc, 'imported', sorted(m for m in ('torch', 'jax') if m in sys.modules))")
    run = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
    assert run.stdout.splitlines()[-1] == "rc 0 imported []", run.stdout + run.stderr


def test_cpu_cases_keep_the_memory_limit_and_only_cuda_cases_run_without_it():
    """CUDA's reservations need a child without the address-space limit; cpu cases beside them keep theirs, in a
    child that sees no GPU (on an H200, the cpu cases of a run with cuda in it had lost the limit: a runaway
    allocation ran into the time limit instead of failing with MemoryError)."""
    pool = Pool(memory_limit=2**30)
    try:
        on = {device: pool.child("numpy-manual", device).process.pid for device in ("cpu", "cuda")}
        limits = {device: re.search(r"^Max address space\s+(\S+)", Path(f"/proc/{pid}/limits").read_text(), re.M)[1]
                  for device, pid in on.items()}
        platforms = {device: dict(entry.split("=", 1) for entry in Path(f"/proc/{pid}/environ").read_text()
                                  .split("\0") if "=" in entry).get("JAX_PLATFORMS") for device, pid in on.items()}
    finally:
        pool.close()
    assert limits == {"cpu": str(2**30), "cuda": "unlimited"}, limits
    assert platforms["cpu"] == "cpu", platforms


def test_a_child_restarts_after_a_death_and_the_next_check_runs():
    pool = Pool()
    try:
        session = Session.isolated(f"{HOSTILE}:KillsItself", "cpu", "float64", "strict", pool)
        first = session.prepare(inputs_at("odd", False))
        with pytest.raises(Exception, match="killed by SIGKILL"):
            session.loss_and_grads(first, ("w1", "w2"))
        assert session.loss(session.prepare(inputs_at("odd", False))) > 0  # a fresh child answered
    finally:
        pool.close()


@pytest.mark.parametrize("plugin,error,reason", [
    (plugins.GarblesItsAnswer, ChildDied, "sent an answer to loss_and_grads() that the harness cannot read: "
                                          "returned.values.loss: a float, not an object"),
    (plugins.MisdescribesItsArrays, ContractViolation, "sent gradient w1 described as float64 in float32 bytes"),
], ids=lambda v: getattr(v, "name", ""))
def test_an_answer_the_harness_cannot_believe_fails_the_call_and_the_next_call_is_answered(plugin, error, reason):
    pool = Pool()
    try:
        session = Session.isolated(f"{HOSTILE}:{plugin.__name__}", "cpu", "float64", "strict", pool)
        with pytest.raises(error, match=re.escape(reason)):
            session.loss_and_grads(session.prepare(inputs_at("odd", False)), ("w1", "w2"))
        assert session.loss(session.prepare(inputs_at("odd", False))) > 0
    finally:
        pool.close()


#: A check in this process whose first CheckTimeout lands in a gc callback (jax and hypothesis
#: register some), where Python prints it as "Exception ignored" and drops it; the block then
#: waits on, as a hung implementation would. Neither wait can end but by a CheckTimeout: the
#: callback's first run spins until the first one arrives in it, the block sleeps until another
#: does, so the verdict holds however slowly the machine runs them.
SWALLOWED_ALARM = """
import gc, time
from reference.harness.isolation import CheckTimeout, alarm

stalled = []

def stall(phase, info):  # the first collection spins until the time limit's CheckTimeout ends it
    if not stalled:
        stalled.append(phase)
        while True:
            pass

gc.disable()  # no collection before the block's own can meet the callback
gc.callbacks.append(stall)
started = time.monotonic()
try:
    with alarm(0.5):
        gc.collect()
        while True:
            time.sleep(0.01)
except CheckTimeout:
    print(f"timed out after {time.monotonic() - started:.1f} s")
"""


def test_a_timeout_lost_in_a_gc_callback_still_ends_the_check():
    # A hang guard only: the child ends about ALARM_REPEAT_S after its 0.5 s limit, or never.
    try:
        result = subprocess.run([sys.executable, "-c", SWALLOWED_ALARM], capture_output=True, text=True, timeout=120,
                                cwd=ROOT)
    except subprocess.TimeoutExpired:
        pytest.fail("the block ran on for 120 s after its time limit's CheckTimeout was lost in a gc callback")
    assert "Exception ignored" in result.stderr and "CheckTimeout" in result.stderr, result.stderr
    assert result.returncode == 0 and result.stdout.startswith("timed out after"), result.stdout + result.stderr
