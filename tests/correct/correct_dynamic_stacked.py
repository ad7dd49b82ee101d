"""Correct dynamic network written another way: the shared layer's gradient in one product over all its uses.

The uses' inputs are stacked row-wise, and so are the gradients at their outputs: one
``inputs.T @ grads`` over the stacked rows sums every use's share at once, where numpy-dynamic adds
them one by one. The forward pass keeps its pre-activations in a list; momentum is torch's.
"""

import numpy as np

from impls.numpy_dynamic import NumpyDynamic


class StackedUses(NumpyDynamic):
    name, summary = "correct-dynamic-stacked", "the shared layer's gradient as one product over its stacked uses"
    relu_grad_at_zero = 0.0                         # the masks are h > 0

    def loss_and_grads(self, s):
        p = s.params
        pre = [s.x @ p["w_in"] + p["b_in"]]
        for _ in range(self.repeats(s)):
            pre.append(np.maximum(pre[-1], 0) @ p["w_mid"] + p["b_mid"])
        out = np.maximum(pre[-1], 0)
        residual = out @ p["w_out"] + p["b_out"] - s.y
        grad = 2.0 * residual
        grads = {"w_out": out.T @ grad, "b_out": grad.sum(axis=0)}
        grad = (grad @ p["w_out"].T) * (pre[-1] > 0)
        use_inputs, use_grads = [], []
        for below in reversed(pre[:-1]):
            use_inputs.append(np.maximum(below, 0))
            use_grads.append(grad)
            grad = (grad @ p["w_mid"].T) * (below > 0)
        if use_inputs:
            stacked = np.concatenate(use_grads)
            grads |= {"w_mid": np.concatenate(use_inputs).T @ stacked, "b_mid": stacked.sum(axis=0)}
        else:
            grads |= {"w_mid": np.zeros_like(p["w_mid"]), "b_mid": np.zeros_like(p["b_mid"])}
        grads |= {"w_in": s.x.T @ grad, "b_in": grad.sum(axis=0)}
        return float(np.square(residual).sum()), grads
