"""Name what a mini-batch run does with its rows, when its training leaves the reference's.

Each step tells two things about its rows. Its loss is the loss of some rows at the parameters
the step began from; its movement is the declared rule's step on the gradient of some rows. The
implementation's own path is read back, and at every step both are held against every batch the
diagnosis can form there (each batch of the order ``prepare`` was handed, a step or an epoch
away included; all the rows; the batches cut whole-only, unshuffled, or with the first epoch's
order kept), each summed (the contract) or averaged over its rows x D_out (MSELoss's default),
within the tolerance model's bound: a loss or a step is read as a batch's only when it is that
batch's to its rounding. The rows every step trained on then name what happened, in terms of
the order handed in ("each epoch's last, shorter batch is left out", "from step 3 on, each step
trains on the rows of the step before"), and the rows its loss covers say whether the loss it
returns is another batch's. Where no step can be read, the run is repeated: a different order
each time is a shuffle without a seed; else the diagnosis says what it saw and that no known
mistake explains it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from reference.checks import measure
from reference.checks.diagnose import Diagnosis
from reference.checks.slips import unexplained
from reference.harness.session import Session
from reference.model import network
from reference.model.minibatch import rows_of
from reference.model.optimizers import Replay, update
from reference.model.tolerance import UNIT_ROUNDOFF, compare, tolerance
from reference.problem.inputs import Inputs
from reference.problem.optimizers import Optimizer
from reference.problem.variants import Batching

#: Runs compared to tell a shuffle without a seed from an order of the implementation's own: a
#: wrong batch shows in the first step's loss already.
REPEAT_STEPS = 3
#: Two runs that took the same rows agree to their rounding; other rows of the tutorial's data
#: move a batch's loss by percents. A relative difference past this is another batch.
OTHER_ROWS = 1e-3


#: A loss, or a step, off a batch's by this share of itself is another batch's, whatever its rounding: the
#: exact test (the tolerance model's) is left for the batches nearer than this.
FAR = 0.5


def distance(a: dict, b: dict) -> float:
    return float(np.sqrt(sum(np.sum(np.square(a[k] - b[k])) for k in a)))


@dataclass(frozen=True)
class Taken:
    """Rows one step used (sorted: a batch's loss and gradient do not depend on the rows' order), and
    whether their sum was divided by rows x D_out."""
    rows: tuple[int, ...]
    mean: bool

    @staticmethod
    def of(rows: np.ndarray, mean: bool = False) -> "Taken":
        return Taken(tuple(sorted(int(r) for r in rows)), mean)


#: Each known way of taking the rows other than the order handed in, with what it means.
WAYS = {
    "last-batch-dropped": "each epoch's last, shorter batch ({short} of {n} rows) is left out: the step that should "
                          "train on it takes the next epoch's first batch (a loop over N // batch_size slices, or "
                          "drop_last=True)",
    "epoch-skipped": "the steps train on the order from its second epoch on: the first was used up before the first "
                     "step, read whole in prepare (list(batches), a loop over it to the end, permutation()); "
                     "next(iter(batches)) looks at the first batch without using the epoch up",
    "full-batch": "every step trains on all the rows, though the implementation declares mini-batches",
    "unshuffled": "the steps train on the rows in their stored order, never shuffled: each epoch cuts rows 0, 1, ... "
                  "into batches where the order handed to prepare permutes them anew",
    "not-reshuffled": "the first epoch's order comes back every epoch: the rows were shuffled once and never again "
                      "(the order handed in draws each epoch's permutation anew)",
    "same-rows": "every step trains on the same rows, the first batch of the order: the order is restarted at "
                 "each step (next(iter(loader)) in the loop) or the batch is fetched once",
}


def ways(batching: Batching, n_rows: int, steps: int) -> tuple[list[np.ndarray], dict[str, list[np.ndarray]]]:
    """The order handed in, far enough for a step to reach an epoch ahead, and the rows of each of ``steps``
    steps as each way of WAYS takes them; a way that takes the order's own rows at every step is left out."""
    size, per_epoch = batching.batch_size, -(-n_rows // batching.batch_size)
    order = batching.batches(n_rows, steps + 2 * per_epoch)
    stored = [np.arange(n_rows)[start:start + size] for start in range(0, n_rows, size)]
    first = batching.epoch(n_rows, 0)
    cut = {"last-batch-dropped": [rows for rows in batching.batches(n_rows, 2 * steps + 2)
                                  if len(rows) == size][:steps],
           "epoch-skipped": order[per_epoch:per_epoch + steps], "full-batch": [np.arange(n_rows)] * steps,
           "unshuffled": [stored[t % per_epoch] for t in range(steps)],
           "not-reshuffled": [first[t % per_epoch] for t in range(steps)], "same-rows": [order[0]] * steps}
    seeded = [Taken.of(rows) for rows in order[:steps]]
    return order, {way: rows for way, rows in cut.items()
                   if len(rows) == steps and [Taken.of(r) for r in rows] != seeded}


class Reading:
    """One run's path read back step by step against the batches the diagnosis can form."""

    def __init__(self, session: Session, inputs: Inputs, optimizer: Optimizer, path: list[dict],
                 losses: list[float]):
        self.session, self.inputs, self.optimizer, self.losses = session, inputs, optimizer, losses
        self.path = [{k: np.asarray(v, np.float64) for k, v in p.items()} for p in path]
        self.d_out = inputs.y.shape[1]

    def batch(self, t: int, taken: Taken) -> Inputs:
        return rows_of(self.inputs.with_params(self.path[t]), np.array(taken.rows))

    def divisor(self, taken: Taken) -> float:
        return len(taken.rows) * self.d_out if taken.mean else 1.0

    def loss_is(self, t: int, taken: Taken) -> bool:
        """Whether step t's loss is that of ``taken`` at the parameters it began from, to its rounding."""
        batch, share = self.batch(t, taken), 1 / self.divisor(taken)
        expected = share * network.loss(batch.x, batch.y, batch.params)
        if abs(self.losses[t] - expected) > FAR * abs(expected):
            return False
        return compare("loss", self.losses[t], expected, share * network.loss_scale(batch.x, batch.y, batch.params),
                       batch.problem, self.session.precision).passed

    def step_is(self, t: int, taken: Taken, replay: Replay) -> bool:
        """Whether step t moves the parameters as the declared rule does on ``taken``'s gradient (``replay``
        carries the rule's state along the steps read so far; it takes this step)."""
        batch, share = self.batch(t, taken), 1 / self.divisor(taken)
        grads = network.loss_and_grads(batch.x, batch.y, batch.params)[1]
        ahead = copy.deepcopy(replay).step(self.path[t], {k: share * g for k, g in grads.items()})[0]
        if distance(self.path[t + 1], ahead) > FAR * distance(self.path[t + 1], self.path[t]):
            return False
        scales = network.reference_at(batch)[2]
        tolerances = {k: share * tolerance(batch.problem, "grad", self.session.precision, scales[k]) for k in grads}
        expected, spread = replay.step(self.path[t], {k: share * g for k, g in grads.items()}, tolerances)
        return all(r.passed for r in measure.update_results(self.session, batch.problem, self.path[t],
                                                            self.path[t + 1], expected, spread, "step"))

    def losses_cover(self, pools: list[list[Taken]]) -> list[set[Taken]]:
        """Every batch each step's loss may be (more than one where their losses lie within rounding of each
        other: the loss cannot tell them apart), up to the first step whose loss is no batch's (empty from there)."""
        found: list[set[Taken]] = []
        for t, pool in enumerate(pools):
            found.append({c for c in pool if self.loss_is(t, c)})
            if not found[-1]:
                return found + [set() for _ in pools[t + 1:]]
        return found

    def trained_on(self, pools: list[list[Taken]], covered: list[set[Taken]]) -> list[set[Taken]]:
        """The rows each step trained on (those its loss may cover tried first), up to the first step no batch
        explains (empty from there: the rule's state is not known past it)."""
        replay = Replay(self.optimizer, self.path[0], UNIT_ROUNDOFF[self.session.dtype])
        found: list[set[Taken]] = []
        for t, pool in enumerate(pools):
            for candidate in dict.fromkeys([c for c in pool if c in covered[t]] + pool):
                trial = copy.deepcopy(replay)
                if self.step_is(t, candidate, trial):
                    found.append({candidate})
                    replay = trial
                    break
            else:
                return found + [set() for _ in pools[t:]]
        return found


def pools(order: list[np.ndarray], cut: dict[str, list[np.ndarray]], steps: int) -> list[list[Taken]]:
    """Every batch the diagnosis can form at each step, each way reduced, the order's own batch first."""
    found = []
    for t in range(steps):
        near = sorted(range(len(order)), key=lambda j: (abs(j - t), j))
        candidates = [order[j] for j in near[:1]] + [rows[t] for rows in cut.values()] + [order[j] for j in near[1:]]
        found.append(list(dict.fromkeys(Taken.of(rows, mean) for rows in candidates for mean in (False, True))))
    return found


@dataclass(frozen=True)
class Way:
    """How a run's steps took their rows: a way of WAYS, 'seeded' (the order handed in), or the order's batches
    ``offset`` steps away from step ``since`` on (counted from 0)."""
    code: str
    mean: bool
    since: int = 0
    offset: int = 0


def position(order: list[np.ndarray], taken: Taken) -> int | None:
    return next((j for j, rows in enumerate(order) if Taken.of(rows).rows == taken.rows), None)


def way_of(seen: list[set[Taken]], order: list[np.ndarray], cut: dict[str, list[np.ndarray]]) -> Way | None:
    """The way every step took its rows (``seen``: the rows each step may have taken), if exactly one known way,
    with one reduction, gives every step rows it may have taken: the order's own first, as the contract's."""
    fitting = [way for mean in (False, True) if (way := way_of_reduced(seen, order, cut, mean))]
    return fitting[0] if len(fitting) == 1 or (fitting and fitting[0].code == "seeded") else None


def way_of_reduced(seen: list[set[Taken]], order: list[np.ndarray], cut: dict[str, list[np.ndarray]],
                   mean: bool) -> Way | None:
    rows = [{taken.rows for taken in step if taken.mean == mean} for step in seen]
    if not all(rows):
        return None
    fitting = [Way(code, mean) for code, cut_rows in {"seeded": order[:len(seen)], **cut}.items()
               if all(Taken.of(r).rows in step for r, step in zip(cut_rows, rows))]
    offsets = [{j - t for j, r in enumerate(order) if Taken.of(r).rows in step} for t, step in enumerate(rows)]
    since = next((t for t, step in enumerate(offsets) if 0 not in step), None)
    common = set.intersection(*offsets[since:]) if since is not None else set()
    if not fitting and len(common) == 1 and all(0 in step for step in offsets[:since]):
        fitting.append(Way("rows-lagged" if min(common) < 0 else "rows-ahead", mean, since, min(common)))
    if fitting and fitting[0].code == "seeded":
        return fitting[0]
    return fitting[0] if len(fitting) == 1 else None


def steps_away(offset: int) -> str:
    return f"{'' if abs(offset) == 1 else f'{abs(offset)} steps '}{'before' if offset < 0 else 'after'}"


def way_named(way: Way, batching: Batching, n_rows: int) -> Diagnosis:
    if way.code in WAYS:
        return Diagnosis(way.code, WAYS[way.code].format(short=n_rows % batching.batch_size, n=n_rows))
    text = (f"from step {way.since + 1} on, each step trains on the rows of the step {steps_away(way.offset)} "
            "(the batch the order hands that step)")
    return Diagnosis(way.code, text + (": a batch fetched one step late, or kept from the last step" if way.offset < 0
                                       else ": the order is read ahead of the steps"))


def loss_named(trained: list[Taken], covered: list[set[Taken]], order: list[np.ndarray],
               n_rows: int) -> Diagnosis | None:
    """What the losses a run returns cover, when it is not the rows each step trains on, reduced as they are."""
    if all(taken in step for taken, step in zip(trained, covered)):
        return None
    if not all(covered):
        step = next(t for t, c in enumerate(covered) if not c)
        return Diagnosis("loss-other-rows", (
            f"each step trains on the rows it should, but the loss step {step + 1} returns is that of no batch the "
            "diagnosis can form: the loss returned is not computed on the batch trained on"))
    if all(any(c.rows == taken.rows for c in step) for taken, step in zip(trained, covered)):
        return Diagnosis("mean-reduction", (
            f"each step trains on its batch's {'mean' if trained[0].mean else 'sum'}, but the loss it returns is the "
            f"batch's {'sum' if trained[0].mean else 'mean'} (over rows x D_out): the loss reported is not the one "
            "trained on"))
    if all(any(len(c.rows) == n_rows for c in step) for step in covered):
        what = "all the rows, not only the batch it trains on"
    else:
        offsets = [{i - j for c in step if (i := position(order, c)) is not None} if (j := position(order, taken))
                   is not None else set() for taken, step in zip(trained, covered)]
        common = set.intersection(*offsets)
        what = (f"the batch {steps_away(min(common))} the one it trains on" if len(common) == 1 and 0 not in common
                else "other rows than the batch it trains on")
    return Diagnosis("loss-other-rows", f"each step trains on its batch, but the loss it returns is over {what}: the "
                                        "loss is computed on another batch than the step is taken on")


def diagnose_batches(session: Session, inputs: Inputs, optimizer: Optimizer, steps: int) -> tuple[Diagnosis, ...]:
    """Why a mini-batch run leaves the reference: the rows its steps take and its losses cover, or else its
    update on them."""
    path, losses = measure.stepped_path(session, inputs, optimizer.lr, steps)
    finite = [bool(np.isfinite(loss)) and all(np.all(np.isfinite(v)) for v in p.values())
              for loss, p in zip(losses, path)]
    if not all(finite):
        return (Diagnosis("not-finite", f"step {finite.index(False) + 1} starts from NaN or inf (its loss or the "
                                        "parameters it was given): the run diverged or computed an invalid value"),)
    n_rows = len(inputs.x)
    order, cut = ways(session.batching, n_rows, steps)
    reading, candidates = Reading(session, inputs, optimizer, path, losses), pools(order, cut, steps)
    covered = reading.losses_cover(candidates)
    seeded = [Taken.of(rows) for rows in order[:steps]]
    trained = reading.trained_on(candidates, covered)
    way = way_of(trained, order, cut)
    if way is None:
        if all(taken in step for taken, step in zip(seeded, covered)):
            return diagnose_update(inputs, optimizer, path, order[:steps])
        return unexplained_rows(session, inputs, optimizer, trained, covered, way_of(covered, order, cut), losses)
    found = [way_named(way, session.batching, n_rows)] if way.code != "seeded" else []
    if way.mean:
        found.append(Diagnosis("mean-reduction", (
            "each step is taken from the gradient of its batch's mean (its sum of squares over rows x D_out, "
            "MSELoss's default reduction) where the contract's is the sum: every step is as many times too short, "
            "the last, shorter batch's rows weighted more")))
    other_loss = loss_named([step.pop() for step in trained], covered, order, n_rows)
    found += [other_loss] if other_loss and not (way.mean and other_loss.code == "mean-reduction") else []
    return tuple(found) or (Diagnosis("minibatch-update", (
        f"the first {steps} steps at lr {optimizer.lr:g} take the batches handed in and return their losses, as "
        f"{optimizer.kind} does: what leaves the reference comes later or at another lr")),)


def unexplained_rows(session: Session, inputs: Inputs, optimizer: Optimizer, trained: list[set[Taken]],
                     covered: list[set[Taken]], loss_way: Way | None, losses: list[float]) -> tuple[Diagnosis, ...]:
    """Some step trained on no batch the diagnosis can form under the declared rule: the losses say what they can."""
    if loss_way is not None and (loss_way.code != "seeded" or loss_way.mean):
        named = [way_named(loss_way, session.batching, len(inputs.x))] if loss_way.code != "seeded" else []
        if loss_way.mean:
            named.append(Diagnosis("mean-reduction", (
                "each loss it returns is its batch's mean (its sum of squares over rows x D_out, MSELoss's default "
                "reduction) where the contract's is the sum")))
        steps = f"; its steps, though, are not {optimizer.kind}'s on those rows: its update is off too"
        return tuple(Diagnosis(d.code, f"{d.text} (read from the losses it returns{steps})") for d in named)
    step = next((t for t, c in enumerate(covered) if not c), None)
    if step is None:
        unread = next((t for t, step in enumerate(trained) if not step), None)
        steps = "" if unread is None else f", and step {unread + 1} moves as no batch's step does"
        return (Diagnosis("batch-order", (
            "every loss it returns is that of some batch the diagnosis can form, but they follow no known way of "
            f"taking the rows{steps}: no known mistake explains it")),)
    again = measure.stepped_path(session, inputs, optimizer.lr, REPEAT_STEPS)[1]
    reshuffled = any(abs(a - b) > OTHER_ROWS * abs(b) for a, b in zip(again, losses))
    seen = (f"steps 1 to {step} take the batches the order hands them; " if step else "") + (
        f"step {step + 1}'s loss {losses[step]:.7g} is that of no batch the diagnosis can form (the order's, a step "
        "or an epoch away, all rows, the rows unshuffled, the first epoch's order kept; summed or averaged)")
    if reshuffled:
        return (Diagnosis("unseeded-shuffle", f"{seen}, and the order changes from run to run: a shuffle without a "
                          "seed (a DataLoader's shuffle=True with no generator), so no run can be reproduced"),)
    return (Diagnosis("batch-order", f"{seen}, the same every run: the rows come in an order of the "
                                     "implementation's own, and no known mistake explains it"),)


def diagnose_update(inputs: Inputs, optimizer: Optimizer, path: list[dict],
                    batches: list[np.ndarray]) -> tuple[Diagnosis, ...]:
    """Every step's loss is its batch's, and no step is the declared rule's on a batch: the update is off."""
    grads = [network.loss_and_grads(inputs.x[rows], inputs.y[rows], p)[1] for rows, p in zip(batches, path)]
    declared = unexplained(path, grads, optimizer, update)
    if not np.isfinite(declared):
        return (Diagnosis("update-missing", "every step's loss is that of the batch the order hands it, but step() "
                                            "leaves the parameters where they were"),)
    return (Diagnosis("minibatch-update", (
        f"every step's loss is that of the batch the order hands it, but the parameters leave {optimizer.kind}'s path "
        f"on those batches, summed or averaged (the declared rule leaves {declared:.2g} of the movement unexplained): "
        "the update from the batch's gradient is off")),)
