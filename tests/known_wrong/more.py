"""Mistakes of the kinds the first catalogue lacked: call orders, optimizer settings, small numerical errors, state.

Each is numpy-manual with one change, as a learner or an optimizing author would make it.
``planted`` is the diagnosis code it must be named by (None: rejection is what counts);
``scored_in`` the dtype it is a mistake in, where float64 would hide or distort it.
"""

import numpy as np

from impls.numpy_manual import NumpyManual, forward, loss_and_grads


class DeclaresTheWrongRelu(NumpyManual):
    """grad_h[h < 0] = 0 passes the gradient at h == 0, but the class says it does not."""

    name, planted = "wrong-relu-declaration", "relu-declaration"
    relu_grad_at_zero = 0.0


class SumsAcrossSessions(NumpyManual):
    """A running total per problem shape kept on the class, so that every new session starts where the last one ended."""

    name, planted = "wrong-sums-across-sessions", "not-repeatable"
    totals = {}

    def loss_and_grads(self, s):
        loss, grads = super().loss_and_grads(s)
        key = (s.x.shape, s.x.dtype.str, tuple(sorted(grads)))
        total = self.totals.get(key)
        self.totals[key] = grads if total is None else {k: total[k] + g for k, g in grads.items()}
        return loss, self.totals[key]


class LossStaleAfterStep(NumpyManual):
    """loss() memoizes its value, and only loss_and_grads() clears the memo: after step() it is stale."""

    name, planted = "wrong-loss-stale-after-step", "call-order"

    def loss(self, s):
        if getattr(s, "memo", None) is None:
            s.memo = super().loss(s)
        return s.memo

    def loss_and_grads(self, s):
        s.memo = None
        return super().loss_and_grads(s)


class WeightDecay(NumpyManual):
    """SGD(weight_decay=1e-2) where plain SGD was asked for."""

    name, planted = "wrong-weight-decay", "weight-decay"

    def step(self, s):
        loss, grads = loss_and_grads(s.x, s.y, **s.params)
        for name, grad in grads.items():
            s.params[name] -= s.lr * (grad + 1e-2 * s.params[name])
        return loss


class Momentum(NumpyManual):
    """SGD(momentum=0.9): the first step is plain SGD's, every later one carries the velocity."""

    name, planted = "wrong-momentum", "momentum"

    def step(self, s):
        loss, grads = loss_and_grads(s.x, s.y, **s.params)
        s.velocity = {k: 0.9 * s.velocity[k] + g for k, g in grads.items()} if hasattr(s, "velocity") else grads
        for name, velocity in s.velocity.items():
            s.params[name] -= s.lr * velocity
        return loss


