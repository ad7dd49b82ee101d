"""Tables, plots and a summary from pytest-benchmark's JSON, and a comparison of two runs.

    python -m bench.report build RAW_JSON RUN_DIR [--command "..."]
    python -m bench.report compare RUN_A RUN_B [--threshold 1.10] [--gate]

``build`` writes benchmarks.csv (one row per case), ceilings.csv (the measured matmul peak and
GEMM floor each case is measured against), a few PNG plots and summary.md into RUN_DIR, and
refuses to overwrite a file an earlier run wrote there. ``compare`` joins two runs' cases and
calls a case slower or faster only when the ratio of medians passes the threshold and the
interquartile ranges do not overlap. Bad input is a one-line ``ReportError``, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from bench.sizes import PHASES, flops, matmuls
from reference.problem import Problem

DEFAULT = Problem()
SIZE = ["N", "D_in", "H", "D_out"]
#: What makes two case rows the same case, in one run and across runs.
CASE_ID = ["impl", "device", "dtype", "precision", *SIZE, "bias", "phase", "timing"]
#: The implementations timed against each other: same device, numerics, size, phase and timing.
RACE = ["device", "dtype", "precision", *SIZE, "bias", "phase", "timing"]
STATS = {"rounds": "rounds", "min": "min_s", "median": "median_s", "q1": "q1_s", "q3": "q3_s",
         "iqr": "iqr_s", "mean": "mean_s", "stddev": "stddev_s"}
COLUMNS = ["impl", "framework", "device", "dtype", "precision", *SIZE, "bias", "phase", "timing", "calls_per_round",
           "threads", "sync", *STATS.values(), "first_call_s", "flops", "gflops", "pct_peak", "gemm_floor_s",
           "ratio_to_floor", "ratio_to_fastest", "grads_over_forward", "noise", "noisy", "device_time_s",
           "peak_memory_bytes", "kernels_per_call", "launch_floor_s"]
#: extra_info keys each kind of benchmark must have; the report cannot place a row without them.
REQUIRED = {
    "case": ("impl", "framework", "device", "dtype", *SIZE, "bias", "phase"),
    "gemm": ("library", "device", "dtype", *SIZE, "product"),
    "peak": ("library", "device", "dtype", "n", "flops"),
    "aa": ("repeat", "impl", "device", "dtype", "phase"),
    "overhead": (),
    "launch": ("library", "device", "calls_per_round"),
}
#: Optional extra_info keys: older runs lack them, the CSV keeps the column empty.
OPTIONAL = {"case": ("threads", "sync", "first_call_s", "precision", "timing", "calls_per_round", "device_time_s",
                     "peak_memory_bytes", "kernels_per_call")}
#: Stats that are times, divided by calls_per_round where a round queues several calls.
TIMES = ["min_s", "median_s", "q1_s", "q3_s", "iqr_s", "mean_s", "stddev_s"]

NOISY = 0.10  # IQR/median above which a median is flagged as unreliable
FLOOR_MISS = 1.3  # a compiled or hand-written grads phase should stay within this of the GEMM floor
FLOOR_BEST = 1.1  # ... and the best of them within this
PLOTS = {"default": "default_size.png", "sizes": "sizes.png", "gflops": "gflops.png",
         "grads_over_forward": "grads_over_forward.png"}
OUTPUTS = ("benchmarks.csv", "ceilings.csv", "summary.md", *PLOTS.values())


class ReportError(ValueError):
    """Bad input to the report: the message is one line naming the path and the problem."""


# --- reading ----------------------------------------------------------------------------------

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

    rows: dict[str, list[dict[str, Any]]] = {kind: [] for kind in REQUIRED}
    for bench in document["benchmarks"]:
        info, stats = bench.get("extra_info") or {}, bench.get("stats") or {}
        kind = info.get("kind")
        if kind not in REQUIRED:
            continue  # not one of this project's benchmarks; counted in the summary
        missing = [key for key in REQUIRED[kind] if key not in info] + [key for key in STATS if key not in stats]
        if missing:
            raise ReportError(f"{raw_json}: {kind} benchmark {bench.get('name')!r} lacks {', '.join(missing)}")
        row = {**info, **{new: stats[old] for old, new in STATS.items()}}
        # Throughput timing queues several calls per round: every figure is per call.
        for key in TIMES:
            row[key] /= info.get("calls_per_round") or 1
        rows[kind].append(row)

    frames = {kind: pd.DataFrame(found, columns=None if found else [*REQUIRED[kind], *STATS.values()])
              for kind, found in rows.items()}
    for kind, keys in OPTIONAL.items():
        frames[kind] = frames[kind].reindex(columns=frames[kind].columns.union(keys, sort=False))
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
    # compare joins on these; a CSV from an older report or another tool may lack some.
    missing = [column for column in [*CASE_ID, "median_s", "q1_s", "q3_s"] if column not in table]
    if missing:
        raise ReportError(f"{csv}: lacks column(s) {', '.join(missing)}; was it written by this report's 'build'?")
    return table


# --- tables -----------------------------------------------------------------------------------

def peaks(peak: pd.DataFrame) -> pd.DataFrame:
    """The measured matmul peak of every device, dtype and library."""
    table = peak[["device", "dtype", "library", "n", "flops", "median_s"]].copy()
    table["gflops"] = table["flops"] / table["median_s"] / 1e9
    return table.sort_values(["device", "dtype", "library"], ignore_index=True)


def gemm_floors(gemm: pd.DataFrame) -> pd.DataFrame:
    """Per device, dtype, size and phase: the sum over the phase's products of the fastest library's median.

    A phase whose products were not all timed has no floor (it is left out, so cases get NaN).
    """
    columns = ["device", "dtype", *SIZE, "phase", "floor_s", "floor_gflops", "winners"]
    if gemm.empty:
        return pd.DataFrame(columns=columns)
    fastest = gemm.loc[gemm.groupby(["device", "dtype", *SIZE, "product"])["median_s"].idxmin()]
    rows = []
    for (device, dtype, *size), products in fastest.groupby(["device", "dtype", *SIZE]):
        best = products.set_index("product")
        problem = Problem(*map(int, size))
        for phase in PHASES:
            names = [name for name, *_ in matmuls(problem, phase)]
            if not best.index.isin(names).sum() == len(names):
                continue
            floor = best.loc[names, "median_s"].sum()
            rows.append({"device": device, "dtype": dtype, **dict(zip(SIZE, size)), "phase": phase,
                         "floor_s": floor, "floor_gflops": flops(problem, phase) / floor / 1e9,
                         "winners": ", ".join(f"{name}={best.loc[name, 'library']}" for name in names)})
    return pd.DataFrame(rows, columns=columns)


def ceilings_table(peak_table: pd.DataFrame, floors: pd.DataFrame) -> pd.DataFrame:
    """ceilings.csv: peak rows (per library) above GEMM-floor rows (per size and phase)."""
    peak_rows = peak_table.drop(columns="flops").assign(ceiling="peak")
    floor_rows = floors.rename(columns={"floor_gflops": "gflops"}).assign(ceiling="gemm_floor")
    columns = ["ceiling", "device", "dtype", "library", "n", *SIZE, "phase", "median_s", "floor_s", "gflops",
               "winners"]
    table = pd.concat([peak_rows, floor_rows], ignore_index=True).reindex(columns=columns)
    return table.astype({key: "Int64" for key in ("n", *SIZE)})


def launch_cost(launch: pd.DataFrame, devices: pd.Series) -> pd.Series:
    """The measured cost of one kernel launch on each row's device (NaN where not measured)."""
    per_device = launch.groupby("device")["median_s"].min() if not launch.empty else pd.Series(dtype=float)
    return devices.map(per_device).astype(float)


