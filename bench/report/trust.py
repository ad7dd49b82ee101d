"""Whether a run can be trusted: the machine's state while each race ran, and each race's A/A.

A run on a busy machine still produces tables; this module says when they cannot be read. It
judges every timed stage the run recorded (bench/state.py: the cores other processes took, the
load average) and every race's A/A twin (bench.report.analysis.aa_table). The summary's first
lines and the job's last lines are ``judge(...).lines``; a × fastest inside its race's A/A reads
"same" (bench.report.headline, with ``aa_spread``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from impls.threads import POOL_TUNING

#: The largest A/A a trusted race may show: |A2/A1 - 1| of its twin, its median over paired rounds and
#: either end of that median's 95% interval.
#: The report's readings are ratios of that order or larger: targets of 1.15x and 1.3x over a
#: framework's own products, runs that should agree within 5% (issue 20), alone against raced.
#: A race whose one case differs from itself by more than 5% cannot tell those apart.
AA_BOUND = 0.05
#: The largest share of the benchmark's own cores that other processes may take during a stage.
#: Others may use the cores the benchmark's threads leave free (cores - threads) for nothing; past
#: that, each core-second they take is one the benchmark's threads wait for, and it falls on
#: whichever contender runs then, not on all alike. Taking more than 5% of the benchmark's cores
#: can move a ratio by more than the 5% that AA_BOUND lets the report read, so the same bound.
CONTENTION_BOUND = 0.05
#: The cores' handoff (bench/cores.py: µs to read 400 KB another core wrote) reads at one of two levels here,
#: each lasting seconds to minutes: of 1,168 readings in the five runs of 2026-12-04/05, all read 9.2 to 12.8
#: µs or 15.3 to 24.9 but one (13.5), where 400 KB a core wrote itself read 9.0 (median). A reading is "far"
#: where it exceeds the run's own-write time by more than this, "near" otherwise. Fresh 2-thread processes
#: near and far took 270-286 and 608-621 µs for numpy-manual's float32 step, 369 and 549-587 for
#: torch-autograd's (default run of 23:39): 1.3 to 2.2x as long, numpy's the most. Times near and far cannot
#: be set side by side, nor can rounds of both in one race.
HANDOFF_FAR_US = 5.0


@dataclass(frozen=True)
class Judgement:
    """The verdict on one run: whether it is reliable, and the lines that say so and why."""

    reliable: bool
    lines: list[str]
    warning: list[str]       # the lines that say it is not reliable and why (none for a reliable run)


def aa_spread(aa: pd.DataFrame) -> dict[str, float]:
    """Per race: how far from 1 its A/A reaches, the median difference or either end of its 95% interval."""
    if aa.empty:
        return {}
    # Read back from findings.json, a missing end is None: a number or NaN here.
    ends = aa[[c for c in ("difference", "difference_lo", "difference_hi") if c in aa]].astype(float).abs()
    return dict(zip(aa["race"], ends.max(axis=1, skipna=True)))


def contention(state: dict[str, Any]) -> float | None:
    """The share of the benchmark's cores other processes took during a stage; None where not known.

    Where /proc/stat could not be read, the load average stands in (it counts this process's
    threads too, so they are taken off); it averages over a minute, so it is the weaker measure.
    """
    threads, cores = max(1, state["threads"]), max(1, state["cores"])
    others = state.get("others_cores")
    if others is None and state.get("load_average") is not None:
        others = max(0.0, state["load_average"] - threads)
    if others is None:
        return None
    return max(0.0, others - (cores - threads)) / threads


def handoffs(state: dict[str, Any]) -> list[float]:
    """The cores' handoff in µs measured before a stage, after each of its rounds (a race) and after it: those that
    were measured (none in runs written before it was)."""
    before, after = (*(state.get("handoff_us") or ()), None, None)[:2]
    return [v for v in (before, *(state.get("handoff_rounds_us") or ()), after) if v is not None]


def _median(found: list[float]) -> float | None:
    return float(np.median(found)) if found else None


def stage_handoff(state: dict[str, Any]) -> float | None:
    """One stage's handoff: the median of its measurements (the level it mostly ran at), None where none was taken."""
    return _median(handoffs(state))


