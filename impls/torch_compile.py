"""torch.compile: torch-autograd's code with its loss, forward pass and sum of squares, compiled.

``torch.compile`` captures the function into a graph and generates fused kernels for it;
AOTAutograd compiles the matching backward the first time ``loss.backward()`` runs through
it. The update stays as torch-autograd writes it, eager under ``torch.no_grad()``. The first
call of each new shape or dtype pays for that compilation (seconds); the benchmarks report it
separately from the steady-state time.

Why it is slower than eager torch-autograd at the default size (torch 2.13, CPU, 1 thread):
not graph breaks (``torch._dynamo.explain`` finds one graph, none) nor recompiles in a run
(``TORCH_LOGS=recompiles`` is silent after the first call), but fixed costs per call that eager
does not pay: guard evaluation, AOTAutograd's runtime wrappers and the compiled graph's own
autograd node, forward and backward. At this size they cost more than fusion saves, because
the five matrix products stay BLAS calls and only the elementwise work between them fuses.
The wrapper used to compile the forward alone, a bound method per instance, leaving the loss
and its backward eager: moving the loss into the graph runs 36 instead of 55 aten ops and 3
instead of 6 autograd nodes per step (torch.profiler), and took the step from 1.67x eager
torch-autograd to 1.52x (interleaved, machine at load 8). torch-compile-step compiles the
whole step, update included, and beats eager.
"""

import torch

from impls.torch_autograd import TorchAutograd


# The checks take one process through seven shapes, both dtypes, with and without biases: more
# graphs than dynamo's default limit of 8, past which torch.compile silently runs the function
# eagerly and the checks would pass on eager code. A training script at one shape never gets near it.
torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 64)


@torch.compile
def loss_fn(x, y, w1, w2, b1=None, b2=None):
    h = x.mm(w1)                     # (N, H)
    if b1 is not None:
        h = h + b1
    h_relu = h.clamp(min=0)          # (N, H)
    y_pred = h_relu.mm(w2)           # (N, D_out)
    if b2 is not None:
        y_pred = y_pred + b2
    return (y_pred - y).pow(2).sum()


class TorchCompile(TorchAutograd):
    name = "torch-compile"
    summary = "torch-autograd with the loss compiled by torch.compile (backward by AOTAutograd)"
    relu_grad_at_zero = 1.0  # compiled clamp(min=0) keeps eager's gradient at h == min
    compiles_per_shape = True

    def loss(self, s):
        with torch.no_grad():
            return loss_fn(s.x, s.y, **s.params)

    def loss_and_grads(self, s):
        for p in s.params.values():
            p.grad = None                # .backward() adds to .grad: start each pass from nothing
        loss = loss_fn(s.x, s.y, **s.params)
        loss.backward()                  # runs the backward graph AOTAutograd compiled with the forward
        return loss.detach(), {name: p.grad for name, p in s.params.items()}