def case_table(case: pd.DataFrame, peak_table: pd.DataFrame, floors: pd.DataFrame, raw_json: Path,
               launch: pd.DataFrame | None = None) -> pd.DataFrame:
    """benchmarks.csv: one row per case with its derived measures (see the module's COLUMNS)."""
    cases = case.copy()
    cases["precision"] = cases["precision"].astype(object).fillna("strict")
    cases["timing"] = cases["timing"].astype(object).fillna("latency")
    cases["calls_per_round"] = cases["calls_per_round"].fillna(1).astype(int)
    cases["threads"] = cases["threads"].astype("Int64")
    duplicated = cases.duplicated(CASE_ID)
    if duplicated.any():
        first = cases.loc[duplicated, CASE_ID].iloc[0].to_dict()
        raise ReportError(f"{raw_json}: case {first} appears more than once")
    # FLOPs come from bench.sizes, the one definition the GEMM floor also uses.
    cases["flops"] = [flops(Problem(*map(int, size)), phase)
                      for *size, phase in cases[[*SIZE, "phase"]].itertuples(index=False)]
    cases["gflops"] = cases["flops"] / cases["median_s"] / 1e9

    best_peak = peak_table.groupby(["device", "dtype"], as_index=False)["gflops"].max()
    cases = cases.merge(best_peak.rename(columns={"gflops": "peak_gflops"}), on=["device", "dtype"], how="left")
    cases["pct_peak"] = 100 * cases["gflops"] / cases["peak_gflops"]

    cases = cases.merge(floors[["device", "dtype", *SIZE, "phase", "floor_s"]], on=["device", "dtype", *SIZE, "phase"],
                        how="left").rename(columns={"floor_s": "gemm_floor_s"})
    cases["ratio_to_floor"] = cases["median_s"] / cases["gemm_floor_s"]
    cases["ratio_to_fastest"] = cases["median_s"] / cases.groupby(RACE, dropna=False)["median_s"].transform("min")

    # Each row gets its implementation's grads and forward medians at the same device, numerics and size.
    same_impl = cases.groupby([key for key in CASE_ID if key != "phase"], dropna=False)
    phase_median = {phase: same_impl["median_s"].transform(lambda m, p=phase: m[cases.loc[m.index, "phase"] == p].max())
                    for phase in ("grads", "forward")}
    cases["grads_over_forward"] = phase_median["grads"] / phase_median["forward"]
    cases["launch_floor_s"] = cases["kernels_per_call"] * launch_cost(launch, cases["device"])
    cases["noise"] = cases["iqr_s"] / cases["median_s"]
    cases["noisy"] = cases["noise"] > NOISY

    phase_order = cases["phase"].map({phase: i for i, phase in enumerate(PHASES)})
    order = ["device", "dtype", "precision", *SIZE, "bias", "impl"]
    return cases.assign(_phase=phase_order).sort_values([*order, "_phase"], ignore_index=True)[COLUMNS]


