"""What the races say beyond one row per case: A/A per race, where the time goes, load, crossovers.

(The fit of time against FLOPs is a column of every row: bench/report/tables.py.)"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from bench.report.statistics import paired_ratio, ratio, ratio_interval
from bench.report.trust import AA_BOUND, aa_spread, both_levels, far_above, fault_us, handoffs, own_write_us, \
    stage_handoff
from bench.report.tables import DEFAULT, at_default_size
from bench.schema import SIZE, alone_stage

#: Targets of an implementation's time over its own library's products (issue 10).
OWN_FLOOR_TARGETS = {"torch-manual": 1.15, "torch-autograd": 1.3, "torch-function": 1.3, "torch-nn": 1.3,
                     "jax-grad": 1.3, "torch-compile-step": 1.3, "torch-inplace": 1.3, "jax-grad-donated": 1.3,
                     "numpy-inplace": 1.3}


def aa_table(aa: pd.DataFrame) -> pd.DataFrame:
    """Per race: the twice-timed case's two medians, their difference, and its 95% interval (paired rounds)."""
    rows = []
    for race, pair in aa.groupby("race", sort=True):
        by_repeat = pair.set_index("repeat")
        if not {"A1", "A2"} <= set(by_repeat.index):
            continue
        a1, a2 = by_repeat.loc["A1"], by_repeat.loc["A2"]
        lo, hi = ratio_interval(a2["samples"], a1["samples"])
        rows.append({"race": race, "impl": a1["impl"], "phase": a1["phase"], "dtype": a1["dtype"],
                     "device": a1["device"], "a1_s": a1["median_s"], "a2_s": a2["median_s"],
                     "difference": ratio(a2["samples"], a1["samples"], a2["median_s"], a1["median_s"]) - 1, "difference_lo": lo - 1,
                     "difference_hi": hi - 1})
    return pd.DataFrame(rows, columns=["race", "impl", "phase", "dtype", "device", "a1_s", "a2_s", "difference",
                                       "difference_lo", "difference_hi"])


def decomposition(table: pd.DataFrame, floor: pd.DataFrame) -> pd.DataFrame:
    """At the default size (latency): each implementation's median split into its own library's products,
    its library's elementwise work, and the rest (dispatch, autograd, allocation), beside the fastest
    library's products, all timed in the same race."""
    columns = ["device", "dtype", "mode", "phase", "impl", "framework", "median_s", "products_s", "elementwise_s",
               "rest_s", "fastest_products_s", "fastest_library", "over_own_products", "target"]
    cases = at_default_size(table)
    if cases.empty or floor.empty:
        return pd.DataFrame(columns=columns)
    parts = floor.pivot_table(index=["race", "library"], columns="part", values="median_s")
    rows = []
    for row in cases[cases["verified"]].itertuples():
        if (row.race, row.framework) not in parts.index:
            continue
        own = parts.loc[(row.race, row.framework)]
        race_products = parts.loc[row.race]["products"]
        rows.append({"device": row.device, "dtype": row.dtype, "mode": row.mode, "phase": row.phase,
                     "impl": row.impl, "framework": row.framework, "median_s": row.median_s,
                     "products_s": own["products"], "elementwise_s": own["elementwise"],
                     "rest_s": row.median_s - own["products"] - own["elementwise"],
                     "fastest_products_s": race_products.min(), "fastest_library": race_products.idxmin(),
                     "over_own_products": row.median_s / own["products"],
                     "target": OWN_FLOOR_TARGETS.get(row.impl, np.nan)})
    return pd.DataFrame(rows, columns=columns)


#: The fewest rounds of a race at one handoff level for its median there to be set beside the processes at that level.
LEVEL_ROUNDS = 10
LEVELS = ("near", "far")
#: Per level, what ``alone_table`` keeps of the two sides at that level alone.
LEVEL_COLUMNS = [f"{level}_{what}" for level in LEVELS
                 for what in ("alone_s", "processes", "raced_s", "rounds", "difference", "agree")]
#: What ``alone_table`` keeps of the plain way's turns in the race (bench.alone.Turns): its first process's median,
#: race / alone - 1 paired round by round with the ends of its 95% interval, and its minor page faults per call;
#: its second process against its first, paired alike (``turns_processes``: how far two processes alone land
#: apart), the race against the second and that one's faults; and whether the race lies no farther from the
#: nearer of the two than they lie from each other (``within_processes``).
TURN_COLUMNS = ["turns_s", "turns_difference", "turns_lo", "turns_hi", "turns_faults", "turns_processes",
                "turns_other_difference", "turns_other_faults", "within_processes"]


