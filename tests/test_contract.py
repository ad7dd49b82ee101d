"""What an implementation may return, and the one-line message for what it may not.

Gradients and parameters: a mapping by name, or a sequence in the documented order (what
``torch.autograd.grad``, keras and ``jax.grad(argnums=...)`` give). The loss: a framework array
or 0-d array in the asked dtype, or a Python number whose value that dtype holds exactly.
"""

import numpy as np
import pytest

from impls.contract import OPTIMIZERS, Batches, ContractViolation, Declaration, PluginError
from impls.numpy_manual import NumpyManual
from reference.checks.catalogue import CHECKS
from reference.checks.run import run_check
from reference.harness.session import Session
from reference.model.points import inputs_at
from reference.problem.optimizers import TRAINING_OPTIMIZERS
from reference.problem.variants import Batching
from tests.correct.variants import GradsAsList, LossAsPythonFloat, LossInOneBuffer, ParametersAsTuple
from tests.known_wrong.more import GradsAsSet, GradsAsTupleMissingOne, LossInMorePrecision, ReturnsATorchTensor

AGREEMENT = next(c for c in CHECKS if c.id == "agreement-odd-bias-step0")
TRAINING = next(c for c in CHECKS if c.id == "training-bias")


def outcome(impl, check=AGREEMENT, dtype="float32"):
    return run_check(check, Session(impl, "cpu", dtype))


@pytest.mark.parametrize("impl", [GradsAsList(), ParametersAsTuple(), LossAsPythonFloat(), LossInOneBuffer()],
                         ids=lambda i: i.name)
def test_sequences_in_the_documented_order_exact_python_losses_and_a_reused_loss_buffer_are_accepted(impl):
    for check in (AGREEMENT, TRAINING):
        found = outcome(impl, check)
        assert found.passed, found.explanation


@pytest.mark.parametrize("impl,message", [
    (GradsAsTupleMissingOne(), "loss_and_grads() returned 3 gradients in a tuple; expected 4, in the order w1, w2, "
                               "b1, b2, or a mapping from those names"),
    (GradsAsSet(), "loss_and_grads() returned a set for the gradients; expected a mapping from w1, w2, b1, b2 to "
                   "arrays, or a sequence in that order"),
    (LossInMorePrecision(), "returned loss as a Python float "),
    (ReturnsATorchTensor(), "returned loss as a torch.Tensor, not a numpy array (backend 'numpy' is declared)"),
], ids=lambda v: getattr(v, "name", ""))
def test_what_the_contract_does_not_allow_gets_one_line_naming_it(impl, message):
    if isinstance(impl, ReturnsATorchTensor):
        pytest.importorskip("torch")
    found = outcome(impl)
    assert not found.passed and found.codes == {"contract"}, found
    assert message in found.explanation and "\n" not in found.explanation, found.explanation
    if isinstance(impl, LossInMorePrecision):
        assert found.explanation.endswith("which is not a float32 value"), found.explanation


def test_a_python_float_loss_is_judged_as_its_value_in_float64():
    assert outcome(LossInMorePrecision(), dtype="float64").passed  # every Python float is a float64 value


def test_the_session_hands_back_float64_holding_exactly_the_implementations_float32_values():
    inputs = inputs_at("odd", True)
    names = tuple(inputs.params)
    session, own = Session(NumpyManual(), "cpu", "float32"), NumpyManual()
    _, grads = session.loss_and_grads(session.prepare(inputs), names)
    state = own.prepare(*(a.astype(np.float32) for a in (inputs.x, inputs.y)),
                        {k: v.astype(np.float32) for k, v in inputs.params.items()}, 0.0)
    _, expected = own.loss_and_grads(state)
    assert all(expected[k].dtype == np.float32 for k in names)
    assert all(grads[k].dtype == np.float64 and np.array_equal(grads[k], expected[k]) for k in names)


def test_a_contract_violation_is_raised_by_the_session_itself():
    session = Session(GradsAsSet(), "cpu", "float64")
    inputs = inputs_at("odd", False)
    with pytest.raises(ContractViolation, match=r"^wrong-grads-as-set \[cpu, float64\]: loss_and_grads\(\) returned a set"):
        session.loss_and_grads(session.prepare(inputs), tuple(inputs.params))


def test_the_reference_trains_every_optimizer_an_implementation_may_declare():
    assert tuple(TRAINING_OPTIMIZERS) == OPTIMIZERS


def test_an_undeclarable_optimizer_is_a_one_line_plugin_error():
    class RMSProp(NumpyManual):
        name, optimizer = "rmsprop", "rmsprop"

    with pytest.raises(PluginError, match="optimizer 'rmsprop' is not one of sgd, sgd-momentum, adam"):
        RMSProp().validate_declaration()
    message = Declaration.of(NumpyManual()).as_message() | {"optimizer": "rmsprop"}
    with pytest.raises(PluginError, match="optimizer 'rmsprop'"):
        Declaration.from_message(message)


def test_an_undeclarable_batching_is_a_one_line_plugin_error():
    class Streaming(NumpyManual):
        name, batching = "streaming", "streaming"

    with pytest.raises(PluginError, match="batching 'streaming' is not one of full, minibatch"):
        Streaming().validate_declaration()