def at_default_size(table: pd.DataFrame) -> pd.DataFrame:
    """The rows at the tutorial's size (N=64, D_in=1000, H=100, D_out=10, no bias), latency timing."""
    mask = np.logical_and.reduce([table[key] == getattr(DEFAULT, key) for key in SIZE])
    if "bias" in table:
        mask &= table["bias"] == DEFAULT.bias
    if "timing" in table:
        mask &= table["timing"] == "latency"
    return table[mask]


# --- plots ------------------------------------------------------------------------------------

def _panel(device: str, dtype: str, precision: str) -> str:
    return f"{device} {dtype}" if precision in (dtype, "strict") else f"{device} {dtype} ({precision})"


def _panels(table: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """One facet per device, dtype and precision, in a stable order."""
    return [(_panel(*key), rows) for key, rows in table.groupby(["device", "dtype", "precision"], sort=True)]


def _figure(rows: int, cols: int = 1, width: float = 10, height: float = 3.6) -> tuple[Figure, np.ndarray]:
    # A bare Figure on the Agg canvas: no pyplot, so no global backend or figure state to leak.
    figure = Figure(figsize=(width, height * rows), layout="constrained")
    FigureCanvasAgg(figure)
    return figure, np.atleast_2d(figure.subplots(rows, cols, squeeze=False))


def _impl_order(rows: pd.DataFrame) -> list[str]:
    """Implementations fastest first by their step (or last phase present) median."""
    phase = next(p for p in reversed(PHASES) if (rows["phase"] == p).any())
    return rows[rows["phase"] == phase].sort_values("median_s")["impl"].tolist()


def _grouped_bars(axes, rows: pd.DataFrame, value: str, errors: bool = False) -> None:
    """Bars of ``value`` per implementation, one bar per phase side by side."""
    impls = _impl_order(rows)
    phases = [p for p in PHASES if (rows["phase"] == p).any()]
    width = 0.8 / len(phases)
    for i, phase in enumerate(phases):
        bars = rows[rows["phase"] == phase].set_index("impl").reindex(impls)
        x = np.arange(len(impls)) + (i - (len(phases) - 1) / 2) * width
        yerr = None
        if errors:  # asymmetric whiskers from the first to the third quartile, in µs like the bars
            yerr = 1e6 * np.vstack([bars["median_s"] - bars["q1_s"], bars["q3_s"] - bars["median_s"]])
        axes.bar(x, bars[value], width, yerr=yerr, capsize=2, label=phase)
    axes.set_xticks(np.arange(len(impls)), impls, rotation=20, ha="right")


def plot_default_size(table: pd.DataFrame, path: Path) -> None:
    """(a) Median per implementation and phase at the default size, whiskers at the quartiles."""
    panels = _panels(table.assign(median_us=1e6 * table["median_s"]))
    figure, axes = _figure(len(panels))
    for ax, (title, rows) in zip(axes[:, 0], panels):
        _grouped_bars(ax, rows, "median_us", errors=True)
        ax.set(title=f"{title}, N={DEFAULT.N} D_in={DEFAULT.D_in} H={DEFAULT.H} D_out={DEFAULT.D_out}",
               ylabel="median (µs, log scale)", yscale="log")
        ax.legend(fontsize="small")
    figure.savefig(path, dpi=110)


def plot_sizes(table: pd.DataFrame, path: Path) -> None:
    """(b) log-log median against the phase's FLOPs, one line per implementation."""
    panels = _panels(table)
    phases = [p for p in PHASES if (table["phase"] == p).any()]
    figure, axes = _figure(len(panels), len(phases), width=4.5 * len(phases), height=3.4)
    for row, (title, rows) in enumerate(panels):
        for col, phase in enumerate(phases):
            ax = axes[row, col]
            for impl, line in rows[rows["phase"] == phase].sort_values("flops").groupby("impl", sort=True):
                ax.plot(line["flops"], line["median_s"], marker="o", markersize=3, label=impl)
            ax.set(title=f"{title} {phase}", xscale="log", yscale="log", xlabel="FLOPs of the phase",
                   ylabel="median (s)")
            for axis in (ax.xaxis, ax.yaxis):  # labelled minor ticks overlap over a narrow log range
                axis.set_minor_formatter(NullFormatter())
    handles, labels = axes[0, 0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 4), fontsize="small")
    figure.savefig(path, dpi=110)


