"""Where an implementation runs: in a child process of its own (the drivers), or in this one (tests, benchmarks).

Both links carry the same ``impls.protocol`` requests to ``impls.serve`` and return what it
answers; the session above judges the answers. Through a ``ChildLink`` the implementation's
code never runs in the checker's process: it cannot end the checker, rewrite the reference
or the verdict, or hang it. A child that exits, is killed, sends an answer the harness cannot
read or runs past the check's time limit becomes ``ChildDied`` or ``CheckTimeout``, a failed
check that says what happened, and the next request starts a fresh child.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import select
import signal
import subprocess
import sys
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any, Iterator

import impls
from impls import protocol
from impls.contract import ContractViolation, Declaration, Implementation, PluginError, UnsupportedCase
from impls.serve import Adapter, Server
from impls.threads import thread_environment

ROOT = Path(impls.__file__).resolve().parent.parent
#: The name an in-process link's one implementation goes by.
LOCAL = "local"
#: Seconds a child may take to start and import the implementation (torch and jax take a few).
LOAD_TIMEOUT_S = 120.0
#: Address space each child may use: enough for the largest checked shape many times over,
#: small enough that a runaway allocation fails in the child instead of swapping the machine.
DEFAULT_MEMORY_LIMIT = 8 << 30
#: Seconds between the repeats of an in-process time limit's alarm, once it has run out: long
#: enough for one CheckTimeout to unwind the check, short against the limit.
ALARM_REPEAT_S = 1.0
#: Pipe capacity asked for (Linux's default ceiling): a gradient crosses in one or two reads.
PIPE_BYTES = 1 << 20


class CheckTimeout(BaseException):
    """The implementation gave no answer within the check's time limit.

    A BaseException, like KeyboardInterrupt: in this process it interrupts the implementation's
    code, whose ``except Exception`` must not swallow it.
    """


class ChildDied(Exception):
    """The implementation's process ended (exited, was killed) before answering."""


class Raised(Exception):
    """The implementation raised an exception in its own process; ``kind`` is the exception's class name,
    ``at`` the innermost line of the implementation's own code it passed through (None: none)."""

    def __init__(self, kind: str, message: str, trace: str = "", at: protocol.Frame | None = None):
        super().__init__(message)
        self.kind, self.trace, self.at = kind, trace, at


@contextlib.contextmanager
def alarm(seconds: float) -> Iterator[None]:
    """Interrupt the block after ``seconds`` with CheckTimeout (Unix main thread; elsewhere, no limit)."""
    if seconds <= 0 or not hasattr(signal, "setitimer"):
        yield
        return

    ended = False

    def interrupt(signum, frame):
        if not ended:  # a signal already on its way as the block ended is no timeout
            raise CheckTimeout(f"no result after {seconds:g} s")
    try:
        previous = signal.signal(signal.SIGALRM, interrupt)
    except ValueError:  # not the main thread
        yield
        return
    # Again every ALARM_REPEAT_S until the block ends: a CheckTimeout raised while Python runs a gc
    # callback (jax and hypothesis register some) is printed as "Exception ignored" and lost.
    signal.setitimer(signal.ITIMER_REAL, seconds, ALARM_REPEAT_S)
    try:
        yield
    finally:
        ended = True
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def answer_or_raise(request: protocol.Request, answer: protocol.Answer) -> protocol.Answer:
    """The answer ``request`` asks for; a failure it reports is raised here, as the exception the drivers understand."""
    if isinstance(answer, protocol.Refused):
        raise (UnsupportedCase if answer.error == "UnsupportedCase" else PluginError)(answer.message)
    if isinstance(answer, protocol.Violated):
        raise ContractViolation(answer.message)
    if isinstance(answer, protocol.Errored):
        raise Raised(answer.exception, answer.message, answer.traceback, answer.at)
    if not isinstance(answer, protocol.ANSWERED_BY[type(request)]):
        raise ChildDied(f"the implementation's process answered {request.operation}() with {answer.KIND!r}")
    return answer


class LocalLink:
    """The implementation in this process: for tests of the harness itself and for timing."""

    #: The name the one implementation goes by in requests.
    spec = LOCAL

    def __init__(self, impl: Implementation):
        self.server = Server(threads=0)
        self.server.loaded[LOCAL] = Adapter(impl)

    def request(self, request: protocol.Request,
                arrays: protocol.Arrays = {}) -> tuple[protocol.Answer, protocol.Arrays]:
        answer, out = self.server.answer(request, arrays)
        return answer_or_raise(request, answer), out

    def time_limit(self, seconds: float):
        return alarm(seconds)

    def state(self, number: int) -> Any:
        """The implementation's own state object, for timing its methods directly."""
        return self.server.states[number]


