"""torch, the whole training step compiled: forward, backward and update in one graph.

What makes it fast: one compiled call per step. ``torch.compile`` cannot follow
``loss.backward()`` (it breaks the graph there and runs the backward eagerly), so the
gradients come from ``torch.func.grad_and_value``, which it traces like any other function,
and the update ``w -= lr * grad`` is written in the same function. ``fullgraph=True`` makes a
graph break an error instead of a silent fallback. Inductor then emits one program: the five
matrix products as BLAS calls, everything between them (relu, the loss, relu's gradient mask,
the updates) in four fused loops that write the parameters in place; each step checks one set
of guards and crosses from Python into compiled code once.

Modes tried on CPU (torch 2.13, float32, default size, 1 thread; step CPU time over eager
torch-autograd's, interleaved in one process on a machine at load 8, so ratios, not times):
default 0.69, "reduce-overhead" 0.71 (it means CUDA graphs, which CPU tensors skip: the same
code), "max-autotune-no-cudagraphs" 0.82 (its search found nothing faster at
these shapes), ``options={"cpp_wrapper": True}`` 0.70 after a 30x longer compile. Keeping
``loss.backward()`` with ``torch._dynamo.config.compiled_autograd = True`` captures the backward
too but ran 4.3x eager. Default it is. On CUDA, torch-cuda-graph replays a captured step.
On CPU at the default size the eager torch-inplace is faster still: it updates inside the
products (``addmm_``), where this graph writes every gradient and then updates (figures in
impls/torch_inplace.py).
"""

from dataclasses import dataclass

import torch

from impls.contract import Implementation


def loss_fn(params, x, y):
    h = x.mm(params["w1"])               # (N, H)
    if "b1" in params:
        h = h + params["b1"]
    h_relu = h.clamp(min=0)              # (N, H)
    y_pred = h_relu.mm(params["w2"])     # (N, D_out)
    if "b2" in params:
        y_pred = y_pred + params["b2"]
    return (y_pred - y).pow(2).sum()


grads_and_loss = torch.func.grad_and_value(loss_fn)


def train_step(params, x, y, lr):
    grads, loss = grads_and_loss(params, x, y)
    for name, w in params.items():
        w -= lr * grads[name]            # in place, inside the graph: no step of its own
    return loss


# The checks take one process through seven shapes, both dtypes, with and without biases: more
# graphs per function than dynamo's default limit of 8, past which fullgraph=True raises (and a
# plain torch.compile silently runs eagerly). A training script at one shape never gets near it.
torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 64)
compiled_loss = torch.compile(loss_fn, fullgraph=True)
compiled_grads_and_loss = torch.compile(grads_and_loss, fullgraph=True)
compiled_step = torch.compile(train_step, fullgraph=True)


@dataclass
class State:
    x: torch.Tensor
    y: torch.Tensor
    params: dict
    lr: float


class TorchCompileStep(Implementation):
    name = "torch-compile-step"
    backend = "torch"
    summary = "torch's fastest step: forward, torch.func gradients and update compiled whole (fullgraph=True)"
    devices = ("cpu", "cuda")
    relu_grad_at_zero = 1.0  # clamp(min=0) passes the gradient where h == min, compiled or not
    compiles_per_shape = True

    def prepare(self, x, y, params, lr):
        return State(x, y, dict(params), lr)

    def loss(self, s):
        return compiled_loss(s.params, s.x, s.y)

    def loss_and_grads(self, s):
        grads, loss = compiled_grads_and_loss(s.params, s.x, s.y)
        return loss, grads

    def step(self, s):
        return compiled_step(s.params, s.x, s.y, s.lr)

    def parameters(self, s):
        return s.params
