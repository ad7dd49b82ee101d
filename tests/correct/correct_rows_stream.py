"""Correct mini-batch training written another way: the order read as one endless stream of batches.

A generator yields every epoch's batches from the ``Batches`` handed in, one epoch after the
other (each ``yield from`` starts the epoch the order is at), and each step takes the next batch
from it: no slicing position to keep, no epoch boundary in the step. The loss and gradients are
those of tests/correct/variants.py, computed row block by row block and summed.
"""

import numpy as np

from impls.numpy_minibatch import NumpyMinibatch
from tests.correct.variants import grads_by_hand


def endless(batches):
    while True:
        yield from batches


class StreamedBatches(NumpyMinibatch):
    name, summary = "correct-rows-stream", "batches read as one endless stream, gradients summed over row blocks"

    def prepare(self, x, y, params, lr, batches):
        state = super().prepare(x, y, params, lr, batches)
        state.stream = endless(batches)
        return state

    def step(self, s):
        rows = np.asarray(next(s.stream))
        loss, grads = 0.0, {k: np.zeros_like(v) for k, v in s.params.items()}
        for block in np.array_split(rows, 2):          # the batch's sums taken in two parts
            block_loss, block_grads = grads_by_hand(s.x[block], s.y[block], **s.params)
            loss += block_loss
            grads = {k: grads[k] + block_grads[k] for k in grads}
        s.params = {k: v - s.lr * grads[k] for k, v in s.params.items()}
        return loss
