"""Name the rule a training run follows when it leaves its declared rule: a hypothesis that explains the path.

The implementation's own parameter path is replayed step by step (each step from its own
parameters, with the reference's gradients there) under hypotheses. A hypothesis names the
diagnosis only when what it leaves unexplained is within update_rule's absolute bound (a 1e-4
share of the movement plus the parameters' own rounding), never for explaining more than the
declared rule does. The hypotheses, in stages, the first stage with one that explains deciding:

1. the declared rule, and the tutorials' slips with the contract's coefficients (SLIPS);
2. the declared family with its coefficients free: for SGD and momentum update_rule's fit (lr,
   momentum, dampening, Nesterov, weight decay, clipping, schedules); for Adam its lr and betas,
   fitted by a search over log(1 - beta), under each of its forms (bias correction on or off, eps
   inside or outside the square root, state carried or not; the declared form first, the first form
   that explains naming it), and plain SGD's family.

Before fitting, what the path shows directly: parameters that never move while their gradient
is not zero, and first steps that move nothing; the rest of the path is fitted alone. Two
hypotheses with different names that explain the same path name neither.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Mapping

import numpy as np

from reference.checks.diagnose import Diagnosis
from reference.checks.update_rule import Fit, declared_rule, explains, fit_sgd_family, flat, rounding
from reference.model.optimizers import Params, adam_moments, bias_corrected, initial_state, update
from reference.problem.optimizers import Optimizer

Rule = Callable[[Optimizer, Params, Params, dict, int], tuple[Params, dict]]
#: Entries Adam's betas are searched on: its rule acts entry by entry, so a sample's fit is the whole's on it.
SEARCH_ENTRIES = 2048


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
#: Adam's forms: the declared one (code None) and each slip of its form, whose betas and lr are fitted.
ADAM_FORMS: dict[str | None, tuple[str, Rule]] = {
    None: ("Adam", update),
    "adam-bias-correction": ("Adam without bias correction", _without_bias_correction),
    "adam-eps-inside": ("Adam with eps under the square root", _eps_inside),
    "adam-state-not-carried": ("Adam whose state is not carried between steps", _state_not_carried),
}


def _residual(path: list[Mapping[str, np.ndarray]], grads: list[Mapping[str, np.ndarray]], optimizer: Optimizer,
              rule: Rule) -> tuple[float, float, list[float]]:
    """What ``rule`` leaves unexplained of the path's squared movement, that movement, and each step's
    ``rule`` steps (d_t . p_t, p_t . p_t, for an lr fitted on top: a rule linear in the lr)."""
    names = sorted(path[0])
    state = initial_state(optimizer, {k: np.asarray(path[0][k], np.float64) for k in names})
    left = moved = along = own = 0.0
    for t in range(len(grads)):
        here = {k: np.asarray(path[t][k], np.float64) for k in names}
        there = {k: np.asarray(path[t + 1][k], np.float64) for k in names}
        predicted, state = rule(optimizer, here, {k: np.asarray(grads[t][k], np.float64) for k in names}, state, t + 1)
        for k in names:
            d, p = here[k] - there[k], here[k] - predicted[k]
            left += float(np.sum(np.square(d - p)))
            moved += float(np.sum(np.square(d)))
            along += float(np.sum(d * p))
            own += float(np.sum(p * p))
    return left, moved, [along, own]


def unexplained(path: list[Mapping[str, np.ndarray]], grads: list[Mapping[str, np.ndarray]], optimizer: Optimizer,
                rule: Rule) -> float:
    """The share of the path's movement that ``rule`` does not explain (0: every step exactly as the rule takes it)."""
    left, moved, _ = _residual(path, grads, optimizer, rule)
    return np.sqrt(left / moved) if moved > 0 else np.inf


