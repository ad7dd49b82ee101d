"""Measurements of one implementation against the float64 model, without verdicts.

Each function runs an implementation through a ``Session`` and returns its comparisons with the
reference (``Result``s wrapping reference.model.tolerance's ``Comparison``) and what it returned.
The check bodies (reference.checks.two_layer and dynamic) turn them into pass/fail outcomes with diagnoses.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from reference.harness.session import Session
from reference.model import minibatch, network, optimizers
from reference.model.tolerance import (UNIT_ROUNDOFF, Comparison, compare, curve_growth, tolerance,
                                       unit_roundoff_with_reference)
from reference.problem.cases import probe_inputs, tie_inputs
from reference.problem.inputs import Inputs, Problem
from reference.problem.optimizers import Optimizer


@dataclass(frozen=True)
class Result:
    """One comparison, labelled with where it came from."""

    label: str
    comparison: Comparison
    call: int = 1  # which call on the same prepared state produced it

    @property
    def passed(self) -> bool:
        return self.comparison.passed

    def describe(self) -> str:
        return self.comparison.describe(self.label)


@dataclass(frozen=True)
class Agreement:
    """The comparisons of one agreement check, and what the implementation returned on each call."""

    results: list[Result]
    outputs: list[dict[str, np.ndarray | float]]  # per call: "loss()" (forward only), "loss", and each gradient

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)


def compare_calls(session: Session, inputs: Inputs, calls: int = 2) -> Agreement:
    """Loss (forward only, and with the gradients) and every gradient against the reference.

    The same prepared state is asked ``calls`` times: a second call that differs from the first
    (gradients accumulated, state changed by a read) fails just like a wrong first call.
    """
    problem = inputs.problem
    names = tuple(inputs.params)
    ref_loss, ref_grads, scales = network.reference_at(inputs)
    state = session.prepare(inputs)
    results, outputs = [], []
    for call in range(1, calls + 1):
        where = f"{session.label} call {call}"
        forward_only = session.loss(state)
        value, grads = session.loss_and_grads(state, names)
        outputs.append({"loss()": forward_only, "loss": value, **grads})
        results.append(Result(f"{where} loss()", compare("loss", forward_only, ref_loss, scales["loss"],
                                                         problem, session.precision), call))
        results.append(Result(f"{where} loss_and_grads()", compare("loss", value, ref_loss, scales["loss"],
                                                                   problem, session.precision), call))
        for name in names:
            results.append(Result(f"{where} grad", compare(name, grads[name], ref_grads[name], scales[name],
                                                            problem, session.precision), call))
    return Agreement(results, outputs)


@dataclass(frozen=True)
class Training:
    """An implementation's own training run next to the reference's."""

    losses: np.ndarray
    reference_losses: np.ndarray
    curve: list[Result]        # per-step loss against the reference's, one Result per step
    first_update: list[Result]  # params after one step against the optimizer's step from the reference's gradient
    after_training: list[Result]  # gradients after the last step, at the implementation's own parameters
    final_grads: dict[str, np.ndarray]
    start: dict[str, np.ndarray]
    after_one: dict[str, np.ndarray]
    own_grads: dict[str, np.ndarray]   # loss_and_grads() at the start, over every row
    step_grads: dict[str, np.ndarray]  # loss_and_grads() over the rows the first step trains on

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.curve + self.first_update + self.after_training)


def train_and_compare(session: Session, inputs: Inputs, optimizer: Optimizer, steps: int) -> Training:
    """Train from ``inputs`` for ``steps`` steps of ``optimizer``; compare the curve and the first update.

    A mini-batch implementation's curve is its batches' losses, against the reference's on the same batches.
    """
    names = tuple(inputs.params)
    problem = inputs.problem
    state = session.prepare(inputs, optimizer.lr)
    _, own_grads = session.loss_and_grads(state, names)
    if session.batching:
        ref_losses, loss_scales = minibatch.reference_training(inputs, optimizer, session.batching, steps)
        batches = session.batching.batches(problem.N, steps)
        step_problems = [replace(problem, N=len(rows)) for rows in batches]
        stepped_on = minibatch.rows_of(inputs, batches[0])
        # The gradient the first step takes is the first batch's: the implementation's own, from that batch alone.
        _, step_grads = session.loss_and_grads(session.prepare(stepped_on), names)
    else:
        ref_losses, loss_scales = optimizers.reference_training(inputs, optimizer, steps)
        step_problems, stepped_on, step_grads = [problem] * steps, inputs, own_grads
    start = session.parameters(state, names)
    losses = [session.step(state)]
    after_one = session.parameters(state, names)
    losses += session.steps(state, steps - 1)
    # Gradients once more at the parameters training reached: a result cached from an
    # earlier point, or computed from stale parameters, shows here.
    final = inputs.with_params(session.parameters(state, names))
    _, final_grads = session.loss_and_grads(state, names)
    _, ref_final, final_scales = network.reference_at(final)
    kinks = network.kink_slack(final.x, final.y, final.params, unit_roundoff_with_reference(session.precision))
    after_training = [Result(f"{session.label} after {steps} steps", compare(
        name, final_grads[name], ref_final[name], final_scales[name], problem, session.precision, slack=kinks[name]))
        for name in names]

    # The step from the reference's gradient, moved within its tolerance: step() may compute its
    # gradient another way than loss_and_grads() does (another kernel or order), so the gradient
    # loss_and_grads() returns says no more about the step's than that both are within tolerance.
    _, ref_grads, grad_scales = network.reference_at(stepped_on)
    grad_tolerances = {k: tolerance(stepped_on.problem, "grad", session.precision, grad_scales[k]) for k in names}
    replay = optimizers.Replay(optimizer, start, UNIT_ROUNDOFF[session.dtype])
    expected, spread = replay.step(start, ref_grads, grad_tolerances)
    first_update = update_results(session, problem, start, after_one, expected, spread, "first step")

    curve = [Result(f"{session.label} step {t}", compare("loss", losses[t], ref_losses[t], scale * curve_growth(t),
                                                           step_problem, session.precision))
             for t, (scale, step_problem) in enumerate(zip(loss_scales, step_problems))]
    return Training(np.array(losses), ref_losses, curve, first_update, after_training, final_grads,
                    start, after_one, own_grads, step_grads)


def update_results(session: Session, problem: Problem, before: dict[str, np.ndarray], after: dict[str, np.ndarray],
                   expected: dict[str, np.ndarray], spread: dict[str, np.ndarray], what: str) -> list[Result]:
    """The parameters one step reached against the expected ones, each entry within ``spread`` and its rounding."""
    # A step is a few elementwise operations per entry: its scale is |w| + |the step|.
    return [Result(f"{session.label} {what}", compare(
        name, after[name], expected[name], np.abs(before[name]) + np.abs(expected[name] - before[name]), problem,
        session.precision, kind="update", slack=spread[name])) for name in before]


def follows_own_gradient(session: Session, problem: Problem, optimizer: Optimizer, start: dict[str, np.ndarray],
                         after: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> bool:
    """Whether one step from ``start`` to ``after`` is the declared rule's first step for ``grads``, the gradient
    loss_and_grads() returned for the rows the step trained on."""
    expected, spread = optimizers.Replay(optimizer, start, UNIT_ROUNDOFF[session.dtype]).step(start, grads)
    return all(r.passed for r in update_results(session, problem, start, after, expected, spread, "step"))


def parameter_path(session: Session, inputs: Inputs, lr: float, steps: int) -> list[dict[str, np.ndarray]]:
    """The parameters before the first step and after each of ``steps`` steps, prepared with ``lr``."""
    return stepped_path(session, inputs, lr, steps)[0]


def stepped_path(session: Session, inputs: Inputs, lr: float,
                 steps: int) -> tuple[list[dict[str, np.ndarray]], list[float]]:
    """``parameter_path``, and the loss each step returned."""
    names = tuple(inputs.params)
    state = session.prepare(inputs, lr)
    path, losses = [session.parameters(state, names)], []
    for _ in range(steps):
        losses.append(session.step(state))
        path.append(session.parameters(state, names))
    return path, losses


def relu_grad_at_zero(session: Session, bias: bool = False) -> float:
    """The subgradient of relu at 0 that an implementation takes, measured.

    With h[:, 0] == 0, grad_w1[:, 0] = s * x.T @ (grad_y_pred @ w2[0]), where s is that
    subgradient and nothing else depends on it; s is read off by least squares.
    """
    inputs = tie_inputs(bias)
    _, grads = session.loss_and_grads(session.prepare(inputs), tuple(inputs.params))
    y_pred = network.forward(inputs.x, inputs.params)[2]
    direction = inputs.x.T @ (2.0 * (y_pred - inputs.y) @ inputs.params["w2"][0])  # (D_in,)
    return float(grads["w1"][:, 0] @ direction / (direction @ direction))


def matmul_precision_probe(session: Session, bias: bool = False) -> float:
    """The probe's loss as this implementation computes it, in this session's mode; with ``bias``, biases of 0,
    which every precision adds exactly."""
    probe = probe_inputs()
    if bias:
        (_, H), (_, D_out) = probe.params["w1"].shape, probe.params["w2"].shape
        probe = probe.with_params({**probe.params, "b1": np.zeros(H), "b2": np.zeros(D_out)})
    return session.loss(session.prepare(probe))
