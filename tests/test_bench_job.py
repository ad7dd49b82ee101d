"""The main job runs: its benchmarks pass, the sweep has one race per size, and verification comes before timing.

The jobs the two whole-job tests run are the smallest that still meet a known-wrong plug-in:
numpy-manual beside that plug-in, float32 only. A known-wrong plug-in is not timed by default (the
summary says why), and with --time-unverified it is timed and marked in the CSV and the summary.
``pytest --benchmark`` runs the default preset, every kind of benchmark the job has; ``python -m
bench`` the quick preset, whose benchmarks are a subset of those: both entries call bench.job.run
with one plan, so the default preset run a second time would time the same benchmarks through the
same code.
"""

import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from reference.harness.session import absent_reason

pytest.importorskip("pytest_benchmark", reason="the benchmarks need pytest-benchmark")
pd = pytest.importorskip("pandas")
pytest.importorskip("matplotlib")
pytest.importorskip("scipy")

ROOT = Path(__file__).parent.parent
WRONG = "tests/known_wrong/tutorial_mistakes.py:GradW2FromPreactivation"


def run(*command: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "JAX_PLATFORMS": os.environ.get("JAX_PLATFORMS", "cpu")}
    return subprocess.run([sys.executable, "-m", *command], capture_output=True, text=True, env=env, timeout=900,
                          cwd=ROOT)


def run_benchmarks_once(*options: str) -> subprocess.CompletedProcess:
    return run("pytest", "-n", "0", "bench", "--benchmark-disable", "-q", "-p", "no:cacheprovider", "--rounds=3",
               *options)


def summary_line(result: subprocess.CompletedProcess) -> str:
    """The child pytest's own summary line ("3 passed, 2 deselected in 4.1s"), the last that counts outcomes."""
    return next(line for line in reversed(result.stdout.splitlines()) if re.search(r"\d+ (passed|failed|error)", line))


#: The smallest whole job that still meets a known-wrong plug-in: one correct implementation beside it, one
#: dtype, the fewest rounds; one job per entry point, ``pytest --benchmark``'s on the default preset.
JOB_OPTIONS = ("--impl=numpy-manual,wrong-dw2-from-h", f"--impl-path={WRONG}", "--dtype=float32", "--rounds=3")
ENTRIES = {"python -m bench": ("bench", "--preset=quick"),
           "pytest --benchmark": ("pytest", "--benchmark", "--time-unverified")}


def test_sweep_preset_has_one_race_per_size_and_races_its_smallest():
    """The sweep collects one race per size of its preset, and races its two degenerate sizes.

    Which races the sweep makes is settled at collection (bench/conftest.py parametrizes
    test_race by the preset's sizes), so collecting proves one race per size. A race runs
    the same code at every size; only the smallest, a batch of one (N=1) and four hidden
    units (H=4), can collapse a shape, so those two are raced: the larger ones add seconds
    of matrix products and no path.
    """
    from bench.sizes import PRESETS
    options = ("--preset=sweep", "--impl=numpy-manual", "--device=cpu", "--dtype=float32")
    collected = run_benchmarks_once(*options, "-k", "test_race", "--collect-only")
    assert collected.returncode == 0, collected.stdout[-3000:] + collected.stderr[-3000:]
    races = [line for line in collected.stdout.splitlines() if "::test_race[" in line]
    sizes = [p.id for p in PRESETS["sweep"].sizes]
    assert len(races) == len(sizes) == 13, collected.stdout[-3000:]
    assert all(sum(f"-{size}-" in race for race in races) == 1 for size in sizes), collected.stdout[-3000:]
    smallest = run_benchmarks_once(*options, "-k", "test_race and (N1-Din or H4-Dout)")
    assert smallest.returncode == 0, smallest.stdout[-3000:] + smallest.stderr[-3000:]
    assert "2 passed" in summary_line(smallest), summary_line(smallest)


def the_run(results: Path) -> Path:
    (folder,) = [p for p in results.iterdir() if p.is_dir()]
    return folder


