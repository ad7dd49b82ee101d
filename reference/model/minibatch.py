"""Mini-batch training in float64: one step per batch of a Batching's sequence, under any optimizer.

Each step's loss is the batch's sum of squares (the tutorials' ``reduction="sum"``), and the
gradient is that sum's; every row is seen once per epoch, the last, partial batch included.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from reference.model import network, store
from reference.model.optimizers import run
from reference.problem.inputs import Inputs
from reference.problem.optimizers import Optimizer
from reference.problem.variants import Batching


def rows_of(inputs: Inputs, rows: np.ndarray) -> Inputs:
    """The inputs restricted to some rows of x and y: one batch, with the same parameters."""
    return Inputs(inputs.x[rows], inputs.y[rows], inputs.params)


def train(inputs: Inputs, optimizer: Optimizer, batching: Batching, steps: int) -> tuple[np.ndarray, list[dict]]:
    """Per-step batch losses (before each update) and the parameters before each step and after the last."""
    batches = batching.batches(len(inputs.x), steps)
    return run(optimizer, inputs.params, steps,
               lambda t, params: network.loss_and_grads(inputs.x[batches[t]], inputs.y[batches[t]], params))


@lru_cache(maxsize=16)
def reference_training(inputs: Inputs, optimizer: Optimizer, batching: Batching,
                       steps: int) -> tuple[np.ndarray, np.ndarray]:
    """``train``'s batch losses, and each one's error scale, computed once per Inputs object (and once per
    content, on disk: reference.model.store)."""
    def compute() -> dict[str, np.ndarray]:
        losses, trajectory = train(inputs, optimizer, batching, steps)
        batches = batching.batches(len(inputs.x), steps)
        return {"losses": losses, "scales": np.array([network.loss_scale(inputs.x[rows], inputs.y[rows], params)
                                                      for rows, params in zip(batches, trajectory)])}

    parts = (network.Content.of(inputs).digest, repr(optimizer), repr(batching), str(steps))
    arrays = store.kept("minibatch-training", parts, compute)
    return arrays["losses"], arrays["scales"]
