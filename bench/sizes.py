"""Problem sizes the benchmarks run at, and the FLOPs each phase performs."""

from __future__ import annotations

from reference.problem.inputs import Problem

PHASES = ("forward", "grads", "step")

PRESETS: dict[str, tuple[Problem, ...]] = {
    "default": (Problem(),),
    # N and H over powers of two around the tutorial's 64 and 100: from sizes where dispatch
    # overhead dominates (N = 1, H = 4) to sizes where the matrix products dominate.
    "sweep": tuple(Problem(N=2**k) for k in range(0, 13, 2))
    + tuple(Problem(H=2**k) for k in range(2, 13, 2)),
}


def matmuls(problem: Problem, phase: str) -> list[tuple[str, int, int, int]]:
    """The matrix products of one phase as (name, m, k, n): an (m, k) @ (k, n) product.

    The backward pass computes no gradient for x, so it has three products, not four.
    """
    N, D_in, H, D_out = problem.N, problem.D_in, problem.H, problem.D_out
    forward = [("x@w1", N, D_in, H), ("h_relu@w2", N, H, D_out)]
    backward = [("h_relu.T@grad_y_pred", H, N, D_out), ("grad_y_pred@w2.T", N, D_out, H),
                ("x.T@grad_h", D_in, N, H)]
    return forward if phase == "forward" else forward + backward


def flops(problem: Problem, phase: str) -> int:
    """Floating-point operations of the phase's matrix products, 2 * m * k * n each (elementwise work not counted)."""
    return sum(2 * m * k * n for _, m, k, n in matmuls(problem, phase))
