"""``torch.nn.functional``: the layers as functions of tensors the code owns, no modules.

The parameters are plain leaf tensors (``requires_grad=True``) in the canonical (in, out) layout,
handed to torch.optim.SGD directly. ``F.linear(x, weight, bias)`` computes ``x @ weight.T + bias``
for nn.Linear's (out, in) weight, so it is given ``w1.T``: a view, no copy, and ``x @ w1`` in the
end. ``F.relu`` and ``F.mse_loss(reduction="sum")`` complete the network: torch-nn's operations,
with nothing registered anywhere.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from impls.contract import Implementation


@dataclass
class State:
    x: torch.Tensor
    y: torch.Tensor
    params: dict          # leaf tensors, canonical layout: "w1" (D_in, H), "w2" (H, D_out), biases
    optimizer: torch.optim.SGD


def forward(x, w1, w2, b1=None, b2=None):
    h = F.linear(x, w1.T, b1)            # (N, H)
    h_relu = F.relu(h)                   # (N, H)
    y_pred = F.linear(h_relu, w2.T, b2)  # (N, D_out)
    return y_pred


class TorchFunctional(Implementation):
    name = "torch-functional"
    backend = "torch"
    summary = "torch.nn.functional (F.linear, F.relu, F.mse_loss) on leaf tensors, with torch.optim.SGD"
    devices = ("cpu", "cuda")
    relu_grad_at_zero = 0.0  # F.relu's backward passes the gradient only where its output > 0

    def prepare(self, x, y, params, lr):
        leaves = {name: p.clone().requires_grad_(True) for name, p in params.items()}
        return State(x, y, leaves, torch.optim.SGD(leaves.values(), lr=lr))

    def loss(self, s):
        with torch.no_grad():
            return F.mse_loss(forward(s.x, **s.params), s.y, reduction="sum")

    def loss_and_grads(self, s):
        s.optimizer.zero_grad()
        loss = F.mse_loss(forward(s.x, **s.params), s.y, reduction="sum")
        loss.backward()
        return loss.detach(), {name: p.grad for name, p in s.params.items()}

    def step(self, s):
        s.optimizer.zero_grad()
        loss = F.mse_loss(forward(s.x, **s.params), s.y, reduction="sum")
        loss.backward()
        s.optimizer.step()
        return loss.detach()

    def parameters(self, s):
        return {name: p.detach() for name, p in s.params.items()}