class Child:
    """One ``python -m impls.serve`` process, with the implementations of one file or module loaded."""

    def __init__(self, memory_limit: int, threads: int, use_gpu: bool):
        env = thread_environment(threads, use_gpu)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "impls.serve", f"--memory-limit={memory_limit}", f"--threads={threads}"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, start_new_session=True)
        for pipe in (self.process.stdin, self.process.stdout):
            with contextlib.suppress(OSError, AttributeError):  # Linux only: fewer wake-ups per array
                fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        self.buffer = bytearray()
        self.declarations: dict[str, Declaration] = {}

    def load(self, spec: str) -> Declaration:
        if spec not in self.declarations:
            request = protocol.Load(spec)
            answer, _ = self.request(request, {}, time.monotonic() + LOAD_TIMEOUT_S)
            self.declarations[spec] = Declaration.from_message(answer_or_raise(request, answer).declaration)
        return self.declarations[spec]

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def request(self, request: protocol.Request, arrays: protocol.Arrays,
                deadline: float | None) -> tuple[protocol.Answer, protocol.Arrays]:
        op = request.operation
        try:
            self.process.stdin.write(protocol.encode(request, arrays))
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):
            raise self._died(op) from None
        try:
            return protocol.decode(self._read_line(op, deadline), lambda size: self._read_exactly(size, op, deadline),
                                   protocol.ANSWERS)
        except protocol.ProtocolError as error:
            self.kill()  # what follows on its stream cannot be told apart from the rest of this answer
            raise ChildDied(f"the implementation's process sent an answer to {op}() that the harness cannot read: "
                            f"{error}") from None

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def _fill(self, op: str, deadline: float | None) -> None:
        fd = self.process.stdout.fileno()
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and (remaining <= 0 or not select.select([fd], [], [], remaining)[0]):
            self.kill()
            raise CheckTimeout(f"no answer from {op}() within the check's time limit; its process was killed")
        chunk = os.read(fd, PIPE_BYTES)
        if not chunk:
            raise self._died(op)
        self.buffer += chunk

    def _read_line(self, op, deadline) -> bytes:
        while b"\n" not in self.buffer:
            self._fill(op, deadline)
        end = self.buffer.index(b"\n")
        line = bytes(self.buffer[:end])
        del self.buffer[:end + 1]
        return line

    def _read_exactly(self, size, op, deadline) -> bytes:
        while len(self.buffer) < size:
            self._fill(op, deadline)
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    def _died(self, op: str) -> ChildDied:
        try:
            status = self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()
            return ChildDied(f"the implementation's process closed its output during {op}() and was killed")
        if status < 0:
            name = signal.Signals(-status).name
            return ChildDied(f"the implementation's process was killed by {name} during {op}()"
                             + (" (out of memory, or killed by the implementation itself)" if name == "SIGKILL" else ""))
        return ChildDied(f"the implementation's process exited with status {status} during {op}()")


@functools.cache  # asked on every request; a file's path is resolved once
def home(spec: str) -> str:
    """Where ``spec``'s code comes from; implementations from one file or module share a child process."""
    if spec in impls.REGISTRY:
        return "impls"
    target = spec.partition(":")[0]
    return str(Path(target).resolve()) if target.endswith(".py") else target


class Pool:
    """Child processes by the file or module the implementation comes from, started on first use and
    restarted after one dies."""

    #: Children kept alive at most, the least recently used ended first: each holds its framework's memory.
    KEEP = 3

    def __init__(self, memory_limit: int = DEFAULT_MEMORY_LIMIT, threads: int = 1, keep: int = KEEP):
        self.memory_limit, self.threads, self.keep = memory_limit, threads, keep
        self.children: OrderedDict[tuple[str, bool], Child] = OrderedDict()

    def child(self, spec: str, device: str = "cpu") -> Child:
        """A live child with ``spec`` loaded for cases on ``device`` (PluginError, UnsupportedCase as raised there;
        ChildDied if loading ends it)."""
        # CUDA reserves far more address space than any limit that would still catch a runaway allocation: cuda
        # cases run in a child of their own without one; the cpu cases keep theirs, in a child that sees no GPU
        # (jax would otherwise start its CUDA backend there, past the limit).
        on_cuda = device == "cuda"
        key = (home(spec), on_cuda)
        child = self.children.get(key)
        if child is None or not child.alive:
            if child is not None:
                child.kill()
            child = self.children[key] = Child(0 if on_cuda else self.memory_limit, self.threads, use_gpu=on_cuda)
        self.children.move_to_end(key)
        while len(self.children) > self.keep:
            self.children.popitem(last=False)[1].kill()
        child.load(spec)
        return child

    def declaration(self, spec: str) -> Declaration:
        """What the implementation at ``spec`` declares, read in a child."""
        return self.child(spec).declarations[spec]

    def link(self, spec: str, device: str = "cpu") -> "ChildLink":
        return ChildLink(self, spec, device)

    def close(self) -> None:
        while self.children:
            self.children.popitem()[1].kill()


class ChildLink:
    """Requests for one implementation, sent to its child in ``pool``.

    A time limit counts only the time spent waiting for the child: the harness's own work
    between requests (the reference, diagnoses) is not the implementation's.
    """

    def __init__(self, pool: Pool, spec: str, device: str = "cpu"):
        self.pool, self.spec, self.device = pool, spec, device
        self.budget: float | None = None

    def request(self, request: protocol.Request,
                arrays: protocol.Arrays = {}) -> tuple[protocol.Answer, protocol.Arrays]:
        child = self.pool.child(self.spec, self.device)
        started = time.monotonic()
        deadline = None if self.budget is None else started + self.budget
        try:
            answer, out = child.request(request, arrays, deadline)
        finally:
            if self.budget is not None:
                self.budget -= time.monotonic() - started
        return answer_or_raise(request, answer), out

    @contextlib.contextmanager
    def time_limit(self, seconds: float) -> Iterator[None]:
        self.budget = seconds if seconds > 0 else None
        try:
            yield
        finally:
            self.budget = None
