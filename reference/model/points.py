"""The inputs each check starts from: a named shape, with or without bias, at a point of training.

Points lie along the reference's own gradient-descent path, so that a result computed from
stale or cached parameters shows as a disagreement at the later point.
"""

from __future__ import annotations

from dataclasses import replace
from functools import cache

import numpy as np

from reference.model import network, optimizers, store
from reference.model.margin import make_inputs, with_kink_margin
from reference.problem.cases import POINTS, SHAPES, TUTORIAL_LR
from reference.problem.inputs import Inputs
from reference.problem.optimizers import Optimizer


def stable_lr(inputs: Inputs) -> float:
    """The tutorial's lr, or less where the curvature along w2, 2 * ||relu(h)||_2 ** 2, would make it diverge."""
    h_relu = network.forward(inputs.x, inputs.params)[1]
    return min(TUTORIAL_LR, 1.0 / (2.0 * np.linalg.norm(h_relu, 2) ** 2))


def trajectory_points(inputs: Inputs, steps: tuple[int, ...] = POINTS) -> list[Inputs]:
    """Parameter points along the reference's gradient-descent path, each with the kink margin restored."""
    _, trajectory = optimizers.train(inputs, Optimizer("sgd", stable_lr(inputs)), max(steps))
    return [with_kink_margin(inputs.with_params(trajectory[k])) for k in steps]


@cache
def inputs_at(shape: str, bias: bool, point: int = 0) -> Inputs:
    """Inputs for ``SHAPES[shape]`` with or without bias, ``point`` reference steps into training
    (cached in memory, and on disk between processes: reference.model.store)."""
    arrays = store.kept("inputs", (shape, str(bias), str(point)), lambda: _computed(shape, bias, point))
    x, y = arrays.pop("x"), arrays.pop("y")
    return Inputs(x, y, arrays)


def _computed(shape: str, bias: bool, point: int) -> dict[str, np.ndarray]:
    start = make_inputs(replace(SHAPES[shape], bias=bias))
    inputs = start if point == 0 else trajectory_points(start, steps=(point,))[0]
    return {"x": inputs.x, "y": inputs.y, **inputs.params}
