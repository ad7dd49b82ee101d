"""The harness's calls to one implementation: arrays converted on the way in, results described on the way out.

``Adapter`` is what the harness needs from an implementation: it converts the canonical numpy
inputs to the framework, device and dtype of the case, calls the method inside the case's scope,
and hands every result back as numpy with a description of what was returned (a framework array
and its dtype, a Python number, or a foreign type), for the harness to judge.

Run as ``python -m impls.serve``, this module is the child process the checkers run an
implementation in: it answers ``impls.protocol`` messages on its standard input and output,
so an implementation that exits, crashes or runs out of memory takes down only this process.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import traceback
from collections import OrderedDict
from typing import Any, Mapping, Sequence

import numpy as np

from impls import load_any, protocol
from impls.backends import BACKENDS
from impls.contract import Batches, ContractViolation, Declaration, Implementation, PluginError, UnsupportedCase
from impls.protocol import Where
from impls.threads import limit_threads


def first_line(error: BaseException) -> str:
    """An exception's message as one line: its first, or "" when it has none."""
    lines = str(error).strip().splitlines()
    return lines[0] if lines else ""


def describe(value: Any, backend) -> tuple[protocol.Value, np.ndarray | None]:
    """What kind of value this is, and its numbers as a numpy copy (None for a type the harness cannot read)."""
    if backend.is_array(value):
        return protocol.Value("array", dtype=backend.dtype_name(value)), np.array(backend.to_numpy(value), copy=True)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return protocol.Value("python", type=type(value).__name__), np.array(float(value))
    return protocol.Value("foreign", type=f"{type(value).__module__}.{type(value).__qualname__}"), None


def by_name(what: str, returned: Any, names: Sequence[str]) -> dict[str, Any]:
    """Gradients or parameters as name -> array, from a mapping or a sequence in the documented order."""
    order = ", ".join(names)
    if isinstance(returned, Mapping):
        keys = [str(k) for k in returned]
        if sorted(keys) != sorted(names):
            raise ContractViolation(f"returned {what}s for {', '.join(keys) or 'no name'}; expected {order}")
        return {str(k): v for k, v in returned.items()}
    if isinstance(returned, (list, tuple)):
        if len(returned) != len(names):
            raise ContractViolation(f"returned {len(returned)} {what}s in a {type(returned).__name__}; expected "
                                    f"{len(names)}, in the order {order}, or a mapping from those names")
        return dict(zip(names, returned))
    raise ContractViolation(f"returned a {type(returned).__name__} for the {what}s; expected a mapping from "
                            f"{order} to arrays, or a sequence in that order")


class Adapter:
    """One implementation seen from the harness: numpy in, numpy and descriptions out."""

    def __init__(self, impl: Implementation):
        self.impl = impl
        self.backend = BACKENDS[impl.backend]

    def prepare(self, where: Where, lr: float, arrays: Mapping[str, np.ndarray], batch_size: int | None) -> Any:
        """The implementation's state for inputs ``x``, ``y`` and the parameters, in canonical float64.

        A mini-batch implementation also gets the rows' ``order`` (epochs, N) cut into ``batch_size``, as
        ``Batches``; a dynamic one the middle layer's ``depths``, as they came.
        """
        def convert(name):
            return self.backend.from_numpy(arrays[name], where.device, where.dtype)
        extra = {"batches": Batches(arrays["order"], batch_size)} if "order" in arrays else {}
        if "depths" in arrays:
            extra["depths"] = np.array(arrays["depths"], copy=True)  # the implementation's own, never the harness's
            extra["depths"].setflags(write=False)
        with self.scope(where):
            params = {name: convert(name) for name in arrays if name not in ("x", "y", "order", "depths")}
            return self.impl.prepare(convert("x"), convert("y"), params, lr, **extra)

    def call(self, method: str, state: Any, where: Where, names: Sequence[str],
             count: int = 1) -> tuple[dict[str, protocol.Value], protocol.Arrays]:
        """``method`` on ``state``: a description and a numpy copy of every value it returned, by name.

        "steps" names its losses "loss.0", "loss.1", ... in the order of the steps.
        """
        if method == "steps":
            # Each loss is copied as its step returns it, as separate step() requests would copy it: a step may
            # hand back a buffer that the next one overwrites (a replayed CUDA graph's loss).
            described, arrays = {}, {}
            with self.scope(where):
                for i in range(count):
                    one, array = self.describe_all({f"loss.{i}": self.impl.step(state)})
                    described.update(one)
                    arrays.update(array)
            return described, arrays
        with self.scope(where):
            returned = getattr(self.impl, method)(state)
        if method == "loss_and_grads":
            if not (isinstance(returned, (tuple, list)) and len(returned) == 2):
                raise ContractViolation(f"loss_and_grads() returned a {type(returned).__name__}; "
                                        "expected a pair (loss, gradients)")
            values = {"loss": returned[0], **by_name("gradient", returned[1], names)}
        elif method == "parameters":
            values = by_name("parameter", returned, names)
        else:
            values = {"loss": returned}
        return self.describe_all(values)

    def scope(self, where: Where):
        return self.backend.scope(where.device, where.dtype, where.mode)

    def describe_all(self, values: dict[str, Any]) -> tuple[dict[str, protocol.Value], protocol.Arrays]:
        described, arrays = {}, {}
        for name, value in values.items():
            described[name], array = describe(value, self.backend)
            if array is not None:
                arrays[name] = array
        return described, arrays


