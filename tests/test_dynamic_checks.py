"""The checks for the dynamic network (DynamicNet): correct code written another way passes well inside,
the shared layer's gradient from one use fails and is named, in both dtypes; the depth follows the steps.

The registered ways (numpy-dynamic, torch-dynamic, jax-dynamic) go through both drivers with the rest
(tests/test_drivers.py), where only the checks about their network are generated for them.
"""

import numpy as np
import pytest

pytest.importorskip("torch", reason="the dynamic ways are written in numpy and torch")
import torch  # noqa: E402

from impls.contract import Implementation  # noqa: E402
from impls.numpy_dynamic import NumpyDynamic  # noqa: E402
from reference.checks.catalogue import CHECKS, applies  # noqa: E402
from reference.checks.run import run_check  # noqa: E402
from reference.harness.session import Session  # noqa: E402
from reference.model import dynamic  # noqa: E402
from reference.model.points import inputs_at  # noqa: E402
from reference.problem.cases import SHAPES  # noqa: E402
from tests.correct.correct_dynamic_stacked import StackedUses  # noqa: E402
from tests.known_wrong.dynamic import (DYNAMIC_SLIPS, DepthDrawnPerPass, FixedDepth, MiddleWithoutRelu,  # noqa: E402
                                       OneUseTooMany, SharedLayerAveraged, SharedLayerLastUse, SharedLayerOneUse,
                                       StepCountOutlivesPrepare)

#: Every check a dynamic implementation gets on a cpu: its network's, and those about every network.
DYNAMIC_CHECKS = [c for c in CHECKS if applies(c, NumpyDynamic(), "cpu")]


class LeafTensors(Implementation):
    """Correct, written differently: torch autograd on six leaf tensors in the canonical layout, the
    momentum written out, every depth's graph built anew (no nn.Module)."""
    name, backend, summary = "correct-dynamic-leaf-tensors", "torch", "autograd on leaf tensors"
    relu_grad_at_zero, optimizer, model = 0.0, "sgd-momentum", "dynamic"

    def prepare(self, x, y, params, lr, depths):
        leaves = {k: v.clone().requires_grad_(True) for k, v in params.items()}
        return {"x": x, "y": y, "p": leaves, "lr": lr, "depths": depths, "t": 0, "velocity": {}}

    def _loss(self, s):
        p, repeats = s["p"], int(s["depths"][s["t"] % len(s["depths"])])
        h_relu = torch.relu(torch.addmm(p["b_in"], s["x"], p["w_in"]))
        for _ in range(repeats):
            h_relu = torch.relu(torch.addmm(p["b_mid"], h_relu, p["w_mid"]))
        return (torch.addmm(p["b_out"], h_relu, p["w_out"]) - s["y"]).pow(2).sum()

    def loss(self, s):
        with torch.no_grad():
            return self._loss(s)

    def loss_and_grads(self, s):
        loss = self._loss(s)
        grads = torch.autograd.grad(loss, list(s["p"].values()), allow_unused=True, materialize_grads=True)
        return loss.detach(), dict(zip(s["p"], grads))

    def step(self, s):
        loss, grads = self.loss_and_grads(s)
        with torch.no_grad():
            for k, g in grads.items():
                s["velocity"][k] = 0.9 * s["velocity"][k] + g if k in s["velocity"] else g.clone()
                s["p"][k] -= s["lr"] * s["velocity"][k]
        s["t"] += 1
        return loss

    def parameters(self, s):
        return {k: v.detach() for k, v in s["p"].items()}


class DepthPerCall(NumpyDynamic):
    """Takes the next depth on every forward pass, loss() and loss_and_grads() too, as the tutorial's
    random.randint inside forward() does: two calls on one state compute two different networks."""
    name = "wrong-dynamic-depth-per-call"

    def repeats(self, s):
        s.t += 1
        return int(s.depths[(s.t - 1) % len(s.depths)])

    def step(self, s):
        loss, grads = self.loss_and_grads(s)
        for name, grad in grads.items():
            s.velocity[name] = self.momentum * s.velocity[name] + grad if name in s.velocity else grad
            s.params[name] = s.params[name] - s.lr * s.velocity[name]
        return loss