def level_of(readings: list[float], above: float | None) -> str:
    """"near" or "far" where every handoff reading lies on that side of ``above``; "" where they lie on both, or
    where there are none."""
    if above is None or not readings:
        return ""
    far = [value > above for value in readings]
    return "far" if all(far) else "" if any(far) else "near"


def round_levels(found: list[float], rounds: int, above: float | None) -> list[str]:
    """Per round of a race, the level of the handoff read before and after it ("" where they differ), from the race's
    readings in order (``trust.handoffs``); all "" where the race was not read after every round."""
    if len(found) != rounds + 2:   # before the stage, after each round, after the stage
        return [""] * rounds
    return [level_of(found[i:i + 2], above) for i in range(rounds)]


def _level_by_level(processes: pd.DataFrame, samples, levels: list[str], race_aa: float) -> dict[str, float]:
    """``LEVEL_COLUMNS`` for one way: at each level, the processes at it beside the race's rounds at it."""
    found = dict.fromkeys(LEVEL_COLUMNS, np.nan)
    for level in LEVELS:
        medians = processes.loc[processes["level"] == level, "median_s"]
        rounds = np.array([found_level == level for found_level in levels], dtype=bool)
        if medians.empty or rounds.sum() < LEVEL_ROUNDS:
            continue
        alone_s, raced_s = float(medians.median()), float(np.median(np.asarray(samples)[rounds]))
        reach = np.fmax(race_aa, (medians / alone_s - 1).abs().max())
        found.update({f"{level}_alone_s": alone_s, f"{level}_processes": len(medians), f"{level}_raced_s": raced_s,
                      f"{level}_rounds": int(rounds.sum()), f"{level}_difference": raced_s / alone_s - 1,
                      f"{level}_agree": float(abs(raced_s / alone_s - 1) <= reach)})
    return found


