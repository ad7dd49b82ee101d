"""The checks that decide whether an implementation computes what the reference computes.

Each check runs an implementation through a ``Session`` and returns its comparisons with the
reference (``Result``s wrapping reference.tolerance's ``Comparison``) without asserting: the
tests assert on them, the verdict of ``python -m reference.check`` diagnoses them, so one
piece of code serves the test suite, the known-wrong catalogue and the command line.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from impls.contract import Session
from reference import model
from reference.problem import Inputs, with_kink_margin
from reference.tolerance import Comparison, compare

TUTORIAL_LR = 1e-6
TUTORIAL_STEPS = 500


@dataclass(frozen=True)
class Result:
    """One comparison, labelled with where it came from."""

    label: str
    comparison: Comparison
    call: int = 1  # which call on the same prepared state produced it

    @property
    def passed(self) -> bool:
        return self.comparison.passed

    def describe(self) -> str:
        return self.comparison.describe(self.label)


@dataclass(frozen=True)
class Agreement:
    """The comparisons of one agreement check, and what the implementation returned on each call."""

    results: list[Result]
    outputs: list[dict[str, np.ndarray | float]]  # per call: "loss()" (forward only), "loss", and each gradient

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    def failures(self) -> list[str]:
        return [r.describe() for r in self.results if not r.passed]


def agreement(session: Session, inputs: Inputs, calls: int = 2) -> Agreement:
    """Loss (forward only, and with the gradients) and every gradient against the reference.

    The same prepared state is asked ``calls`` times: a second call that differs from the first
    (gradients accumulated, state changed by a read) fails just like a wrong first call.
    """
    problem = inputs.problem
    names = tuple(inputs.params)
    ref_loss, ref_grads = model.loss_and_grads(inputs.x, inputs.y, inputs.params)
    scales = model.error_scales(inputs.x, inputs.y, inputs.params)
    state = session.prepare(inputs)
    results, outputs = [], []
    for call in range(1, calls + 1):
        where = f"{session.label} call {call}"
        forward_only = session.loss(state)
        value, grads = session.loss_and_grads(state, names)
        outputs.append({"loss()": forward_only, "loss": value, **grads})
        results.append(Result(f"{where} loss()", compare("loss", forward_only, ref_loss, scales["loss"],
                                                         problem, session.precision), call))
        results.append(Result(f"{where} loss_and_grads()", compare("loss", value, ref_loss, scales["loss"],
                                                                   problem, session.precision), call))
        for name in names:
            results.append(Result(f"{where} grad", compare(name, grads[name], ref_grads[name], scales[name],
                                                            problem, session.precision), call))
    return Agreement(results, outputs)


def stable_lr(inputs: Inputs) -> float:
    """The tutorial's lr, or less where the curvature along w2, 2 * ||relu(h)||_2 ** 2, would make it diverge."""
    h_relu = np.maximum(inputs.x @ inputs.params["w1"] + inputs.params.get("b1", 0.0), 0.0)
    return min(TUTORIAL_LR, 1.0 / (2.0 * np.linalg.norm(h_relu, 2) ** 2))


def trajectory_points(inputs: Inputs, steps: tuple[int, ...] = (0, 25)) -> list[Inputs]:
    """Parameter points along the reference's gradient-descent path, each with the kink margin restored."""
    _, trajectory = model.train(inputs, stable_lr(inputs), max(steps))
    return [with_kink_margin(inputs.with_params(trajectory[k])) for k in steps]


@dataclass(frozen=True)
class Training:
    """An implementation's own training run next to the reference's."""

    losses: np.ndarray
    reference_losses: np.ndarray
    curve: list[Result]        # per-step loss against the reference's, one Result per step
    first_update: list[Result]  # params after one step against w - lr * (its own gradient)
    after_training: list[Result]  # gradients after the last step, at the implementation's own parameters
    final_grads: dict[str, np.ndarray]
    start: dict[str, np.ndarray]
    after_one: dict[str, np.ndarray]
    own_grads: dict[str, np.ndarray]

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.curve + self.first_update + self.after_training)


