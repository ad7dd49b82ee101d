"""Mini-batch training in float64: one step per batch of a Batching's sequence, under any optimizer.

Each step's loss is the batch's sum of squares (the tutorials' ``reduction="sum"``), and the
gradient is that sum's; every row is seen once per epoch, the last, partial batch included.
"""

from __future__ import annotations

import numpy as np

from reference.model import network
from reference.model.optimizers import initial_state, update
from reference.problem.inputs import Inputs
from reference.problem.optimizers import Optimizer
from reference.problem.variants import Batching


def train(inputs: Inputs, optimizer: Optimizer, batching: Batching, steps: int) -> tuple[np.ndarray, list[dict]]:
    """Per-step batch losses (before each update) and the parameters before each step and after the last."""
    params, state = dict(inputs.params), initial_state(optimizer, inputs.params)
    losses, trajectory = [], [params]
    for t, rows in enumerate(batching.batches(len(inputs.x), steps), start=1):
        value, grads = network.loss_and_grads(inputs.x[rows], inputs.y[rows], params)
        params, state = update(optimizer, params, grads, state, t)
        losses.append(value)
        trajectory.append(params)
    return np.array(losses), trajectory
