"""A model-based check: random sequences of calls, every result compared at the implementation's own parameters.

Implementations cache, reuse buffers and update in place; the mistakes that come with that
hide in call orders the fixed checks never make. hypothesis' ``RuleBasedStateMachine`` drives
an implementation through sequences of ``prepare``, ``loss``, ``loss_and_grads``, ``step`` and
``parameters``; after each call the result is compared with the float64 reference at the
parameters the implementation reports, and each ``step`` with ``w - lr * g`` for the reference's
``g``. A failure is shrunk by hypothesis to the shortest sequence that still fails, and that
sequence is the diagnosis. Fixed seed, bounded examples and steps: the same verdict every run.
"""

from __future__ import annotations

import numpy as np

from reference.check.session import Session
from reference.model import network
from reference.model.points import inputs_at
from reference.model.tolerance import Comparison, compare
from reference.problem.inputs import Inputs

#: A learning rate that moves every entry well past float32 rounding in a few steps, at a shape
#: and point whose ReLU inputs keep their margin from the kink for that many steps.
LR = 1e-6
SHAPE = "odd"
EXAMPLES, STEPS = 30, 8


class Mismatch(AssertionError):
    def __init__(self, comparison: Comparison, what: str):
        super().__init__(comparison.describe(what))
        self.comparison = comparison


def sequence_check(session: Session, bias: bool = True) -> tuple[float, list[str]]:
    """The worst error/tolerance over every call, and the shrunk failing sequence (empty if none failed).

    The sequence's last line, after "->", is the comparison that failed.
    """
    from hypothesis import HealthCheck, Phase, settings
    from hypothesis.reporting import with_reporter
    from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

    start = inputs_at(SHAPE, bias)
    names = tuple(start.params)
    worst = [0.0]

    def check(comparison: Comparison, what: str) -> None:
        worst[0] = max(worst[0], comparison.ratio)
        if not comparison.passed:
            raise Mismatch(comparison, what)

    class Calls(RuleBasedStateMachine):
        @initialize()
        def prepare(self):
            self.state = session.prepare(start, LR)

        def own_inputs(self) -> Inputs:
            own = session.parameters(self.state, names)
            return start.with_params({k: v.astype(np.float64) for k, v in own.items()})

        @rule()
        def prepare_again(self):
            self.state = session.prepare(start, LR)

        @rule()
        def loss(self):
            inputs = self.own_inputs()
            ref, _, scales = network.reference_at(inputs)
            check(compare("loss", session.loss(self.state), ref, scales["loss"], inputs.problem, session.precision),
                  "loss()")

        @rule()
        def loss_and_grads(self):
            inputs = self.own_inputs()
            ref, ref_grads, scales = network.reference_at(inputs)
            value, grads = session.loss_and_grads(self.state, names)
            check(compare("loss", value, ref, scales["loss"], inputs.problem, session.precision), "loss_and_grads()")
            for k in names:
                check(compare(k, grads[k], ref_grads[k], scales[k], inputs.problem, session.precision),
                      "loss_and_grads()")

        @rule()
        def step(self):
            before = self.own_inputs()
            ref, ref_grads, scales = network.reference_at(before)
            value = session.step(self.state)
            check(compare("loss", value, ref, scales["loss"], before.problem, session.precision), "step()")
            after = session.parameters(self.state, names)
            for k in names:
                expected = before.params[k] - LR * ref_grads[k]
                scale = np.abs(before.params[k]) + LR * np.asarray(scales[k])
                check(compare(k, after[k], expected, scale, before.problem, session.precision, kind="update"),
                      "step() then parameters()")

        @invariant()
        def parameters_are_finite(self):
            if hasattr(self, "state"):
                own = session.parameters(self.state, names)
                assert all(np.all(np.isfinite(v)) for v in own.values()), "parameters() holds NaN or inf"

    bounded = settings(max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None, derandomize=True,
                       database=None, print_blob=False, suppress_health_check=list(HealthCheck),
                       phases=(Phase.explicit, Phase.generate, Phase.shrink))
    printed: list[str] = []
    try:
        with with_reporter(printed.append):
            run_state_machine_as_test(Calls, settings=bounded)
    except AssertionError as failure:
        # hypothesis reports the shrunk sequence through its reporter or, in newer versions, as notes.
        report = [*map(str, printed), *getattr(failure, "__notes__", ())]
        steps = [line.strip().removeprefix("state.") for text in report for line in text.splitlines()
                 if line.strip().startswith("state.") and not any(skip in line for skip in ("teardown", "finite"))]
        return max(worst[0], 1.0 + 1e-9), [*steps, f"-> {str(failure).splitlines()[0]}"]
    return worst[0], []
