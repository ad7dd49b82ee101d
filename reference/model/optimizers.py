"""The float64 update rules of reference/problem/optimizers.py, written out as torch.optim defines them.

``update`` is one step of the rule from the gradients at the current parameters; ``train``
runs the network under it. tests/test_optimizers.py holds both to torch.optim's own
implementations in float64, and shows that the tutorials' known slips (Adam without bias
correction, eps inside the square root, betas swapped, a momentum buffer restarted every
step) each leave that agreement.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Callable

import numpy as np

from reference.model import network, store
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


def adam_moments(optimizer: Optimizer, grads: Params, state: dict[str, Params]) -> dict[str, Params]:
    """Adam's state after one more gradient: m and v, the decaying averages of g and of g**2 (not bias-corrected)."""
    beta1, beta2 = optimizer.betas
    return {"m": {k: beta1 * state["m"][k] + (1 - beta1) * grads[k] for k in grads},
            "v": {k: beta2 * state["v"][k] + (1 - beta2) * grads[k] ** 2 for k in grads}}


def bias_corrected(optimizer: Optimizer, moments: dict[str, Params], t: int) -> tuple[Params, Params]:
    """m_hat and v_hat at step ``t`` (counted from 1): the moments divided by 1 - beta**t, undoing their start at 0."""
    beta1, beta2 = optimizer.betas
    return ({k: m / (1 - beta1**t) for k, m in moments["m"].items()},
            {k: v / (1 - beta2**t) for k, v in moments["v"].items()})


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
    moments = adam_moments(optimizer, grads, state)
    m_hat, v_hat = bias_corrected(optimizer, moments, t)
    return {k: params[k] - lr * m_hat[k] / (np.sqrt(v_hat[k]) + optimizer.eps) for k in params}, moments


def run(optimizer: Optimizer, params: Params, steps: int,
        loss_and_grads: Callable[[int, Params], tuple[float, Params]]) -> tuple[np.ndarray, list[Params]]:
    """``steps`` steps of the rule from ``params``, step t's loss and gradients from ``loss_and_grads(t, params)``
    (t counted from 0): the losses before each update, and the parameters before each step and after the last."""
    params, state = dict(params), initial_state(optimizer, params)
    losses, trajectory = [], [params]
    for t in range(steps):
        value, grads = loss_and_grads(t, params)
        params, state = update(optimizer, params, grads, state, t + 1)
        losses.append(value)
        trajectory.append(params)
    return np.array(losses), trajectory


def train(inputs: Inputs, optimizer: Optimizer, steps: int) -> tuple[np.ndarray, list[Params]]:
    """Per-step losses (before each update) and the parameters before each step and after the last."""
    return run(optimizer, inputs.params, steps, lambda t, params: network.loss_and_grads(inputs.x, inputs.y, params))


@lru_cache(maxsize=16)
def reference_training(inputs: Inputs, optimizer: Optimizer, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """``train``'s losses, and the loss's error scale before each step, computed once per Inputs object
    (and once per content, on disk: reference.model.store)."""
    def compute() -> dict[str, np.ndarray]:
        losses, trajectory = train(inputs, optimizer, steps)
        return {"losses": losses,
                "scales": np.array([network.loss_scale(inputs.x, inputs.y, params) for params in trajectory[:steps]])}

    arrays = store.kept("training", (network.Content.of(inputs).digest, repr(optimizer), str(steps)), compute)
    return arrays["losses"], arrays["scales"]


def coefficient_rounding(optimizer: Optimizer, t: int, u: float) -> float:
    """The relative error step ``t`` may carry from the optimizer's coefficients being held with unit roundoff ``u``.

    Only Adam's is more than the step's own few roundings: its bias correction divides by
    1 - beta**t, which at beta2 = 0.999 and t = 1 is 1000 times more sensitive to beta2's rounding
    than beta2 is (optax takes 1 - beta in float64 but beta**t in float32: v_hat is 1.3e-5 off
    at the first step, its step 6.7e-6). The sensitivity decays as the correction nears 1.
    """
    if optimizer.kind != "adam":
        return 0.0
    beta1, beta2 = optimizer.betas
    return u * (t * beta1**t / (1 - beta1**t) + 0.5 * t * beta2**t / (1 - beta2**t))


class Replay:
    """The optimizer replayed along another's parameter path, from gradients the caller supplies.

    ``step`` gives the parameters one step of the rule reaches from the given ones, and how far
    that result may honestly be off: how far it moves when every gradient so far moves within its
    tolerance (all up, or all down, through the buffers too), plus what the coefficients' rounding
    in unit roundoff ``u`` does to the step. Adam's step is about lr * sign(g) where |g| is far
    above eps, so a gradient that cancels to within its rounding of 0 may step either way.
    """

    def __init__(self, optimizer: Optimizer, params: Params, u: float):
        self.optimizer, self.u, self.t = optimizer, u, 0
        self.states = {shift: initial_state(optimizer, params) for shift in (-1, 0, 1)}

    def step(self, params: Params, grads: Params, grad_tolerances: Params | None = None) -> tuple[Params, Params]:
        self.t += 1
        reached = {}
        for shift, state in self.states.items():
            moved = {k: grads[k] + shift * grad_tolerances[k] if grad_tolerances else grads[k] for k in grads}
            reached[shift], self.states[shift] = update(self.optimizer, params, moved, state, self.t)
        rounding = coefficient_rounding(self.optimizer, self.t, self.u)
        spread = {k: np.maximum(np.abs(reached[1][k] - reached[0][k]), np.abs(reached[-1][k] - reached[0][k]))
                  + rounding * np.abs(reached[0][k] - params[k]) for k in params}
        return reached[0], spread


def small_gradient_inputs(inputs: Inputs, optimizer: Optimizer) -> Inputs:
    """``inputs`` rescaled so that the weights' median |gradient| is sqrt(eps), where Adam's eps acts.

    Scaling x, y and the biases by s scales every activation and residual by s and the weights'
    gradients by s**2, each computed to the same relative accuracy; the ReLU pattern stays. Then
    where eps sits against |g| decides the step: under the square root it shortens the median
    entry's step by 30%. Other optimizers' steps are linear in g: their inputs stay as they are.
    """
    if optimizer.kind != "adam":
        return inputs
    grads = network.loss_and_grads(inputs.x, inputs.y, inputs.params)[1]
    median = float(np.median(np.abs(np.concatenate([np.ravel(grads["w1"]), np.ravel(grads["w2"])]))))
    s = np.sqrt(np.sqrt(optimizer.eps) / median)
    params = {k: v * s if k.startswith("b") else v for k, v in inputs.params.items()}
    return Inputs(inputs.x * s, inputs.y * s, params)
