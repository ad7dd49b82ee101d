"""Check implementations, yours or built-in ones, and print a verdict table with diagnoses.

    python -m reference examples/my_impl.py
    python -m reference path/to/file.py:MyClass --dtype float64 --shape tutorial,odd --timeout 30
    python -m reference torch-nn jax-grad --json verdict.json

Runs every check of the catalogue (reference/checks/catalogue.py) on every implementation, device,
dtype and mode asked for, each after the checks it rests on (reference/checks/verdict.py), with a
progress line on stderr as each ends. A failing case's table opens with the most likely cause of its
failures, the diagnosis that explains the most of them; passing checks and the failures that cause
explains are one line per family (-v: every check's row), and a check's time is the implementation's,
the harness's own work counted apart.
Each implementation runs in a child process of its own: an exit, a crash, a signal, an allocation
past --memory-limit or a hang there is a failed check that says so, and the other checks still run.
Exit status: 0 if every check ran and passed, 1 if any failed, 2 if an implementation cannot be
loaded, the arguments are wrong or nothing could be checked.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import replace
from pathlib import Path

from impls.contract import UnsupportedCase
from reference.checks.catalogue import applies, left_out, select
from reference.checks.check import Check
from reference.checks.run import DEFAULT_TIMEOUT_S, Row, each_row
from reference.checks.verdict import RootCause, family, root_cause
from reference.harness.isolation import DEFAULT_MEMORY_LIMIT
from reference.harness.selection import NotLoaded, Selection, add_selection_options, choose
from reference.harness.session import Session, combinations


def table(rows: list[Row], cause: RootCause | None = None, verbose: bool = False) -> str:
    """One line per check, under a failing one its worst entry (got, reference, tolerance); without ``verbose``,
    the passing checks and the failing ones ``cause`` explains one line per family, with their count."""
    lines = [("check", "result", "error/tol", "time", "diagnosis")]
    worst = {}
    for group in (rows if verbose else _collapsed(rows, cause)):
        row, count = (group, 1) if isinstance(group, Row) else group
        ratio = "" if math.isnan(row.outcome.ratio) else f"{row.outcome.ratio:.3g}"
        name = row.check.id if count == 1 else f"{family(row.check.id)} ({count} checks)"
        explained = count > 1 or (not verbose and not row.outcome.passed and cause and row.check.id in cause.explained)
        lines.append((name, "pass" if row.outcome.passed else "FAIL", ratio, f"{row.seconds:.2f} s",
                      "the most likely cause above" if explained and not row.outcome.passed else row.outcome.explanation))
        if not row.outcome.passed and row.outcome.details and not explained:
            worst[len(lines) - 1] = row.outcome.details[0].strip().splitlines()[-1]
    widths = [max(len(line[i]) for line in lines) for i in range(4)]
    out = []
    for i, (a, b, c, d, e) in enumerate(lines):
        out.append(f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c:>{widths[2]}}  {d:>{widths[3]}}  {e}".rstrip())
        if i in worst:
            out.append(f"    worst: {worst[i]}")
    return "\n".join(out)


def _collapsed(rows: list[Row], cause: RootCause | None) -> list[Row | tuple[Row, int]]:
    """Rows in order, except that passing rows and the failing rows ``cause`` explains become one per family:
    (a row standing for the family, with its worst ratio and its summed time, and how many it stands for)."""
    out: list = []
    groups: dict[tuple[str, bool], list[Row]] = {}
    for row in rows:
        if not row.outcome.passed and (cause is None or row.check.id not in cause.explained):
            out.append(row)
            continue
        key = (family(row.check.id), row.outcome.passed)
        if key not in groups:
            groups[key] = []
            out.append(key)
        groups[key].append(row)
    return [_standing_for(groups[item]) if isinstance(item, tuple) else item for item in out]


def _standing_for(rows: list[Row]) -> Row | tuple[Row, int]:
    if len(rows) == 1:
        return rows[0]
    worst = max(rows, key=lambda r: -math.inf if math.isnan(r.outcome.ratio) else r.outcome.ratio)
    return replace(worst, seconds=sum(r.seconds for r in rows)), len(rows)


class Progress:
    """A line on stderr as each check ends: rewritten in place on a terminal, one line each elsewhere."""

    def __init__(self, stream=sys.stderr):
        self.stream = stream
        self.in_place = stream.isatty()

    def __call__(self, label: str, done: int, total: int, row: Row) -> None:
        line = f"{label} {done}/{total}: {row.check.id} {'pass' if row.outcome.passed else 'FAIL'} ({row.seconds:.2f} s)"
        self.stream.write(f"\r\x1b[K{line}" if self.in_place else f"{line}\n")
        self.stream.flush()

    def clear(self) -> None:
        if self.in_place:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


def record(session: Session, row: Row, cause: RootCause | None) -> dict:
    """One row as plain data, for --json, with its session's most likely cause and whether it explains this row."""
    ratio = row.outcome.ratio
    return {**session.case._asdict(), "check": row.check.id, "passed": row.outcome.passed,
            "ratio": None if math.isnan(ratio) else ratio, "codes": sorted(row.outcome.codes),
            "diagnosis": row.outcome.explanation, "seconds": row.seconds, "harness_seconds": row.harness_seconds,
            "root_cause": None if cause is None else {"code": cause.code, "text": cause.text,
                                                      "explains": row.check.id in cause.explained}}


