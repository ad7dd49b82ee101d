"""torch.utils.data: a DataLoader hands torch-nn's model its mini-batches.

A ``TensorDataset`` pairs each row of x with its row of y, and the ``DataLoader`` collates the
rows of each batch into one tensor. The order comes from the ``batch_sampler`` (the ``Batches``
that ``prepare`` is handed, which every implementation shares); each pass over the loader is one
epoch, and a new pass draws the next epoch's order. ``shuffle=True`` instead would draw an order
of torch's own, reproducible only through a generator seeded for it. Model, loss (a sum over the
batch's rows) and the canonical mapping are torch-nn's (impls/torch_nn.py).
"""

from dataclasses import dataclass
from typing import Iterator

from torch.utils.data import DataLoader, TensorDataset

from impls.torch_nn import State as FullBatchState, TorchNN


@dataclass
class State(FullBatchState):
    loader: DataLoader
    batches_left: Iterator   # this epoch's batches not yet trained on


class TorchDataLoader(TorchNN):
    name = "torch-dataloader"
    summary = "torch-nn's model trained on mini-batches from a torch.utils.data.DataLoader"
    batching = "minibatch"

    def prepare(self, x, y, params, lr, batches):
        full = super().prepare(x, y, params, lr)
        loader = DataLoader(TensorDataset(x, y), batch_sampler=batches)
        return State(**vars(full), loader=loader, batches_left=iter(loader))

    def next_batch(self, s):
        batch = next(s.batches_left, None)
        if batch is None:                          # the epoch is used up: a new pass reshuffles
            s.batches_left = iter(s.loader)
            batch = next(s.batches_left)
        return batch

    def step(self, s):
        x_batch, y_batch = self.next_batch(s)      # (batch, D_in), (batch, D_out)
        s.optimizer.zero_grad()
        loss = s.loss_fn(s.model(x_batch), y_batch)
        loss.backward()
        s.optimizer.step()
        return loss.detach()
