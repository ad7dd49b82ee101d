"""Each framework's plain way timed alone: in a fresh process that loads that framework only.

The races run every framework in one process, taking turns (bench/race.py). Whether they time
each framework as its users see it is shown, not assumed: the plain way of each framework
(``PLAIN_WAYS``) is timed again in processes of its own, with the job's thread counts and
nothing else, at the default size; the report sets the median of their medians beside its median
in the race, with how far the fresh processes differ from each other.

``python -m bench.alone SPEC DEVICE DTYPE MODE ROUNDS PHASE...`` is that process: it prints one
JSON line, per phase the samples of a race with one contender.

Fresh processes one after another also sample other minutes of a machine that drifts, and here they
differ by up to ±99% (2026-12-05 07:21, 2 threads): beside that, agreeing says little. So the plain
way is also timed in a process of its own that takes its turn in every round of the race
(``Turns``, ``python -m bench.alone --turns SPEC DEVICE DTYPE MODE SETTLE_S PHASE...``): its samples
pair with the race's round by round, and the two can be held to the race's A/A.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import select
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

import impls
from bench.faults import minor_faults
from bench.lineup import RaceKey, settings, timed_call
from bench.options import plan_of
from bench.race import Contender, Settings, Timings, race, wait_for_idle_pools
from bench.schema import AloneInfo
from bench.store import excluded, recorded
from impls.threads import limit_threads, thread_count
from reference.harness.selection import kept
from reference.harness.session import Session
from reference.problem.inputs import Problem

ROOT = Path(__file__).resolve().parent.parent
#: Each framework's way as its tutorial writes it first: the one a user of that framework runs.
PLAIN_WAYS = {"numpy": "numpy-manual", "torch": "torch-autograd", "jax": "jax-grad"}
#: Fresh processes per plain way. One is not enough: on the 2-core machine, numpy-manual's float32
#: forward read 134, 196 and 117 µs in three fresh processes one after another (each 15 rounds,
#: within a few % inside each process), so one process's median says which draw it got, not
#: how fast the code is; the race's own process is one such draw. Three give a median and a spread; five did too,
#: and cost the 2-thread job 106 s of its 886 (2026-12-05 15:28), where issue 3 gives the whole job 10 minutes.
PROCESSES = 3
#: Processes per plain way taking turns. The race's process and a process alone are two draws of one way's
#: heap and buffer addresses, and draws differ far beyond one process's A/A: jax-grad's float64 step read 739
#: to 893 µs in six fresh processes one after another, none of them faulting (2026-12-05, 1 thread), where
#: twins inside one process differ by 1-2%. A second process taking the same turns shows, in the same rounds,
#: how far two processes alone land apart: a race that differs from alone by no more than that reads as one
#: more process, not as a cost of racing.
TURN_PROCESSES = 2
#: How long a process taking turns may take to load, or to time one sample, before it counts as hung: as long as
#: ``time_alone`` gives a fresh process for all its phases.
ANSWER_TIMEOUT_S = 600


def time_alone(spec: str, device: str, dtype: str, mode: str, phases: list[str], rounds: int) -> dict[str, Timings]:
    """The plain way's phases timed in a fresh child process with this process's environment (the job's)."""
    command = [sys.executable, "-m", "bench.alone", spec, device, dtype, mode, str(rounds), *phases]
    child = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=ANSWER_TIMEOUT_S)
    if child.returncode != 0:
        raise RuntimeError(f"{spec} alone failed (exit {child.returncode}): {_last_line(child.stderr)}")
    found = json.loads(child.stdout.splitlines()[-1])
    return {phase: Timings(first_call_s=t["first_call_s"], loops=t["loops"], failed=t["failed"],
                           samples_s={k: np.asarray(v) for k, v in t["samples_s"].items()},
                           faults_per_call=t["faults_per_call"])
            for phase, t in found.items()}


def _last_line(stderr: str) -> str:
    """What a failed child said last: its error, where Python's traceback ends."""
    return (stderr.strip().splitlines() or ["no output"])[-1]


@contextlib.contextmanager
def _alone_session(spec: str, device: str, dtype: str, mode: str) -> Iterator[Session]:
    """The plain way loaded in this process, its framework alone, under the job's thread counts and in its scope."""
    limit_threads(thread_count())  # as bench/conftest.py does in the races' process
    session = Session(impls.load_any(spec), device, dtype, mode)
    with session.backend.scope(device, dtype, mode):
        yield session


def _latency_call(session: Session, phase: str):
    return timed_call(session, RaceKey(session.device, session.dtype, session.mode, Problem(), phase, "latency"))


def _timed(spec: str, device: str, dtype: str, mode: str, phases: list[str], rounds: int) -> dict[str, dict]:
    found = {}
    with _alone_session(spec, device, dtype, mode) as session:
        for phase in phases:
            call = _latency_call(session, phase)
            timings = race([Contender(spec, call, pool=session.backend.name)], Settings(rounds=rounds))
            found[phase] = {"first_call_s": timings.first_call_s, "loops": timings.loops, "failed": timings.failed,
                            "samples_s": {k: v.tolist() for k, v in timings.samples_s.items()},
                            "faults_per_call": timings.faults_per_call}
    return found


