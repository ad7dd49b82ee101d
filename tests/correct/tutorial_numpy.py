"""The numpy tutorial's network as it writes it: no bias, the backward pass by hand (plug-in, bias = False)."""

from dataclasses import dataclass

import numpy as np

from impls.contract import Implementation


@dataclass
class State:
    x: np.ndarray
    y: np.ndarray
    w1: np.ndarray    # (D_in, H)
    w2: np.ndarray    # (H, D_out)
    learning_rate: float


class TutorialNumpy(Implementation):
    name, backend = "tutorial-numpy-nobias", "numpy"
    summary = "the numpy tutorial as written: h = x.dot(w1), no bias, gradients by hand"
    relu_grad_at_zero = 1.0   # grad_h[h < 0] = 0 keeps the gradient where h == 0
    bias = False

    def prepare(self, x, y, params, lr):
        return State(x, y, params["w1"].copy(), params["w2"].copy(), lr)

    def loss(self, s):
        return self.loss_and_grads(s)[0]

    def loss_and_grads(self, s):
        h = s.x.dot(s.w1)
        h_relu = np.maximum(h, 0)
        y_pred = h_relu.dot(s.w2)
        loss = np.square(y_pred - s.y).sum()

        grad_y_pred = 2.0 * (y_pred - s.y)
        grad_w2 = h_relu.T.dot(grad_y_pred)
        grad_h_relu = grad_y_pred.dot(s.w2.T)
        grad_h = grad_h_relu.copy()
        grad_h[h < 0] = 0
        grad_w1 = s.x.T.dot(grad_h)
        return loss, {"w1": grad_w1, "w2": grad_w2}

    def step(self, s):
        loss, grads = self.loss_and_grads(s)
        s.w1 -= s.learning_rate * grads["w1"]
        s.w2 -= s.learning_rate * grads["w2"]
        return loss

    def parameters(self, s):
        return {"w1": s.w1, "w2": s.w2}