def name_slip(path: list[Mapping[str, np.ndarray]], grads: list[Mapping[str, np.ndarray]], optimizer: Optimizer,
              u: float) -> Diagnosis | None:
    """What ``path`` (parameters before each step and after the last, computed with unit roundoff ``u``) follows,
    given the reference's gradients at each of its points; None where it follows the declared rule, or where
    nothing moves (diagnose_training names a missing update)."""
    finite = next((t for t, p in enumerate(path) if not all(np.all(np.isfinite(v)) for v in p.values())), len(path))
    path, grads = path[:finite], grads[:finite - 1]
    names = sorted(path[0]) if len(path) > 1 else []
    moving = [k for k in names if any(np.any(p[k] != path[0][k]) for p in path[1:])]
    if not moving:
        return None
    frozen = [k for k in names if k not in moving and any(np.any(g[k]) for g in grads)]
    skipped = next(t for t in range(len(grads)) if any(np.any(path[t + 1][k] != path[t][k]) for k in moving))
    if sum(float(np.sum((path[skipped][k] - path[skipped + 1][k]) * grads[skipped][k])) for k in moving) <= 0:
        return None  # the first step goes up the gradient: diagnose_training names that
    kept = [{k: p[k] for k in moving} for p in path[skipped:]], [{k: g[k] for k in moving} for g in grads[skipped:]]
    fits = _fits(*kept, optimizer, u)
    return _diagnosis(fits, frozen, moving, skipped, optimizer)


def _fits(path, grads, optimizer: Optimizer, u: float) -> list[Fit]:
    """The hypotheses of the first stage that has any explaining the path."""
    names = sorted(path[0])
    w = [flat(p, names) for p in path]
    allowance = sum(rounding(w, u))
    slips = SLIPS.get(optimizer.kind, ())
    rules = [(None, declared_rule(optimizer), update)] + [(slip.code, slip.text, slip.rule) for slip in slips]
    fixed = [Fit(code, text) for code, text, rule in rules
             if explains(*_residual(path, grads, optimizer, rule)[:2], allowance)]
    if any(fit.code is None for fit in fixed):
        return [Fit(None, declared_rule(optimizer))]
    if fixed:
        return fixed
    g = [flat(p, names) for p in grads]
    family = [fit for fit in (fit_sgd_family(w, g, optimizer, u),) if fit is not None]
    if optimizer.kind == "adam":
        family += _fit_adam(w, g, optimizer, allowance)
    return family


def _observed(frozen: list[str], moving: list[str], skipped: int) -> list[str]:
    """What the path shows without a rule: parameters that never move, first steps that move nothing."""
    seen = []
    if frozen:
        gradients = "its gradient is" if len(frozen) == 1 else "their gradients are"
        seen.append(f"step() never moves {', '.join(frozen)} ({gradients} not zero) while {', '.join(moving)} "
                    f"move{'s' if len(moving) == 1 else ''}")
    if skipped:
        seen.append(f"the first {'step() call moves' if skipped == 1 else f'{skipped} step() calls move'} nothing")
    return seen


def _diagnosis(fits: list[Fit], frozen: list[str], moving: list[str], skipped: int,
               optimizer: Optimizer) -> Diagnosis | None:
    observed = _observed(frozen, moving, skipped)
    if len({fit.code for fit in fits}) > 1:
        return Diagnosis("update-rule", "; ".join(observed + [
            f"the path fits {' and '.join(fit.text for fit in fits)} alike: the steps cannot tell them apart"]))
    if not fits:
        family = "SGD" if optimizer.kind == "sgd" else optimizer.kind
        return Diagnosis("update-rule", "; ".join(observed + [
            f"the parameters leave the path of {declared_rule(optimizer)}, and no rule of {family}'s family (its "
            "coefficients free, its known variants, clipping, schedules) explains the steps: no known mistake does"]))
    fit = fits[0]
    rest = fit.text if fit.code else f"the declared rule ({fit.text})"
    if frozen:
        return Diagnosis("update-skips-parameter", f"{observed[0]}: the update leaves {', '.join(frozen)} out; "
                                                   f"{', '.join(moving)} follow{'s' if len(moving) == 1 else ''} {rest}")
    if skipped:
        return Diagnosis("first-step-skipped", f"{observed[0]}: the first step is skipped, and from the next on "
                                               f"the parameters follow {rest}")
    if fit.code is None:
        return None
    return Diagnosis(fit.code, f"the parameters follow {fit.text}, where {declared_rule(optimizer)} was declared")


