"""Correct implementations written differently from the built-ins: no tolerance may fail them.

Each computes the same network in another way a careful author might (another summation order,
another product routine, more precision than asked, buffers reused in place, non-contiguous
results, another library's autodiff). tests/test_tolerance.py holds every one to a tenth of the
tolerance at every shape, bias and point.
"""

import numpy as np

from impls.numpy_manual import NumpyManual


def grads_by_hand(x, y, w1, w2, b1=None, b2=None, mm=np.matmul):
    h = mm(x, w1) + (0 if b1 is None else b1)     # (N, H)
    h_relu = np.maximum(h, 0)                       # (N, H)
    y_pred = mm(h_relu, w2) + (0 if b2 is None else b2)  # (N, D_out)
    grad_y_pred = 2 * (y_pred - y)                  # (N, D_out)
    grad_h = mm(grad_y_pred, w2.T) * (h >= 0)       # (N, H)
    grads = {"w1": mm(x.T, grad_h), "w2": mm(h_relu.T, grad_y_pred)}
    if b1 is not None:
        grads |= {"b1": grad_h.sum(axis=0), "b2": grad_y_pred.sum(axis=0)}
    return np.square(y_pred - y).sum(), grads


class Einsum(NumpyManual):
    name, summary = "correct-einsum", "every product an np.einsum"

    def loss_and_grads(self, s):
        return grads_by_hand(s.x, s.y, **s.params, mm=lambda a, b: np.einsum("ij,jk->ik", a, b))


class ChunkedBatch(NumpyManual):
    """The batch in chunks of 16 samples, gradients and loss accumulated over the chunks."""

    name, summary = "correct-chunked-batch", "gradients summed over chunks of 16 samples"

    def loss_and_grads(self, s):
        total, summed = 0, None
        for start in range(0, s.x.shape[0], 16):
            part = slice(start, start + 16)
            value, grads = grads_by_hand(s.x[part], s.y[part], **s.params)
            total = total + value
            summed = grads if summed is None else {k: summed[k] + g for k, g in grads.items()}
        return total, summed


class MorePrecision(NumpyManual):
    """Computes in float64 whatever it is asked for, and rounds the results to the asked dtype."""

    name, summary = "correct-more-precision", "float64 arithmetic, results rounded to the asked dtype"

    def loss_and_grads(self, s):
        dtype = s.x.dtype
        value, grads = grads_by_hand(*(a.astype(np.float64) for a in (s.x, s.y)),
                                     **{k: v.astype(np.float64) for k, v in s.params.items()})
        return dtype.type(value), {k: g.astype(dtype) for k, g in grads.items()}


class ReusedBuffers(NumpyManual):
    """Products written into buffers allocated once, parameters updated in the arrays handed in."""

    name, summary = "correct-reused-buffers", "np.matmul(out=...) into buffers kept between calls"

    def prepare(self, x, y, params, lr):
        s = super().prepare(x, y, params, lr)
        N, H, D_out = x.shape[0], params["w1"].shape[1], y.shape[1]
        s.buffers = {"h": np.empty((N, H), x.dtype), "y_pred": np.empty((N, D_out), x.dtype),
                     "grad_h": np.empty((N, H), x.dtype)}
        return s

    def loss_and_grads(self, s):
        b, p = s.buffers, s.params
        h = np.matmul(s.x, p["w1"], out=b["h"])
        if "b1" in p:
            h += p["b1"]
        h_relu = np.maximum(h, 0)
        y_pred = np.matmul(h_relu, p["w2"], out=b["y_pred"])
        if "b2" in p:
            y_pred += p["b2"]
        grad_y_pred = 2 * (y_pred - s.y)
        grad_h = np.matmul(grad_y_pred, p["w2"].T, out=b["grad_h"])
        grad_h[h < 0] = 0
        grads = {"w1": s.x.T @ grad_h, "w2": h_relu.T @ grad_y_pred}
        if "b1" in p:
            grads |= {"b1": grad_h.sum(axis=0), "b2": grad_y_pred.sum(axis=0)}
        return np.square(y_pred - s.y).sum(), grads


