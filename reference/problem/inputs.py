"""The problem: its size, and the float64 arrays every implementation starts from."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Mapping

import numpy as np

PARAM_NAMES = ("w1", "w2", "b1", "b2")


@dataclass(frozen=True)
class Problem:
    """Size of the network and the seed of its data: ``h = x @ w1 (+ b1)``, ``y_pred = relu(h) @ w2 (+ b2)``."""

    N: int = 64
    D_in: int = 1000
    H: int = 100
    D_out: int = 10
    bias: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        for field in ("N", "D_in", "H", "D_out"):
            value = getattr(self, field)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValueError(f"Problem.{field} must be a positive integer, got {value!r}")

    @property
    def id(self) -> str:
        bias = "bias" if self.bias else "nobias"
        return f"N{self.N}-Din{self.D_in}-H{self.H}-Dout{self.D_out}-{bias}"

    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Canonical layout of every array: weights are (in, out), as in ``x @ w1``."""
        shapes = {"x": (self.N, self.D_in), "y": (self.N, self.D_out),
                  "w1": (self.D_in, self.H), "w2": (self.H, self.D_out)}
        if self.bias:
            shapes |= {"b1": (self.H,), "b2": (self.D_out,)}
        return shapes


# eq=False: inputs compare and hash by identity, so that work derived from them can be cached.
@dataclass(frozen=True, eq=False)
class Inputs:
    """Data and parameters in float64, canonical layout. Every implementation gets these same arrays."""

    x: np.ndarray
    y: np.ndarray
    params: Mapping[str, np.ndarray]

    @property
    def problem(self) -> Problem:
        (N, D_in), (H, D_out) = self.x.shape, self.params["w2"].shape
        return Problem(N=N, D_in=D_in, H=H, D_out=D_out, bias="b1" in self.params)

    def with_params(self, params: Mapping[str, np.ndarray]) -> "Inputs":
        return replace(self, params=dict(params))

    def validate(self) -> "Inputs":
        """Raise a one-line ValueError naming the first array with a wrong shape, dtype or value."""
        arrays = {"x": self.x, "y": self.y, **self.params}
        unknown = set(self.params) - set(PARAM_NAMES)
        if unknown:
            raise ValueError(f"unknown parameter name(s) {sorted(unknown)}; expected {PARAM_NAMES}")
        if ("b1" in self.params) != ("b2" in self.params):
            raise ValueError("give both biases b1 and b2 or neither")
        for name in ("x", "y", "w1", "w2"):
            if name not in arrays:
                raise ValueError(f"missing array {name!r}")
            if np.ndim(arrays[name]) != 2:
                raise ValueError(f"{name} must be 2-D, got shape {np.shape(arrays[name])}")
        N, D_in = self.x.shape
        H, D_out = self.params["w2"].shape
        expected = Problem(N, D_in, H, D_out, bias="b1" in self.params).shapes()
        for name, shape in expected.items():
            array = arrays[name]
            if not isinstance(array, np.ndarray):
                raise ValueError(f"{name} must be a numpy array, got {type(array).__name__}")
            if array.shape != shape:
                raise ValueError(f"{name} has shape {array.shape}, expected {shape} "
                                 f"(x is {self.x.shape}, w2 is {self.params['w2'].shape})")
            if array.dtype != np.float64:
                raise ValueError(f"{name} has dtype {array.dtype}; the canonical inputs are float64")
            if not np.all(np.isfinite(array)):
                raise ValueError(f"{name} contains NaN or inf")
        return self


def draw(problem: Problem) -> Inputs:
    """Standard-normal data and weights from ``problem.seed``, as in the tutorials (no kink margin)."""
    rng = np.random.default_rng(problem.seed)
    x = rng.standard_normal((problem.N, problem.D_in))
    y = rng.standard_normal((problem.N, problem.D_out))
    params = {"w1": rng.standard_normal((problem.D_in, problem.H)),
              "w2": rng.standard_normal((problem.H, problem.D_out))}
    if problem.bias:
        params |= {"b1": rng.standard_normal(problem.H), "b2": rng.standard_normal(problem.D_out)}
    return Inputs(x, y, params)
