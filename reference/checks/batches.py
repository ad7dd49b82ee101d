"""Name what a mini-batch run does with its rows, when its training leaves the reference's.

A mini-batch step's loss tells which rows it trained on: it is the loss of its batch at the
parameters the step began from. The implementation's own path is read back, and every step's
loss is held against the batch each way of cutting the rows would hand it there: the order that
``prepare`` was handed (the contract), that order with each epoch's last, shorter batch left out,
every row at once, or the order from its second epoch on (the first read whole before training);
each summed (the contract) or averaged over its rows x D_out (MSELoss's default). The way whose
losses all agree names the diagnosis. No way agreeing means an order of the implementation's
own, told apart by running twice: a different order each time is a shuffle without a seed. The
tutorials' slicing loop that stops at ``N // batch_size`` slices drops the last rows; a loader
with ``shuffle=True`` orders the rows its own way; ``nn.MSELoss()`` averages.
"""

from __future__ import annotations

import numpy as np

from reference.checks import measure
from reference.checks.diagnose import Diagnosis
from reference.harness.session import Session
from reference.checks.slips import unexplained
from reference.model import network
from reference.model.minibatch import rows_of
from reference.model.optimizers import update
from reference.model.tolerance import compare
from reference.problem.inputs import Inputs
from reference.problem.optimizers import Optimizer
from reference.problem.variants import Batching

#: Runs compared to tell a shuffle without a seed from an order of the implementation's own: a
#: wrong batch shows in the first step's loss already.
REPEAT_STEPS = 3
#: Two runs that took the same rows agree to their rounding; other rows of the tutorial's data
#: move a batch's loss by percents. A relative difference past this is another batch.
OTHER_ROWS = 1e-3


