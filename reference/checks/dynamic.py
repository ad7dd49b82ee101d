"""The checks of a dynamic implementation (the DynamicNet tutorial's network), for the catalogue.

The middle layer's depth for each step comes from a seeded sequence every implementation is
handed; ``loss`` and ``loss_and_grads`` compute the network the next step trains. Each quantity
is compared with reference/model/dynamic.py within the tolerance model's bound for its chain
through every layer (min(n, LAMBDA sqrt(n)) u times the computation on absolute values), beyond
the share of any pre-activation that lies within its rounding of the kink. A disagreement is read
back against the network built the ways slips build it (the depth each call takes, probed with
every depth handed in turn; a relu left out; the shared layer's uses combined another way): the
one way that reproduces every call within that bound, where no other does, names it.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from reference.checks import stateful
from reference.checks.diagnose import STEP_GRADIENT, Diagnosis
from reference.checks.measure import Result, follows_own_gradient, stepped_path, update_results
from reference.checks.check import Outcome, failed
from reference.harness.session import Session
from reference.checks.slips import unexplained
from reference.model import dynamic
from reference.model.optimizers import Replay, update
from reference.model.tolerance import UNIT_ROUNDOFF, compare, curve_growth, tolerance, unit_roundoff_with_reference
from reference.problem.cases import FIRST_STEP_LR, SHAPES, TUTORIAL_STEPS, tie_inputs
from reference.problem.inputs import Problem
from reference.problem.optimizers import declared
from reference.problem.variants import DEPTH_SEED, DYNAMIC_NAMES, MAX_MIDDLE_REPEATS, DynamicInputs, middle_repeats

#: The tutorial's SGD(lr=1e-4, momentum=0.9): the loss falls from 616 to 0.28 in 500 steps along the
#: 7 seeded depths read in turn, and float32 (numpy, torch, jax) uses at most 0.012 of the curve's
#: bound. The model covers rounding, not a kink crossed at another step in one precision than in the
#: other: along 501 seeded depths instead, float32 reached 1.1 of the bound at step 330 this way.
TRAINING_LR = 1e-4


def compared(session: Session, inputs: DynamicInputs, what: str, value: float,
             grads: dict[str, np.ndarray] | None) -> list[Result]:
    """The loss (and gradients) an implementation gave at ``inputs`` against the reference's, at depth depths[0]."""
    repeats = int(inputs.depths[0])
    ref_loss, ref_grads, scales = dynamic.reference_at(inputs)
    chain = dynamic.chains(inputs.x, inputs.params, repeats)
    problem = inputs.problem
    results = [Result(f"{session.label} {what} at depth {repeats}", compare(
        "loss", value, ref_loss, scales["loss"], problem, session.precision, chain=chain["loss"]))]
    if grads is not None:
        u = unit_roundoff_with_reference(session.precision)
        kinks = dynamic.kink_slack(inputs.x, inputs.y, inputs.params, repeats, u)
        results += [Result(f"{session.label} {what} at depth {repeats}", compare(
            name, grads[name], ref_grads[name], scales[name], problem, session.precision, kind="grad",
            slack=kinks[name], chain=chain["grad"])) for name in DYNAMIC_NAMES]
    return results


#: The network built the ways a slip builds it (reference/model/dynamic.py's ``variant``): code, how, what it means.
STRUCTURES = (
    ("relu-missing-middle", {"relu": (True, False)}, "the middle layer has no relu: each of its uses passes its "
     "pre-activation on as it is (the relu left out of the loop, forward and back)"),
    ("relu-missing-input", {"relu": (False, True)}, "the input layer has no relu: its pre-activation goes on into the "
     "middle layer as it is"),
    ("relu-mask-missing", {"masks": False}, "the backward pass leaves the relu masks out (grad_h = grad_h_relu): the "
     "loss is right, every gradient below the output layer is not"),
    ("shared-layer-one-use", {"combined": "first"}, "the middle layer's gradient is its first use's share alone, "
     "where the sum of every use's share belongs (each use's share overwrote the last: = where += belongs)"),
    ("shared-layer-one-use", {"combined": "last"}, "the middle layer's gradient is its last use's share alone, where "
     "the sum of every use's share belongs (only the last use's gradient kept)"),
    ("shared-layer-averaged", {"combined": "mean"}, "the middle layer's gradient is the mean of its uses' shares, "
     "where their sum belongs: divided by the number of uses"),
)

Calls = list[tuple[float, dict[str, np.ndarray] | None]]


