"""The float64 reference: forward, loss, analytic gradients, and error scales.

Written once, plainly, in float64 numpy; verified by finite differences, a Taylor test and
torch.autograd.gradcheck (tests/test_reference.py). Everything else is compared with it, and
every other piece of the reference that needs the network's values calls ``forward``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Mapping

import numpy as np

from reference.model import store
from reference.model.rounding import gradient_spreads
from reference.model.tolerance import LAMBDA
from reference.problem.inputs import Inputs

Params = Mapping[str, np.ndarray]


def forward(x: np.ndarray, params: Params) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """h, h_relu and y_pred: the network's one forward pass."""
    h = x @ params["w1"] + params.get("b1", 0.0)           # (N, H)
    h_relu = np.maximum(h, 0.0)                             # (N, H)
    y_pred = h_relu @ params["w2"] + params.get("b2", 0.0)  # (N, D_out)
    return h, h_relu, y_pred


def loss_and_grads(x: np.ndarray, y: np.ndarray, params: Params) -> tuple[float, dict[str, np.ndarray]]:
    """loss = sum((relu(x @ w1 + b1) @ w2 + b2 - y) ** 2) and its gradient for every parameter."""
    h, h_relu, y_pred = forward(x, params)
    loss = float(np.sum((y_pred - y) ** 2))

    grad_y_pred = 2.0 * (y_pred - y)              # (N, D_out)
    grad_w2 = h_relu.T @ grad_y_pred              # (H, D_out)
    grad_h = (grad_y_pred @ params["w2"].T) * (h > 0)  # (N, H); the kink margin keeps h away from 0
    grad_w1 = x.T @ grad_h                        # (D_in, H)
    grads = {"w1": grad_w1, "w2": grad_w2}
    if "b1" in params:
        grads |= {"b1": grad_h.sum(axis=0), "b2": grad_y_pred.sum(axis=0)}
    return loss, grads


def loss(x: np.ndarray, y: np.ndarray, params: Params) -> float:
    return float(np.sum((forward(x, params)[2] - y) ** 2))


def error_scales(x: np.ndarray, y: np.ndarray, params: Params) -> dict[str, np.ndarray | float]:
    """Each output's scale, which reference/model/tolerance.py turns into a tolerance.

    The gradients: their statistical error spread (reference.model.rounding). The loss: ``loss_scale``.
    """
    return {"loss": loss_scale(x, y, params), **gradient_spreads(x, y, params)}


def loss_scale(x: np.ndarray, y: np.ndarray, params: Params) -> float:
    """The loss's scale: one sum of same-sign squares, computed on absolute values (the relu mask kept,
    residuals bounded by |y_pred| + |y|), so that its rounding error is at most about n*u times it."""
    h, _, y_pred = forward(x, params)
    absolute = {name: np.abs(value) for name, value in params.items()}
    h_relu_scale = (forward(np.abs(x), absolute)[0]) * (h > 0)                               # (N, H)
    residual_scale = h_relu_scale @ absolute["w2"] + absolute.get("b2", 0.0) + np.abs(y)  # (N, D_out)
    return float(np.sum(np.abs(y_pred - y) * residual_scale))


@lru_cache(maxsize=64)
def reference_at(inputs: Inputs) -> tuple[float, dict[str, np.ndarray], dict[str, np.ndarray | float]]:
    """The reference's loss, gradients and error scales at ``inputs``, computed once per Inputs object,
    and once per content (see ``Content``).

    Checks and diagnoses ask for these many times over the same (cached) inputs.
    """
    return _reference_of(Content.of(inputs))


@dataclass(frozen=True)
class Content:
    """Inputs that compare and hash by their arrays' bytes (a digest), not by identity.

    The state machine (reference/checks/stateful.py) builds fresh Inputs at every call, from the
    parameters the implementation reports, and those are a few points it revisits in every
    sequence (the start, then one per step): the reference at each is computed once.
    """

    digest: bytes
    inputs: Inputs = field(compare=False)

    @classmethod
    def of(cls, inputs: Inputs) -> "Content":
        digest = hashlib.blake2b(digest_size=16)
        for name, array in (("x", inputs.x), ("y", inputs.y), *sorted(inputs.params.items())):
            array = np.ascontiguousarray(array)
            digest.update(f"{name}{array.shape}{array.dtype.str}".encode())
            digest.update(array.data)
        return cls(digest.digest(), inputs)


#: Products (N * D_in * H) from which the reference at an input is kept on disk (reference.model.store): the large
#: shape's (2.7e8) takes 0.2 s in every process that checks, four times; the state machine's small points take 1 ms.
STORED_FROM = 5 * 10**7


@lru_cache(maxsize=64)
def _reference_of(content: Content) -> tuple[float, dict[str, np.ndarray], dict[str, np.ndarray | float]]:
    inputs = content.inputs

    def computed() -> dict[str, np.ndarray]:
        value, grads = loss_and_grads(inputs.x, inputs.y, inputs.params)
        scales = error_scales(inputs.x, inputs.y, inputs.params)
        return {"loss": np.float64(value), **{f"grad.{k}": g for k, g in grads.items()},
                **{f"scale.{k}": np.asarray(v) for k, v in scales.items()}}
    products = inputs.x.shape[0] * inputs.x.shape[1] * inputs.params["w1"].shape[1]
    arrays = computed() if products < STORED_FROM else store.kept("reference", (content.digest,), computed)
    grads = {k: arrays[f"grad.{k}"] for k in inputs.params}
    return float(arrays["loss"]), grads, {"loss": float(arrays["scale.loss"]), **{k: arrays[f"scale.{k}"] for k in grads}}


def kink_slack(x: np.ndarray, y: np.ndarray, params: Params, u: float) -> dict[str, np.ndarray]:
    """How far each gradient may move because some ReLU inputs lie within their rounding of 0.

    Where |h| is within the forward pass's rounding (LAMBDA * sqrt(D_in) * u * the same sum on
    absolute values), a computation in unit roundoff ``u`` may see h on either side of the kink,
    or exactly 0 (where relu'(0) is a convention): that entry's share of the gradients may be
    there or not. The checks start from inputs kept away from the kink; a run that trained
    itself onto it (Adam's fixed-length steps make hidden units hover at 0) is judged with this
    share added to the tolerance.
    """
    h, h_relu, y_pred = forward(x, params)
    h_scale = np.abs(x) @ np.abs(params["w1"]) + np.abs(params.get("b1", 0.0))  # (N, H)
    ambiguous = np.abs(h) <= LAMBDA * np.sqrt(x.shape[1]) * u * h_scale           # (N, H)
    grad_y_pred = 2.0 * (y_pred - y)                                               # (N, D_out)
    share_h = ambiguous * np.abs(grad_y_pred @ params["w2"].T)                     # (N, H)
    slack = {"w1": np.abs(x).T @ share_h, "w2": (ambiguous * np.abs(h)).T @ np.abs(grad_y_pred)}
    if "b1" in params:
        slack |= {"b1": share_h.sum(axis=0), "b2": np.zeros(params["b2"].shape)}
    return slack
