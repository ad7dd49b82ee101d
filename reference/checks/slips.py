"""Name the slip when a training run leaves its declared momentum or Adam rule.

The tutorials' slips with these optimizers are written out here as update rules. The
implementation's own parameter path is replayed under the declared rule and under each slip,
every step taken from the implementation's own parameters with the gradients given there; the
slip that explains the steps and leaves at most a tenth of what the declared rule leaves
unexplained names the diagnosis. Plain SGD is named by reference/checks/update_rule.py instead,
which fits learning rates and schedules rather than picking from a list.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Mapping

import numpy as np

from reference.checks.diagnose import Diagnosis
from reference.model.optimizers import Params, adam_moments, bias_corrected, initial_state, update
from reference.problem.optimizers import Optimizer

Rule = Callable[[Optimizer, Params, Params, dict, int], tuple[Params, dict]]


def _without_bias_correction(optimizer: Optimizer, params: Params, grads: Params, state: dict, t: int):
    moments = adam_moments(optimizer, grads, state)
    m, v = moments["m"], moments["v"]
    return {k: params[k] - optimizer.lr * m[k] / (np.sqrt(v[k]) + optimizer.eps) for k in params}, moments


def _eps_inside(optimizer: Optimizer, params: Params, grads: Params, state: dict, t: int):
    moments = adam_moments(optimizer, grads, state)
    m_hat, v_hat = bias_corrected(optimizer, moments, t)
    return {k: params[k] - optimizer.lr * m_hat[k] / np.sqrt(v_hat[k] + optimizer.eps) for k in params}, moments


def _betas_swapped(optimizer: Optimizer, params: Params, grads: Params, state: dict, t: int):
    return update(replace(optimizer, betas=optimizer.betas[::-1]), params, grads, state, t)


def _state_not_carried(optimizer: Optimizer, params: Params, grads: Params, state: dict, t: int):
    return update(optimizer, params, grads, initial_state(optimizer, params), 1)


def _plain_sgd(optimizer: Optimizer, params: Params, grads: Params, state: dict, t: int):
    return {k: params[k] - optimizer.lr * grads[k] for k in params}, state


@dataclass(frozen=True)
class Slip:
    code: str
    text: str
    rule: Rule


SLIPS: dict[str, tuple[Slip, ...]] = {
    "adam": (
        Slip("adam-bias-correction", "Adam without bias correction: m and v are used as they are, not divided by "
             "1 - beta**t, so the first steps are up to 3.2 times too long", _without_bias_correction),
        Slip("adam-eps-inside", "Adam with eps under the square root (sqrt(v_hat + eps)) where torch adds it outside "
             "(sqrt(v_hat) + eps): steps shrink where |g| is near sqrt(eps)", _eps_inside),
        Slip("adam-betas-swapped", "Adam with its betas swapped: the gradient averaged with 0.999 and its square with "
             "0.9", _betas_swapped),
        Slip("adam-state-not-carried", "Adam whose state (moments and step count) is not carried from step to step: "
             "every step is a first step, lr * g / (|g| + eps)", _state_not_carried),
        Slip("optimizer-ignored", "plain gradient descent where Adam was declared", _plain_sgd),
    ),
    "sgd-momentum": (
        Slip("momentum-not-carried", "SGD whose momentum buffer is not carried from step to step (restarted at "
             "every step, or a fresh optimizer made per step): plain gradient descent", _plain_sgd),
    ),
}


def unexplained(path: list[Mapping[str, np.ndarray]], grads: list[Mapping[str, np.ndarray]], optimizer: Optimizer,
                rule: Rule) -> float:
    """The share of the path's movement that ``rule`` does not explain (0: every step exactly as the rule takes it)."""
    names = sorted(path[0])
    state = initial_state(optimizer, {k: np.asarray(path[0][k], np.float64) for k in names})
    left = moved = 0.0
    for t in range(len(grads)):
        here = {k: np.asarray(path[t][k], np.float64) for k in names}
        there = {k: np.asarray(path[t + 1][k], np.float64) for k in names}
        predicted, state = rule(optimizer, here, {k: np.asarray(grads[t][k], np.float64) for k in names}, state, t + 1)
        left += sum(float(np.sum(np.square(there[k] - predicted[k]))) for k in names)
        moved += sum(float(np.sum(np.square(there[k] - here[k]))) for k in names)
    return np.sqrt(left / moved) if moved > 0 else np.inf


def name_slip(path: list[Mapping[str, np.ndarray]], grads: list[Mapping[str, np.ndarray]],
              optimizer: Optimizer) -> Diagnosis | None:
    """The slip ``path`` (parameters before each step and after the last) follows, given the gradients
    at each of its points; None when no slip explains it ten times better than the declared rule."""
    declared = unexplained(path, grads, optimizer, update)
    if not np.isfinite(declared):
        return None
    best, slip = min(((unexplained(path, grads, optimizer, slip.rule), slip) for slip in SLIPS[optimizer.kind]),
                     key=lambda fit: fit[0])
    if not best <= declared / 10:
        return None
    return Diagnosis(slip.code, f"the parameters follow {slip.text} (it leaves {best:.2g} of the movement "
                                f"unexplained, the declared {optimizer.kind} rule {declared:.2g})")
