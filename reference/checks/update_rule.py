"""Name the update rule a training run follows, when it is not plain gradient descent at the asked lr.

The implementation's own parameter path (``parameters()`` after every step) is fitted against the
rules torch.optim's SGD and its step schedulers, and optax's basic transforms, can express. With
``d_t = w_t - w_{t+1}`` and ``g_t`` the reference's gradient at the implementation's own ``w_t``:

- one rule for every step, ``d_t = a g_t + b d_{t-1} + c w_t``: plain SGD at lr ``a`` (the
  asked lr, float32's rounding of it, or another), momentum ``b`` (with dampening ``1 - a/lr``),
  weight decay ``c/a``;
- a learning rate that changes between steps, ``d_t = a_t g_t``: a step or exponential schedule.

A fit counts when what it leaves unexplained is within a 1e-4 share of the movement plus the
parameters' own rounding (three times u * |w| per entry, u of the precision computed in);
steps that move the parameters by less than 1e4 times that rounding say too little about their
learning rate and are left out of the schedule's fit, which reads a change of 0.1% or more. Otherwise the diagnosis says
plainly that no rule fits.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from reference.checks.diagnose import Diagnosis
from reference.model import network

#: Share of the parameters' movement a fitted rule may leave unexplained.
UNEXPLAINED = 1e-4
NONE_FITS = ("no update rule of torch.optim's SGD (learning rate, momentum, dampening, weight decay) or of a step "
             "or exponential schedule fits the parameter path")


def name_update_rule(path: list[Mapping[str, np.ndarray]], x: np.ndarray, y: np.ndarray, lr: float,
                     u: float) -> Diagnosis | None:
    """The rule ``path`` (parameters before the first step and after each) follows, or None if plain SGD at ``lr`` fits.

    ``u``: the unit roundoff the parameters were computed and stored in.
    """
    names = sorted(path[0])
    w = [np.concatenate([np.ravel(p[k]) for k in names]) for p in path]
    if not all(np.all(np.isfinite(v)) for v in w):
        return None
    d = [w[t] - w[t + 1] for t in range(len(w) - 1)]
    if not any(np.any(dt) for dt in d):
        return None  # nothing moves: diagnose_training names a missing update
    g = [np.concatenate([np.ravel(grad) for _, grad in sorted(network.loss_and_grads(x, y, p)[1].items())])
         for p in path[:-1]]
    rounding = [9 * u**2 * (np.dot(w[t], w[t]) + np.dot(w[t + 1], w[t + 1])) for t in range(len(d))]
    one_rule = _one_rule(d, g, w, rounding)
    if one_rule is not None:
        return _describe(*one_rule, lr)
    return _schedule(d, g, lr, rounding) or Diagnosis("update-rule", NONE_FITS)


def name_one_step(start: Mapping[str, np.ndarray], after: Mapping[str, np.ndarray], grads: Mapping[str, np.ndarray],
                  lr: float, u: float) -> Diagnosis | None:
    """The rule one step from ``start`` to ``after`` follows, ``grads`` being the gradients it should use:
    ``d = a g + c w`` (another or float32's learning rate, weight decay); None if no such rule fits."""
    names = sorted(start)
    w0, w1, g0 = ([np.concatenate([np.ravel(p[k]) for k in names])] for p in (start, after, grads))
    d = [w0[0] - w1[0]]
    coefficients = _fit(d, [[g0[0], w0[0]]], [9 * u**2 * (np.dot(w0[0], w0[0]) + np.dot(w1[0], w1[0]))])
    return None if coefficients is None else _describe(coefficients[0], 0.0, coefficients[1], lr)


def _one_rule(d, g, w, rounding):
    """(a, b, c) with d_t = a g_t + b d_{t-1} + c w_t for every step, or None if no such constants fit."""
    return _fit(d[1:], [[g[t], d[t - 1], w[t]] for t in range(1, len(d))], rounding[1:])


def _fit(targets, columns, rounding):
    """Constants k with targets[t] = sum(k_i * columns[t][i]) for every t, or None if they leave more
    unexplained than a UNEXPLAINED share of the targets plus their rounding.

    A term after the first whose whole contribution is within the rounding is fitted noise (a
    momentum or weight decay read into float32's last digits): it is dropped and the rest refitted.
    """
    width = len(columns[0])
    norms = np.array([max(np.sqrt(sum(np.dot(c[i], c[i]) for c in columns)), 1e-300) for i in range(width)])
    gram = sum(np.array([[np.dot(a, b) for b in c] for a in c]) for c in columns) / np.outer(norms, norms)
    rhs = sum(np.array([np.dot(a, target) for a in c]) for target, c in zip(targets, columns)) / norms
    coefficients = np.linalg.lstsq(gram, rhs, rcond=None)[0] / norms
    left = sum(np.sum(np.square(target - sum(k * col for k, col in zip(coefficients, c))))
               for target, c in zip(targets, columns))
    total = sum(np.sum(np.square(target)) for target in targets)
    if left > UNEXPLAINED**2 * total + sum(rounding):
        return None
    for i in range(1, width):
        if coefficients[i] and (coefficients[i] * norms[i]) ** 2 <= sum(rounding):
            rest = _fit(targets, [c[:i] + c[i + 1:] for c in columns], rounding)
            if rest is not None:
                return (*rest[:i], 0.0, *rest[i:])
    return tuple(coefficients)


def _describe(a: float, b: float, c: float, lr: float) -> Diagnosis | None:
    if a <= 0:
        return None  # a step up the gradient, or none: diagnose_training names those
    decay = c / a
    momentum = abs(b) > 1e-4
    if not momentum and abs(decay) * lr < 1e-9 and abs(a / lr - 1) < 1e-9:
        return None  # plain gradient descent at the asked lr: the curve left for another reason
    lr32 = float(np.float32(lr))
    if not momentum and abs(decay) * lr < 1e-9:
        if lr32 != lr and abs(a - lr32) < abs(lr32 - lr) / 10:
            return Diagnosis("lr-float32", f"the parameters follow plain gradient descent at lr {a:.9g}: the {lr:g} "
                                           f"asked for, rounded to float32 ({lr32!r}), as keras's SGD holds it")
        return Diagnosis("lr-mismatch", f"the parameters follow plain gradient descent at lr {a:.4g} "
                                        f"({a / lr:.4g} x the {lr:g} asked for)")
    parts = []
    if momentum:
        dampening = 1 - a / lr
        parts.append(f"momentum {b:.3g} at lr {lr:g}" + (f", dampening {dampening:.3g}" if abs(dampening) > 1e-3 else ""))
    else:
        parts.append(f"lr {a:.4g}")
    if abs(decay) * lr >= 1e-9:
        parts.append(f"weight decay {decay:.3g}")
    code = "momentum" if momentum else "weight-decay"
    return Diagnosis(code, f"the parameters follow SGD with {' and '.join(parts)}, where plain gradient descent at "
                           f"lr {lr:g} was asked for")


def _schedule(d, g, lr: float, rounding) -> Diagnosis | None:
    """A learning rate that changes between steps, each step plain SGD: a step or exponential schedule."""
    steps, rates = [], []
    for t, (dt, gt) in enumerate(zip(d, g)):
        moved = np.dot(dt, dt)
        if moved < 1e8 * rounding[t]:
            continue  # moved too little for its rate to be read to 1e-4
        a = np.dot(dt, gt) / np.dot(gt, gt)
        if np.sum(np.square(dt - a * gt)) > UNEXPLAINED**2 * moved + rounding[t]:
            return None
        steps.append(t)
        rates.append(a)
    if len(rates) < 3:
        return None
    changes = [steps[i] for i in range(1, len(rates)) if abs(rates[i] / rates[i - 1] - 1) > 1e-3]
    rates = dict(zip(steps, rates))
    if not changes:
        return None
    first, last = steps[0], steps[-1]
    if len(changes) >= len(steps) - 2:
        gamma = (rates[last] / rates[first]) ** (1 / (last - first))
        return Diagnosis("schedule", f"the learning rate shrinks by {gamma:.4g} every step from {rates[first]:.4g}: "
                                     f"an exponential schedule (ExponentialLR(gamma={gamma:.4g})) on lr {lr:g}")
    every = changes[0]
    before = max(t for t in steps if t < every)
    gamma = rates[every] / rates[before]
    return Diagnosis("schedule", f"the learning rate is {rates[first]:.4g} for {every} steps, then {rates[every]:.4g} "
                                 f"(x {gamma:.4g}) at step{'s' if len(changes) > 1 else ''} "
                                 f"{', '.join(map(str, changes[:4]))}: a step schedule (StepLR(step_size={every}, "
                                 f"gamma={gamma:.4g})) where a constant lr {lr:g} was asked for")
