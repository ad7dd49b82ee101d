"""Reading: pytest-benchmark's JSON into one frame per record kind, and a run's benchmarks.csv and samples back.

Every extra_info goes through its record in bench.schema, so what the benchmarks wrote and what
the report reads are one definition. Bad input is a one-line ``ReportError``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.report.findings import Findings
from bench.schema import CASE_ID, KINDS, RENAMED, SIZE, STATS, TIMES, SchemaError


class ReportError(ValueError):
    """Bad input to the report: the message is one line naming the path and the problem."""


#: pandas 3.0's default parser reads some floats off in their 13th digit (0.00010955600009765476 as
#: 0.0001095560000976); 3.1 reads them as written and deprecates the option that did.
EXACT_FLOATS = {} if tuple(int(part) for part in pd.__version__.split(".")[:2]) >= (3, 1) \
    else {"float_precision": "round_trip"}


def read_csv(path: Path, **options: Any) -> pd.DataFrame:
    """A CSV this report wrote, with every float as written."""
    return pd.read_csv(path, **EXACT_FLOATS, **options)


def _read_document(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        raise ReportError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ReportError(f"{path}: cannot read it ({error})") from None
    except json.JSONDecodeError as error:
        raise ReportError(f"{path}: not valid JSON ({error.msg} at line {error.lineno})") from None
    if not isinstance(document, dict) or not isinstance(document.get("benchmarks"), list):
        raise ReportError(f"{path}: no 'benchmarks' list; expected pytest-benchmark's --benchmark-json output")
    return document


def load_raw(raw: Path) -> tuple[dict[str, Any], dict[str, pd.DataFrame]]:
    """The raw data and one frame per benchmark kind (extra_info, renamed stats, and the samples where kept).

    ``raw`` is one JSON file in pytest-benchmark's schema, or a run's raw/ folder holding
    several (pytest-benchmark's own and bench.store's races): their benchmarks are read as one
    list, and the document returned is pytest-benchmark's (machine and commit), with every
    file's ``excluded`` cases and ``machine_state`` records.
    """
    raw = Path(raw)
    paths = sorted(raw.glob("*.json")) if raw.is_dir() else [raw]
    if not paths:
        raise ReportError(f"{raw}: no JSON files in this folder")
    documents = [_read_document(path) for path in paths]
    document = {**next((d for d in documents if "machine_info" in d), documents[0]),
                "versions": [f"{d.get('version', '?')}" for d in documents],
                "benchmarks": [b for d in documents for b in d["benchmarks"]],
                "excluded": [e for d in documents for e in d.get("excluded", [])],
                "machine_state": [s for d in documents for s in d.get("machine_state", [])]}

    rows: dict[str, list[dict[str, Any]]] = {kind: [] for kind in KINDS}
    for bench in document["benchmarks"]:
        info, stats = bench.get("extra_info") or {}, bench.get("stats") or {}
        kind = info.get("kind")
        if kind not in KINDS:
            continue  # not one of this project's benchmarks; counted in the summary
        try:
            record = KINDS[kind].from_extra_info(info)
        except SchemaError as error:
            raise ReportError(f"{raw}: {kind} benchmark {bench.get('name')!r} {error}") from None
        missing = [key for key in STATS if key not in stats]
        if missing:
            raise ReportError(f"{raw}: {kind} benchmark {bench.get('name')!r} lacks {', '.join(missing)}")
        row = {**asdict(record), **{new: stats[old] for old, new in STATS.items()}}
        # Throughput timing queues several calls per round: every figure is per call.
        calls = getattr(record, "calls_per_round", 1) or 1
        for key in TIMES:
            row[key] /= calls
        for key in ("first_call_s", "faults_per_call"):
            if row.get(key) is not None:
                row[key] /= calls
        # The races keep every round's sample, aligned by round within a race: ratios round by round.
        # (pytest-benchmark's own entries carry samples too, but nothing pairs them with another's.)
        raced = bool(getattr(record, "race", "")) and stats.get("data")
        row["samples"] = np.asarray(stats["data"], dtype=float) / calls if raced else None
        rows[kind].append(row)

    frames = {kind: pd.DataFrame(found, columns=[f.name for f in fields(KINDS[kind])] + list(STATS.values())
                                 + ["samples"])
              for kind, found in rows.items()}
    for kind, frame in frames.items():
        # A measure the writer could not take (None) is a missing number, NaN.
        for name in (f.name for f in fields(KINDS[kind]) if f.default is None):
            frame[name] = pd.to_numeric(frame[name])
    if frames["case"].empty:
        raise ReportError(f"{raw}: no case benchmarks (extra_info kind 'case') to report")
    return document, frames


def read_run(run_dir: Path) -> pd.DataFrame:
    """A run's benchmarks.csv."""
    if not run_dir.is_dir():
        raise ReportError(f"{run_dir}: no such run folder")
    csv = run_dir / "benchmarks.csv"
    if not csv.is_file():
        raise ReportError(f"{run_dir}: no benchmarks.csv in this folder; is it a run folder written by 'build'?")
    try:
        table = read_csv(csv)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise ReportError(f"{csv}: not a readable CSV ({str(error).splitlines()[0]})") from None
    table = table.rename(columns={old: new for old, new in RENAMED.items() if new not in table})
    # compare joins on these; a CSV from an older report or another tool may lack some.
    missing = [column for column in [*CASE_ID, "median_s", "q1_s", "q3_s"] if column not in table]
    if missing:
        raise ReportError(f"{csv}: lacks column(s) {', '.join(missing)}; was it written by this report's 'build'?")
    return table


