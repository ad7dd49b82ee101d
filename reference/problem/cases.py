"""The named shapes every implementation is checked at, the tutorial's constants, and special inputs.

Data only: what is computed from these (points along the reference's path, the kink margin)
lives in reference.model.
"""

from __future__ import annotations

import numpy as np

from reference.problem.inputs import Inputs, Problem

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

#: The tutorial's training run: plain gradient descent at this learning rate for this many steps.
TUTORIAL_LR = 1e-6
TUTORIAL_STEPS = 500
#: The most steps any check takes from one prepare: a mini-batch implementation is handed the
#: order of as many epochs as that reaches into (tests/test_minibatch_checks.py holds every check
#: to it).
LONGEST_CHECK_STEPS = TUTORIAL_STEPS

#: Gradients are checked at the start and after this many reference steps at TUTORIAL_LR.
POINTS = (0, 25)

#: The first update is checked on its own at a learning rate large enough to move every entry.
FIRST_STEP_LR = 1e-3


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