def alone_table(table: pd.DataFrame, alone: pd.DataFrame, aa: pd.DataFrame,
                states: list[dict] = ()) -> pd.DataFrame:
    """Each plain way's time alone (the median of its fresh processes' medians, each process its framework only)
    beside its median in the race, and whether they agree: the race's median within the reach of the race's
    A/A or of how far the fresh processes differ from their own median (``spread``), whichever is wider: the
    race then reads as one more fresh process would. Where the race's A/A is past the run's bound, agreement
    says nothing (``readable`` false); a wide spread is shown, not hidden: it is how far apart users' own
    processes land. Beside them, the cores' handoff (bench/cores.py) while the race ran and the median over
    the processes, from the run's machine ``states`` (``handoff_moved`` reads them), and the minor page faults per
    call on each side with the run's cost of one (bench/faults.py; ``faults_explain`` reads them). Where the race's
    samples and its handoff after every round are known, the two sides are also set side by side level by level
    (``LEVEL_COLUMNS``: the processes that read one level before and after beside the race's rounds that did;
    ``level_agreement`` reads them).

    Where the plain way also took its turns in the race from a process of its own (bench.alone.Turns), its
    samples pair with the race's round by round (``TURN_COLUMNS``): ``turns_difference`` is the median over
    rounds of race / alone - 1, and then ``agree`` holds it to the race's A/A alone, as issue 20 asks. Where a
    second process took the same turns, ``within_processes`` says whether the race lies no farther from the
    nearer of the two than they lie from each other: one process more, whatever the race did."""
    columns = ["framework", "impl", "device", "dtype", "mode", "phase", "alone_s", "processes", "spread", "raced_s",
               "difference", "aa", "agree", "readable", "threads", "handoff_raced_lo_us", "handoff_raced_hi_us",
               "handoff_raced_us", "handoff_alone_us", "handoff_own_write_us", "faults_raced", "faults_alone",
               "faults_alone_lo", "faults_alone_hi", "fault_us", *LEVEL_COLUMNS, *TURN_COLUMNS]
    key = ["impl", "device", "dtype", "mode", *SIZE, "bias", "phase"]
    took_turns = alone["race"].fillna("").astype(str) != "" if "race" in alone else pd.Series(False, alone.index)
    turns = {(row.race, row.impl, int(row.process)): (row.samples, getattr(row, "faults_per_call", np.nan))
             for row in alone[took_turns].itertuples()}
    alone = alone[~took_turns]
    if alone.empty:
        return pd.DataFrame(columns=columns)
    handoff = {state["race"]: stage_handoff(state) for state in states}
    readings = {state["race"]: handoffs(state) for state in states}  # every stage's, in order, read once
    ends = {race: [min(found), max(found)] if found else [np.nan, np.nan] for race, found in readings.items()}
    own_write = own_write_us(list(states))
    above = far_above(own_write)
    stages = [alone_stage(*stage) for stage in zip(alone["impl"], alone["device"], alone["dtype"], alone["mode"],
                                                   alone["process"].astype(int))]
    alone = alone.assign(handoff_us=[handoff.get(stage) for stage in stages],
                         level=[level_of(readings.get(stage, []), above) for stage in stages]
                         ).astype({"handoff_us": float})
    # A run written before faults were counted has none: NaN.
    alone = alone.assign(faults_per_call=alone.get("faults_per_call", np.nan)).astype({"faults_per_call": float})
    by_way = alone.groupby([*key, "framework"], sort=False)
    fresh = by_way["median_s"].median().rename("median_s").to_frame()
    fresh["processes"] = by_way.size()
    fresh["threads"] = by_way["threads"].max() if "threads" in alone else np.nan
    fresh["spread"] = by_way["median_s"].apply(lambda medians: (medians / medians.median() - 1).abs().max())
    fresh["handoff_alone_us"] = by_way["handoff_us"].median()
    faults = by_way["faults_per_call"]
    fresh["faults_alone"], fresh["faults_alone_lo"], fresh["faults_alone_hi"] = \
        faults.median(), faults.min(), faults.max()
    raced = at_default_size(table).reindex(columns=[*key, "median_s", "race", "faults_per_call", "samples"])
    paired = fresh.reset_index().merge(raced, on=key, how="inner", suffixes=("_alone", ""))
    if paired.empty:
        return pd.DataFrame(columns=columns)
    spread = aa_spread(aa)
    difference = paired["median_s"] / paired["median_s_alone"] - 1
    race_aa = paired["race"].map(spread)
    reach = np.maximum(race_aa, paired["spread"])
    raced_ends = [ends.get(race, [np.nan, np.nan]) for race in paired["race"]]
    processes = dict(iter(by_way))
    levels = pd.DataFrame([
        _level_by_level(processes[tuple(row[[*key, "framework"]])], row["samples"],
                        round_levels(readings.get(row["race"], []), len(row["samples"]), above), row_aa)
        if isinstance(row["samples"], np.ndarray) else dict.fromkeys(LEVEL_COLUMNS, np.nan)
        for (_, row), row_aa in zip(paired.iterrows(), race_aa)], columns=LEVEL_COLUMNS, index=paired.index)
    taken = pd.DataFrame([_turns(row["samples"], row_aa, *turns.get((row["race"], row["impl"], 0), (None, np.nan)),
                                 *turns.get((row["race"], row["impl"], 1), (None, np.nan)))
                          for (_, row), row_aa in zip(paired.iterrows(), race_aa)],
                         columns=TURN_COLUMNS, index=paired.index)
    agree = (difference.abs() <= reach).where(taken["turns_difference"].isna(),
                                               taken["turns_difference"].abs() <= race_aa)
    return pd.DataFrame({"framework": paired["framework"], "impl": paired["impl"], "device": paired["device"],
                         "dtype": paired["dtype"], "mode": paired["mode"], "phase": paired["phase"],
                         "alone_s": paired["median_s_alone"], "processes": paired["processes"],
                         "threads": paired["threads"],
                         "spread": paired["spread"], "raced_s": paired["median_s"], "difference": difference,
                         "aa": race_aa, "agree": agree.astype(bool), "readable": race_aa <= AA_BOUND,
                         "handoff_raced_lo_us": [float(e[0]) for e in raced_ends],
                         "handoff_raced_hi_us": [float(e[1]) for e in raced_ends],
                         "handoff_raced_us": paired["race"].map(handoff).astype(float),
                         "handoff_alone_us": paired["handoff_alone_us"],
                         "handoff_own_write_us": own_write,
                         "faults_raced": paired["faults_per_call"].astype(float),
                         **{c: paired[c].astype(float) for c in ("faults_alone", "faults_alone_lo", "faults_alone_hi")},
                         "fault_us": fault_us(list(states)), **levels, **taken},
                        columns=columns)


