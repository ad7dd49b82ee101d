"""The DynamicNet tutorial's network in float64: an input layer, one middle layer applied ``repeats``
times with the same weights, an output layer; forward and backward side by side.

The middle layer's gradient is the sum over its uses: each use adds its own ``h_in.T @ grad_h``.
"""

from __future__ import annotations

import numpy as np

Params = dict[str, np.ndarray]
NAMES = ("w_in", "b_in", "w_mid", "b_mid", "w_out", "b_out")


def loss_and_grads(x: np.ndarray, y: np.ndarray, params: Params, repeats: int) -> tuple[float, Params]:
    h = x @ params["w_in"] + params["b_in"]                        # (N, H)
    activations = [h]
    h_relu = np.maximum(h, 0)                                      # (N, H)
    inputs = []
    for _ in range(repeats):
        inputs.append(h_relu)
        h = h_relu @ params["w_mid"] + params["b_mid"]             # (N, H)
        activations.append(h)
        h_relu = np.maximum(h, 0)                                  # (N, H)
    y_pred = h_relu @ params["w_out"] + params["b_out"]           # (N, D_out)
    loss = float(np.sum((y_pred - y) ** 2))

    grad_y_pred = 2.0 * (y_pred - y)                              # (N, D_out)
    grads = {"w_out": h_relu.T @ grad_y_pred, "b_out": grad_y_pred.sum(0),
             "w_mid": np.zeros_like(params["w_mid"]), "b_mid": np.zeros_like(params["b_mid"])}
    grad_h_relu = grad_y_pred @ params["w_out"].T                 # (N, H)
    for h_in in reversed(inputs):
        grad_h = grad_h_relu * (activations.pop() > 0)            # (N, H)
        grads["w_mid"] += h_in.T @ grad_h                         # each use adds its share
        grads["b_mid"] += grad_h.sum(0)
        grad_h_relu = grad_h @ params["w_mid"].T                  # (N, H)
    grad_h = grad_h_relu * (activations.pop() > 0)                # (N, H)
    grads["w_in"] = x.T @ grad_h                                  # (D_in, H)
    grads["b_in"] = grad_h.sum(0)                                 # (H,)
    return loss, grads


def initial_params(D_in: int, H: int, D_out: int, seed: int = 0) -> Params:
    """Weights of the scale nn.Linear starts from (uniform in +-1/sqrt(fan_in)), canonical (in, out) layout."""
    rng = np.random.default_rng(seed)
    shapes = {"w_in": (D_in, H), "b_in": (H,), "w_mid": (H, H), "b_mid": (H,), "w_out": (H, D_out), "b_out": (D_out,)}
    fan_in = {"w_in": D_in, "b_in": D_in, "w_mid": H, "b_mid": H, "w_out": H, "b_out": H}
    return {k: rng.uniform(-1, 1, shape) / np.sqrt(fan_in[k]) for k, shape in shapes.items()}
