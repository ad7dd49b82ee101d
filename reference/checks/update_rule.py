"""Fit the SGD family to a parameter path: the rule a run follows, when it is not the declared one.

The implementation's own parameter path (``parameters()`` after every step) is fitted against the
rules torch.optim's SGD and its step schedulers, and optax's basic transforms, can express. With
``d_t = w_t - w_{t+1}`` and ``g_t`` the reference's gradient at the implementation's own ``w_t``:

- one rule for every step, ``d_t = a g_t + b d_{t-1} + c g_{t-1} + e w_t``, the fewest terms that
  explain the path: plain SGD at lr ``a`` (the asked lr, float32's rounding of it, or another),
  momentum ``b`` (with dampening ``1 - a/lr``, lr read from the first step), Nesterov momentum
  (``c = -lr b``), weight decay ``e/a``;
- a learning rate that changes between steps, ``d_t = a_t g_t``: gradients clipped to a total norm
  (``a_t |g_t|`` constant wherever ``a_t`` is below the lr), a step or an exponential schedule.

A fit counts when what it leaves unexplained is within a 1e-4 share of the movement plus the
parameters' own rounding (three times u * |w| per entry, u of the precision computed in);
steps that move the parameters by less than 1e4 times that rounding say too little about their
learning rate and are left out of the per-step fits, which read a change of 0.1% or more. Otherwise
no rule of the family fits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from reference.checks.diagnose import Diagnosis
from reference.problem.optimizers import Optimizer

#: Share of the parameters' movement a fitted rule may leave unexplained.
UNEXPLAINED = 1e-4
#: The one-rule fits, fewest terms first: g_t, then d_{t-1} (momentum), g_{t-1} (Nesterov), w_t (weight decay).
TERMS = ((0,), (0, 3), (0, 1), (0, 1, 3), (0, 1, 2), (0, 1, 2, 3))


@dataclass(frozen=True)
class Fit:
    """A rule that explains a path: ``code`` the diagnosis it names (None: the declared rule), ``text`` the rule."""

    code: str | None
    text: str


def flat(point: Mapping[str, np.ndarray], names: Sequence[str]) -> np.ndarray:
    return np.concatenate([np.ravel(np.asarray(point[k], np.float64)) for k in names])


def rounding(w: list[np.ndarray], u: float) -> list[float]:
    """Each step's allowance for the parameters' own rounding: (3 u |w|)**2 summed over its two ends."""
    return [9 * u**2 * (np.dot(w[t], w[t]) + np.dot(w[t + 1], w[t + 1])) for t in range(len(w) - 1)]


def explains(left: float, moved: float, allowance: float) -> bool:
    """Whether ``left`` (the squared movement a rule leaves unexplained) is within the bound."""
    return left <= UNEXPLAINED**2 * moved + allowance


def declared_rule(optimizer: Optimizer) -> str:
    if optimizer.kind == "sgd":
        return f"plain gradient descent at lr {optimizer.lr:g}"
    if optimizer.kind == "sgd-momentum":
        return f"SGD with momentum {optimizer.momentum:g} at lr {optimizer.lr:g}"
    return f"Adam with betas {optimizer.betas} at lr {optimizer.lr:g}"


def fit_sgd_family(w: list[np.ndarray], g: list[np.ndarray], optimizer: Optimizer, u: float) -> Fit | None:
    """The SGD-family rule the path ``w`` (flat parameters before each step and after the last) follows, ``g``
    the reference's gradients at ``w[:-1]``; None if none fits. ``u``: the unit roundoff computed in."""
    d = [w[t] - w[t + 1] for t in range(len(w) - 1)]
    allowance = rounding(w, u)
    first_rate = float(np.dot(d[0], g[0]) / max(np.dot(g[0], g[0]), 1e-300))
    if not explains(float(np.sum(np.square(d[0] - first_rate * g[0]))), float(np.dot(d[0], d[0])), allowance[0]):
        first_rate = None  # the first step is not along the gradient: its rate says nothing
    if len(d) > 2:
        equations = _normal_equations(d[1:], [[g[t], d[t - 1], g[t - 1], w[t]] for t in range(1, len(d))])
        for terms in TERMS:
            found = _fit(equations, terms, sum(allowance[1:]))
            if found is not None:
                coefficients = dict.fromkeys(range(4), 0.0) | dict(zip(terms, found))
                return describe(*coefficients.values(), first_rate, optimizer)
    return _per_step_rates(d, g, optimizer, allowance)