class EinsumBackward(NumpyDynamic):
    """Correct, written differently: numpy with every product an einsum, the forward pass's activations kept in
    one list, and the momentum buffers updated in place."""
    name = "correct-dynamic-einsum"

    def loss_and_grads(self, s):
        p, mm = s.params, (lambda a, b: np.einsum("ij,jk->ik", a, b))
        pre = [mm(s.x, p["w_in"]) + p["b_in"]]
        for _ in range(self.repeats(s)):
            pre.append(mm(np.maximum(pre[-1], 0), p["w_mid"]) + p["b_mid"])
        last = np.maximum(pre[-1], 0)
        residual = mm(last, p["w_out"]) + p["b_out"] - s.y
        grad_out = 2.0 * residual
        grads = {"w_out": mm(last.T, grad_out), "b_out": grad_out.sum(axis=0),
                 "w_mid": np.zeros_like(p["w_mid"]), "b_mid": np.zeros_like(p["b_mid"])}
        grad = mm(grad_out, p["w_out"].T) * (pre[-1] >= 0)
        for below in reversed(pre[:-1]):                 # each use of the middle layer, the last first
            grads["w_mid"] += mm(np.maximum(below, 0).T, grad)
            grads["b_mid"] += grad.sum(axis=0)
            grad = mm(grad, p["w_mid"].T) * (below >= 0)
        grads["w_in"], grads["b_in"] = mm(s.x.T, grad), grad.sum(axis=0)
        return float(np.square(residual).sum()), grads

    def step(self, s):
        loss, grads = self.loss_and_grads(s)
        for name, grad in grads.items():
            if name in s.velocity:
                s.velocity[name] *= self.momentum
                s.velocity[name] += grad
            else:
                s.velocity[name] = grad.copy()
            s.params[name] = s.params[name] - s.lr * s.velocity[name]
        s.t += 1
        return loss


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("impl", [LeafTensors, EinsumBackward, StackedUses], ids=lambda cls: cls.name)
def test_correct_dynamic_code_written_differently_passes_well_inside(impl, dtype):
    session = Session(impl(), "cpu", dtype)
    for check in DYNAMIC_CHECKS:
        outcome = run_check(check, session)
        # nan: a check that is no comparison (relu'(0) measured against the declaration)
        assert outcome.passed and not outcome.ratio >= 0.5, f"{check.id} {dtype}: {outcome.ratio:.3g} {outcome.explanation}"


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_shared_layer_from_one_use_fails_far_outside_and_is_named(dtype):
    session = Session(SharedLayerOneUse(), "cpu", dtype)
    for check in (c for c in DYNAMIC_CHECKS if c.id in ("dynamic-agreement-odd-depth2", "dynamic-agreement-odd-depth3")):
        outcome = run_check(check, session)
        assert not outcome.passed and outcome.ratio > 50, f"{check.id} {dtype}: {outcome.ratio:.3g}"
        assert outcome.codes == {"shared-layer-one-use"}, outcome.explanation
    # With one use there is nothing to sum: the slip computes the right gradient there.
    assert run_check(next(c for c in DYNAMIC_CHECKS if c.id == "dynamic-agreement-odd-depth1"), session).passed


STRUCTURAL_SLIPS = [SharedLayerLastUse, SharedLayerAveraged, FixedDepth, OneUseTooMany, DepthDrawnPerPass,
                    MiddleWithoutRelu]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("impl", STRUCTURAL_SLIPS, ids=lambda cls: cls.name)
def test_each_way_of_building_the_network_wrong_is_named_by_what_it_builds(impl, dtype):
    """The depth taken, a relu left out, the shared layer's uses combined another way: every check of these two
    that fails names the slip (relu'(0) is not read from a network that is not the two-layer one at depth 0)."""
    session = Session(impl(), "cpu", dtype)
    outcomes = {c.id: run_check(c, session) for c in DYNAMIC_CHECKS
                if c.id in ("dynamic-relu-at-zero", "dynamic-agreement-odd-depth2")}
    assert not outcomes["dynamic-agreement-odd-depth2"].passed
    for check, outcome in outcomes.items():
        assert outcome.passed or outcome.codes == {impl.planted}, f"{check} {dtype}: {outcome.explanation}"


def test_a_depth_taken_per_forward_call_fails_and_is_named():
    for check in (c for c in DYNAMIC_CHECKS if c.id.startswith("dynamic-agreement")):
        outcome = run_check(check, Session(DepthPerCall(), "cpu", "float64"))
        assert not outcome.passed and outcome.codes == {"depth-per-call"}, f"{check.id}: {outcome.explanation}"


def test_the_slips_are_in_the_public_catalogue():
    from tests.known_wrong.catalogue import MISTAKES
    assert set(DYNAMIC_SLIPS) <= set(MISTAKES)


def test_each_check_runs_on_the_network_it_is_about_and_inputs_for_the_other_are_refused():
    assert all(applies(c, NumpyDynamic()) == (c.model in ("dynamic", None) and c.device is None) for c in CHECKS)
    session = Session(NumpyDynamic(), "cpu", "float64")
    with pytest.raises(ValueError, match="computes the dynamic network; inputs for the other one given"):
        session.prepare(inputs_at("odd", True))


