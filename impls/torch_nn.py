"""torch.nn and torch.optim: layers, a loss module and an optimizer do the bookkeeping.

``nn.Linear`` stores its weight as (out, in) and computes ``x @ weight.T + bias``, so the
canonical (in, out) weights are copied in transposed, and read back transposed. A reshape
would keep the numbers in the wrong places. ``MSELoss`` needs ``reduction="sum"``: its default
is a mean, which would divide the loss and every gradient by N * D_out.
"""

from dataclasses import dataclass

import torch

from impls.contract import Implementation


@dataclass
class State:
    x: torch.Tensor
    y: torch.Tensor
    model: torch.nn.Sequential
    loss_fn: torch.nn.MSELoss
    optimizer: torch.optim.Optimizer


class TorchNN(Implementation):
    name = "torch-nn"
    backend = "torch"
    summary = "torch.nn.Linear layers, MSELoss(reduction='sum') and torch.optim.SGD"
    devices = ("cpu", "cuda")
    relu_grad_at_zero = 0.0  # nn.ReLU's backward passes the gradient only where its output > 0

    def prepare(self, x, y, params, lr):
        (D_in, H), (_, D_out) = params["w1"].shape, params["w2"].shape
        bias = "b1" in params
        factory = {"device": x.device, "dtype": x.dtype}
        model = torch.nn.Sequential(
            torch.nn.Linear(D_in, H, bias=bias, **factory),
            torch.nn.ReLU(),
            torch.nn.Linear(H, D_out, bias=bias, **factory),
        )
        with torch.no_grad():
            model[0].weight.copy_(params["w1"].T)   # (H, D_in)
            model[2].weight.copy_(params["w2"].T)   # (D_out, H)
            if bias:
                model[0].bias.copy_(params["b1"])   # (H,)
                model[2].bias.copy_(params["b2"])   # (D_out,)
        loss_fn = torch.nn.MSELoss(reduction="sum")
        return State(x, y, model, loss_fn, self.make_optimizer(model.parameters(), lr))

    def make_optimizer(self, parameters, lr):
        return torch.optim.SGD(parameters, lr=lr)

    def loss(self, s):
        with torch.no_grad():
            return s.loss_fn(s.model(s.x), s.y)

    def loss_and_grads(self, s):
        s.optimizer.zero_grad()
        loss = s.loss_fn(s.model(s.x), s.y)
        loss.backward()
        return loss.detach(), self._canonical(s.model, lambda p: p.grad)

    def step(self, s):
        s.optimizer.zero_grad()
        loss = s.loss_fn(s.model(s.x), s.y)
        loss.backward()
        s.optimizer.step()
        return loss.detach()

    def parameters(self, s):
        return self._canonical(s.model, lambda p: p.detach())

    @staticmethod
    def _canonical(model, read):
        """Weights back to (in, out) by transposing; biases as they are."""
        first, second = model[0], model[2]
        out = {"w1": read(first.weight).T, "w2": read(second.weight).T}
        if first.bias is not None:
            out |= {"b1": read(first.bias), "b2": read(second.bias)}
        return out
