"""A custom ``nn.Module``: the tutorial's TwoLayerNet, its layers as attributes and forward() written out.

Assigning ``nn.Linear`` layers as attributes of an ``nn.Module`` registers their parameters, so
``model.parameters()`` hands them to the optimizer. ``clamp(min=0)`` is the tutorial's ReLU.
The loss, torch.optim.SGD and the training step are torch-nn's (impls/torch_nn.py); the canonical
weights go in and come out transposed, as nn.Linear stores them (out, in).
"""

import torch

from impls.torch_nn import State, TorchNN


class TwoLayerNet(torch.nn.Module):
    def __init__(self, D_in, H, D_out, bias, **factory):
        super().__init__()
        self.linear1 = torch.nn.Linear(D_in, H, bias=bias, **factory)
        self.linear2 = torch.nn.Linear(H, D_out, bias=bias, **factory)

    def forward(self, x):
        h_relu = self.linear1(x).clamp(min=0)   # (N, H)
        y_pred = self.linear2(h_relu)           # (N, D_out)
        return y_pred


class TorchModule(TorchNN):
    name = "torch-module"
    summary = "the tutorial's custom nn.Module (TwoLayerNet: linear1, clamp(min=0), linear2) with torch.optim.SGD"
    relu_grad_at_zero = 1.0  # clamp(min=0)'s backward passes the gradient where h >= 0

    def prepare(self, x, y, params, lr):
        (D_in, H), (_, D_out) = params["w1"].shape, params["w2"].shape
        bias = "b1" in params
        model = TwoLayerNet(D_in, H, D_out, bias, device=x.device, dtype=x.dtype)
        with torch.no_grad():
            model.linear1.weight.copy_(params["w1"].T)   # (H, D_in)
            model.linear2.weight.copy_(params["w2"].T)   # (D_out, H)
            if bias:
                model.linear1.bias.copy_(params["b1"])   # (H,)
                model.linear2.bias.copy_(params["b2"])   # (D_out,)
        loss_fn = torch.nn.MSELoss(reduction="sum")
        return State(x, y, model, loss_fn, self.make_optimizer(model.parameters(), lr))

    @staticmethod
    def _canonical(model, read):
        """Weights back to (in, out) by transposing; biases as they are."""
        out = {"w1": read(model.linear1.weight).T, "w2": read(model.linear2.weight).T}
        if model.linear1.bias is not None:
            out |= {"b1": read(model.linear1.bias), "b2": read(model.linear2.bias)}
        return out
