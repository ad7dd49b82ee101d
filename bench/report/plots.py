"""Plots: PNG files drawn on bare matplotlib Figures (no pyplot, so no global state)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from bench.report.statistics import median_interval
from bench.report.tables import DEFAULT, at_default_size
from bench.sizes import PHASES

PLOTS = {"default": "default_size.png", "sizes": "sizes.png", "gflops": "gflops.png",
         "grads_over_forward": "grads_over_forward.png", "sizes_gflops": "sizes_gflops.png",
         "decomposition": "decomposition.png"}


def panel_title(device: str, dtype: str, mode: str) -> str:
    return f"{device} {dtype}" if mode == "strict" else f"{device} {dtype} ({mode})"


def by_facet(table: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """One facet per device, dtype and mode, in a stable order."""
    return [(panel_title(*key), rows) for key, rows in table.groupby(["device", "dtype", "mode"], sort=True)]


def _figure(rows: int, cols: int = 1, width: float = 10, height: float = 3.6) -> tuple[Figure, np.ndarray]:
    # A bare Figure on the Agg canvas: no pyplot, so no global backend or figure state to leak.
    figure = Figure(figsize=(width, height * rows), layout="constrained")
    FigureCanvasAgg(figure)
    return figure, np.atleast_2d(figure.subplots(rows, cols, squeeze=False))


def impl_order(rows: pd.DataFrame) -> list[str]:
    """Implementations fastest first by their step (or last phase present) median."""
    phase = next(p for p in reversed(PHASES) if (rows["phase"] == p).any())
    return rows[rows["phase"] == phase].sort_values("median_s")["impl"].tolist()


def _grouped_bars(axes, rows: pd.DataFrame, value: str) -> None:
    """Bars of ``value`` per implementation, one bar per phase side by side."""
    impls = impl_order(rows)
    phases = [p for p in PHASES if (rows["phase"] == p).any()]
    width = 0.8 / len(phases)
    for i, phase in enumerate(phases):
        bars = rows[rows["phase"] == phase].set_index("impl").reindex(impls)
        x = np.arange(len(impls)) + (i - (len(phases) - 1) / 2) * width
        axes.bar(x, bars[value], width, label=phase)
    axes.set_xticks(np.arange(len(impls)), impls, rotation=30, ha="right", rotation_mode="anchor")  # clear of each other


#: A panel's linear axis reaches this many times its fastest case; slower ones are drawn at its edge, labelled.
OFF_SCALE = 4.0


def _dots(ax, rows: pd.DataFrame, impls: list[str]) -> None:
    """Each implementation's median (µs) as a dot with its 95% interval, on a linear axis from 0."""
    found = rows.set_index("impl").reindex(impls)
    medians = 1e6 * found["median_s"].to_numpy()
    intervals = 1e6 * np.array([median_interval(samples) for samples in found["samples"]]) if "samples" in found \
        else np.full((len(impls), 2), np.nan)
    shown = medians <= OFF_SCALE * np.nanmin(medians)
    limit = np.nanmax(np.fmax(medians, intervals[:, 1])[shown]) * 1.08
    y = np.arange(len(impls))
    for i, (median, (lo, hi)) in enumerate(zip(medians, intervals)):
        if np.isnan(median):
            continue
        if not shown[i]:  # off the scale: an arrow at the edge with its value
            ax.plot(limit, i, marker=">", color="tab:red")
            ax.annotate(f"{median:,.0f} µs", (limit, i), xytext=(-6, 0), textcoords="offset points",
                        ha="right", va="center", fontsize="small", color="tab:red")
            continue
        error = None if np.isnan(lo) else [[median - lo], [hi - median]]
        ax.errorbar(median, i, xerr=error, fmt="o", color="tab:blue", capsize=3, markersize=5)
    ax.set_xlim(0, limit)
    ax.set_yticks(y, impls)
    ax.invert_yaxis()
    ax.grid(axis="x", alpha=0.3)


def plot_default_size(table: pd.DataFrame, path: Path) -> None:
    """(a) Median per implementation at the default size, one panel per phase: dots with their 95% intervals."""
    facets = by_facet(table)
    phases = [p for p in PHASES if (table["phase"] == p).any()]
    tallest = max(rows["impl"].nunique() for _, rows in facets)
    # Wide enough for the title with one panel a row (the sweep times grads only).
    figure, axes = _figure(len(facets), len(phases), width=max(4.2 * len(phases), 9), height=0.32 * tallest + 1.2)
    for row, (title, rows) in enumerate(facets):
        impls = impl_order(rows)
        for col, phase in enumerate(phases):
            ax = axes[row, col]
            _dots(ax, rows[rows["phase"] == phase], impls)
            ax.set(title=f"{title} {phase}", xlabel="median µs per call")
            if col:
                ax.tick_params(labelleft=False)
    kept = "samples" in table and table["samples"].notna().any()
    figure.suptitle(f"Default size (N={DEFAULT.N}, D_in={DEFAULT.D_in}, H={DEFAULT.H}, D_out={DEFAULT.D_out}): "
                    + ("median with its 95% interval" if kept else "median (this run kept no rounds: no interval)")
                    + "; red arrows: off the scale")
    figure.savefig(path, dpi=110)


