"""The one place that decides how close is close enough.

Model: an entry computed in a precision with unit roundoff u, from inputs rounded to that
precision, differs from the exact value by about ``c(n) * u * scale``. ``scale`` is the same
computation carried out on absolute values (reference.model.network.error_scales): the sum of the
absolute values of every product that feeds the entry, through the ReLU mask. ``n`` is the
length of the longest chain of roundings behind it: the reductions over D_in and H in the
forward pass, then D_out and N in the backward pass, plus a few elementwise operations.

The worst-case bound is ``c(n) = n`` (Higham, *Accuracy and Stability of Numerical Algorithms*,
ch. 3). Rounding errors behave like independent zero-mean variables, and then
``c(n) = LAMBDA * sqrt(n)`` holds with probability at least ``1 - 2n exp(-LAMBDA**2 / 2)``
(Higham & Mary, SIAM J. Sci. Comput. 41(5), 2019); with ``LAMBDA = 6`` that is 1 - 4e-5 at the
default size. The tolerance uses the smaller of the two. Measured (tests/test_tolerance.py):
BLAS-backed implementations sit below 0.003 of it; a plain one-at-a-time float32 sum, the
least accurate order a correct implementation would use, at 2e-4 at the tutorial's shape;
float32 work passed off as float64 at 3e4. TF32 products (u = 2**-11) stay inside the float32
tolerance, so the precision of matrix products is checked exactly, by a probe, instead. The
reference itself is float64, so its own share is added: ``tol = c(n) * (u + u_float64) * scale``.

An entry passes when ``|got - ref| <= tol``; a comparison reports the largest
``|got - ref| / tol`` (its *ratio*) and where it occurred. A plain ``rtol`` would fail here:
gradient entries that cancel to nearly 0 have a tiny value but a scale as large as their
neighbours', and the loss (~1e7) and the gradients (~1e6) have no common absolute tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reference.problem.inputs import Problem

#: Unit roundoff (half the machine epsilon) of each precision an implementation may compute in.
#: "tf32" is float32 storage with matrix products on a 10-bit mantissa (NVIDIA tensor cores).
UNIT_ROUNDOFF = {
    "float64": 2.0**-53,
    "float32": 2.0**-24,
    "tf32": 2.0**-11,
    "bfloat16": 2.0**-8,
}


def unit_roundoff_with_reference(precision: str) -> float:
    """The unit roundoff of ``precision`` plus the float64 reference's own: a difference between an
    implementation's result and the reference's carries the rounding of both."""
    return UNIT_ROUNDOFF[precision] + UNIT_ROUNDOFF["float64"]


#: Elementwise roundings on the way (input casts, bias add, relu, residual, factor 2, update).
ELEMENTWISE_STEPS = 8
#: Confidence multiplier of the probabilistic bound lambda * sqrt(n) * u.
LAMBDA = 6.0
#: A gradient entry passes within this many times its statistical error spread (times u).
#: Calibrated: across every built-in implementation, a one-term-at-a-time sum and emulated TF32
#: products, at every shape, bias and point, in float32 and float64, the largest error is 0.96
#: spreads (tests/test_tolerance.py measures it again); 20 leaves correct code 20 times inside.
GRAD_SPREADS = 20.0


def chain_length(problem: Problem, kind: str) -> int:
    """n for one output of ``kind``: the reductions feeding it plus a few elementwise steps."""
    forward = problem.D_in + problem.H
    if kind == "update":
        return ELEMENTWISE_STEPS
    if kind == "loss":
        # The loss's error is 2 * sum(|r| * error(r)) plus the sum of N * D_out squares.
        return 2 * forward + problem.N * problem.D_out + ELEMENTWISE_STEPS
    return forward + problem.D_out + problem.N + ELEMENTWISE_STEPS


def tolerance(problem: Problem, kind: str, precision: str, scale: np.ndarray | float,
              chain: int | None = None) -> np.ndarray:
    """Entrywise tolerance for a quantity of ``kind`` ('loss', 'grad', 'update') computed in ``precision``.

    ``chain`` replaces the two-layer network's chain length n (another network's, with ``scale``
    the same computation on absolute values: the bound min(n, LAMBDA * sqrt(n)) * u * scale).
    """
    if precision not in UNIT_ROUNDOFF:
        raise ValueError(f"no tolerance model for precision {precision!r}; known: {sorted(UNIT_ROUNDOFF)}")
    u = unit_roundoff_with_reference(precision)
    if kind == "grad" and chain is None:
        return GRAD_SPREADS * u * np.asarray(scale, dtype=np.float64)
    n = chain_length(problem, kind) if chain is None else chain
    return min(n, LAMBDA * np.sqrt(n)) * u * np.asarray(scale, dtype=np.float64)


@dataclass(frozen=True)
class Comparison:
    """How far one computed quantity is from the reference, in units of its tolerance."""

    quantity: str
    ratio: float           # max |got - ref| / tol; <= 1 passes; inf for NaN/inf or a wrong shape
    worst_index: tuple[int, ...]
    got: float
    expected: float
    tol: float
    normwise_error: float  # ||got - ref|| / ||ref||, for the reader
    allowance: float = 0.0  # the slack granted at the worst entry, beyond the tolerance

    @property
    def passed(self) -> bool:
        return self.ratio <= 1.0

    def describe(self, label: str) -> str:
        where = f"[{', '.join(map(str, self.worst_index))}]" if self.worst_index else ""
        return (f"{label}: {self.quantity}{where} = {self.got:.9g}, reference {self.expected:.9g}, "
                f"error {abs(self.got - self.expected):.3g} vs tolerance {self.tol:.3g}"
                + (f" beyond an allowance of {self.allowance:.3g}" if self.allowance else "")
                + f" (ratio {self.ratio:.3g}; normwise relative error {self.normwise_error:.3g})")


def compare(quantity: str, got: np.ndarray | float, expected: np.ndarray | float,
            scale: np.ndarray | float, problem: Problem, precision: str, kind: str | None = None,
            slack: np.ndarray | float = 0.0, chain: int | None = None) -> Comparison:
    """Compare ``got`` with the reference entry by entry, against ``tolerance`` beyond ``slack``.

    ``kind`` picks the chain length: 'loss', 'grad' or 'update'; by default 'loss' for the
    quantity 'loss' and 'grad' for anything else. ``slack`` is an absolute allowance for what the
    expected value is only known to within (a step taken from a gradient known to within its
    tolerance; a gradient share that depends on which side of the ReLU kink an entry fell). The
    ratio is the error beyond the allowance over the tolerance, so that it still says how much of
    its own rounding budget the implementation used.
    """
    kind = kind or ("loss" if quantity == "loss" else "grad")
    got_a = np.asarray(got, dtype=np.float64)
    ref_a = np.asarray(expected, dtype=np.float64)
    if got_a.shape != ref_a.shape:
        return Comparison(quantity, float("inf"), (), float("nan"), float("nan"), float("nan"), float("inf"))
    tol = np.broadcast_to(tolerance(problem, kind, precision, scale, chain), ref_a.shape)
    allowance = np.broadcast_to(np.asarray(slack, dtype=np.float64), ref_a.shape)
    error = np.maximum(np.abs(got_a - ref_a) - allowance, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        # A zero tolerance (an exactly-zero scale) admits only exact agreement; NaN never agrees.
        ratios = np.where(error == 0, 0.0, error / tol)
    ratios = np.where(np.isfinite(got_a), ratios, np.inf)
    worst = np.unravel_index(int(np.argmax(ratios)), ratios.shape) if ratios.ndim else ()
    norm_ref = np.linalg.norm(ref_a)
    normwise = float(np.linalg.norm(got_a - ref_a) / norm_ref) if norm_ref > 0 else float(np.linalg.norm(got_a))
    return Comparison(quantity, float(ratios[worst]), tuple(int(i) for i in worst),
                      float(got_a[worst]), float(ref_a[worst]), float(tol[worst]), normwise, float(allowance[worst]))


def curve_growth(step: int) -> float:
    """How a training curve's tolerance grows with the step.

    Each step adds its own rounding to the parameters; independent roundings add up like a
    random walk, so the deviation from the reference's path grows like sqrt(steps).
    """
    return float(np.sqrt(1.0 + step))