def name_one_step(start: Mapping[str, np.ndarray], after: Mapping[str, np.ndarray], grads: Mapping[str, np.ndarray],
                  lr: float, u: float) -> Diagnosis | None:
    """The rule one step from ``start`` to ``after`` follows, ``grads`` being the gradients it should use:
    ``d = a g + e w`` (another or float32's learning rate, weight decay); None if no such rule fits."""
    names = sorted(start)
    w0, w1, g0 = (flat(p, names) for p in (start, after, grads))
    found = _fit(_normal_equations([w0 - w1], [[g0, w0]]), (0, 1), sum(rounding([w0, w1], u)))
    optimizer = Optimizer("sgd", lr)
    fit = None if found is None else describe(found[0], 0.0, 0.0, found[1], found[0], optimizer)
    return None if fit is None or fit.code is None else Diagnosis(fit.code, (
        f"the parameters follow {fit.text}, where {declared_rule(optimizer)} was asked for"))


def _normal_equations(targets, columns) -> tuple[np.ndarray, np.ndarray, float]:
    """The sums sum_t c_i . c_j, sum_t c_i . target and sum_t |target|**2 that every fit on these columns needs."""
    gram = sum(np.array([[np.dot(a, b) for b in c] for a in c]) for c in columns)
    rhs = sum(np.array([np.dot(a, target) for a in c]) for target, c in zip(targets, columns))
    return gram, rhs, float(sum(np.dot(target, target) for target in targets))


def _fit(equations, terms, allowance):
    """Constants k with targets[t] = sum(k_i * columns[t][i]) over the columns ``terms`` for every t, or None if
    they leave more unexplained than a UNEXPLAINED share of the targets plus their rounding.

    A term after the first whose whole contribution is within the rounding is fitted noise (a
    momentum or weight decay read into float32's last digits): it is dropped and the rest refitted.
    """
    gram, rhs, total = equations
    index = np.array(terms)
    norms = np.sqrt(np.maximum(np.diag(gram)[index], 1e-300))
    sub = gram[np.ix_(index, index)] / np.outer(norms, norms)
    coefficients = np.linalg.lstsq(sub, rhs[index] / norms, rcond=None)[0] / norms
    left = total - 2 * coefficients @ rhs[index] + coefficients @ gram[np.ix_(index, index)] @ coefficients
    if not explains(left, total, allowance):
        return None
    for i in range(1, len(terms)):
        if coefficients[i] and (coefficients[i] * norms[i]) ** 2 <= allowance:
            rest = _fit(equations, terms[:i] + terms[i + 1:], allowance)
            if rest is not None:
                return (*rest[:i], 0.0, *rest[i:])
    return tuple(coefficients)


def describe(a: float, b: float, c: float, e: float, first_rate: float | None, optimizer: Optimizer) -> Fit | None:
    """The rule ``d_t = a g_t + b d_{t-1} + c g_{t-1} + e w_t`` in torch.optim's terms, named against the declared
    one; None for a step up the gradient or none (diagnose_training names those)."""
    if a <= 0:
        return None
    if abs(b) <= 1e-4:
        return _plain(a, e / a, optimizer)
    nesterov = c != 0
    lr = -c / b if nesterov else first_rate or a
    dampening = 1 - (a - lr) / (lr * b) if nesterov else 1 - a / lr
    decay = e / a
    text = (f"SGD with {'Nesterov ' if nesterov else ''}momentum {b:.3g} at lr {lr:.4g}"
            + (f", dampening {dampening:.3g}" if abs(dampening) > 1e-3 else "")
            + (f" and weight decay {decay:.3g}" if abs(decay) * lr >= 1e-9 else ""))
    if optimizer.kind != "sgd-momentum":
        return Fit({"sgd": "nesterov" if nesterov else "momentum", "adam": "optimizer-ignored"}[optimizer.kind], text)
    departures = [("nesterov", nesterov), ("momentum-coefficient", abs(b - optimizer.momentum) > 1e-3),
                  ("momentum-dampening", abs(dampening) > 1e-3), ("weight-decay", abs(decay) * lr >= 1e-9),
                  ("lr-mismatch", abs(lr / optimizer.lr - 1) > 1e-3)]
    return Fit(next((code for code, departs in departures if departs), None), text)