def training(session: Session, inputs: Inputs, lr: float = TUTORIAL_LR, steps: int = TUTORIAL_STEPS) -> Training:
    """Train from ``inputs`` for ``steps`` steps at ``lr``; compare the curve and the first update."""
    names = tuple(inputs.params)
    problem = inputs.problem
    ref_losses, ref_trajectory = model.train(inputs, lr, steps)

    state = session.prepare(inputs, lr)
    _, own_grads = session.loss_and_grads(state, names)
    start = session.parameters(state, names)
    losses = [session.step(state)]
    after_one = session.parameters(state, names)
    losses += [session.step(state) for _ in range(steps - 1)]
    # Gradients once more at the parameters training reached: a result cached from an
    # earlier point, or computed from stale parameters, shows here.
    final = inputs.with_params({k: v.astype(np.float64) for k, v in session.parameters(state, names).items()})
    _, final_grads = session.loss_and_grads(state, names)
    _, ref_final = model.loss_and_grads(final.x, final.y, final.params)
    final_scales = model.error_scales(final.x, final.y, final.params)
    after_training = [Result(f"{session.label} after {steps} steps", compare(
        name, final_grads[name], ref_final[name], final_scales[name], problem, session.precision)) for name in names]

    first_update = []
    for name in names:
        expected = start[name].astype(np.float64) - lr * own_grads[name].astype(np.float64)
        # The update is one multiply-add per entry: its scale is |w| + lr * |g|.
        scale = np.abs(start[name]) + lr * np.abs(own_grads[name])
        first_update.append(Result(f"{session.label} first step", compare(
            name, after_one[name], expected, scale, problem, session.precision, kind="update")))

    curve = []
    for t, params in enumerate(ref_trajectory[:steps]):
        scale = model.error_scales(inputs.x, inputs.y, params)["loss"]
        curve.append(Result(f"{session.label} step {t}", compare(
            "loss", losses[t], ref_losses[t], scale * curve_growth(t), problem, session.precision)))
    return Training(np.array(losses), ref_losses, curve, first_update, after_training, final_grads,
                    start, after_one, own_grads)


def curve_growth(step: int) -> float:
    """How a training curve's tolerance grows with the step.

    Each step adds its own rounding to the parameters; independent roundings add up like a
    random walk, so the deviation from the reference's path grows like sqrt(steps).
    """
    return float(np.sqrt(1.0 + step))


def tie_inputs(bias: bool) -> Inputs:
    """Small integer-valued inputs whose first hidden unit is exactly 0 for every sample.

    w1's first column (and b1's first entry) is zero, so h[:, 0] == 0 exactly in any precision;
    every other number is a small integer, so every sum is exact in float32 too and the
    measured subgradient comes out exactly.
    """
    rng = np.random.default_rng(7)
    N, D_in, H, D_out = 6, 5, 4, 3
    ints = lambda *shape: rng.integers(-3, 4, size=shape).astype(np.float64)  # noqa: E731
    w1 = ints(D_in, H)
    w1[:, 0] = 0.0
    params = {"w1": w1, "w2": ints(H, D_out)}
    params["w2"][0] = [1.0, -2.0, 3.0]
    if bias:
        params |= {"b1": np.r_[0.0, ints(H - 1)], "b2": ints(D_out)}
    return Inputs(ints(N, D_in), ints(N, D_out), params)


def relu_grad_at_zero(session: Session, bias: bool = False) -> float:
    """The subgradient of relu at 0 that an implementation takes, measured.

    With h[:, 0] == 0, grad_w1[:, 0] = s * x.T @ (grad_y_pred @ w2[0]), where s is that
    subgradient and nothing else depends on it; s is read off by least squares.
    """
    inputs = tie_inputs(bias)
    _, grads = session.loss_and_grads(session.prepare(inputs), tuple(inputs.params))
    p = inputs.params
    y_pred = np.maximum(inputs.x @ p["w1"] + p.get("b1", 0.0), 0.0) @ p["w2"] + p.get("b2", 0.0)
    direction = inputs.x.T @ (2.0 * (y_pred - inputs.y) @ p["w2"][0])  # (D_in,)
    return float(grads["w1"][:, 0] @ direction / (direction @ direction))


#: The probe's exact loss when every product keeps float32's 24-bit mantissa (0 under TF32).
PROBE_STRICT_LOSS = 2.0**-18


def probe_inputs() -> Inputs:
    """Inputs whose loss is exactly 2**-18 in float32 or float64 arithmetic and exactly 0 in TF32.

    x = 1 + 2**-12 everywhere: exact in float32, but TF32 keeps 10 mantissa bits and rounds it
    to 1. w1 = 2**-6 and w2 = 2**-4 are powers of two and every partial sum fits in 24 bits, so
    strict float32 carries the 2**-12 through: y_pred = 1 + 2**-12 against y = 1, a residual
    of 2**-12 in each of the 64 outputs.
    """
    N, D_in, H, D_out = 16, 64, 16, 4
    return Inputs(np.full((N, D_in), 1.0 + 2.0**-12), np.ones((N, D_out)),
                  {"w1": np.full((D_in, H), 2.0**-6), "w2": np.full((H, D_out), 2.0**-4)})


def matmul_precision_probe(session: Session) -> float:
    """The probe's loss as this implementation computes it, in this session's mode."""
    return session.loss(session.prepare(probe_inputs()))
