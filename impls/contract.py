"""The contract every implementation meets.

An implementation is one small object (a subclass of ``Implementation``) that declares what it
supports and holds only the network: ``prepare`` builds its state from arrays the harness has
already converted to its framework, device and dtype; ``loss``, ``loss_and_grads``, ``step`` and
``parameters`` compute on that state and return framework arrays. ``impls.serve.Adapter``
converts the harness's numpy inputs to the framework and every result back to numpy;
``reference.harness.session.Session``, a layer above, checks what comes back.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Mapping

from impls.backends import BACKENDS, DEVICES, DTYPES


#: The update rules ``step`` may apply, with the tutorials' coefficients as torch.optim defines them:
#: "sgd" ``w -= lr * g``; "sgd-momentum" ``buf = 0.9 * buf + g`` (buf = g at the first step),
#: ``w -= lr * buf``; "adam" betas (0.9, 0.999), eps 1e-8 added outside the square root, bias-corrected.
OPTIMIZERS = ("sgd", "sgd-momentum", "adam")

#: What one ``step`` trains on: "full" every row; "minibatch" the next batch of the ``Batches`` that
#: ``prepare`` receives, epoch after epoch.
BATCHINGS = ("full", "minibatch")

#: The network: "two-layer" (w1, w2 and optionally b1, b2), or "dynamic", the DynamicNet tutorial's:
#: an input layer (w_in, b_in), one middle layer (w_mid, b_mid) applied 0 to 3 times with the same
#: weights, an output layer (w_out, b_out); relu after the input and every middle application.
MODELS = ("two-layer", "dynamic")


class UnsupportedCase(ValueError):
    """A device, dtype or framework this implementation cannot run here; the tests turn it into a skip."""


class PluginError(ValueError):
    """A plug-in implementation that cannot be loaded or does not meet the contract."""


class ContractViolation(ValueError):
    """An implementation returned something the contract does not allow (a list of the wrong length, a foreign type)."""


class Batches:
    """The order a mini-batch implementation takes its rows in, handed to ``prepare`` by the harness.

    Epoch after epoch, a permutation of the N rows cut into batches of ``batch_size``, the last one
    shorter when ``batch_size`` does not divide N. Every implementation gets the same order, so all
    of them can be held to one float64 path. The order repeats after its last epoch (the harness
    sends more epochs than any check steps through).

    ``epoch`` is the epoch the next read gets, and two reads take it:

    - iterating gives its batches as lists of row indices, which makes it a
      ``torch.utils.data.DataLoader``'s ``batch_sampler``. The epoch is used up once its last batch
      has been handed out (a pass of the loader, a ``for`` loop to the end, ``list(batches)``); an
      iteration stopped before that, such as a peek with ``next(iter(batches))``, leaves it for the
      next read.
    - ``permutation()`` gives its rows whole, for slicing, and uses it up.

    So read each epoch whole once, when training reaches it: an epoch read whole in ``prepare`` to
    look at it is one the steps never train on (the checks name that "epoch-skipped").
    """

    def __init__(self, order: Any, batch_size: int):
        self.order, self.batch_size, self.epoch = order, batch_size, 0

    def permutation(self) -> Any:
        rows = self.order[self.epoch % len(self.order)]
        self.epoch += 1
        return rows

    def __iter__(self):
        return self._handed_out(self.epoch)

    def _handed_out(self, epoch: int):
        rows = self.order[epoch % len(self.order)]
        for start in range(0, len(rows), self.batch_size):
            if start + self.batch_size >= len(rows):
                # The last batch: the epoch is used up as it goes, once however many reads reach it.
                self.epoch = max(self.epoch, epoch + 1)
            yield rows[start:start + self.batch_size].tolist()

    def __len__(self) -> int:
        return -(-len(self.order[0]) // self.batch_size)


class Implementation(ABC):
    """One way of writing the network. Subclass, fill in the class attributes and five methods.

    Arrays handed to ``prepare`` are already on the requested device and in the requested dtype,
    in the canonical layout: ``x`` (N, D_in), ``y`` (N, D_out), ``w1`` (D_in, H), ``w2`` (H, D_out),
    and, with a bias, ``b1`` (H,), ``b2`` (D_out,). Gradients and parameters go back in that same
    layout and under those names, whatever layout the implementation keeps internally.
    """

    name: ClassVar[str]                       # registry name, e.g. "torch-autograd"
    backend: ClassVar[str]                    # "numpy", "torch" or "jax": how arrays are converted
    summary: ClassVar[str]                    # one line: what this way of writing demonstrates
    devices: ClassVar[tuple[str, ...]] = ("cpu",)
    dtypes: ClassVar[tuple[str, ...]] = DTYPES
    relu_grad_at_zero: ClassVar[float]        # the subgradient of relu at exactly 0 this code takes
    optimizer: ClassVar[str] = "sgd"          # the update rule step() applies at prepare()'s lr (OPTIMIZERS)
    batching: ClassVar[str] = "full"          # the rows one step() trains on (BATCHINGS)
    model: ClassVar[str] = "two-layer"        # the network it computes (MODELS)
    #: Which two-layer networks it computes: False (w1, w2 only), True (b1, b2 too), or both, (False, True).
    #: The checks of the other one are left out. The dynamic network always has its biases.
    bias: ClassVar[bool | tuple[bool, ...]] = (False, True)
    compiles_per_shape: ClassVar[bool] = False  # the first call at each new shape costs seconds
    #: Runs op by op on purpose, to show what compilation buys: reports leave it out of the
    #: targets that compiled and hand-written code are held to.
    eager_by_design: ClassVar[bool] = False

    def validate_declaration(self) -> None:
        """Raise PluginError naming the first declared attribute that is missing or invalid."""
        label = getattr(self, "name", type(self).__name__)
        for attr, kind in (("name", str), ("backend", str), ("summary", str), ("relu_grad_at_zero", (int, float))):
            if not isinstance(getattr(self, attr, None), kind):
                raise PluginError(f"{label}: class attribute {attr!r} is missing or not a {getattr(kind, '__name__', 'number')}")
        if self.optimizer not in OPTIMIZERS:
            raise PluginError(f"{label}: optimizer {self.optimizer!r} is not one of {', '.join(OPTIMIZERS)}")
        if self.batching not in BATCHINGS:
            raise PluginError(f"{label}: batching {self.batching!r} is not one of {', '.join(BATCHINGS)}")
        if self.model not in MODELS:
            raise PluginError(f"{label}: model {self.model!r} is not one of {', '.join(MODELS)}")
        if not biases(self):
            raise PluginError(f"{label}: bias {self.bias!r} is not False, True or (False, True)")
        if self.model == "dynamic" and True not in biases(self):
            raise PluginError(f"{label}: bias {self.bias!r}, but the dynamic network always has its biases")
        if self.backend not in BACKENDS:
            raise PluginError(f"{label}: backend {self.backend!r} is not one of {', '.join(BACKENDS)}")
        for attr, known in (("devices", DEVICES), ("dtypes", DTYPES)):
            unknown = set(getattr(self, attr)) - set(known)
            if unknown:
                raise PluginError(f"{label}: {attr} {sorted(unknown)} not among {', '.join(known)}")

    @abstractmethod
    def prepare(self, x: Any, y: Any, params: Mapping[str, Any], lr: float, batches: Batches | None = None) -> Any:
        """Build the state that the other methods compute on (never timed).

        ``batches`` is passed only to an implementation that declares ``batching = "minibatch"``
        (a full-batch one may leave it out of its signature): its ``step`` trains on their rows.
        A ``model = "dynamic"`` implementation is passed ``depths`` instead, a 1-D integer array:
        the forward pass of step t (counted from 0, since prepare) applies the middle layer
        ``depths[t % len(depths)]`` times, and ``loss`` and ``loss_and_grads`` compute the network the
        next step will train, so that every implementation sees the same depths in any call order.
        """

    @abstractmethod
    def loss(self, state: Any) -> Any:
        """Forward pass only: the scalar loss sum((y_pred - y) ** 2), over every row."""

    @abstractmethod
    def loss_and_grads(self, state: Any) -> tuple[Any, Mapping[str, Any]]:
        """Forward and backward over every row: the loss and the gradient of every parameter (canonical layout)."""

    @abstractmethod
    def step(self, state: Any) -> Any:
        """One step of the declared optimizer at the state's lr, updating the state; the loss before it.

        A mini-batch implementation steps on the next batch alone, and returns that batch's loss
        (its sum of squares, as the full loss is).

        The optimizer's buffers (momentum, Adam's moments and step count) start empty at
        ``prepare`` and carry from each step to the next.
        """

    @abstractmethod
    def parameters(self, state: Any) -> Mapping[str, Any]:
        """The current parameters, canonical layout."""


def biases(impl: "Implementation | Declaration") -> tuple[bool, ...]:
    """The two-layer networks ``impl`` declares it computes: (False,), (True,) or (False, True); () when its
    ``bias`` is none of False, True or a list of them."""
    declared = impl.bias
    if isinstance(declared, bool):
        return (declared,)
    if isinstance(declared, (tuple, list)) and declared and all(isinstance(b, bool) for b in declared):
        return tuple(sorted(set(declared)))
    return ()


@dataclass(frozen=True)
class Declaration:
    """What an implementation declares about itself, as plain data: all the harness needs to plan its cases.

    A child process that runs an implementation sends this back instead of the object, so the
    harness never executes the implementation's code to learn its name or devices.
    """

    name: str
    backend: str
    summary: str
    devices: tuple[str, ...]
    dtypes: tuple[str, ...]
    relu_grad_at_zero: float
    optimizer: str = "sgd"
    batching: str = "full"
    model: str = "two-layer"
    compiles_per_shape: bool = False
    eager_by_design: bool = False
    bias: tuple[bool, ...] = (False, True)

    @classmethod
    def of(cls, impl: Implementation) -> "Declaration":
        impl.validate_declaration()
        return cls(impl.name, impl.backend, impl.summary, tuple(impl.devices), tuple(impl.dtypes),
                   float(impl.relu_grad_at_zero), impl.optimizer, impl.batching, impl.model,
                   bool(impl.compiles_per_shape), bool(impl.eager_by_design), biases(impl))

    @classmethod
    def from_message(cls, message: Any) -> "Declaration":
        """The declaration a child sent, checked as if the class itself had declared it (PluginError if not)."""
        try:
            declaration = cls(**{**message, "devices": tuple(message["devices"]), "dtypes": tuple(message["dtypes"]),
                                 "bias": tuple(message["bias"])})
        except (TypeError, KeyError) as error:
            raise PluginError(f"the implementation's process sent an unreadable declaration: {error}") from None
        Implementation.validate_declaration(declaration)  # the checks a class's own declaration gets
        return declaration

    def as_message(self) -> dict[str, Any]:
        return asdict(self)
