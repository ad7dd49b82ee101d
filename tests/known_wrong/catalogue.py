"""Realistic mistakes beyond the tutorials', each written as a learner would make it.

``planted`` names the diagnosis code (reference/diagnose.py) the suite must report for the
mistake, or None where the mistake has no class of its own and rejection is what counts.
Several hide somewhere (at N = 64, at square shapes, at the initial point, on the first call,
in float32's last digits): the suite's shapes, points, repeated calls and precisions find them.
"""

import jax
import jax.numpy as jnp
import numpy as np
import torch

from impls import jax_grad, numpy_manual, torch_manual
from impls.jax_grad import JaxGrad
from impls.numpy_manual import NumpyManual, forward
from impls.torch_autograd import TorchAutograd
from impls.torch_function import TorchFunction
from impls.torch_manual import TorchManual
from impls.torch_nn import State, TorchNN
from tests.hostile.plugins import CATALOGUED
from tests.known_wrong import tutorial_mistakes as tm
from tests.known_wrong.more import MORE
from tests.known_wrong.dynamic import DYNAMIC_SLIPS
from tests.known_wrong.minibatch import MINIBATCH_SLIPS, EpochOutlivesPrepare
from tests.known_wrong.optimizers import OPTIMIZER_SLIPS


def numpy_backward(x, y, w1, w2, b1=None, b2=None, *, grad_scale=2.0, mask="h < 0", w2_from="h_relu",
                   bias_axis=0):
    """numpy-manual's backward with one knob per mistake (defaults are the right answer)."""
    h, h_relu, y_pred = forward(x, w1, w2, b1, b2)
    grad_y_pred = grad_scale * (y_pred - y)
    grad_w2 = (h_relu if w2_from == "h_relu" else h).T @ grad_y_pred
    grad_h = grad_y_pred @ w2.T
    if mask == "h < 0":
        grad_h[h < 0] = 0
    elif mask == "h > 0":
        grad_h[h > 0] = 0
    grads = {"w1": x.T @ grad_h, "w2": grad_w2}
    if b1 is not None:
        grads |= {"b1": grad_h.sum(axis=bias_axis), "b2": grad_y_pred.sum(axis=0)}
    return np.square(y_pred - y).sum(), grads


class BatchMean(NumpyManual):
    """Loss averaged over the batch, gradients to match: a different objective than the network's sum."""
    name, planted = "wrong-batch-mean", "scale:1/N"

    def loss_and_grads(self, s):
        loss, grads = numpy_manual.loss_and_grads(s.x, s.y, **s.params)
        N = len(s.x)
        return loss / N, {k: g / N for k, g in grads.items()}

    def loss(self, s):
        return self.loss_and_grads(s)[0]


class ForgotFactorTwo(NumpyManual):
    """d(r**2)/dr written as r: every gradient is half the truth, the loss is right."""
    name, planted = "wrong-forgot-factor-2", "scale:1/2"

    def loss_and_grads(self, s):
        return numpy_backward(s.x, s.y, **s.params, grad_scale=1.0)


class OppositeSign(TorchManual):
    """grad_y_pred = 2 * (y - y_pred): the gradient of the loss, negated."""
    name, planted = "wrong-opposite-sign", "sign"

    def loss_and_grads(self, s):
        loss, grads = torch_manual.loss_and_grads(s.x, s.y, **s.params)
        return loss, {k: -g for k, g in grads.items()}


class MissingReluMask(NumpyManual):
    """The backward pass forgets the ReLU: grad_h = grad_h_relu everywhere."""
    name, planted = "wrong-missing-relu-mask", "relu-mask-missing"

    def loss_and_grads(self, s):
        return numpy_backward(s.x, s.y, **s.params, mask="none")


class InPlaceRelu(NumpyManual):
    """relu applied in place on h, which the backward reads later: its mask finds no negative h."""
    name, planted = "wrong-in-place-relu", "relu-mask-missing"

    def loss_and_grads(self, s):
        p = s.params
        h = s.x @ p["w1"] + p.get("b1", 0)
        h_relu = np.maximum(h, 0, out=h)          # the mistake: h itself is overwritten
        y_pred = h_relu @ p["w2"] + p.get("b2", 0)
        grad_y_pred = 2.0 * (y_pred - s.y)
        grad_h = grad_y_pred @ p["w2"].T
        grad_h[h < 0] = 0
        grads = {"w1": s.x.T @ grad_h, "w2": h_relu.T @ grad_y_pred}
        if "b1" in p:
            grads |= {"b1": grad_h.sum(axis=0), "b2": grad_y_pred.sum(axis=0)}
        return np.square(y_pred - s.y).sum(), grads


