"""What one session's checks add up to: which checks rest on which, and the one most likely cause.

``RESTS_ON`` is the one declaration of what a check's probe takes for granted: agreement (the
loss and gradients) rests on fresh sessions that repeat; a step rests on the gradients, training
on the step, and the relu'(0), precision and call-order probes on a correct loss and mask. A
check that fails while something it rests on failed is ``not judged``: it carries what that
dependency found instead of a cause of its own (a mean-reduced loss is no TF32 on a CPU).
``order`` runs dependencies first; ``judged`` rewrites a dependent's failure; ``root_cause``
reads the failures of one session and names the diagnosis that explains most of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Callable, Iterable, Mapping

from reference.checks.check import Check, Outcome
from reference.checks.diagnose import Diagnosis
from reference.problem.cases import POINTS, SHAPES
from reference.problem.variants import MAX_MIDDLE_REPEATS


def _rests_on() -> dict[str, tuple[tuple[str, ...], ...]]:
    """check id -> what it rests on: each entry a tuple of alternatives, the first one selected counts."""
    edges: dict[str, tuple[tuple[str, ...], ...]] = {}
    # Every comparison with the reference takes a fresh session's answer to be a function of its inputs.
    for shape in SHAPES:
        for bias in ("nobias", "bias"):
            edges.update({f"agreement-{shape}-{bias}-step{point}": (("repeatable",),) for point in POINTS})
    # The loss and gradients at the start, where each probe takes them: the odd shape, else another selected.
    start = {bias: tuple(f"agreement-{shape}-{bias}-step0" for shape in ("odd", "tutorial", "square"))
             for bias in ("nobias", "bias")}
    for bias, agreement in start.items():
        edges[f"first-step-{bias}"] = (agreement,)
        edges[f"training-{bias}"] = ((f"agreement-tutorial-{bias}-step0", *agreement), (f"first-step-{bias}",))
    edges["relu-at-zero"] = (start["nobias"], start["bias"])
    edges["matmul-precision"] = (start["nobias"],)
    edges["stateful-calls"] = (start["nobias"], start["bias"], *((f"{c}-{b}",) for c in ("first-step", "training")
                                                               for b in ("nobias", "bias")))
    depths = [(f"dynamic-agreement-tutorial-depth{d}", f"dynamic-agreement-odd-depth{d}")
              for d in range(MAX_MIDDLE_REPEATS + 1)]
    edges["dynamic-relu-at-zero"] = (depths[0],)
    edges["dynamic-first-step"] = (depths[-1][::-1],)  # depth 3 at the odd shape, as it steps
    edges["dynamic-training"] = (*depths, ("dynamic-first-step",))
    # The call sequences run on either network: on a DynamicNet at the odd shape, through every depth.
    edges["stateful-calls"] += (*(alternatives[::-1] for alternatives in depths), ("dynamic-first-step",),
                                ("dynamic-training",))
    return edges


#: check id -> the checks its probe takes for granted (see the module's docstring).
RESTS_ON = _rests_on()

#: Codes that name no cause: they add to a diagnosis ("w2 right, w1 wrong") or say only what failed ("no
#: pattern the suite knows", a wrong shape, a first step no rule fits or a training curve that leaves the
#: reference's, which another check reads further). Never the root cause.
NAMES_NO_CAUSE = frozenset({"unknown", "one-param", "forward-only", "not-judged", "update-rule", "trajectory",
                            "shape", "unreadable"})

#: An implementation that gave no answer to read (a wrong form, an exception, a crash, a hang): no cause
#: for a check resting on it, but that check's own inference is not judged either.
UNANSWERED = frozenset({"shape", "contract", "error", "crash", "timeout"})

#: What a check saw rather than inferred: true whatever its dependencies found, so never replaced by their finding.
OBSERVED = UNANSWERED | {"nan"}


def dependencies(check: Check, selected: Iterable[str]) -> list[str]:
    """The ids ``check`` rests on among ``selected``: for each entry, its first alternative selected."""
    chosen = set(selected)
    return [next(a for a in alternatives if a in chosen)
            for alternatives in RESTS_ON.get(check.id, ()) if any(a in chosen for a in alternatives)]


def order(checks: Iterable[Check]) -> list[Check]:
    """``checks`` with every check after what it rests on, otherwise in the catalogue's order."""
    checks = list(checks)
    ids = [c.id for c in checks]
    placed: dict[str, Check] = {}

    def place(check: Check) -> None:
        if check.id not in placed:
            for dependency in dependencies(check, ids):
                place(checks[ids.index(dependency)])
            placed[check.id] = check
    for check in checks:
        place(check)
    return list(placed.values())


