"""summary.md: what a person reads first; every statement in it is computed from the tables."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.report.plots import PLOTS, by_facet, impl_order, panel_title
from bench.report.tables import DEFAULT, NOISY, at_default_size
from bench.schema import CASE_ID, SIZE
from bench.sizes import PHASES

FLOOR_MISS = 1.3  # a compiled or hand-written grads phase should stay within this of the GEMM floor
FLOOR_BEST = 1.1  # ... and the best of them within this


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
    rows = rows.assign(_order=rows["impl"].map({impl: i for i, impl in enumerate(impl_order(rows))}),
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
        "case": [f"{panel_title(d, t, p)} {ph}" for d, t, p, ph in zip(*(paired.index.get_level_values(k) for k in
                                                                   ("device", "dtype", "mode", "phase")))],
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
            f"({fastest['impl']}, {panel_title(fastest['device'], fastest['dtype'], fastest['mode'])}, "
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
                    & ~default["eager_by_design"].astype(bool)]
    lines = []
    for (dtype, mode), rows in grads.groupby(["dtype", "mode"]):
        where = panel_title("cpu", dtype, mode)
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

    described = frames["case"].drop_duplicates("impl").sort_values("impl")
    if described["summary"].astype(bool).any():
        lines += ["## Implementations", "", *(f"- `{r.impl}`: {r.summary}" for r in described.itertuples()
                                               if r.summary), ""]

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
    for title, rows in by_facet(default):
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
        lines += ["", *(f"- {r.impl} {r.phase} ({r.timing}) {panel_title(r.device, r.dtype, r.mode)} N={r.N} "
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