class InvertedMask(NumpyManual):
    """grad_h[h > 0] = 0: the mask the wrong way round."""
    name, planted = "wrong-inverted-relu-mask", "relu-mask-wrong"

    def loss_and_grads(self, s):
        return numpy_backward(s.x, s.y, **s.params, mask="h > 0")


class ReshapeNotTranspose(TorchNN):
    """Weights put into nn.Linear's (out, in) storage with reshape: the right numbers in the wrong places."""
    name, planted = "wrong-reshape-not-transpose", "reshape-not-transpose"

    def prepare(self, x, y, params, lr):
        state = super().prepare(x, y, params, lr)
        first, second = state.model[0], state.model[2]
        with torch.no_grad():
            first.weight.copy_(params["w1"].reshape(first.weight.shape))
            second.weight.copy_(params["w2"].reshape(second.weight.shape))
        return state


class TransposedGradients(NumpyManual):
    """Gradients returned as (out, in), the way nn.Linear stores them."""
    name, planted = "wrong-transposed-gradients", "transposed"

    def loss_and_grads(self, s):
        loss, grads = numpy_manual.loss_and_grads(s.x, s.y, **s.params)
        return loss, {k: (g.T if g.ndim == 2 else g) for k, g in grads.items()}


class BiasGradWrongAxis(NumpyManual):
    """grad_b1 summed over the features instead of the batch: shape (N,), which fits only when N == H."""
    name, planted = "wrong-bias-grad-axis", "bias-axis"

    def loss_and_grads(self, s):
        return numpy_backward(s.x, s.y, **s.params, bias_axis=1)


class CachedGradients(NumpyManual):
    """Gradients computed on the first call and kept: right until the parameters move."""
    name, planted = "wrong-cached-gradients", "unchanged"

    def loss_and_grads(self, s):
        if not hasattr(s, "cached"):
            s.cached = numpy_manual.loss_and_grads(s.x, s.y, **s.params)
        return s.cached


class HardcodedLearningRate(TorchAutograd):
    """The tutorial's learning_rate constant kept in step() instead of the one asked for."""
    name, planted = "wrong-hardcoded-lr", "lr-mismatch"

    def step(self, s):
        learning_rate = 5e-7
        loss, grads = self.loss_and_grads(s)
        with torch.no_grad():
            for name, p in s.params.items():
                p -= learning_rate * grads[name]
        return loss


class GradientAscent(NumpyManual):
    """w += lr * g: the update climbs the loss."""
    name, planted = "wrong-gradient-ascent", "wrong-direction"

    def step(self, s):
        loss, grads = numpy_manual.loss_and_grads(s.x, s.y, **s.params)
        for name, grad in grads.items():
            s.params[name] += s.lr * grad
        return loss


class ZeroGradBeforeStep(TorchNN):
    """optimizer.zero_grad() between backward() and step(): SGD steps on zero gradients."""
    name, planted = "wrong-zero-grad-before-step", "update-missing"

    def step(self, s):
        loss = s.loss_fn(s.model(s.x), s.y)
        loss.backward()
        s.optimizer.zero_grad()
        s.optimizer.step()
        return loss.detach()


class JaxFloat32Inside(JaxGrad):
    """jnp.float32 hard-coded inside the loss: float64 asked for, float32 computed, cast back."""
    name, planted = "wrong-jax-float32-inside", "precision"

    def __init__(self):
        def loss_fn(params, x, y):
            low = {k: v.astype(jnp.float32) for k, v in params.items()}
            return jax_grad.loss_fn(low, x.astype(jnp.float32), y.astype(jnp.float32)).astype(x.dtype)
        self._loss = jax.jit(loss_fn)
        self._loss_and_grads = jax.jit(jax.value_and_grad(loss_fn))
        self._step = jax.jit(lambda params, x, y, lr: _jax_step(self._loss_and_grads, params, x, y, lr))


def _jax_step(loss_and_grads, params, x, y, lr):
    loss, grads = loss_and_grads(params, x, y)
    return loss, jax.tree.map(lambda p, g: p - lr * g, params, grads)


class TorchNNDefaultFloat32(TorchNN):
    """nn.Linear left in its default float32, results cast back with .double(): float64 in name only."""
    name, planted = "wrong-torch-nn-default-float32", "precision"

    def prepare(self, x, y, params, lr):
        state = super().prepare(x.float(), y.float(), {k: v.float() for k, v in params.items()}, lr)
        state.dtype = x.dtype
        return state

    def loss(self, s):
        return super().loss(s).to(s.dtype)

    def loss_and_grads(self, s):
        loss, grads = super().loss_and_grads(s)
        return loss.to(s.dtype), {k: g.to(s.dtype) for k, g in grads.items()}

    def step(self, s):
        return super().step(s).to(s.dtype)

    def parameters(self, s):
        return {k: v.to(s.dtype) for k, v in super().parameters(s).items()}


