"""The shapes every implementation is checked at, and the inputs for each check (cached)."""

from __future__ import annotations

from dataclasses import replace
from functools import cache

from reference.checks import trajectory_points
from reference.problem import Inputs, Problem, make_inputs

#: Each shape is there to catch something the tutorial's shape hides.
SHAPES: dict[str, Problem] = {
    "tutorial": Problem(),                                    # the tutorials' 64, 1000, 100, 10
    "batch1": Problem(N=1, D_in=1000, H=100, D_out=10),       # a batch of one: sums over N vanish
    "hidden1": Problem(N=64, D_in=1000, H=1, D_out=10),       # one hidden unit
    "out1": Problem(N=64, D_in=1000, H=100, D_out=1),         # one output: sums over D_out vanish
    "square": Problem(N=48, D_in=48, H=48, D_out=48),         # transposes and swapped axes fit
    "odd": Problem(N=37, D_in=123, H=45, D_out=7),            # no multiple of 8 anywhere
    "large": Problem(N=256, D_in=2048, H=512, D_out=32),      # longer reductions
}

#: Gradients are checked at the start and after this many reference steps (lr = 1e-6).
POINTS = (0, 25)


@cache
def inputs_at(shape: str, bias: bool, point: int = 0) -> Inputs:
    """Inputs for ``SHAPES[shape]`` with or without bias, ``point`` reference steps into training."""
    start = make_inputs(replace(SHAPES[shape], bias=bias))
    return start if point == 0 else trajectory_points(start, steps=(point,))[0]
