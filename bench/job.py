"""The main job: time the selected cases in a child pytest, then write the report into a new run folder.

``python -m bench`` and ``pytest --benchmark`` both parse their options into a ``bench.options.Plan``
and call ``run``. Each run gets its own folder, results/<UTC time>-<preset>-<threads>t/, and refuses
to reuse one: nothing a run wrote before is overwritten. The plan goes into its raw/job/plan.json,
which the child pytest reads. The job ends by printing the headline (which plain way is fastest,
by how much, how sure) and the summary's path; results/LATEST.md shows the newest run's headline
and lists every run. A run that stops before anything was timed leaves no folder behind.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench.options import Plan
from impls.backends import DEVICES
from impls.threads import thread_environment
from reference.harness.selection import choose

ROOT = Path(__file__).resolve().parent.parent

#: pytest-benchmark's settings for what it times alone (the GEMM floor's products, the peak, the
#: harness overhead): warm-up on, enough rounds for a median and an IQR, bounded time.
TIMING_OPTIONS = ["--benchmark-warmup=on", "--benchmark-warmup-iterations=20",
                  "--benchmark-disable-gc", "--benchmark-sort=name", "--benchmark-quiet"]
#: Their fewest rounds, unless --rounds asks for fewer: the peak's product takes about 0.2 s on two
#: cores, so 25 rounds of each library's were a third of a job run with --rounds=3.
MIN_ROUNDS = 25
#: Seconds pytest-benchmark may spend on each product's rounds beyond the fewest.
MAX_TIME_S = 0.5


#: Asked in a child with the benchmarks' environment, which decides what the frameworks see
#: (JAX_PLATFORMS); jax started on a GPU in this process would also keep memory the benchmarks need.
ABSENT_PROBE = ("import json, sys; from reference.harness.session import absent_reason; "
                "print(json.dumps({d: absent_reason(d) for d in sys.argv[1:]}))")


def absent_devices(plan: Plan) -> dict[str, str]:
    """The devices named with --device that no framework has here: device -> why ("all" names none)."""
    if plan.device == "all":
        return {}  # the child's selection leaves out the absent ones itself
    devices = choose("device", plan.device, DEVICES)
    env = thread_environment(plan.threads, use_gpu="cuda" in devices)
    probe = subprocess.run([sys.executable, "-c", ABSENT_PROBE, *devices], env=env, cwd=ROOT,
                           capture_output=True, text=True)
    if probe.returncode != 0:
        print(f"note: could not tell which devices are present ({probe.stderr.strip().splitlines()[-1:]})",
              file=sys.stderr)
        return {}
    return {device: reason for device, reason in json.loads(probe.stdout.splitlines()[-1]).items() if reason}


def child_pytest(plan: Plan, raw: Path) -> list[str]:
    """The command that times the plan; the plan goes into raw/job/plan.json, which the child reads.

    In raw/ (out of git), but not beside the measurements: the report reads every JSON file there.
    """
    plan_file = raw / "job" / "plan.json"
    plan_file.parent.mkdir()
    dataclasses.replace(plan, races=raw / "races.json").write(plan_file)
    # A preset without ceilings leaves out the matmul peak, the GEMM floors and the load test.
    skipped = [] if plan.sizes_and_phases.ceilings else \
        ["--ignore=bench/test_ceilings.py", "-m", "not load", "-k", "not test_gemm"]
    # The job's terminal is its progress and its answer: the frameworks' deprecation notices stay in the count
    # pytest prints, and pytest-benchmark's "nothing saved" (a preset that times nothing with it) goes.
    quiet = ["--disable-warnings", "-W", "ignore::pytest_benchmark.logger.PytestBenchmarkWarning"]
    return [sys.executable, "-m", "pytest", "bench", "-n", "0", "-p", "no:cacheprovider", "-q", "--no-header", *quiet,
            f"--benchmark-json={raw / 'pytest-benchmark.json'}", *TIMING_OPTIONS, *product_rounds(plan.rounds),
            *skipped, f"--bench-plan={plan_file}"]


def product_rounds(rounds: int | None) -> list[str]:
    """pytest-benchmark's rounds for the products: at least MIN_ROUNDS and as many more as MAX_TIME_S allows,
    or, where --rounds asks for a number, that many and never more than MIN_ROUNDS (a quick run stays quick)."""
    if rounds is None:
        return [f"--benchmark-min-rounds={MIN_ROUNDS}", f"--benchmark-max-time={MAX_TIME_S}"]
    return [f"--benchmark-min-rounds={min(MIN_ROUNDS, rounds)}", "--benchmark-max-time=0"]


def run(plan: Plan) -> int:
    """Time, describe the machine, build the report; the exit status (2: the run folder exists, or
    no device asked for is present)."""
    # Before any folder is made: a device named but absent would only give cases that all skip.
    absent = absent_devices(plan)
    why = "; ".join(f"{device} ({reason})" for device, reason in absent.items())
    present = [d for d in choose("device", plan.device, DEVICES) if d not in absent]
    if not present:
        print(f"error: no framework here has {why}; nothing to time", file=sys.stderr)
        return 2
    if absent:
        print(f"note: not timing {why}; timing {', '.join(present)}", file=sys.stderr)
        plan = dataclasses.replace(plan, device=",".join(present))
    from bench import report  # pandas and matplotlib: needed only once there is something to report
    from bench.report.trust import judge_run

    run_id = f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{plan.preset}-{plan.threads}t"
    run_dir = plan.results / run_id
    try:
        run_dir.mkdir(parents=True)
    except FileExistsError:
        print(f"error: {run_dir} already exists; a run never overwrites another's files", file=sys.stderr)
        return 2
    raw = run_dir / "raw"
    raw.mkdir()
    env = thread_environment(plan.threads, use_gpu=plan.device == "all" or "cuda" in plan.device)
    print(f"timing into {run_dir} ({plan.preset} preset, {plan.threads} thread(s))", flush=True)
    started = time.perf_counter()
    status = subprocess.run(child_pytest(plan, raw), env=env).returncode
    drop_if_unwritten(raw / "pytest-benchmark.json")
    if status != 0:
        return stopped(status, run_dir, raw)
    # machine.json is collected in a child with the benchmarks' environment, so it reports
    # the thread counts and devices they saw.
    describe = subprocess.run([sys.executable, "-m", "bench.machine", plan.command], env=env,
                              capture_output=True, text=True)
    if describe.returncode == 0:
        (run_dir / "machine.json").write_text(describe.stdout + "\n")
    else:
        print(f"note: the machine could not be described ({describe.stderr.strip().splitlines()[-1:]})",
              file=sys.stderr)
    print("writing the report (tables, intervals, plots)", flush=True)
    try:
        headline = report.build(raw, run_dir, command=plan.command)
        report.write_latest(plan.results, headline)
    except report.ReportError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"\n{headline}")
    # Last, where a person looks: whether the run can be read at all.
    print(*judge_run(raw).lines, sep="\n")
    print(f"timed and reported in {time.perf_counter() - started:.0f} s; summary: {run_dir / 'summary.md'}")
    return 0


def drop_if_unwritten(benchmark_json: Path) -> None:
    """pytest-benchmark 5.2 creates its --benchmark-json file as it starts and writes it only where its fixture
    timed something (in a preset without ceilings nothing is): an empty file is nothing timed, not a measurement
    for the report to read (5.3 creates no file then)."""
    if benchmark_json.exists() and benchmark_json.stat().st_size == 0:
        benchmark_json.unlink()


def stopped(status: int, run_dir: Path, raw: Path) -> int:
    """The child pytest failed: a folder with nothing timed in it goes (it holds only the plan the job
    wrote), one with measurements stays."""
    if not any(raw.glob("*.json")):
        shutil.rmtree(run_dir)
        print(f"error: the benchmarks stopped before timing anything (pytest exit {status}); no run folder kept",
              file=sys.stderr)
    else:
        print(f"error: the benchmarks failed (pytest exit {status}); what was timed is in {raw}", file=sys.stderr)
    return status
