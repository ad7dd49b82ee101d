"""One implementation on one device, dtype and mode: numpy in, numpy out, everything checked.

``Session`` converts the canonical float64 inputs to the implementation's framework, device
and dtype once, checks the shape and dtype of every output, and hands numpy back.
``combinations`` lists the (device, dtype, mode) triples that exist among a selection; both
drivers enumerate their cases with it.
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator, Mapping, NamedTuple

import numpy as np

from impls.backends import BACKENDS, DEVICES, DTYPES, MODES, Backend, mode_applies
from impls.contract import Implementation, UnsupportedCase
from reference.problem.inputs import Inputs


class Case(NamedTuple):
    """What one session runs: an implementation by name, on a device, in a dtype and a mode."""

    impl: str
    device: str
    dtype: str
    mode: str

    @property
    def id(self) -> str:
        return f"{self.impl}-{self.device}-{self.dtype}-{self.mode}"


def combinations(devices: Iterable[str], dtypes: Iterable[str], modes: Iterable[str]) -> Iterator[tuple[str, str, str]]:
    """Every (device, dtype, mode) of the selection that can exist: tf32 only for float32 on cuda."""
    dtypes, modes = list(dtypes), list(modes)
    return ((d, t, m) for d in devices for t in dtypes for m in modes if mode_applies(d, t, m))


def absent_reason(device: str) -> str | None:
    """None when some installed framework has ``device`` here, else why not (for a header, not a skip)."""
    reasons = []
    for backend in BACKENDS.values():
        missing = backend.missing_reason() or backend.device_missing_reason(device)
        if missing is None:
            return None
        reasons.append(missing)
    return "; ".join(reasons)


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
        #: The arithmetic the results are judged by (reference.model.tolerance.UNIT_ROUNDOFF).
        self.precision = "tf32" if mode == "tf32" else dtype

    @property
    def case(self) -> Case:
        return Case(self.impl.name, self.device, self.dtype, self.mode)

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
