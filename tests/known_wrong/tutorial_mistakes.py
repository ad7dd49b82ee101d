"""The five mistakes found in the tutorials this project grew from (the "learning PyTorch by examples" notebooks)."""

import numpy as np
import torch

from impls.numpy_manual import NumpyManual, forward, loss_and_grads
from impls.torch_autograd import TorchAutograd
from impls.torch_nn import TorchNN


class RebindingUpdate(TorchAutograd):
    """``param = param - lr * param.grad`` rebinds the loop variable; the weights never change."""

    name = "wrong-rebinding-update"
    planted = 'update-missing'

    def step(self, s):
        loss = (self.forward(s.x, **s.params) - s.y).pow(2).sum()
        loss.backward()
        with torch.no_grad():
            for param in s.params.values():
                param = param - s.lr * param.grad  # noqa: F841 (the mistake)
                param.grad = None
        return loss.detach()


class MinibatchOverwrite(NumpyManual):
    """Accumulates gradients over mini-batches but slices ``x`` out of its own previous slice."""

    name = "wrong-minibatch-overwrite"
    planted = None
    batch_size = 32

    def loss_and_grads(self, s):
        x, y = s.x, s.y
        total, grads = 0.0, {name: np.zeros_like(p) for name, p in s.params.items()}
        for start in range(0, len(s.x), self.batch_size):
            x = x[start:start + self.batch_size]  # the mistake: should slice s.x
            y = y[start:start + self.batch_size]
            loss, batch_grads = loss_and_grads(x, y, **s.params)
            total += loss
            for name, grad in batch_grads.items():
                grads[name] += grad
        return total, grads


class GradW2FromPreactivation(NumpyManual):
    """dC/dW2 derived with the pre-activation Z (``h``) where the activation R (``h_relu``) belongs."""

    name = "wrong-dw2-from-h"
    planted = 'w2-from-h'

    def loss_and_grads(self, s):
        loss, grads = loss_and_grads(s.x, s.y, **s.params)
        h, _, y_pred = forward(s.x, **s.params)
        grads["w2"] = h.T @ (2.0 * (y_pred - s.y))  # the mistake: h instead of h_relu
        return loss, grads


class GradsNeverZeroed(TorchAutograd):
    """``loss.backward()`` adds into ``.grad``; without zeroing, every call returns the running sum."""

    name = "wrong-grads-never-zeroed"
    planted = 'accumulates'

    def loss_and_grads(self, s):
        loss = (self.forward(s.x, **s.params) - s.y).pow(2).sum()
        loss.backward()
        return loss.detach(), {name: p.grad for name, p in s.params.items()}


class MSELossMean(TorchNN):
    """``MSELoss()`` averages over all N * D_out entries by default; the network's loss is a sum."""

    name = "wrong-mseloss-mean"
    planted = 'scale:1/(N*D_out)'

    def prepare(self, x, y, params, lr):
        state = super().prepare(x, y, params, lr)
        state.loss_fn = torch.nn.MSELoss()  # the mistake: reduction="mean"
        return state
