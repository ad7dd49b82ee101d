"""The answer a run gives first: at the default size, which plain way is fastest, by how much, how sure.

A plain way is one of the card's ways of writing the network (SGD on the full batch of the
two-layer network), compiled or not; the other implementations are variants (another optimizer,
mini-batches, another network: ``tables.variant_of``), shown by the phase that differs, their step.
Every ratio is over the fastest verified plain way of the same race, round by round (paired
samples), with its 95% interval. A ratio nearer 1 than its race's A/A (one case timed twice;
for cases timed alone, the run's largest A/A) reads **same**: the run cannot tell it from the
fastest. A ratio is marked **noisy** when its interval is wider than its distance from 1: which
side of 1 it lies is not settled.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from bench.report.findings import Findings
from bench.report.plots import by_facet, panel_title
from bench.report.statistics import ratio, ratio_interval
from bench.report.trust import Judgement, aa_spread, judge, pool_tuning
from bench.report.tables import DEFAULT, at_default_size, full_work, variant_of
from bench.sizes import flops

#: The headline's place in a markdown file that carries it (README): between these two lines.
MARKERS = ("<!-- headline:begin -->", "<!-- headline:end -->")


def versus_plain(default: pd.DataFrame, aa: pd.DataFrame) -> pd.DataFrame:
    """The default size's latency rows with ``variant``, ``rows_trained`` and, over the fastest plain
    way of the same race: ``times``, ``times_lo``, ``times_hi`` (per row trained for a mini-batch
    step), ``yardstick``, ``same`` and ``noisy``."""
    rows = default.assign(variant=default["impl"].map(variant_of))
    whole = np.array([flops(DEFAULT, phase) for phase in rows["phase"]], dtype=float)
    # A mini-batch step trains on fewer rows than N; its FLOPs say how many (the products are linear in N).
    whole_work = full_work(rows)
    fewer = ~whole_work & (rows["flops"] < whole)
    rows["rows_trained"] = np.where(fewer, DEFAULT.N * rows["flops"] / whole, DEFAULT.N)
    rows = rows.assign(times=np.nan, times_lo=np.nan, times_hi=np.nan, yardstick=False, same=False, noisy=False)
    bounds = aa_spread(aa)
    for _, race in rows.groupby(["device", "dtype", "mode", "phase"]):
        # The yardstick does the phase's whole work: a plug-in's mini-batch step is no plain way's measure.
        plain = race[(race["variant"] == "") & race["verified"] & whole_work[race.index]]
        if plain.empty:
            continue
        best = plain["median_s"].idxmin()
        rows.loc[best, "yardstick"] = True
        for index in race.index:
            mine, theirs = rows.at[index, "samples"], rows.at[best, "samples"]
            per_row = DEFAULT.N / rows.at[index, "rows_trained"]
            value = per_row * ratio(mine, theirs, rows.at[index, "median_s"], rows.at[best, "median_s"])
            lo, hi = (per_row * bound for bound in ratio_interval(mine, theirs))
            rows.loc[index, ["times", "times_lo", "times_hi"]] = value, lo, hi
            distance = abs(value - 1)
            # A race without its own A/A (cases timed alone) is read against the run's largest.
            bound = bounds.get(rows.at[index, "race"], max(bounds.values(), default=0))
            rows.loc[index, "same"] = index != best and distance < bound
            rows.loc[index, "noisy"] = index != best and not rows.at[index, "same"] and hi - lo > distance
    return rows


def times(row: pd.Series) -> str:
    """× the fastest plain way, its interval, and the flag: '1.42× (1.40–1.44)', 'fastest', 'same (1.02×)'."""
    if row["yardstick"]:
        return "fastest"
    if pd.isna(row["times"]):
        return "–"
    if row["same"]:
        return f"same ({_ratio(row['times'])}×)"
    interval = "" if pd.isna(row["times_lo"]) else f" ({_ratio(row['times_lo'])}–{_ratio(row['times_hi'])})"
    return f"{_ratio(row['times'])}×{interval}" + (" **noisy**" if row["noisy"] else "")


def _ratio(value: float) -> str:
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def _us(value: float) -> str:
    return "–" if pd.isna(value) else f"{value * 1e6:,.0f}" if value >= 1e-3 else f"{value * 1e6:,.1f}"


def plain_table(rows: pd.DataFrame) -> list[str]:
    """One facet's plain ways, fastest step first: step and grads, each in µs and × the fastest."""
    plain = rows[rows["variant"] == ""]
    by_phase = {phase: plain[plain["phase"] == phase].set_index("impl") for phase in ("step", "grads")}
    # Ordered by × fastest (paired rounds), the better estimate where two medians lie close.
    order = (by_phase["step"] if not by_phase["step"].empty else by_phase["grads"]).sort_values("times").index.tolist()
    lines = ["| way | step µs | × fastest step | grads µs | × fastest grads |",
             "| --- | ---: | ---: | ---: | ---: |"]
    for impl in order:
        cells = []
        for phase in ("step", "grads"):
            found = by_phase[phase]
            row = found.loc[impl] if impl in found.index else None
            cells += ["–", "–"] if row is None else [_us(row["median_s"]), times(row)]
        name = impl if plain.loc[plain["impl"] == impl, "verified"].all() else f"{impl} **unverified**"
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def sentence(title: str, rows: pd.DataFrame) -> str:
    """'**cpu float32**: numpy-manual has the fastest step (348 µs); torch-manual takes 1.26× as long, jax-grad
    1.63×, ...', and which of those ratios read the same or are noisy."""
    plain = rows[(rows["variant"] == "")]
    phase = "step" if (plain["phase"] == "step").any() else "grads"
    ranked = plain[plain["phase"] == phase].sort_values("times")
    if ranked.empty or not ranked["yardstick"].any():
        return f"**{title}**: no verified plain way timed here."
    best = ranked[ranked["yardstick"]].iloc[0]
    others = ranked[~ranked["yardstick"]]
    text = f"**{title}**: {best['impl']} has the fastest {phase} ({_us(best['median_s'])} µs)"
    if not others.empty:
        first, *rest = others.itertuples()
        text += f"; {first.impl} takes {_ratio(first.times)}× as long" + "".join(
            f", {r.impl} {_ratio(r.times)}×" for r in rest)
    same = others[others["same"]]["impl"].tolist()
    if same:
        text += f". The same as the fastest within the A/A: {', '.join(same)}"
    unsure = others[others["noisy"]]["impl"].tolist()
    if unsure:
        text += f". Noisy (interval wider than the gap from 1): {', '.join(unsure)}"
    return text + "."


