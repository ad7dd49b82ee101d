"""Comparing two runs case by case: a rank test on the raw samples where both runs kept them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from bench.report.load import ReportError, read_ceilings, read_findings, read_machine, read_run, read_samples
from bench.report.statistics import rank_test
from bench.report.trust import far_above, own_write_us, stage_handoff
from bench.schema import CASE_ID

#: Family-wise false-alarm rate of the rank test's verdicts over one comparison (Bonferroni).
ALPHA = 0.01
#: How far a case's × fastest may move between two runs of the same code and still count as reproduced
#: (issue 20: two default runs an hour apart should agree within 5%).
FASTEST_AGREE = 0.05


def race_handoffs(run_dir: Path) -> dict[str, bool]:
    """Whether each race ran mostly far (trust.HANDOFF_FAR_US) from a run's findings.json; empty for runs without it."""
    states = read_findings(run_dir).machine_state
    above = far_above(own_write_us(states))
    return {} if above is None else {state["race"]: found > above for state in states
                                     if (found := stage_handoff(state)) is not None}


def compare(run_a: Path, run_b: Path, threshold: float = 1.10, alpha: float = ALPHA) -> pd.DataFrame:
    """One row per case in both runs: median_a, median_b, ratio (b/a), the test, its p-value and a verdict.

    'slower' needs ratio > threshold and a significant difference; 'faster' the mirror image;
    anything else is 'same'. Where both runs kept raw samples (samples.csv.gz), significant means
    a two-sided Mann-Whitney U p-value below alpha / m, m the number of cases so tested
    (Bonferroni: under no change, the chance of any false verdict in the table is at most alpha,
    if a run's rounds are independent draws). Otherwise (runs written before samples were kept)
    it means non-overlapping interquartile ranges, a rule with no stated error rate.
    ``fastest_a``/``fastest_b``: each run's × fastest of the case in its race, and ``fastest_moved`` how far
    it moved (b/a − 1): ratios taken within one run, which a machine slower or faster as a whole
    leaves alone. Why one moved: ``fastest_intervals`` says whether the two runs' 95% intervals of it
    "overlap", lie "apart", or are "unknown" (a run has none), and ``own_moved`` and ``yardstick_moved`` split the move
    into the case's own median (b/a − 1) and, about, its race's fastest case's. ``handoff_a``/``handoff_b``: whether
    its race ran mostly at the far handoff level (bench/report/trust.py) in each run, where recorded. ``attrs``
    holds how many cases only one run has, alpha and m.
    """
    if not threshold >= 1:
        raise ReportError(f"threshold {threshold}: must be at least 1 (a ratio of medians, b/a)")
    if not 0 < alpha < 1:
        raise ReportError(f"alpha {alpha}: must lie between 0 and 1")
    a, b = read_run(Path(run_a)), read_run(Path(run_b))
    joined = a.merge(b, on=CASE_ID, how="outer", suffixes=("_a", "_b"), indicator=True)
    both = joined[joined["_merge"] == "both"].reset_index(drop=True)
    if both.empty:
        raise ReportError(f"{run_b}: no case in common with {run_a}")
    samples_a, samples_b = read_samples(Path(run_a)), read_samples(Path(run_b))
    keys = [tuple(row) for row in both[CASE_ID].itertuples(index=False)]
    p_values = np.array([rank_test(samples_a[k], samples_b[k]) if k in samples_a and k in samples_b else np.nan
                         for k in keys])
    tested = ~np.isnan(p_values)
    m = int(tested.sum())
    iqr_apart_slower = both["q1_s_b"] > both["q3_s_a"]
    iqr_apart_faster = both["q3_s_b"] < both["q1_s_a"]
    significant_slower = np.where(tested, p_values < alpha / max(m, 1), iqr_apart_slower)
    significant_faster = np.where(tested, p_values < alpha / max(m, 1), iqr_apart_faster)
    ratio = both["median_s_b"] / both["median_s_a"]
    # Runs written before the report kept × fastest have none to compare.
    fastest = {run: both.get(f"ratio_to_fastest_{run}", pd.Series(np.nan, index=both.index)) for run in "ab"}
    interval = {(run, end): both.get(f"ratio_to_fastest_{end}_{run}", pd.Series(np.nan, index=both.index))
                for run in "ab" for end in ("lo", "hi")}
    slower = (ratio > threshold) & significant_slower
    faster = (ratio < 1 / threshold) & significant_faster
    result = pd.DataFrame({**{key: both[key] for key in CASE_ID}, "median_a": both["median_s_a"],
                           "median_b": both["median_s_b"], "ratio": ratio,
                           "test": np.where(tested, "mann-whitney", "iqr-overlap"), "p_value": p_values,
                           "verdict": np.select([slower, faster], ["slower", "faster"], "same"),
                           "fastest_a": fastest["a"], "fastest_b": fastest["b"],
                           "fastest_moved": fastest["b"] / fastest["a"] - 1,
                           "fastest_intervals": np.select(
                               [pd.concat(interval.values(), axis=1).isna().any(axis=1),
                                np.maximum(interval["a", "lo"], interval["b", "lo"])
                                <= np.minimum(interval["a", "hi"], interval["b", "hi"])],
                               ["unknown", "overlap"], "apart"),
                           # The race's fastest case's median in each run, about: the case's over its × fastest (a median
                           # of round-by-round ratios, not a ratio of medians).
                           "own_moved": ratio - 1,
                           "yardstick_moved": (both["median_s_b"] / fastest["b"]) / (both["median_s_a"] / fastest["a"]) - 1,
                           **{f"handoff_{run}": both.get(f"race_{run}", pd.Series(index=both.index, dtype=object))
                              .map(race_handoffs(Path(path))) for run, path in (("a", run_a), ("b", run_b))}})
    result.attrs.update(only_a=int((joined["_merge"] == "left_only").sum()),
                        only_b=int((joined["_merge"] == "right_only").sum()), alpha=alpha, tested=m)
    return result


