"""Building one run's folder: benchmarks.csv, ceilings.csv, samples.csv.gz, the plots and summary.md, never overwriting."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench.report import analysis
from bench.report import plots as draw
from bench.report.load import ReportError, load_raw
from bench.report.plots import PLOTS
from bench.report.summary import Findings, summary
from bench.report.tables import FIT_GROUP, at_default_size, case_table, ceilings_table, gemm_floors, peaks
from bench.schema import CASE_ID, COLUMNS, SIZE

OUTPUTS = ("benchmarks.csv", "ceilings.csv", "samples.csv.gz", "summary.md", *PLOTS.values())


def samples_table(cases: pd.DataFrame) -> pd.DataFrame:
    """samples.csv.gz: every round's time per call of every raced case (what compare's rank test reads)."""
    timed = cases[cases["samples"].notna()]
    rows = [{**{key: getattr(row, key) for key in CASE_ID}, "round": i, "seconds": float(value)}
            for row in timed.itertuples() for i, value in enumerate(row.samples)]
    return pd.DataFrame(rows, columns=[*CASE_ID, "round", "seconds"])


def build(raw: Path, run_dir: Path, command: str = "") -> None:
    """Write the run's tables, plots and summary.md into ``run_dir`` from ``raw`` (a run's raw/ folder or one JSON)."""
    raw, run_dir = Path(raw), Path(run_dir)
    existing = [name for name in OUTPUTS if (run_dir / name).exists()]
    if existing:
        raise ReportError(f"{run_dir / existing[0]}: already exists; a run never overwrites an earlier run's files")
    document, frames = load_raw(raw)
    peak_table = peaks(frames["peak"])
    floors = gemm_floors(frames["gemm"])
    full = case_table(frames["case"], peak_table, floors, raw, frames["launch"], keep_samples=True)
    fitted = (full.dropna(subset=["fit_fixed_s"]).drop_duplicates(FIT_GROUP)
              .sort_values(FIT_GROUP, ignore_index=True)[[*FIT_GROUP, "fit_fixed_s", "fit_s_per_flop"]])
    findings = Findings(aa=analysis.aa_table(frames["aa"]), parts=analysis.decomposition(full, frames["floor"]),
                        load=analysis.load_table(frames["load"]), fits=fitted, crossovers=analysis.crossovers(full),
                        excluded=pd.DataFrame(document.get("excluded", [])))
    table = full[COLUMNS]
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ReportError(f"{run_dir}: cannot create the run folder ({error.strerror})") from None

    table.to_csv(run_dir / "benchmarks.csv", index=False)
    ceilings_table(peak_table, floors).to_csv(run_dir / "ceilings.csv", index=False)
    samples = samples_table(full)
    if not samples.empty:
        samples.to_csv(run_dir / "samples.csv.gz", index=False)
    # Plots name a case timed unverified (--time-unverified) as such, as the tables do.
    plotted = table.assign(impl=table["impl"].where(table["verified"], table["impl"] + " (unverified)"))
    default = at_default_size(plotted)
    plots = []
    if not default.empty:
        draw.plot_default_size(default, run_dir / PLOTS["default"])
        draw.plot_gflops(default, peak_table, run_dir / PLOTS["gflops"])
        draw.plot_grads_over_forward(default, floors, run_dir / PLOTS["grads_over_forward"])
        plots += [PLOTS["default"], PLOTS["gflops"], PLOTS["grads_over_forward"]]
    if not findings.parts.empty:
        draw.plot_decomposition(findings.parts, run_dir / PLOTS["decomposition"])
        plots.append(PLOTS["decomposition"])
    if len(table[SIZE].drop_duplicates()) > 1:
        draw.plot_sizes(plotted[plotted["timing"] == "latency"], run_dir / PLOTS["sizes"])
        plots.append(PLOTS["sizes"])
        swept = analysis.swept_axes(plotted[plotted["timing"] == "latency"])
        if swept:
            draw.plot_sizes_gflops(swept, run_dir / PLOTS["sizes_gflops"])
            plots.append(PLOTS["sizes_gflops"])
    (run_dir / "summary.md").write_text(
        summary(document, frames, table, peak_table, floors, plots, raw, run_dir, command, findings))
