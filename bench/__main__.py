"""The main job: time every implementation on the default sizes and write a report under results/.

    python -m bench                      # default preset, all cores, every impl/dtype/device present
    python -m bench --preset sweep --threads 1 --impl jax-grad,torch-autograd

Each run gets its own folder, results/<UTC time>-<preset>-<threads>t/, and refuses to reuse
one: nothing a run wrote before is overwritten. results/LATEST.md points at the newest run.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

from bench import report
from bench.sizes import PRESETS
from impls.threads import thread_environment

#: pytest-benchmark settings: warm-up on, enough rounds for a median and an IQR, bounded time.
TIMING_OPTIONS = ["--benchmark-warmup=on", "--benchmark-warmup-iterations=20", "--benchmark-min-rounds=25",
                  "--benchmark-max-time=0.5", "--benchmark-disable-gc", "--benchmark-sort=name"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="default")
    parser.add_argument("--threads", default="all", help="'all' (default: every core) or a number, e.g. 1")
    parser.add_argument("--impl", default="all")
    parser.add_argument("--device", default="all")
    parser.add_argument("--dtype", default="all")
    parser.add_argument("--mode", default="all", help="strict, tf32 or all (tf32 exists for float32 on cuda)")
    parser.add_argument("--impl-path", action="append", default=[], help="a plug-in to time; repeatable")
    parser.add_argument("--results", type=Path, default=Path("results"))
    args = parser.parse_args(argv)
    if args.threads == "all":
        threads = os.cpu_count() or 1
    elif args.threads.isdigit() and int(args.threads) > 0:
        threads = int(args.threads)
    else:
        parser.error(f"--threads must be 'all' or a positive number, got {args.threads!r}")

    run_id = f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{args.preset}-{threads}t"
    run_dir = args.results / run_id
    try:
        run_dir.mkdir(parents=True)
    except FileExistsError:
        parser.error(f"{run_dir} already exists; a run never overwrites another's files")
    raw = run_dir / "raw" / "pytest-benchmark.json"
    raw.parent.mkdir()

    command = shlex.join(["python", "-m", "bench", *(argv if argv is not None else sys.argv[1:])])
    env = thread_environment(threads, use_gpu=args.device in ("all", "cuda") or "cuda" in args.device)
    pytest_command = [sys.executable, "-m", "pytest", "bench", "-n", "0", "-p", "no:cacheprovider", "-q",
                      f"--benchmark-json={raw}", *TIMING_OPTIONS, f"--preset={args.preset}",
                      f"--impl={args.impl}", f"--device={args.device}", f"--dtype={args.dtype}",
                      f"--mode={args.mode}", *(f"--impl-path={path}" for path in args.impl_path)]
    print("running:", shlex.join(pytest_command), flush=True)
    started = time.perf_counter()
    status = subprocess.run(pytest_command, env=env).returncode
    if status != 0:
        print(f"error: the benchmarks failed (pytest exit {status}); partial results in {run_dir}", file=sys.stderr)
        return status
    # machine.json is collected in a child with the benchmarks' environment, so it reports
    # the thread counts and devices they saw.
    describe = subprocess.run([sys.executable, "-m", "bench.machine", command], env=env,
                              capture_output=True, text=True, check=True)
    (run_dir / "machine.json").write_text(describe.stdout + "\n")
    report.build(raw, run_dir, command=command)
    (args.results / "LATEST.md").write_text(
        f"# Newest run\n\n[{run_id}]({run_id}/summary.md), written by `{command}`.\n")
    print(f"wrote {run_dir} in {time.perf_counter() - started:.0f} s; summary: {run_dir / 'summary.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