def fitting(session: Session, inputs: DynamicInputs, calls: Calls) -> Callable[[float, dict, bool], bool]:
    """Whether every call's loss (and gradients) is a given loss (and gradients) within the tolerance model's
    bound. The scales are the reference's; ``wide``: the larger of those and the network's on absolute values
    through every path (no relu, no mask), a bound for a network that leaves some relu out."""
    repeats, problem, precision = int(inputs.depths[0]), inputs.problem, session.precision
    scales, chain = dict(dynamic.reference_at(inputs)[2]), dynamic.chains(inputs.x, inputs.params, repeats)
    absolute = {k: np.abs(v) for k, v in inputs.params.items()}
    wide_loss, wide_grads = dynamic.variant(np.abs(inputs.x), -np.abs(inputs.y), absolute, repeats,
                                            relu=(False, False), masks=False)
    widened = {k: np.maximum(v, {"loss": wide_loss, **wide_grads}[k]) for k, v in scales.items()}
    kinks = dynamic.kink_slack(inputs.x, inputs.y, inputs.params, repeats, unit_roundoff_with_reference(precision))

    def fits(loss: float, grads: dict[str, np.ndarray], wide: bool) -> bool:
        bound = widened if wide else scales
        return all(compare("loss", value, loss, bound["loss"], problem, precision, chain=chain["loss"]).passed
                   and (got is None or all(compare(q, got[q], grads[q], bound[q], problem, precision, kind="grad",
                                                   slack=kinks[q], chain=chain["grad"]).passed
                                           for q in DYNAMIC_NAMES))
                   for value, got in calls)
    return fits


def structure_named(session: Session, inputs: DynamicInputs, calls: Calls) -> Diagnosis | None:
    """The one way of building the network that reproduces every call, where the reference's does not at the same
    bound and no other way does: evidence that tells the ways apart."""
    x, y, params, repeats = inputs.x, inputs.y, inputs.params, int(inputs.depths[0])
    fits, reference = fitting(session, inputs, calls), dynamic.loss_and_grads(x, y, params, repeats)
    found = set()
    for code, how, text in STRUCTURES:
        wide = "relu" in how or "masks" in how
        if fits(*dynamic.variant(x, y, params, repeats, **how), wide) and not fits(*reference, wide):
            found.add((code, text))
    if len({code for code, _ in found}) != 1:
        return None
    code, text = min(found)
    return Diagnosis(code, f"{text} (at depth {repeats})")


def depths_computed(session: Session, problem: Problem) -> list[list[set[int]]]:
    """For each depth handed (the same at every step), three calls' losses and gradients on one state, each read as
    the depths whose they are within their bound (more than one where those lie within rounding of each other)."""
    found = []
    for handed in range(MAX_MIDDLE_REPEATS + 1):
        inputs = dynamic.inputs_for(problem, [handed] * 4)
        state = session.prepare(inputs)
        # Each depth it might compute instead: 0 to one past the deepest.
        candidates = [inputs.with_depths([d]) for d in range(MAX_MIDDLE_REPEATS + 2)]
        calls = [session.loss_and_grads(state, DYNAMIC_NAMES) for _ in range(3)]
        found.append([{d for d, at in enumerate(candidates)
                       if all(r.passed for r in compared(session, at, "", value, grads))} for value, grads in calls])
    return found


#: How a network may take its depth from the depth handed, besides as handed.
DEPTH_RULES = {**{f"fixed {d}": (lambda handed, d=d: d) for d in range(MAX_MIDDLE_REPEATS + 2)},
               "one more": lambda handed: handed + 1, "one fewer": lambda handed: max(handed - 1, 0)}


def depth_named(session: Session, problem: Problem) -> Diagnosis | None:
    """How the depths computed follow the depths handed, when it is not as handed and only one known way fits."""
    seen = depths_computed(session, problem)
    for handed, calls in enumerate(seen):
        if all(calls) and not set.intersection(*calls):
            return Diagnosis("depth-random", (
                f"three calls on one state handed depth {handed} compute the network at depths "
                f"{', '.join('/'.join(map(str, sorted(c))) for c in calls)}: the depth is drawn anew on each forward "
                "pass (random.randint in forward(), as the tutorial does), not taken from the depths handed"))
    if all(handed in c for handed, calls in enumerate(seen) for c in calls):
        return None
    fitting = [rule for rule, depth in DEPTH_RULES.items()
               if all(depth(handed) in c for handed, calls in enumerate(seen) for c in calls)]
    if len(fitting) != 1:
        return None
    (rule,) = fitting
    if rule.startswith("fixed"):
        return Diagnosis("ignores-depths", f"every call computes the network at depth {rule.split()[1]}, whatever "
                                           "depth it is handed")
    return Diagnosis("depth-off-by-one", (
        f"handed depth d, every call applies the middle layer d {'+ 1' if rule == 'one more' else '- 1'} times: "
        + ("one use too many (range(repeats + 1), or a loop run while count <= repeats)" if rule == "one more"
           else "one use too few (range(repeats - 1), or a loop that counts from 1 to below repeats)")))