def describe_test(result: pd.DataFrame, threshold: float) -> str:
    """One line: the rule behind the verdicts and the error rate it implies."""
    m, alpha = result.attrs["tested"], result.attrs["alpha"]
    rest = len(result) - m
    parts = [f"a verdict needs ratio beyond {threshold}× and a significant difference"]
    if m:
        parts.append(f"{m} case(s) by Mann-Whitney U on raw samples at p < {alpha}/{m} = {alpha / m:.2g} "
                     f"(family-wise false-alarm rate <= {alpha:g}, rounds taken as independent)")
    if rest:
        parts.append(f"{rest} case(s) without raw samples in both runs by non-overlapping IQRs (no stated error rate)")
    return "; ".join(parts)


def _level(far: bool) -> str:
    return "far" if far else "near"


def percent_moved(fraction: float) -> str:
    """'+20%'; a move that rounds to nothing is '+0%' whichever side of zero it lies (not '-0%')."""
    return f"{round(100 * fraction):+d}%"


def _split(case) -> str:
    """How far a case's × fastest moved, split into its own median's move and, about, its race's fastest case's."""
    return f"its median {percent_moved(case.own_moved)}, its race's fastest {percent_moved(case.yardstick_moved)}"


def describe_fastest(result: pd.DataFrame) -> str:
    """One line: in how many cases both runs' × fastest agree within FASTEST_AGREE; of those that moved, in how many
    the two runs' intervals still overlap, and the largest moves whose intervals lie apart, each split into the
    case's own median and its race's fastest."""
    read = result[result["fastest_moved"].notna()]
    if read.empty:
        return "× fastest: no case has one in both runs"
    moved = read[read["fastest_moved"].abs() > FASTEST_AGREE].sort_values("fastest_moved", key=abs, ascending=False)
    line = f"× fastest within {100 * FASTEST_AGREE:.0f}% in both runs: {len(read) - len(moved)} of {len(read)} case(s)"
    if moved.empty:
        return line
    intervals = moved["fastest_intervals"].value_counts()
    beyond = moved[moved["fastest_intervals"] == "apart"]
    line += (f"; of the {len(moved)} that moved past it, {intervals.get('overlap', 0)} with the two runs' 95% "
             f"intervals overlapping (noise each run shows), {intervals.get('apart', 0)} with them apart"
             + (f", {intervals['unknown']} with no interval in a run" if "unknown" in intervals else ""))
    known = moved[moved["handoff_a"].notna() & moved["handoff_b"].notna()]
    handed = int((known["handoff_a"] != known["handoff_b"]).sum())
    if len(known):
        line += f"; {handed} of the {len(known)} with both runs' handoff known in races at the other handoff level"
    if beyond.empty:
        return line
    named = [f"{r.impl} {r.dtype} {r.phase} {r.timing} {r.fastest_a:.2f}→{r.fastest_b:.2f} ({_split(r)}"
             + (f", handoff {_level(r.handoff_a)}→{_level(r.handoff_b)}"
                if pd.notna(r.handoff_a) and pd.notna(r.handoff_b) else "") + ")"
             for r in beyond.head(5).itertuples()]
    return f"{line}, most: {', '.join(named)}{' ...' if len(beyond) > 5 else ''}"


