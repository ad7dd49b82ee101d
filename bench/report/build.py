"""Building one run's folder: benchmarks.csv, ceilings.csv, the plots and summary.md, never overwriting."""

from __future__ import annotations

from pathlib import Path

from bench.report import plots as draw
from bench.report.load import ReportError, load_raw
from bench.report.plots import PLOTS
from bench.report.summary import summary
from bench.report.tables import at_default_size, case_table, ceilings_table, gemm_floors, peaks
from bench.schema import SIZE

OUTPUTS = ("benchmarks.csv", "ceilings.csv", "summary.md", *PLOTS.values())


def build(raw_json: Path, run_dir: Path, command: str = "") -> None:
    """Write benchmarks.csv, ceilings.csv, the plots and summary.md for one run into ``run_dir``."""
    raw_json, run_dir = Path(raw_json), Path(run_dir)
    existing = [name for name in OUTPUTS if (run_dir / name).exists()]
    if existing:
        raise ReportError(f"{run_dir / existing[0]}: already exists; a run never overwrites an earlier run's files")
    document, frames = load_raw(raw_json)
    peak_table = peaks(frames["peak"])
    floors = gemm_floors(frames["gemm"])
    table = case_table(frames["case"], peak_table, floors, raw_json, frames["launch"])
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ReportError(f"{run_dir}: cannot create the run folder ({error.strerror})") from None

    table.to_csv(run_dir / "benchmarks.csv", index=False)
    ceilings_table(peak_table, floors).to_csv(run_dir / "ceilings.csv", index=False)
    default = at_default_size(table)
    plots = []
    if not default.empty:
        draw.plot_default_size(default, run_dir / PLOTS["default"])
        draw.plot_gflops(default, peak_table, run_dir / PLOTS["gflops"])
        draw.plot_grads_over_forward(default, floors, run_dir / PLOTS["grads_over_forward"])
        plots += [PLOTS["default"], PLOTS["gflops"], PLOTS["grads_over_forward"]]
    if len(table[SIZE].drop_duplicates()) > 1:
        draw.plot_sizes(table[table["timing"] == "latency"], run_dir / PLOTS["sizes"])
        plots.append(PLOTS["sizes"])
    (run_dir / "summary.md").write_text(
        summary(document, frames, table, peak_table, floors, plots, raw_json, run_dir, command))