class NonContiguous(NumpyManual):
    """Gradients handed back as transposed views of products computed the other way round."""

    name, summary = "correct-non-contiguous", "gradients as transposed, non-contiguous views"

    def loss_and_grads(self, s):
        value, grads = grads_by_hand(s.x, s.y, **s.params)
        return value, {k: (np.asfortranarray(g.T).T if g.ndim == 2 else g[::-1][::-1]) for k, g in grads.items()}


class HipsAutograd(NumpyManual):
    name, summary = "correct-hips-autograd", "HIPS autograd's grad of the numpy loss"

    def loss_and_grads(self, s):
        import autograd
        import autograd.numpy as anp

        def loss(params):
            h = anp.dot(s.x, params["w1"]) + params.get("b1", 0)
            y_pred = anp.dot(anp.maximum(h, 0), params["w2"]) + params.get("b2", 0)
            return anp.sum((y_pred - s.y) ** 2)
        grads, value = autograd.grad_and_aux(lambda p: (loss(p), loss(p)))(dict(s.params))
        return value, grads


class MyGrad(NumpyManual):
    name, summary = "correct-mygrad", "mygrad tensors and backward()"

    def loss_and_grads(self, s):
        import mygrad as mg

        params = {k: mg.tensor(v) for k, v in s.params.items()}
        h = mg.matmul(s.x, params["w1"]) + params.get("b1", 0)
        y_pred = mg.matmul(mg.maximum(h, 0), params["w2"]) + params.get("b2", 0)
        loss = mg.sum((y_pred - s.y) ** 2)
        loss.backward()
        # mygrad hands float32 work back in float64: rounded to the asked dtype, as MorePrecision does.
        dtype = s.x.dtype
        return dtype.type(loss.data), {k: p.grad.astype(dtype) for k, p in params.items()}


class TorchFunc(NumpyManual):
    """torch.func.grad_and_value on a functional loss; declared torch, so arrays arrive as tensors."""

    name, summary, backend = "correct-torch-func", "torch.func.grad_and_value of a functional loss", "torch"

    def loss_and_grads(self, s):
        import torch
        from torch.func import grad_and_value

        def loss(params):
            h = s.x @ params["w1"] + params.get("b1", 0)
            y_pred = torch.relu(h) @ params["w2"] + params.get("b2", 0)
            return ((y_pred - s.y) ** 2).sum()
        grads, value = grad_and_value(loss)(dict(s.params))
        return value, grads

    def loss(self, s):
        return self.loss_and_grads(s)[0]

    def step(self, s):
        value, grads = self.loss_and_grads(s)
        for k, g in grads.items():
            s.params[k] -= s.lr * g
        return value


class GradsAsList(NumpyManual):
    name, summary = "correct-grads-as-list", "gradients as a list in the documented order"

    def loss_and_grads(self, s):
        loss, grads = super().loss_and_grads(s)
        return loss, [grads[k] for k in ("w1", "w2", "b1", "b2") if k in grads]


class ParametersAsTuple(NumpyManual):
    name, summary = "correct-parameters-as-tuple", "parameters as a tuple in the documented order"

    def parameters(self, s):
        return tuple(s.params[k] for k in ("w1", "w2", "b1", "b2") if k in s.params)


class LossAsPythonFloat(NumpyManual):
    """``.item()`` on the loss: a Python float holding the float32 value exactly."""

    name, summary = "correct-loss-as-python-float", "the loss as a Python float (.item())"

    def loss_and_grads(self, s):
        loss, grads = super().loss_and_grads(s)
        return loss.item(), grads


class LossInOneBuffer(NumpyManual):
    """The loss written into one 0-d array kept between steps, as a replayed CUDA graph hands back its static
    output: each step's return holds that step's loss until the next step overwrites it."""

    name, summary = "correct-loss-in-one-buffer", "every step's loss in the same 0-d array"

    def prepare(self, x, y, params, lr):
        s = super().prepare(x, y, params, lr)
        s.loss = np.zeros((), x.dtype)
        return s

    def step(self, s):
        s.loss[...] = super().step(s)
        return s.loss


VARIANTS = [Einsum, ChunkedBatch, MorePrecision, ReusedBuffers, NonContiguous, HipsAutograd, MyGrad, TorchFunc,
            GradsAsList, ParametersAsTuple, LossAsPythonFloat, LossInOneBuffer]