@pytest.mark.parametrize("entry", list(ENTRIES))
def test_the_job_passes_and_times_a_known_wrong_plugin_only_when_asked_then_flagged(tmp_path, entry):
    """Every benchmark the job selects (numpy-manual and one known-wrong plug-in, float32) runs and none fails; in
    the default preset: the plain way alone, the races, the GEMM floors, the ceilings and the load test. One test
    per job: two tests reading one module-scoped job could land on two pytest-xdist workers, each running it."""
    results = tmp_path / "results"
    result = run(*ENTRIES[entry], *JOB_OPTIONS, f"--results={results}")
    timed = entry == "pytest --benchmark"  # one entry point each way: both call bench.job.run
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = summary_line(result)
    assert "passed" in summary and "failed" not in summary and "error" not in summary, summary
    # Each progress line stands alone: no test's status letter runs into it (a skip's "s" made "stiming").
    progress = [line for line in result.stdout.splitlines() if re.search(r"timing (test_|cpu-)", line)]
    assert progress and all(line.startswith(("timing ", "[")) for line in progress), progress
    folder = the_run(results)
    table, summary = pd.read_csv(folder / "benchmarks.csv"), (folder / "summary.md").read_text()
    wrong = table[table["impl"] == "wrong-dw2-from-h"]
    right = table[table["impl"] == "numpy-manual"]
    assert right["verified"].all() and (right["worst_error_over_tol"] <= 1).all()
    # The plain way also took its turns alone in each default-size race, in two processes, paired with it and with
    # each other round by round.
    paired = r"\n\| numpy \| numpy-manual \| cpu float32 grads \| [\d,.]+ \| [\d,.]+ \| [+-]\d+\.\d% \([^)]+\) \| " \
             r"[+-]\d+\.\d% \|"
    assert re.search(paired, summary), summary
    if timed:
        assert len(wrong) == 3 and not wrong["verified"].any() and (wrong["worst_error_over_tol"] > 1).all()
        assert "| wrong-dw2-from-h **unverified** | grads |" in summary
        # The yardstick of × fastest is the fastest verified case, never the flagged one.
        assert (right["ratio_to_fastest"] == 1.0).all()
    else:
        assert wrong.empty
        assert "- wrong-dw2-from-h: failed verification, not timed" in summary
        assert "not timed" in result.stdout and "wrong-dw2-from-h: failed verification" in result.stdout


@pytest.mark.parametrize("option,message", [("--dtype=float16", "--dtype: unknown dtype 'float16'"),
                                            ("--impl=nonesuch", "--impl: unknown impl 'nonesuch'"),
                                            ("--preset=nonesuch", "--preset: unknown preset 'nonesuch'"),
                                            ("--rounds=2", "--rounds must be at least 3"),
                                            ("--threads=0", "--threads must be 'all' or a positive number")])
def test_bad_options_are_one_line_errors_before_any_folder_is_made(tmp_path, capsys, option, message):
    from bench.__main__ import main  # in this process: the options are refused before anything starts
    with pytest.raises(SystemExit) as exited:
        main([option, f"--results={tmp_path}"])
    stderr = capsys.readouterr().err
    assert exited.value.code == 2 and message in stderr and "Traceback" not in stderr
    assert not any(tmp_path.iterdir())


def test_pytest_benchmark_help_prints_the_help_and_starts_nothing(tmp_path):
    result = run("pytest", "--benchmark", "--help", f"--results={tmp_path / 'results'}")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "--benchmark" in result.stdout and "--preset=PRESET" in result.stdout and "quick (" in result.stdout
    assert "timing into" not in result.stdout and not any(tmp_path.iterdir())


