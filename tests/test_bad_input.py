"""Bad input gets a one-line error that names what was wrong, never a traceback from a framework."""

import subprocess
import sys

import numpy as np
import pytest

import impls
from impls.contract import UnsupportedCase
from impls.numpy_manual import NumpyManual
from reference.checks.catalogue import CHECKS
from reference.harness.selection import choose
from reference.harness.session import Session
from reference.model.points import inputs_at


def numpy_session(dtype="float64"):
    return Session(NumpyManual(), "cpu", dtype)


@pytest.mark.parametrize("name,shape,message", [
    ("w1", (1000, 99), r"w1 has shape \(1000, 99\), expected \(1000, 100\)"),
    ("w2", (100, 10, 1), r"w2 must be 2-D"),
    ("b1", (101,), r"b1 has shape \(101,\), expected \(100,\)"),
])
def test_mismatched_shapes_are_named(name, shape, message):
    inputs = inputs_at("tutorial", True)
    bad = inputs.with_params({**inputs.params, name: np.zeros(shape)})
    with pytest.raises(ValueError, match=message):
        numpy_session().prepare(bad)


def test_mismatched_data_shape_is_named():
    inputs = inputs_at("tutorial", False)
    bad = type(inputs)(inputs.x[:, :-1], inputs.y, inputs.params)
    with pytest.raises(ValueError, match=r"w1 has shape \(1000, 100\), expected \(999, 100\)"):
        numpy_session().prepare(bad)


@pytest.mark.parametrize("bad_value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("name", ["x", "y", "w1", "b2"])
def test_nan_and_inf_inputs_are_refused(name, bad_value):
    inputs = inputs_at("odd", True)
    arrays = {"x": inputs.x.copy(), "y": inputs.y.copy(), **{k: v.copy() for k, v in inputs.params.items()}}
    arrays[name].flat[3] = bad_value
    bad = type(inputs)(arrays.pop("x"), arrays.pop("y"), arrays)
    with pytest.raises(ValueError, match=f"^{name} contains NaN or inf$"):
        numpy_session().prepare(bad)


def test_non_float64_inputs_are_refused():
    inputs = inputs_at("odd", False)
    bad = type(inputs)(inputs.x.astype(np.float32), inputs.y, inputs.params)
    with pytest.raises(ValueError, match="x has dtype float32; the canonical inputs are float64"):
        numpy_session().prepare(bad)


def test_one_bias_without_the_other_is_refused():
    inputs = inputs_at("odd", True)
    bad = inputs.with_params({k: v for k, v in inputs.params.items() if k != "b2"})
    with pytest.raises(ValueError, match="give both biases b1 and b2 or neither"):
        numpy_session().prepare(bad)


def test_unsupported_dtype_is_a_named_error():
    class Float64Only(NumpyManual):
        name = "float64-only"
        dtypes = ("float64",)

    with pytest.raises(UnsupportedCase, match="float64-only does not support float32"):
        Session(Float64Only(), "cpu", "float32")


@pytest.mark.parametrize("device_name,dtype_name,message", [
    ("tpu", "float32", "unknown device 'tpu'; known: cpu, cuda"),
    ("cpu", "float16", "unknown dtype 'float16'; known: float32, float64"),
])
def test_unknown_device_or_dtype_is_named(device_name, dtype_name, message):
    with pytest.raises(ValueError, match=message):
        Session(NumpyManual(), device_name, dtype_name)


def test_unknown_implementation_is_named():
    with pytest.raises(ValueError, match="unknown implementation 'torch-magic'; known: numpy-manual"):
        impls.load("torch-magic")


def test_missing_framework_is_unsupported_not_an_import_error(monkeypatch):
    # None in sys.modules makes `import torch` fail as if torch were not installed.
    monkeypatch.setitem(sys.modules, "torch", None)
    monkeypatch.delitem(sys.modules, "impls.torch_nn", raising=False)
    with pytest.raises(UnsupportedCase, match="torch-nn needs torch, which is not installed"):
        impls.load("torch-nn")


@pytest.mark.parametrize("option,value", [("--impl", "numpy-manual,nope"), ("--device", "gpu"), ("--dtype", "half")])
def test_unknown_name_on_the_command_line_is_a_usage_error(option, value):
    run = subprocess.run([sys.executable, "-m", "pytest", "-n", "0", option, value, "--collect-only", "-q", "-p", "no:cacheprovider"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == pytest.ExitCode.USAGE_ERROR, run.stdout + run.stderr
    errors = [line for line in run.stderr.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1 and f"{option}: unknown" in errors[0], run.stderr
    assert "Traceback" not in run.stderr


CHECK_IDS = tuple(check.id for check in CHECKS)


def test_a_glob_or_a_prefix_of_whole_words_picks_every_id_it_matches_once_in_the_lists_order():
    odd = tuple(i for i in CHECK_IDS if i.startswith("agreement-odd-"))
    assert odd and choose("check", "training,agreement-odd-*,training-bias", CHECK_IDS) == (
        "training-nobias", "training-bias", *odd)
    # "agreement" is a word of dynamic-agreement-*, not its prefix
    assert choose("check", "agreement", CHECK_IDS) == tuple(i for i in CHECK_IDS if i.startswith("agreement-"))
    assert choose("impl", "numpy-manual", impls.REGISTRY) == ("numpy-manual",)  # a name picks itself alone
    with pytest.raises(ValueError, match=r"--check: unknown check 'agree' \(did you mean agreement"):
        choose("check", "agree", CHECK_IDS)  # not a whole word


def test_an_unknown_name_is_one_line_with_the_closest_known_ones():
    with pytest.raises(ValueError) as raised:
        choose("check", "agrement-*,relu-at-zer,zzz", CHECK_IDS)
    message = str(raised.value)
    assert "\n" not in message and message.startswith("--check: unknown check 'agrement-*' (did you mean agreement,")
    assert "'relu-at-zer' (did you mean relu-at-zero" in message
    assert message.endswith(f"'zzz'; choose from {', '.join(CHECK_IDS)}")  # nothing close: every id


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "reference", *args], capture_output=True, text=True, timeout=120)


def test_the_cli_with_no_argument_prints_a_short_usage_naming_the_example():
    cli = run_cli()
    assert cli.returncode == 2 and cli.stdout == "", cli.stdout + cli.stderr
    assert "python -m reference examples/my_impl.py" in cli.stderr and len(cli.stderr.splitlines()) <= 4, cli.stderr
    assert "Traceback" not in cli.stderr


def test_the_cli_names_the_closest_checks_to_an_unknown_one():
    cli = run_cli("numpy-manual", "--check=agreement-odd-*,traning")
    assert cli.returncode == 2 and "Traceback" not in cli.stderr, cli.stdout + cli.stderr
    assert cli.stderr.splitlines()[-1].endswith(
        "error: --check: unknown check 'traning' (did you mean training, training-bias, training-nobias?)"), cli.stderr


def test_the_implementation_gets_copies_of_the_callers_arrays():
    class WritesIntoItsInputs(NumpyManual):
        name = "writes-into-its-inputs"

        def prepare(self, x, y, params, lr):
            x *= 2.0
            params["w1"][:] = 0.0
            return super().prepare(x, y, params, lr)

    inputs = inputs_at("odd", True)
    before = {"x": inputs.x.copy(), **{k: v.copy() for k, v in inputs.params.items()}}
    session = numpy_session()
    session.step(session.prepare(inputs, lr=1e-3))
    for name, array in {"x": inputs.x, **inputs.params}.items():
        np.testing.assert_array_equal(array, before[name], err_msg=f"the caller's {name} changed")