def main(argv: list[str] | None = None) -> int:
    # Short, and naming the example to start from: argparse's own lists every option, and a first
    # run with no argument is where a user looks for what to give.
    parser = argparse.ArgumentParser(prog="python -m reference", description=__doc__.split("\n\n")[0], usage=(
        "%(prog)s FILE.py[:Class] | NAME ... [--check IDS] [--dtype A,B] [--shape A,B] [options]\n"
        "       try: %(prog)s examples/my_impl.py   (a plug-in to copy; -h lists every option)"))
    parser.add_argument("implementations", nargs="+", metavar="implementation",
                        help="FILE.py[:Class], module:Class, or a registered name")
    add_selection_options(parser.add_argument, ("device", "dtype", "mode", "shape"), device="cpu", mode="strict")
    parser.add_argument("--check", default="", metavar="IDS", help="comma list of check ids to run, globs or "
                        "prefixes picking each match (agreement-*, agreement); default: every check")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds per check (default 120)")
    parser.add_argument("--threads", type=int, default=1,
                        help="BLAS/torch threads (default 1: the checks' small products gain nothing from more, "
                             "and on a busy machine more threads than free cores slow them down many times)")
    parser.add_argument("--memory-limit", type=float, default=DEFAULT_MEMORY_LIMIT / 2**30, metavar="GIB",
                        help="address space each implementation's process may use on the cpu (default 8; 0: no "
                             "limit); cuda cases run without one, as CUDA's reservations need")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="every check's row (default: passing checks and failing ones the most likely cause "
                             "explains one line per family)")
    parser.add_argument("--json", type=Path, help="also write every row as JSON to this file (not overwritten)")
    args = parser.parse_args(argv)
    if args.json and args.json.exists():
        parser.error(f"--json {args.json}: already exists; a run never overwrites an earlier one's file")
    try:
        selection = Selection(device=args.device, dtype=args.dtype, mode=args.mode, shape=args.shape,
                              impl_paths=args.implementations, memory_limit=int(args.memory_limit * 2**30),
                              threads=args.threads)
    except NotLoaded as error:
        print(f"error: {error.reason}", file=sys.stderr)
        return 2
    except ValueError as error:
        parser.error(str(error))
    try:
        return check_all(selection, chosen_checks(parser, selection, args.check), args.timeout, args.json, args.verbose)
    finally:
        selection.close()


def chosen_checks(parser: argparse.ArgumentParser, selection: Selection, ids: str) -> list[Check]:
    """The catalogue's checks at the selected shapes, only those named by --check where it is given."""
    checks = select(selection.shapes)
    if not ids:
        return checks
    try:
        named = choose("check", ids, [c.id for c in checks])
    except ValueError as error:
        parser.error(str(error))
    return [c for c in checks if c.id in named]


def check_all(selection: Selection, checks: list[Check], timeout_s: float, json_path, verbose: bool = False) -> int:
    failed, records, progress = 0, [], Progress()
    for spec, impl in selection.plugins.values():
        print(f"{impl.name}: {impl.summary}\n", flush=True)
        if line := left_out(checks, impl):
            print(f"{line}\n", flush=True)
        for device, dtype, mode in combinations(selection.devices, selection.dtypes, selection.modes):
            try:
                session = Session.isolated(spec, device, dtype, mode, selection.pool)
            except UnsupportedCase as reason:
                print(f"{impl.name} [{device}, {dtype}, {mode}]: skipped: {reason}\n")
                continue
            rows = []
            about = [c for c in checks if applies(c, impl, device)]
            for row in each_row(session, about, timeout_s):
                rows.append(row)
                progress(session.label, len(rows), len(about), row)
            progress.clear()
            cause = root_cause({row.check.id: row.outcome for row in rows})
            passed = sum(row.outcome.passed for row in rows)
            heading = [f"{session.label}: {passed} of {len(rows)} checks pass (the implementation "
                       f"{sum(r.seconds for r in rows):.1f} s; the harness's own float64 reference and comparisons "
                       f"{sum(r.harness_seconds for r in rows):.1f} s)"]
            # The cause before the rows: it is what a reader came for, and a long table would push it off screen.
            heading += [cause.line] if cause else []
            print(*heading, table(rows, cause, verbose), "", sep="\n", flush=True)
            failed += len(rows) - passed
            records += [record(session, row, cause) for row in rows]
    if json_path:
        json_path.write_text(json.dumps(records, indent=1) + "\n")
    if not records:
        print("verdict: nothing was checked (every case was skipped)", file=sys.stderr)
        return 2
    print("verdict:", "PASS" if failed == 0 else f"FAIL ({failed} checks)")
    return 0 if failed == 0 else 1