def plot_gflops(table: pd.DataFrame, peak_table: pd.DataFrame, path: Path) -> None:
    """(c) Achieved GFLOP/s per implementation and phase against the device's measured peak."""
    panels = _panels(table)
    figure, axes = _figure(len(panels))
    for ax, (title, rows) in zip(axes[:, 0], panels):
        _grouped_bars(ax, rows, "gflops")
        device, dtype = rows.iloc[0][["device", "dtype"]]
        peak = peak_table[(peak_table["device"] == device) & (peak_table["dtype"] == dtype)]
        if not peak.empty:
            best = peak.loc[peak["gflops"].idxmax()]
            ax.axhline(best["gflops"], color="black", linestyle="--",
                       label=f"measured peak {best['gflops']:.0f} GFLOP/s ({best['library']}, n={best['n']})")
        ax.set(title=f"{title}, default size", ylabel="GFLOP/s (log scale)", yscale="log")
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1))  # outside: the peak line is at the top
    figure.savefig(path, dpi=110)


def plot_grads_over_forward(table: pd.DataFrame, floors: pd.DataFrame, path: Path) -> None:
    """(d) grads median / forward median per implementation, beside the GEMM floor's own ratio."""
    panels = _panels(table[table["phase"] == "grads"])
    figure, axes = _figure(len(panels), height=3.0)
    for ax, (title, rows) in zip(axes[:, 0], panels):
        rows = rows.sort_values("grads_over_forward")
        ax.bar(rows["impl"], rows["grads_over_forward"])
        ax.tick_params(axis="x", labelrotation=20)
        device, dtype = rows.iloc[0][["device", "dtype"]]
        floor = at_default_size(floors[(floors["device"] == device) & (floors["dtype"] == dtype)]).set_index("phase")
        if {"grads", "forward"} <= set(floor.index):
            # What the ratio would be if each phase ran at its matrix products' speed and nothing else.
            ratio = floor.loc["grads", "floor_s"] / floor.loc["forward", "floor_s"]
            ax.axhline(ratio, color="black", linestyle="--", label=f"GEMM floor's grads/forward {ratio:.2f}")
            ax.legend(fontsize="small")
        ax.set(title=f"{title}, default size", ylabel="grads / forward")
    figure.savefig(path, dpi=110)


