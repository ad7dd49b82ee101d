"""The main job's options, defined once, and the ``Plan`` they become, validated once.

``python -m bench`` (argparse) and ``pytest --benchmark`` take the same options from ``FLAGS``;
both parse them into a ``Plan`` and hand it to ``bench.job.run``. The job writes the plan as one
JSON file in the run's raw/ folder, and its child pytest reads that file (``--bench-plan``) instead
of parsing the options again. Under pytest the selection's options (``SELECTION``) are the checking
plugin's own: one definition, shared with the checks.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import pytest

from bench.sizes import PRESETS, Preset
from reference.harness.selection import CHOICES, add_selection_options, choose



def _about(preset: Preset) -> str:
    """One preset in a few words, from its fields: '1 size, forward/grads/step, 15 rounds, no ceilings'."""
    return ", ".join(part for part in (
        f"{len(preset.sizes)} size{'s' if len(preset.sizes) > 1 else ''}", "/".join(preset.phases),
        f"{preset.rounds} rounds", "/".join(preset.timings), "" if preset.variants else "no variants",
        "" if preset.ceilings else "no ceilings or load test", "" if preset.dtype == "all" else preset.dtype,
        "" if preset.ways is None else f"the {len(preset.ways)} tutorial ways and yours")
        if part)


#: The main job's own options, as argparse's add_argument and pytest's addoption both take them.
FLAGS: dict[str, dict[str, Any]] = {
    "--preset": dict(default="default", help="what to time: " + "; ".join(
        f"{name} ({_about(preset)})" for name, preset in PRESETS.items()) + " (default: default)"),
    "--threads": dict(default="all", help="threads per framework: 'all' (default: every core) or a number, e.g. 1"),
    "--time-unverified": dict(action="store_true",
                              help="time cases that fail verification too (flagged in every table and plot)"),
    "--rounds": dict(type=int, default=None, help="rounds per race (default: the preset's); the GEMM floors' and "
                                                 "the peak's products take as many, at most 25 (default: 25, and more while 0.5 s allows)"),
    "--results": dict(default="results", help="folder the run's folder is written under (default: results)"),
}
#: Which cases to time: the selection's options (reference.harness.selection), which pytest has from the
#: checking plugin already. --shape is not among them: the sizes timed come from --preset.
SELECTION = ("impl", "device", "dtype", "mode", "impl-path")
#: The plan of this pytest run (bench.pytest_plugin keeps it; the benchmarks read it).
PLAN = pytest.StashKey["Plan"]()


def dest(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_selection_options(parser.add_argument, SELECTION)
    for flag, settings in FLAGS.items():
        parser.add_argument(flag, **settings)


def add_pytest_options(group) -> None:
    for flag, settings in FLAGS.items():
        group.addoption(flag, **settings)
    group.addoption("--bench-plan", default=None, help=argparse.SUPPRESS)


def option_values(config) -> dict[str, Any]:
    """The options' values in a pytest run, by dest (the selection's None where not given)."""
    return {dest(flag): config.getoption(dest(flag)) for flag in [*FLAGS, *SELECTION]}


@dataclass(frozen=True)
class Plan:
    """One run of the main job: what to time, with how many threads, and where the report goes."""

    preset: str
    threads: int
    impl: str
    device: str
    dtype: str
    mode: str
    impl_paths: tuple[str, ...]
    results: Path
    time_unverified: bool
    rounds: int | None
    command: str
    #: Where the job's child pytest writes its races (bench.store); None in a pytest run of bench/ alone.
    races: Path | None = None

    @classmethod
    def parse(cls, values: Mapping[str, Any], command: str) -> "Plan":
        """The plan from the options' values, by dest (argparse's or pytest's); a ValueError names a bad one."""
        preset, threads, rounds = values["preset"], str(values["threads"]), values["rounds"]
        if preset not in PRESETS:
            raise ValueError(f"--preset: unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
        if threads == "all":
            count = os.cpu_count() or 1
        elif threads.isdigit() and int(threads) > 0:
            count = int(threads)
        else:
            raise ValueError(f"--threads must be 'all' or a positive number, got {threads!r}")
        if rounds is not None and rounds < 3:
            raise ValueError(f"--rounds must be at least 3 (quartiles and an interval over rounds), got {rounds}")
        impl_paths = tuple(values["impl_path"])
        names = {option: values[option] or "all" for option in ("impl", "device", "dtype", "mode")}
        names["dtype"] = values["dtype"] or PRESETS[preset].dtype
        # The names, before any folder is made; a plug-in's name is known only once it is loaded,
        # in the child, which validates --impl then.
        for option in ("dtype", "device", "mode", *(() if impl_paths else ("impl",))):
            choose(option, names[option], CHOICES[option])
        return cls(preset=preset, threads=count, **names, impl_paths=impl_paths, results=Path(values["results"]),
                   time_unverified=bool(values["time_unverified"]), rounds=rounds, command=command)

    @property
    def sizes_and_phases(self) -> Preset:
        """The preset's sizes, phases, timings and rounds."""
        return PRESETS[self.preset]

    @property
    def rounds_per_race(self) -> int:
        return self.rounds or self.sizes_and_phases.rounds

    def selection_options(self) -> dict[str, Any]:
        """Its reference.harness.selection.Selection's options ("all" devices and modes: those present here)."""
        return dict(impl=self.impl, device=None if self.device == "all" else self.device, dtype=self.dtype,
                    mode=None if self.mode == "all" else self.mode, impl_paths=self.impl_paths)

    def write(self, path: Path) -> None:
        fields = {k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(self).items()}
        with open(path, "x") as file:
            json.dump(fields, file, indent=1)

    @classmethod
    def read(cls, path: Path) -> "Plan":
        fields = json.loads(Path(path).read_text())
        races = fields.pop("races")
        return cls(**{**fields, "impl_paths": tuple(fields["impl_paths"]), "results": Path(fields["results"]),
                      "races": None if races is None else Path(races)})


def plan_of(config) -> Plan:
    """The plan this pytest run times: the job's (kept by bench.pytest_plugin), or, where bench/ runs
    without the job, the one its options give, parsed on first use (a plain test run never needs one)."""
    if PLAN not in config.stash:
        try:
            config.stash[PLAN] = Plan.parse(option_values(config),
                                            command=shlex.join(["pytest", *config.invocation_params.args]))
        except ValueError as error:
            raise pytest.UsageError(str(error)) from None
    return config.stash[PLAN]