def line_styles(impls) -> dict[str, dict]:
    """One look per implementation, the same in every panel: ten colours, then the next marker and dash, so that
    no two of a sweep's dozen or more lines look alike."""
    colours, looks = colormaps["tab10"].colors, [("o", "-"), ("s", "--"), ("^", ":"), ("D", "-.")]
    styles = {}
    for i, impl in enumerate(sorted(set(impls))):
        marker, dash = looks[i // len(colours) % len(looks)]
        styles[impl] = {"color": colours[i % len(colours)], "marker": marker, "linestyle": dash}
    return styles


def plot_sizes(table: pd.DataFrame, path: Path) -> None:
    """(b) log-log median against the phase's FLOPs, one line per implementation."""
    facets = by_facet(table)
    phases = [p for p in PHASES if (table["phase"] == p).any()]
    figure, axes = _figure(len(facets), len(phases), width=4.5 * len(phases), height=3.4)
    styles = line_styles(table["impl"])
    for row, (title, rows) in enumerate(facets):
        for col, phase in enumerate(phases):
            ax = axes[row, col]
            for impl, line in rows[rows["phase"] == phase].sort_values("flops").groupby("impl", sort=True):
                ax.plot(line["flops"], line["median_s"], markersize=3, label=impl, **styles[impl])
            ax.set(title=f"{title} {phase}", xscale="log", yscale="log", xlabel="FLOPs of the phase",
                   ylabel="median (s)")
            for axis in (ax.xaxis, ax.yaxis):  # labelled minor ticks overlap over a narrow log range
                axis.set_minor_formatter(NullFormatter())
    handles, labels = axes[0, 0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 2 * len(phases)),
                  fontsize="small")
    figure.savefig(path, dpi=110)


def plot_gflops(table: pd.DataFrame, peak_table: pd.DataFrame, path: Path) -> None:
    """(c) Achieved GFLOP/s per implementation and phase against the device's measured peak."""
    facets = by_facet(table)
    figure, axes = _figure(len(facets))
    for ax, (title, rows) in zip(axes[:, 0], facets):
        _grouped_bars(ax, rows, "gflops")
        device, dtype = rows.iloc[0][["device", "dtype"]]
        peak = peak_table[(peak_table["device"] == device) & (peak_table["dtype"] == dtype)]
        if not peak.empty:
            best = peak.loc[peak["gflops"].idxmax()]
            ax.axhline(best["gflops"], color="black", linestyle="--",
                       label=f"measured peak {best['gflops']:.0f} GFLOP/s ({best['library']}, n={int(best['n'])})")
        ax.set(title=f"{title}, default size", ylabel="GFLOP/s")
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1))  # outside: the peak line is at the top
    figure.savefig(path, dpi=110)


def plot_grads_over_forward(table: pd.DataFrame, floors: pd.DataFrame, path: Path) -> None:
    """(d) grads median / forward median per implementation, beside the GEMM floor's own ratio."""
    facets = by_facet(table[table["phase"] == "grads"])
    figure, axes = _figure(len(facets), height=3.0)
    for ax, (title, rows) in zip(axes[:, 0], facets):
        rows = rows.sort_values("grads_over_forward")
        bars = ax.bar(rows["impl"], rows["grads_over_forward"])
        for label in ax.bar_label(bars, fmt="%.2f", fontsize="small", padding=2):
            # Over the floor's dashed line, which runs through the labels of bars just below it.
            label.set(bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.3}, zorder=3)
        ax.margins(y=0.15)  # room for the tallest bar's label
        ax.tick_params(axis="x", labelrotation=30)
        for label in ax.get_xticklabels():  # each ends under its bar, clear of its neighbours
            label.set(ha="right", rotation_mode="anchor")
        device, dtype = rows.iloc[0][["device", "dtype"]]
        floor = at_default_size(floors[(floors["device"] == device) & (floors["dtype"] == dtype)]).set_index("phase")
        if {"grads", "forward"} <= set(floor.index):
            # What the ratio would be if each phase ran at its matrix products' speed and nothing else.
            ratio = floor.loc["grads", "floor_s"] / floor.loc["forward", "floor_s"]
            ax.axhline(ratio, color="black", linestyle="--", label=f"GEMM floor's grads/forward {ratio:.2f}")
            ax.legend(fontsize="small")
        ax.set(title=f"{title}, default size", ylabel="grads / forward")
    figure.savefig(path, dpi=110)