def depth_followed(session: Session, inputs: DynamicInputs, losses: list[float]) -> Diagnosis | None:
    """The depths that forward calls before any step took, named when they are not all the first one."""
    depths = [int(d) for d in inputs.depths]
    if all(compared(session, inputs.with_depths([depths[k % len(depths)]]), "", value, None)[0].passed
           for k, value in enumerate(losses)) and not all(compared(session, inputs, "", value, None)[0].passed
                                                          for value in losses):
        return Diagnosis("depth-per-call", (
            "every loss() and loss_and_grads() on one state, before any step, takes the next depth: the depth must "
            "follow the steps taken (the next step's), not advance with every forward call"))
    return depth_named(session, SHAPES["odd"]) or depth_further_along(session, inputs, losses)


def depth_further_along(session: Session, inputs: DynamicInputs, losses: list[float]) -> Diagnosis | None:
    """Every call at one later entry of the depths handed, where each depth handed alone is taken as handed."""
    depths = [int(d) for d in inputs.depths]

    def at(depth: int) -> bool:
        return all(compared(session, inputs.with_depths([depth]), "", value, None)[0].passed for value in losses)
    later = {depths[j] for j in range(1, len(depths)) if at(depths[j])}
    if len(later) != 1 or at(depths[0]):
        return None
    (depth,) = later
    return Diagnosis("call-order", (
        f"before any step, every call computes depth {depth}, a later entry of the depths handed (step "
        f"{depths.index(depth) + 1}'s), where each depth handed alone is taken as handed: the count of steps taken "
        "outlives prepare() (kept on the implementation object), so a fresh state starts further along the depths"))


def agreement_check(problem: Problem, depth: int) -> Callable[[Session], Outcome]:
    def run(session: Session) -> Outcome:
        # Later steps would take the other depths: every call before the first step must take this one.
        inputs = dynamic.inputs_for(problem, [(depth + k) % (MAX_MIDDLE_REPEATS + 1) for k in range(4)])
        state = session.prepare(inputs)
        results, calls = [], []
        for call in (1, 2):
            calls.append((session.loss(state), None))
            results += compared(session, inputs, f"call {call} loss()", *calls[-1])
            calls.append(session.loss_and_grads(state, DYNAMIC_NAMES))
            results += compared(session, inputs, f"call {call} loss_and_grads()", *calls[-1])
        ratio = max(r.comparison.ratio for r in results)
        if all(r.passed for r in results):
            return Outcome(True, ratio)
        wrong = sorted({r.comparison.quantity for r in results if not r.passed})
        named = depth_followed(session, inputs, [value for value, _ in calls]) or \
            structure_named(session, inputs, calls)
        return Outcome(False, ratio, (named or Diagnosis("dynamic-agreement", (
            f"{', '.join(wrong)} off the reference at depth {depth}, and no known slip (the depth taken, a relu left "
            "out, the shared layer's uses combined another way) reproduces every call: no known mistake explains "
            "it")),), failed(results))
    return run


