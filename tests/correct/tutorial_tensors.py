"""The torch-tensor tutorial's network as it writes it: no bias, x.mm(w1), the backward pass by hand
(plug-in, bias = False)."""

from dataclasses import dataclass

import torch

from impls.contract import Implementation


@dataclass
class State:
    x: torch.Tensor
    y: torch.Tensor
    w1: torch.Tensor    # (D_in, H)
    w2: torch.Tensor    # (H, D_out)
    learning_rate: float


class TutorialTensors(Implementation):
    name, backend = "tutorial-tensors-nobias", "torch"
    summary = "the torch-tensor tutorial as written: h.clamp(min=0), no bias, gradients by hand"
    relu_grad_at_zero = 1.0   # grad_h[h < 0] = 0 keeps the gradient where h == 0
    bias = False

    def prepare(self, x, y, params, lr):
        return State(x, y, params["w1"].clone(), params["w2"].clone(), lr)

    def loss(self, s):
        return self.loss_and_grads(s)[0]

    def loss_and_grads(self, s):
        h = s.x.mm(s.w1)
        h_relu = h.clamp(min=0)
        y_pred = h_relu.mm(s.w2)
        loss = (y_pred - s.y).pow(2).sum()

        grad_y_pred = 2.0 * (y_pred - s.y)
        grad_w2 = h_relu.t().mm(grad_y_pred)
        grad_h_relu = grad_y_pred.mm(s.w2.t())
        grad_h = grad_h_relu.clone()
        grad_h[h < 0] = 0
        grad_w1 = s.x.t().mm(grad_h)
        return loss, {"w1": grad_w1, "w2": grad_w2}

    def step(self, s):
        loss, grads = self.loss_and_grads(s)
        s.w1 -= s.learning_rate * grads["w1"]
        s.w2 -= s.learning_rate * grads["w2"]
        return loss

    def parameters(self, s):
        return {"w1": s.w1, "w2": s.w2}