class HardcodedBatch64(NumpyManual):
    """x[:64]: the tutorial's batch size baked in. Right at N <= 64; the larger shape finds it."""
    name, planted = "wrong-hardcoded-batch-64", None

    def loss_and_grads(self, s):
        return numpy_manual.loss_and_grads(s.x[:64], s.y[:64], **s.params)


class JaxMeanLoss(JaxGrad):
    """jnp.mean of the squared error where the network's loss is a sum."""
    name, planted = "wrong-jax-mean-loss", "scale:1/(N*D_out)"

    def __init__(self):
        def loss_fn(params, x, y):
            return jax_grad.loss_fn(params, x, y) / y.size
        self._loss = jax.jit(loss_fn)
        self._loss_and_grads = jax.jit(jax.value_and_grad(loss_fn))
        self._step = jax.jit(lambda params, x, y, lr: _jax_step(self._loss_and_grads, params, x, y, lr))


class JaxStepKeepsOldParams(JaxGrad):
    """step() computes new parameters and returns the old ones: jax arrays never change in place."""
    name, planted = "wrong-jax-step-keeps-params", "update-missing"

    def step(self, s):
        loss, new_params = self._step(s.params, s.x, s.y, s.lr)  # noqa: F841 (the mistake)
        return loss


class InPlaceOnSavedInput(TorchFunction):
    """MyReLU clamps its input in place after saving it for backward: the mask then sees no h < 0."""
    name, planted = "wrong-in-place-saved-input", "relu-mask-missing"

    class InPlaceReLU(torch.autograd.Function):
        @staticmethod
        def forward(ctx, input):
            ctx.save_for_backward(input)
            return input.clamp_(min=0)

        @staticmethod
        def backward(ctx, grad_output):
            input, = ctx.saved_tensors
            grad_input = grad_output.clone()
            grad_input[input < 0] = 0
            return grad_input

    relu = staticmethod(InPlaceReLU.apply)


class LinearWithDefaultBias(TorchNN):
    """nn.Linear's default bias=True beside bias-free manual code: a randomly initialised bias joins in."""
    name, planted = "wrong-linear-default-bias", None

    def prepare(self, x, y, params, lr):
        (D_in, H), (_, D_out) = params["w1"].shape, params["w2"].shape
        factory = {"device": x.device, "dtype": x.dtype}
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(D_in, H, **factory), torch.nn.ReLU(),  # the mistake:
                                    torch.nn.Linear(H, D_out, **factory))                    # bias=True
        with torch.no_grad():
            model[0].weight.copy_(params["w1"].T)
            model[2].weight.copy_(params["w2"].T)
        return State(x, y, model, torch.nn.MSELoss(reduction="sum"), torch.optim.SGD(model.parameters(), lr=lr))

    @staticmethod
    def _canonical(model, read):
        return {"w1": read(model[0].weight).T, "w2": read(model[2].weight).T}


CATALOGUE = [BatchMean, ForgotFactorTwo, OppositeSign, MissingReluMask, InPlaceRelu, InvertedMask,
             ReshapeNotTranspose, TransposedGradients, BiasGradWrongAxis, CachedGradients, HardcodedLearningRate,
             GradientAscent, ZeroGradBeforeStep, JaxFloat32Inside, TorchNNDefaultFloat32, HardcodedBatch64,
             JaxMeanLoss, JaxStepKeepsOldParams, InPlaceOnSavedInput, LinearWithDefaultBias]

#: The whole public catalogue: the tutorials' five mistakes, the twenty above, the newer kinds
#: (tests/known_wrong/more.py), the slips with Adam and momentum (tests/known_wrong/optimizers.py)
#: with mini-batches (tests/known_wrong/minibatch.py) and with DynamicNet's shared layer
#: (tests/known_wrong/dynamic.py), and plug-ins that exit, crash or rewrite the reference.
MISTAKES = [tm.RebindingUpdate, tm.MinibatchOverwrite, tm.GradW2FromPreactivation, tm.GradsNeverZeroed, tm.MSELossMean,
            *CATALOGUE, *MORE, *OPTIMIZER_SLIPS, *MINIBATCH_SLIPS, EpochOutlivesPrepare, *DYNAMIC_SLIPS,
            *CATALOGUED]