def headline(rows: pd.DataFrame) -> list[str]:
    """Per device and dtype: the sentence and the plain ways' table (rows: ``versus_plain``'s)."""
    lines = []
    for title, facet in by_facet(rows):
        lines += [sentence(title, facet), "", *plain_table(facet), ""]
    return lines or ["No plain way timed at the default size in this run.", ""]


def variants_table(rows: pd.DataFrame) -> list[str]:
    """The variants' steps: per row trained where a step trains on fewer rows, beside the fastest plain step."""
    steps = rows[(rows["variant"] != "") & (rows["phase"] == "step")].sort_values(["device", "dtype", "mode", "times"])
    if steps.empty:
        return ["No variant timed at the default size in this run."]
    frame = pd.DataFrame({
        "variant": steps["impl"], "differs in": steps["variant"],
        "on": [panel_title(d, t, m) for d, t, m in zip(steps["device"], steps["dtype"], steps["mode"])],
        "step µs": [_us(v) for v in steps["median_s"]],
        "rows trained": [f"{v:.0f}" for v in steps["rows_trained"]],
        "µs per row": [_us(m / n) for m, n in zip(steps["median_s"], steps["rows_trained"])],
        "× fastest plain step, per row": [times(row) for _, row in steps.iterrows()],
        "GFLOP/s": [f"{v:.1f}" for v in steps["gflops"]]})
    lines = ["| " + " | ".join(frame.columns) + " |", "| --- | --- | --- |" + " ---: |" * (len(frame.columns) - 3)]
    return lines + ["| " + " | ".join(map(str, row)) + " |" for row in frame.itertuples(index=False)]


def headline_markdown(run_dir: Path) -> str:
    """The headline block of a run folder (its own files, as committed): ``headline_block``."""
    from bench.report.load import read_committed

    table, _, _, findings = read_committed(Path(run_dir))
    return headline_block(run_dir, versus_plain(at_default_size(table), findings.aa), findings)


def headline_on_page(run_dir: Path, page: Path) -> str:
    """The headline block as a page other than the run's own shows it (README's): led by which run it is,
    linked from ``page``'s folder, with the command that made it, then ``headline_markdown``."""
    from bench.report.load import read_machine

    link = Path(os.path.relpath(Path(run_dir).resolve(), Path(page).resolve().parent)).as_posix()
    command = read_machine(run_dir).get("command")
    made_by = f", `{command}`" if command else ""
    return f"From [{Path(run_dir).name}]({link}/summary.md){made_by}.\n\n" + headline_markdown(run_dir)


