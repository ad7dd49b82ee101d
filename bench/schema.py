"""The typed boundary between the benchmarks and the report: one definition of every record and column.

The benchmarks (bench/lineup.py for the races, bench/test_*.py) write each measurement's
``extra_info`` from one of these records; the report (bench/report/) reads them back through the
same classes, so a key renamed or added on one side is renamed or added on the other.
"""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, fields
from typing import Any, ClassVar

from reference.problem.inputs import Problem

SIZE = ["N", "D_in", "H", "D_out"]


class SchemaError(ValueError):
    """extra_info that does not match its record: the message names what is missing."""


@dataclass(frozen=True)
class Record:
    """One benchmark's extra_info. Fields without a default are required when reading."""

    KIND: ClassVar[str]

    def extra_info(self) -> dict[str, Any]:
        return {"kind": self.KIND, **asdict(self)}

    @classmethod
    def from_extra_info(cls, info: dict[str, Any]) -> "Record":
        required = [f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING]
        missing = [name for name in required if name not in info]
        if missing:
            raise SchemaError(f"lacks {', '.join(missing)}")
        return cls(**{f.name: info[f.name] for f in fields(cls) if f.name in info})


@dataclass(frozen=True)
class CaseInfo(Record):
    """One implementation's phase timed on one device, dtype, mode and size."""

    KIND = "case"
    impl: str
    framework: str
    eager_by_design: bool      # left out of the GEMM-floor targets (Implementation.eager_by_design)
    device: str
    dtype: str
    mode: str                  # strict or tf32 (impls.backends.MODES)
    N: int
    D_in: int
    H: int
    D_out: int
    bias: bool
    phase: str                 # forward, grads or step (bench.sizes.PHASES)
    timing: str                # latency or throughput
    calls_per_round: int
    sync: str
    threads: int
    flops: int                 # bench.sizes.flops of this size and phase, recorded by the writer
    first_call_s: float
    device_time_s: float | None = None
    peak_memory_bytes: int | None = None
    kernels_per_call: int | None = None
    summary: str = ""          # Implementation.summary: what this way of writing demonstrates
    race: str = ""             # the cases timed interleaved with this one (bench.race), "" if timed alone
    verified: bool = True      # passed the catalogue's agreement check at this size before it was timed
    worst_error_over_tol: float | None = None  # that check's largest error / tolerance (<= 1 passes)
    faults_per_call: float | None = None        # minor page faults per call, median over rounds (bench/faults.py)

    def problem(self) -> Problem:
        return Problem(N=self.N, D_in=self.D_in, H=self.H, D_out=self.D_out, bias=self.bias)


@dataclass(frozen=True)
class GemmInfo(Record):
    """One matrix product of a phase timed alone with one library (the GEMM floor's parts)."""

    KIND = "gemm"
    library: str
    device: str
    dtype: str
    N: int
    D_in: int
    H: int
    D_out: int
    product: str
    flops: int
    sync: str = ""


@dataclass(frozen=True)
class FloorInfo(Record):
    """One library's share of a phase timed alone, in the race: its products (same operand layouts) or its
    elementwise work. What an implementation costs beyond its own library's two parts is dispatch and autograd."""

    KIND = "floor"
    library: str
    part: str                  # products or elementwise (bench.floors.PARTS)
    device: str
    dtype: str
    mode: str
    N: int
    D_in: int
    H: int
    D_out: int
    bias: bool
    phase: str
    flops: int
    race: str = ""


@dataclass(frozen=True)
class LoadInfo(Record):
    """One implementation's phase timed in a race on a quiet machine, and again with a busy process on one core."""

    KIND = "load"
    impl: str
    device: str
    dtype: str
    phase: str
    condition: str             # quiet or busy (bench/test_load.py)
    race: str = ""
    verified: bool = True      # as CaseInfo.verified: an unverified case is never the yardstick


@dataclass(frozen=True)
class AloneInfo(Record):
    """A framework's plain way timed in a fresh process that loads that framework alone (bench/alone.py)."""

    KIND = "alone"
    impl: str
    framework: str
    device: str
    dtype: str
    mode: str
    N: int
    D_in: int
    H: int
    D_out: int
    bias: bool
    phase: str
    threads: int
    process: int = 0     # which of the fresh processes (bench.alone.PROCESSES), or of those taking turns
    faults_per_call: float | None = None   # as CaseInfo's
    race: str = ""       # the race it took its turns in (bench.alone.Turns); empty: a fresh process timing itself


def alone_stage(impl: str, device: str, dtype: str, mode: str, process: int) -> str:
    """The name an alone process's machine state is recorded under (bench.state.watched), ``process`` from 0."""
    return f"alone-{impl}-{device}-{dtype}-{mode}-process{process + 1}"


@dataclass(frozen=True)
class PeakInfo(Record):
    """A large square product: the device's measured matmul peak."""

    KIND = "peak"
    library: str
    device: str
    dtype: str
    n: int
    flops: int
    sync: str = ""


@dataclass(frozen=True)
class AAInfo(Record):
    """The same case timed twice in one run."""

    KIND = "aa"
    repeat: str
    impl: str
    device: str
    dtype: str
    phase: str
    mode: str = "strict"
    N: int = 0
    D_in: int = 0
    H: int = 0
    D_out: int = 0
    race: str = ""


@dataclass(frozen=True)
class OverheadInfo(Record):
    """An empty callable: the timing loop's own cost."""

    KIND = "overhead"


@dataclass(frozen=True)
class LaunchInfo(Record):
    """Tiny CUDA kernels queued back to back: the cost of one launch."""

    KIND = "launch"
    library: str
    device: str
    calls_per_round: int
    sync: str = ""


KINDS: dict[str, type[Record]] = {cls.KIND: cls for cls in (CaseInfo, GemmInfo, FloorInfo, PeakInfo, AAInfo, LoadInfo,
                                                             OverheadInfo, LaunchInfo, AloneInfo)}

#: pytest-benchmark's stats -> the report's column names (seconds).
STATS = {"rounds": "rounds", "min": "min_s", "median": "median_s", "q1": "q1_s", "q3": "q3_s",
         "iqr": "iqr_s", "mean": "mean_s", "stddev": "stddev_s"}
#: Stats that are times, divided by calls_per_round where a round queues several calls.
TIMES = ["min_s", "median_s", "q1_s", "q3_s", "iqr_s", "mean_s", "stddev_s"]

#: What makes two case rows the same case, in one run and across runs.
CASE_ID = ["impl", "device", "dtype", "mode", *SIZE, "bias", "phase", "timing"]
#: The implementations timed against each other: same device, numerics, size, phase and timing.
RACE = ["device", "dtype", "mode", *SIZE, "bias", "phase", "timing"]
#: benchmarks.csv, in order: the case's record, its stats, then what the report derives.
COLUMNS = ["impl", "framework", "eager_by_design", "device", "dtype", "mode", *SIZE, "bias", "phase", "timing",
           "calls_per_round", "threads", "sync", *STATS.values(), "first_call_s", "flops", "gflops", "pct_peak",
           "gemm_floor_s", "ratio_to_floor", "ratio_to_fastest", "ratio_to_fastest_lo", "ratio_to_fastest_hi",
           "verified", "worst_error_over_tol", "race", "fit_fixed_s", "fit_s_per_flop", "grads_over_forward", "noise", "noisy",
           "device_time_s", "peak_memory_bytes", "kernels_per_call", "launch_floor_s", "faults_per_call"]
#: Columns renamed since earlier runs were written: old name -> new name (read_run applies them).
RENAMED = {"precision": "mode"}
