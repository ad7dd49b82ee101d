"""The tutorials' slips with mini-batches, each written as a learner would make it.

``planted`` is the diagnosis code reference/checks/batches.py must name it by. The slicing loop
that stops at ``N // batch_size`` is one tutorial's own (its ``create_batches``); the loader
shuffled on its own and the mean-reduced loss are torch's defaults taken as they come.
"""

import torch
from torch.utils.data import DataLoader, TensorDataset

from impls.numpy_manual import loss_and_grads
from impls.numpy_minibatch import NumpyMinibatch
from impls.torch_dataloader import TorchDataLoader


class LastBatchDropped(NumpyMinibatch):
    """Slices while a whole batch is left: each epoch's last 16 of 64 rows are never trained on."""
    name, planted = "wrong-minibatch-last-dropped", "last-batch-dropped"

    def step(self, s):
        if s.start + s.batches.batch_size > len(s.x):          # the mistake: a short last slice counts as none
            rows = s.batches.permutation()
            s.x_shuffled, s.y_shuffled, s.start = s.x[rows], s.y[rows], 0
        end = s.start + s.batches.batch_size
        x_batch, y_batch = s.x_shuffled[s.start:end], s.y_shuffled[s.start:end]
        s.start = end
        loss, grads = loss_and_grads(x_batch, y_batch, **s.params)
        for name, grad in grads.items():
            s.params[name] -= s.lr * grad
        return loss


class LoaderShuffledUnseeded(TorchDataLoader):
    """DataLoader(shuffle=True) with no generator: torch draws its own order, anew in every run."""
    name, planted = "wrong-dataloader-unseeded-shuffle", "unseeded-shuffle"

    def prepare(self, x, y, params, lr, batches):
        state = super().prepare(x, y, params, lr, batches)
        state.loader = DataLoader(TensorDataset(x, y), batch_size=batches.batch_size, shuffle=True)
        state.batches_left = iter(state.loader)
        return state


class BatchLossMeanReduced(TorchDataLoader):
    """The training loop's loss is nn.MSELoss() as it comes: each batch's loss and gradient divided by its
    rows x D_out, while the full loss stays the sum."""
    name, planted = "wrong-dataloader-mean-loss", "mean-reduction"

    def step(self, s):
        x_batch, y_batch = self.next_batch(s)
        s.optimizer.zero_grad()
        loss = torch.nn.MSELoss()(s.model(x_batch), y_batch)   # the mistake: the default reduction, a mean
        loss.backward()
        s.optimizer.step()
        return loss.detach()


class EpochOutlivesPrepare(NumpyMinibatch):
    """Keeps where the epoch's slicing stands on the implementation object, outside the state prepare() returns:
    the first step after a fresh prepare() of the same rows takes the last state's next slice, not the new
    order's first batch (a new number of rows starts afresh, so the mistake shows as order, not as a crash)."""
    name, planted = "wrong-minibatch-epoch-outlives-prepare", "call-order"
    start, x_shuffled, y_shuffled = None, None, None

    def step(self, s):
        if self.start is None or self.start >= len(s.x) or self.x_shuffled.shape != s.x.shape:
            rows = s.batches.permutation()
            self.x_shuffled, self.y_shuffled, self.start = s.x[rows], s.y[rows], 0
        end = self.start + s.batches.batch_size
        x_batch, y_batch = self.x_shuffled[self.start:end], self.y_shuffled[self.start:end]
        self.start = end
        loss, grads = loss_and_grads(x_batch, y_batch, **s.params)
        for name, grad in grads.items():
            s.params[name] -= s.lr * grad
        return loss


class SlicedStep(NumpyMinibatch):
    """numpy-minibatch's slicing and SGD step, apart: a subclass picks the slice a step trains on."""

    def next_slice(self, s):
        if s.start >= len(s.x):
            rows = s.batches.permutation()
            s.x_shuffled, s.y_shuffled, s.start = s.x[rows], s.y[rows], 0
        end = s.start + s.batches.batch_size
        taken, s.start = (s.x_shuffled[s.start:end], s.y_shuffled[s.start:end]), end
        return taken

    def train_on(self, s, x_batch, y_batch):
        loss, grads = loss_and_grads(x_batch, y_batch, **s.params)
        for name, grad in grads.items():
            s.params[name] -= s.lr * grad
        return loss


class LogsTheNextBatch(SlicedStep):
    """Trains on its batch, but the loss it returns is the one it logs for the batch fetched ahead for the next
    step (a prefetching loop that reports the wrong one)."""
    name, planted = "wrong-minibatch-loss-of-next-batch", "loss-other-rows"

    def step(self, s):
        if getattr(s, "ahead", None) is None:
            s.ahead = self.next_slice(s)
        x_batch, y_batch = s.ahead
        s.ahead = self.next_slice(s)
        logged, _ = loss_and_grads(*s.ahead, **s.params)    # the mistake: the next batch's loss is returned
        self.train_on(s, x_batch, y_batch)
        return logged


class PrefetchedOneLate(SlicedStep):
    """Trains on the batch fetched by the step before and keeps this step's fetch for the next one: from step 2
    on, each step trains on the rows of the step before (step 2 repeats step 1's batch)."""
    name, planted = "wrong-minibatch-stale-batch", "rows-lagged"

    def step(self, s):
        fetched = self.next_slice(s)
        x_batch, y_batch = getattr(s, "previous", None) or fetched   # the mistake: last step's fetch is trained on
        s.previous = fetched
        return self.train_on(s, x_batch, y_batch)


class ShuffledOnce(SlicedStep):
    """Shuffles once, in the first epoch, and reuses that order every epoch after."""
    name, planted = "wrong-minibatch-shuffled-once", "not-reshuffled"

    def step(self, s):
        if s.start >= len(s.x):
            if getattr(s, "first", None) is None:
                s.first = s.batches.permutation()
            s.x_shuffled, s.y_shuffled, s.start = s.x[s.first], s.y[s.first], 0   # the mistake: one order kept
        return self.train_on(s, *self.next_slice(s))


class NeverShuffled(SlicedStep):
    """Slices the rows in the order they are stored, never shuffling."""
    name, planted = "wrong-minibatch-never-shuffled", "unshuffled"

    def step(self, s):
        if s.start >= len(s.x):
            s.x_shuffled, s.y_shuffled, s.start = s.x, s.y, 0   # the mistake: no permutation
        return self.train_on(s, *self.next_slice(s))


class FreshIteratorEveryStep(TorchDataLoader):
    """``next(iter(loader))`` in every step: each new iterator starts the epoch over, so every step trains on
    the epoch's first batch."""
    name, planted = "wrong-dataloader-fresh-iterator", "same-rows"

    def next_batch(self, s):
        return next(iter(s.loader))                     # the mistake: a new pass each step, never advanced


#: What a mini-batch run does wrong with its rows (each fails training); EpochOutlivesPrepare trains right.
MINIBATCH_SLIPS = [LastBatchDropped, LoaderShuffledUnseeded, BatchLossMeanReduced, LogsTheNextBatch,
                   PrefetchedOneLate, ShuffledOnce, NeverShuffled, FreshIteratorEveryStep]
