"""torch.compile: torch-autograd's code with its forward pass compiled.

``torch.compile`` captures the forward into a graph and generates fused kernels for it;
AOTAutograd compiles the matching backward the first time ``loss.backward()`` runs through
it. The first call of each new shape or dtype pays for that compilation (seconds); the
benchmarks report it separately from the steady-state time.
"""

import torch

from impls.torch_autograd import TorchAutograd


class TorchCompile(TorchAutograd):
    name = "torch-compile"
    summary = "torch-autograd with the forward compiled by torch.compile (backward by AOTAutograd)"
    relu_grad_at_zero = 1.0  # compiled clamp(min=0) keeps eager's gradient at h == min
    compiles_per_shape = True

    def __init__(self):
        self.forward = torch.compile(super().forward)
