"""torch tensors, backward pass by hand.

The numpy version line for line with torch tensors: the same hand-derived gradients, now able
to run on a GPU. No autograd anywhere.
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


def forward(x, w1, w2, b1=None, b2=None):
    h = x.mm(w1)                     # (N, H)
    if b1 is not None:
        h = h + b1
    h_relu = h.clamp(min=0)          # (N, H)
    y_pred = h_relu.mm(w2)           # (N, D_out)
    if b2 is not None:
        y_pred = y_pred + b2
    return h, h_relu, y_pred


def loss_and_grads(x, y, w1, w2, b1=None, b2=None):
    h, h_relu, y_pred = forward(x, w1, w2, b1, b2)
    loss = (y_pred - y).pow(2).sum()

    grad_y_pred = 2.0 * (y_pred - y)     # (N, D_out)
    grad_w2 = h_relu.t().mm(grad_y_pred)  # (H, D_out)
    grad_h_relu = grad_y_pred.mm(w2.t())  # (N, H)
    grad_h = grad_h_relu.clone()
    grad_h[h < 0] = 0                    # (N, H)
    grad_w1 = x.t().mm(grad_h)           # (D_in, H)
    grads = {"w1": grad_w1, "w2": grad_w2}
    if b1 is not None:
        grads["b1"] = grad_h.sum(0)          # (H,)
        grads["b2"] = grad_y_pred.sum(0)     # (D_out,)
    return loss, grads


class TorchManual(Implementation):
    name = "torch-manual"
    backend = "torch"
    summary = "torch tensors with the same hand-derived backward pass; runs on GPU"
    devices = ("cpu", "cuda")
    relu_grad_at_zero = 1.0  # grad_h[h < 0] = 0 lets the gradient through where h == 0

    def prepare(self, x, y, params, lr):
        return State(x, y, dict(params), lr)

    def loss(self, s):
        y_pred = forward(s.x, **s.params)[2]
        return (y_pred - s.y).pow(2).sum()

    def loss_and_grads(self, s):
        return loss_and_grads(s.x, s.y, **s.params)

    def step(self, s):
        loss, grads = loss_and_grads(s.x, s.y, **s.params)
        for name, grad in grads.items():
            s.params[name] -= s.lr * grad
        return loss

    def parameters(self, s):
        return s.params