def plot_sizes_gflops(axes_rows: dict[str, pd.DataFrame], path: Path) -> None:
    """(e) log-log GFLOP/s against each swept size, one line per implementation, one panel per axis and numerics."""
    panels = [(axis, title, rows) for axis, swept in axes_rows.items() for title, rows in by_facet(swept)]
    figure, axes = _figure(len(panels), height=3.4)
    styles = line_styles(impl for _, _, rows in panels for impl in rows["impl"])
    for ax, (axis, title, rows) in zip(axes[:, 0], panels):
        for impl, line in rows.sort_values(axis).groupby("impl", sort=True):
            ax.plot(line[axis], line["gflops"], markersize=3, label=impl, **styles[impl])
        ax.set(title=f"{title}, {axis} swept", xscale="log", yscale="log", xlabel=axis, ylabel="GFLOP/s")
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1))
    figure.savefig(path, dpi=110)


def _parts(ax, rows: pd.DataFrame) -> None:
    """Horizontal bars from 0: own products, elementwise, the rest; a negative rest as a hatched overlap
    that ends at the median (the parts timed alone add up to more than the whole)."""
    y = np.arange(len(rows))
    products, elementwise = 1e6 * rows["products_s"].to_numpy(), 1e6 * rows["elementwise_s"].to_numpy()
    median, rest = 1e6 * rows["median_s"].to_numpy(), 1e6 * rows["rest_s"].to_numpy()
    ax.barh(y, products, color="tab:blue", label="own library's products")
    ax.barh(y, elementwise, left=products, color="tab:orange", label="elementwise")
    ax.barh(y, rest.clip(min=0), left=products + elementwise, color="tab:green",
            label="rest: dispatch, autograd, allocation")
    overlap = rest < 0
    ax.barh(y[overlap], -rest[overlap], left=median[overlap], color="none", edgecolor="black", hatch="///",
            label="negative rest: parts overlap")
    ax.plot(median, y, "|", color="black", markersize=14, markeredgewidth=2, label="median of the whole")
    ax.axvline(1e6 * rows["fastest_products_s"].min(), color="black", linestyle="--",
               label="fastest library's products")
    ax.set_yticks(y, rows["impl"], fontsize="small")
    ax.invert_yaxis()
    ax.set_xlim(0, None)
    ax.set_xlabel("µs")


def plot_decomposition(parts: pd.DataFrame, path: Path) -> None:
    """(f) Each implementation's median split into its library's products, elementwise work and the rest:
    one row of panels per phase, one column per device and dtype; an implementation over OFF_SCALE × its
    case's fastest (eager jax) is drawn beside, on its own scale."""
    facets = by_facet(parts)
    phases = [p for p in PHASES if (parts["phase"] == p).any()]
    tallest = parts.groupby(["device", "dtype", "mode", "phase"])["impl"].nunique().max()
    figure = Figure(figsize=(8 * len(facets), (0.25 * tallest + 1.2) * len(phases) + 0.6), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(len(phases), 2 * len(facets), squeeze=False,
                           gridspec_kw={"width_ratios": [3, 1] * len(facets)})
    for col, (title, rows) in enumerate(facets):
        for row, phase in enumerate(phases):
            case = rows[rows["phase"] == phase].sort_values("median_s")
            main, beside = axes[row, 2 * col], axes[row, 2 * col + 1]
            if case.empty:
                main.set_visible(False)
                beside.set_visible(False)
                continue
            far = case["median_s"] > OFF_SCALE * case["median_s"].min()
            _parts(main, case[~far])
            main.set_title(f"{title} {phase}")
            if far.any():
                _parts(beside, case[far])
                beside.set_title("on its own scale")
            else:
                beside.set_visible(False)
    handles, labels = [], []
    for ax in axes.flat:  # not every panel has a negative rest: gather each entry once
        for handle, label in zip(*ax.get_legend_handles_labels()):
            if label not in labels:
                handles.append(handle)
                labels.append(label)
    figure.legend(handles, labels, loc="outside lower center", ncols=3, fontsize="small")
    figure.suptitle(f"Where the time goes at the default size (N={DEFAULT.N}, D_in={DEFAULT.D_in}, H={DEFAULT.H}, "
                    f"D_out={DEFAULT.D_out}): each way's median split into the parts timed alone in its race")
    figure.savefig(path, dpi=100)