def training(session: Session) -> Outcome:
    """The tutorial's 500 steps along the seeded depths (a short sequence, read in turn), then the gradients
    at the parameters reached."""
    names = DYNAMIC_NAMES
    inputs = dynamic.inputs_for(SHAPES["tutorial"], middle_repeats(DEPTH_SEED, DEPTHS_HANDED))
    optimizer = declared(session.impl.optimizer, TRAINING_LR)
    ref_losses, loss_scales = dynamic.reference_training(inputs, optimizer, TUTORIAL_STEPS)
    state = session.prepare(inputs, optimizer.lr)
    losses = session.steps(state, TUTORIAL_STEPS)
    depth = [int(inputs.depths[t % DEPTHS_HANDED]) for t in range(TUTORIAL_STEPS + 1)]
    curve = [Result(f"{session.label} step {t} (depth {depth[t]})", compare(
        "loss", losses[t], ref_losses[t], scale * curve_growth(t), inputs.problem, session.precision,
        chain=dynamic.chains(inputs.x, inputs.params, depth[t])["loss"]))
        for t, scale in enumerate(loss_scales)]
    reached = inputs.with_params(session.parameters(state, names))
    value, grads = session.loss_and_grads(state, names)
    after = compared(session, reached.with_depths([depth[TUTORIAL_STEPS]]), f"after {TUTORIAL_STEPS} steps",
                     value, grads)
    results = curve + after
    ratio = max(r.comparison.ratio for r in results)
    falls = losses[-1] < losses[0]
    if all(r.passed for r in results) and falls:
        return Outcome(True, ratio)
    if not falls and all(r.passed for r in results):
        return Outcome(False, ratio, (Diagnosis("not-decreasing", (
            f"every step agrees with the reference, but the loss does not fall ({losses[0]:.4g} to {losses[-1]:.4g})")),))
    paused = momentum_paused(session, inputs, optimizer)
    if paused is not None:
        return Outcome(False, ratio, (paused,), failed(results))
    leaves = next((t for t, r in enumerate(curve) if not r.passed), None)
    where = (f"leaves the reference's path at step {leaves} (depth {depth[leaves]})" if leaves is not None
             else "follows the reference's path, but its gradients at the parameters reached are off")
    return Outcome(False, ratio, (Diagnosis("dynamic-trajectory", f"the training run {where}"),), failed(results))


#: Steps of the implementation's own path read to name a paused momentum: several depth-0 steps among them.
SLIP_STEPS = 20
#: The training check hands this many depths, so that its 500 steps read them in turn, 71 times over.
DEPTHS_HANDED = 7
SHARED = ("w_mid", "b_mid")


def skipping_unused(depths: np.ndarray):
    """Momentum as torch.optim applies it when an unused layer's grad is None: at a depth-0 step the middle
    layer and its buffer stay as they are (where its gradient, 0, would have let the buffer carry it on)."""
    def rule(optimizer, params, grads, state, t):
        if depths[(t - 1) % len(depths)] != 0:
            return update(optimizer, params, grads, state, t)
        used = [k for k in params if k not in SHARED]
        kept = {"buffer": {k: v for k, v in state["buffer"].items() if k in used}}
        moved, kept = update(optimizer, {k: params[k] for k in used}, {k: grads[k] for k in used}, kept, t)
        return {**params, **moved}, {"buffer": {**state["buffer"], **kept["buffer"]}}
    return rule


def momentum_paused(session: Session, inputs: DynamicInputs, optimizer) -> Diagnosis | None:
    """The slip that explains the implementation's own path ten times better than its declared momentum,
    if it is the unused layer's momentum paused."""
    if optimizer.kind != "sgd-momentum" or 0 not in inputs.depths:
        return None
    path = stepped_path(session, inputs, optimizer.lr, SLIP_STEPS)[0]
    grads = [dynamic.loss_and_grads(inputs.x, inputs.y, p, int(inputs.depths[t % len(inputs.depths)]))[1]
             for t, p in enumerate(path[:-1])]
    declared_left = unexplained(path, grads, optimizer, update)
    if not unexplained(path, grads, optimizer, skipping_unused(inputs.depths)) <= declared_left / 10:
        return None
    return Diagnosis("momentum-paused", (
        "at a step where the middle layer is not used (depth 0) it does not move, and its momentum buffer waits: "
        "its gradient is 0, and momentum should carry it on (torch's optimizer.zero_grad() sets grads to None, "
        "which SGD skips; zero_grad(set_to_none=False) keeps them 0)"))


def first_step(problem: Problem) -> Callable[[Session], Outcome]:
    return lambda session: one_step(session, problem)


