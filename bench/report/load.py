"""Reading: pytest-benchmark's JSON into one frame per record kind, and a run's benchmarks.csv back.

Every extra_info goes through its record in bench.schema, so what the benchmarks wrote and what
the report reads are one definition. Bad input is a one-line ``ReportError``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import pandas as pd

from bench.schema import CASE_ID, KINDS, RENAMED, STATS, TIMES, SchemaError


class ReportError(ValueError):
    """Bad input to the report: the message is one line naming the path and the problem."""


def load_raw(raw_json: Path) -> tuple[dict[str, Any], dict[str, pd.DataFrame]]:
    """The raw JSON document and one frame per benchmark kind (extra_info plus renamed stats)."""
    try:
        document = json.loads(raw_json.read_text())
    except FileNotFoundError:
        raise ReportError(f"{raw_json}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ReportError(f"{raw_json}: cannot read it ({error})") from None
    except json.JSONDecodeError as error:
        raise ReportError(f"{raw_json}: not valid JSON ({error.msg} at line {error.lineno})") from None
    if not isinstance(document, dict) or not isinstance(document.get("benchmarks"), list):
        raise ReportError(f"{raw_json}: no 'benchmarks' list; expected pytest-benchmark's --benchmark-json output")

    rows: dict[str, list[dict[str, Any]]] = {kind: [] for kind in KINDS}
    for bench in document["benchmarks"]:
        info, stats = bench.get("extra_info") or {}, bench.get("stats") or {}
        kind = info.get("kind")
        if kind not in KINDS:
            continue  # not one of this project's benchmarks; counted in the summary
        try:
            record = KINDS[kind].from_extra_info(info)
        except SchemaError as error:
            raise ReportError(f"{raw_json}: {kind} benchmark {bench.get('name')!r} {error}") from None
        missing = [key for key in STATS if key not in stats]
        if missing:
            raise ReportError(f"{raw_json}: {kind} benchmark {bench.get('name')!r} lacks {', '.join(missing)}")
        row = {**asdict(record), **{new: stats[old] for old, new in STATS.items()}}
        # Throughput timing queues several calls per round: every figure is per call.
        for key in TIMES:
            row[key] /= getattr(record, "calls_per_round", 1) or 1
        rows[kind].append(row)

    frames = {kind: pd.DataFrame(found, columns=[f.name for f in fields(KINDS[kind])] + list(STATS.values()))
              for kind, found in rows.items()}
    for kind, frame in frames.items():
        # A measure the writer could not take (None) is a missing number, NaN.
        for name in (f.name for f in fields(KINDS[kind]) if f.default is None):
            frame[name] = pd.to_numeric(frame[name])
    if frames["case"].empty:
        raise ReportError(f"{raw_json}: no case benchmarks (extra_info kind 'case') to report")
    return document, frames


def read_run(run_dir: Path) -> pd.DataFrame:
    """A run's benchmarks.csv."""
    if not run_dir.is_dir():
        raise ReportError(f"{run_dir}: no such run folder")
    csv = run_dir / "benchmarks.csv"
    if not csv.is_file():
        raise ReportError(f"{run_dir}: no benchmarks.csv in this folder; is it a run folder written by 'build'?")
    try:
        table = pd.read_csv(csv)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise ReportError(f"{csv}: not a readable CSV ({str(error).splitlines()[0]})") from None
    table = table.rename(columns={old: new for old, new in RENAMED.items() if new not in table})
    # compare joins on these; a CSV from an older report or another tool may lack some.
    missing = [column for column in [*CASE_ID, "median_s", "q1_s", "q3_s"] if column not in table]
    if missing:
        raise ReportError(f"{csv}: lacks column(s) {', '.join(missing)}; was it written by this report's 'build'?")
    return table
