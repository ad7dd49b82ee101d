"""What the benchmarks time: the presets (sizes, phases, rounds) and the FLOPs each phase performs."""

from __future__ import annotations

from dataclasses import dataclass, replace

from reference.problem.inputs import Problem
from reference.problem.variants import Batching

PHASES = ("forward", "grads", "step")
#: latency: every call synchronized; throughput: calls queued, one synchronization per invocation.
TIMINGS = ("latency", "throughput")


@dataclass(frozen=True)
class Preset:
    """Sizes to time, the phases and timings at each, and the rounds of every race (bench.race)."""

    sizes: tuple[Problem, ...]
    phases: tuple[str, ...]
    rounds: int
    timings: tuple[str, ...] = TIMINGS
    #: Whether the tutorials' other ways (another optimizer or batching) race unless named: their
    #: forward and gradients are their plain way's, so a sweep of those adds time and no finding.
    variants: bool = True
    #: Whether the matmul peak, the GEMM floors and the load test are timed too (minutes on two cores).
    ceilings: bool = True
    #: The dtypes timed unless --dtype names others.
    dtype: str = "all"
    #: The built-ins raced unless --impl names others (None: every one); plug-ins race in any case.
    ways: tuple[str, ...] | None = None

    def races(self, name: str, named: bool) -> bool:
        """Whether implementation ``name`` races; ``named``: the user asked for it (--impl, or a plug-in's path)."""
        return named or self.ways is None or name in self.ways


#: The six ways the tutorials write the network, each framework's plain way among them.
TUTORIAL_WAYS = ("numpy-manual", "torch-manual", "torch-autograd", "torch-function", "torch-nn", "jax-grad")


PRESETS: dict[str, Preset] = {
    # 30 rounds, for issue 3's 10 minutes for the whole job on two cores: at 2 threads a round of the job costs
    # about 10.7 s (every way, its floors, the A/A twin, two processes alone per plain way) beside some 150 s
    # that do not depend on the rounds. `tox -m bench` from a fresh clone took 620 s with 40 rounds (18:09) and
    # 576 s with 35 (18:25), too near 10 minutes for a machine that installs from scratch; with 60 its benchmarks
    # alone took 886 s (2026-12-05 15:28). The A/A's interval widens by about sqrt(60/30).
    "default": Preset((Problem(),), PHASES, rounds=30),
    # "How fast is mine beside the tutorials' six ways": the default size, float32, the phases the
    # headline shows, latency only, few rounds, no other built-ins, ceilings or load test.
    "quick": Preset((Problem(),), ("grads", "step"), rounds=15, timings=("latency",), variants=False,
                    ceilings=False, dtype="float32", ways=TUTORIAL_WAYS),
    # N and H over powers of two around the tutorial's 64 and 100: from sizes where dispatch
    # overhead dominates (N = 1, H = 4) to sizes where the matrix products dominate. One phase,
    # grads (forward and backward, no update), keeps the run within minutes on two cores.
    "sweep": Preset(tuple(Problem(N=2**k) for k in range(0, 13, 2)) + tuple(Problem(H=2**k) for k in range(2, 13, 2)),
                    ("grads",), rounds=20, timings=("latency",), variants=False),
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


def dynamic_flops(problem: Problem, depths) -> int:
    """A dynamic network's step (forward and backward) at each of ``depths``, averaged: per use of the
    middle layer two (N, H) @ (H, H) products more, and one (H, N) @ (N, H)."""
    N, D_in, H, D_out = problem.N, problem.D_in, problem.H, problem.D_out
    fixed = 2 * (N * D_in * H + N * H * D_out) + 2 * (H * N * D_out + N * D_out * H + D_in * N * H)
    return round(sum(fixed + 2 * 3 * N * H * H * int(depth) for depth in depths) / len(depths))


def call_flops(problem: Problem, phase: str, batching: Batching | None) -> int:
    """``flops`` of one call: a mini-batch step trains on one batch, as many rows as an epoch's batches average."""
    if batching is None or phase != "step":
        return flops(problem, phase)
    rows = [len(batch) for batch in batching.epoch(problem.N, 0)]
    return round(sum(flops(replace(problem, N=n), phase) for n in rows) / len(rows))