def one_step(session: Session, problem: Problem) -> Outcome:
    """One step at depth 3 (every use of the shared layer) against the declared rule's first step from the
    reference's gradient, moved within its tolerance."""
    inputs = dynamic.inputs_for(problem, [3])
    optimizer = declared(session.impl.optimizer, FIRST_STEP_LR)
    state = session.prepare(inputs, optimizer.lr)
    start = session.parameters(state, DYNAMIC_NAMES)
    _, own_grads = session.loss_and_grads(state, DYNAMIC_NAMES)
    session.step(state)
    after = session.parameters(state, DYNAMIC_NAMES)
    _, ref_grads, scales = dynamic.reference_at(inputs)
    chain = dynamic.chains(inputs.x, inputs.params, 3)["grad"]
    u = unit_roundoff_with_reference(session.precision)
    kinks = dynamic.kink_slack(inputs.x, inputs.y, inputs.params, 3, u)
    grad_tolerances = {k: tolerance(inputs.problem, "grad", session.precision, scales[k], chain) + kinks[k]
                       for k in ref_grads}
    expected, spread = Replay(optimizer, start, UNIT_ROUNDOFF[session.dtype]).step(start, ref_grads, grad_tolerances)
    results = update_results(session, inputs.problem, start, after, expected, spread, "first step")
    ratio = max(r.comparison.ratio for r in results)
    if all(r.passed for r in results):
        return Outcome(True, ratio)
    if follows_own_gradient(session, inputs.problem, optimizer, start, after, own_grads):
        return Outcome(False, ratio, (STEP_GRADIENT,), failed(results))
    return Outcome(False, ratio, (Diagnosis("update-rule", (
        f"one step() at lr {FIRST_STEP_LR:g} does not move the parameters to {optimizer.kind}'s first step for the "
        "reference's gradient")),), failed(results))


def at_size(problem: Problem) -> Callable[[Session], Outcome]:
    """Agreement at every depth, then one step, at any size: what the benchmarks run before timing."""
    def run(session: Session) -> Outcome:
        outcomes = [agreement_check(problem, depth)(session) for depth in range(MAX_MIDDLE_REPEATS + 1)]
        outcomes.append(one_step(session, problem))
        ratio = max(o.ratio for o in outcomes)
        return next((o for o in outcomes if not o.passed), Outcome(True, ratio))
    return run


def relu_at_zero(session: Session) -> Outcome:
    """relu'(0) measured as the two-layer check measures it: at depth 0 this network is the two-layer one
    with biases (w_in, b_in, w_out, b_out), on the integer inputs whose first hidden unit is exactly 0."""
    tie = tie_inputs(bias=True)
    H = tie.params["w1"].shape[1]
    params = {"w_in": tie.params["w1"], "b_in": tie.params["b1"], "w_mid": np.zeros((H, H)), "b_mid": np.zeros(H),
              "w_out": tie.params["w2"], "b_out": tie.params["b2"]}
    inputs = DynamicInputs(tie.x, tie.y, params, np.array([0]))
    value, grads = session.loss_and_grads(session.prepare(inputs), DYNAMIC_NAMES)
    if not compared(session, inputs, "", value, None)[0].passed:
        # Another network than the two-layer one: relu'(0) read from its gradient would mean nothing.
        return Outcome(False, diagnoses=(depth_named(session, SHAPES["odd"]) or structure_named(
            session, inputs, [(value, grads)]) or Diagnosis("dynamic-agreement", (
                "at depth 0 the loss is not the network's with no middle layer (the two-layer one), so relu'(0) "
                "cannot be read from its gradient: see the agreement checks")),))
    y_pred = tie.x @ tie.params["w1"] + tie.params["b1"]
    y_pred = np.maximum(y_pred, 0) @ tie.params["w2"] + tie.params["b2"]
    direction = tie.x.T @ (2.0 * (y_pred - tie.y) @ tie.params["w2"][0])   # (D_in,)
    measured = float(grads["w_in"][:, 0] @ direction / (direction @ direction))
    if abs(measured - session.impl.relu_grad_at_zero) <= 1e-6:
        return Outcome(True)
    return Outcome(False, diagnoses=(Diagnosis("relu-declaration", (
        f"relu'(0) measured {measured:.6g}, declared {session.impl.relu_grad_at_zero}")),))


# --- call order, fresh state and the device: reference/checks/stateful.py, on this network's inputs -------------

def repeatable(session: Session) -> Outcome:
    return stateful.repeated(session, dynamic.inputs_for(SHAPES["odd"], [MAX_MIDDLE_REPEATS]))


def stateful_calls(session: Session) -> Outcome:
    return stateful.sequence_check(session, dynamic.inputs_for(SHAPES[stateful.SHAPE], stateful.DEPTHS),
                                   declared(session.impl.optimizer, TRAINING_LR))


def cuda_vs_cpu(session: Session) -> Outcome:
    return stateful.agrees_with_cpu(session, dynamic.inputs_for(SHAPES["tutorial"], [MAX_MIDDLE_REPEATS]))
