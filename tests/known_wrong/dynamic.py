"""The DynamicNet tutorial's slips with its shared layer, written as a learner (or the tutorial) makes them.

``planted`` is the diagnosis code reference/checks/dynamic.py must name it by.
"""

import random
from functools import reduce

import numpy as np
import torch

from impls.numpy_dynamic import NumpyDynamic
from impls.torch_dynamic import TorchDynamic


def loss_and_grads_one_use(x, y, repeats, w_in, b_in, w_mid, b_mid, w_out, b_out, overwrite=True):
    """numpy-dynamic's backward with ``=`` where ``+=`` belongs: each use's share overwrites the last (with
    ``overwrite`` False, the first share written, the last use's, is kept instead)."""
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
        if overwrite or not grads["w_mid"].any():
            grads["w_mid"] = h_in.T @ grad_h          # the mistake: one share written wins
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


class SharedLayerLastUse(NumpyDynamic):
    """Keeps the middle layer's gradient from the backward loop's first visit (the last use) and skips the rest."""
    name, planted = "wrong-dynamic-shared-layer-last-use", "shared-layer-one-use"

    def loss_and_grads(self, s):
        return loss_and_grads_one_use(s.x, s.y, self.repeats(s), **s.params, overwrite=False)


class SharedLayerAveraged(NumpyDynamic):
    """Averages the middle layer's shares over its uses, as if each use were one sample of a mean."""
    name, planted = "wrong-dynamic-shared-layer-averaged", "shared-layer-averaged"

    def loss_and_grads(self, s):
        loss, grads = super().loss_and_grads(s)
        uses = max(self.repeats(s), 1)
        return loss, {**grads, "w_mid": grads["w_mid"] / uses, "b_mid": grads["b_mid"] / uses}   # the mistake


class FixedDepth(TorchDynamic):
    """Ignores the depths handed: the middle layer is applied three times on every pass."""
    name, planted = "wrong-dynamic-fixed-depth", "ignores-depths"

    def repeats(self, s):
        return 3


class OneUseTooMany(TorchDynamic):
    """Counts the uses from 0 to the depth inclusive (range(repeats + 1)): one use of the middle layer too many."""
    name, planted = "wrong-dynamic-one-use-too-many", "depth-off-by-one"

    def repeats(self, s):
        return super().repeats(s) + 1


class DepthDrawnPerPass(TorchDynamic):
    """The tutorial's own random.randint(0, 3) in every forward pass (seeded, so that runs repeat) in place of the
    depths handed."""
    name, planted = "wrong-dynamic-random-depth", "depth-random"

    def prepare(self, x, y, params, lr, depths):
        state = super().prepare(x, y, params, lr, depths)
        state.draws = random.Random(0)
        return state

    def repeats(self, s):
        return s.draws.randint(0, 3)


class MiddleWithoutRelu(TorchDynamic):
    """The loop applies middle_linear without its clamp: the middle layer is linear."""
    name, planted = "wrong-dynamic-middle-without-relu", "relu-missing-middle"

    def prepare(self, x, y, params, lr, depths):
        state = super().prepare(x, y, params, lr, depths)
        model = state.model
        model.forward = lambda x, repeats: model.output_linear(reduce(
            lambda h, _: model.middle_linear(h), range(repeats), model.input_linear(x).clamp(min=0)))
        return state


DYNAMIC_SLIPS = [SharedLayerOneUse, ZeroGradToNone, StepCountOutlivesPrepare, SharedLayerLastUse, SharedLayerAveraged,
                 FixedDepth, OneUseTooMany, DepthDrawnPerPass, MiddleWithoutRelu]
