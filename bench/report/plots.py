"""Plots: PNG files drawn on bare matplotlib Figures (no pyplot, so no global state)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

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


def _grouped_bars(axes, rows: pd.DataFrame, value: str, errors: bool = False) -> None:
    """Bars of ``value`` per implementation, one bar per phase side by side."""
    impls = impl_order(rows)
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
    facets = by_facet(table.assign(median_us=1e6 * table["median_s"]))
    figure, axes = _figure(len(facets))
    for ax, (title, rows) in zip(axes[:, 0], facets):
        _grouped_bars(ax, rows, "median_us", errors=True)
        ax.set(title=f"{title}, N={DEFAULT.N} D_in={DEFAULT.D_in} H={DEFAULT.H} D_out={DEFAULT.D_out}",
               ylabel="median (µs, log scale)", yscale="log")
        ax.legend(fontsize="small")
    figure.savefig(path, dpi=110)


def plot_sizes(table: pd.DataFrame, path: Path) -> None:
    """(b) log-log median against the phase's FLOPs, one line per implementation."""
    facets = by_facet(table)
    phases = [p for p in PHASES if (table["phase"] == p).any()]
    figure, axes = _figure(len(facets), len(phases), width=4.5 * len(phases), height=3.4)
    for row, (title, rows) in enumerate(facets):
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
    facets = by_facet(table)
    figure, axes = _figure(len(facets))
    for ax, (title, rows) in zip(axes[:, 0], facets):
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
    facets = by_facet(table[table["phase"] == "grads"])
    figure, axes = _figure(len(facets), height=3.0)
    for ax, (title, rows) in zip(axes[:, 0], facets):
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


def plot_sizes_gflops(axes_rows: dict[str, pd.DataFrame], path: Path) -> None:
    """(e) log-log GFLOP/s against each swept size, one line per implementation, one panel per axis and numerics."""
    panels = [(axis, title, rows) for axis, swept in axes_rows.items() for title, rows in by_facet(swept)]
    figure, axes = _figure(len(panels), height=3.4)
    for ax, (axis, title, rows) in zip(axes[:, 0], panels):
        for impl, line in rows.sort_values(axis).groupby("impl", sort=True):
            ax.plot(line[axis], line["gflops"], marker="o", markersize=3, label=impl)
        ax.set(title=f"{title}, {axis} swept", xscale="log", yscale="log", xlabel=axis, ylabel="GFLOP/s")
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1))
    figure.savefig(path, dpi=110)


def plot_decomposition(parts: pd.DataFrame, path: Path) -> None:
    """(f) Stacked bars: each implementation's own library's products, its elementwise work, and the rest."""
    facets = [(f"{panel_title(*key[:3])} {key[3]}", rows)
              for key, rows in parts.groupby(["device", "dtype", "mode", "phase"], sort=True)]
    figure, axes = _figure(len(facets), height=3.2)
    for ax, (title, rows) in zip(axes[:, 0], facets):
        rows = rows.sort_values("median_s")
        bottom = np.zeros(len(rows))
        for column, label in (("products_s", "own library's products"), ("elementwise_s", "elementwise"),
                              ("rest_s", "dispatch, autograd, allocation")):
            values = 1e6 * rows[column].clip(lower=0).to_numpy()
            ax.bar(rows["impl"], values, bottom=bottom, label=label)
            bottom += values
        ax.axhline(1e6 * rows["fastest_products_s"].min(), color="black", linestyle="--",
                   label="fastest library's products")
        ax.tick_params(axis="x", labelrotation=20)
        ax.set(title=f"{title}, default size", ylabel="µs")
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1))
    figure.savefig(path, dpi=110)