def test_the_reference_sums_the_shared_layer_over_its_uses():
    inputs = dynamic.inputs_for(SHAPES["odd"], [3])
    _, grads, shares = dynamic.loss_grads_and_shares(inputs.x, inputs.y, inputs.params, 3)
    assert len(shares) == 3
    np.testing.assert_allclose(sum(s["w_mid"] for s in shares), grads["w_mid"], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_tutorials_zero_grad_pausing_momentum_fails_training_and_is_named(dtype):
    from tests.known_wrong.dynamic import ZeroGradToNone
    outcome = run_check(next(c for c in DYNAMIC_CHECKS if c.id == "dynamic-training"), Session(ZeroGradToNone(), "cpu", dtype))
    assert not outcome.passed and outcome.ratio > 10, f"{dtype}: {outcome.ratio:.3g}"
    assert outcome.codes == {"momentum-paused"}, outcome.explanation


def test_a_depth_sequence_read_without_wrapping_around_fails():
    class NoWrap(NumpyDynamic):
        name = "wrong-dynamic-no-wrap"

        def repeats(self, s):
            return int(s.depths[s.t])   # IndexError once the steps outrun the sequence

    outcome = run_check(next(c for c in DYNAMIC_CHECKS if c.id == "dynamic-training"), Session(NoWrap(), "cpu", "float64"))
    assert not outcome.passed and "IndexError" in outcome.explanation, outcome.explanation


def test_relu_at_zero_is_measured_on_the_dynamic_network_and_a_wrong_declaration_fails():
    check = next(c for c in DYNAMIC_CHECKS if c.id == "dynamic-relu-at-zero")
    assert run_check(check, Session(NumpyDynamic(), "cpu", "float32")).passed  # grad_h[h < 0] = 0: 1, as declared

    class DeclaresZero(NumpyDynamic):
        name, relu_grad_at_zero = "wrong-dynamic-relu-declaration", 0.0

    outcome = run_check(check, Session(DeclaresZero(), "cpu", "float64"))
    assert not outcome.passed and outcome.codes == {"relu-declaration"}, outcome.explanation
    assert "measured 1, declared 0.0" in outcome.explanation


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_step_count_that_outlives_prepare_fails_the_call_sequences_and_is_named(dtype):
    """Fresh sessions pass while nothing has stepped: only a prepare() after a step shows it."""
    session = Session(StepCountOutlivesPrepare(), "cpu", dtype)
    outcome = run_check(next(c for c in DYNAMIC_CHECKS if c.id == "stateful-calls"), session)
    assert not outcome.passed and outcome.codes == {StepCountOutlivesPrepare.planted}, outcome.explanation
    assert "outlives prepare()" in outcome.explanation


def test_the_dynamic_network_gets_the_checks_about_every_network_and_cuda_vs_cpu_on_cuda_only():
    class CudaToo(NumpyDynamic):
        name, devices = "dynamic-on-cuda-too", ("cpu", "cuda")

    assert {"repeatable", "stateful-calls"} <= {c.id for c in DYNAMIC_CHECKS}
    assert "cuda-vs-cpu" not in {c.id for c in DYNAMIC_CHECKS}
    assert "cuda-vs-cpu" in {c.id for c in CHECKS if applies(c, CudaToo(), "cuda")}


def test_hypothesis_draws_dynamic_call_sequences_with_the_depths_following_the_steps():
    """The drawn sequences alone (no scripted ones first): numpy-dynamic passes every one, each read at the depth
    of the steps taken since its prepare(); a step count kept past prepare() fails (hypothesis may find its
    verdict flaky, the count having moved on), reported as calls, and the whole check names the leak."""
    from reference.checks import stateful
    from reference.checks.dynamic import TRAINING_LR
    from reference.problem.optimizers import declared

    def check(comparison, what):
        if not comparison.passed:
            raise stateful.Mismatch(comparison, what)

    start = dynamic.inputs_for(SHAPES[stateful.SHAPE], stateful.DEPTHS)
    found = {}
    for impl in (NumpyDynamic(), StepCountOutlivesPrepare()):
        session = Session(impl, "cpu", "float64")
        machine = stateful.call_machine(session, start, declared(impl.optimizer, TRAINING_LR),
                                        stateful.Dynamic(session), check)
        found[impl.name] = stateful.drawn_failure(machine)
    assert found["numpy-dynamic"] is None
    failing = found[StepCountOutlivesPrepare.name]
    assert failing and failing[0] == "prepare()" and failing[-1].startswith("-> "), failing
    outcome = stateful.sequence_check(Session(StepCountOutlivesPrepare(), "cpu", "float64"), start,
                                      declared("sgd-momentum", TRAINING_LR))
    assert outcome.codes == {"call-order"} and "outlives prepare()" in outcome.explanation, outcome.explanation
