"""The tutorials' other ways as data: mini-batches and the dynamic network's depths.

Every implementation receives the same batches and the same depths, drawn here from seeds,
so that all of them can be held to one float64 path. Data only: the float64 models live in
reference/model/minibatch.py and reference/model/dynamic.py.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace

import numpy as np

from reference.problem.inputs import Problem

#: The DynamicNet tutorial reuses its middle layer 0 to 3 times, drawn anew on every forward pass.
MAX_MIDDLE_REPEATS = 3


@dataclass(frozen=True)
class Batching:
    """Mini-batches of ``batch_size`` rows in an order shuffled anew each epoch from ``seed``; the remainder kept."""

    batch_size: int
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.batch_size, (int, np.integer)) or isinstance(self.batch_size, bool) \
                or self.batch_size < 1:
            raise ValueError(f"Batching.batch_size must be a positive integer, got {self.batch_size!r}")

    def epoch(self, n_rows: int, epoch: int) -> list[np.ndarray]:
        """The row indices of each batch of epoch ``epoch``: a permutation of range(n_rows) cut into batches."""
        order = np.random.default_rng((self.seed, epoch)).permutation(n_rows)
        return [order[start:start + self.batch_size] for start in range(0, n_rows, self.batch_size)]

    def orders(self, n_rows: int, steps: int) -> np.ndarray:
        """(epochs, n_rows): each epoch's permutation, for as many epochs as ``steps`` steps reach into.

        A copy of one drawing per batching, size and epoch count: every mini-batch session's prepare sends the
        same few hundred permutations, and an implementation may write into what it is handed.
        """
        per_epoch = -(-n_rows // self.batch_size)
        return _orders(self, n_rows, -(-steps // per_epoch)).copy()

    def batches(self, n_rows: int, steps: int) -> list[np.ndarray]:
        """The batches of the first ``steps`` steps, one per step, epoch after epoch."""
        found: list[np.ndarray] = []
        epoch = 0
        while len(found) < steps:
            found += self.epoch(n_rows, epoch)
            epoch += 1
        return found[:steps]


@functools.lru_cache(maxsize=16)
def _orders(batching: Batching, n_rows: int, epochs: int) -> np.ndarray:
    return np.array([np.concatenate(batching.epoch(n_rows, e)) for e in range(epochs)])


#: What a mini-batch implementation is checked and timed with: 24 rows leave the tutorial's 64 a
#: remainder (24, 24, 16), so that a last batch dropped or padded shows.
MINIBATCH = Batching(batch_size=24, seed=0)


def middle_repeats(seed: int, passes: int) -> np.ndarray:
    """How many times the middle layer is applied on each of ``passes`` forward passes (0 to 3 each)."""
    return np.random.default_rng(seed).integers(0, MAX_MIDDLE_REPEATS + 1, size=passes)


#: The dynamic network's parameters, canonical (in, out) layout: nn.Linear's weights transposed.
DYNAMIC_NAMES = ("w_in", "b_in", "w_mid", "b_mid", "w_out", "b_out")


# eq=False: compared and hashed by identity, so that work derived from them can be cached.
@dataclass(frozen=True, eq=False)
class DynamicInputs:
    """Data, parameters and the middle layer's depth for each step, in float64: what a dynamic
    implementation is prepared with (``depths[t]`` for step t, counted from 0)."""

    x: np.ndarray
    y: np.ndarray
    params: dict
    depths: np.ndarray

    @property
    def problem(self) -> Problem:
        (N, D_in), (H, D_out) = self.x.shape, self.params["w_out"].shape
        return Problem(N=N, D_in=D_in, H=H, D_out=D_out, bias=True)

    def with_params(self, params) -> "DynamicInputs":
        return replace(self, params=dict(params))

    def with_depths(self, depths) -> "DynamicInputs":
        return replace(self, depths=np.asarray(depths, dtype=np.int64))

    def validate(self) -> "DynamicInputs":
        """Raise a one-line ValueError naming the first array with a wrong name, shape, dtype or value."""
        if sorted(self.params) != sorted(DYNAMIC_NAMES):
            raise ValueError(f"dynamic parameters {sorted(self.params)}; expected {list(DYNAMIC_NAMES)}")
        N, D_in = np.shape(self.x)
        H, D_out = np.shape(self.params["w_out"])
        shapes = {"x": (N, D_in), "y": (N, D_out), "w_in": (D_in, H), "b_in": (H,), "w_mid": (H, H),
                  "b_mid": (H,), "w_out": (H, D_out), "b_out": (D_out,)}
        for name, shape in shapes.items():
            array = {"x": self.x, "y": self.y, **self.params}[name]
            if not isinstance(array, np.ndarray) or array.shape != shape or array.dtype != np.float64:
                raise ValueError(f"{name} must be a float64 numpy array of shape {shape}, got "
                                 f"{getattr(array, 'dtype', type(array).__name__)} {np.shape(array)}")
            if not np.all(np.isfinite(array)):
                raise ValueError(f"{name} contains NaN or inf")
        depths = self.depths
        if not (isinstance(depths, np.ndarray) and depths.ndim == 1 and len(depths) and depths.dtype.kind == "i"
                and depths.min() >= 0 and depths.max() <= MAX_MIDDLE_REPEATS):
            raise ValueError(f"depths must be a non-empty 1-D integer array in 0..{MAX_MIDDLE_REPEATS}")
        return self


#: The seed every dynamic check draws its depths from.
DEPTH_SEED = 0
