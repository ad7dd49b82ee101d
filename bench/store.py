"""Where the races' measurements go: one JSON file in pytest-benchmark's schema, raw samples included.

Each timed contender is one entry of ``benchmarks``, as pytest-benchmark writes them with
``--benchmark-save-data``: ``extra_info`` from a bench.schema record, ``stats`` per invocation
with every round's sample in ``stats.data`` (aligned by round across the entries of one race,
so ratios can be taken round by round). ``excluded`` lists the cases that were not timed and why,
``machine_state`` what the machine did while each race ran (bench.state).
The report reads this file beside pytest-benchmark's own (bench/report/load.py).
"""

from __future__ import annotations

import datetime
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from bench.race import Timings
from bench.schema import Record
from bench.state import STATES

ENTRIES = pytest.StashKey[list]()
EXCLUDED = pytest.StashKey[list]()


def stats(samples: np.ndarray) -> dict:
    """pytest-benchmark's stats of one contender's samples (seconds per invocation), with the samples."""
    q1, median, q3 = np.percentile(samples, [25, 50, 75])
    return {"min": float(samples.min()), "max": float(samples.max()), "mean": float(samples.mean()),
            "stddev": float(samples.std(ddof=1)) if len(samples) > 1 else 0.0, "rounds": len(samples),
            "median": float(median), "q1": float(q1), "q3": float(q3), "iqr": float(q3 - q1),
            "data": [float(s) for s in samples]}


def recorded(config, record: Record, timings: Timings, key: str) -> None:
    """Keep one contender's record and samples for the races file."""
    config.stash.setdefault(ENTRIES, []).append({
        "name": f"{getattr(record, 'race', '')} {key}", "group": getattr(record, "race", ""),
        "extra_info": record.extra_info(), "stats": stats(timings.samples_s[key])})


def excluded(config, impl: str, race_key, reason: str) -> None:
    """A case left out of its race, and why (once per implementation and reason in the summary)."""
    config.stash.setdefault(EXCLUDED, []).append({
        "impl": impl, "device": race_key.device, "dtype": race_key.dtype, "mode": race_key.mode,
        **{k: v for k, v in asdict(race_key.problem).items() if k != "seed"}, "phase": race_key.phase,
        "timing": race_key.timing, "reason": reason})


def write(config, path: Path) -> None:
    """The races file; never over an existing one."""
    document = {"datetime": datetime.datetime.now(datetime.timezone.utc).isoformat(), "version": "bench.race (shuffled rounds)",
                "benchmarks": config.stash.get(ENTRIES, []), "excluded": config.stash.get(EXCLUDED, []),
                "machine_state": config.stash.get(STATES, [])}
    with open(path, "x") as file:
        json.dump(document, file)


def excluded_by_reason(config) -> dict[str, list[str]]:
    """Reason -> the implementations it kept out (each once), for the end-of-run listing."""
    grouped: dict[str, list[str]] = {}
    for entry in config.stash.get(EXCLUDED, []):
        names = grouped.setdefault(entry["reason"], [])
        if entry["impl"] not in names:
            names.append(entry["impl"])
    return grouped
