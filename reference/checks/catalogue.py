"""The one catalogue of checks: ``CHECKS``, each an id, what it catches, and the function that runs it.

``python -m reference``, the pytest plugin (one test per check) and the bug-catalogue score
iterate ``CHECKS``, so a check added here appears in every one of them. The benchmarks verify each
timed case with ``agreement_at(problem)``: the agreement and first-step checks at the size timed,
which no named shape covers. The checks' bodies live beside this list: ``two_layer`` and ``dynamic``.
"""

from __future__ import annotations

import importlib.util
from typing import Callable, Iterable

from impls.contract import biases
from reference.checks import dynamic, two_layer
from reference.checks.check import Check, Outcome
from reference.checks.two_layer import bias_label
from reference.harness.session import Session
from reference.problem.cases import FIRST_STEP_LR, POINTS, PROBE_STRICT_LOSS, SHAPES, TUTORIAL_STEPS
from reference.problem.inputs import Problem
from reference.problem.optimizers import TRAINING_OPTIMIZERS
from reference.problem.variants import MAX_MIDDLE_REPEATS


def on_its_network(**runs: Callable[[Session], Outcome]) -> Callable[[Session], Outcome]:
    """A check body for every network: ``runs`` by model ("two-layer" as two_layer), each on its network's inputs."""
    return lambda session: runs[session.impl.model.replace("-", "_")](session)


#: The checks about call order, fresh state or the device (a result must not depend on what ran before, nor
#: where): each applies to every network and batching the contract allows (impls.contract.MODELS, BATCHINGS),
#: on that network's inputs. tests/test_catalogue.py holds the rule.
ABOUT_CALLS = ("repeatable", "stateful-calls", "cuda-vs-cpu")

CHECKS: list[Check] = [
    Check("relu-at-zero", "a relu'(0) other than the one the implementation declares (integer inputs on the kink)",
          two_layer.relu_at_zero),
    Check("matmul-precision", f"products in a lower precision than the mode promises (an exact probe: loss "
          f"{PROBE_STRICT_LOSS!r} in float32, 0 in TF32)", two_layer.matmul_precision),
    *(Check(f"agreement-{shape}-{bias_label(bias)}-step{point}",
            f"a loss or gradient off the reference at {shape} ({SHAPES[shape].N}, {SHAPES[shape].D_in}, "
            f"{SHAPES[shape].H}, {SHAPES[shape].D_out}), {bias_label(bias)}, {point} steps in, on either of two calls",
            two_layer.agreement_check(shape, bias, point), shape, bias=bias)
      for shape in SHAPES for bias in (False, True) for point in POINTS),
    *(Check(f"training-{bias_label(bias)}", f"a training run off the reference's path ({TUTORIAL_STEPS} steps of the "
            f"declared optimizer at lr {', '.join(f'{o.lr:g} ({k})' for k, o in TRAINING_OPTIMIZERS.items())}), "
            "a loss that does not fall, or stale gradients once trained", two_layer.training_check(bias), bias=bias)
      for bias in (False, True)),
    *(Check(f"first-step-{bias_label(bias)}", f"a step() that is not the declared optimizer's first step for the "
            f"reference's g within its tolerance (w - lr * g for SGD; odd shape, lr {FIRST_STEP_LR:g})", two_layer.first_step(bias),
            bias=bias)
      for bias in (False, True)),
    Check("repeatable", "results that differ between fresh sessions on the same inputs",
          on_its_network(two_layer=two_layer.repeatable, dynamic=dynamic.repeatable), model=None),
    # Needs hypothesis (the test extra); without it the catalogue is one check shorter, never failing for it.
    *([Check("stateful-calls", "a result that goes wrong in some order of prepare, loss, loss_and_grads, step and "
             "parameters, or across a fresh prepare (scripted sequences, and random ones shrunk to the shortest "
             "failing one)", on_its_network(two_layer=two_layer.stateful_calls, dynamic=dynamic.stateful_calls),
             model=None)]
      if importlib.util.find_spec("hypothesis") else []),
    Check("cuda-vs-cpu", "cuda and cpu sessions of one implementation that disagree by more than both tolerances "
          "(each may be within one of the reference)", on_its_network(two_layer=two_layer.cuda_vs_cpu,
                                                                       dynamic=dynamic.cuda_vs_cpu),
          device="cuda", model=None),
    # The dynamic network's (the DynamicNet tutorial's): the two-layer checks above do not run on it.
    Check("dynamic-relu-at-zero", "a relu'(0) other than the one declared (depth 0: the two-layer network's integer "
          "inputs exactly on the kink)", dynamic.relu_at_zero, model="dynamic"),
    *(Check(f"dynamic-agreement-{shape}-depth{depth}", f"a loss or gradient off the reference with the middle layer "
            f"applied {depth} times, at {shape}, on either of two calls (the shared layer's gradient a sum over its "
            "uses)", dynamic.agreement_check(SHAPES[shape], depth), shape, model="dynamic")
      for shape in ("tutorial", "odd") for depth in range(MAX_MIDDLE_REPEATS + 1)),
    Check("dynamic-training", f"a training run off the reference's path ({TUTORIAL_STEPS} steps of the declared "
          f"optimizer at lr {dynamic.TRAINING_LR:g} along the seeded depths), a loss that does not fall, or gradients "
          "off once trained", dynamic.training, model="dynamic"),
    Check("dynamic-first-step", f"a step() that is not the declared optimizer's first step for the reference's g "
          f"(depth 3, odd shape, lr {FIRST_STEP_LR:g})", dynamic.first_step(SHAPES["odd"]), model="dynamic"),
]


def agreement_at(problem: Problem, model: str = "two-layer") -> Check:
    """Agreement and one step at any size: what the benchmarks run on every case before timing it."""
    if model == "dynamic":
        return Check(f"dynamic-agreement-{problem.id}", "a loss or gradient at any depth, or step(), off the "
                     "reference at this size", dynamic.at_size(problem), model="dynamic")
    return Check(f"agreement-{problem.id}", "a loss, gradient or step() off the reference at this size (loss and "
                 "gradients on two calls of one prepared state, then one step)", two_layer.at_size(problem),
                 bias=problem.bias)


def applies(check: Check, impl, device: str | None = None) -> bool:
    """Whether ``check`` is about what ``impl`` (an Implementation or its Declaration) computes: its network, the
    two-layer networks it declares (``bias``), and, for a check about a device, a session on ``device`` (None: on
    no device in particular) of an implementation that also runs on the cpu it is held to."""
    return (check.model in (None, impl.model) and (check.bias is None or check.bias in biases(impl))
            and (check.device is None or (check.device == device and "cpu" in impl.devices)))


def left_out(checks: Iterable[Check], impl) -> str | None:
    """One line for a driver's header: the checks of the two-layer network ``impl`` does not compute, and why."""
    other = [c for c in checks if c.model == impl.model and c.bias is not None and c.bias not in biases(impl)]
    if not other:
        return None
    (declared,) = biases(impl)
    return (f"{impl.name}: left out {len(other)} checks of the network {'without' if declared else 'with'} bias "
            f"({other[0].id} ...): it declares bias = {declared}")


def select(shapes: Iterable[str] | None = None, checks: Iterable[Check] | None = None) -> list[Check]:
    """The checks to run: every check not about a shape, and those about one of ``shapes`` (default: all)."""
    chosen = None if shapes is None else set(shapes)
    return [c for c in (CHECKS if checks is None else checks) if chosen is None or c.shape is None or c.shape in chosen]