#: What ``exceptions`` shows of a case: which case, the verdict on its median, its × fastest in both runs, and why.
EXCEPTION_COLUMNS = [*CASE_ID, "ratio", "verdict", "fastest_a", "fastest_b", "reason"]


def _reason(case) -> str:
    if case.verdict != "same":
        judged = "significant" if case.test == "mann-whitney" else "interquartile ranges apart"
        return f"its median {case.verdict} (b/a {case.ratio:.2f}, {judged})"
    parts = []
    if case.fastest_intervals == "overlap":
        parts.append("within each run's own noise (95% intervals overlap)")
    elif case.fastest_intervals == "apart":
        parts.append("intervals apart")
    if pd.notna(case.handoff_a) and pd.notna(case.handoff_b) and case.handoff_a != case.handoff_b:
        parts.append(f"its race at the other handoff level ({_level(case.handoff_a)}→{_level(case.handoff_b)})")
    parts.append(_split(case))
    return "; ".join(parts)


def with_reasons(result: pd.DataFrame) -> pd.DataFrame:
    """Every case with the reason the comparison can give for how it moved (``reason``)."""
    return result.assign(reason=[_reason(case) for case in result.itertuples()])


def exceptions(result: pd.DataFrame) -> pd.DataFrame:
    """The cases a reader should look at: a verdict other than "same" (first, largest change of median first),
    then a × fastest that moved past FASTEST_AGREE (largest move first); each with its reason."""
    verdicts = result[result["verdict"] != "same"]
    moved = result[(result["verdict"] == "same") & (result["fastest_moved"].abs() > FASTEST_AGREE)]
    ordered = pd.concat([verdicts.loc[np.log(verdicts["ratio"]).abs().sort_values(ascending=False).index],
                         moved.loc[moved["fastest_moved"].abs().sort_values(ascending=False).index]])
    return with_reasons(ordered)[EXCEPTION_COLUMNS]


#: What machine.json says of a machine as a whole; a run's own settings (threads, versions) are not the machine.
MACHINE_KEYS = ("cpu", "cores", "memory_gib", "os", "gpu")


def describe_machines(run_a: Path, run_b: Path) -> str:
    """One line: whether the machine was faster or slower as a whole in run_b, by each library's measured peak
    GFLOP/s (ceilings.csv): "as a whole" where every peak moved past FASTEST_AGREE the same way. Such a machine moves
    each library's times by its own factor, so × fastest need not hold across the two runs: this names that cause
    only where it is there to name. Peaks that moved unalike name nothing. What machine.json says of the machine
    follows where it differs: a fact, not a cause (a new boot of the same VM differs in its kernel build)."""
    peaks = [read_ceilings(run).query("ceiling == 'peak'").set_index(["library", "device", "dtype"])["gflops"]
             for run in (run_a, run_b)]
    joined = pd.concat(peaks, axis=1, keys=["a", "b"]).dropna()
    moved = joined["b"] / joined["a"] - 1
    listed = ", ".join(f"{' '.join(key)} {row.a:.1f} → {row.b:.1f} ({percent_moved(change)})"
                       for (key, row), change in zip(joined.iterrows(), moved))
    if joined.empty:
        line = "Measured peak GFLOP/s: none in both runs, so whether the machine changed as a whole is not known."
    elif (moved < -FASTEST_AGREE).all() or (moved > FASTEST_AGREE).all():
        line = (f"The machine was {'slower' if moved.iloc[0] < 0 else 'faster'} as a whole in {run_b}: measured peak "
                f"GFLOP/s {listed}. Across such runs, × fastest need not hold: each library's time moves by its own "
                "factor.")
    elif (moved.abs() <= FASTEST_AGREE).all():
        line = (f"The machine was alike as a whole: measured peak GFLOP/s {listed}, each within "
                f"{100 * FASTEST_AGREE:.0f}%.")
    else:
        line = f"Measured peak GFLOP/s moved unalike ({listed}): no change of the machine as a whole to name."
    machines = read_machine(run_a), read_machine(run_b)
    differs = [f"{key} {machines[0][key]} → {machines[1][key]}" for key in MACHINE_KEYS
               if key in machines[0] and key in machines[1] and machines[0][key] != machines[1][key]]
    return line + (f" machine.json differs: {'; '.join(differs)}." if differs else "")
