"""The DynamicNet tutorial's network in float64: an input layer, one middle layer applied ``repeats``
times with the same weights, an output layer; forward and backward side by side.

The middle layer's gradient is the sum over its uses: each use adds its own ``h_in.T @ grad_h``.
Beside it: the same computation on absolute values (what rounding can do to each result), the
allowance for pre-activations within their rounding of the kink, and training along a depth sequence.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from reference.model import store
from reference.model.network import Content
from reference.model.optimizers import run
from reference.model.tolerance import ELEMENTWISE_STEPS, LAMBDA
from reference.problem.inputs import Problem
from reference.problem.optimizers import Optimizer
from reference.problem.variants import DynamicInputs

Params = dict[str, np.ndarray]


def loss_and_grads(x: np.ndarray, y: np.ndarray, params: Params, repeats: int,
                   flipped: list[np.ndarray] | None = None) -> tuple[float, Params]:
    """The loss and every gradient; ``flipped`` (one boolean array per relu) takes the other side of the
    kink's derivative where True (the allowance for entries rounding may carry across it)."""
    value, grads, _ = loss_grads_and_shares(x, y, params, repeats, flipped)
    return value, grads


def loss_grads_and_shares(x: np.ndarray, y: np.ndarray, params: Params, repeats: int,
                          flipped: list[np.ndarray] | None = None) -> tuple[float, Params, list[Params]]:
    """``loss_and_grads``, and each use's share of the middle layer's gradient, in the order of the uses."""
    def mask(h, layer):
        positive = h > 0
        return positive ^ flipped[layer] if flipped is not None else positive

    h = x @ params["w_in"] + params["b_in"]                        # (N, H)
    masks = [mask(h, 0)]
    h_relu = np.maximum(h, 0)                                      # (N, H)
    inputs = []
    for use in range(repeats):
        inputs.append(h_relu)
        h = h_relu @ params["w_mid"] + params["b_mid"]             # (N, H)
        masks.append(mask(h, use + 1))
        h_relu = np.maximum(h, 0)                                  # (N, H)
    y_pred = h_relu @ params["w_out"] + params["b_out"]           # (N, D_out)
    loss = float(np.sum((y_pred - y) ** 2))

    grad_y_pred = 2.0 * (y_pred - y)                              # (N, D_out)
    grads = {"w_out": h_relu.T @ grad_y_pred, "b_out": grad_y_pred.sum(0),
             "w_mid": np.zeros_like(params["w_mid"]), "b_mid": np.zeros_like(params["b_mid"])}
    shares = []
    grad_h_relu = grad_y_pred @ params["w_out"].T                 # (N, H)
    for h_in in reversed(inputs):
        grad_h = grad_h_relu * masks.pop()                        # (N, H)
        shares.insert(0, {"w_mid": h_in.T @ grad_h, "b_mid": grad_h.sum(0)})
        grads["w_mid"] += shares[0]["w_mid"]                      # each use adds its share
        grads["b_mid"] += shares[0]["b_mid"]
        grad_h_relu = grad_h @ params["w_mid"].T                  # (N, H)
    grad_h = grad_h_relu * masks.pop()                            # (N, H)
    grads["w_in"] = x.T @ grad_h                                  # (D_in, H)
    grads["b_in"] = grad_h.sum(0)                                 # (H,)
    return loss, grads, shares


def chains(x: np.ndarray, params: Params, repeats: int) -> dict[str, int]:
    """The longest chain of roundings behind the loss and behind a gradient, through every layer and back."""
    (N, D_in), (H, D_out) = x.shape, params["w_out"].shape
    forward = D_in + repeats * H + H + 2 * (repeats + 2)
    return {"loss": 2 * forward + N * D_out + ELEMENTWISE_STEPS,
            "grad": 2 * forward + D_out + N + ELEMENTWISE_STEPS}