def _turns(raced: np.ndarray | None, race_aa: float, alone: np.ndarray | None, faults: float | None,
           other: np.ndarray | None, other_faults: float | None) -> dict[str, float]:
    """``TURN_COLUMNS`` for one way: its first process taking turns alone against the race, and its second (where
    one took turns) against its first."""
    if not isinstance(alone, np.ndarray):
        return dict.fromkeys(TURN_COLUMNS, np.nan)
    low, high = ratio_interval(raced, alone)
    difference = paired_ratio(raced, alone) - 1
    two = isinstance(other, np.ndarray)
    processes, from_other = (paired_ratio(other, alone) - 1, paired_ratio(raced, other) - 1) if two else (np.nan, np.nan)
    return {"turns_s": float(np.median(alone)), "turns_difference": difference,
            "turns_lo": low - 1, "turns_hi": high - 1, "turns_faults": np.nan if faults is None else float(faults),
            "turns_processes": processes, "turns_other_difference": from_other,
            "turns_other_faults": np.nan if other_faults is None else float(other_faults),
            "within_processes": float(min(abs(difference), abs(from_other)) <= max(race_aa, abs(processes)))
            if two else np.nan}


def handoff_moved(found: pd.DataFrame) -> pd.Series:
    """Per row of ``alone_table``: whether the race ran at both handoff levels (trust.HANDOFF_FAR_US), or mostly at
    the other level than the fresh processes: then the two were timed on a machine in two states. False where not
    recorded, and with one thread per framework, where the processes took the same time at either level."""
    columns = ["handoff_raced_lo_us", "handoff_raced_hi_us", "handoff_raced_us", "handoff_alone_us",
               "handoff_own_write_us"]
    if not set(columns) <= set(found):
        return pd.Series(False, index=found.index)
    several = found["threads"].astype(float) > 1
    low, high, raced, alone, own_write = (found[c].astype(float) for c in columns)
    above = far_above(own_write)
    return several & (both_levels(low, high, above) | ((raced > above) != (alone > above))) & above.notna()


def per_level(found: pd.DataFrame, what: str) -> pd.DataFrame:
    """One of ``LEVEL_COLUMNS``' measures for each level, a column per level (NaN where a run has none)."""
    return found.reindex(columns=[f"{level}_{what}" for level in LEVELS]).astype(float)


def level_agreement(found: pd.DataFrame) -> pd.Series:
    """Per row of ``alone_table``: "yes" where at every handoff level both sides have (LEVEL_ROUNDS rounds of the race
    and a process), the race's rounds there agree with the processes there; "no" where at one they do not; "" where
    no level has both (or the run has no per-round readings)."""
    agree = per_level(found, "agree")
    compared = agree.notna().any(axis=1)
    return pd.Series(np.where(~compared, "", np.where((agree.fillna(1.0) == 1.0).all(axis=1), "yes", "no")),
                     index=found.index)


def faults_explain(found: pd.DataFrame) -> pd.Series:
    """Per row of ``alone_table``: whether the two sides' page faults account for their difference in time. They do
    where the extra faults per call, at the run's measured cost of one, come to at least half the difference, with
    its sign: the side that faulted more is the slower. False where not recorded."""
    if not {"faults_raced", "faults_alone", "fault_us"} <= set(found):
        return pd.Series(False, index=found.index)
    predicted_s = (found["faults_raced"].astype(float) - found["faults_alone"].astype(float)) \
        * found["fault_us"].astype(float) * 1e-6
    measured_s = found["raced_s"].astype(float) - found["alone_s"].astype(float)
    return (np.sign(predicted_s) == np.sign(measured_s)) & (predicted_s.abs() >= measured_s.abs() / 2) \
        & (measured_s != 0)


def faults_sort_with_process_2(found: pd.DataFrame) -> pd.Series:
    """Per row of ``alone_table``: whether the way's second process taking turns (where one did) sorts with the side
    whose page faults it shares: nearer the race's count or process 1's, and nearer the race's time or process 1's
    alike. Where it faults as one side and times as the other, the faults are not what separates the two: jax-grad's
    float64 step at 1 thread read 14% slower in process 1 than in the race, with 28 faults a call against none,
    while process 2, with none, read within 1% of process 1 (2026-12-05 14:00). True where there is no second
    process, or where it lies midway on either count."""
    if not {"faults_raced", "turns_faults", "turns_other_faults", "turns_difference", "turns_processes"} <= set(found):
        return pd.Series(True, index=found.index)
    raced_faults, faults, other_faults, raced, other = (found[c].astype(float) for c in (
        "faults_raced", "turns_faults", "turns_other_faults", "turns_difference", "turns_processes"))
    # Each positive where process 2 lies on process 1's side of the midpoint, negative on the race's (times as
    # ratios to process 1, which sits at 0).
    by_faults = np.sign((other_faults - (raced_faults + faults) / 2) * (faults - raced_faults))
    by_time = np.sign((other - raced / 2) * -raced)
    return (by_faults * by_time >= 0) | by_faults.isna() | by_time.isna()


