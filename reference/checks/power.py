"""The detection floor: the smallest relative error in each quantity that the agreement check rejects.

For each kind of error (dense noise on every entry, one wrong entry, a constant factor) the
float64 reference's own result is perturbed by a relative error ``e`` and compared as an
implementation's result would be; the floor is the smallest ``e`` rejected, found by bisection
in log space. Run ``python -m reference.checks.power`` for the table docs/checks.md quotes.
"""

from __future__ import annotations

import argparse
from typing import Callable

import numpy as np

from reference.model import network
from reference.model.points import inputs_at
from reference.model.tolerance import compare
from reference.problem.cases import SHAPES
from reference.problem.inputs import Inputs

def one_entry(ref: np.ndarray, e: float, rng: np.random.Generator) -> np.ndarray:
    """``ref`` with one entry, drawn among the nonzero ones, off by the relative error ``e``."""
    wrong = np.array(ref, dtype=np.float64)
    nonzero = np.flatnonzero(wrong)
    wrong.flat[rng.choice(nonzero)] *= 1 + e
    return wrong


PERTURBATIONS: dict[str, Callable[[np.ndarray, float, np.random.Generator], np.ndarray]] = {
    "dense": lambda ref, e, rng: ref * (1 + e * rng.standard_normal(np.shape(ref))),
    "one entry": one_entry,
    "constant": lambda ref, e, rng: ref * (1 + e),
}


def rejected(inputs: Inputs, quantity: str, kind: str, e: float, precision: str) -> bool:
    loss, grads, scales = network.reference_at(inputs)
    ref = loss if quantity == "loss" else grads[quantity]
    got = PERTURBATIONS[kind](np.asarray(ref, dtype=np.float64), e, np.random.default_rng(0))
    return not compare(quantity, got, ref, scales[quantity], inputs.problem, precision).passed


def floor(inputs: Inputs, quantity: str, kind: str, precision: str) -> float:
    """The smallest relative error of ``kind`` in ``quantity`` rejected, to about 2%."""
    low, high = 1e-17, 1e2
    if not rejected(inputs, quantity, kind, high, precision):
        return float("inf")
    while high / low > 1.02:
        middle = np.sqrt(low * high)
        low, high = (low, middle) if rejected(inputs, quantity, kind, middle, precision) else (middle, high)
    return float(high)


def table(precisions=("float32", "float64"), quantities=("loss", "w1", "w2", "b1", "b2")) -> list[dict]:
    """Per precision, quantity and kind of error: the floor at every shape (the largest over shapes) and at the tutorial's."""
    rows = []
    for precision in precisions:
        for quantity in quantities:
            for kind in (("constant",) if quantity == "loss" else PERTURBATIONS):
                bias = quantity in ("b1", "b2")
                by_shape = {shape: floor(inputs_at(shape, bias), quantity, kind, precision) for shape in SHAPES}
                rows.append({"precision": precision, "quantity": quantity, "error": kind,
                             "every shape": max(by_shape.values()), "tutorial": by_shape["tutorial"]})
    return rows


def main() -> None:
    argparse.ArgumentParser(prog="python -m reference.checks.power", description=__doc__.split("\n\n")[0]).parse_args()
    print("| precision | quantity | error | rejected at every shape from | at the tutorial's shape from |")
    print("|---|---|---|---|---|")
    for row in table():
        print(f"| {row['precision']} | {row['quantity']} | {row['error']} | {row['every shape']:.2g} | {row['tutorial']:.2g} |")


if __name__ == "__main__":
    main()
