"""Building one run's folder, never overwriting: ``build`` from the raw JSON, ``rebuild`` from a run's own files.

``build`` writes the run's data (benchmarks.csv, ceilings.csv, samples.csv.gz, findings.json) and
then its report (summary.md and the plots). ``rebuild`` reads that data back, as committed under
results/ (raw/ is not committed), and writes the report again: no re-timing.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pandas as pd

from bench.report import analysis
from bench.report import plots as draw
from bench.report.findings import Findings
from bench.report.headline import headline_block, latest, versus_plain
from bench.report.load import ReportError, load_raw, read_committed, read_machine
from bench.report.plots import PLOTS
from bench.report.summary import summary
from bench.report.tables import at_default_size, case_table, ceilings_table, gemm_floors, peaks, variant_of
from bench.schema import CASE_ID, COLUMNS, SIZE

DATA = ("benchmarks.csv", "ceilings.csv", "samples.csv.gz", "findings.json")
REPORT = ("summary.md", *PLOTS.values())
OUTPUTS = (*DATA, *REPORT)


def samples_table(cases: pd.DataFrame) -> pd.DataFrame:
    """samples.csv.gz: every round's time per call of every raced case (what compare's rank test reads)."""
    timed = cases[cases["samples"].notna()]
    rows = [{**{key: getattr(row, key) for key in CASE_ID}, "round": i, "seconds": float(value)}
            for row in timed.itertuples() for i, value in enumerate(row.samples)]
    return pd.DataFrame(rows, columns=[*CASE_ID, "round", "seconds"])


def findings_of(document: dict, frames: dict[str, pd.DataFrame], full: pd.DataFrame) -> Findings:
    """What the raw JSON says beyond one row per case, as findings.json keeps it."""
    commit = document.get("commit_info") or {}
    overhead = frames["overhead"]["median_s"]
    aa = analysis.aa_table(frames["aa"])
    return Findings(aa=aa, parts=analysis.decomposition(full, frames["floor"]),
                    load=analysis.load_table(frames["load"]), excluded=pd.DataFrame(document.get("excluded", [])),
                    overhead_s=float(overhead.median()) if not overhead.empty else None,
                    implementations=dict(zip(frames["case"]["impl"], frames["case"]["summary"])),
                    measured={"versions": document.get("versions", [document.get("version", "?")]),
                              "datetime": document.get("datetime", ""), "commit": commit.get("id", ""),
                              "dirty": bool(commit.get("dirty"))},
                    ignored=len(document["benchmarks"]) - sum(len(frame) for frame in frames.values()),
                    alone=analysis.alone_table(full, frames["alone"], aa, document.get("machine_state", [])),
                    machine_state=document.get("machine_state", []))


def build(raw: Path, run_dir: Path, command: str = "") -> str:
    """Write the run's data and report into ``run_dir`` from ``raw`` (a run's raw/ folder or one JSON);
    the headline block back (``headline.headline_block``: led by the run's warning where it has one)."""
    raw, run_dir = Path(raw), Path(run_dir)
    existing = [name for name in OUTPUTS if (run_dir / name).exists()]
    if existing:
        raise ReportError(f"{run_dir / existing[0]}: already exists; a run never overwrites an earlier run's files")
    document, frames = load_raw(raw)
    peak_table = peaks(frames["peak"])
    floors = gemm_floors(frames["gemm"])
    full = case_table(frames["case"], peak_table, floors, raw, frames["launch"], keep_samples=True)
    findings = findings_of(document, frames, full)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ReportError(f"{run_dir}: cannot create the run folder ({error.strerror})") from None

    full[COLUMNS].to_csv(run_dir / "benchmarks.csv", index=False)
    ceilings_table(peak_table, floors).to_csv(run_dir / "ceilings.csv", index=False)
    samples = samples_table(full)
    if not samples.empty:
        samples.to_csv(run_dir / "samples.csv.gz", index=False)
    (run_dir / "findings.json").write_text(json.dumps(findings.to_json(), indent=1) + "\n")
    return write_report(run_dir, full, peak_table, floors, findings, command)


def rebuild(run_dir: Path, force: bool = False) -> None:
    """Write summary.md and the plots again from the run's own files (as committed: no raw/).

    Refuses where the report is there already, unless ``force``: then it is replaced, and the
    plots this report no longer draws are removed with it. The data files are only read.
    """
    run_dir = Path(run_dir)
    existing = [name for name in REPORT if (run_dir / name).exists()]
    if existing and not force:
        raise ReportError(f"{run_dir / existing[0]}: already exists; pass --force to write the report again "
                          "from the run's files")
    full, peak_table, floors, findings = read_committed(run_dir)
    command = read_machine(run_dir).get("command", "")
    # The report there is set aside, not deleted, until the new one is written: a run written by an older report
    # may lack what this one reads, and then it keeps its report as it was.
    with tempfile.TemporaryDirectory(dir=run_dir) as aside:
        for name in existing:
            (run_dir / name).rename(Path(aside) / name)
        try:
            write_report(run_dir, full, peak_table, floors, findings, command)
        except Exception as error:
            for name in REPORT:
                (run_dir / name).unlink(missing_ok=True)
            for name in existing:
                (Path(aside) / name).rename(run_dir / name)
            raise ReportError(f"{run_dir}: cannot write its report again ({type(error).__name__}: {error}); "
                              "its report is left as it was") from error


def write_latest(results: Path, newest_headline: str | None = None) -> None:
    """results/LATEST.md, rewritten: an index of the runs there, not one run's file (``newest_headline``:
    the newest run's headline block where the caller has it already)."""
    try:
        text = latest(Path(results), newest_headline)
    except FileNotFoundError as error:
        raise ReportError(str(error)) from None
    (Path(results) / "LATEST.md").write_text(text)



def write_report(run_dir: Path, full: pd.DataFrame, peak_table: pd.DataFrame, floors: pd.DataFrame,
                 findings: Findings, command: str) -> str:
    """summary.md and the plots, from the cases (with their samples where kept) and the findings; the
    headline block back."""
    # Plots name a case timed unverified (--time-unverified) as such, as the tables do.
    plotted = full.assign(impl=full["impl"].where(full["verified"], full["impl"] + " (unverified)"),
                          variant=full["impl"].map(variant_of))
    default = at_default_size(plotted)
    plain = default[default["variant"] == ""]
    plots = []
    if not plain.empty:
        draw.plot_default_size(plain, run_dir / PLOTS["default"])
        draw.plot_gflops(plain, peak_table, run_dir / PLOTS["gflops"])
        plots += [PLOTS["default"], PLOTS["gflops"]]
    if plain["grads_over_forward"].notna().any():  # a run that times grads alone (the sweep) has no ratio
        draw.plot_grads_over_forward(plain, floors, run_dir / PLOTS["grads_over_forward"])
        plots.append(PLOTS["grads_over_forward"])
    parts = findings.parts
    plain_parts = parts[parts["impl"].map(variant_of) == ""] if not parts.empty else parts
    if not plain_parts.empty:
        draw.plot_decomposition(plain_parts, run_dir / PLOTS["decomposition"])
        plots.append(PLOTS["decomposition"])
    latency = plotted[plotted["timing"] == "latency"]
    if len(full[SIZE].drop_duplicates()) > 1:
        draw.plot_sizes(latency, run_dir / PLOTS["sizes"])
        plots.append(PLOTS["sizes"])
        swept = analysis.swept_axes(latency)
        if swept:
            draw.plot_sizes_gflops(swept, run_dir / PLOTS["sizes_gflops"])
            plots.append(PLOTS["sizes_gflops"])
    rows = versus_plain(at_default_size(full), findings.aa)
    (run_dir / "summary.md").write_text(summary(full, rows, peak_table, floors, plots, run_dir, command, findings))
    return headline_block(run_dir, rows, findings)