# --- summary ----------------------------------------------------------------------------------

def _markdown(frame: pd.DataFrame, left: int) -> str:
    """A GitHub markdown table: the first ``left`` (label) columns left-aligned, the figures right-aligned."""
    align = ["---" if i < left else "---:" for i in range(len(frame.columns))]
    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def _number(value: float, spec: str) -> str:
    return "–" if pd.isna(value) else format(value, spec)


def machine_facts(machine: dict[str, Any]) -> list[str]:
    """Bullet lines for the facts of machine.json a reader needs first: CPU, GPU, versions, threads."""
    lines = []
    cpu = ", ".join(str(machine[k]) + suffix for k, suffix in (("cpu", ""), ("cores", " cores"),
                                                              ("memory_gib", " GiB")) if machine.get(k))
    if cpu:
        lines.append(f"CPU: {cpu}")
    if machine.get("gpu"):
        lines.append("GPU: " + ", ".join(f"{v}" for v in machine["gpu"].values()))
    versions = [f"python {machine['python']}"] if machine.get("python") else []
    for name, info in (machine.get("frameworks") or {}).items():
        blas = f" ({info['blas']})" if info.get("blas") else ""
        versions.append(f"{name} {info.get('version', '?')}{blas}")
    if versions:
        lines.append("Versions: " + ", ".join(versions))
    threads = {k: v for k, v in (machine.get("threads") or {}).items() if v}
    if threads:
        lines.append("Threads: " + ", ".join(f"{k}={v}" for k, v in threads.items()))
    if machine.get("os"):
        lines.append(f"OS: {machine['os']}")
    if machine.get("git"):
        lines.append(f"Commit: {machine['git'].get('commit', '?')}" + (" (dirty)" if machine["git"].get("dirty") else ""))
    return [f"- {line}" for line in lines]


def default_size_table(rows: pd.DataFrame) -> str:
    """The per-case table of one device and dtype at the default size."""
    rows = rows.assign(_order=rows["impl"].map({impl: i for i, impl in enumerate(_impl_order(rows))}),
                       _phase=rows["phase"].map({p: i for i, p in enumerate(PHASES)}))
    rows = rows.sort_values(["_order", "_phase"])
    table = pd.DataFrame({
        "impl": rows["impl"], "phase": rows["phase"],
        "median µs": [_number(v * 1e6, ",.1f") for v in rows["median_s"]],
        "IQR/median": [_number(100 * v, ".1f") + "%" + (" **noisy**" if noisy else "")
                       for v, noisy in zip(rows["noise"], rows["noisy"])],
        "first call ms": [_number(v * 1e3, ",.2f") for v in rows["first_call_s"]],
        "GFLOP/s": [_number(v, ".1f") for v in rows["gflops"]],
        "% peak": [_number(v, ".1f") for v in rows["pct_peak"]],
        "× GEMM floor": [_number(v, ".2f") for v in rows["ratio_to_floor"]],
        "× fastest": [_number(v, ".2f") for v in rows["ratio_to_fastest"]],
        # One value per implementation: shown once, on its grads row.
        "grads/forward": [_number(v, ".2f") if phase == "grads" else ""
                          for v, phase in zip(rows["grads_over_forward"], rows["phase"])],
    })
    return _markdown(table, left=2)


