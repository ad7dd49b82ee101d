"""numpy, mini-batch gradient descent by slicing.

Each epoch the rows are shuffled (in the order ``prepare`` is handed, so that every
implementation sees the same batches), then sliced ``batch_size`` at a time; one step trains on
one slice. The last slice of an epoch is shorter when ``batch_size`` does not divide N, and it is
kept: stopping the loop at ``N // batch_size`` slices would drop those rows every epoch. The
sliced rows go into new names, ``x_batch`` and ``y_batch``: one tutorial overwrites ``x`` with its
own slice, and every later slice of it is empty. Forward and backward are numpy-manual's.
"""

from dataclasses import dataclass

import numpy as np

from impls.contract import Batches
from impls.numpy_manual import NumpyManual, State as FullBatchState, loss_and_grads


@dataclass
class State(FullBatchState):
    batches: Batches
    start: int                               # where the next slice begins; N when the epoch is used up
    x_shuffled: np.ndarray | None = None     # this epoch's rows in their shuffled order, (N, D_in); None before
    y_shuffled: np.ndarray | None = None     # (N, D_out)


class NumpyMinibatch(NumpyManual):
    name = "numpy-minibatch"
    summary = "numpy-manual's network trained on mini-batches sliced from each epoch's shuffled rows"
    batching = "minibatch"

    def prepare(self, x, y, params, lr, batches):
        return State(x, y, dict(params), lr, batches, start=len(x))   # the first step begins an epoch

    def step(self, s):
        if s.start >= len(s.x):                                  # a new epoch: shuffle anew
            rows = s.batches.permutation()
            s.x_shuffled, s.y_shuffled, s.start = s.x[rows], s.y[rows], 0
        end = s.start + s.batches.batch_size
        x_batch = s.x_shuffled[s.start:end]                      # (batch, D_in), the last one shorter
        y_batch = s.y_shuffled[s.start:end]                      # (batch, D_out)
        s.start = end
        loss, grads = loss_and_grads(x_batch, y_batch, **s.params)
        for name, grad in grads.items():
            s.params[name] -= s.lr * grad
        return loss