def headline_block(run_dir: Path, rows: pd.DataFrame, findings: Findings) -> str:
    """The headline of ``rows`` (``versus_plain``'s), led by the run's warning where it judges itself
    unreliable (trust.judge: the lines before its facts), wherever the headline goes: README, LATEST.md."""
    verdict = verdict_of(run_dir, findings)
    warning = [*verdict.warning, ""] if verdict.warning else []
    return "\n".join([*warning, *headline(rows)]).rstrip() + "\n"


def splice(text: str, block: str, where: str) -> str:
    """``text`` with what lies between its headline MARKERS replaced by ``block`` (README's headline);
    a ValueError naming ``where`` unless each marker is there once, begin before end."""
    begin, end = MARKERS
    if text.count(begin) != 1 or text.count(end) != 1 or text.index(begin) > text.index(end):
        raise ValueError(f"{where}: needs the lines {begin} and {end}, once each and in that order")
    head, rest = text.split(begin)
    return f"{head}{begin}\n{block.rstrip()}\n{end}{rest.split(end)[1]}"


#: Options of the main job that change what it times; a run made with one is not the job as README runs it.
SELECTING = ("--impl", "--impl-path", "--device", "--dtype", "--mode", "--preset", "--threads", "--rounds")


def verdict_of(run_dir: Path, findings: Findings) -> Judgement:
    """The run's judgement of itself (``trust.judge``) from its findings and the pool settings its machine.json records."""
    from bench.report.load import read_machine

    return judge(findings.machine_state, findings.aa, pool_tuning(read_machine(run_dir)))


def runs_in(results: Path) -> list[Path]:
    """The run folders under ``results`` (those with a benchmarks.csv), oldest first: their names start with
    their UTC start time. FileNotFoundError where there is none."""
    runs = sorted(path for path in Path(results).iterdir() if (path / "benchmarks.csv").is_file())
    if not runs:
        raise FileNotFoundError(f"{results}: no run folder (with a benchmarks.csv) here")
    return runs


def front_door_run(results: Path) -> Path:
    """The run README's headline shows: the newest made by the main job as README runs it (every way, both
    dtypes, every phase at the default size, every core: no option in SELECTING), whose A/A was measured and
    whose own summary calls it reliable (``trust.judge``). A sweep, a run at one thread or of a few ways,
    one on a busy machine, or one whose machine.json is missing never takes the front door; where no run
    qualifies, the newest of all, as LATEST.md shows."""
    import shlex

    from bench.report.load import read_findings, read_machine

    runs = runs_in(results)
    for run in reversed(runs):
        command = shlex.split(read_machine(run).get("command") or "")
        if not command or any(arg.split("=")[0] in SELECTING for arg in command):
            continue
        findings = read_findings(run)
        if not findings.aa.empty and verdict_of(run, findings).reliable:
            return run
    return runs[-1]


def latest(results: Path, newest_headline: str | None = None) -> str:
    """results/LATEST.md: the newest run's headline (``newest_headline`` where given), then every run
    there with its command, machine, threads and A/A (run folders are named by their UTC start time,
    so the newest sorts last: ``runs_in``)."""
    from bench.report.load import read_findings

    runs = runs_in(results)
    newest = runs[-1]
    lines = ["# Newest run", "", f"[{newest.name}]({newest.name}/summary.md): {_facts(newest)['command']}", "",
             MARKERS[0], (newest_headline or headline_markdown(newest)).rstrip(), MARKERS[1], "",
             "## Every run here", "", "| run | command | machine | threads | A/A (largest over its races) |",
             "| --- | --- | --- | ---: | ---: |"]
    for run in reversed(runs):
        facts = _facts(run)
        aa = read_findings(run).aa
        spread = "–" if aa.empty else f"{100 * aa['difference'].abs().max():.1f}% ({len(aa)} races)"
        lines.append(f"| [{run.name}]({run.name}/summary.md) | {facts['command']} | {facts['machine']} | "
                     f"{facts['threads']} | {spread} |")
    return "\n".join(lines) + "\n"


def _facts(run: Path) -> dict[str, str]:
    """A run's command, machine and threads per framework, from its machine.json ('–' where unknown)."""
    from bench.report.load import read_machine

    machine = read_machine(run)
    where = ", ".join(str(part) for part in (machine.get("cpu"), machine.get("cores") and f"{machine['cores']} cores",
                                             machine.get("gpu") and ", ".join(map(str, machine["gpu"].values())))
                      if part)
    command = machine.get("command")
    return {"command": f"`{command}`" if command else "–", "machine": where or "–",
            "threads": (machine.get("threads") or {}).get("OMP_NUM_THREADS", "–")}