def timing_statements(table: pd.DataFrame) -> list[str]:
    """At the default size: each call synchronized against calls queued, and the CUDA launch floor."""
    rows = table[np.logical_and.reduce([table[key] == getattr(DEFAULT, key) for key in SIZE])]
    queued = rows[rows["timing"] == "throughput"]
    if queued.empty and rows["device_time_s"].isna().all():
        return ["Only latency timing in this run (throughput timing applies where calls are asynchronous: "
                "jax, and torch on cuda)."]
    key = [k for k in CASE_ID if k != "timing"]
    latency = rows[rows["timing"] == "latency"][[*key, "median_s", "device_time_s", "kernels_per_call",
                                                   "launch_floor_s"]]
    paired = queued.merge(latency, on=key, how="left", suffixes=("", "_latency")).set_index(key)
    frame = pd.DataFrame({
        "impl": paired.index.get_level_values("impl"),
        "case": [f"{_panel(d, t, p)} {ph}" for d, t, p, ph in zip(*(paired.index.get_level_values(k) for k in
                                                                   ("device", "dtype", "precision", "phase")))],
        "latency µs": [_number(v * 1e6, ",.1f") for v in paired["median_s_latency"]],
        "throughput µs/call": [_number(v * 1e6, ",.1f") for v in paired["median_s"]],
        "device µs": [_number(v * 1e6, ",.1f") for v in paired["device_time_s_latency"]],
        "kernels": [_number(v, ".0f") for v in paired["kernels_per_call_latency"]],
        "launch floor µs": [_number(v * 1e6, ",.1f") for v in paired["launch_floor_s_latency"]],
    })
    return ["Latency: each call synchronized; throughput: calls queued and synchronized once per round, time "
            "per call; device: CUDA-event time; launch floor: kernels per call × the measured cost of one "
            "launch.", "", _markdown(frame, left=2)]


def overhead_statement(overhead: pd.DataFrame, default: pd.DataFrame) -> str:
    if overhead.empty:
        return "Harness overhead: not measured in this run."
    cost = overhead["median_s"].median()
    steps = default[default["phase"] == "step"]
    if steps.empty:
        return f"Harness overhead (median of an empty callable): {cost * 1e9:.0f} ns; no default-size step to compare."
    fastest = steps.loc[steps["median_s"].idxmin()]
    return (f"Harness overhead (median of an empty callable): {cost * 1e9:.0f} ns, "
            f"{100 * cost / fastest['median_s']:.3f}% of the fastest default-size step "
            f"({fastest['impl']}, {_panel(fastest['device'], fastest['dtype'], fastest['precision'])}, "
            f"{fastest['median_s'] * 1e6:.1f} µs).")


def aa_statement(aa: pd.DataFrame) -> str:
    medians = aa.set_index("repeat")["median_s"]
    if not {"A1", "A2"} <= set(medians.index):
        return "A/A: not measured in this run."
    first = aa.iloc[0]
    a1, a2 = medians["A1"], medians["A2"]
    return (f"A/A: {first['impl']} {first['phase']} on {first['device']} {first['dtype']} timed twice: "
            f"{a1 * 1e6:.1f} µs and {a2 * 1e6:.1f} µs, a difference of {100 * abs(a1 - a2) / ((a1 + a2) / 2):.2f}% "
            "of their mean: differences between cases smaller than this are within what timing one case twice gives.")


def floor_statements(default: pd.DataFrame) -> list[str]:
    """Which non-eager implementations' grads phase miss FLOOR_MISS × the GEMM floor on cpu, per dtype."""
    grads = default[(default["device"] == "cpu") & (default["phase"] == "grads")
                    & ~default["impl"].str.contains("eager")]
    lines = []
    for (dtype, precision), rows in grads.groupby(["dtype", "precision"]):
        where = _panel("cpu", dtype, precision)
        if rows["ratio_to_floor"].isna().all():
            lines.append(f"- {where}: GEMM floor not measured; no comparison.")
            continue
        missing = rows[rows["ratio_to_floor"] > FLOOR_MISS].sort_values("ratio_to_floor")
        best = rows.loc[rows["ratio_to_floor"].idxmin()]
        missed = (", ".join(f"{r.impl} ({r.ratio_to_floor:.2f}×)" for r in missing.itertuples())
                  if not missing.empty else "none")
        within = "is" if best["ratio_to_floor"] <= FLOOR_BEST else "is not"
        lines.append(f"- {where}: grads above {FLOOR_MISS}× the GEMM floor "
                     f"({rows['gemm_floor_s'].iloc[0] * 1e6:.1f} µs): {missed}. The best, {best['impl']} at "
                     f"{best['ratio_to_floor']:.2f}×, {within} within {FLOOR_BEST}×.")
    return lines or ["- no non-eager grads case on cpu at the default size."]


