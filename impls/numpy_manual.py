"""numpy, backward pass by hand.

numpy knows nothing about graphs or gradients, so every derivative is worked out on paper and
written next to the forward line it undoes. The tutorials' first version of the network.
"""

from dataclasses import dataclass

import numpy as np

from impls.contract import Implementation


@dataclass
class State:
    x: np.ndarray
    y: np.ndarray
    params: dict
    lr: float


def forward(x, w1, w2, b1=None, b2=None):
    h = x @ w1                       # (N, H)
    if b1 is not None:
        h = h + b1
    h_relu = np.maximum(h, 0)        # (N, H)
    y_pred = h_relu @ w2             # (N, D_out)
    if b2 is not None:
        y_pred = y_pred + b2
    return h, h_relu, y_pred


def loss_and_grads(x, y, w1, w2, b1=None, b2=None):
    h, h_relu, y_pred = forward(x, w1, w2, b1, b2)
    loss = np.square(y_pred - y).sum()

    grad_y_pred = 2.0 * (y_pred - y)     # (N, D_out)
    grad_w2 = h_relu.T @ grad_y_pred     # (H, D_out)
    grad_h_relu = grad_y_pred @ w2.T     # (N, H)
    grad_h = grad_h_relu.copy()
    grad_h[h < 0] = 0                    # (N, H)
    grad_w1 = x.T @ grad_h               # (D_in, H)
    grads = {"w1": grad_w1, "w2": grad_w2}
    if b1 is not None:
        grads["b1"] = grad_h.sum(axis=0)         # (H,)
        grads["b2"] = grad_y_pred.sum(axis=0)    # (D_out,)
    return loss, grads


class NumpyManual(Implementation):
    name = "numpy-manual"
    backend = "numpy"
    summary = "numpy with a hand-derived backward pass: the chain rule written out"
    relu_grad_at_zero = 1.0  # grad_h[h < 0] = 0 lets the gradient through where h == 0

    def prepare(self, x, y, params, lr):
        return State(x, y, dict(params), lr)

    def loss(self, s):
        y_pred = forward(s.x, **s.params)[2]
        return np.square(y_pred - s.y).sum()

    def loss_and_grads(self, s):
        return loss_and_grads(s.x, s.y, **s.params)

    def step(self, s):
        loss, grads = loss_and_grads(s.x, s.y, **s.params)
        for name, grad in grads.items():
            s.params[name] -= s.lr * grad
        return loss

    def parameters(self, s):
        return s.params