class Turns:
    """The plain way in a fresh process of its own that times one sample whenever a race gives it its turn.

    One process serves the way's default-size latency races in one (device, dtype, mode), every phase of
    them prepared when it starts, as the race's own process holds them: a process that prepares one phase
    only can lay out its heap so that glibc returns its top to the system after every call. numpy-manual's
    float64 step, prepared alone in a process, faulted 359 pages a call and took 1.73 ms; with its forward
    and grads prepared beside it, none and 0.76 ms, as in the race and as in the tutorial's own loop
    (2026-12-05, 1 thread).

    Its samples are a contender's (``contender``): the race hands it the invocations per sample, and
    the child settles for ``settle_s`` of calls back to back (as the race settles a contender after a
    switch of pool), times them with its own clock and the garbage collector off (as the race does), counts
    its own page faults and lets its pools fall idle before it answers, so that the race's next contender
    finds the cores as it would after its own. Settling call by call over the pipe instead read numpy-manual
    and torch-autograd 0.8 to 8.7% slower than in the race in all twelve of their cases (six races, 2026-12-05,
    2 threads): the gaps let the pools sleep.
    """

    def __init__(self, spec: str, device: str, dtype: str, mode: str, phases: Sequence[str], settle_s: float,
                 answer_timeout_s: float = ANSWER_TIMEOUT_S, wait: bool = True):
        """Start the process; with ``wait``, also wait until it is ready (``wait_until_ready``)."""
        self.name, self.answer_timeout_s = f"{spec} {device} {dtype} {mode}", answer_timeout_s
        self.failure: str | None = None  # once set, every later sample raises it: the child is gone
        self.ready = False
        self.errors = tempfile.TemporaryFile("w+")  # a file, not a pipe: a chatty child cannot fill it and block
        self.child = subprocess.Popen([sys.executable, "-m", "bench.alone", "--turns", spec, device, dtype, mode,
                                       str(settle_s), *phases], cwd=ROOT, stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=self.errors, text=True)
        if wait:
            self.wait_until_ready()

    def wait_until_ready(self) -> None:
        """Wait until the process has loaded its framework and prepared its phases; RuntimeError where it cannot."""
        if self.ready:
            return
        try:
            self._answer("")
        except BaseException:
            self.close()
            raise
        self.ready = True

    def _fail(self, doing: str, why: str) -> RuntimeError:
        self.failure = f"{self.name}{doing} taking turns {why}"
        if self.child.poll() is None:
            self.child.kill()
            self.child.wait()
        return RuntimeError(self.failure)

    def _ended(self, doing: str) -> RuntimeError:
        self.errors.seek(0)
        return self._fail(doing, f"ended (exit {self.child.wait()}): {_last_line(self.errors.read())}")

    def _answer(self, doing: str) -> dict:
        if not select.select([self.child.stdout], [], [], self.answer_timeout_s)[0]:
            raise self._fail(doing, f"did not answer in {self.answer_timeout_s:g} s")
        line = self.child.stdout.readline()
        if not line:
            raise self._ended(doing)
        try:
            answer = json.loads(line)
        except ValueError:
            raise self._fail(doing, f"answered {line.strip()[:80]!r}") from None
        if "failed" in answer:
            raise self._fail(doing, answer["failed"])
        return answer

    def sample(self, phase: str, loops: int) -> tuple[float, float | None]:
        if self.failure:
            raise RuntimeError(self.failure)
        try:
            self.child.stdin.write(f"{phase} {loops}\n")
            self.child.stdin.flush()
        except OSError:  # it ended since its last answer
            raise self._ended(f" {phase}") from None
        answer = self._answer(f" {phase}")
        return answer["seconds"], answer["faults"]

    def contender(self, key: str, pool: str, phase: str) -> Contender:
        return Contender(key, lambda: self.sample(phase, 1), pool=pool,
                         sampled_elsewhere=lambda loops: self.sample(phase, loops))

    def close(self) -> None:
        if self.child.poll() is None:
            self.child.stdin.close()
            try:
                self.child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.child.kill()
                self.child.wait()
        self.errors.close()

    def __enter__(self) -> Turns:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class TurnTakers:
    """The plain ways' ``Turns`` processes of the run: started at a (device, dtype, mode)'s first default-size
    latency race, kept for its other phases, closed when the races move on to another (at most
    ``TURN_PROCESSES`` per framework alive) or the run ends."""

    def __init__(self):
        self.group: tuple = ()
        self.started: dict[str, Turns] = {}
        self.failed: dict[str, str] = {}  # plain way -> why its process could not start or is gone

    def get(self, key: RaceKey, name: str, start: Callable[[], Turns]) -> Turns:
        """``name``'s process for the races of ``key``'s (device, dtype, mode), started once; RuntimeError where
        it could not start or has failed since."""
        if (key.device, key.dtype, key.mode) != self.group:
            self.close()
            self.group = (key.device, key.dtype, key.mode)
        if name not in self.started and name not in self.failed:
            try:
                self.started[name] = start()
            except (RuntimeError, OSError, ValueError) as error:
                self.failed[name] = f"could not start: {error}"
        if name in self.started and self.started[name].failure:
            self.failed[name] = self.started[name].failure
        if name in self.failed:
            raise RuntimeError(self.failed[name])
        return self.started[name]

    @property
    def pids(self) -> list[int]:
        """The processes now taking turns: their CPU time is the benchmark's own (bench.state.own_cpu_seconds)."""
        return [turns.child.pid for turns in self.started.values()]

    def close(self) -> None:
        for turns in self.started.values():
            turns.close()
        self.started, self.failed = {}, {}