def summary(document: dict[str, Any], frames: dict[str, pd.DataFrame], table: pd.DataFrame,
            peak_table: pd.DataFrame, floors: pd.DataFrame, plots: list[str], raw_json: Path, run_dir: Path,
            command: str) -> str:
    """summary.md: what a person reads first; every statement in it is computed from the tables."""
    try:
        raw_link = raw_json.resolve().relative_to(run_dir.resolve()).as_posix()
    except ValueError:
        raw_link = str(raw_json)
    lines = [f"# Benchmark run {run_dir.name}", ""]
    if command:
        lines.append(f"Command: `{command}`  ")
    commit = document.get("commit_info") or {}
    lines += [f"Raw data: [{raw_link}]({raw_link}), pytest-benchmark {document.get('version', '?')}, "
              f"{document.get('datetime', 'no date')}" + (f", commit {commit['id'][:12]}" if commit.get("id") else "")
              + (" (dirty)" if commit.get("dirty") else "") + ".", ""]

    machine_json = run_dir / "machine.json"
    if machine_json.is_file():
        try:
            facts = machine_facts(json.loads(machine_json.read_text()))
        except (json.JSONDecodeError, AttributeError) as error:
            facts = [f"- machine.json could not be read ({error})"]
        lines += ["## Machine", "", *facts, ""]

    default = at_default_size(table)
    lines += ["## Default size",
              "",
              f"N={DEFAULT.N}, D_in={DEFAULT.D_in}, H={DEFAULT.H}, D_out={DEFAULT.D_out}, no bias. Medians over "
              f"rounds; IQR/median above {100 * NOISY:.0f}% is flagged noisy. × GEMM floor: median over the sum of "
              "the fastest library's time for each matrix product of the phase; × fastest: over the fastest "
              "implementation of the same case; grads/forward: the implementation's grads median over its "
              "forward median (ADBench's measure). % peak: of the best library's large-matmul GFLOP/s.", ""]
    if default.empty:
        lines += ["No case at the default size in this run.", ""]
    for title, rows in _panels(default):
        lines += [f"### {title}", "", default_size_table(rows), ""]
    for key, caption in (("default", "Median time at the default size (whiskers: quartiles)"),
                         ("gflops", "Achieved GFLOP/s against the measured peak"),
                         ("grads_over_forward", "grads / forward per implementation")):
        if PLOTS[key] in plots:
            lines += [f"![{caption}]({PLOTS[key]})", ""]

    lines += ["## Sizes", ""]
    sizes = table[SIZE].drop_duplicates()
    if PLOTS["sizes"] in plots:
        lines += [f"{len(sizes)} sizes; benchmarks.csv has every row.", "",
                  f"![Median time against FLOPs]({PLOTS['sizes']})", ""]
    else:
        lines += ["This run has one size only, so there is no plot of time against size.", ""]

    lines += ["## Latency, throughput and launches", "", *timing_statements(table), ""]

    lines += ["## Checks", "", f"- {overhead_statement(frames['overhead'], default)}", f"- {aa_statement(frames['aa'])}",
              "", "Non-eager implementations on cpu at the default size, grads phase against the GEMM floor:", "",
              *floor_statements(default), ""]

    noisy = table[table["noisy"]].sort_values("noise", ascending=False)
    lines += ["## Noisy cases", ""]
    if noisy.empty:
        lines.append(f"No case has IQR/median above {100 * NOISY:.0f}%.")
    else:
        lines.append(f"{len(noisy)} case(s) with IQR/median above {100 * NOISY:.0f}%; compare their medians with care:")
        lines += ["", *(f"- {r.impl} {r.phase} ({r.timing}) {_panel(r.device, r.dtype, r.precision)} N={r.N} "
                        f"D_in={r.D_in} H={r.H} D_out={r.D_out}: {100 * r.noise:.1f}%" for r in noisy.itertuples())]
    lines.append("")

    lines += ["## Ceilings", ""]
    if peak_table.empty:
        lines.append("No matmul peak measured in this run.")
    else:
        peak_rows = peak_table.assign(gflops=[f"{v:.1f}" for v in peak_table["gflops"]],
                                      median_ms=[f"{v * 1e3:.2f}" for v in peak_table["median_s"]])
        lines.append(_markdown(peak_rows[["device", "dtype", "library", "n", "median_ms", "gflops"]], left=3))
    floor_rows = at_default_size(floors)
    if not floor_rows.empty:
        floor_rows = floor_rows.assign(floor_us=[f"{v * 1e6:.1f}" for v in floor_rows["floor_s"]])
        lines += ["", "GEMM floor at the default size:", "",
                  _markdown(floor_rows[["device", "dtype", "phase", "floor_us", "winners"]], left=3)]
    ignored = len(document["benchmarks"]) - sum(len(frame) for frame in frames.values())
    if ignored:
        lines += ["", f"{ignored} benchmark(s) in the raw JSON have no known extra_info kind and were left out."]
    return "\n".join(lines) + "\n"