def turns_faults_explain(found: pd.DataFrame) -> pd.Series:
    """Per row of ``alone_table`` with turns taken: whether page faults account for the race against process 1
    (``faults_explain`` on the turns' side) without process 2 contradicting them (``faults_sort_with_process_2``)."""
    return faults_explain(found.assign(faults_alone=found["turns_faults"], alone_s=found["turns_s"])) \
        & faults_sort_with_process_2(found)


def race_direction(alone: pd.DataFrame) -> pd.DataFrame:
    """Per framework, then over all: in how many of the readable cases the race read slower than alone, in how
    many faster, and the median of race / alone - 1. One case's difference says little where fresh processes
    differ by more; a race that slows a framework as a whole (as pool settings tuned for another once did:
    issue 20) reads slower in all its cases. They all ran in the race's one process, so they are not
    independent draws: the counts show a direction, they do not test it."""
    columns = ["framework", "slower", "faster", "median_difference"]
    # Paired with the turns taken alone where the run has them: the sharper of the two.
    took_turns = "turns_difference" in alone and alone["turns_difference"].notna().any()
    difference = alone["turns_difference" if took_turns else "difference"].astype(float)
    readable = alone.assign(difference=difference)[alone["readable"].astype(bool) & (difference != 0)]
    rows = [{"framework": framework, "slower": int((cases["difference"] > 0).sum()),
             "faster": int((cases["difference"] < 0).sum()), "median_difference": float(cases["difference"].median())}
            for framework, cases in [*readable.groupby("framework", sort=False), ("all", readable)] if len(cases)]
    return pd.DataFrame(rows, columns=columns)


def load_table(load: pd.DataFrame) -> pd.DataFrame:
    """Each implementation's × fastest in the quiet race and in the race with a busy core, and how far they differ."""
    columns = ["impl", "device", "dtype", "phase", "quiet", "busy", "shift"]
    if load.empty:
        return pd.DataFrame(columns=columns)
    rows = {}
    for condition, race in load.groupby("condition"):
        verified = race[race["verified"].astype(bool)]
        if verified.empty:
            continue
        fastest = verified.loc[verified["median_s"].idxmin()]
        for _, row in race.iterrows():
            rows.setdefault((row["impl"], row["device"], row["dtype"], row["phase"]), {})[condition] = \
                ratio(row["samples"], fastest["samples"], row["median_s"], fastest["median_s"])
    wide = pd.DataFrame([{**dict(zip(columns[:4], key)), **found} for key, found in rows.items()])
    if not {"quiet", "busy"} <= set(wide.columns):
        return pd.DataFrame(columns=columns)
    wide["shift"] = wide["busy"] / wide["quiet"] - 1
    return wide[columns].sort_values("quiet", ignore_index=True)


def swept_axes(table: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The sweep's rows along each axis that varies alone: 'N' (other sizes at the default), 'H', ..."""
    found = {}
    for axis in SIZE:
        others = [key for key in SIZE if key != axis]
        rows = table[np.logical_and.reduce([table[key] == getattr(DEFAULT, key) for key in others])]
        if rows[axis].nunique() >= 3:
            found[axis] = rows
    return found


def crossovers(table: pd.DataFrame) -> pd.DataFrame:
    """Where along a swept axis one implementation overtakes another, each size's order read from its race.

    At each size the pair's round-by-round ratio has a 95% interval; a size counts only where the
    interval excludes 1. A crossover is a pair of neighbouring counted sizes where the faster one
    changes. No correction for the many pairs and sizes: read a crossover with its neighbours.
    """
    columns = ["axis", "device", "dtype", "mode", "phase", "faster_above", "slower_above", "below", "above"]
    rows = []
    for axis, swept in swept_axes(table[table["verified"] & (table["timing"] == "latency")]).items():
        for key, cases in swept.groupby(["device", "dtype", "mode", "phase"]):
            by_impl = {impl: rows_.set_index(axis) for impl, rows_ in cases.groupby("impl")}
            for a, b in itertools.combinations(sorted(by_impl), 2):
                sizes = sorted(set(by_impl[a].index) & set(by_impl[b].index))
                order = []
                for size in sizes:
                    lo, hi = ratio_interval(by_impl[a].at[size, "samples"], by_impl[b].at[size, "samples"])
                    if hi < 1 or lo > 1:
                        order.append((size, a if hi < 1 else b))
                for (below, first), (above, second) in itertools.pairwise(order):
                    if first != second:
                        rows.append({"axis": axis, **dict(zip(["device", "dtype", "mode", "phase"], key)),
                                     "faster_above": second, "slower_above": first, "below": below, "above": above})
    return pd.DataFrame(rows, columns=columns)

