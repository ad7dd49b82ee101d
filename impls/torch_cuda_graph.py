"""torch autograd with the whole training step captured once as a CUDA graph and replayed.

At the default size a step is a few dozen small kernels, and launching them from Python costs
more than running them. A CUDA graph records the kernels of one step (forward, backward and
update) once; every later step is a single ``graph.replay()``. The price: shapes, tensors
and the learning rate are frozen into the graph, so the step reads and writes fixed tensors.
CUDA only; ``loss`` and ``loss_and_grads`` run as in torch-autograd.
"""

import torch

from impls.torch_autograd import TorchAutograd


class TorchCudaGraph(TorchAutograd):
    name = "torch-cuda-graph"
    summary = "torch-autograd's step captured once as a CUDA graph and replayed (CUDA only)"
    devices = ("cuda",)

    def prepare(self, x, y, params, lr):
        s = super().prepare(x, y, params, lr)
        initial = {name: p.detach().clone() for name, p in s.params.items()}
        # Warm up on a side stream, as torch.cuda.graphs asks, so that lazy initialisation
        # (cuBLAS handles, autograd buffers) happens before capture; then undo the warm-up steps.
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):
                super().step(s)
        torch.cuda.current_stream().wait_stream(side)
        with torch.no_grad():
            for name, p in s.params.items():
                p.copy_(initial[name])
                p.grad = None
        s.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(s.graph):
            s.graph_loss = super().step(s)  # recorded, not run: the parameters are unchanged
        return s

    def step(self, s):
        s.graph.replay()
        return s.graph_loss