class Server:
    """Answers the harness's messages for the implementations it has loaded, holding their prepared states by number."""

    #: States kept at once; a check holds two or three, the stateful check a handful.
    KEEP_STATES = 32

    def __init__(self, threads: int):
        self.threads = threads
        self.loaded: dict[str, Adapter] = {}
        self.states: OrderedDict[int, Any] = OrderedDict()

    def answer(self, request: protocol.Request, arrays: protocol.Arrays) -> tuple[protocol.Answer, protocol.Arrays]:
        try:
            return self._answer(request, arrays)
        except (PluginError, UnsupportedCase) as error:
            return protocol.Refused("UnsupportedCase" if isinstance(error, UnsupportedCase) else "PluginError",
                                    str(error)), {}
        except ContractViolation as error:
            return protocol.Violated(str(error)), {}
        except Exception as error:  # noqa: BLE001 (the implementation's own failure is the finding)
            adapter = self.loaded.get(request.impl)
            return errored(error, own_files(type(adapter.impl)) if adapter else frozenset()), {}

    def _answer(self, request: protocol.Request, arrays: protocol.Arrays) -> tuple[protocol.Answer, protocol.Arrays]:
        if isinstance(request, protocol.Load):
            impl = load_any(request.impl)
            if self.threads:
                limit_threads(self.threads)  # after the import: a framework's pool starts at its default
            self.loaded[request.impl] = Adapter(impl)
            return protocol.Loaded(Declaration.of(impl).as_message()), {}
        adapter = self.loaded[request.impl]
        if isinstance(request, protocol.Prepare):
            self.states[request.state] = adapter.prepare(request.where, request.lr, arrays, request.batch_size)
            while len(self.states) > self.KEEP_STATES:
                self.states.popitem(last=False)
            return protocol.Prepared(), {}
        if request.state not in self.states:
            raise ValueError(f"state {request.state} was never prepared here, or was dropped")
        values, out = adapter.call(request.method, self.states[request.state], request.where, request.names,
                                   request.count)
        return protocol.Returned(values), out


@functools.cache
def own_files(cls: type) -> frozenset[str]:
    """The files an implementation's code comes from: the modules of its class and of its bases below
    ``Implementation`` (a plug-in that subclasses a built-in runs the built-in's code as its own)."""
    mro = cls.__mro__
    classes = mro[:mro.index(Implementation)] if Implementation in mro else mro[:1]
    files = (getattr(sys.modules.get(c.__module__), "__file__", None) for c in classes)
    return frozenset(os.path.realpath(f) for f in files if f)


def errored(error: Exception, files: frozenset[str]) -> protocol.Errored:
    """``error`` as an answer: located at the innermost frame in ``files``, its traceback from the first."""
    report = traceback.TracebackException.from_exception(error)
    own = [i for i, frame in enumerate(report.stack) if os.path.realpath(frame.filename) in files]
    at = None
    if own:
        frame = report.stack[own[-1]]
        at = protocol.Frame(frame.filename, frame.lineno, frame.name, frame.line or "")
        # The harness's own frames above the implementation's first say nothing about its code.
        report.stack = traceback.StackSummary.from_list(report.stack[own[0]:])
    return protocol.Errored(type(error).__name__, first_line(error), "".join(report.format()), at)


def limit_memory(limit_bytes: int) -> None:
    """Cap this process's address space: an allocation past it fails here instead of taking the machine."""
    import resource
    resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m impls.serve", description=__doc__.split("\n\n")[0])
    parser.add_argument("--memory-limit", type=int, default=0, help="address-space limit in bytes (0: none)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    if args.memory_limit:
        limit_memory(args.memory_limit)
    # The protocol keeps the original standard streams; whatever the implementation prints goes
    # to standard error and whatever it reads comes from /dev/null, so neither can garble a message.
    requests, answers = os.fdopen(os.dup(0), "rb"), os.fdopen(os.dup(1), "wb")
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    os.dup2(2, 1)
    server = Server(args.threads)
    while (message := protocol.read(requests, protocol.REQUESTS)) is not None:
        protocol.write(answers, *server.answer(*message))


if __name__ == "__main__":
    sys.exit(main())
