"""The report's command line.

    python -m bench.report build RAW RUN_DIR [--command "..."]
    python -m bench.report rebuild RUN_DIR [--force]
    python -m bench.report headline [RUN_DIR] [--into FILE]
    python -m bench.report latest [RESULTS]
    python -m bench.report compare RUN_A RUN_B [--threshold 1.10] [--alpha 0.01] [--gate] [--all]

``build`` writes benchmarks.csv (one row per case), ceilings.csv (the measured matmul peak and
GEMM floor each case is measured against), samples.csv.gz (every round's sample), findings.json
(A/A, where the time goes, load), a few PNG plots and summary.md into RUN_DIR, and refuses to
overwrite a file an earlier run wrote there. ``rebuild`` writes summary.md and the plots again
from a run folder's own files (as committed; raw/ is not), only with --force where they exist.
``headline`` prints a run's headline block (markdown: which plain way is fastest, by how much,
how sure), or with --into puts it, led by a link to the run, between FILE's headline markers (README's); ``latest`` writes
RESULTS/LATEST.md: the newest run's headline and every run's command, machine, threads and A/A.
``compare`` joins two runs' cases and calls a case slower or faster only when the ratio of
medians passes the threshold and the difference is significant: a Mann-Whitney U test on the
raw samples at a stated family-wise error rate (--alpha), or, for runs without samples,
non-overlapping interquartile ranges. Bad input is a one-line error, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.report.build import build, rebuild, write_latest
from bench.report.headline import front_door_run, headline_markdown, headline_on_page, splice
from bench.report.compare import (ALPHA, compare, describe_fastest, describe_machines, describe_test, exceptions,
                                   with_reasons)
from bench.report.load import ReportError


def into(path: Path, block: str) -> None:
    """Put ``block`` between the headline markers of the markdown file at ``path``."""
    try:
        text = path.read_text()
    except OSError as error:
        raise ReportError(f"{path}: cannot read it ({error.strerror})") from None
    try:
        path.write_text(splice(text, block, str(path)))
    except ValueError as error:
        raise ReportError(str(error)) from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.report", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="action", required=True)
    build_parser = commands.add_parser("build", help="tables, plots and summary.md of one run")
    build_parser.add_argument("raw_json", type=Path,
                              help="a run's raw/ folder, or one JSON file in pytest-benchmark's schema")
    build_parser.add_argument("run_dir", type=Path, help="the run's folder (created if missing)")
    build_parser.add_argument("--command", default="", help="the command that produced the run, for the summary")
    rebuild_parser = commands.add_parser("rebuild", help="summary.md and plots again from a run folder's own files")
    rebuild_parser.add_argument("run_dir", type=Path, help="a run folder (benchmarks.csv, samples.csv.gz, ...)")
    rebuild_parser.add_argument("--force", action="store_true", help="replace the summary.md and plots already there")
    headline_parser = commands.add_parser("headline", help="print a run's headline block (markdown)")
    headline_parser.add_argument("run_dir", type=Path, nargs="?", default=None,
                                 help="a run folder (default: README's, the newest run under results/ of the main "
                                      "job as README runs it that its summary calls reliable)")
    headline_parser.add_argument("--into", type=Path, default=None,
                                 help="write it between the lines <!-- headline:begin --> and "
                                      "<!-- headline:end --> of this markdown file instead of printing it")
    latest_parser = commands.add_parser("latest", help="write RESULTS/LATEST.md: the newest run and a list of all")
    latest_parser.add_argument("results", type=Path, nargs="?", default=Path("results"),
                               help="the folder holding the run folders (default: results)")
    compare_parser = commands.add_parser("compare", help="the cases of two runs side by side")
    compare_parser.add_argument("run_a", type=Path, help="the run compared against")
    compare_parser.add_argument("run_b", type=Path, help="the run whose ratio over run_a is judged")
    compare_parser.add_argument("--threshold", type=float, default=1.10, help="ratio b/a that counts (default 1.10)")
    compare_parser.add_argument("--alpha", type=float, default=ALPHA,
                                help=f"family-wise false-alarm rate of the rank test (default {ALPHA})")
    compare_parser.add_argument("--gate", action="store_true", help="exit 1 if any case is slower in run_b")
    compare_parser.add_argument("--all", action="store_true",
                                help="print every case and column, not only the cases that moved")
    args = parser.parse_args(argv)

    try:
        if args.action == "build":
            build(args.raw_json, args.run_dir, command=args.command)
            print(f"wrote {args.run_dir / 'summary.md'}")
            return 0
        if args.action == "rebuild":
            rebuild(args.run_dir, force=args.force)
            print(f"wrote {args.run_dir / 'summary.md'}")
            return 0
        if args.action == "headline":
            try:
                run_dir = args.run_dir or front_door_run(Path("results"))
            except FileNotFoundError as error:
                raise ReportError(f"{error}; name a run folder") from None
            if args.into is None:
                print(headline_markdown(run_dir), end="")
                return 0
            into(args.into, headline_on_page(run_dir, args.into))
            print(f"wrote the headline of {run_dir} into {args.into}")
            return 0
        if args.action == "latest":
            write_latest(args.results)
            print(f"wrote {args.results / 'LATEST.md'}")
            return 0
        result = compare(args.run_a, args.run_b, args.threshold, args.alpha)
    except ReportError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    counts = result["verdict"].value_counts()
    print(f"{counts.get('slower', 0)} slower, {counts.get('faster', 0)} faster, {counts.get('same', 0)} same; "
          f"{describe_test(result, args.threshold)}; "
          f"{result.attrs['only_a']} case(s) only in {args.run_a}, {result.attrs['only_b']} only in {args.run_b}")
    print(describe_fastest(result))
    print(describe_machines(args.run_a, args.run_b))
    shown = with_reasons(result) if args.all else exceptions(result)
    if not shown.empty:
        print("\nEvery case:" if args.all else "\nThe cases that moved (--all: every case and column):")
        # The reasons read as sentences: left-aligned under a left-aligned heading, not padded at the end.
        width = int(shown["reason"].str.len().max())
        text = shown.to_string(index=False, float_format=lambda v: f"{v:.4g}",
                               header=[name.ljust(width) if name == "reason" else name for name in shown.columns],
                               formatters={"reason": lambda reason: reason.ljust(width)})
        print("\n".join(line.rstrip() for line in text.splitlines()))
    return 1 if args.gate and (result["verdict"] == "slower").any() else 0

