"""The custom-Function tutorial's network as it writes it: MyReLU, a torch.autograd.Function with its own
backward, no bias (plug-in, bias = False)."""

from dataclasses import dataclass

import torch

from impls.contract import Implementation


class MyReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input):
        ctx.save_for_backward(input)
        return input.clamp(min=0)

    @staticmethod
    def backward(ctx, grad_output):
        input, = ctx.saved_tensors
        grad_input = grad_output.clone()
        grad_input[input < 0] = 0
        return grad_input


@dataclass
class State:
    x: torch.Tensor
    y: torch.Tensor
    w1: torch.Tensor    # (D_in, H), requires_grad
    w2: torch.Tensor    # (H, D_out), requires_grad
    learning_rate: float


class TutorialFunction(Implementation):
    name, backend = "tutorial-function-nobias", "torch"
    summary = "the custom autograd Function tutorial as written: MyReLU.apply, no bias"
    relu_grad_at_zero = 1.0   # grad_input[input < 0] = 0 keeps the gradient where input == 0
    bias = False

    def prepare(self, x, y, params, lr):
        w1 = params["w1"].clone().requires_grad_(True)
        w2 = params["w2"].clone().requires_grad_(True)
        return State(x, y, w1, w2, lr)

    def forward(self, s):
        relu = MyReLU.apply
        y_pred = relu(s.x.mm(s.w1)).mm(s.w2)
        return (y_pred - s.y).pow(2).sum()

    def loss(self, s):
        with torch.no_grad():
            return self.forward(s)

    def loss_and_grads(self, s):
        w1_grad, w2_grad = torch.autograd.grad(self.forward(s), (s.w1, s.w2))
        with torch.no_grad():
            return self.forward(s), {"w1": w1_grad, "w2": w2_grad}

    def step(self, s):
        loss = self.forward(s)
        loss.backward()
        with torch.no_grad():
            s.w1 -= s.learning_rate * s.w1.grad
            s.w2 -= s.learning_rate * s.w2.grad
            s.w1.grad.zero_()
            s.w2.grad.zero_()
        return loss.detach()

    def parameters(self, s):
        return {"w1": s.w1.detach(), "w2": s.w2.detach()}
