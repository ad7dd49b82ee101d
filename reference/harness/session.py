"""One implementation on one device, dtype and mode: numpy in, numpy out, everything checked.

``Session`` sends the canonical float64 inputs to the implementation (in a child process, or in
this one), checks what comes back (names, kinds, dtypes, scalars) and hands it back as float64
numpy: Python floats and arrays by name.
``combinations`` lists the (device, dtype, mode) triples that exist among a selection; both
drivers enumerate their cases with it.
"""

from __future__ import annotations

import itertools
import time
from typing import Iterable, Iterator, NamedTuple

import numpy as np

from impls import protocol
from impls.backends import BACKENDS, DEVICES, DTYPES, MODES, Backend, cuda_hidden, mode_applies
from impls.contract import ContractViolation, Declaration, Implementation, UnsupportedCase
from reference.harness.isolation import ChildLink, LocalLink, Pool
from reference.problem.cases import LONGEST_CHECK_STEPS
from reference.problem.inputs import Inputs
from reference.problem.variants import MINIBATCH, Batching, DynamicInputs


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
    if device == "cuda" and (hidden := cuda_hidden()):
        return hidden
    reasons = []
    for backend in BACKENDS.values():
        missing = backend.missing_reason(here=False) or backend.device_missing_reason(device)
        if missing is None:
            return None
        reasons.append(missing)
    return "; ".join(reasons)


