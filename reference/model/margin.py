"""The kink margin: inputs moved just enough that no rounding can carry a pre-activation across 0.

Every pre-activation entry keeps |h| >= KINK_MARGIN * scale(h), where scale(h) = |x| @ |w1| + |b1|
bounds what rounding can do to h. float32's worst-case error on h is (D_in + 1) * 2**-24 * scale(h),
6e-5 * scale(h) at D_in = 1000, so with a margin of 1e-3 no float32 or float64 implementation can
land on the other side of the ReLU kink from the reference for D_in up to ~16000.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from reference.model.network import forward
from reference.problem.inputs import Inputs, Problem, draw

KINK_MARGIN = 1e-3


def pre_activation(inputs: Inputs) -> tuple[np.ndarray, np.ndarray]:
    """h and scale(h) = |x| @ |w1| + |b1|, the bound on what rounding can do to h (up to a factor)."""
    absolute = {name: np.abs(value) for name, value in inputs.params.items()}
    return forward(inputs.x, inputs.params)[0], forward(np.abs(inputs.x), absolute)[0]


def make_inputs(problem: Problem) -> Inputs:
    """``draw(problem)``, moved just enough that every |h| keeps the documented ``KINK_MARGIN``."""
    for attempt in range(20):
        inputs = draw(replace(problem, seed=problem.seed + 1000 * attempt))
        try:
            return with_kink_margin(inputs)
        except ValueError:
            continue
    raise ValueError(f"could not draw inputs for {problem.id} with every |h| >= {KINK_MARGIN} * scale(h)")


def kink_margin_ok(inputs: Inputs) -> bool:
    h, scale = pre_activation(inputs)
    return bool(np.all(np.abs(h) >= KINK_MARGIN * scale))


def with_kink_margin(inputs: Inputs) -> Inputs:
    """Push every |h| below the margin out to twice the margin, keeping its sign.

    Each row of x with short entries moves by the smallest vector that shifts exactly those
    entries of its row of h (least squares on the corresponding columns of w1); the other
    entries move a little too, so this repeats until the margin holds. x moves by about the
    margin, far less than its own spread. Raises ValueError when it does not converge (only
    for D_in smaller than the number of short entries in a row, e.g. D_in = 1).
    """
    x, w1 = inputs.x.copy(), inputs.params["w1"]
    moved = replace(inputs, x=x)
    for _ in range(10):
        h, scale = pre_activation(moved)
        short = np.abs(h) < KINK_MARGIN * scale
        if not short.any():
            return moved
        target = np.where(h < 0, -2.0, 2.0) * KINK_MARGIN * scale
        for i in np.flatnonzero(short.any(axis=1)):
            cols = short[i]
            x[i] += np.linalg.lstsq(w1[:, cols].T, target[i, cols] - h[i, cols], rcond=None)[0]
    raise ValueError("kink margin could not be enforced")
