"""Plug-ins: your own implementation goes through the same checks, and a broken one is reported, not fatal."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

import impls
from impls.contract import PluginError
from reference.checks.catalogue import applies, select
from reference.checks.run import DEFAULT_TIMEOUT_S, evaluate
from reference.checks.verdict import order
from reference.harness.session import Session

EXAMPLE = Path(__file__).parent.parent / "examples" / "my_impl.py"
QUICK = ("tutorial", "odd")


def write_variant(tmp_path, name, old, new):
    """A copy of the example plug-in with one line changed, as a user would break it."""
    source = EXAMPLE.read_text()
    assert old in source, old
    path = tmp_path / f"{name}.py"
    path.write_text(source.replace(old, new))
    return path


def run_check(*args, blocked_in=None, block=()):
    """python -m reference in a child process, optionally with frameworks made unimportable.

    The block is a sitecustomize module in ``blocked_in``, so that the implementation's own
    process, which the checker starts, has no framework either.
    """
    env = dict(os.environ)
    if block:
        (blocked_in / "sitecustomize.py").write_text("import sys\n" + "".join(f"sys.modules[{m!r}] = None\n" for m in block))
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(blocked_in), env.get("PYTHONPATH", "")) if p)
    return subprocess.run([sys.executable, "-m", "reference", *map(str, args)], capture_output=True, text=True,
                          timeout=600, cwd=Path(__file__).parent.parent, env=env)


def test_example_plugin_passes_with_numpy_alone(tmp_path):
    run = run_check(EXAMPLE, "--shape", ",".join(QUICK), blocked_in=tmp_path, block=("torch", "jax"))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "verdict: PASS" in run.stdout


def test_broken_copy_of_the_example_gets_the_right_diagnosis(tmp_path):
    broken = write_variant(tmp_path, "halved", "grad_y_pred = 2 * (y_pred - s.y)", "grad_y_pred = (y_pred - s.y)")
    run = run_check(broken, "--shape", ",".join(QUICK), "--dtype", "float64")
    assert run.returncode == 1, run.stdout + run.stderr
    assert "factor 2 from the derivative of the square is missing" in run.stdout


def pytest_run(*args, env=None):
    return subprocess.run([sys.executable, "-m", "pytest", "-n", "0", "-p", "no:cacheprovider", *map(str, args)],
                          capture_output=True, text=True, timeout=600, cwd=Path(__file__).parent.parent, env=env)


def test_pytest_runs_the_whole_catalogue_on_a_plugin():
    # README's command as written: --impl-path alone selects the plug-in's cases and nothing else
    # (-rp only lists the passed cases by id, so this one run also shows which cases they were).
    run = pytest_run(f"--impl-path={EXAMPLE}", "-q", "-rp")
    summary = run.stdout.strip().splitlines()[-1]
    assert run.returncode == 0, run.stdout[-3000:]
    checks = len([c for c in select() if applies(c, impls.load_plugin(str(EXAMPLE)), "cpu")])  # those about it
    # Both dtypes through every check, and nothing else run (skips: without torch or jax, the modules that need them).
    assert summary.startswith(f"{2 * checks} passed, ") and "failed" not in summary, summary
    assert "my-numpy-net-cpu-float64-strict-agreement-tutorial-nobias-step0]" in run.stdout, run.stdout[-3000:]


def test_the_modules_collected_for_plugins_alone_are_every_module_with_a_test_about_a_case():
    # tests/conftest.py skips the other modules' import; a module that gains such a test must join its list.
    import ast
    from tests.conftest import ABOUT_CASES
    about_cases = {path.name for path in Path(__file__).parent.glob("test_*.py")
                   for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.FunctionDef)
                   and node.name.startswith("test_") and {"case", "session"} & {a.arg for a in node.args.args}}
    assert about_cases == ABOUT_CASES


@pytest.mark.parametrize("source,message", [
    ("import not_a_module_anyone_has\n", "importing it failed: ModuleNotFoundError"),
    ("def broken(:\n", "importing it failed: SyntaxError"),
    ("x = 1\n", "expected exactly one Implementation subclass, found none"),
    ("from impls.numpy_manual import NumpyManual\nclass A(NumpyManual):\n    name = 'a'\n"
     "class B(NumpyManual):\n    name = 'b'\n", "found A, B"),
    ("from impls.contract import Implementation\nclass A(Implementation):\n    name = 'a'\n"
     "    def loss(self, s): ...\n", "A does not define loss_and_grads, parameters, prepare, step"),
    ("from impls.numpy_manual import NumpyManual\nclass A(NumpyManual):\n    name = 'a'\n    relu_grad_at_zero = None\n",
     "class attribute 'relu_grad_at_zero' is missing"),
    ("from impls.numpy_manual import NumpyManual\nclass A(NumpyManual):\n    name = 'a'\n    backend = 'tensorflow'\n",
     "backend 'tensorflow' is not one of numpy, torch, jax"),
    ("from impls.numpy_manual import NumpyManual\nclass A(NumpyManual):\n    name = 'a'\n"
     "    def __init__(self):\n        raise RuntimeError('no GPU')\n", "A() raised RuntimeError: no GPU"),
])
def test_plugin_that_cannot_load_gets_a_one_line_error(tmp_path, source, message):
    path = tmp_path / "plugin.py"
    path.write_text(source)
    with pytest.raises(PluginError, match=message.replace("(", r"\(").replace(")", r"\)")):
        impls.load_plugin(str(path))


def test_missing_plugin_file_and_attribute(tmp_path):
    with pytest.raises(PluginError, match="no such file"):
        impls.load_plugin(str(tmp_path / "nope.py"))
    with pytest.raises(PluginError, match="my_impl.py defines no 'Nope'"):
        impls.load_plugin(f"{EXAMPLE}:Nope")
    assert impls.load_plugin("examples.my_impl:MyNumpyNet").name == "my-numpy-net"


def test_each_file_given_keeps_its_child_from_its_declaration_to_its_checks(tmp_path):
    """Five files by path: the five children that read their declarations are the ones their checks then use (a
    child holds a framework: starting one again costs its imports, seconds with torch)."""
    from reference.harness.selection import Selection
    paths = [str(write_variant(tmp_path, f"way{i}", 'name = "my-numpy-net"', f'name = "way-{i}"')) for i in range(5)]
    selection = Selection(impl_paths=paths)
    try:
        read_in = {key: child.process.pid for key, child in selection.pool.children.items()}
        assert len(read_in) == len(paths)
        for name in selection.impls:
            selection.pool.child(selection.spec(name))
        assert {key: child.process.pid for key, child in selection.pool.children.items()} == read_in
    finally:
        selection.close()


def test_pytest_reports_a_broken_plugin_as_a_usage_error(tmp_path):
    path = tmp_path / "plugin.py"
    path.write_text("raise ImportError('cannot find my framework')\n")
    # The --opt=value form: a separate value outside the project would be read as a test path
    # before the project's options are known, and move pytest's rootdir there.
    run = subprocess.run([sys.executable, "-m", "pytest", "-n", "0", f"--impl-path={path}", "--collect-only", "-q",
                          "-p", "no:cacheprovider"], capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).parent.parent)
    assert run.returncode == pytest.ExitCode.USAGE_ERROR
    assert "cannot find my framework" in run.stderr and "Traceback" not in run.stderr


@pytest.mark.parametrize("old,new,code", [
    ("        return loss, grads\n", "        return loss, {k: g[:-1] for k, g in grads.items()}\n", "shape"),
    ("        return loss, grads\n", "        raise FloatingPointError('overflow in my kernel')\n", "error"),
    ("        return loss, grads\n", "        while True:\n            pass\n", "timeout"),
    ("        return loss, grads\n", "        return loss, {k: g * float('nan') for k, g in grads.items()}\n", "nan"),
])
def test_plugin_that_misbehaves_at_run_time_is_reported_and_the_run_goes_on(tmp_path, old, new, code):
    plugin = impls.load_plugin(str(write_variant(tmp_path, f"bad_{code}", old, new)))
    checks = [c for c in select(["odd"]) if applies(c, plugin)]
    # A short limit for the planted hang, which cannot end by itself; the others' codes must not
    # turn into a timeout on a loaded machine, so they get the drivers' default.
    limit_s = 0.5 if code == "timeout" else DEFAULT_TIMEOUT_S
    rows = evaluate(Session(plugin, "cpu", "float64"), checks, timeout_s=limit_s)
    assert code in set().union(*(row.outcome.codes for row in rows)), [(r.check.id, r.outcome.explanation) for r in rows]
    assert [row.check for row in rows] == order(checks)  # every check ran, whatever the earlier ones met


def test_pytest_stops_a_hanging_plugin_and_goes_on(tmp_path):
    hanging = write_variant(tmp_path, "hangs", "        return loss, grads\n", "        while True:\n            pass\n")
    run = pytest_run("-q", f"--impl-path={hanging}", "--dtype=float64", "-k", "relu-at-zero or matmul-precision",
                     env={**os.environ, "TWOLAYER_CHECK_TIMEOUT_S": "2"})
    assert run.returncode == 1, run.stdout[-2000:]
    reasons = [line for line in run.stdout.splitlines() if line.startswith("timed out: no answer from loss")]
    assert len(reasons) == 2, run.stdout[-2000:]  # each failure's own; the closing section's cause besides
    assert "2 failed" in run.stdout, run.stdout[-2000:]
