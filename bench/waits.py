"""How long a person waits for a verdict: README's commands that check a plug-in, timed as a person runs them.

    python -m bench.waits                  # each command 3 times after one run that fills the reference's cache
    python -m bench.waits --repeat 5 --results results

Each command runs whole, in a fresh process, from the repository root, with the environment this
one has: wall time to its exit, and the time from its first output (the header) to its first
progress (a CLI progress line, pytest's first test outcome). Around each run the machine's busy
CPU time (/proc/stat) less the command's own (its children's rusage) says how many cores other
processes took meanwhile: a slow run on a busy machine says so. Writes ``waits.csv`` and
``summary.md`` into a new folder ``<results>/<UTC stamp>-waits`` (never over an older one).
"""

from __future__ import annotations

import argparse
import csv
import datetime
import os
import re
import resource
import select
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from bench.state import busy_cpu_seconds

ROOT = Path(__file__).resolve().parent.parent
#: A CLI progress line ("name [cpu, float32] 1/36: check pass"), or pytest's first test outcomes ("...", or
#: "tests/test_checks.py ." without workers) on a line of their own.
PROGRESS = re.compile(rb"\] \d+/\d+: \S+ (pass|FAIL)|^(\S+\.py )?[.FEsxX]+(?= *\[| *$)", re.MULTILINE)


@dataclass(frozen=True)
class Command:
    """One command README shows, and the longest wait it is meant to take on a quiet 2-core machine (issue 21)."""

    what: str
    argv: tuple[str, ...]
    target_s: float


COMMANDS = (
    Command("CLI, numpy plug-in", ("-m", "reference", "examples/my_impl.py"), 10.0),
    Command("CLI, torch plug-in", ("-m", "reference", "tests/correct/tutorial_autograd.py"), 15.0),
    Command("pytest, numpy plug-in", ("-m", "pytest", "--impl-path=examples/my_impl.py"), 20.0),
)


@dataclass(frozen=True)
class Wait:
    """One run of one command."""

    command: str
    run: int                          # 0: the first, which may fill the reference's cache
    wall_s: float
    header_to_progress_s: float | None
    others_cores: float | None        # mean cores other processes took meanwhile; None: /proc/stat not readable


def timed(command: Command, run: int) -> Wait:
    """Run ``command`` once, its output read as it comes, stamped by when it came."""
    busy_before, own_before = busy_cpu_seconds(), _children_cpu_s()
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, *command.argv], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
    output, first_output, first_progress = b"", None, None
    fd = process.stdout.fileno()
    while True:
        select.select([fd], [], [])
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            break
        now = time.perf_counter()
        first_output = first_output or now
        output += chunk
        if first_progress is None and PROGRESS.search(output):
            first_progress = now
    status = process.wait()
    wall = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"error: {' '.join(command.argv)} exited {status}; its output ends:\n"
                         + output.decode(errors="replace")[-2000:])
    busy_after = busy_cpu_seconds()
    others = None if busy_before is None or busy_after is None else \
        max(0.0, (busy_after - busy_before) - (_children_cpu_s() - own_before)) / wall
    return Wait(command.what, run, wall, None if first_progress is None else first_progress - first_output, others)


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def summary(waits: list[Wait]) -> str:
    """The answer first: each command's median wait against its target, then how busy the machine was."""
    lines = ["# How long a verdict takes", "",
             "| command | first run s | median s (warm) | runs s | target s | met | header to first progress s (max) |",
             "| --- | ---: | ---: | --- | ---: | --- | ---: |"]
    for command in COMMANDS:
        mine = [w for w in waits if w.command == command.what]
        warm = [w.wall_s for w in mine if w.run > 0]
        median = statistics.median(warm)
        gaps = [w.header_to_progress_s for w in mine if w.header_to_progress_s is not None]
        gap = f"{max(gaps):.1f}" if len(gaps) == len(mine) else "not seen in every run"
        lines.append(f"| `python {' '.join(command.argv)}` | {mine[0].wall_s:.1f} | {median:.1f} | "
                     f"{', '.join(f'{s:.1f}' for s in warm)} | {command.target_s:g} | "
                     f"{'yes' if median <= command.target_s else 'no'} | {gap} |")
    others = [w.others_cores for w in waits if w.others_cores is not None]
    lines += ["", (f"Other processes took {statistics.mean(others):.2f} cores on average (at most {max(others):.2f}) "
                   f"of {os.cpu_count()} while these ran." if others else "The machine's load could not be read."),
              f"Each command ran {len(waits) // len(COMMANDS)} times; the first may fill the reference's cache "
              "(docs/install.md), the median is over the others."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.waits", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each command after the first (default 3)")
    parser.add_argument("--results", type=Path, default=ROOT / "results", help="where the run's folder goes")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error(f"--repeat: {args.repeat} is not a positive count of runs")
    folder = args.results / f"{datetime.datetime.now(datetime.timezone.utc):%Y%m%dT%H%M%SZ}-waits"
    if folder.exists():
        parser.error(f"{folder} exists; nothing is overwritten")
    waits = []
    for command in COMMANDS:
        for run in range(args.repeat + 1):
            waits.append(timed(command, run))
            print(f"{command.what} run {run}: {waits[-1].wall_s:.1f} s", file=sys.stderr)
    folder.mkdir(parents=True)
    with open(folder / "waits.csv", "w", newline="") as out:
        writer = csv.DictWriter(out, [f.name for f in fields(Wait)])
        writer.writeheader()
        writer.writerows(asdict(w) for w in waits)
    text = summary(waits)
    (folder / "summary.md").write_text(text)
    print(text + f"\nwritten to {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
