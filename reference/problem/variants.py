"""The tutorials' other ways as data: mini-batches and the dynamic network's depths.

Every implementation receives the same batches and the same depths, drawn here from seeds,
so that all of them can be held to one float64 path. Data only: the float64 models live in
reference/model/minibatch.py and reference/model/dynamic.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: The batchings impls.contract.BATCHINGS lets an implementation declare (tests/test_contract.py holds them equal).
BATCHINGS = ("full", "minibatch")

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
        """(epochs, n_rows): each epoch's permutation, for as many epochs as ``steps`` steps reach into."""
        per_epoch = -(-n_rows // self.batch_size)
        return np.array([np.concatenate(self.epoch(n_rows, e)) for e in range(-(-steps // per_epoch))])

    def batches(self, n_rows: int, steps: int) -> list[np.ndarray]:
        """The batches of the first ``steps`` steps, one per step, epoch after epoch."""
        found: list[np.ndarray] = []
        epoch = 0
        while len(found) < steps:
            found += self.epoch(n_rows, epoch)
            epoch += 1
        return found[:steps]


#: What a mini-batch implementation is checked and timed with: 24 rows leave the tutorial's 64 a
#: remainder (24, 24, 16), so that a last batch dropped or padded shows.
MINIBATCH = Batching(batch_size=24, seed=0)


def middle_repeats(seed: int, passes: int) -> np.ndarray:
    """How many times the middle layer is applied on each of ``passes`` forward passes (0 to 3 each)."""
    return np.random.default_rng(seed).integers(0, MAX_MIDDLE_REPEATS + 1, size=passes)
