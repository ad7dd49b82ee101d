"""Tables: the measured peaks, GEMM floors and ceilings, and one row per case with its derived measures."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pandas as pd

from bench.report.load import ReportError
from bench.report.statistics import ratio, ratio_interval
from bench.schema import CASE_ID, COLUMNS, RACE, SIZE
from bench.sizes import PHASES, flops, matmuls
from reference.problem.inputs import Problem

DEFAULT = Problem()
NOISY = 0.10  # IQR/median above which a median is flagged as unreliable
#: What one fit of time against FLOPs is over: every size of one implementation's case.
FIT_GROUP = ["impl", "device", "dtype", "mode", "bias", "phase", "timing"]


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
        problem = Problem(**{key: int(value) for key, value in zip(SIZE, size)})
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
               launch: pd.DataFrame | None = None, keep_samples: bool = False) -> pd.DataFrame:
    """benchmarks.csv: one row per case with its derived measures (bench.schema's COLUMNS), and with
    ``keep_samples`` each raced case's samples too."""
    cases = case.copy()
    cases["threads"] = cases["threads"].astype("Int64")
    duplicated = cases.duplicated(CASE_ID)
    if duplicated.any():
        first = cases.loc[duplicated, CASE_ID].iloc[0].to_dict()
        raise ReportError(f"{raw_json}: case {first} appears more than once")
    cases["gflops"] = cases["flops"] / cases["median_s"] / 1e9

    best_peak = peak_table.groupby(["device", "dtype"], as_index=False)["gflops"].max()
    cases = cases.merge(best_peak.rename(columns={"gflops": "peak_gflops"}), on=["device", "dtype"], how="left")
    cases["pct_peak"] = 100 * cases["gflops"] / cases["peak_gflops"]

    cases = cases.merge(floors[["device", "dtype", *SIZE, "phase", "floor_s"]], on=["device", "dtype", *SIZE, "phase"],
                        how="left").rename(columns={"floor_s": "gemm_floor_s"})
    cases["ratio_to_floor"] = cases["median_s"] / cases["gemm_floor_s"]
    cases["verified"] = cases["verified"].fillna(True).astype(bool)
    cases = against_fastest(cases)

    # Each row gets its implementation's grads and forward medians at the same device, numerics and size.
    same_impl = cases.groupby([key for key in CASE_ID if key != "phase"], dropna=False)
    phase_median = {phase: same_impl["median_s"].transform(lambda m, p=phase: m[cases.loc[m.index, "phase"] == p].max())
                    for phase in ("grads", "forward")}
    cases["grads_over_forward"] = phase_median["grads"] / phase_median["forward"]
    cases["launch_floor_s"] = cases["kernels_per_call"] * launch_cost(launch, cases["device"])
    cases["noise"] = cases["iqr_s"] / cases["median_s"]
    cases["noisy"] = cases["noise"] > NOISY

    phase_order = cases["phase"].map({phase: i for i, phase in enumerate(PHASES)})
    order = ["device", "dtype", "mode", *SIZE, "bias", "impl"]
    fitted = fits(cases)
    cases = cases.merge(fitted, on=FIT_GROUP, how="left")
    ordered = cases.assign(_phase=phase_order).sort_values([*order, "_phase"], ignore_index=True)
    return ordered[COLUMNS + (["samples"] if keep_samples else [])]


def full_work(rows: pd.DataFrame) -> pd.Series:
    """Whether each row's call does its phase's whole work at its size: not a mini-batch (fewer rows)
    nor another network (more products), read from the FLOPs the writer recorded."""
    whole = [flops(Problem(**{key: int(getattr(row, key)) for key in SIZE}), row.phase)
             for row in rows[[*SIZE, "phase"]].itertuples()]
    return pd.Series(np.asarray(whole) == rows["flops"].to_numpy(), index=rows.index)


def against_fastest(cases: pd.DataFrame) -> pd.DataFrame:
    """ratio_to_fastest and its 95% interval: each case over its race's yardstick, round by round.

    The yardstick is the fastest verified case doing the phase's whole work: a flagged wrong one
    is none, and neither is a mini-batch step, which trains on fewer rows. (Where no case does
    the whole work, the fastest verified one.)
    """
    cases = cases.copy()
    cases["ratio_to_fastest"] = cases["ratio_to_fastest_lo"] = cases["ratio_to_fastest_hi"] = np.nan
    whole = full_work(cases)
    for _, race in cases.groupby(RACE, dropna=False):
        verified = race[race["verified"]]
        if verified.empty:
            continue
        candidates = verified[whole[verified.index]] if whole[verified.index].any() else verified
        best = candidates["median_s"].idxmin()
        for row in race.index:
            mine, theirs = cases.at[row, "samples"], cases.at[best, "samples"]
            cases.loc[row, "ratio_to_fastest"] = ratio(mine, theirs, cases.at[row, "median_s"],
                                                       cases.at[best, "median_s"])
            cases.loc[row, ["ratio_to_fastest_lo", "ratio_to_fastest_hi"]] = ratio_interval(mine, theirs)
    return cases


def fits(table: pd.DataFrame) -> pd.DataFrame:
    """time = fixed + per_flop × FLOPs per implementation, device, numerics, phase and timing, over the sizes.

    Least squares on relative residuals (each point weighted by 1/time), so that the smallest sizes,
    where the fixed cost shows, count as much as the largest. Needs three sizes or more.
    """
    rows = []
    for key, cases in table[table["verified"]].groupby(FIT_GROUP):
        if cases[SIZE].drop_duplicates().shape[0] < 3:
            continue
        weight = 1 / cases["median_s"].to_numpy()
        design = np.column_stack([np.ones(len(cases)), cases["flops"].to_numpy(dtype=float)]) * weight[:, None]
        (fixed, per_flop), *_ = np.linalg.lstsq(design, np.ones(len(cases)), rcond=None)
        rows.append({**dict(zip(FIT_GROUP, key)), "fit_fixed_s": fixed, "fit_s_per_flop": per_flop})
    return pd.DataFrame(rows, columns=[*FIT_GROUP, "fit_fixed_s", "fit_s_per_flop"])


@functools.cache
def variant_of(impl: str) -> str:
    """What an implementation changes from a plain way of the card (SGD on the full batch of the
    two-layer network): "optimizer adam", "batching minibatch", "model dynamic"; "" for a plain way.

    Read from its class's declaration in the registry, without building it (torch.compile's takes
    seconds); a plug-in, or one whose framework is missing here, counts as a plain way (its
    declaration is not in the run's files).
    """
    import importlib

    from impls import REGISTRY
    if impl not in REGISTRY:
        return ""
    module, attribute = REGISTRY[impl].split(":")
    try:
        declared = getattr(importlib.import_module(module), attribute)
    except ImportError:
        return ""
    return ", ".join(f"{what} {value}" for what, value, plain in (
        ("model", declared.model, "two-layer"), ("batching", declared.batching, "full"),
        ("optimizer", declared.optimizer, "sgd")) if value != plain)


def at_default_size(table: pd.DataFrame) -> pd.DataFrame:
    """The rows at the tutorial's size (N=64, D_in=1000, H=100, D_out=10, no bias), latency timing."""
    mask = np.logical_and.reduce([table[key] == getattr(DEFAULT, key) for key in SIZE])
    if "bias" in table:
        mask &= table["bias"] == DEFAULT.bias
    if "timing" in table:
        mask &= table["timing"] == "latency"
    return table[mask]
