"""Comparing two runs case by case."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from bench.report.load import ReportError, read_run
from bench.schema import CASE_ID


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
