"""A minimal plug-in: the network in plain numpy, checked by twolayer-bench like the built-in ones.

    python -m reference examples/my_impl.py        # verdict table with diagnoses
    pytest --impl-path=examples/my_impl.py               # every check of the catalogue on it
    python -m bench --impl-path=examples/my_impl.py      # timed beside the others

Copy this file and change the maths; keep the class attributes and the five methods.
Arrays arrive already in the requested dtype (float32 or float64) and must go back in it.
Layout: x (N, D_in), y (N, D_out), w1 (D_in, H), w2 (H, D_out); biases b1 (H,), b2 (D_out,)
appear in ``params`` only when the problem has them.
"""

from dataclasses import dataclass

import numpy as np

from impls.contract import Implementation


@dataclass
class State:
    x: np.ndarray
    y: np.ndarray
    params: dict  # "w1", "w2" and, with bias, "b1", "b2"
    lr: float


class MyNumpyNet(Implementation):
    name = "my-numpy-net"                  # how it appears in test ids and reports
    backend = "numpy"                      # how arrays are handed over: numpy, torch or jax
    summary = "example plug-in in plain numpy"
    devices = ("cpu",)
    dtypes = ("float32", "float64")
    relu_grad_at_zero = 0.0                # (h > 0) masks the gradient where h == 0
    bias = (False, True)                   # the networks it computes: False (w1, w2 only), True (with b1, b2) or both

    def prepare(self, x, y, params, lr):
        return State(x, y, dict(params), lr)

    def loss(self, s):
        return self.loss_and_grads(s)[0]

    def loss_and_grads(self, s):
        p = s.params
        h = s.x @ p["w1"] + p.get("b1", 0)          # (N, H)
        h_relu = np.maximum(h, 0)                    # (N, H)
        y_pred = h_relu @ p["w2"] + p.get("b2", 0)   # (N, D_out)
        loss = np.sum((y_pred - s.y) ** 2)

        grad_y_pred = 2 * (y_pred - s.y)             # (N, D_out)
        grad_h = (grad_y_pred @ p["w2"].T) * (h > 0)  # (N, H)
        grads = {"w1": s.x.T @ grad_h, "w2": h_relu.T @ grad_y_pred}
        if "b1" in p:
            grads |= {"b1": grad_h.sum(axis=0), "b2": grad_y_pred.sum(axis=0)}
        return loss, grads

    def step(self, s):
        loss, grads = self.loss_and_grads(s)
        for name in s.params:
            s.params[name] = s.params[name] - s.lr * grads[name]
        return loss

    def parameters(self, s):
        return s.params