@pytest.mark.parametrize("n_rows, batch_size", [(64, 24), (37, 24), (48, 16), (5, 24), (1, 1)])
def test_batches_hand_out_the_reference_order_epoch_after_epoch(n_rows, batch_size):
    """What an implementation is handed (impls.contract.Batches, from the order the session sends) cuts the
    rows as the reference's Batching does, the last batch shorter, epoch after epoch, both ways of reading it."""
    batching = Batching(batch_size, seed=3)
    steps = 40
    expected = batching.batches(n_rows, steps)
    orders = batching.orders(n_rows, steps)
    by_iterating, by_permutation = Batches(orders, batch_size), Batches(orders, batch_size)
    handed, sliced = [], []
    while len(handed) < steps:
        handed += [list(rows) for rows in by_iterating]
        rows = by_permutation.permutation()
        sliced += [list(rows[start:start + batch_size]) for start in range(0, n_rows, batch_size)]
    assert len(by_iterating) == -(-n_rows // batch_size)
    assert handed[:steps] == sliced[:steps] == [list(rows) for rows in expected]
    assert sorted(sum(handed[:len(by_iterating)], [])) == list(range(n_rows))


def test_a_peek_at_the_batches_uses_no_epoch_up_and_a_read_to_the_end_uses_it_up_once():
    """Looking (next(iter(batches)), a loop left early) leaves the epoch for training; handing out its last
    batch uses it up, once however many reads reach it (a loader's pass begun before a look still trains on it)."""
    n_rows, batch_size = 64, 24
    batching = Batching(batch_size, seed=3)
    epochs = [[rows.tolist() for rows in batching.epoch(n_rows, e)] for e in range(3)]
    batches = Batches(batching.orders(n_rows, 3 * len(epochs[0])), batch_size)
    assert next(iter(batches)) == epochs[0][0]
    for rows in batches:
        break
    loader_pass, look = iter(batches), iter(batches)
    assert list(look) == epochs[0] and batches.epoch == 1
    assert list(loader_pass) == epochs[0] and batches.epoch == 1
    assert list(batches) == epochs[1]
    assert batches.permutation().tolist() == sum(epochs[2], []) and batches.epoch == 3


@pytest.mark.parametrize("declared", ["no", (), [True, 1], None])
def test_an_undeclarable_bias_is_a_one_line_plugin_error(declared):
    class Odd(NumpyManual):
        name, bias = "odd-bias", declared

    with pytest.raises(PluginError, match=r"^odd-bias: bias .* is not False, True or \(False, True\)$"):
        Odd().validate_declaration()


def test_the_bias_declaration_reaches_the_harness_and_a_dynamic_network_without_bias_is_refused():
    from impls.numpy_dynamic import NumpyDynamic

    class BiasFree(NumpyManual):
        name, bias = "bias-free", False

    class DynamicWithoutBias(NumpyDynamic):
        name, bias = "dynamic-bias-free", False

    assert Declaration.of(NumpyManual()).bias == (False, True)   # the built-ins' default: both networks
    assert Declaration.from_message(Declaration.of(BiasFree()).as_message()).bias == (False,)
    with pytest.raises(PluginError, match="the dynamic network always has its biases"):
        DynamicWithoutBias().validate_declaration()


#: The seed tutorials' ways, each as its tutorial writes it (tests/correct/tutorial_*.py): bias-free numpy,
#: torch tensors by hand, autograd and a custom autograd Function; nn.Linear with its biases.
TUTORIAL_PLUGINS = ("tutorial_numpy", "tutorial_tensors", "tutorial_autograd", "tutorial_function",
                    "tutorial_nn_linear")


def test_the_tutorials_networks_pass_both_drivers_with_only_their_own_networks_checks(tmp_path):
    """The five plug-ins through the CLI in float64 at the odd shape, and pytest's collection of the same: the
    bias declaration is read per network, not per dtype or shape, and the odd shape's agreement checks with every
    shape-less check (relu'(0), precision, training, first step, repeatable, stateful calls) run each plug-in's
    own network through every method. The other network's checks must not be generated nor run, and each header
    says so. pytest collects rather than runs them: that both drivers give one verdict on what they run is
    tests/test_drivers.py's."""
    import json
    import re
    import subprocess
    import sys
    from pathlib import Path

    import impls
    from reference.checks.catalogue import CHECKS, applies, select

    pytest.importorskip("torch", reason="four of the tutorials' ways are written in torch")
    root = Path(__file__).parent.parent
    paths = [f"tests/correct/{module}.py" for module in TUTORIAL_PLUGINS]
    selection = ["--dtype=float64", "--shape=odd"]
    cli = subprocess.run([sys.executable, "-m", "reference", *paths, *selection, f"--json={tmp_path / 'cli.json'}"],
                         cwd=root, capture_output=True, text=True, timeout=900)
    # Not -q: it would hide the header.
    run = subprocess.run([sys.executable, "-m", "pytest", "-n", "0", "-p", "no:cacheprovider", "--collect-only",
                          "tests/test_checks.py", *(f"--impl-path={p}" for p in paths), *selection],
                         cwd=root, capture_output=True, text=True, timeout=900)
    assert cli.returncode == 0, cli.stdout[-3000:] + cli.stderr[-2000:]
    assert run.returncode == 0, run.stdout[-3000:]
    by_cli = {(row["impl"], row["check"]) for row in json.loads((tmp_path / "cli.json").read_text())}
    plugins = [impls.load_plugin(str(root / path)) for path in paths]
    longest_first = sorted((c.id for c in CHECKS), key=len, reverse=True)
    collected = set()
    for param in re.findall(r"<Function test_check\[(.*)\]>", run.stdout):
        impl = next(p.name for p in plugins if param.startswith(p.name + "-"))
        collected.add((impl, next(check for check in longest_first if param.endswith("-" + check))))
    assert collected == by_cli
    for plugin in plugins:
        own = {(plugin.name, c.id) for c in select(["odd"]) if applies(c, plugin, "cpu")}
        assert {pair for pair in by_cli if pair[0] == plugin.name} == own
        other = "with" if plugin.bias is False else "without"
        header = f"{plugin.name}: left out 4 checks of the network {other} bias"
        assert header in cli.stdout and header in run.stdout, (cli.stdout[:1000], run.stdout[:1000])