# --- build and compare --------------------------------------------------------------------------

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
        plot_default_size(default, run_dir / PLOTS["default"])
        plot_gflops(default, peak_table, run_dir / PLOTS["gflops"])
        plot_grads_over_forward(default, floors, run_dir / PLOTS["grads_over_forward"])
        plots += [PLOTS["default"], PLOTS["gflops"], PLOTS["grads_over_forward"]]
    if len(table[SIZE].drop_duplicates()) > 1:
        plot_sizes(table[table["timing"] == "latency"], run_dir / PLOTS["sizes"])
        plots.append(PLOTS["sizes"])
    (run_dir / "summary.md").write_text(
        summary(document, frames, table, peak_table, floors, plots, raw_json, run_dir, command))


def compare(run_a: Path, run_b: Path, threshold: float = 1.10) -> pd.DataFrame:
    """One row per case in both runs: median_a, median_b, ratio (b/a) and a verdict.

    'slower' needs both ratio > threshold and B's first quartile above A's third (the IQRs do
    not overlap); 'faster' the mirror image; anything else is 'same'. ``attrs`` holds how many
    cases only one of the runs has.
    """
    if not threshold >= 1:
        raise ReportError(f"threshold {threshold}: must be at least 1 (a ratio of medians, b/a)")
    a, b = read_run(Path(run_a)), read_run(Path(run_b))
    joined = a.merge(b, on=CASE_ID, how="outer", suffixes=("_a", "_b"), indicator=True)
    both = joined[joined["_merge"] == "both"]
    if both.empty:
        raise ReportError(f"{run_b}: no case in common with {run_a}")
    ratio = both["median_s_b"] / both["median_s_a"]
    slower = (ratio > threshold) & (both["q1_s_b"] > both["q3_s_a"])
    faster = (ratio < 1 / threshold) & (both["q3_s_b"] < both["q1_s_a"])
    result = pd.DataFrame({**{key: both[key] for key in CASE_ID}, "median_a": both["median_s_a"],
                           "median_b": both["median_s_b"], "ratio": ratio,
                           "verdict": np.select([slower, faster], ["slower", "faster"], "same")}).reset_index(drop=True)
    result.attrs["only_a"] = int((joined["_merge"] == "left_only").sum())
    result.attrs["only_b"] = int((joined["_merge"] == "right_only").sum())
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.report", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="action", required=True)
    build_parser = commands.add_parser("build", help="tables, plots and summary.md of one run")
    build_parser.add_argument("raw_json", type=Path, help="pytest-benchmark's --benchmark-json output")
    build_parser.add_argument("run_dir", type=Path, help="the run's folder (created if missing)")
    build_parser.add_argument("--command", default="", help="the command that produced the run, for the summary")
    compare_parser = commands.add_parser("compare", help="the cases of two runs side by side")
    compare_parser.add_argument("run_a", type=Path)
    compare_parser.add_argument("run_b", type=Path)
    compare_parser.add_argument("--threshold", type=float, default=1.10, help="ratio b/a that counts (default 1.10)")
    compare_parser.add_argument("--gate", action="store_true", help="exit 1 if any case is slower in run_b")
    args = parser.parse_args(argv)

    try:
        if args.action == "build":
            build(args.raw_json, args.run_dir, command=args.command)
            print(f"wrote {args.run_dir / 'summary.md'}")
            return 0
        result = compare(args.run_a, args.run_b, args.threshold)
    except ReportError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    with pd.option_context("display.width", 200, "display.max_rows", None, "display.max_columns", None):
        print(result.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    counts = result["verdict"].value_counts()
    print(f"{counts.get('slower', 0)} slower, {counts.get('faster', 0)} faster, {counts.get('same', 0)} same "
          f"(threshold {args.threshold}× and non-overlapping IQRs); "
          f"{result.attrs['only_a']} case(s) only in {args.run_a}, {result.attrs['only_b']} only in {args.run_b}")
    return 1 if args.gate and (result["verdict"] == "slower").any() else 0


if __name__ == "__main__":
    sys.exit(main())
