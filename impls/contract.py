"""The contract every implementation meets, and the harness that runs one on numpy inputs.

An implementation is one small object (a subclass of ``Implementation``) that declares what it
supports and holds only the network: ``prepare`` builds its state from arrays the harness has
already converted to its framework, device and dtype; ``loss``, ``loss_and_grads`` and ``step``
compute on that state and return framework arrays. ``Session`` binds one implementation to a
device and dtype, validates everything crossing the boundary, and speaks numpy on both sides.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar, Mapping

import numpy as np

from impls.backends import BACKENDS, DEVICES, DTYPES, MODES, Backend
from reference.problem import Inputs


class UnsupportedCase(ValueError):
    """A device, dtype or framework this implementation cannot run here; the tests turn it into a skip."""


class PluginError(ValueError):
    """A plug-in implementation that cannot be loaded or does not meet the contract."""


class Implementation(ABC):
    """One way of writing the network. Subclass, fill in the class attributes and four methods.

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
    compiles_per_shape: ClassVar[bool] = False  # the first call at each new shape costs seconds

    def validate_declaration(self) -> None:
        """Raise PluginError naming the first declared attribute that is missing or invalid."""
        label = getattr(self, "name", type(self).__name__)
        for attr, kind in (("name", str), ("backend", str), ("summary", str), ("relu_grad_at_zero", (int, float))):
            if not isinstance(getattr(self, attr, None), kind):
                raise PluginError(f"{label}: class attribute {attr!r} is missing or not a {getattr(kind, '__name__', 'number')}")
        if self.backend not in BACKENDS:
            raise PluginError(f"{label}: backend {self.backend!r} is not one of {', '.join(BACKENDS)}")
        for attr, known in (("devices", DEVICES), ("dtypes", DTYPES)):
            unknown = set(getattr(self, attr)) - set(known)
            if unknown:
                raise PluginError(f"{label}: {attr} {sorted(unknown)} not among {', '.join(known)}")

    @abstractmethod
    def prepare(self, x: Any, y: Any, params: Mapping[str, Any], lr: float) -> Any:
        """Build the state that the other methods compute on (never timed)."""

    @abstractmethod
    def loss(self, state: Any) -> Any:
        """Forward pass only: the scalar loss sum((y_pred - y) ** 2)."""

    @abstractmethod
    def loss_and_grads(self, state: Any) -> tuple[Any, Mapping[str, Any]]:
        """Forward and backward: the loss and the gradient of every parameter (canonical layout)."""

    @abstractmethod
    def step(self, state: Any) -> Any:
        """One step of plain gradient descent at the state's lr, updating the state; the loss before it."""

    @abstractmethod
    def parameters(self, state: Any) -> Mapping[str, Any]:
        """The current parameters, canonical layout."""


class Session:
    """One implementation on one device in one dtype: numpy in, numpy out, everything checked."""

    def __init__(self, impl: Implementation, device: str, dtype: str, mode: str = "strict"):
        if device not in DEVICES:
            raise ValueError(f"unknown device {device!r}; known: {', '.join(DEVICES)}")
        if dtype not in DTYPES:
            raise ValueError(f"unknown dtype {dtype!r}; known: {', '.join(DTYPES)}")
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; known: {', '.join(MODES)}")
        self.backend: Backend = BACKENDS[impl.backend]
        for reason in (self.backend.missing_reason(),
                       None if device in impl.devices else f"{impl.name} does not run on {device}",
                       None if dtype in impl.dtypes else f"{impl.name} does not support {dtype}",
                       self.backend.device_missing_reason(device),
                       self.backend.mode_missing_reason(device, dtype, mode)):
            if reason:
                raise UnsupportedCase(reason)
        self.impl, self.device, self.dtype, self.mode = impl, device, dtype, mode
        #: The arithmetic the results are judged by (reference.tolerance.UNIT_ROUNDOFF).
        self.precision = "tf32" if mode == "tf32" else dtype

    @property
    def label(self) -> str:
        mode = "" if self.mode == "strict" else f", {self.mode}"
        return f"{self.impl.name} [{self.device}, {self.dtype}{mode}]"

    def prepare(self, inputs: Inputs, lr: float = 0.0) -> Any:
        inputs.validate()
        convert = lambda a: self.backend.from_numpy(a, self.device, self.dtype)  # noqa: E731
        with self.scope():
            return self.impl.prepare(convert(inputs.x), convert(inputs.y),
                                     {k: convert(v) for k, v in inputs.params.items()}, lr)

    def scope(self):
        return self.backend.scope(self.device, self.dtype, self.mode)

    def loss(self, state: Any) -> float:
        with self.scope():
            return self._scalar("loss", self.impl.loss(state))

    def loss_and_grads(self, state: Any, names: tuple[str, ...]) -> tuple[float, dict[str, np.ndarray]]:
        with self.scope():
            value, grads = self.impl.loss_and_grads(state)
            return self._scalar("loss", value), self._arrays("gradient", grads, names)

    def step(self, state: Any) -> float:
        with self.scope():
            return self._scalar("loss", self.impl.step(state))

    def parameters(self, state: Any, names: tuple[str, ...]) -> dict[str, np.ndarray]:
        with self.scope():
            return self._arrays("parameter", self.impl.parameters(state), names)

    def _arrays(self, what: str, arrays: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, np.ndarray]:
        if set(arrays) != set(names):
            raise ValueError(f"{self.label} returned {what}s for {sorted(arrays)}, expected {sorted(names)}")
        out = {}
        for name in names:
            self._check_dtype(f"{what} {name}", arrays[name])
            # A copy: numpy and torch CPU arrays share memory with the state the next step updates.
            out[name] = np.array(self.backend.to_numpy(arrays[name]), copy=True)
        return out

    def _scalar(self, what: str, value: Any) -> float:
        self._check_dtype(what, value)
        array = self.backend.to_numpy(value)
        if array.size != 1:
            raise ValueError(f"{self.label} returned a {what} of shape {array.shape}, expected a scalar")
        return float(array.reshape(()))

    def _check_dtype(self, what: str, value: Any) -> None:
        # An implementation asked for float64 must compute in float64 (jax silently drops to
        # float32 unless x64 is on), and one asked for float32 must not quietly upcast.
        got = self.backend.dtype_name(value)
        if got != self.dtype:
            raise ValueError(f"{self.label} returned {what} in {got}, expected {self.dtype}")
