"""torch, the DynamicNet tutorial: control flow in Python, one module reused, autograd through it all.

The forward pass is an ordinary Python loop that applies ``middle_linear`` a number of times;
autograd records each use, so the backward pass sums the middle layer's gradient over them with
no special code. The tutorial draws the count with ``random.randint(0, 3)`` on every forward pass;
here it comes from the sequence ``prepare`` is handed (step t uses ``depths[t]``), so that every
implementation trains the same networks. Trained with ``SGD(momentum=0.9)``, as the tutorial is.
The layers are nn.Linear, (out, in) weights, mapped to and from the canonical (in, out) by transposing.
"""

from dataclasses import dataclass

import torch

from impls.contract import Implementation

LAYERS = {"input_linear": ("w_in", "b_in"), "middle_linear": ("w_mid", "b_mid"), "output_linear": ("w_out", "b_out")}


class DynamicNet(torch.nn.Module):
    def __init__(self, D_in, H, D_out, **factory):
        super().__init__()
        self.input_linear = torch.nn.Linear(D_in, H, **factory)
        self.middle_linear = torch.nn.Linear(H, H, **factory)
        self.output_linear = torch.nn.Linear(H, D_out, **factory)

    def forward(self, x, repeats):
        h_relu = self.input_linear(x).clamp(min=0)              # (N, H)
        for _ in range(repeats):                                # the same module on every pass
            h_relu = self.middle_linear(h_relu).clamp(min=0)    # (N, H)
        y_pred = self.output_linear(h_relu)                     # (N, D_out)
        return y_pred


@dataclass
class State:
    x: torch.Tensor
    y: torch.Tensor
    model: DynamicNet
    loss_fn: torch.nn.MSELoss
    optimizer: torch.optim.Optimizer
    depths: object
    t: int = 0   # steps taken: the next forward pass uses depths[t]


class TorchDynamic(Implementation):
    name = "torch-dynamic"
    backend = "torch"
    summary = "the DynamicNet tutorial: nn.Module with a Python loop reusing middle_linear, SGD(momentum=0.9)"
    devices = ("cpu", "cuda")
    relu_grad_at_zero = 1.0   # clamp(min=0) passes the gradient where its input is 0
    optimizer = "sgd-momentum"
    model = "dynamic"

    def prepare(self, x, y, params, lr, depths):
        (D_in, H), (_, D_out) = params["w_in"].shape, params["w_out"].shape
        model = DynamicNet(D_in, H, D_out, device=x.device, dtype=x.dtype)
        with torch.no_grad():
            for layer, (weight, bias) in LAYERS.items():
                getattr(model, layer).weight.copy_(params[weight].T)   # (out, in)
                getattr(model, layer).bias.copy_(params[bias])
        optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
        return State(x, y, model, torch.nn.MSELoss(reduction="sum"), optimizer, depths)

    def repeats(self, s):
        return int(s.depths[s.t % len(s.depths)])

    def loss(self, s):
        with torch.no_grad():
            return s.loss_fn(s.model(s.x, self.repeats(s)), s.y)

    def loss_and_grads(self, s):
        # Zeros, not None: at depth 0 middle_linear takes no part, and SGD skips a parameter whose grad
        # is None, its momentum buffer too; its gradient is 0, and momentum keeps moving it. (Before
        # its first use it has no grad at all: read as 0.)
        s.optimizer.zero_grad(set_to_none=False)
        loss = s.loss_fn(s.model(s.x, self.repeats(s)), s.y)
        loss.backward()
        return loss.detach(), self._canonical(s.model, lambda p: torch.zeros_like(p) if p.grad is None else p.grad)

    def step(self, s):
        loss, _ = self.loss_and_grads(s)
        s.optimizer.step()
        s.t += 1
        return loss

    def parameters(self, s):
        return self._canonical(s.model, lambda p: p.detach())

    @staticmethod
    def _canonical(model, read):
        """Weights back to (in, out) by transposing; biases as they are."""
        out = {}
        for layer, (weight, bias) in LAYERS.items():
            out[weight], out[bias] = read(getattr(model, layer).weight).T, read(getattr(model, layer).bias)
        return out
