"""The main job: time the selected cases in a child pytest, then write the report into a new run folder.

``python -m bench`` and ``pytest --benchmark`` both parse their options into ``Options`` and
call ``run``. Each run gets its own folder, results/<UTC time>-<preset>-<threads>t/, and refuses
to reuse one: nothing a run wrote before is overwritten. results/LATEST.md points at the newest run.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench.sizes import PRESETS
from impls.threads import thread_environment
from reference.drivers.pytest_plugin import OPTIONS, choose

ROOT = Path(__file__).resolve().parent.parent

#: pytest-benchmark's settings for what it times alone (the GEMM floor's products, the peak, the
#: harness overhead): warm-up on, enough rounds for a median and an IQR, bounded time.
TIMING_OPTIONS = ["--benchmark-warmup=on", "--benchmark-warmup-iterations=20", "--benchmark-min-rounds=25",
                  "--benchmark-max-time=0.5", "--benchmark-disable-gc", "--benchmark-sort=name",
                  "--benchmark-quiet"]


@dataclass(frozen=True)
class Options:
    """One run of the main job: what to time, with how many threads, and where the report goes."""

    preset: str
    threads: int
    impl: str
    device: str
    dtype: str
    mode: str
    impl_paths: tuple[str, ...]
    results: Path
    time_unverified: bool
    rounds: int | None
    command: str

    @classmethod
    def parse(cls, *, preset: str, threads: str, rounds: int | None, **rest) -> "Options":
        """Options from the command line's strings; a ValueError names the bad one."""
        if preset not in PRESETS:
            raise ValueError(f"--preset: unknown preset {preset!r}; choose from {', '.join(sorted(PRESETS))}")
        if threads == "all":
            count = os.cpu_count() or 1
        elif threads.isdigit() and int(threads) > 0:
            count = int(threads)
        else:
            raise ValueError(f"--threads must be 'all' or a positive number, got {threads!r}")
        if rounds is not None and rounds < 3:
            raise ValueError(f"--rounds must be at least 3 (quartiles and an interval over rounds), got {rounds}")
        # The checks' own validation of the names, before any folder is made; a plug-in's name is
        # known only once it is loaded, in the child, which validates --impl then.
        for option in ("dtype", "device", "mode", *(() if rest["impl_paths"] else ("impl",))):
            choose(option, rest[option], OPTIONS[option])
        return cls(preset=preset, threads=count, rounds=rounds, **rest)

    def pytest_arguments(self) -> list[str]:
        """The selection, passed on to the child pytest (which validates the names)."""
        # "all" devices and modes are left to the plugin, which leaves out those not present here
        # (a device named explicitly is generated: run() drops the named ones absent here first).
        chosen = {"device": self.device, "mode": self.mode}
        return [f"--preset={self.preset}", f"--impl={self.impl}", f"--dtype={self.dtype}",
                *(f"--{option}={value}" for option, value in chosen.items() if value != "all"),
                *(f"--impl-path={path}" for path in self.impl_paths),
                *(["--time-unverified"] if self.time_unverified else []),
                *([f"--rounds={self.rounds}"] if self.rounds else [])]


#: Asked in a child with the benchmarks' environment, which decides what the frameworks see
#: (JAX_PLATFORMS); jax started on a GPU in this process would also keep memory the benchmarks need.
ABSENT_PROBE = ("import json, sys; from reference.harness.session import absent_reason; "
                "print(json.dumps({d: absent_reason(d) for d in sys.argv[1:]}))")


def absent_devices(options: Options) -> dict[str, str]:
    """The devices named with --device that no framework has here: device -> why ("all" names none)."""
    if options.device == "all":
        return {}  # the plugin leaves out the absent ones itself, and its header says why
    devices = choose("device", options.device, OPTIONS["device"])
    env = thread_environment(options.threads, use_gpu="cuda" in devices)
    probe = subprocess.run([sys.executable, "-c", ABSENT_PROBE, *devices], env=env, cwd=ROOT,
                           capture_output=True, text=True)
    if probe.returncode != 0:
        print(f"note: could not tell which devices are present ({probe.stderr.strip().splitlines()[-1:]})",
              file=sys.stderr)
        return {}
    return {device: reason for device, reason in json.loads(probe.stdout.splitlines()[-1]).items() if reason}


def run(options: Options) -> int:
    """Time, describe the machine, build the report; the exit status (2: the run folder exists, or
    no device asked for is present)."""
    # Before any folder is made: a device named but absent would only give cases that all skip.
    absent = absent_devices(options)
    why = "; ".join(f"{device} ({reason})" for device, reason in absent.items())
    present = [d for d in choose("device", options.device, OPTIONS["device"]) if d not in absent]
    if not present:
        print(f"error: no framework here has {why}; nothing to time", file=sys.stderr)
        return 2
    if absent:
        print(f"note: not timing {why}; timing {', '.join(present)}", file=sys.stderr)
        options = dataclasses.replace(options, device=",".join(present))
    from bench import report  # pandas and matplotlib: needed only once there is something to report

    run_id = f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{options.preset}-{options.threads}t"
    run_dir = options.results / run_id
    try:
        run_dir.mkdir(parents=True)
    except FileExistsError:
        print(f"error: {run_dir} already exists; a run never overwrites another's files", file=sys.stderr)
        return 2
    raw = run_dir / "raw"
    raw.mkdir()
    env = thread_environment(options.threads, use_gpu=options.device == "all" or "cuda" in options.device)
    pytest_command = [sys.executable, "-m", "pytest", "bench", "-n", "0", "-p", "no:cacheprovider", "-q",
                      "--no-header", f"--benchmark-json={raw / 'pytest-benchmark.json'}", *TIMING_OPTIONS,
                      f"--races-json={raw / 'races.json'}", *options.pytest_arguments()]
    print("running:", shlex.join(pytest_command), flush=True)
    started = time.perf_counter()
    status = subprocess.run(pytest_command, env=env).returncode
    if status != 0:
        print(f"error: the benchmarks failed (pytest exit {status}); partial results in {run_dir}", file=sys.stderr)
        return status
    # machine.json is collected in a child with the benchmarks' environment, so it reports
    # the thread counts and devices they saw.
    describe = subprocess.run([sys.executable, "-m", "bench.machine", options.command], env=env,
                              capture_output=True, text=True)
    if describe.returncode == 0:
        (run_dir / "machine.json").write_text(describe.stdout + "\n")
    else:
        print(f"note: the machine could not be described ({describe.stderr.strip().splitlines()[-1:]})",
              file=sys.stderr)
    try:
        report.build(raw, run_dir, command=options.command)
    except report.ReportError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    (options.results / "LATEST.md").write_text(
        f"# Newest run\n\n[{run_id}]({run_id}/summary.md), written by `{options.command}`.\n")
    print(f"wrote {run_dir} in {time.perf_counter() - started:.0f} s; summary: {run_dir / 'summary.md'}")
    return 0