def _readings(states: list[dict[str, Any]], key: str) -> list[float]:
    """One reading per stage that took it (none in runs written before it was taken)."""
    return [s[key] for s in states if s.get(key) is not None]


def own_write_us(states: list[dict[str, Any]]) -> float | None:
    """The run's median time for a core to read 400 KB it wrote itself; None where the handoff was not measured."""
    return _median(_readings(states, "handoff_local_us"))


def fault_us(states: list[dict[str, Any]]) -> float | None:
    """The run's median µs per minor page fault (bench/faults.py); None where not measured."""
    return _median(_readings(states, "fault_us"))


def far_above(own_write: float | None) -> float | None:
    """The handoff in µs above which a reading is far: the run's own-write time plus HANDOFF_FAR_US."""
    return None if own_write is None else own_write + HANDOFF_FAR_US


def both_levels(lowest, highest, above):
    """Whether readings from ``lowest`` to ``highest`` lie on both sides of ``above`` (numbers or Series alike)."""
    return (lowest <= above) & (highest > above)


def _handoff_line(states: list[dict[str, Any]]) -> str | None:
    measured, above = [v for s in states for v in handoffs(s)], far_above(own_write_us(states))
    if not measured or above is None:
        return None
    far = sum(v > above for v in measured)
    judged = ("not judged with one thread per framework: the processes of a 1-thread run took the same time near "
              "and far" if states[0]["threads"] <= 1 else
              "a race with readings of both cannot be read, and the alone table marks a pair timed at two levels")
    return (f"Cores' handoff (bench/cores.py): one core read 400 KB another had just written in {min(measured):.1f} "
            f"to {max(measured):.1f} µs around the timed stages"
            + (" and after each race round" if any(s.get("handoff_rounds_us") for s in states) else "")
            + f"; {far} of {len(measured)} readings far (above {above:.1f} µs, the 400 KB a core wrote itself plus "
            f"{HANDOFF_FAR_US:.0f}); {judged}.")


def _fault_line(states: list[dict[str, Any]]) -> str | None:
    found = _readings(states, "fault_us")
    if not found:
        return None
    return (f"Page faults (bench/faults.py): one minor fault cost {_median(found):.2f} µs (median over {len(found)} "
            f"timed stages, {min(found):.2f} to {max(found):.2f}); a call that faults in fresh memory pays that per "
            "page.")


def _state_line(states: list[dict[str, Any]]) -> str:
    if not states:
        return ("Machine state: not recorded (a run written before it was, or a report of a raw file without it); "
                "nothing says whether other processes took the cores.")
    others = [s["others_cores"] for s in states if s.get("others_cores") is not None]
    loads = [s["load_average"] for s in states if s.get("load_average") is not None]
    cores, threads = states[0]["cores"], states[0]["threads"]
    took = (f"other processes took {np.median(others):.2f} of {cores} cores (median over {len(others)} timed "
            f"stages), at most {max(others):.2f}" if others else "other processes' CPU time unknown (no /proc/stat)")
    load = f"; 1-minute load average at most {max(loads):.2f}" if loads else ""
    return f"Machine state: {took}{load}; {threads} thread(s) per framework."


def _aa_line(spread: dict[str, float]) -> str:
    if not spread:
        return "A/A: not measured in this run; no race says how far a case differs from itself."
    return (f"A/A: each latency race's twin differs from itself by at most {100 * max(spread.values()):.1f}% "
            f"(median over {len(spread)} race(s) {100 * float(np.median(list(spread.values()))):.1f}%), counting "
            "the far end of its 95% interval; a × fastest inside its race's A/A reads \"same\".")


def pool_tuning(machine: dict[str, Any]) -> dict[str, str]:
    """The pool settings (impls.threads.POOL_TUNING) a run's machine.json says were set while it was timed."""
    threads = machine.get("threads") or {}
    return {var: threads[var] for var in POOL_TUNING if threads.get(var)}


def _medians_within(aa: pd.DataFrame) -> set[str]:
    """The races whose A/A twin's two medians differ by no more than AA_BOUND (their interval may reach past it)."""
    if aa.empty:
        return set()
    return set(aa.loc[aa["difference"].astype(float).abs() <= AA_BOUND, "race"])


