"""A model-based check: random sequences of calls, every result compared at the implementation's own parameters.

Implementations cache, reuse buffers and update in place; the mistakes that come with that
hide in call orders the fixed checks never make. hypothesis' ``RuleBasedStateMachine`` drives
an implementation through sequences of ``prepare``, ``loss``, ``loss_and_grads``, ``step`` and
``parameters``; after each call the result is compared with the float64 reference at the
parameters the implementation reports, and each ``step`` with the declared optimizer's step from
the reference's ``g`` (its buffers replayed along the implementation's own path since the last
``prepare``; a mini-batch implementation's ``g`` is that step's batch's). A few scripted sequences
run first, then hypothesis' random ones; a failure is shrunk by hypothesis to the shortest sequence
that still fails, and that sequence is the diagnosis. Fixed seed, bounded examples and steps: the
same verdict every run.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from reference.harness.session import Session
from reference.model import network
from reference.model.minibatch import rows_of
from reference.model.optimizers import Replay
from reference.model.points import inputs_at
from reference.model.tolerance import UNIT_ROUNDOFF, Comparison, compare, tolerance, unit_roundoff_with_reference
from reference.problem.inputs import Inputs
from reference.problem.optimizers import TRAINING_OPTIMIZERS

#: Each optimizer's training lr (TRAINING_OPTIMIZERS) moves every entry well past float32 rounding in a few
#: steps; at this shape the smallest |h| stays above float32's rounding band over 8 of them (measured
#: 1e-5 * scale(h) for SGD, 8e-6 for momentum, against a band of 4e-6), and where one would not,
#: the comparison allows that entry's share (kink_slack).
SHAPE = "odd"
#: hypothesis derives its fixed seed from the state machine's source, so an edit draws other
#: sequences: 30 examples once left loss(); step(); loss() undrawn and a stale loss() memo passed.
#: tests/test_catalogue.py holds the call-order mistakes failing.
EXAMPLES, STEPS = 60, 8
#: So the sequences every memo or buffer mistake known shows in run first, whatever hypothesis draws:
#: a read, a step, the same read again; two steps; a step across a fresh prepare.
SCRIPTED = (("loss", "step", "loss"), ("loss_and_grads", "step", "loss_and_grads"), ("step", "step", "loss_and_grads"),
            ("step", "prepare_again", "step", "loss_and_grads"))


class Mismatch(AssertionError):
    def __init__(self, comparison: Comparison, what: str):
        super().__init__(comparison.describe(what))
        self.comparison = comparison


def sequence_check(session: Session, bias: bool = True) -> tuple[float, list[str]]:
    """The worst error/tolerance over every call, and the shortest failing sequence found (empty if none failed).

    The sequence's last line, after "->", is the comparison that failed.
    """
    worst = [0.0]

    def check(comparison: Comparison, what: str) -> None:
        worst[0] = max(worst[0], comparison.ratio)
        if not comparison.passed:
            raise Mismatch(comparison, what)

    machine = call_machine(session, inputs_at(SHAPE, bias), check)
    sequence = scripted_failure(machine) or drawn_failure(machine)
    if sequence:
        return max(worst[0], 1.0 + 1e-9), sequence
    return worst[0], []


def call_machine(session: Session, start: Inputs, check: Callable[[Comparison, str], None]) -> type:
    """The state machine of ``session``'s calls from ``start``, every result handed to ``check``. Its source,
    indentation included, seeds hypothesis: an edit to the class draws other sequences."""
    from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
    names = tuple(start.params)
    optimizer = TRAINING_OPTIMIZERS[session.impl.optimizer]
    u = unit_roundoff_with_reference(session.precision)

    class Calls(RuleBasedStateMachine):
        @initialize()
        def prepare(self):
            self.state = session.prepare(start, optimizer.lr)
            self.replay = Replay(optimizer, start.params, UNIT_ROUNDOFF[session.dtype])
            self.steps = 0

        def own_inputs(self) -> Inputs:
            return start.with_params(session.parameters(self.state, names))

        @rule()
        def prepare_again(self):
            self.prepare()

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
            kinks = network.kink_slack(inputs.x, inputs.y, inputs.params, u)
            for k in names:
                check(compare(k, grads[k], ref_grads[k], scales[k], inputs.problem, session.precision, slack=kinks[k]),
                      "loss_and_grads()")

        @rule()
        def step(self):
            before = self.own_inputs()
            self.steps += 1
            if session.batching:  # this step's batch of the order prepare handed out
                before = rows_of(before, session.batching.batches(len(start.x), self.steps)[-1])
            ref, ref_grads, scales = network.reference_at(before)
            value = session.step(self.state)
            check(compare("loss", value, ref, scales["loss"], before.problem, session.precision), "step()")
            after = session.parameters(self.state, names)
            grad_tolerances = {k: tolerance(before.problem, "grad", session.precision, scales[k]) for k in names}
            expected, spread = self.replay.step(before.params, ref_grads, grad_tolerances)
            for k in names:
                scale = np.abs(before.params[k]) + np.abs(expected[k] - before.params[k])
                check(compare(k, after[k], expected[k], scale, before.problem, session.precision, kind="update",
                              slack=spread[k]), "step() then parameters()")

        @invariant()
        def parameters_are_finite(self):
            if hasattr(self, "state"):
                own = session.parameters(self.state, names)
                assert all(np.all(np.isfinite(v)) for v in own.values()), "parameters() holds NaN or inf"

    return Calls


def scripted_failure(machine: type) -> list[str] | None:
    """The first SCRIPTED sequence that fails, as the calls made and "-> " the failure; None if all pass."""
    for script in SCRIPTED:
        calls, made = machine(), ["prepare()"]
        try:
            calls.prepare()
            for call in script:
                made.append(f"{call}()")
                getattr(calls, call)()
                calls.parameters_are_finite()
        except AssertionError as failure:
            return [*made, f"-> {str(failure).splitlines()[0]}"]
    return None


def drawn_failure(machine: type) -> list[str] | None:
    """The shortest failing sequence among those hypothesis draws, shrunk; None if none fails."""
    from hypothesis import HealthCheck, Phase, settings
    from hypothesis.reporting import with_reporter
    from hypothesis.stateful import run_state_machine_as_test

    bounded = settings(max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None, derandomize=True,
                       database=None, print_blob=False, suppress_health_check=list(HealthCheck),
                       phases=(Phase.explicit, Phase.generate, Phase.shrink))
    printed: list[str] = []
    try:
        with with_reporter(printed.append):
            run_state_machine_as_test(machine, settings=bounded)
    except AssertionError as failure:
        # hypothesis reports the shrunk sequence through its reporter or, in newer versions, as notes.
        report = [*map(str, printed), *getattr(failure, "__notes__", ())]
        steps = [line.strip().removeprefix("state.") for text in report for line in text.splitlines()
                 if line.strip().startswith("state.") and not any(skip in line for skip in ("teardown", "finite"))]
        return [*steps, f"-> {str(failure).splitlines()[0]}"]
    return None
