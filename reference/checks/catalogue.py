"""The one catalogue of checks: ``CHECKS``, each an id, what it catches, and the function that runs it.

``python -m reference``, the pytest plugin (one test per check) and the bug-catalogue score
iterate ``CHECKS``, so a check added here appears in every one of them. The benchmarks verify each
timed case with ``agreement_at(problem)``: the agreement and first-step checks at the size timed,
which no named shape covers. The checks' bodies live beside this list: ``two_layer`` and ``dynamic``.
"""

from __future__ import annotations

import importlib.util
from typing import Iterable

from reference.checks import dynamic, two_layer
from reference.checks.check import Check
from reference.checks.two_layer import bias_label
from reference.problem.cases import FIRST_STEP_LR, POINTS, PROBE_STRICT_LOSS, SHAPES, TUTORIAL_STEPS
from reference.problem.inputs import Problem
from reference.problem.optimizers import TRAINING_OPTIMIZERS
from reference.problem.variants import MAX_MIDDLE_REPEATS

CHECKS: list[Check] = [
    Check("relu-at-zero", "a relu'(0) other than the one the implementation declares (integer inputs on the kink)",
          two_layer.relu_at_zero),
    Check("matmul-precision", f"products in a lower precision than the mode promises (an exact probe: loss "
          f"{PROBE_STRICT_LOSS!r} in float32, 0 in TF32)", two_layer.matmul_precision),
    *(Check(f"agreement-{shape}-{bias_label(bias)}-step{point}",
            f"a loss or gradient off the reference at {shape} ({SHAPES[shape].N}, {SHAPES[shape].D_in}, "
            f"{SHAPES[shape].H}, {SHAPES[shape].D_out}), {bias_label(bias)}, {point} steps in, on either of two calls",
            two_layer.agreement_check(shape, bias, point), shape)
      for shape in SHAPES for bias in (False, True) for point in POINTS),
    *(Check(f"training-{bias_label(bias)}", f"a training run off the reference's path ({TUTORIAL_STEPS} steps of the "
            f"declared optimizer at lr {', '.join(f'{o.lr:g} ({k})' for k, o in TRAINING_OPTIMIZERS.items())}), "
            "a loss that does not fall, or stale gradients once trained", two_layer.training_check(bias))
      for bias in (False, True)),
    *(Check(f"first-step-{bias_label(bias)}", f"a step() that is not the declared optimizer's first step for the "
            f"reference's g within its tolerance (w - lr * g for SGD; odd shape, lr {FIRST_STEP_LR:g})", two_layer.first_step(bias))
      for bias in (False, True)),
    Check("repeatable", "results that differ between fresh sessions on the same inputs", two_layer.repeatable),
    # Needs hypothesis (the test extra); without it the catalogue is one check shorter, never failing for it.
    *([Check("stateful-calls", "a result that goes wrong in some order of prepare, loss, loss_and_grads, step and "
             "parameters (random sequences, shrunk to the shortest failing one)", two_layer.stateful_calls)]
      if importlib.util.find_spec("hypothesis") else []),
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
                 "gradients on two calls of one prepared state, then one step)", two_layer.at_size(problem))


def applies(check: Check, impl) -> bool:
    """Whether ``check`` is about the network ``impl`` (an Implementation or its Declaration) computes."""
    return check.model == impl.model


def select(shapes: Iterable[str] | None = None, checks: Iterable[Check] | None = None) -> list[Check]:
    """The checks to run: every check not about a shape, and those about one of ``shapes`` (default: all)."""
    chosen = None if shapes is None else set(shapes)
    return [c for c in (CHECKS if checks is None else checks) if chosen is None or c.shape is None or c.shape in chosen]