def absolute(x: np.ndarray, y: np.ndarray, params: Params, repeats: int, masks: list[np.ndarray] | None = None,
             band: list[np.ndarray] | None = None) -> tuple[Params, list[np.ndarray]]:
    """Every output's scale (the same computation on absolute values, the relu masks kept) and each
    pre-activation's: bounds on what rounding can do to them, up to the chain's length. ``masks``
    (one per relu) replaces the masks the backward pass takes; ``band`` is added to each relu's output
    (what an entry within rounding of 0 may still pass forward)."""
    a = {k: np.abs(v) for k, v in params.items()}
    h = x @ params["w_in"] + params["b_in"]
    h_abs = np.abs(x) @ a["w_in"] + a["b_in"]                     # (N, H)
    back = (lambda layer, h_l: h_l > 0) if masks is None else (lambda layer, h_l: masks[layer])
    ahead = (lambda layer: 0.0) if band is None else (lambda layer: band[layer])
    pre, used = [h_abs], [back(0, h)]
    relu_abs, inputs_abs, h_relu = (h > 0) * h_abs + ahead(0), [], np.maximum(h, 0)
    for use in range(repeats):
        inputs_abs.append(relu_abs)
        h = h_relu @ params["w_mid"] + params["b_mid"]
        h_abs = relu_abs @ a["w_mid"] + a["b_mid"]
        pre.append(h_abs)
        used.append(back(use + 1, h))
        relu_abs, h_relu = (h > 0) * h_abs + ahead(use + 1), np.maximum(h, 0)
    y_pred = h_relu @ params["w_out"] + params["b_out"]
    residual_abs = relu_abs @ a["w_out"] + a["b_out"] + np.abs(y)  # (N, D_out)
    grad_abs = 2.0 * residual_abs
    scales = {"loss": float(np.sum(np.abs(y_pred - y) * residual_abs)), "w_out": relu_abs.T @ grad_abs,
              "b_out": grad_abs.sum(0), "w_mid": np.zeros_like(a["w_mid"]), "b_mid": np.zeros_like(a["b_mid"])}
    grad_h_relu = grad_abs @ a["w_out"].T
    for h_in in reversed(inputs_abs):
        grad_h = grad_h_relu * used.pop()
        scales["w_mid"] += h_in.T @ grad_h
        scales["b_mid"] += grad_h.sum(0)
        grad_h_relu = grad_h @ a["w_mid"].T
    grad_h = grad_h_relu * used.pop()
    scales["w_in"], scales["b_in"] = np.abs(x).T @ grad_h, grad_h.sum(0)
    return scales, pre


#: Entries within rounding of the kink whose effects are summed one by one (a few at the checked
#: shapes); past this many, the looser bound on absolute values.
FLIPS_COUNTED = 64


def kink_slack(x: np.ndarray, y: np.ndarray, params: Params, repeats: int, u: float) -> Params:
    """How far each gradient may move because some pre-activations lie within their rounding of 0.

    Such an entry may be taken on either side of the kink (or at 0, where relu'(0) is a convention),
    and any subset of them at once. Backward, its derivative is 1 or 0: each entry's own effect on
    every gradient, taken the other way alone, is summed in absolute value (so that no subset's
    effects can cancel below it); past FLIPS_COUNTED entries, everything that flows back through
    them on absolute values. Forward, relu is continuous: such an entry passes on at most its
    rounding band.
    """
    h = [x @ params["w_in"] + params["b_in"]]
    for _ in range(repeats):
        h.append(np.maximum(h[-1], 0) @ params["w_mid"] + params["b_mid"])
    _, pre_scales = absolute(x, y, params, repeats)
    n = chains(x, params, repeats)["grad"]
    bands = [LAMBDA * np.sqrt(n) * u * scale for scale in pre_scales]
    ambiguous = [np.abs(h_l) <= band for h_l, band in zip(h, bands)]
    if not any(a.any() for a in ambiguous):
        return {k: np.zeros_like(v) for k, v in params.items()}
    forward = absolute(x, y, params, repeats, band=[a * band for a, band in zip(ambiguous, bands)])[0]
    plain = absolute(x, y, params, repeats)[0]
    slack = {k: forward[k] - plain[k] for k in params}
    entries = [(layer, index) for layer, a in enumerate(ambiguous) for index in zip(*np.nonzero(a))]
    if len(entries) > FLIPS_COUNTED:
        passed = absolute(x, y, params, repeats, [(h_l > 0) | a for h_l, a in zip(h, ambiguous)])[0]
        stopped = absolute(x, y, params, repeats, [(h_l > 0) & ~a for h_l, a in zip(h, ambiguous)])[0]
        return {k: slack[k] + passed[k] - stopped[k] for k in params}
    reference = loss_and_grads(x, y, params, repeats)[1]
    for layer, index in entries:
        flipped = [np.zeros(h_l.shape, dtype=bool) for h_l in h]
        flipped[layer][index] = True
        other = loss_and_grads(x, y, params, repeats, flipped)[1]
        slack = {k: slack[k] + np.abs(other[k] - reference[k]) for k in params}
    return slack


@lru_cache(maxsize=64)
def reference_at(inputs: DynamicInputs) -> tuple[float, Params, Params]:
    """Loss, gradients and scales at ``inputs`` for its first depth (the next step's), once per Inputs object."""
    repeats = int(inputs.depths[0])
    value, grads = loss_and_grads(inputs.x, inputs.y, inputs.params, repeats)
    return value, grads, absolute(inputs.x, inputs.y, inputs.params, repeats)[0]