class HalvingSchedule(NumpyManual):
    """StepLR(step_size=100, gamma=0.5) left attached to the optimizer."""

    name, planted = "wrong-lr-schedule", "schedule"

    def step(self, s):
        s.count = getattr(s, "count", 0) + 1
        loss, grads = loss_and_grads(s.x, s.y, **s.params)
        for name, grad in grads.items():
            s.params[name] -= s.lr * 0.5 ** (s.count // 100) * grad
        return loss


class StepReturnsLossAfter(NumpyManual):
    """step() returns the loss at the parameters it leaves, not the loss it took the gradient of."""

    name, planted = "wrong-step-returns-loss-after", "call-order"

    def step(self, s):
        super().step(s)
        return self.loss(s)


class Float32LearningRate(NumpyManual):
    """The learning rate held in float32 (as keras's SGD keeps it) in a float64 run: 2.5e-9 relative off."""

    name, planted = "wrong-float32-learning-rate", "lr-float32"

    def prepare(self, x, y, params, lr):
        return super().prepare(x, y, params, float(np.float32(lr)))


class HalfPrecisionHidden(NumpyManual):
    """The hidden layer's activations stored in float16 to save memory, in a float32 run."""

    name, planted, scored_in = "wrong-float16-hidden", "precision", "float32"

    def loss_and_grads(self, s):
        h, _, _ = forward(s.x, **s.params)
        params = dict(s.params)
        h16 = h.astype(np.float16).astype(h.dtype)
        h_relu = np.maximum(h16, 0)
        y_pred = h_relu @ params["w2"] + params.get("b2", 0)
        grad_y_pred = 2 * (y_pred - s.y)
        grad_h = grad_y_pred @ params["w2"].T
        grad_h[h16 < 0] = 0
        grads = {"w1": s.x.T @ grad_h, "w2": h_relu.T @ grad_y_pred}
        if "b1" in params:
            grads |= {"b1": grad_h.sum(axis=0), "b2": grad_y_pred.sum(axis=0)}
        return np.square(y_pred - s.y).sum(), grads


class DenseError1e4(NumpyManual):
    """Every gradient entry off by a relative 1e-4 (a sloppy approximation), in a float32 run: just above the floor."""

    name, planted, scored_in = "wrong-dense-error-1e-4", "precision", "float32"

    def loss_and_grads(self, s):
        loss, grads = super().loss_and_grads(s)
        rng = np.random.default_rng(0)
        return loss, {k: g * (1 + 1e-4 * rng.standard_normal(g.shape)).astype(g.dtype) for k, g in grads.items()}


class GradsAsTupleMissingOne(NumpyManual):
    name, planted = "wrong-grads-as-short-tuple", "contract"

    def loss_and_grads(self, s):
        loss, grads = super().loss_and_grads(s)
        return loss, tuple(grads.values())[:-1]


class GradsAsSet(NumpyManual):
    name, planted = "wrong-grads-as-set", "contract"

    def loss_and_grads(self, s):
        loss, grads = super().loss_and_grads(s)
        return loss, set(grads)


class LossInMorePrecision(NumpyManual):
    """A float32 run whose loss is summed in float64 and handed back as a Python float."""

    name, planted, scored_in = "wrong-loss-in-more-precision", "contract", "float32"

    def loss_and_grads(self, s):
        _, grads = super().loss_and_grads(s)
        y_pred = forward(s.x.astype(np.float64), **{k: v.astype(np.float64) for k, v in s.params.items()})[2]
        return float(np.square(y_pred - s.y).sum()), grads


class ReturnsATorchTensor(NumpyManual):
    """Declares numpy, returns a torch tensor: the harness would convert it as a numpy array."""

    name, planted = "wrong-returns-a-torch-tensor", "contract"

    def loss(self, s):
        import torch
        return torch.tensor(super().loss(s))


class ParametersWithoutBiases(NumpyManual):
    """parameters() written for the bias-free network: with biases, b1 and b2 are missing."""

    name, planted = "wrong-parameters-without-biases", "contract"

    def parameters(self, s):
        return {k: s.params[k] for k in ("w1", "w2")}


class LossAsList(NumpyManual):
    """The loss wrapped in a one-element list (``[loss]``), as a batched API would return it."""

    name, planted = "wrong-loss-as-list", "contract"

    def loss(self, s):
        return [super().loss(s)]


class RaisesInStep(NumpyManual):
    """An assertion on the learning rate's range that the suite's values violate."""

    name, planted = "wrong-raises-in-step", "error"

    def step(self, s):
        raise RuntimeError(f"lr {s.lr} outside the supported range [1e-5, 1]")


class UpdatesTheFirstLayerOnly(NumpyManual):
    """The update loop copied from a one-layer example: w1 (and b1) move, the second layer never does."""

    name, planted = "wrong-updates-first-layer-only", "update-skips-parameter"

    def step(self, s):
        loss, grads = loss_and_grads(s.x, s.y, **s.params)
        for name in [k for k in ("w1", "b1") if k in grads]:
            s.params[name] -= s.lr * grads[name]
        return loss


class SkipsTheFirstStep(NumpyManual):
    """A step counter that starts updating at 1 where it is 0 at the first call: the first step() moves nothing."""

    name, planted = "wrong-skips-first-step", "first-step-skipped"

    def step(self, s):
        s.count = getattr(s, "count", -1) + 1
        loss, grads = loss_and_grads(s.x, s.y, **s.params)
        if s.count >= 1:
            for name, grad in grads.items():
                s.params[name] -= s.lr * grad
        return loss


class ClippedGradients(NumpyManual):
    """The gradient clipped to total norm 1e5 (clip_grad_norm_) before the step, where plain SGD was asked for."""

    name, planted = "wrong-clipped-gradients", "clipping"

    def step(self, s):
        loss, grads = loss_and_grads(s.x, s.y, **s.params)
        norm = np.sqrt(sum(np.sum(np.square(g)) for g in grads.values()))
        for name, grad in grads.items():
            s.params[name] -= s.lr * grad * min(1.0, 1e5 / norm)
        return loss


MORE = [DeclaresTheWrongRelu, SumsAcrossSessions, LossStaleAfterStep, WeightDecay, Momentum, HalvingSchedule,
        StepReturnsLossAfter, Float32LearningRate, HalfPrecisionHidden, DenseError1e4, GradsAsTupleMissingOne,
        GradsAsSet, LossInMorePrecision, ReturnsATorchTensor, ParametersWithoutBiases, LossAsList, RaisesInStep,
        UpdatesTheFirstLayerOnly, SkipsTheFirstStep, ClippedGradients]
