"""The DynamicNet tutorial's slips with its shared layer, written as a learner (or the tutorial) makes them.

``planted`` is the diagnosis code reference/checks/dynamic.py must name it by.
"""

import numpy as np
import torch

from impls.numpy_dynamic import NumpyDynamic
from impls.torch_dynamic import TorchDynamic


def loss_and_grads_one_use(x, y, repeats, w_in, b_in, w_mid, b_mid, w_out, b_out):
    """numpy-dynamic's backward with ``=`` where ``+=`` belongs: each use's share overwrites the last."""
    h = x @ w_in + b_in
    h_relu = np.maximum(h, 0)
    middle_h, middle_inputs = [], []
    for _ in range(repeats):
        middle_inputs.append(h_relu)
        middle_h.append(h_relu @ w_mid + b_mid)
        h_relu = np.maximum(middle_h[-1], 0)
    y_pred = h_relu @ w_out + b_out
    loss = np.square(y_pred - y).sum()

    grad_y_pred = 2.0 * (y_pred - y)
    grads = {"w_out": h_relu.T @ grad_y_pred, "b_out": grad_y_pred.sum(axis=0),
             "w_mid": np.zeros_like(w_mid), "b_mid": np.zeros_like(b_mid)}
    grad_h_relu = grad_y_pred @ w_out.T
    for h_mid, h_in in zip(reversed(middle_h), reversed(middle_inputs)):
        grad_h = grad_h_relu.copy()
        grad_h[h_mid < 0] = 0
        grads["w_mid"] = h_in.T @ grad_h          # the mistake: the last share written wins
        grads["b_mid"] = grad_h.sum(axis=0)
        grad_h_relu = grad_h @ w_mid.T
    grad_h = grad_h_relu.copy()
    grad_h[h < 0] = 0
    grads["w_in"] = x.T @ grad_h
    grads["b_in"] = grad_h.sum(axis=0)
    return loss, grads


class SharedLayerOneUse(NumpyDynamic):
    """The middle layer's gradient from one of its uses only (the first, which the backward loop visits last)."""
    name, planted = "wrong-dynamic-shared-layer-one-use", "shared-layer-one-use"

    def loss_and_grads(self, s):
        return loss_and_grads_one_use(s.x, s.y, self.repeats(s), **s.params)


class ZeroGradToNone(TorchDynamic):
    """The tutorial's own ``optimizer.zero_grad()``: grads set to None, so at depth 0 SGD skips middle_linear,
    and its momentum pauses where the gradient, 0, would let it carry the layer on."""
    name, planted = "wrong-dynamic-zero-grad-to-none", "momentum-paused"

    def loss_and_grads(self, s):
        s.optimizer.zero_grad()
        loss = s.loss_fn(s.model(s.x, self.repeats(s)), s.y)
        loss.backward()
        return loss.detach(), self._canonical(s.model, lambda p: torch.zeros_like(p) if p.grad is None else p.grad)


class StepCountOutlivesPrepare(NumpyDynamic):
    """Counts its steps on the implementation object, outside the state prepare() returns: a fresh prepare()
    takes its depths on from where the last state's steps left them, not from depths[0]."""
    name, planted = "wrong-dynamic-steps-outlive-prepare", "call-order"
    steps_taken = 0

    def repeats(self, s):
        return int(s.depths[self.steps_taken % len(s.depths)])

    def step(self, s):
        loss = super().step(s)
        self.steps_taken += 1
        return loss


DYNAMIC_SLIPS = [SharedLayerOneUse, ZeroGradToNone, StepCountOutlivesPrepare]
