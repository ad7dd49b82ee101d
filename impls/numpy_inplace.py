"""numpy-manual with every array of the step allocated once, in ``prepare``, and reused.

What makes it fast: no allocation in the step, and no pass over the weights but the update.
Each line writes into a buffer of its own (``out=``), so a step touches the same memory every
time. ``step`` scales ``grad_y_pred`` by the learning rate before the products (640 numbers,
not the 100,000 of ``grad_w1``): the products are linear in it, so they give ``lr * grad``
directly and the update is one in-place subtraction, where ``w -= lr * grad`` makes two passes
and a temporary the size of ``w1``. ``np.putmask`` zeroes relu's gradient in place.
Measured side by side in one process (2026-12-04, float32, default size, 40 interleaved
rounds): 283.8 µs before these two changes, 273.6 after at 2 threads; 338.4 and 322.5 at 1.
``loss_and_grads`` returns copies: its buffers are overwritten by the next call.
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
    h: np.ndarray               # (N, H)
    h_relu: np.ndarray          # (N, H)
    y_pred: np.ndarray          # (N, D_out)
    error: np.ndarray           # (N, D_out): y_pred - y
    squared_error: np.ndarray   # (N, D_out)
    grad_y_pred: np.ndarray     # (N, D_out)
    grad_h: np.ndarray          # (N, H)
    h_negative: np.ndarray      # (N, H) bool: where relu's gradient is 0
    grads: dict                 # one per parameter, its shape


def forward(s):
    w1, w2 = s.params["w1"], s.params["w2"]
    np.matmul(s.x, w1, out=s.h)                  # (N, H)
    if "b1" in s.params:
        s.h += s.params["b1"]
    np.maximum(s.h, 0, out=s.h_relu)             # (N, H)
    np.matmul(s.h_relu, w2, out=s.y_pred)        # (N, D_out)
    if "b2" in s.params:
        s.y_pred += s.params["b2"]
    np.subtract(s.y_pred, s.y, out=s.error)      # (N, D_out)
    return np.square(s.error, out=s.squared_error).sum()


def backward(s, scale):
    """Gradients times ``scale``: 1 for the gradients themselves, the learning rate for a step."""
    g = s.grads
    np.multiply(s.error, 2.0 * scale, out=s.grad_y_pred)      # (N, D_out)
    np.matmul(s.h_relu.T, s.grad_y_pred, out=g["w2"])         # (H, D_out)
    np.matmul(s.grad_y_pred, s.params["w2"].T, out=s.grad_h)  # (N, H): grad_h_relu
    np.less(s.h, 0, out=s.h_negative)
    np.putmask(s.grad_h, s.h_negative, 0)                     # (N, H)
    np.matmul(s.x.T, s.grad_h, out=g["w1"])                   # (D_in, H)
    if "b1" in g:
        np.sum(s.grad_h, axis=0, out=g["b1"])                 # (H,)
        np.sum(s.grad_y_pred, axis=0, out=g["b2"])            # (D_out,)


class NumpyInplace(Implementation):
    name = "numpy-inplace"
    backend = "numpy"
    summary = "numpy's fastest step: numpy-manual with preallocated out= buffers and in-place updates"
    relu_grad_at_zero = 1.0  # only h < 0 is masked: the gradient passes where h == 0

    def prepare(self, x, y, params, lr):
        params = dict(params)
        shape_h, shape_y = (x.shape[0], params["w1"].shape[1]), y.shape   # (N, H), (N, D_out)
        return State(x, y, params, lr, h=np.empty(shape_h, x.dtype), h_relu=np.empty(shape_h, x.dtype),
                     y_pred=np.empty(shape_y, x.dtype), error=np.empty(shape_y, x.dtype),
                     squared_error=np.empty(shape_y, x.dtype), grad_y_pred=np.empty(shape_y, x.dtype),
                     grad_h=np.empty(shape_h, x.dtype), h_negative=np.empty(shape_h, bool),
                     grads={name: np.empty_like(p) for name, p in params.items()})

    def loss(self, s):
        return forward(s)

    def loss_and_grads(self, s):
        loss = forward(s)
        backward(s, 1.0)
        return loss, {name: grad.copy() for name, grad in s.grads.items()}

    def step(self, s):
        loss = forward(s)
        backward(s, s.lr)
        for name, w in s.params.items():
            w -= s.grads[name]                                # grads holds lr * grad
        return loss

    def parameters(self, s):
        return s.params