def turn_takers(config, key: RaceKey, entered: list, children: TurnTakers) -> list[tuple[Contender, AloneInfo]]:
    """Each plain way verified in a default-size latency race, in ``TURN_PROCESSES`` processes of its own
    (``Turns``, kept in ``children``) that take their turns in the race, and the records their samples go under."""
    if key.problem != Problem() or key.timing != "latency":
        return []
    phases = plan_of(config).sizes_and_phases.phases
    started = []
    for contender, session, outcome in entered:
        if contender.key not in PLAIN_WAYS.values() or not outcome.passed:
            continue
        for process in range(TURN_PROCESSES):
            name = f"{contender.key} process {process + 1}"
            try:
                started.append((children.get(key, name, lambda: Turns(
                    kept(config).spec(contender.key), key.device, key.dtype, key.mode, phases,
                    settings(config).switch_settle_s, wait=False)), name, contender, session, process))
            except RuntimeError as error:
                excluded(config, f"{name} taking turns alone", key, str(error))
    # The processes load and prepare side by side, nothing being timed yet: one after another, the six took about
    # 20 s of each dtype's first race (2026-12-05, 2 threads), where issue 3 gives the whole job 10 minutes.
    found = []
    for turns, name, contender, session, process in started:
        try:
            turns.wait_until_ready()
        except RuntimeError as error:
            excluded(config, f"{name} taking turns alone", key, str(error))
            continue
        framework = session.impl.backend
        found.append((turns.contender(f"alone{process + 1}:{contender.key}", pool=f"alone{process + 1}:{framework}",
                                      phase=key.phase),
                      AloneInfo(impl=contender.key, framework=framework, device=key.device, dtype=key.dtype,
                                mode=key.mode, N=key.problem.N, D_in=key.problem.D_in, H=key.problem.H,
                                D_out=key.problem.D_out, bias=key.problem.bias, phase=key.phase,
                                threads=thread_count(), process=process, race=key.id)))
    return found


def record_turns(config, key: RaceKey, takers: list[tuple[Contender, AloneInfo]], timings: Timings) -> None:
    for contender, info in takers:
        if contender.key in timings.failed:
            excluded(config, f"{info.impl} process {info.process + 1} taking turns alone", key,
                     f"raised: {timings.failed[contender.key]}")
        else:
            recorded(config, replace(info, faults_per_call=timings.faults_per_call.get(contender.key)), timings,
                     contender.key)


def _take_turns(spec: str, device: str, dtype: str, mode: str, settle_s: float, phases: list[str]) -> None:
    """The child of ``Turns``: one JSON line when ready, then one per sample asked for on stdin ("PHASE LOOPS"),
    until it closes."""
    # The pipe to the race is a copy of stdout; what the code under test prints goes to stderr instead.
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())

    def answer(**fields) -> None:
        answers.write(json.dumps(fields) + "\n")
        answers.flush()

    with _alone_session(spec, device, dtype, mode) as session:
        calls = {phase: _latency_call(session, phase) for phase in phases}
        gc.disable()  # as bench.race.race while it settles and times
        answer(ready=spec)
        for line in sys.stdin:
            phase, loops = line.split()
            call, loops = calls[phase], int(loops)
            try:
                settled = time.perf_counter() + settle_s
                while time.perf_counter() < settled:
                    call()
                before = minor_faults()
                start = time.perf_counter()
                for _ in range(loops):
                    call()
                seconds = (time.perf_counter() - start) / loops
                after = minor_faults()
            except Exception as error:  # noqa: BLE001 (reported to the race, which drops this contender)
                answer(failed=f"{type(error).__name__}: {error}")
                return
            wait_for_idle_pools(Settings.switch_wait_s)
            answer(seconds=seconds, faults=None if before is None else (after - before) / loops)


if __name__ == "__main__":
    if sys.argv[1] == "--turns":
        spec_, device_, dtype_, mode_, settle_, *phases_ = sys.argv[2:]
        _take_turns(spec_, device_, dtype_, mode_, float(settle_), phases_)
    else:
        spec_, device_, dtype_, mode_, rounds_, *phases_ = sys.argv[1:]
        print(json.dumps(_timed(spec_, device_, dtype_, mode_, phases_, int(rounds_))))