class Session:
    """One implementation on one device in one dtype: numpy in, numpy out, everything checked.

    ``Session(impl, ...)`` runs the implementation object in this process (tests of the harness,
    benchmarks); ``Session.isolated(spec, ...)`` runs it in a child process of ``pool``, which is
    how both drivers check: only the child's plain-data answers reach the verdict.
    """

    _numbers = itertools.count()

    def __init__(self, impl: Implementation | Declaration, device: str, dtype: str, mode: str = "strict",
                 link: LocalLink | ChildLink | None = None):
        if device not in DEVICES:
            raise ValueError(f"unknown device {device!r}; known: {', '.join(DEVICES)}")
        if dtype not in DTYPES:
            raise ValueError(f"unknown dtype {dtype!r}; known: {', '.join(DTYPES)}")
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; known: {', '.join(MODES)}")
        self.backend: Backend = BACKENDS[impl.backend]
        # An isolated session's framework runs in its child, which reports a failed import: not imported here.
        for reason in (self.backend.missing_reason(here=not isinstance(link, ChildLink)),
                       None if device in impl.devices else f"{impl.name} does not run on {device}",
                       None if dtype in impl.dtypes else f"{impl.name} does not support {dtype}",
                       self.backend.device_missing_reason(device),
                       self.backend.mode_missing_reason(device, dtype, mode)):
            if reason:
                raise UnsupportedCase(reason)
        self.impl, self.device, self.dtype, self.mode = impl, device, dtype, mode
        #: The order a mini-batch implementation trains in (None: every step takes every row).
        self.batching: Batching | None = MINIBATCH if impl.batching == "minibatch" else None
        self.link = link if link is not None else LocalLink(impl)
        #: The arithmetic the results are judged by (reference.model.tolerance.UNIT_ROUNDOFF).
        self.precision = "tf32" if mode == "tf32" else dtype
        #: Seconds spent waiting for the implementation's answers: a check's time less this is the harness's own.
        self.waited = 0.0

    @classmethod
    def isolated(cls, spec: str, device: str, dtype: str, mode: str, pool: Pool) -> "Session":
        """The implementation that ``spec`` loads (a registered name or a plug-in), run in a child of ``pool``."""
        return cls(pool.declaration(spec), device, dtype, mode, link=pool.link(spec, device))

    @property
    def case(self) -> Case:
        return Case(self.impl.name, self.device, self.dtype, self.mode)

    @property
    def label(self) -> str:
        mode = "" if self.mode == "strict" else f", {self.mode}"
        return f"{self.impl.name} [{self.device}, {self.dtype}{mode}]"

    def time_limit(self, seconds: float):
        """Context in which the implementation's calls fail with CheckTimeout once ``seconds`` have passed."""
        return self.link.time_limit(seconds)

    def prepare(self, inputs: Inputs | DynamicInputs, lr: float = 0.0) -> int:
        """The implementation's state for ``inputs``, as a number the other calls take."""
        if isinstance(inputs, DynamicInputs) != (self.impl.model == "dynamic"):
            raise ValueError(f"{self.label} computes the {self.impl.model} network; inputs for the other one given")
        inputs.validate()
        number = next(self._numbers)
        arrays = {"x": inputs.x, "y": inputs.y, **inputs.params}
        if isinstance(inputs, DynamicInputs):
            arrays["depths"] = inputs.depths
        if self.batching:
            arrays["order"] = self.batching.orders(len(inputs.x), LONGEST_CHECK_STEPS)
        batch_size = self.batching.batch_size if self.batching else None
        self._send(protocol.Prepare(self.link.spec, number, self.where, lr, batch_size), arrays)
        return number

    def loss(self, state: int) -> float:
        values, arrays = self._call("loss", state)
        return self._scalar("loss", values, arrays)

    def loss_and_grads(self, state: int, names: tuple[str, ...]) -> tuple[float, dict[str, np.ndarray]]:
        values, arrays = self._call("loss_and_grads", state, names)
        return self._scalar("loss", values, arrays), self._arrays("gradient", values, arrays, names)

    def step(self, state: int) -> float:
        values, arrays = self._call("step", state)
        return self._scalar("loss", values, arrays)

    def steps(self, state: int, count: int) -> list[float]:
        """``step()`` ``count`` times in a row, in one request; the loss before each step."""
        values, arrays = self._call("steps", state, count=count)
        return [self._scalar("loss", values, arrays, key=f"loss.{i}") for i in range(count)]

    def parameters(self, state: int, names: tuple[str, ...]) -> dict[str, np.ndarray]:
        values, arrays = self._call("parameters", state, names)
        return self._arrays("parameter", values, arrays, names)

    @property
    def where(self) -> protocol.Where:
        return protocol.Where(self.device, self.dtype, self.mode)

    def _call(self, method: str, state: int, names: tuple[str, ...] = (),
              count: int = 1) -> tuple[dict[str, protocol.Value], protocol.Arrays]:
        answer, arrays = self._send(protocol.Call(self.link.spec, method, state, self.where, tuple(names), count))
        return answer.values, arrays

    def _send(self, request: protocol.Request, arrays: protocol.Arrays = {}) -> tuple[protocol.Answer, protocol.Arrays]:
        started = time.perf_counter()
        try:
            return self.link.request(request, arrays)
        except ContractViolation as error:
            raise ContractViolation(f"{self.label}: {request.operation}() {error}") from None
        finally:
            self.waited += time.perf_counter() - started

    def _arrays(self, what: str, values: dict[str, protocol.Value], arrays: protocol.Arrays,
                names: tuple[str, ...]) -> dict[str, np.ndarray]:
        returned = sorted(set(values) - {"loss"})
        if returned != sorted(names):  # the child normalised the names; the harness believes nothing unchecked
            raise ContractViolation(f"{self.label} returned {what}s for {returned}, expected {sorted(names)}")
        for name in names:
            self._check_kind(f"{what} {name}", values[name], arrays.get(name), scalar=False)
        # float32 -> float64 is exact: the checks see the implementation's own values, in the reference's dtype.
        return {name: arrays[name].astype(np.float64) for name in names}

    def _scalar(self, what: str, values: dict[str, protocol.Value], arrays: protocol.Arrays,
                key: str | None = None) -> float:
        key = key or what
        self._check_kind(what, values.get(key), arrays.get(key), scalar=True)
        array = arrays[key]
        if array.size != 1:
            raise ContractViolation(f"{self.label} returned a {what} of shape {array.shape}, expected a scalar")
        return float(array.reshape(()))

    def _check_kind(self, what: str, described: protocol.Value | None, array: np.ndarray | None,
                    scalar: bool) -> None:
        kind = described.kind if described else None
        if kind == "array" and array is not None:
            # An implementation asked for float64 must compute in float64 (jax silently drops to
            # float32 unless x64 is on), and one asked for float32 must not quietly upcast.
            if described.dtype != self.dtype:
                raise ContractViolation(f"{self.label} returned {what} in {described.dtype}, expected {self.dtype}")
            if array.dtype != np.dtype(self.dtype):  # the child's description is believed only with its bytes
                raise ContractViolation(f"{self.label} sent {what} described as {self.dtype} in {array.dtype} bytes")
            return
        if kind == "python" and array is not None:
            if not scalar:
                raise ContractViolation(f"{self.label} returned {what} as a Python {described.type}, "
                                        f"expected a {self.impl.backend} array")
            # A Python float carries float32 results exactly; one that is no float32 value was
            # computed in more precision than asked for.
            if np.asarray(array, dtype=self.dtype) != array:
                raise ContractViolation(f"{self.label} returned {what} as a Python {described.type} "
                                        f"{float(array)!r}, which is not a {self.dtype} value")
            return
        got = (described.type if described else "") or "something unreadable"
        raise ContractViolation(f"{self.label} returned {what} as a {got}, not a {self.impl.backend} array "
                                f"(backend {self.impl.backend!r} is declared)")
