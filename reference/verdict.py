"""Every check on one implementation, each with pass/fail, its error/tolerance ratio and a diagnosis.

This is what ``python -m reference.check`` prints and what the bug catalogue is scored with.
An exception inside the implementation, or a check that runs past its time limit, becomes a
failed outcome with a one-line reason; the remaining checks still run.
"""

from __future__ import annotations

import contextlib
import signal
from dataclasses import dataclass, field
from typing import Callable, Iterator

from impls.contract import Session
from reference.cases import POINTS, SHAPES, inputs_at
from reference import model
from reference.checks import TUTORIAL_LR, Agreement, agreement, relu_grad_at_zero, training
from reference.diagnose import Diagnosis, diagnose, diagnose_calls, diagnose_points, diagnose_training
from reference.tolerance import compare

DEFAULT_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Outcome:
    check: str
    passed: bool
    ratio: float                      # worst error / tolerance (nan where not a comparison)
    diagnoses: tuple[Diagnosis, ...] = ()

    @property
    def codes(self) -> set[str]:
        return {d.code for d in self.diagnoses}

    @property
    def explanation(self) -> str:
        return "; ".join(dict.fromkeys(d.text for d in self.diagnoses))


class CheckTimeout(Exception):
    pass


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Interrupt the block after ``seconds`` (Unix main thread; elsewhere, no limit)."""
    if seconds <= 0 or not hasattr(signal, "setitimer"):
        yield
        return
    def interrupt(signum, frame):
        raise CheckTimeout(f"no result after {seconds:g} s")
    try:
        previous = signal.signal(signal.SIGALRM, interrupt)
    except ValueError:  # not the main thread
        yield
        return
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@dataclass
class Verdict:
    """Outcomes of every check on one session, in the order they ran."""

    session: Session
    timeout_s: float = DEFAULT_TIMEOUT_S
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(o.passed for o in self.outcomes)

    def codes(self) -> set[str]:
        return set().union(*(o.codes for o in self.outcomes)) if self.outcomes else set()

    def run(self, check: str, body: Callable[[], Outcome | None]) -> Outcome | None:
        """Run one check; an exception or a timeout becomes a failed outcome naming it."""
        try:
            with time_limit(self.timeout_s):
                outcome = body()
        except CheckTimeout as stop:
            outcome = Outcome(check, False, float("nan"), (Diagnosis("timeout", f"timed out: {stop}"),))
        except Exception as error:  # noqa: BLE001 (the implementation's own failure is the finding)
            message = str(error).strip().splitlines()[0] if str(error).strip() else ""
            outcome = Outcome(check, False, float("nan"),
                              (Diagnosis("error", f"raised {type(error).__name__}: {message}"),))
        if outcome is not None:
            self.outcomes.append(outcome)
        return outcome


def agreement_outcome(check: str, run: Agreement, inputs, precision: str) -> Outcome:
    ratio = max(r.comparison.ratio for r in run.results)
    if run.passed:
        return Outcome(check, True, ratio)
    first_call = [r for r in run.results if r.call == 1]
    failing = [r.comparison.quantity for r in first_call if not r.passed]
    grads = [k for k in inputs.params]
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
        wrong = [k for k in grads if k in failing]
        right = [k for k in grads if k not in failing]
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
    return Outcome(check, False, ratio, tuple(diagnoses))


def evaluate(session: Session, shapes: tuple[str, ...] = tuple(SHAPES), timeout_s: float = DEFAULT_TIMEOUT_S
             ) -> Verdict:
    """Every check: relu at 0, agreement at each shape, bias and point, training, the first update."""
    verdict = Verdict(session, timeout_s)
    precision = session.precision

    def relu_tie() -> Outcome:
        measured = relu_grad_at_zero(session)
        declared = session.impl.relu_grad_at_zero
        ok = abs(measured - declared) <= 1e-6
        text = () if ok else (Diagnosis("relu-declaration", f"relu'(0) measured {measured:.6g}, declared {declared}"),)
        return Outcome("relu'(0) as declared", ok, float("nan"), text)

    verdict.run("relu'(0) as declared", relu_tie)
    for shape in shapes:
        for bias in (False, True):
            runs = {}
            for point in POINTS:
                check = f"agreement {shape} {'bias' if bias else 'nobias'} step{point}"
                inputs = inputs_at(shape, bias, point)

                def agree(check=check, inputs=inputs, point=point) -> Outcome:
                    run = agreement(session, inputs)
                    runs[point] = run
                    outcome = agreement_outcome(check, run, inputs, precision)
                    if point != POINTS[0] and POINTS[0] in runs and not outcome.passed:
                        stale = [diagnose_points(q, runs[POINTS[0]].outputs[0][q], run.outputs[0][q], inputs,
                                                 precision) for q in inputs.params]
                        stale = [d for d in stale if d]
                        if stale:
                            outcome = Outcome(check, False, outcome.ratio, (stale[0], *outcome.diagnoses))
                    return outcome

                verdict.run(check, agree)

    for bias in (False, True):
        check = f"training tutorial {'bias' if bias else 'nobias'} (500 steps, lr 1e-6)"

        def train(check=check, bias=bias) -> Outcome:
            run = training(session, inputs_at("tutorial", bias))
            ratio = max(r.comparison.ratio for r in run.curve + run.first_update + run.after_training)
            if run.passed and run.losses[-1] < run.losses[0]:
                return Outcome(check, True, ratio)
            if all(r.passed for r in run.curve + run.first_update):
                stale = [d for k in run.start
                         if (d := diagnose_points(k, run.own_grads[k], run.final_grads[k], inputs_at("tutorial", bias),
                                                  precision))]
                return Outcome(check, False, ratio, tuple(stale) or (
                    Diagnosis("stale-gradients", "gradients after training disagree with the reference at the "
                              "parameters reached"),))
            inputs = inputs_at("tutorial", bias)
            _, ref_grads = model.loss_and_grads(inputs.x, inputs.y, inputs.params)
            scales = model.error_scales(inputs.x, inputs.y, inputs.params)
            grads_agree = all(compare(k, run.own_grads[k], ref_grads[k], scales[k], inputs.problem, precision).passed
                              for k in ref_grads)
            return Outcome(check, False, ratio, (diagnose_training(
                run.losses, run.reference_losses, run.start, run.after_one, ref_grads, grads_agree, TUTORIAL_LR),))

        verdict.run(check, train)
    return verdict