def _fit_adam(w: list[np.ndarray], g: list[np.ndarray], optimizer: Optimizer, allowance: float) -> list[Fit]:
    """The first of Adam's forms (the declared one first) that explains the path with its lr and betas fitted."""
    from scipy.optimize import minimize  # only a failing Adam run is fitted: a passing verdict never pays its import
    sample = np.random.default_rng(0).permutation(len(w[0]))[:SEARCH_ENTRIES]
    grid = [(s1, s2) for s1 in np.linspace(-0.3, -3, 7) for s2 in np.linspace(-1, -4.5, 6)]
    for code, (name, rule) in ADAM_FORMS.items():
        def share(s):
            left, moved, _ = _adam_residual(w, g, optimizer, rule, _betas(s), sample)
            return left / max(moved, 1e-300)

        def explained(s):
            return explains(*_adam_residual(w, g, optimizer, rule, _betas(s), slice(None))[:2], allowance)
        s = minimize(share, min(grid, key=share), method="Nelder-Mead", options={"xatol": 1e-5, "maxiter": 120}).x
        s = _snapped(s, optimizer, explained)
        left, moved, lr = _adam_residual(w, g, optimizer, rule, _betas(s), slice(None))
        if explains(left, moved, allowance):
            # eps's place, say, cannot show where |g| is far above sqrt(eps): the declared form is then kept.
            return [_adam_fit(code, name, _betas(s), lr, optimizer)]
    return []


def _betas(s) -> tuple[float, float]:
    """Betas from their log10(1 - beta): a search in that space resolves 0.9 from 0.99 and 0.999 from 0.9999."""
    return tuple(float(1 - 10.0 ** min(x, 0.0)) for x in s)


def _snapped(s, optimizer: Optimizer, explained: Callable[[np.ndarray], bool]) -> np.ndarray:
    """``s`` with each fitted beta put back to the declared one where that explains the path as well."""
    for i in range(2):
        declared = np.array(s, float)
        declared[i] = np.log10(1 - optimizer.betas[i])
        if explained(declared):
            s = declared
    return np.asarray(s)


def _adam_residual(w, g, optimizer: Optimizer, rule: Rule, betas, entries) -> tuple[float, float, float]:
    """What ``rule`` at ``betas`` with its lr fitted leaves of the path's squared movement on ``entries``, the
    movement, and the lr."""
    path = [{"w": v[entries]} for v in w]
    grads = [{"w": v[entries]} for v in g]
    _, moved, (along, own) = _residual(path, grads, replace(optimizer, betas=betas, lr=1.0), rule)
    lr = along / own if own > 0 else 0.0
    return max(moved - lr * along, 0.0), moved, lr


def _adam_fit(code: str | None, name: str, betas, lr: float, optimizer: Optimizer) -> Fit:
    other_betas = any(abs(np.log10((1 - b) / (1 - d))) > 0.01 for b, d in zip(betas, optimizer.betas))
    other_lr = abs(lr / optimizer.lr - 1) > 1e-3
    text = f"{name} with betas ({betas[0]:.4g}, {betas[1]:.4g}) at lr {lr:.4g}"
    if code is None and other_betas:
        swapped = all(abs(np.log10((1 - b) / (1 - d))) <= 0.01 for b, d in zip(betas, optimizer.betas[::-1]))
        code = "adam-betas-swapped" if swapped else "adam-betas"
    return Fit(code or ("lr-mismatch" if other_lr else None), text)
