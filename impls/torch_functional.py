"""``torch.nn.functional``: the layers as functions of tensors the code owns, no modules.

``F.linear(x, weight, bias)`` computes ``x @ weight.T + bias`` with nn.Linear's (out, in) weight,
so the parameters are kept in that layout as plain leaf tensors (``requires_grad=True``) and
handed to torch.optim.SGD directly. ``F.relu`` and ``F.mse_loss(reduction="sum")`` complete the
network: the same operations as torch-nn, with nothing registered anywhere.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from impls.contract import Implementation


@dataclass
class State:
    x: torch.Tensor
    y: torch.Tensor
    params: dict          # torch layout: "w1" (H, D_in), "w2" (D_out, H), biases as they are
    optimizer: torch.optim.SGD


def forward(x, w1, w2, b1=None, b2=None):
    h = F.linear(x, w1, b1)              # (N, H)
    h_relu = F.relu(h)                   # (N, H)
    y_pred = F.linear(h_relu, w2, b2)    # (N, D_out)
    return y_pred


class TorchFunctional(Implementation):
    name = "torch-functional"
    backend = "torch"
    summary = "torch.nn.functional (F.linear, F.relu, F.mse_loss) on leaf tensors, with torch.optim.SGD"
    devices = ("cpu", "cuda")
    relu_grad_at_zero = 0.0  # F.relu's backward passes the gradient only where its output > 0

    def prepare(self, x, y, params, lr):
        # F.linear wants (out, in): the canonical (in, out) weights are transposed once, here.
        own = {name: (p.T if name.startswith("w") else p).clone().requires_grad_(True) for name, p in params.items()}
        return State(x, y, own, torch.optim.SGD(own.values(), lr=lr))

    def loss(self, s):
        with torch.no_grad():
            return F.mse_loss(forward(s.x, **s.params), s.y, reduction="sum")

    def loss_and_grads(self, s):
        s.optimizer.zero_grad()
        loss = F.mse_loss(forward(s.x, **s.params), s.y, reduction="sum")
        loss.backward()
        return loss.detach(), self._canonical(s.params, lambda p: p.grad)

    def step(self, s):
        s.optimizer.zero_grad()
        loss = F.mse_loss(forward(s.x, **s.params), s.y, reduction="sum")
        loss.backward()
        s.optimizer.step()
        return loss.detach()

    def parameters(self, s):
        return self._canonical(s.params, lambda p: p.detach())

    @staticmethod
    def _canonical(params, read):
        """Weights back to (in, out) by transposing; biases as they are."""
        return {name: read(p).T if name.startswith("w") else read(p) for name, p in params.items()}
