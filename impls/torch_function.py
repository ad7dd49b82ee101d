"""torch autograd with a custom ``torch.autograd.Function``: the tutorials' MyReLU.

Autograd handles the matrix products; the ReLU brings its own forward and backward, showing
what every autograd operation is made of: a forward that saves what its backward will need.
Everything else is torch-autograd's (impls/torch_autograd.py).
"""

import torch

from impls.torch_autograd import TorchAutograd


class MyReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input):
        ctx.save_for_backward(input)
        return input.clamp(min=0)        # (N, H)

    @staticmethod
    def backward(ctx, grad_output):
        input, = ctx.saved_tensors
        grad_input = grad_output.clone()  # (N, H)
        grad_input[input < 0] = 0
        return grad_input


class TorchFunction(TorchAutograd):
    name = "torch-function"
    summary = "a custom torch.autograd.Function (MyReLU) with its own forward and backward"
    relu_grad_at_zero = 1.0  # grad_input[input < 0] = 0 lets the gradient through where h == 0
    relu = staticmethod(MyReLU.apply)