def judged(check: Check, outcome: Outcome, found: Callable[[str], Outcome], selected: Iterable[str]) -> Outcome:
    """``outcome``, or where it failed while a check it rests on failed naming a cause, that cause instead of its own.

    ``found(id)`` is the outcome (itself judged) of a check this one rests on. A dependency that
    failed naming no cause leaves the check its own reading (training names what a first step no rule
    fits is); one that got no answer leaves it not judged, naming nothing; an ``OBSERVED`` failure stays. The verdict (pass or fail) is always the
    check's own; only the reason changes.
    """
    if outcome.passed or outcome.codes & OBSERVED:
        return outcome
    failed = [(dependency, below) for dependency in dependencies(check, selected)
              if not (below := found(dependency)).passed]
    for dependency, below in failed:
        named = tuple(d for d in below.diagnoses if d.code not in NAMES_NO_CAUSE | UNANSWERED)
        if named:
            return replace(outcome, diagnoses=(Diagnosis("not-judged", f"not judged, as {dependency} failed:"), *named))
    for dependency, below in failed:
        if below.codes & UNANSWERED and outcome.codes - NAMES_NO_CAUSE:
            return replace(outcome, diagnoses=(Diagnosis("not-judged", f"not judged, as {dependency} failed:"),
                                               *below.diagnoses))
    return outcome


def family(check_id: str) -> str:
    """The check's family: its id without the shape, network, point and depth it is about."""
    words = check_id.split("-")
    while len(words) > 1 and (words[-1] in SHAPES or words[-1] in ("bias", "nobias")
                              or re.fullmatch(r"(step|depth)\d+", words[-1])):
        words.pop()
    return "-".join(words)


@dataclass(frozen=True)
class RootCause:
    """The diagnosis that explains the most failing checks of one session, and what it leaves unexplained."""

    code: str
    text: str
    explained: tuple[str, ...]      # ids of the failing checks it explains
    unexplained: tuple[str, ...]    # ids of the failing checks it does not (a second bug, perhaps)

    @property
    def line(self) -> str:
        failing = len(self.explained) + len(self.unexplained)
        rest = f"; {len(self.unexplained)} not explained by it" if self.unexplained else ""
        return f"most likely cause: {self.text} (explains {len(self.explained)} of {failing} failing checks{rest})"


def root_cause(outcomes: Mapping[str, Outcome]) -> RootCause | None:
    """The most likely cause among ``outcomes`` (check id -> outcome, in run order); None when none failed.

    A failing check is explained by a code it carries; one that names no cause ("no pattern the suite
    knows") by the cause its own family's other checks name, or a check resting on it names.
    """
    failing = {i: o for i, o in outcomes.items() if not o.passed}
    if not failing:
        return None
    texts: dict[str, str] = {}
    for outcome in failing.values():
        for diagnosis in outcome.diagnoses:
            if diagnosis.code not in NAMES_NO_CAUSE:
                texts.setdefault(diagnosis.code, diagnosis.text)

    def explained_by(code: str) -> list[str]:
        naming = [i for i, o in failing.items() if code in o.codes]
        families = {family(i) for i in naming}
        beneath = {a for i in naming for alternatives in RESTS_ON.get(i, ()) for a in alternatives}
        return [i for i, o in failing.items() if code in o.codes
                or (o.codes <= NAMES_NO_CAUSE and (family(i) in families or i in beneath))]
    if not texts:
        first = next(iter(failing.values()))
        return RootCause(first.diagnoses[0].code if first.diagnoses else "unknown", first.explanation,
                         tuple(failing), ())
    code = max(texts, key=lambda c: len(explained_by(c)))  # the first named wins a tie
    explained = explained_by(code)
    return RootCause(code, texts[code], tuple(explained), tuple(i for i in failing if i not in explained))
