"""torch autograd: the forward pass only; ``loss.backward()`` derives the rest.

Parameters are tensors with ``requires_grad=True``; the update runs under ``torch.no_grad()``
and changes them in place (``w1 -= ...``; rebinding ``w1 = w1 - ...`` would leave them as they were).
"""

from dataclasses import dataclass

import torch

from impls.contract import Implementation


@dataclass
class State:
    x: torch.Tensor
    y: torch.Tensor
    params: dict
    lr: float


class TorchAutograd(Implementation):
    name = "torch-autograd"
    backend = "torch"
    summary = "torch autograd: write the forward pass, loss.backward() derives the gradients"
    devices = ("cpu", "cuda")
    relu_grad_at_zero = 1.0  # clamp(min=0) passes the gradient where h == min

    @staticmethod
    def relu(h):
        return h.clamp(min=0)

    def forward(self, x, w1, w2, b1=None, b2=None):
        h = x.mm(w1)                     # (N, H)
        if b1 is not None:
            h = h + b1
        h_relu = self.relu(h)            # (N, H)
        y_pred = h_relu.mm(w2)           # (N, D_out)
        if b2 is not None:
            y_pred = y_pred + b2
        return y_pred

    def prepare(self, x, y, params, lr):
        return State(x, y, {name: p.requires_grad_() for name, p in params.items()}, lr)

    def loss(self, s):
        with torch.no_grad():
            return (self.forward(s.x, **s.params) - s.y).pow(2).sum()

    def loss_and_grads(self, s):
        for p in s.params.values():
            p.grad = None                # .backward() adds to .grad: start each pass from nothing
        loss = (self.forward(s.x, **s.params) - s.y).pow(2).sum()
        loss.backward()
        return loss.detach(), {name: p.grad for name, p in s.params.items()}

    def step(self, s):
        loss, grads = self.loss_and_grads(s)
        with torch.no_grad():
            for name, p in s.params.items():
                p -= s.lr * grads[name]
        return loss

    def parameters(self, s):
        return {name: p.detach() for name, p in s.params.items()}
