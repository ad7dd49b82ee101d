"""The autograd tutorial's network as it writes it: no bias, x.mm(w1).clamp(min=0).mm(w2), loss.backward(),
the update under torch.no_grad() in place and the gradients zeroed after it (plug-in, bias = False)."""

from dataclasses import dataclass

import torch

from impls.contract import Implementation


@dataclass
class State:
    x: torch.Tensor
    y: torch.Tensor
    w1: torch.Tensor    # (D_in, H), requires_grad
    w2: torch.Tensor    # (H, D_out), requires_grad
    learning_rate: float


class TutorialAutograd(Implementation):
    name, backend = "tutorial-autograd-nobias", "torch"
    summary = "the autograd tutorial as written: loss.backward(), in-place update under no_grad, no bias"
    relu_grad_at_zero = 1.0   # clamp(min=0) passes the gradient where h == 0
    bias = False

    def prepare(self, x, y, params, lr):
        w1 = params["w1"].clone().requires_grad_(True)
        w2 = params["w2"].clone().requires_grad_(True)
        return State(x, y, w1, w2, lr)

    def forward(self, s):
        y_pred = s.x.mm(s.w1).clamp(min=0).mm(s.w2)
        return (y_pred - s.y).pow(2).sum()

    def loss(self, s):
        with torch.no_grad():
            return self.forward(s)

    def loss_and_grads(self, s):
        loss = self.forward(s)
        loss.backward()
        grads = {"w1": s.w1.grad.clone(), "w2": s.w2.grad.clone()}
        s.w1.grad.zero_()   # as the tutorial zeroes them after use: the next backward starts from 0
        s.w2.grad.zero_()
        return loss.detach(), grads

    def step(self, s):
        loss = self.forward(s)
        loss.backward()
        with torch.no_grad():
            s.w1 -= s.learning_rate * s.w1.grad   # in place: rebinding the name would leave the weights as they were
            s.w2 -= s.learning_rate * s.w2.grad
            s.w1.grad.zero_()
            s.w2.grad.zero_()
        return loss.detach()

    def parameters(self, s):
        return {"w1": s.w1.detach(), "w2": s.w2.detach()}
