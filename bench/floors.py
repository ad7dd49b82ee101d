"""A library's own share of a phase, timed alone: its matrix products, and its elementwise work.

Written once over the array API that numpy, torch and jax.numpy share (``@``, ``.T``, ``*``),
with the operand layouts of the implementations (``x.T`` is a transposed view, as in
``x.T @ grad_h``). jax's parts are jitted, as jax-grad's step is; numpy's and torch's run eagerly.
An implementation's time beyond its own library's products and elementwise work is dispatch,
autograd bookkeeping and allocation.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from impls.backends import BACKENDS
from reference.problem.inputs import Problem

PARTS = ("products", "elementwise")
LIBRARIES = ("numpy", "torch", "jax")
LR = 1e-6


def _products(phase: str):
    def products(x, w1, w2, h, h_relu, y_pred, y, grad_y_pred, grad_h):
        out = [x @ w1, h_relu @ w2]                          # (N, H), (N, D_out)
        if phase != "forward":
            out += [h_relu.T @ grad_y_pred,                  # (H, D_out)
                    grad_y_pred @ w2.T,                      # (N, H)
                    x.T @ grad_h]                            # (D_in, H)
        return out
    return products


def _elementwise(phase: str):
    def elementwise(x, w1, w2, h, h_relu, y_pred, y, grad_y_pred, grad_h):
        relu = h * (h > 0)                                   # (N, H)
        loss = ((y_pred - y) ** 2).sum()
        out = [relu, loss]
        if phase != "forward":
            out += [2.0 * (y_pred - y),                      # grad_y_pred (N, D_out)
                    grad_h * (h > 0)]                        # grad_h (N, H)
        if phase == "step":
            out += [w1 - LR * w1, w2 - LR * w2]              # the updates (D_in, H), (H, D_out)
        return out
    return elementwise


def part_call(library: str, part: str, problem: Problem, phase: str, device: str, dtype: str) -> Callable[[], object]:
    """One library's part of a phase on arrays of ``problem``'s shapes, ending with the device synchronized."""
    backend = BACKENDS[library]
    N, D_in, H, D_out = problem.N, problem.D_in, problem.H, problem.D_out
    shapes = dict(x=(N, D_in), w1=(D_in, H), w2=(H, D_out), h=(N, H), h_relu=(N, H), y_pred=(N, D_out),
                  y=(N, D_out), grad_y_pred=(N, D_out), grad_h=(N, H))
    rng = np.random.default_rng(0)
    arrays = {name: backend.from_numpy(rng.standard_normal(shape), device, dtype) for name, shape in shapes.items()}
    function = (_products if part == "products" else _elementwise)(phase)
    if library == "jax":
        function = backend.lib.jit(function)
    return lambda: backend.sync(function(**arrays), device)
