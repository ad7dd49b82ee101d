"""The two-layer network's checks: each a ``run(session) -> Outcome`` the catalogue names and lists.

Agreement (loss and gradients at a shape and a point on the reference's path), training (the
whole run and its first step), and the contract's numerics (relu'(0), the matmul precision,
fresh sessions, call orders). The DynamicNet tutorial's network has its own in ``dynamic``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

import numpy as np

from impls.contract import biases
from reference.checks import measure, stateful
from reference.checks.batches import diagnose_batches
from reference.checks.check import Outcome, failed
from reference.checks.diagnose import STEP_GRADIENT, Diagnosis, diagnose, diagnose_calls, diagnose_points, diagnose_training
from reference.checks.slips import name_slip
from reference.checks.update_rule import name_one_step
from reference.harness.session import Session
from reference.model import network
from reference.model.margin import make_inputs
from reference.model.optimizers import small_gradient_inputs
from reference.model.points import inputs_at
from reference.model.tolerance import UNIT_ROUNDOFF, compare
from reference.problem.cases import FIRST_STEP_LR, POINTS, PROBE_STRICT_LOSS, TUTORIAL_STEPS
from reference.problem.inputs import Inputs, Problem
from reference.problem.optimizers import TRAINING_OPTIMIZERS, Optimizer, declared


def bias_label(bias: bool) -> str:
    return "bias" if bias else "nobias"


def either_network(session: Session) -> bool:
    """The bias of the network a check about either one takes: with bias, unless the implementation computes only
    the network without (impls.contract.biases)."""
    return biases(session.impl)[-1]


# --- agreement ------------------------------------------------------------------------------------

def agreement_outcome(run: measure.Agreement, inputs: Inputs, precision: str) -> Outcome:
    """Pass, or fail with a diagnosis per kind of mistake that explains the failing quantities."""
    ratio = max(r.comparison.ratio for r in run.results)
    if run.passed:
        return Outcome(True, ratio)
    first_call = [r for r in run.results if r.call == 1]
    failing = [r.comparison.quantity for r in first_call if not r.passed]
    diagnoses = []
    if failing:
        # One line per kind of mistake, naming every quantity it explains.
        by_code: dict[str, list[tuple[str, Diagnosis]]] = {}
        for quantity in dict.fromkeys(failing):
            found = diagnose(quantity, run.outputs[0][quantity], inputs, precision)
            by_code.setdefault(found.code, []).append((quantity, found))
        for code, found in by_code.items():
            (first, diagnosis), names = found[0], ", ".join(q for q, _ in found)
            text = names + diagnosis.text[len(first):] if diagnosis.text.startswith(first) else diagnosis.text
            diagnoses.append(Diagnosis(code, text))
        wrong = [k for k in inputs.params if k in failing]
        right = [k for k in inputs.params if k not in failing]
        if wrong and right:
            diagnoses.append(Diagnosis("one-param", f"the gradients of {', '.join(right)} are right and those of "
                                       f"{', '.join(wrong)} wrong"))
        if "loss" not in failing and any(not r.passed and "loss()" in r.label for r in first_call):
            diagnoses.append(Diagnosis("forward-only", "loss() disagrees with loss_and_grads()"))
    else:
        second = [r.comparison.quantity for r in run.results if not r.passed]
        for quantity in dict.fromkeys(q for q in second if q != "loss"):
            diagnoses.append(diagnose_calls(quantity, run.outputs[0][quantity], run.outputs[1][quantity],
                                            inputs, precision))
        if not diagnoses:
            diagnoses.append(Diagnosis("call-dependent", "the second call's loss differs from the first"))
    return Outcome(False, ratio, tuple(diagnoses), failed(run.results))


def agreement_check(shape: str, bias: bool, point: int) -> Callable[[Session], Outcome]:
    def run(session: Session) -> Outcome:
        inputs = inputs_at(shape, bias, point)
        result = measure.compare_calls(session, inputs)
        outcome = agreement_outcome(result, inputs, session.precision)
        if outcome.passed or point == POINTS[0]:
            return outcome
        # A later point that gives the start's results: the parameters' change never reached them.
        start = measure.compare_calls(session, inputs_at(shape, bias, POINTS[0]), calls=1).outputs[0]
        stale = [d for q in inputs.params
                 if (d := diagnose_points(q, start[q], result.outputs[0][q], inputs, session.precision))]
        return Outcome(False, outcome.ratio, (*stale[:1], *outcome.diagnoses), outcome.details)
    return run


def at_size(problem: Problem) -> Callable[[Session], Outcome]:
    """Agreement on two calls of one prepared state, then one step, at any size (the benchmarks' verification)."""
    def run(session: Session) -> Outcome:
        inputs = make_inputs(problem)
        agreed = agreement_outcome(measure.compare_calls(session, inputs), inputs, session.precision)
        if not agreed.passed:
            return agreed
        stepped = one_step(session, inputs)
        return replace(stepped, ratio=max(agreed.ratio, stepped.ratio))
    return run


# --- training ---------------------------------------------------------------------------------------

def training_check(bias: bool) -> Callable[[Session], Outcome]:
    def run(session: Session) -> Outcome:
        inputs = inputs_at("tutorial", bias)
        optimizer = TRAINING_OPTIMIZERS[session.impl.optimizer]
        result = measure.train_and_compare(session, inputs, optimizer, TUTORIAL_STEPS)
        comparisons = result.curve + result.first_update + result.after_training
        ratio = max(r.comparison.ratio for r in comparisons)
        falls = result.losses[-1] < result.losses[0]
        if result.passed and falls:
            return Outcome(True, ratio)
        details = failed(comparisons)
        if result.passed:
            return Outcome(False, ratio, (Diagnosis("not-decreasing", (
                f"every step agrees with the reference, but the loss does not fall over {TUTORIAL_STEPS} steps "
                f"({result.losses[0]:.4g} to {result.losses[-1]:.4g})")),), details)
        if all(r.passed for r in result.curve + result.first_update):
            stale = [d for k in result.start
                     if (d := diagnose_points(k, result.own_grads[k], result.final_grads[k], inputs, session.precision))]
            return Outcome(False, ratio, tuple(stale) or (
                Diagnosis("stale-gradients", "gradients after training disagree with the reference at the "
                          "parameters reached"),), details)
        if session.batching:
            return Outcome(False, ratio, diagnose_batches(session, inputs, optimizer, SLIP_STEPS), details)
        _, ref_grads, scales = network.reference_at(inputs)
        grads_agree = all(compare(k, result.own_grads[k], ref_grads[k], scales[k], inputs.problem,
                                  session.precision).passed for k in ref_grads)
        if grads_agree:
            named = name_rule_followed(session, inputs, optimizer)
            if named is not None:
                return Outcome(False, ratio, (named,), details)
            moved = any(np.any(result.after_one[k] != result.start[k]) for k in result.start)
            if optimizer.kind != "sgd" and moved:
                # diagnose_training reads the path as SGD's; another rule's later departure is named no further.
                return Outcome(False, ratio, (Diagnosis("update-rule", (
                    f"the gradients agree and the parameters follow {optimizer.kind} with the contract's coefficients "
                    "over the steps the diagnosis reads, then leave it: no known mistake explains that")),), details)
        return Outcome(False, ratio, (diagnose_training(
            result.losses, result.reference_losses, result.start, result.after_one, ref_grads, grads_agree,
            optimizer.lr),), details)
    return run


#: Steps of the parameter path SGD's rule is fitted on: past a schedule's usual first drop at 100.
RULE_STEPS = 150
#: Steps of the path Adam's rule is fitted on (its betas searched): enough for betas swapped to show.
SLIP_STEPS = 20


def name_rule_followed(session: Session, inputs: Inputs, optimizer: Optimizer) -> Diagnosis | None:
    """The update rule the implementation's own parameter path follows, when it is not the declared one."""
    path = measure.parameter_path(session, inputs, optimizer.lr, SLIP_STEPS if optimizer.kind == "adam" else RULE_STEPS)
    grads = [network.loss_and_grads(inputs.x, inputs.y, p)[1] for p in path[:-1]]
    return name_slip(path, grads, optimizer, UNIT_ROUNDOFF[session.precision])


def one_step(session: Session, inputs: Inputs) -> Outcome:
    """One step() at FIRST_STEP_LR against the declared optimizer's first step from the reference's gradient
    within its tolerance (at gradients where Adam's eps acts, for Adam), the rule named if it is another."""
    optimizer = declared(session.impl.optimizer, FIRST_STEP_LR)
    result = measure.train_and_compare(session, small_gradient_inputs(inputs, optimizer), optimizer, steps=1)
    ratio = max(r.comparison.ratio for r in result.first_update)
    if all(r.passed for r in result.first_update):
        return Outcome(True, ratio)
    if measure.follows_own_gradient(session, inputs.problem, optimizer, result.start, result.after_one,
                                    result.step_grads):
        return Outcome(False, ratio, (STEP_GRADIENT,), failed(result.first_update))
    if session.batching:
        # A wrong batch or reduction shows in the first step already; reading it takes steps at the training lr.
        return Outcome(False, ratio, diagnose_batches(session, inputs, TRAINING_OPTIMIZERS[optimizer.kind], SLIP_STEPS),
                       failed(result.first_update))
    named = None
    if optimizer.kind == "sgd":
        named = name_one_step(result.start, result.after_one, result.step_grads, FIRST_STEP_LR,
                              UNIT_ROUNDOFF[session.precision])
        if named is not None and named.code == "lr-mismatch":
            named = rate_under_a_larger_gradient(session, inputs, optimizer, result, named)
    named = named or name_slip([result.start, result.after_one], [result.step_grads], optimizer,
                               UNIT_ROUNDOFF[session.precision])
    rule = "w - lr * g" if optimizer.kind == "sgd" else f"{optimizer.kind}'s first step"
    return Outcome(False, ratio, (named or Diagnosis("update-rule", (
        f"one step() at lr {FIRST_STEP_LR:g} does not move the parameters to {rule} for the g that "
        "loss_and_grads() returns")),), failed(result.first_update))


def rate_under_a_larger_gradient(session: Session, inputs: Inputs, optimizer: Optimizer, result: measure.Training,
                                 named: Diagnosis) -> Diagnosis:
    """A first step along the gradient at another rate, read again where the weights' gradient is four times
    as large (x and y doubled): another lr keeps its rate, a gradient clipped to a norm keeps the step's length."""
    params = {k: v * 2 if k.startswith("b") else v for k, v in inputs.params.items()}
    probe = measure.train_and_compare(session, Inputs(inputs.x * 2, inputs.y * 2, params), optimizer, steps=1)
    (rate, norm), (probe_rate, probe_norm) = (_rate_and_norm(r.start, r.after_one, r.step_grads)
                                              for r in (result, probe))
    if abs(probe_rate / rate - 1) <= 1e-3:
        return named
    if abs(probe_rate * probe_norm / (rate * norm) - 1) <= 1e-3:
        bound = rate * norm / optimizer.lr
        return Diagnosis("clipping", f"the first step is lr {optimizer.lr:g} times the gradient clipped to total norm "
                                     f"{bound:.4g} (clip_grad_norm_(max_norm={bound:.4g})): its length stays "
                                     "when the gradient grows fourfold")
    return Diagnosis("update-rule", f"the first step goes along the gradient at rate {rate:.4g}, and at "
                                    f"{probe_rate:.4g} where the gradient is four times as large: neither another lr "
                                    "nor clipping")


def _rate_and_norm(start, after, grads) -> tuple[float, float]:
    g = np.concatenate([np.ravel(grads[k]) for k in sorted(start)]).astype(np.float64)
    d = np.concatenate([np.ravel(np.asarray(start[k], np.float64) - after[k]) for k in sorted(start)])
    return float(d @ g / (g @ g)), float(np.linalg.norm(g))


def first_step(bias: bool) -> Callable[[Session], Outcome]:
    return lambda session: one_step(session, inputs_at("odd", bias))


# --- contract and numerics ------------------------------------------------------------------------

def relu_at_zero(session: Session) -> Outcome:
    declared = session.impl.relu_grad_at_zero
    measured = {bias: measure.relu_grad_at_zero(session, bias) for bias in biases(session.impl)}
    wrong = {bias: value for bias, value in measured.items() if abs(value - declared) > 1e-6}
    if not wrong:
        return Outcome(True)
    text = ", ".join(f"{value:.6g} ({bias_label(bias)})" for bias, value in wrong.items())
    return Outcome(False, diagnoses=(Diagnosis("relu-declaration", f"relu'(0) measured {text}, declared {declared}"),))


def repeatable(session: Session) -> Outcome:
    return stateful.repeated(session, inputs_at("odd", either_network(session)))


def cuda_vs_cpu(session: Session) -> Outcome:
    return stateful.agrees_with_cpu(session, inputs_at("tutorial", either_network(session)))


def matmul_precision(session: Session) -> Outcome:
    loss = measure.matmul_precision_probe(session, bias=biases(session.impl)[0])  # bias-free where it computes that
    allowed = (PROBE_STRICT_LOSS,) if session.mode == "strict" else (PROBE_STRICT_LOSS, 0.0)
    if loss in allowed:
        return Outcome(True)
    reading = "0, the TF32 answer" if loss == 0.0 else repr(loss)
    return Outcome(False, diagnoses=(Diagnosis("precision-mode", (
        f"the probe's loss is {reading}; exactly {PROBE_STRICT_LOSS!r} when products keep float32's mantissa"
        + (" (strict mode must not use TF32)" if session.mode == "strict" else "")),),))


def stateful_calls(session: Session) -> Outcome:
    return stateful.sequence_check(session, inputs_at(stateful.SHAPE, either_network(session)),
                                   TRAINING_OPTIMIZERS[session.impl.optimizer])
