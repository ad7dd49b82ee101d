"""torch.optim's other optimizers on torch-nn's model: Adam, and SGD with momentum.

The tutorial swaps ``torch.optim.SGD`` for ``torch.optim.Adam(model.parameters(), lr=1e-4)`` and
nothing else changes: the optimizer keeps its own state (Adam's two moments and step count, the
momentum buffer) beside the model, so it must be made once and live as long as the training
run. Model, loss and the canonical mapping are torch-nn's (impls/torch_nn.py).
"""

import torch

from impls.torch_nn import TorchNN


class TorchAdam(TorchNN):
    name = "torch-adam"
    summary = "torch-nn's model trained with torch.optim.Adam (the optim tutorial)"
    optimizer = "adam"

    def make_optimizer(self, parameters, lr):
        return torch.optim.Adam(parameters, lr=lr)


class TorchMomentum(TorchNN):
    name = "torch-momentum"
    summary = "torch-nn's model trained with torch.optim.SGD(momentum=0.9) (the DynamicNet tutorial's optimizer)"
    optimizer = "sgd-momentum"

    def make_optimizer(self, parameters, lr):
        return torch.optim.SGD(parameters, lr=lr, momentum=0.9)