def orders(batching: Batching, n_rows: int, steps: int) -> dict[str, list[np.ndarray]]:
    """The rows of each of ``steps`` steps, cut each way the diagnosis knows; a way that cuts them as the
    order does (no short batch to drop, or a single batch) is left out."""
    seeded = batching.batches(n_rows, steps)
    full_batches = [rows for rows in batching.batches(n_rows, 2 * steps + 2) if len(rows) == batching.batch_size]
    per_epoch = -(-n_rows // batching.batch_size)
    others = {"last-dropped": full_batches[:steps], "full": [np.arange(n_rows)] * steps,
              "epoch-skipped": batching.batches(n_rows, per_epoch + steps)[per_epoch:]}
    return {"seeded": seeded, **{way: cut for way, cut in others.items()
                                 if len(cut) == steps and any(not np.array_equal(a, b) for a, b in zip(cut, seeded))}}


def first_disagreement(losses: list[float], path: list[dict], batches: list[np.ndarray], inputs: Inputs,
                       precision: str, mean: bool) -> tuple[int, float, float] | None:
    """The first step whose loss is not its batch's (step, got, expected), or None when every one is."""
    for t, (got, rows) in enumerate(zip(losses, batches)):
        batch = rows_of(inputs.with_params(path[t]), rows)
        divisor = batch.x.shape[0] * batch.y.shape[1] if mean else 1
        expected = network.loss(batch.x, batch.y, batch.params) / divisor
        scale = network.loss_scale(batch.x, batch.y, batch.params) / divisor
        if not compare("loss", got, expected, scale, batch.problem, precision).passed:
            return t + 1, got, expected
    return None


def diagnose_batches(session: Session, inputs: Inputs, optimizer: Optimizer, steps: int) -> tuple[Diagnosis, ...]:
    """Why a mini-batch run leaves the reference: the rows its steps take, or else its update on them."""
    batching = session.batching
    path, losses = measure.stepped_path(session, inputs, optimizer.lr, steps)
    finite = [bool(np.isfinite(loss)) and all(np.all(np.isfinite(v)) for v in p.values())
              for loss, p in zip(losses, path)]
    if not all(finite):
        return (Diagnosis("not-finite", f"step {finite.index(False) + 1} starts from NaN or inf (its loss or the "
                                        "parameters it was given): the run diverged or computed an invalid value"),)
    n_rows = len(inputs.x)
    cut = orders(batching, n_rows, steps)
    read = {(order, mean): first_disagreement(losses, path, cut[order], inputs, session.precision, mean)
            for order in cut for mean in (False, True)}
    if read["seeded", False] is None:
        return diagnose_update(inputs, optimizer, path, cut["seeded"])
    found = []
    if "last-dropped" in cut and (read["last-dropped", False] is None or read["last-dropped", True] is None):
        found.append(Diagnosis("last-batch-dropped", (
            f"each epoch's last, shorter batch ({n_rows % batching.batch_size} of {n_rows} rows) is left out: the step "
            "that should train on it takes the next epoch's first batch (a loop over N // batch_size slices, or "
            "drop_last=True)")))
    if "epoch-skipped" in cut and read["epoch-skipped", False] is None:
        found.append(Diagnosis("epoch-skipped", (
            "the steps train on the order from its second epoch on: the first was used up before the first step, "
            "read whole in prepare (list(batches), a loop over it to the end, permutation()); next(iter(batches)) "
            "looks at the first batch without using the epoch up")))
    if "full" in cut and (read["full", False] is None or read["full", True] is None):
        found.append(Diagnosis("full-batch", "every step trains on all the rows, though the implementation declares "
                                             "mini-batches"))
    if any(read[order, True] is None for order in cut) and not any(read[order, False] is None for order in cut):
        found.append(Diagnosis("mean-reduction", (
            "each batch's loss is a mean (its sum of squares over rows x D_out, MSELoss's default reduction) where the "
            "contract's is the sum: every step's gradient is as many times too small, the last, shorter batch's "
            "rows weighted more")))
    if found:
        return tuple(found)
    step, got, expected = read["seeded", False]
    again = measure.stepped_path(session, inputs, optimizer.lr, REPEAT_STEPS)[1]
    reshuffled = any(abs(a - b) > OTHER_ROWS * abs(b) for a, b in zip(again, losses))
    own = ("the order changes from run to run: a shuffle without a seed (a DataLoader's shuffle=True with no "
           "generator), so no run can be reproduced" if reshuffled else
           "the rows come in an order of the implementation's own, the same every run, not the one prepare was handed")
    return (Diagnosis("unseeded-shuffle" if reshuffled else "batch-order", (
        f"step {step}'s loss {got:.7g} is not that of the batch the order handed to prepare gives it "
        f"({expected:.7g}), nor of any batch cut another way the diagnosis knows: {own}")),)


def diagnose_update(inputs: Inputs, optimizer: Optimizer, path: list[dict],
                    batches: list[np.ndarray]) -> tuple[Diagnosis, ...]:
    """Every step trained on its batch: what is off is the update from that batch's gradient."""
    grads = [network.loss_and_grads(inputs.x[rows], inputs.y[rows], p)[1] for rows, p in zip(batches, path)]
    declared = unexplained(path, grads, optimizer, update)
    if not np.isfinite(declared):
        return (Diagnosis("update-missing", "every step's loss is that of the batch the order hands it, but step() "
                                            "leaves the parameters where they were"),)
    averaged = [{k: g / (len(rows) * inputs.y.shape[1]) for k, g in batch.items()}
                for rows, batch in zip(batches, grads)]
    if unexplained(path, averaged, optimizer, update) <= declared / 10:
        return (Diagnosis("mean-reduction", (
            "each step's loss is its batch's sum, but the step is taken from the gradient of the batch's mean (the "
            "sum over rows x D_out): every step is as many times too short")),)
    return (Diagnosis("minibatch-update", (
        f"every step's loss is that of the batch the order hands it, but the parameters leave {optimizer.kind}'s path "
        f"on those batches (the declared rule leaves {declared:.2g} of the movement unexplained): the update from the "
        "batch's gradient is off")),)