def train(inputs: DynamicInputs, optimizer: Optimizer, steps: int) -> tuple[np.ndarray, list[Params]]:
    """Per-step losses (before each update, step t at depth depths[t]) and the parameters before each step
    and after the last."""
    return run(optimizer, inputs.params, steps, lambda t, params: loss_and_grads(
        inputs.x, inputs.y, params, int(inputs.depths[t % len(inputs.depths)])))


@lru_cache(maxsize=16)
def reference_training(inputs: DynamicInputs, optimizer: Optimizer, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """``train``'s losses and each one's scale, computed once per Inputs object (and once per content, on disk:
    reference.model.store; the checks draw their inputs afresh at every call)."""
    def compute() -> dict[str, np.ndarray]:
        losses, trajectory = train(inputs, optimizer, steps)
        return {"losses": losses, "scales": np.array([
            absolute(inputs.x, inputs.y, p, int(inputs.depths[t % len(inputs.depths)]))[0]["loss"]
            for t, p in enumerate(trajectory[:steps])])}

    depths = np.ascontiguousarray(inputs.depths, dtype=np.int64).tobytes()
    arrays = store.kept("dynamic-training", (Content.of(inputs).digest, depths, repr(optimizer), str(steps)), compute)
    return arrays["losses"], arrays["scales"]


def inputs_for(problem: Problem, depths) -> DynamicInputs:
    """Standard-normal data, as the tutorial draws it, and weights at nn.Linear's scale, from ``problem.seed``."""
    rng = np.random.default_rng(problem.seed)
    x, y = rng.standard_normal((problem.N, problem.D_in)), rng.standard_normal((problem.N, problem.D_out))
    params = initial_params(problem.D_in, problem.H, problem.D_out, seed=problem.seed + 1)
    return DynamicInputs(x, y, params, np.asarray(depths, dtype=np.int64))


def initial_params(D_in: int, H: int, D_out: int, seed: int = 0) -> Params:
    """Weights of the scale nn.Linear starts from (uniform in +-1/sqrt(fan_in)), canonical (in, out) layout."""
    rng = np.random.default_rng(seed)
    shapes = {"w_in": (D_in, H), "b_in": (H,), "w_mid": (H, H), "b_mid": (H,), "w_out": (H, D_out), "b_out": (D_out,)}
    fan_in = {"w_in": D_in, "b_in": D_in, "w_mid": H, "b_mid": H, "w_out": H, "b_out": H}
    return {k: rng.uniform(-1, 1, shape) / np.sqrt(fan_in[k]) for k, shape in shapes.items()}


#: How the shared layer's uses may combine into its gradient: the reference's sum, and the slips' other ways.
COMBINED = {"sum": lambda shares: sum(shares), "mean": lambda shares: sum(shares) / len(shares),
            "first": lambda shares: shares[0], "last": lambda shares: shares[-1]}


def variant(x: np.ndarray, y: np.ndarray, params: Params, repeats: int, relu: tuple[bool, bool] = (True, True),
            masks: bool = True, combined: str = "sum") -> tuple[float, Params]:
    """The loss and gradients of the network built another way: ``relu`` says whether the input layer's and the
    middle layer's relu are there (forward and back), ``masks`` whether the backward pass applies them, and
    ``combined`` how the middle layer's shares from its uses make its gradient (a key of COMBINED)."""
    def act(h, on):
        return np.maximum(h, 0) if on else h

    def mask(h, on):
        return (h > 0) if on and masks else 1.0

    pre = [x @ params["w_in"] + params["b_in"]]
    outputs = [act(pre[0], relu[0])]
    for _ in range(repeats):
        pre.append(outputs[-1] @ params["w_mid"] + params["b_mid"])
        outputs.append(act(pre[-1], relu[1]))
    y_pred = outputs[-1] @ params["w_out"] + params["b_out"]
    grad_y_pred = 2.0 * (y_pred - y)
    grads = {"w_out": outputs[-1].T @ grad_y_pred, "b_out": grad_y_pred.sum(0)}
    grad_h_relu, shares = grad_y_pred @ params["w_out"].T, []
    for use in reversed(range(repeats)):
        grad_h = grad_h_relu * mask(pre[use + 1], relu[1])
        shares.insert(0, {"w_mid": outputs[use].T @ grad_h, "b_mid": grad_h.sum(0)})
        grad_h_relu = grad_h @ params["w_mid"].T
    grad_h = grad_h_relu * mask(pre[0], relu[0])
    grads |= {"w_in": x.T @ grad_h, "b_in": grad_h.sum(0)}
    for name in ("w_mid", "b_mid"):
        grads[name] = COMBINED[combined]([s[name] for s in shares]) if shares else np.zeros_like(params[name])
    return float(np.sum((y_pred - y) ** 2)), grads
