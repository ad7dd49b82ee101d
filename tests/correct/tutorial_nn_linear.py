"""The nn tutorial's network as it writes it: nn.Sequential of nn.Linear layers, each with its bias, weights
stored (out, in) and mapped to the canonical (in, out) layout by transposing; MSELoss(reduction='sum')
(plug-in, bias = True: nn.Linear's default)."""

from dataclasses import dataclass

import torch

from impls.contract import Implementation


@dataclass
class State:
    x: torch.Tensor
    y: torch.Tensor
    model: torch.nn.Sequential
    loss_fn: torch.nn.MSELoss
    learning_rate: float


class TutorialNNLinear(Implementation):
    name, backend = "tutorial-nn-linear-bias", "torch"
    summary = "the nn tutorial as written: nn.Linear layers with their biases, MSELoss(reduction='sum')"
    relu_grad_at_zero = 0.0   # torch.nn.ReLU's backward masks the gradient where h == 0
    bias = True

    def prepare(self, x, y, params, lr):
        (D_in, H), (_, D_out) = params["w1"].shape, params["w2"].shape
        model = torch.nn.Sequential(torch.nn.Linear(D_in, H), torch.nn.ReLU(), torch.nn.Linear(H, D_out))
        model.to(device=x.device, dtype=x.dtype)
        with torch.no_grad():
            model[0].weight.copy_(params["w1"].T)   # nn.Linear keeps (out, in)
            model[0].bias.copy_(params["b1"])
            model[2].weight.copy_(params["w2"].T)
            model[2].bias.copy_(params["b2"])
        return State(x, y, model, torch.nn.MSELoss(reduction="sum"), lr)

    def loss(self, s):
        with torch.no_grad():
            return s.loss_fn(s.model(s.x), s.y)

    def loss_and_grads(self, s):
        s.model.zero_grad()
        loss = s.loss_fn(s.model(s.x), s.y)
        loss.backward()
        return loss.detach(), self.canonical(s.model, lambda p: p.grad)

    def step(self, s):
        s.model.zero_grad()
        loss = s.loss_fn(s.model(s.x), s.y)
        loss.backward()
        with torch.no_grad():
            for param in s.model.parameters():
                param -= s.learning_rate * param.grad
        return loss.detach()

    def parameters(self, s):
        return self.canonical(s.model, lambda p: p.detach())

    @staticmethod
    def canonical(model, read):
        return {"w1": read(model[0].weight).T, "b1": read(model[0].bias),
                "w2": read(model[2].weight).T, "b2": read(model[2].bias)}