def judge(states: list[dict[str, Any]], aa: pd.DataFrame, tuned: dict[str, str] | None = None) -> Judgement:
    """The run's verdict from its recorded machine states, its A/A table and the pool settings it ran under.

    A race whose twin's medians agree but whose interval reaches past the bound was timed in too few rounds
    for how far its rounds scatter: its warning says that more rounds narrow it, where a busy machine's says
    to rerun.
    """
    spread, agreeing = aa_spread(aa), _medians_within(aa)
    problems, wide = [], 0
    if tuned:
        # Measured: GOMP_SPINCOUNT=1000 with OPENBLAS_THREAD_TIMEOUT=4 made torch autograd's gradients 1.9x
        # slower alone at 2 threads (issue 20): such a run ranks the frameworks by its settings.
        problems.append(f"- every stage: timed with {', '.join(f'{k}={v}' for k, v in tuned.items())} set, pool "
                        "settings that change a framework's time alone: ratios between frameworks are not those "
                        "their users see")
    for race, reach in sorted(spread.items()):
        if reach > AA_BOUND:
            why = ""
            if race in agreeing:
                wide += 1
                why = "; its twin's medians agree, so the width is its 95% interval's: more rounds (--rounds) narrow it"
            problems.append(f"- {race}: A/A {100 * reach:.1f}% (bound {100 * AA_BOUND:.0f}%): differences "
                            f"within {100 * reach:.1f}% of 1 in this race cannot be read{why}")
    above = far_above(own_write_us(states))
    for state in states:
        found = handoffs(state)
        if state["threads"] > 1 and above is not None and found and both_levels(min(found), max(found), above) \
                and not state["race"].startswith("alone"):
            far = sum(v > above for v in found)
            problems.append(f"- {state['race']}: the cores' handoff read far (above {above:.1f} µs) in {far} and near "
                            f"in {len(found) - far} of its {len(found)} readings: its rounds were timed in two states "
                            "of the machine, which slow the frameworks unalike: its ratios cannot be read")
        taken = contention(state)
        if taken is not None and taken > CONTENTION_BOUND:
            what = ("its time alone cannot be set beside its time in the race" if state["race"].startswith("alone")
                    else "its ratios between cases, frameworks above all (timed in turn), cannot be read")
            problems.append(f"- {state['race']}: other processes took {100 * taken:.0f}% of the benchmark's "
                            f"{state['threads']} core(s) (bound {100 * CONTENTION_BOUND:.0f}%): {what}")
    facts = [_state_line(states), *filter(None, [_handoff_line(states), _fault_line(states)]), _aa_line(spread)]
    bounds = f"A/A {100 * AA_BOUND:.0f}%, others' share of the benchmark's cores {100 * CONTENTION_BOUND:.0f}%" + (
        ", one handoff level per race" if any(handoffs(state) and state["threads"] > 1 for state in states) else "")
    if not problems:
        known = "the run can be read" if states else "the run can be read as far as its A/A tells"
        return Judgement(True, [*facts, f"Within the bounds ({bounds}): {known}."], [])
    if wide == len(problems):
        quiet = f"; other processes within {100 * CONTENTION_BOUND:.0f}% of the cores" if states else ""
        warning = [f"**This run cannot read small differences** ({wide} race(s) whose A/A interval reaches past "
                   f"{100 * AA_BOUND:.0f}% though its twin's medians agree{quiet}). Read only ratios beyond each "
                   "race's A/A, or rerun with more rounds (--rounds):", *problems]
    else:
        warning = [f"**This run is not reliable** ({len(problems)} finding(s) past the bounds: {bounds}, "
                   "no pool settings). Rerun before reading:", *problems]
    return Judgement(False, [*warning, *facts], warning)


def judge_run(raw: Path) -> Judgement:
    """The verdict on a run from its raw/ folder (or one raw JSON file), for the job's last lines."""
    from bench.report.analysis import aa_table
    from bench.report.load import load_raw, read_machine
    document, frames = load_raw(raw)
    return judge(document.get("machine_state", []), aa_table(frames["aa"]), pool_tuning(read_machine(Path(raw).parent)))