def read_samples(run_dir: Path) -> dict[tuple, np.ndarray]:
    """A run's raw samples (samples.csv.gz) per case, keyed by CASE_ID's values; empty if the run kept none."""
    path = run_dir / "samples.csv.gz"
    if not path.is_file():
        return {}
    try:
        table = read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError, EOFError) as error:
        raise ReportError(f"{path}: not a readable samples file ({str(error).splitlines()[0]})") from None
    missing = [column for column in [*CASE_ID, "seconds"] if column not in table]
    if missing:
        raise ReportError(f"{path}: lacks column(s) {', '.join(missing)}")
    return {tuple(key): group["seconds"].to_numpy() for key, group in table.groupby(CASE_ID, sort=False)}


def read_committed(run_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, Findings]:
    """A run folder's own files as the report takes them: the cases with their samples, the measured
    peaks, the GEMM floors and the findings.

    A run written before a column or findings.json existed gets their defaults: verified, not
    eager by design, no race, no findings.
    """
    run_dir = Path(run_dir)
    table = read_run(run_dir)
    defaults = {"verified": True, "eager_by_design": False, "race": "", "worst_error_over_tol": np.nan,
                "fit_fixed_s": np.nan, "fit_s_per_flop": np.nan, "faults_per_call": np.nan}
    table = table.assign(**{key: value for key, value in defaults.items() if key not in table})
    table["race"] = table["race"].astype(object).fillna("")
    table["verified"] = table["verified"].astype(bool)
    samples = read_samples(run_dir)
    table["samples"] = [samples.get(tuple(key)) for key in table[CASE_ID].itertuples(index=False)]
    ceilings = read_ceilings(run_dir)
    peak_table = ceilings[ceilings["ceiling"] == "peak"].reindex(
        columns=["device", "dtype", "library", "n", "median_s", "gflops"]).reset_index(drop=True)
    floors = ceilings[ceilings["ceiling"] == "gemm_floor"].rename(columns={"gflops": "floor_gflops"}).reindex(
        columns=["device", "dtype", *SIZE, "phase", "floor_s", "floor_gflops", "winners"]).reset_index(drop=True)
    findings = read_findings(run_dir)
    return table, peak_table, floors, findings


def read_ceilings(run_dir: Path) -> pd.DataFrame:
    """A run's ceilings.csv (measured peaks and GEMM floors); no rows for a run without one."""
    ceilings_csv = Path(run_dir) / "ceilings.csv"
    return read_csv(ceilings_csv, dtype={key: "Int64" for key in ("n", *SIZE)}) if ceilings_csv.is_file() \
        else pd.DataFrame(columns=["ceiling", "device", "dtype", "library", "gflops"])


def read_findings(run_dir: Path) -> Findings:
    """A run's findings.json; empty findings for a run written before there was one."""
    path = Path(run_dir) / "findings.json"
    if not path.is_file():
        return Findings(*(pd.DataFrame() for _ in range(4)))
    try:
        return Findings.from_json(json.loads(path.read_text()))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ReportError(f"{path}: not a readable findings file ({error})") from None


def read_machine(run_dir: Path) -> dict[str, Any]:
    """A run's machine.json ({} where it is missing or unreadable: the report says what it does not know)."""
    try:
        return json.loads((Path(run_dir) / "machine.json").read_text())
    except (OSError, json.JSONDecodeError):
        return {}
