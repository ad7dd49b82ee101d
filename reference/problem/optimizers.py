"""The tutorials' optimizers as data: which update rule, and its coefficients.

Data only: the float64 update rules live in reference/model/optimizers.py. The kinds are those
an implementation may declare (impls.contract.OPTIMIZERS), with the coefficients the contract
promises. The learning rates are the ones the training check runs at: the tutorials' (plain SGD
at 1e-6; ``torch.optim.Adam(lr=1e-4)``), except momentum's. The DynamicNet tutorial's
``SGD(lr=1e-4, momentum=0.9)`` starts from nn.Linear's small weights; from this suite's
standard-normal weights it overflows to NaN within 10 steps, while the two-layer tutorials' 1e-6
converges (loss 3e7 to 3e-4 in 500 steps).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from impls.contract import OPTIMIZERS
from reference.problem.cases import TUTORIAL_LR


@dataclass(frozen=True)
class Optimizer:
    """An update rule and its coefficients, as torch.optim names them."""

    kind: str
    lr: float
    momentum: float = 0.0                       # sgd-momentum: buf = momentum * buf + g; w -= lr * buf
    betas: tuple[float, float] = (0.9, 0.999)  # adam: decay of the first and second moments
    eps: float = 1e-8                           # adam: added to sqrt(v_hat), outside the square root

    def __post_init__(self) -> None:
        if self.kind not in OPTIMIZERS:
            raise ValueError(f"Optimizer.kind must be one of {', '.join(OPTIMIZERS)}, got {self.kind!r}")
        if not self.lr > 0:
            raise ValueError(f"Optimizer.lr must be positive, got {self.lr!r}")
        if not 0 <= self.momentum < 1:
            raise ValueError(f"Optimizer.momentum must lie in [0, 1), got {self.momentum!r}")
        if not all(0 <= beta < 1 for beta in self.betas) or len(self.betas) != 2:
            raise ValueError(f"Optimizer.betas must be two numbers in [0, 1), got {self.betas!r}")
        if not self.eps > 0:
            raise ValueError(f"Optimizer.eps must be positive, got {self.eps!r}")


#: Each optimizer an implementation may declare, at the lr the training check runs it at.
TRAINING_OPTIMIZERS: dict[str, Optimizer] = {
    "sgd": Optimizer("sgd", TUTORIAL_LR),
    "sgd-momentum": Optimizer("sgd-momentum", TUTORIAL_LR, momentum=0.9),
    "adam": Optimizer("adam", 1e-4),
}


def declared(kind: str, lr: float) -> Optimizer:
    """The rule an implementation that declares ``kind`` must apply when prepared with ``lr``."""
    return replace(TRAINING_OPTIMIZERS[kind], lr=lr)
