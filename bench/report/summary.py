"""summary.md: the answer first, then the detail, then how to read it; every statement computed from the tables."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.report import analysis, trust
from bench.report.findings import Findings
from bench.report.load import read_machine
from bench.report.headline import headline, times, variants_table
from bench.report.plots import PLOTS, by_facet, impl_order, panel_title
from bench.report.tables import DEFAULT, FIT_GROUP, at_default_size, variant_of
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
    """Every case of one device and dtype at the default size: the plain ways' phases and the variants'
    steps (their forward and grads are their plain way's), × the fastest plain way as in the headline."""
    rows = rows[(rows["variant"] == "") | (rows["phase"] == "step")]
    rows = rows.assign(_order=rows["impl"].map({impl: i for i, impl in enumerate(impl_order(rows))}),
                       _phase=rows["phase"].map({p: i for i, p in enumerate(PHASES)}))
    rows = rows.sort_values(["_order", "_phase"])
    table = pd.DataFrame({
        "impl": [impl if verified else f"{impl} **unverified**" for impl, verified in zip(rows["impl"], rows["verified"])],
        "phase": rows["phase"],
        "median µs": [_number(v * 1e6, ",.1f") for v in rows["median_s"]],
        "IQR/median": [_number(100 * v, ".1f") + "%" for v in rows["noise"]],
        "first call ms": [_number(v * 1e3, ",.2f") for v in rows["first_call_s"]],
        "GFLOP/s": [_number(v, ".1f") for v in rows["gflops"]],
        "% peak": [_number(v, ".1f") for v in rows["pct_peak"]],
        "× GEMM floor": [_number(v, ".2f") for v in rows["ratio_to_floor"]],
        "× fastest plain way (95% CI)": [times(row) + (" per row" if row["rows_trained"] < DEFAULT.N else "")
                                         for _, row in rows.iterrows()],
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
    # Every case with more than its latency: calls queued, or (torch on cuda) its device time, timed or not queued.
    paired = latency.merge(queued[[*key, "median_s"]], on=key, how="left", suffixes=("", "_queued")).set_index(key)
    paired = paired[paired["median_s_queued"].notna() | paired["device_time_s"].notna()]
    frame = pd.DataFrame({
        "impl": paired.index.get_level_values("impl"),
        "case": [f"{panel_title(d, t, p)} {ph}" for d, t, p, ph in zip(*(paired.index.get_level_values(k) for k in
                                                                   ("device", "dtype", "mode", "phase")))],
        "latency µs": [_number(v * 1e6, ",.1f") for v in paired["median_s"]],
        "throughput µs/call": [_number(v * 1e6, ",.1f") for v in paired["median_s_queued"]],
        "device µs": [_number(v * 1e6, ",.1f") for v in paired["device_time_s"]],
        "kernels": [_number(v, ".0f") for v in paired["kernels_per_call"]],
        "launch floor µs": [_number(v * 1e6, ",.1f") for v in paired["launch_floor_s"]],
    })
    return ["Latency: each call synchronized; throughput: calls queued and synchronized once per round, time "
            "per call; device: CUDA-event time; launch floor: kernels per call × the measured cost of one "
            "launch.", "", _markdown(frame, left=2)]


def overhead_statement(cost: float | None, default: pd.DataFrame) -> str:
    if cost is None:
        return "Harness overhead: not measured in this run."
    steps = default[default["phase"] == "step"]
    if steps.empty:
        return f"Harness overhead (median of an empty callable): {cost * 1e9:.0f} ns; no default-size step to compare."
    fastest = steps.loc[steps["median_s"].idxmin()]
    return (f"Harness overhead (median of an empty callable): {cost * 1e9:.0f} ns, "
            f"{100 * cost / fastest['median_s']:.3f}% of the fastest default-size step "
            f"({fastest['impl']}, {panel_title(fastest['device'], fastest['dtype'], fastest['mode'])}, "
            f"{fastest['median_s'] * 1e6:.1f} µs).")


def aa_statements(aa: pd.DataFrame) -> list[str]:
    if aa.empty:
        return ["A/A: not measured in this run."]
    worst = aa.loc[aa["difference"].abs().idxmax()]
    lines = [f"A/A: in each latency race one case is timed twice, interleaved like the rest. Its round-by-round "
             f"ratio A2/A1 differs from 1 by {100 * aa['difference'].abs().median():.2f}% (median over "
             f"{len(aa)} race(s)) and at most {100 * abs(worst['difference']):.2f}% ({worst['impl']} "
             f"{worst['phase']}, {worst['race']}): a ratio between cases nearer 1 than its race's A/A says nothing "
             "about which is faster.", ""]
    frame = pd.DataFrame({"race": aa["race"], "impl": aa["impl"],
                          "A1 µs": [_number(v * 1e6, ",.1f") for v in aa["a1_s"]],
                          "A2 µs": [_number(v * 1e6, ",.1f") for v in aa["a2_s"]],
                          "median of A2/A1 per round − 1": [f"{100 * v:+.2f}%" for v in aa["difference"]],
                          "95% CI": ["" if pd.isna(lo) else f"{100 * lo:+.2f}% to {100 * hi:+.2f}%"
                                     for lo, hi in zip(aa["difference_lo"], aa["difference_hi"])]})
    return lines + [_markdown(frame, left=2)]


def verification_statements(table: pd.DataFrame, excluded: pd.DataFrame) -> list[str]:
    """What was verified before timing, what was timed unverified (flagged), and what was left out and why."""
    raced = table[table["race"].fillna("").astype(str) != ""]
    checked = raced.drop_duplicates(["impl", "device", "dtype", "mode", *SIZE, "bias"])
    lines = [f"Every implementation was checked at each size before it was timed there, by the catalogue's "
             f"agreement check (loss and gradients on two calls, then one step; in a child process): "
             f"{int(checked['verified'].sum())} of the {len(checked)} timed (implementation, device, dtype, mode, "
             f"size) passed; worst error/tolerance {_number(raced['worst_error_over_tol'].max(), '.3g')}."]
    flagged = raced[~raced["verified"]]
    if not flagged.empty:
        lines.append("Timed although they failed verification (--time-unverified), marked **unverified** in "
                     "every table and plot: " + ", ".join(sorted(set(flagged["impl"]))) + ".")
    if not excluded.empty:
        lines += ["", "Not timed:", ""]
        for reason, rows in excluded.groupby("reason", sort=False):
            lines.append(f"- {', '.join(dict.fromkeys(rows['impl']))}: {reason}")
    return lines


def _target(over_own_products: float, target: float, parts_alone: float) -> str:
    if pd.isna(target):
        return ""
    if over_own_products <= target:
        return f"≤ {target} met"
    return f"≤ {target} **missed**" + (f"; parts alone {parts_alone:.2f}" if parts_alone > target else "")


def decomposition_statements(parts: pd.DataFrame) -> list[str]:
    """Where each implementation's time goes at the default size, and the targets over its own products."""
    if parts.empty:
        return ["No library floors were timed in this run."]
    # A variant's forward and grads are its plain way's: only its step is its own.
    parts = parts[(parts["impl"].map(variant_of) == "") | (parts["phase"] == "step")]
    frame = pd.DataFrame({
        "case": [f"{panel_title(d, t, m)} {p}" for d, t, m, p in
                 zip(parts["device"], parts["dtype"], parts["mode"], parts["phase"])],
        "impl": parts["impl"], "median µs": [_number(v * 1e6, ",.1f") for v in parts["median_s"]],
        "own products µs": [f"{v * 1e6:,.1f} ({lib})" for v, lib in zip(parts["products_s"], parts["framework"])],
        "elementwise µs": [_number(v * 1e6, ",.1f") for v in parts["elementwise_s"]],
        "rest µs": [_number(v * 1e6, ",.1f") for v in parts["rest_s"]],
        "fastest products µs": [f"{v * 1e6:,.1f} ({lib})" for v, lib in
                                zip(parts["fastest_products_s"], parts["fastest_library"])],
        "× own products": [_number(v, ".2f") for v in parts["over_own_products"]],
        "target": [_target(v, t, parts_alone) for v, t, parts_alone in
                   zip(parts["over_own_products"], parts["target"],
                       (parts["products_s"] + parts["elementwise_s"]) / parts["products_s"])]})
    return ["Own products: the implementation's library computing the phase's matrix products alone, with the "
            "same operand layouts (jax: jitted); elementwise: the same library's relu, masks, loss and updates "
            "alone; rest: the median minus both (dispatch, autograd bookkeeping, allocation; negative where "
            "the implementation fuses or overlaps what the parts time separately). All timed in the same race. "
            "Where the library's two parts alone already pass a target, the target column says so: a way meets it "
            "only by doing less elementwise work than they do (fusing it, or fewer passes over the arrays).",
            "", _markdown(frame, left=2)]


def alone_statements(found: pd.DataFrame) -> list[str]:
    """Each framework's plain way timed alone (its framework only, in fresh processes) beside its time in the race
    (``analysis.alone_table``'s rows, as findings.json keeps them)."""
    if found.empty:
        return ["No plain way was timed alone in this run (the preset has no default size, or none was selected)."]
    if "turns_difference" in found and found["turns_difference"].notna().all():
        # A run written before a process 2 took turns has none of its columns: one process, as it ran.
        return _turns_statements(found.reindex(columns=[*found, *(c for c in analysis.TURN_COLUMNS
                                                                    if c not in found)]))
    moved, levels = analysis.handoff_moved(found), analysis.level_agreement(found)
    frame = pd.DataFrame({
        "framework": found["framework"], "impl": found["impl"], "case": _cases(found),
        "alone µs": [_number(v * 1e6, ",.1f") for v in found["alone_s"]],
        "processes differ": [f"±{100 * v:.1f}%" for v in found["spread"]],
        "in the race µs": [_number(v * 1e6, ",.1f") for v in found["raced_s"]],
        "race / alone − 1": [f"{100 * v:+.1f}%" for v in found["difference"]],
        "race's A/A": _aa_column(found),
        "agree": [_agreement(*row) for row in zip(found["agree"], found["readable"], moved,
                                                   analysis.faults_explain(found), levels, _level_texts(found))]})
    handoff = _handoff_column(found)
    if handoff:
        frame.insert(len(frame.columns) - 1, "handoff µs, race / alone", handoff)
    faults = _faults_column(found)
    if faults:
        frame.insert(len(frame.columns) - 1, "page faults per call, race / alone", faults)
    agreed = int((found["agree"] & found["readable"]).sum())
    processes = int(found["processes"].max())
    return [f"Each framework's plain way timed again in {processes} fresh process(es) that load its framework alone, "
            "with the job's thread counts and every other setting at the framework's defaults. Alone: the median of "
            "the processes' medians; processes differ: how far the farthest of them lies from it. "
            f"{agreed} of {len(found)} agree with their time in the race: within its A/A or within how far the fresh "
            "processes differ, whichever is wider (the race's process is one more draw)."
            + (" Handoff: µs for one core to read 400 KB another has just written (bench/cores.py): the race's "
               "median (its range where it read at both levels) and the processes' median. It reads near or far "
               f"(above {trust.far_above(found['handoff_own_write_us'].iloc[0]):.1f} µs); "
               "\"handoff moved\" marks a disagreement "
               "where the race ran at both levels or at the other one than the processes: the machine differed "
               "between them, which two threads feel and one does not. It does not prove that this made the "
               "difference." if handoff else "")
            + _level_statement(found, moved, levels)
            + (" Page faults: minor faults per call, the race's median over rounds and the processes' median (their "
               "range where they differ); how many a call takes depends on what its process allocated before "
               "(bench/faults.py). \"page faults differ\" marks a disagreement where the extra faults of the slower "
               f"side, at {_number(found['fault_us'].iloc[0], '.2f')} µs each (this run's cost of one), account for "
               "at least half the difference." if faults else ""), "",
            _markdown(frame, left=3), "", *direction_statements(analysis.race_direction(found))]


def _turns_statements(found: pd.DataFrame) -> list[str]:
    """The plain ways paired round by round with their turns taken alone (``analysis.TURN_COLUMNS``), and beside
    them the fresh processes, which say how far users' own processes land."""
    frame = pd.DataFrame({
        "framework": found["framework"], "impl": found["impl"], "case": _cases(found),
        "alone µs": [_number(v * 1e6, ",.1f") for v in found["turns_s"]],
        "in the race µs": [_number(v * 1e6, ",.1f") for v in found["raced_s"]],
        "race / alone − 1 (95%)": [f"{100 * v:+.1f}% ({100 * lo:+.1f} to {100 * hi:+.1f})" for v, lo, hi in
                                   zip(found["turns_difference"], found["turns_lo"], found["turns_hi"])],
        "race's A/A": _aa_column(found),
        "agree": [_turns_agreement(*row) for row in
                  zip(found["agree"], found["readable"], found["aa"], found["turns_lo"], found["turns_hi"],
                      analysis.turns_faults_explain(found),
                      found["within_processes"] == 1.0)],
        "fresh processes µs": [_number(v * 1e6, ",.1f") for v in found["alone_s"]],
        "fresh processes differ": [f"±{100 * v:.1f}%" for v in found["spread"]]})
    two = bool(found["turns_processes"].notna().any())
    if two:
        frame.insert(frame.columns.get_loc("race's A/A"), "process 2 / process 1 − 1",
                     ["–" if pd.isna(v) else f"{100 * v:+.1f}%" for v in found["turns_processes"]])
    faults = found.reindex(columns=["faults_raced", "turns_faults", "turns_other_faults"]).astype(float)
    if faults.notna().any(axis=None):
        frame.insert(frame.columns.get_loc("agree"), "page faults per call, race / alone" + (" / process 2" if two else ""),
                     [" / ".join(_number(v, ".0f") for v in row[:3 if two else 2]) for row in faults.itertuples(False)])
    agreed = int((found["agree"] & found["readable"]).sum())
    as_processes = int((~found["agree"].astype(bool) & found["readable"] & (found["within_processes"] == 1.0)).sum())
    return [f"Each framework's plain way in a process of its own that loads its framework alone, with the job's "
            "thread counts and every other setting at the framework's defaults, taking its turn in every round of "
            "the race (bench/alone.py, `Turns`): it settles and times its sample there, as the race does its "
            "contenders, and its samples pair with the race's round by round. Race / alone − 1: the median over "
            f"rounds, with its 95% interval. {agreed} of {len(found)} agree: within the race's A/A (its median "
            "difference or either end of its interval)" + (
                f"; {as_processes} more read \"as two processes alone\": the race lies no farther from the nearer of "
                "the way's two processes alone (the second takes the same turns) than those two lie from each other "
                "(process 2 / process 1 − 1), so it reads as one more process would: what separates them is already "
                "there between two processes alone, not added by the race" if two else "") +
            "; \"not resolved\" where the median lies past the A/A and its "
            "interval reaches into it (more rounds would tell); \"page faults differ\" where the extra minor faults "
            f"of the slower side, at {_number(found['fault_us'].iloc[0], '.2f')} µs each (this run's cost of one), "
            "account for at least half the difference" + (
                " and process 2 sorts with the side whose faults it shares, times as well" if two else "") +
            ": how many a call takes depends on what its process allocated before (bench/faults.py). Fresh "
            "processes: the same way timed in "
            f"{int(found['processes'].max())} processes started one after another among the races, each timing "
            "itself: their median, and how far the farthest lies from it, which is how far apart one user's runs "
            "can land here.", "", _markdown(frame, left=3), "", *([_processes_statement(found)] if two else []),
            *direction_statements(analysis.race_direction(found))]


def _processes_statement(found: pd.DataFrame) -> str:
    """The run's race / alone beside its process 2 / process 1 over all cases: a race that moved the ways' times
    reads farther from alone than a second process alone does, in more cases than chance gives (a sign test)."""
    from scipy.stats import binomtest
    both = found[found["readable"].astype(bool)].reindex(columns=["turns_difference", "turns_processes"])
    raced, processes = (column for _, column in (both.astype(float).dropna().abs() * 100).items())
    if raced.empty:
        return "No case is readable to set the race beside two processes alone."
    farther, unequal = int((raced > processes).sum()), int((raced != processes).sum())
    tested = (f": here it is the farther in {farther} of {unequal} (about half where the race moved nothing; two-sided "
              f"sign test p = {binomtest(farther, unequal).pvalue:.2f}, though the cases share their processes and are "
              "not independent)" if unequal else "")
    return (f"Over the {len(raced)} readable cases, the race lies {raced.median():.1f}% from process 1 alone (median; at "
            f"most {raced.max():.1f}%), and process 2 lies {processes.median():.1f}% from it (at most "
            f"{processes.max():.1f}%). A race that moved the ways' times would lie farther from process 1 than process "
            f"2 does{tested}.")


def _turns_agreement(agree: bool, readable: bool, aa: float, low: float, high: float, faulted: bool,
                     within_processes: bool) -> str:
    if not readable:
        return "unreadable (A/A past the bound)"
    if agree:
        return "yes"
    if within_processes:
        verdict = "as two processes alone"
    else:
        verdict = "not resolved (its interval reaches the A/A)" if low <= aa and high >= -aa else "**no**"
    return verdict + (", page faults differ" if faulted else "")


def _cases(found: pd.DataFrame) -> list[str]:
    return [f"{panel_title(d, t, m)} {p}" for d, t, m, p in
            zip(found["device"], found["dtype"], found["mode"], found["phase"])]


def _aa_column(found: pd.DataFrame) -> list[str]:
    return ["–" if pd.isna(v) else f"±{100 * v:.1f}%" for v in found["aa"]]


def _agreement(agree: bool, readable: bool, moved: bool, faulted: bool, level: str, level_text: str) -> str:
    if not readable:
        return "unreadable (A/A past the bound)"
    if agree:
        return "yes"
    if moved and level == "yes":
        return f"yes at one handoff level ({level_text})"
    reasons = ([f"at one handoff level too ({level_text})"] if moved and level == "no" else
               ["handoff moved"] if moved else [])
    return ", ".join(["**no**", *reasons, *(["page faults differ"] if faulted else [])])


def _level_texts(found: pd.DataFrame) -> list[str]:
    """Per row, the race's difference from the processes at each handoff level both sides have: "near +1.2%"."""
    differences = analysis.per_level(found, "difference")
    return [", ".join(f"{level} {100 * value:+.1f}%" for level, value in zip(analysis.LEVELS, row) if pd.notna(value))
            for row in differences.itertuples(index=False)]


def _level_statement(found: pd.DataFrame, moved: pd.Series, levels: pd.Series) -> str:
    marked = ~found["agree"].astype(bool) & found["readable"].astype(bool) & moved
    if not marked.any() or not (levels[marked] != "").any():
        return ""
    counted = levels[marked].value_counts()
    return (f" Of the {int(marked.sum())} disagreements timed at two handoff levels, {counted.get('yes', 0)} agree "
            f"and {counted.get('no', 0)} do not when the two are set side by side level by level: the processes "
            "that read one level before and after, beside the race's rounds that read it before and after (at "
            f"least {analysis.LEVEL_ROUNDS}), within the race's A/A or those processes' spread; "
            f"{counted.get('', 0)} have no level in common." + _level_sizes(found[marked & (levels != "")]))


def _level_sizes(compared: pd.DataFrame) -> str:
    """How far apart the level-by-level pairs lie, beside how far apart the same pairs lie as wholes."""
    found = analysis.per_level(compared, "difference").abs().stack().dropna()
    return (f" Level by level they differ by {100 * found.median():.1f}% (median of {len(found)}) and at most "
            f"{100 * found.max():.1f}%, where as wholes the same pairs differ by up to "
            f"{100 * compared['difference'].astype(float).abs().max():.1f}%.")


def _faults_column(found: pd.DataFrame) -> list[str]:
    """Minor page faults per call in the race / in the fresh processes (their median, and range where they differ);
    empty where the run did not count them."""
    columns = ["faults_raced", "faults_alone", "faults_alone_lo", "faults_alone_hi", "fault_us"]
    if not set(columns) <= set(found) or found[columns].isna().all(axis=None):
        return []
    return [f"{_number(raced, '.0f')} / {_number(alone, '.0f')}"
            + (f" ({low:.0f}–{high:.0f})" if f"{low:.0f}" != f"{high:.0f}" else "")
            for raced, alone, low, high in zip(*(found[c].astype(float) for c in columns[:4]))]


def _handoff_column(found: pd.DataFrame) -> list[str]:
    """The cores' handoff while the race ran (its median, and its range where it read at both levels) / the fresh
    processes' median, in µs; empty where the run has none."""
    columns = ["handoff_raced_lo_us", "handoff_raced_hi_us", "handoff_raced_us", "handoff_alone_us",
               "handoff_own_write_us"]
    if not set(columns) <= set(found) or found[columns[:4]].isna().all(axis=None):
        return []
    return [_number(raced, ".1f")
            + (f" ({_number(low, '.1f')}–{_number(high, '.1f')})" if trust.both_levels(low, high, above) else "")
            + f" / {_number(alone, '.1f')}"
            for low, high, raced, alone, above in zip(*(found[c].astype(float) for c in columns[:4]),
                                                      trust.far_above(found[columns[4]].astype(float)))]


def direction_statements(direction: pd.DataFrame) -> list[str]:
    """Whether the race moves a framework's times as a whole: the sign of each case's difference, and their median."""
    if direction.empty:
        return []
    whose = {row.framework: "all" if row.framework == "all" else f"{row.framework}'s" for row in direction.itertuples()}
    counts = ", ".join(f"{row.slower} of {whose[row.framework]} {row.slower + row.faster} "
                       f"(median {100 * row.median_difference:+.1f}%)" for row in direction.itertuples())
    return [f"Does the race move a framework's times as a whole? The race read slower than alone in {counts}. "
            "A race that moved nothing reads slower and faster alike; one that slowed a framework reads slower in "
            "all its cases. The cases share the race's one process, a single draw, so this shows a direction "
            "and does not test it."]


def load_statements(load: pd.DataFrame) -> list[str]:
    if load.empty:
        return ["The load test (bench/test_load.py, marker `load`) was not run."]
    worst = load.loc[load["shift"].abs().idxmax()]
    frame = pd.DataFrame({"impl": load["impl"], "case": [f"{d} {t} {p}" for d, t, p in
                                                         zip(load["device"], load["dtype"], load["phase"])],
                          "× fastest, quiet": [f"{v:.3f}" for v in load["quiet"]],
                          "× fastest, one core busy": [f"{v:.3f}" for v in load["busy"]],
                          "shift": [f"{100 * v:+.1f}%" for v in load["shift"]]})
    return [f"The same race timed on a quiet machine and again with a busy-loop process pinned to one core: "
            f"every × fastest moves by at most {100 * abs(worst['shift']):.1f}% ({worst['impl']}).", "",
            _markdown(frame, left=2)]


def size_statements(fits: pd.DataFrame, crossovers: pd.DataFrame) -> list[str]:
    lines = []
    if not fits.empty:
        frame = pd.DataFrame({"impl": fits["impl"], "case": [f"{panel_title(d, t, m)} {p}" for d, t, m, p in
                                                             zip(fits["device"], fits["dtype"], fits["mode"],
                                                                 fits["phase"])],
                              "fixed cost µs": [f"{v * 1e6:,.1f}" for v in fits["fit_fixed_s"]],
                              "GFLOP/s at large sizes (1 / per-FLOP cost)": [_number(1e-9 / v, ",.1f") if v > 0
                                                                             else "–" for v in fits["fit_s_per_flop"]]})
        lines += ["time = fixed + FLOPs × per-FLOP cost, fitted over the sizes on relative residuals:", "",
                  _markdown(frame, left=2), ""]
    if crossovers.empty:
        lines.append("No crossover along a swept size: at every size where two implementations' order is "
                     "resolved (95% interval of their ratio excludes 1), the same one is faster.")
    else:
        lines += ["Crossovers (each size's order resolved within its race, 95% interval excluding 1):", ""]
        lines += [f"- {r.faster_above} overtakes {r.slower_above} above {r.axis} = {r.below} (faster at "
                  f"{r.axis} = {r.above}), {panel_title(r.device, r.dtype, r.mode)} {r.phase}"
                  for r in crossovers.itertuples()]
    return lines


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


def header_lines(run_dir: Path, command: str, findings: Findings) -> list[str]:
    """The title and one line of what was run, where and when (trust.judge's lines follow: can it be read)."""
    machine = read_machine(run_dir)
    where = ", ".join(part for part in (machine.get("cpu"), f"{machine['cores']} cores" if machine.get("cores") else "",
                                        "GPU " + ", ".join(map(str, machine["gpu"].values())) if machine.get("gpu")
                                        else "") if part)
    threads = (machine.get("threads") or {}).get("OMP_NUM_THREADS")
    measured = findings.measured
    when = ", ".join(part for part in (
        f"measured {measured['datetime'][:16].replace('T', ' ')} UTC" if measured.get("datetime") else "",
        f"commit {measured['commit'][:12]}" + (" (dirty)" if measured.get("dirty") else "")
        if measured.get("commit") else "") if part)
    facts = [f"`{command}`" if command else "", f"on {where}" if where else "",
             f"{threads} thread(s) per framework" if threads else "", when]
    return [f"# Benchmark run {run_dir.name}", "", " · ".join(fact for fact in facts if fact) + "  "]



def machine_section(run_dir: Path) -> list[str]:
    """## Machine, from the run's machine.json; nothing when there is none."""
    machine_json = run_dir / "machine.json"
    if not machine_json.is_file():
        return []
    try:
        facts = machine_facts(json.loads(machine_json.read_text()))
    except (json.JSONDecodeError, AttributeError) as error:
        facts = [f"- machine.json could not be read ({error})"]
    return ["## Machine", "", *facts, ""]


def implementations_section(described: dict[str, str]) -> list[str]:
    """## Implementations: each one's summary line; nothing when none has one."""
    if not any(described.values()):
        return []
    return ["## Implementations", "", *(f"- `{impl}`: {text}" for impl, text in sorted(described.items()) if text), ""]


def default_size_section(rows: pd.DataFrame, plots: list[str]) -> list[str]:
    """## Every case at the default size: one table per device and dtype, and its plots."""
    lines = ["## Every case at the default size", ""]
    if rows.empty:
        lines += ["No case at the default size in this run.", ""]
    for title, facet in by_facet(rows):
        lines += [f"### {title}", "", default_size_table(facet), ""]
    for key, caption in (("default", "Median time per call of each plain way, one panel per phase (bars, where "
                                     "the run kept its rounds: 95% interval of the median)"),
                         ("gflops", "GFLOP/s of each plain way against the measured peak"),
                         ("grads_over_forward", "grads / forward per plain way")):
        if PLOTS[key] in plots:
            lines += [f"![{caption}]({PLOTS[key]})", ""]
    return lines


def sizes_section(table: pd.DataFrame, fits: pd.DataFrame, crossovers: pd.DataFrame, plots: list[str]) -> list[str]:
    """## Sizes: the plots against size, the fits and the crossovers, or why there are none."""
    lines = ["## Sizes", ""]
    if PLOTS["sizes"] not in plots:
        return lines + ["This run has one size only, so there is no plot of time against size.", ""]
    sizes = table[SIZE].drop_duplicates()
    lines += [f"{len(sizes)} sizes; benchmarks.csv has every row.", "",
              f"![Median time against FLOPs]({PLOTS['sizes']})", ""]
    if PLOTS["sizes_gflops"] in plots:
        lines += [f"![GFLOP/s against each swept size]({PLOTS['sizes_gflops']})", ""]
    return lines + [*size_statements(fits, crossovers), ""]


def ceilings_section(peak_table: pd.DataFrame, floors: pd.DataFrame) -> list[str]:
    """## Ceilings: the matmul peaks measured and the GEMM floor at the default size."""
    lines = ["## Ceilings", ""]
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
    return lines


def method_notes() -> list[str]:
    """## How to read this: what every figure above is, below the results."""
    return ["## How to read this", "",
            f"- Default size: N={DEFAULT.N}, D_in={DEFAULT.D_in}, H={DEFAULT.H}, D_out={DEFAULT.D_out}, no bias; "
            "latency timing (each call synchronized). forward: the loss; grads: loss and gradients; step: one "
            "training step (gradients and the update).",
            "- A plain way is one of the card's ways of writing the network (SGD on the full batch of the two-layer "
            "network), compiled or not. A variant changes the optimizer, the batching or the network; its forward "
            "and grads are its plain way's, so only its step is shown.",
            "- × fastest: the median over rounds of the case's time over the fastest verified plain way's, timed "
            "in the same race (shuffled rounds, so load that lasts a round slows both), with a 95% bootstrap "
            "interval over the paired rounds. A mini-batch step trains on fewer rows: it is compared per row "
            "trained.",
            "- **same**: × fastest is nearer 1 than its race's A/A (one case timed twice in the race): this run "
            "cannot tell it from the fastest. **noisy**: the interval of × fastest is wider than its distance "
            "from 1: which of the two is faster is not settled. The spread of one case's rounds (IQR/median) is "
            "not used: pairing the rounds removes most of it.",
            "- × GEMM floor: the median over the sum of the fastest library's time for each matrix product of "
            "the phase. grads/forward: the grads median over the forward median (ADBench's measure). % peak: of "
            "the best library's large-matmul GFLOP/s.",
            "- The data: benchmarks.csv (one row per case, every size and timing), samples.csv.gz (every round), "
            "ceilings.csv, findings.json, machine.json. The raw pytest-benchmark JSON stays in raw/ on the "
            "machine that ran it (not committed); `python -m bench.report rebuild RUN_DIR --force` writes this "
            "report again from the files here.", ""]


def summary(full: pd.DataFrame, rows: pd.DataFrame, peak_table: pd.DataFrame, floors: pd.DataFrame,
            plots: list[str], run_dir: Path, command: str, findings: Findings) -> str:
    """summary.md: the answer first (the plain ways at the default size: ``rows``, headline.versus_plain's),
    then the detail, then the method."""
    table = full.drop(columns="samples")
    verified_default = at_default_size(table)[at_default_size(table)["verified"]]
    fitted = (table.dropna(subset=["fit_fixed_s"]).drop_duplicates(FIT_GROUP)
              .sort_values(FIT_GROUP, ignore_index=True)[[*FIT_GROUP, "fit_fixed_s", "fit_s_per_flop"]])
    lines = [*header_lines(run_dir, command, findings),
             *trust.judge(findings.machine_state, findings.aa, trust.pool_tuning(read_machine(run_dir))).lines, "",
             f"## Which way is fastest (N={DEFAULT.N}, D_in={DEFAULT.D_in}, H={DEFAULT.H}, D_out={DEFAULT.D_out})", "",
             *headline(rows),
             "## Variants: their step", "", *variants_table(rows), "",
             *default_size_section(rows, plots),
             "## Verified before timing", "", *verification_statements(table, findings.excluded), "",
             "## Where the time goes", "", *decomposition_statements(findings.parts), "",
             "## Alone and in the race", "", *alone_statements(findings.alone), ""]
    if PLOTS["decomposition"] in plots:
        lines += [f"![Each plain way's time split into its library's parts: products, elementwise work and the "
                  f"rest]({PLOTS['decomposition']})", ""]
    lines += ["## Under load", "", *load_statements(findings.load), "",
              *sizes_section(table, fitted, analysis.crossovers(full), plots),
              "## Latency, throughput and launches", "", *timing_statements(table), "",
              "## Checks", "", f"- {overhead_statement(findings.overhead_s, verified_default)}", "",
              *aa_statements(findings.aa), "",
              "Non-eager implementations on cpu at the default size, grads phase against the GEMM floor:", "",
              *floor_statements(verified_default), "",
              *ceilings_section(peak_table, floors), "", *machine_section(run_dir),
              *implementations_section(findings.implementations), *method_notes()]
    if findings.ignored:
        lines += [f"{findings.ignored} benchmark(s) in the raw JSON have no known extra_info kind and were left out.",
                  ""]
    return "\n".join(lines).rstrip() + "\n"
