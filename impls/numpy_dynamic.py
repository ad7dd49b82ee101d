"""numpy, the DynamicNet tutorial by hand: control flow and a shared layer.

An input layer, then the same middle layer applied ``repeats`` times (0 to 3; the tutorial
draws a new count for every forward pass), then an output layer. The loop is plain Python, so the backward pass walks
it in reverse: each use of the middle layer hands its gradient back through the same weights,
and the middle layer's gradient is the sum of every use's share, not the last use's alone. The
counts come from the sequence ``prepare`` is handed (step t uses ``depths[t]``), so that every
implementation trains the same networks. Trained with SGD and momentum 0.9, as the tutorial is,
the velocity written out as in numpy-momentum.
"""

from dataclasses import dataclass, field

import numpy as np

from impls.contract import Implementation


@dataclass
class State:
    x: np.ndarray
    y: np.ndarray
    params: dict
    lr: float
    depths: np.ndarray
    t: int = 0                                     # steps taken: the next forward pass uses depths[t]
    velocity: dict = field(default_factory=dict)   # per parameter; empty until the first step


def loss_and_grads(x, y, repeats, w_in, b_in, w_mid, b_mid, w_out, b_out):
    h = x @ w_in + b_in                       # (N, H)
    h_relu = np.maximum(h, 0)                 # (N, H)
    middle_h, middle_inputs = [], []
    for _ in range(repeats):                  # the same weights on every pass
        middle_inputs.append(h_relu)
        middle_h.append(h_relu @ w_mid + b_mid)   # (N, H)
        h_relu = np.maximum(middle_h[-1], 0)  # (N, H)
    y_pred = h_relu @ w_out + b_out           # (N, D_out)
    loss = np.square(y_pred - y).sum()

    grad_y_pred = 2.0 * (y_pred - y)          # (N, D_out)
    grads = {"w_out": h_relu.T @ grad_y_pred, "b_out": grad_y_pred.sum(axis=0),
             "w_mid": np.zeros_like(w_mid), "b_mid": np.zeros_like(b_mid)}
    grad_h_relu = grad_y_pred @ w_out.T       # (N, H)
    for h_mid, h_in in zip(reversed(middle_h), reversed(middle_inputs)):   # the last use first
        grad_h = grad_h_relu.copy()
        grad_h[h_mid < 0] = 0                 # (N, H)
        grads["w_mid"] += h_in.T @ grad_h     # every use adds its share to the shared weights
        grads["b_mid"] += grad_h.sum(axis=0)
        grad_h_relu = grad_h @ w_mid.T        # (N, H)
    grad_h = grad_h_relu.copy()
    grad_h[h < 0] = 0                         # (N, H)
    grads["w_in"] = x.T @ grad_h              # (D_in, H)
    grads["b_in"] = grad_h.sum(axis=0)        # (H,)
    return loss, grads


class NumpyDynamic(Implementation):
    name = "numpy-dynamic"
    backend = "numpy"
    summary = "the DynamicNet tutorial by hand in numpy: a middle layer reused 0-3 times, its gradient summed over uses"
    relu_grad_at_zero = 1.0
    optimizer = "sgd-momentum"
    model = "dynamic"
    momentum = 0.9

    def prepare(self, x, y, params, lr, depths):
        return State(x, y, dict(params), lr, depths)

    def repeats(self, s):
        return int(s.depths[s.t % len(s.depths)])

    def loss(self, s):
        return self.loss_and_grads(s)[0]

    def loss_and_grads(self, s):
        return loss_and_grads(s.x, s.y, self.repeats(s), **s.params)

    def step(self, s):
        loss, grads = self.loss_and_grads(s)
        for name, grad in grads.items():
            s.velocity[name] = self.momentum * s.velocity[name] + grad if name in s.velocity else grad
            s.params[name] = s.params[name] - s.lr * s.velocity[name]
        s.t += 1
        return loss

    def parameters(self, s):
        return s.params