def _plain(a: float, decay: float, optimizer: Optimizer) -> Fit | None:
    """Plain gradient descent at lr ``a`` with weight decay ``decay``, named against the declared rule."""
    lr = optimizer.lr
    other = {"sgd-momentum": "momentum-not-carried", "adam": "optimizer-ignored"}.get(optimizer.kind)
    if abs(decay) * lr >= 1e-9:
        return Fit(other or "weight-decay", f"SGD with lr {a:.4g} and weight decay {decay:.3g}")
    if other:
        return Fit(other, f"plain gradient descent at lr {a:.4g}")
    if abs(a / lr - 1) < 1e-9:
        return Fit(None, declared_rule(optimizer))
    lr32 = float(np.float32(lr))
    if lr32 != lr and abs(a - lr32) < abs(lr32 - lr) / 10:
        return Fit("lr-float32", f"plain gradient descent at lr {a:.9g}: the {lr:g} asked for, rounded to float32 "
                                 f"({lr32!r}), as keras's SGD holds it")
    return Fit("lr-mismatch", f"plain gradient descent at lr {a:.4g} ({a / lr:.4g} x the {lr:g} asked for)")


def _per_step_rates(d, g, optimizer: Optimizer, allowance) -> Fit | None:
    """Each step plain SGD at a rate of its own: gradients clipped to a norm, or a step or exponential schedule."""
    steps, rates = [], []
    for t, (dt, gt) in enumerate(zip(d, g)):
        moved = np.dot(dt, dt)
        if moved < 1e8 * allowance[t]:
            continue  # moved too little for its rate to be read to 1e-4
        a = np.dot(dt, gt) / np.dot(gt, gt)
        if not explains(np.sum(np.square(dt - a * gt)), moved, allowance[t]):
            return None
        steps.append(t)
        rates.append(a)
    if len(rates) < 3 or all(abs(rates[i] / rates[i - 1] - 1) <= 1e-3 for i in range(1, len(rates))):
        return None
    norms = [float(np.linalg.norm(g[t])) for t in steps]
    return _clipping(rates, norms, optimizer.lr) or _schedule(dict(zip(steps, rates)), optimizer.lr)


def _clipping(rates, norms, lr: float) -> Fit | None:
    """Rates lr * min(1, C / |g_t|): the gradient clipped to total norm C (torch's clip_grad_norm_)."""
    clipped = [a * n / lr for a, n in zip(rates, norms) if a < lr * (1 - 1e-3)]
    if not clipped:
        return None
    bound = float(np.median(clipped))
    if not all(abs(a / (lr * min(1.0, bound / n)) - 1) <= 1e-3 for a, n in zip(rates, norms)):
        return None
    return Fit("clipping", f"gradient descent at lr {lr:g} on gradients clipped to total norm {bound:.4g} "
                           f"(clip_grad_norm_(max_norm={bound:.4g}))")


def _schedule(rates: dict[int, float], lr: float) -> Fit | None:
    """A step schedule (the rate constant between drops) or an exponential one (a constant factor every step)."""
    steps = sorted(rates)
    changes = [steps[i] for i in range(1, len(steps)) if abs(rates[steps[i]] / rates[steps[i - 1]] - 1) > 1e-3]
    first, last = steps[0], steps[-1]
    if len(changes) >= len(steps) - 2:
        gamma = (rates[last] / rates[first]) ** (1 / (last - first))
        if not all(abs(rates[t] / (rates[first] * gamma ** (t - first)) - 1) <= 1e-3 for t in steps):
            return None
        return Fit("schedule", f"a learning rate that shrinks by {gamma:.4g} every step from {rates[first]:.4g}: "
                               f"an exponential schedule (ExponentialLR(gamma={gamma:.4g})) on lr {lr:g}")
    every = changes[0]
    before = max(t for t in steps if t < every)
    gamma = rates[every] / rates[before]
    return Fit("schedule", f"a learning rate of {rates[first]:.4g} for {every} steps, then {rates[every]:.4g} "
                           f"(x {gamma:.4g}) at step{'s' if len(changes) > 1 else ''} "
                           f"{', '.join(map(str, changes[:4]))}: a step schedule (StepLR(step_size={every}, "
                           f"gamma={gamma:.4g})) where a constant lr {lr:g} was asked for")