def test_a_bad_impl_path_is_an_error_before_timing_that_leaves_no_run_folder(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    result = run("bench", "--impl-path=missing.py", f"--results={results}")
    assert result.returncode != 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "missing.py: no such file" in result.stderr, result.stderr[-3000:]
    assert "no run folder kept" in result.stderr and "partial results" not in result.stderr + result.stdout
    assert all(len(line) < 200 for line in result.stdout.splitlines()), result.stdout
    assert not any(results.iterdir())


def skip_where_cuda_is_present():
    if absent_reason("cuda") is None:
        pytest.skip("a framework has a CUDA device here: --device cuda would time it")


@pytest.mark.parametrize("entry", [("bench",), ("pytest", "--benchmark")])
def test_an_absent_device_is_a_one_line_error_before_any_folder_is_made(tmp_path, entry):
    skip_where_cuda_is_present()
    result = run(*entry, "--device=cuda", f"--results={tmp_path / 'results'}")
    assert result.returncode == 2, result.stdout[-3000:] + result.stderr[-3000:]
    (line,) = result.stderr.strip().splitlines()
    # The reason: the machine's (no driver, CUDA_VISIBLE_DEVICES) or each framework's own.
    assert re.fullmatch(r"error: no framework here has cuda \((\S.*)\); nothing to time", line), line
    assert "running:" not in result.stdout, result.stdout
    assert not any(tmp_path.iterdir())


def test_an_absent_device_beside_a_present_one_is_left_out_once(tmp_path, monkeypatch, capsys):
    skip_where_cuda_is_present()
    from bench import job
    from bench.options import Plan
    timed = []

    def run_but_not_pytest(command, **kwargs):  # the device probe runs; the benchmarks do not
        if "pytest" not in command:
            return subprocess.run(command, **kwargs)
        # Read now: a run that times nothing leaves no folder behind, plan included.
        (plan_file,) = [argument.partition("=")[2] for argument in command if argument.startswith("--bench-plan=")]
        timed.append((command, kwargs["env"], Plan.read(Path(plan_file))))
        return subprocess.CompletedProcess(command, 5)
    monkeypatch.setattr(job, "subprocess", SimpleNamespace(run=run_but_not_pytest))
    plan = Plan.parse(dict(preset="default", threads="1", impl="numpy-manual", device="cuda,cpu", dtype="float32",
                           mode="all", impl_path=[], results=tmp_path, time_unverified=False, rounds=None),
                      command="python -m bench --device cuda,cpu")
    assert job.run(plan) == 5
    ((command, env, handed),) = timed
    assert handed.device == "cpu", handed
    assert not any("cuda" in argument for argument in command), command
    assert env["JAX_PLATFORMS"] == "cpu"
    notes = [line for line in capsys.readouterr().err.splitlines() if "cuda" in line]
    assert len(notes) == 1 and notes[0].startswith("note: not timing cuda (") and notes[0].endswith("timing cpu")


@pytest.mark.parametrize(("rounds", "fewest", "more_for"), [(None, 25, "0.5"), (3, 3, "0"), (60, 25, "0")])
def test_rounds_cap_the_products_pytest_benchmark_times_and_never_raise_them(tmp_path, rounds, fewest, more_for):
    from bench.job import child_pytest
    from bench.options import Plan
    plan = Plan.parse(dict(preset="default", threads="1", impl="numpy-manual", device="cpu", dtype="float32",
                           mode="all", impl_path=[], results=tmp_path, time_unverified=False, rounds=rounds),
                      command="python -m bench")
    (tmp_path / "raw").mkdir()
    command = child_pytest(plan, tmp_path / "raw")
    assert [a for a in command if a.startswith("--benchmark-min-rounds=")] == [f"--benchmark-min-rounds={fewest}"]
    # Seconds of rounds beyond the fewest: a --rounds run takes exactly its number, however fast a product is.
    assert [a for a in command if a.startswith("--benchmark-max-time=")] == [f"--benchmark-max-time={more_for}"]


def test_the_quick_preset_races_the_six_tutorial_ways_and_whatever_the_user_names():
    import impls
    from bench.alone import PLAIN_WAYS
    from bench.lineup import AA_CANDIDATES
    from bench.sizes import PRESETS, TUTORIAL_WAYS

    quick, default = PRESETS["quick"], PRESETS["default"]
    assert len(TUTORIAL_WAYS) == 6 and set(TUTORIAL_WAYS) <= set(impls.REGISTRY)
    # Each framework's plain way is timed alone beside the race, and one of them is the A/A twin.
    assert set(PLAIN_WAYS.values()) <= set(TUTORIAL_WAYS) and set(AA_CANDIDATES) <= set(TUTORIAL_WAYS)
    assert [name for name in impls.REGISTRY if quick.races(name, named=False)] == \
        [name for name in impls.REGISTRY if name in TUTORIAL_WAYS]
    assert quick.races("numpy-inplace", named=True) and quick.races("my-numpy-net", named=True)
    assert all(default.races(name, named=False) for name in impls.REGISTRY)


def test_an_empty_benchmark_json_counts_as_nothing_timed(tmp_path):
    """pytest-benchmark 5.2 leaves its JSON file empty where its fixture timed nothing: a job stopped then keeps
    no folder, and one that finished is reported from its races (an H200 quick run's report failed on that file)."""
    from bench.job import drop_if_unwritten, stopped
    raw = tmp_path / "run" / "raw"
    (raw / "job").mkdir(parents=True)
    (raw / "job" / "plan.json").write_text("{}")
    (raw / "pytest-benchmark.json").write_text("")
    drop_if_unwritten(raw / "pytest-benchmark.json")
    assert stopped(4, tmp_path / "run", raw) == 4
    assert not (tmp_path / "run").exists()
    (raw / "job").mkdir(parents=True)
    (raw / "pytest-benchmark.json").write_text('{"benchmarks": []}')
    drop_if_unwritten(raw / "pytest-benchmark.json")
    assert stopped(4, tmp_path / "run", raw) == 4
    assert (raw / "pytest-benchmark.json").exists()
