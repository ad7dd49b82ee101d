"""The float64 update rules of reference/problem/optimizers.py, written out as torch.optim defines them.

``update`` is one step of the rule from the gradients at the current parameters; ``train``
runs the network under it. tests/test_optimizers.py holds both to torch.optim's own
implementations in float64, and shows that the tutorials' known slips (Adam without bias
correction, eps inside the square root, betas swapped, a momentum buffer restarted every
step) each leave that agreement.
"""

from __future__ import annotations

import numpy as np

from reference.model import network
from reference.problem.inputs import Inputs
from reference.problem.optimizers import Optimizer

Params = dict[str, np.ndarray]


def initial_state(optimizer: Optimizer, params: Params) -> dict[str, Params]:
    """The optimizer's buffers before the first step: momentum's velocity, Adam's two moments."""
    if optimizer.kind == "sgd-momentum":
        return {"buffer": {}}  # filled with the first gradient at the first step, as torch does
    if optimizer.kind == "adam":
        return {"m": {k: np.zeros_like(v) for k, v in params.items()},
                "v": {k: np.zeros_like(v) for k, v in params.items()}}
    return {}


def update(optimizer: Optimizer, params: Params, grads: Params, state: dict[str, Params],
           t: int) -> tuple[Params, dict[str, Params]]:
    """The parameters after step ``t`` (counted from 1) and the optimizer's buffers after it."""
    lr = optimizer.lr
    if optimizer.kind == "sgd":
        return {k: params[k] - lr * grads[k] for k in params}, state
    if optimizer.kind == "sgd-momentum":
        buffer = {k: grads[k].copy() if k not in state["buffer"] else optimizer.momentum * state["buffer"][k] + grads[k]
                  for k in params}
        return {k: params[k] - lr * buffer[k] for k in params}, {"buffer": buffer}
    beta1, beta2 = optimizer.betas
    m = {k: beta1 * state["m"][k] + (1 - beta1) * grads[k] for k in params}
    v = {k: beta2 * state["v"][k] + (1 - beta2) * grads[k] ** 2 for k in params}
    m_hat = {k: m[k] / (1 - beta1**t) for k in params}
    v_hat = {k: v[k] / (1 - beta2**t) for k in params}
    return {k: params[k] - lr * m_hat[k] / (np.sqrt(v_hat[k]) + optimizer.eps) for k in params}, {"m": m, "v": v}


def train(inputs: Inputs, optimizer: Optimizer, steps: int) -> tuple[np.ndarray, list[Params]]:
    """Per-step losses (before each update) and the parameters before each step and after the last."""
    params, state = dict(inputs.params), initial_state(optimizer, inputs.params)
    losses, trajectory = [], [params]
    for t in range(1, steps + 1):
        value, grads = network.loss_and_grads(inputs.x, inputs.y, params)
        params, state = update(optimizer, params, grads, state, t)
        losses.append(value)
        trajectory.append(params)
    return np.array(losses), trajectory
