"""The report: a fixture of pytest-benchmark JSON gives the expected rows, columns and figures.

A mislabelled column is the classic failure of such reports, so every derived figure is
recomputed here from the fixture's own numbers, by formulas written out independently.
"""

import contextlib
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pd = pytest.importorskip("pandas")
pytest.importorskip("matplotlib")
from bench import report  # noqa: E402
from bench.report.load import read_csv  # noqa: E402
from bench.schema import TIMES  # noqa: E402
from bench.report.compare import describe_fastest, describe_machines, exceptions, percent_moved  # noqa: E402

DATA = Path(__file__).parent / "data"
N, D_IN, H, D_OUT = 64, 1000, 100, 10
#: The five products of a step as (name, m, k, n), written out here rather than imported.
PRODUCTS = [("x@w1", N, D_IN, H), ("h_relu@w2", N, H, D_OUT), ("h_relu.T@grad_y_pred", H, N, D_OUT),
            ("grad_y_pred@w2.T", N, D_OUT, H), ("x.T@grad_h", D_IN, N, H)]
FORWARD_FLOPS = 2 * N * D_IN * H + 2 * N * H * D_OUT
GRADS_FLOPS = FORWARD_FLOPS + 2 * H * N * D_OUT + 2 * N * D_OUT * H + 2 * D_IN * N * H
FLOPS = {"forward": FORWARD_FLOPS, "grads": GRADS_FLOPS, "step": GRADS_FLOPS}
#: Planted medians (seconds): impl -> phase -> median. Forward and grads differ by a
#: different factor for each implementation, so swapped labels cannot go unnoticed.
MEDIANS = {"fast": {"forward": 100e-6, "grads": 250e-6, "step": 300e-6},
           "slow": {"forward": 200e-6, "grads": 300e-6, "step": 450e-6}}
GEMM = {("numpy", "x@w1"): 40e-6, ("torch", "x@w1"): 50e-6, ("numpy", "h_relu@w2"): 6e-6,
        ("torch", "h_relu@w2"): 5e-6, ("numpy", "h_relu.T@grad_y_pred"): 7e-6, ("torch", "h_relu.T@grad_y_pred"): 9e-6,
        ("numpy", "grad_y_pred@w2.T"): 8e-6, ("torch", "grad_y_pred@w2.T"): 4e-6,
        ("numpy", "x.T@grad_h"): 45e-6, ("torch", "x.T@grad_h"): 44e-6}


def stats(median, spread=0.02, calls=1):
    total = median * calls
    return {"min": total * 0.97, "max": total * 1.2, "mean": total * 1.01, "stddev": total * 0.01, "rounds": 50,
            "median": total, "iqr": total * spread, "q1": total * (1 - spread / 2), "q3": total * (1 + spread / 2),
            "iterations": 1}


def case(impl, phase, median, timing="latency", calls=1, spread=0.02):
    return {"name": f"test_phase[{impl}-{phase}-{timing}]", "stats": stats(median, spread, calls),
            "extra_info": {"kind": "case", "impl": impl, "framework": "numpy", "device": "cpu", "dtype": "float32",
                           "mode": "strict", "eager_by_design": impl == "eager", "N": N, "D_in": D_IN, "H": H, "D_out": D_OUT, "bias": False,
                           "phase": phase, "timing": timing, "calls_per_round": calls, "sync": "none",
                           "threads": 2, "flops": FLOPS[phase], "first_call_s": 0.5,
                           "summary": f"the {impl} way of writing the network"}}


#: machine.json as bench.machine writes it (the runner writes it before the report is built).
MACHINE = {"cpu": "Planted EPYC 9999", "cores": 2, "python": "3.11.7",
           "frameworks": {"numpy": {"version": "2.9.0", "blas": "scipy-openblas 0.3.30"}},
           "threads": {"OMP_NUM_THREADS": "2", "XLA_FLAGS": ""}}


def fixture_document():
    benchmarks = [case(impl, phase, m) for impl, phases in MEDIANS.items() for phase, m in phases.items()]
    queued = case("fast", "grads", 200e-6, timing="throughput", calls=20)
    queued["extra_info"]["faults_per_call"] = 40.0   # per invocation of 20 queued calls, as the race counts them
    benchmarks.append(queued)
    benchmarks += [{"name": f"test_gemm[{lib}-{product}]", "stats": stats(m),
                    "extra_info": {"kind": "gemm", "library": lib, "device": "cpu", "dtype": "float32", "N": N,
                                   "D_in": D_IN, "H": H, "D_out": D_OUT, "product": product,
                                   "flops": next(2 * m * k * n for name, m, k, n in PRODUCTS if name == product)}}
                   for (lib, product), m in GEMM.items()]
    benchmarks += [{"name": f"test_peak[{lib}]", "stats": stats(m),
                    "extra_info": {"kind": "peak", "library": lib, "device": "cpu", "dtype": "float32", "n": 1024,
                                   "flops": 2 * 1024**3}} for lib, m in (("numpy", 0.02), ("torch", 0.025))]
    benchmarks.append({"name": "test_harness_overhead", "stats": stats(80e-9), "extra_info": {"kind": "overhead"}})
    benchmarks += [{"name": f"test_aa[{r}]", "stats": stats(m), "extra_info": {
        "kind": "aa", "repeat": r, "impl": "fast", "device": "cpu", "dtype": "float32", "phase": "grads"}}
        for r, m in (("A1", 250e-6), ("A2", 255e-6))]
    return {"machine_info": {}, "commit_info": {}, "benchmarks": benchmarks, "datetime": "now", "version": "5"}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The planted fixture built once (no test writes into it; the plots take most of a second)."""
    folder = tmp_path_factory.mktemp("built")
    raw = folder / "raw.json"
    raw.write_text(json.dumps(fixture_document()))
    run = folder / "run"
    run.mkdir()
    (run / "machine.json").write_text(json.dumps(MACHINE))
    report.build(raw, run, command="pytest bench")
    return run


def rows(run):
    return read_csv(run / "benchmarks.csv")


def one(table, **where):
    mask = pd.Series(True, index=table.index)
    for key, value in where.items():
        mask &= table[key] == value
    assert mask.sum() == 1, where
    return table[mask].iloc[0]


def test_one_row_per_case_with_the_documented_columns(built):
    table = rows(built)
    assert list(table.columns) == report.COLUMNS
    assert len(table) == 7
    for impl, phases in MEDIANS.items():
        for phase, median in phases.items():
            assert one(table, impl=impl, phase=phase, timing="latency")["median_s"] == pytest.approx(median)


def test_flops_and_gflops_follow_the_shapes(built):
    table = rows(built)
    for phase, expected in (("forward", FORWARD_FLOPS), ("grads", GRADS_FLOPS), ("step", GRADS_FLOPS)):
        row = one(table, impl="fast", phase=phase, timing="latency")
        assert row["flops"] == expected
        assert row["gflops"] == pytest.approx(expected / MEDIANS["fast"][phase] / 1e9)
        assert row["pct_peak"] == pytest.approx(100 * row["gflops"] / (2 * 1024**3 / 0.02 / 1e9))


def test_gemm_floor_sums_the_fastest_library_per_product(built):
    table = rows(built)
    best = {name: min(GEMM[("numpy", name)], GEMM[("torch", name)]) for name, *_ in PRODUCTS}
    forward_floor = best["x@w1"] + best["h_relu@w2"]
    grads_floor = sum(best.values())
    assert one(table, impl="slow", phase="forward")["gemm_floor_s"] == pytest.approx(forward_floor)
    assert one(table, impl="slow", phase="grads")["gemm_floor_s"] == pytest.approx(grads_floor)
    assert one(table, impl="slow", phase="grads")["ratio_to_floor"] == pytest.approx(300e-6 / grads_floor)


def test_ratio_to_fastest_and_grads_over_forward_land_on_the_right_rows(built):
    table = rows(built)
    latency = table[table["timing"] == "latency"]
    for phase in ("forward", "grads", "step"):
        same = latency[latency["phase"] == phase]
        assert (same["ratio_to_fastest"] == 1.0).sum() == 1
        assert one(same, impl="slow")["ratio_to_fastest"] == pytest.approx(MEDIANS["slow"][phase] / MEDIANS["fast"][phase])
    for impl, phases in MEDIANS.items():
        for row in latency[latency["impl"] == impl].itertuples():
            assert row.grads_over_forward == pytest.approx(phases["grads"] / phases["forward"])


def test_throughput_rows_are_per_call(built):
    row = one(rows(built), impl="fast", phase="grads", timing="throughput")
    assert row["median_s"] == pytest.approx(200e-6) and row["calls_per_round"] == 20
    assert row["faults_per_call"] == 2.0
    assert row["q3_s"] - row["q1_s"] == pytest.approx(row["iqr_s"])


def test_plots_and_summary_render(built):
    import matplotlib.image
    pngs = sorted(built.glob("*.png"))
    assert {p.name for p in pngs} == {"default_size.png", "gflops.png", "grads_over_forward.png"}
    for png in pngs:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert matplotlib.image.imread(png).shape[0] > 100
    summary = (built / "summary.md").read_text()
    assert "80 ns, 0.027% of the fastest default-size step" in summary  # 80 ns / 300 us
    assert "| +2.00% |" in summary  # A/A: 255 / 250 - 1 (no raw samples: the ratio of medians)
    # The grads floor is 40 + 5 + 7 + 4 + 44 = 100 us: both implementations miss 1.3x.
    assert "fast (2.50×), slow (3.00×)" in summary


def write_run(folder, table):
    folder.mkdir()
    table.to_csv(folder / "benchmarks.csv", index=False)
    return folder


def planted(table, impl, phase, factor):
    """A copy of the table where one case is ``factor`` times slower, quartiles moved with it."""
    changed = table.copy()
    mask = (changed["impl"] == impl) & (changed["phase"] == phase) & (changed["timing"] == "latency")
    for key in TIMES:
        changed.loc[mask, key] *= factor
    return changed


def test_compare_flags_a_planted_2x_slowdown_and_not_a_2_percent_change(built, tmp_path):
    table = rows(built)
    slow = write_run(tmp_path / "b", planted(planted(table, "slow", "grads", 2.0), "fast", "forward", 1.02))
    result = report.compare(built, slow)
    verdicts = result.set_index(["impl", "phase", "timing"])["verdict"]
    assert verdicts[("slow", "grads", "latency")] == "slower"
    assert verdicts[("fast", "forward", "latency")] == "same"
    assert (verdicts == "slower").sum() == 1
    faster = write_run(tmp_path / "c", planted(table, "fast", "step", 0.5))
    assert report.compare(built, faster).set_index(["impl", "phase", "timing"])["verdict"][
        ("fast", "step", "latency")] == "faster"


def test_a_move_that_rounds_to_nothing_reads_plus_zero_from_either_side():
    # A median equal in both runs can come out a hair below (an H200's numpy printed '-0%').
    assert [percent_moved(f) for f in (-1e-17, 0.0, 0.004, -0.004, 0.2, -0.006)] == \
        ["+0%", "+0%", "+0%", "+0%", "+20%", "-1%"]


def test_compare_says_which_cases_x_fastest_moved_past_5_percent_between_runs(built, tmp_path):
    table = rows(built)
    assert report.compare(built, write_run(tmp_path / "a", table))["fastest_moved"].abs().max() == 0
    table["ratio_to_fastest_lo"], table["ratio_to_fastest_hi"] = table["ratio_to_fastest"] / 1.02, \
        table["ratio_to_fastest"] * 1.02
    moved = table.copy()
    ratios = ["ratio_to_fastest", "ratio_to_fastest_lo", "ratio_to_fastest_hi"]
    mask = (moved["impl"] == "slow") & (moved["phase"] == "grads") & (moved["timing"] == "latency")
    moved.loc[mask, ratios] *= 1.2   # its interval moves with it: past both runs' noise
    moved.loc[mask, "median_s"] *= 1.2
    yardstick = (moved["impl"] == "slow") & (moved["phase"] == "forward") & (moved["timing"] == "latency")
    moved.loc[yardstick, ratios] /= 1.2   # its own median stays: the race's fastest took 20% longer
    widened = (moved["impl"] == "slow") & (moved["phase"] == "step") & (moved["timing"] == "latency")
    moved.loc[widened, "ratio_to_fastest"] *= 1.1   # within its own interval, widened to hold the move
    moved.loc[widened, "ratio_to_fastest_hi"] = moved.loc[widened, "ratio_to_fastest"] * 1.2
    result = report.compare(write_run(tmp_path / "a_kept", table), write_run(tmp_path / "b", moved))
    line = describe_fastest(result)
    cases = int(result["fastest_moved"].notna().sum())
    assert line.startswith(f"× fastest within 5% in both runs: {cases - 3} of {cases} case(s); of the 3 that moved "
                           "past it, 1 with the two runs' 95% intervals overlapping (noise each run shows), 2 with them "
                           "apart, most: slow "), line
    grads, forward = (table.loc[where, "ratio_to_fastest"].item() for where in (mask, yardstick))
    assert f" grads latency {grads:.2f}→{1.2 * grads:.2f} (its median +20%, its race's fastest +0%)" in line
    assert line.endswith(f" forward latency {forward:.2f}→{forward / 1.2:.2f} (its median +0%, its race's fastest +20%)")
    assert " step " not in line
    # The cases to look at, largest move first, each with its reason; the unmoved cases are left out.
    found = exceptions(result)
    assert list(found["phase"]) == ["grads", "forward", "step"] and (found["impl"] == "slow").all(), found
    assert list(found["reason"]) == [
        "intervals apart; its median +20%, its race's fastest +0%",
        "intervals apart; its median +0%, its race's fastest +20%",
        "within each run's own noise (95% intervals overlap); its median +0%, its race's fastest -9%"]
    # A run without intervals (one written before the report kept them) cannot say which moves are noise.
    unknown = describe_fastest(report.compare(built, write_run(tmp_path / "c", moved)))
    assert unknown.endswith("0 with the two runs' 95% intervals overlapping (noise each run shows), 0 with them apart, "
                            "3 with no interval in a run")


def test_compare_says_when_the_machine_was_slower_as_a_whole_and_only_then(built, tmp_path):
    def run(name, float32_gflops, float64_gflops=54.0, os_name="Linux-6.18-v1"):
        folder = write_run(tmp_path / name, rows(built))
        pd.DataFrame({"ceiling": ["peak", "peak", "gemm_floor"], "device": "cpu",
                      "dtype": ["float32", "float64", "float32"], "library": ["numpy", "numpy", ""],
                      "gflops": [float32_gflops, float64_gflops, 80.0]}).to_csv(folder / "ceilings.csv", index=False)
        (folder / "machine.json").write_text(json.dumps({**MACHINE, "os": os_name}))
        return folder

    before = run("a", 102.0)
    assert describe_machines(before, run("b", 99.0)) == (
        "The machine was alike as a whole: measured peak GFLOP/s numpy cpu float32 102.0 → 99.0 (-3%), "
        "numpy cpu float64 54.0 → 54.0 (+0%), each within 5%.")
    slower = run("c", 36.8, 18.0)
    assert describe_machines(before, slower) == (
        f"The machine was slower as a whole in {slower}: measured peak GFLOP/s numpy cpu float32 102.0 → 36.8 (-64%), "
        "numpy cpu float64 54.0 → 18.0 (-67%). Across such runs, × fastest need not hold: each library's time moves "
        "by its own factor.")
    assert describe_machines(slower, before).startswith(f"The machine was faster as a whole in {before}: ")
    # One peak down 8%, the other not: the peaks' own noise, or one library; not the machine as a whole.
    assert describe_machines(before, run("d", 93.8)) == (
        "Measured peak GFLOP/s moved unalike (numpy cpu float32 102.0 → 93.8 (-8%), numpy cpu float64 54.0 → 54.0 "
        "(+0%)): no change of the machine as a whole to name.")
    # A new boot differs in machine.json: said, and not taken for a cause.
    assert describe_machines(before, run("e", 102.0, os_name="Linux-6.18-v2")) == (
        "The machine was alike as a whole: measured peak GFLOP/s numpy cpu float32 102.0 → 102.0 (+0%), numpy cpu "
        "float64 54.0 → 54.0 (+0%), each within 5%. machine.json differs: os Linux-6.18-v1 → Linux-6.18-v2.")
    # Nothing known of one run's machine: nothing said of it.
    assert describe_machines(before, write_run(tmp_path / "f", rows(built))) == \
        "Measured peak GFLOP/s: none in both runs, so whether the machine changed as a whole is not known."


def test_compare_needs_non_overlapping_quartiles(built, tmp_path):
    table = rows(built)
    noisy = planted(table, "slow", "grads", 2.0)
    mask = (noisy["impl"] == "slow") & (noisy["phase"] == "grads") & (noisy["timing"] == "latency")
    noisy.loc[mask, "q1_s"] = table.loc[mask, "q1_s"]  # B's spread reaches down into A's
    result = report.compare(built, write_run(tmp_path / "b", noisy))
    assert (result["verdict"] == "same").all()


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "bench.report", *map(str, args)], capture_output=True, text=True,
                          timeout=120, cwd=Path(__file__).parent.parent)


def test_gate_exits_1_on_a_slowdown_and_0_otherwise(built, tmp_path):
    table = rows(built)
    slow = write_run(tmp_path / "b", planted(table, "slow", "grads", 2.0))
    same = write_run(tmp_path / "c", planted(table, "slow", "grads", 1.02))
    # Once through the real entry point, then through main() (a subprocess costs a second).
    assert run_cli("compare", built, slow, "--gate").returncode == 1
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        assert report.main(["compare", str(built), str(same), "--gate"]) == 0
        assert report.main(["compare", str(built), str(slow)]) == 0
    assert "1 slower, 0 faster" in printed.getvalue()
    # The answer comes first, then only the case that moved, with its reason; --all prints every case.
    last = printed.getvalue().split("1 slower, 0 faster")[-1].splitlines()
    moved = last[last.index("The cases that moved (--all: every case and column):") + 2:]
    assert len(moved) == 1 and moved[0].split()[0] == "slow" and "its median slower (b/a 2.00, interquartile ranges apart)" in moved[0]
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        assert report.main(["compare", str(built), str(slow), "--all"]) == 0
    assert printed.getvalue().index("1 slower") < printed.getvalue().index("Every case:")
    assert len(printed.getvalue().split("Every case:")[1].strip().splitlines()) == len(rows(built)) + 1


def assert_cli_error(argv, path):
    """The CLI's answer to bad input: exit 2 and one 'error: ...' line naming the path, no traceback."""
    capture = io.StringIO()
    with contextlib.redirect_stderr(capture):
        assert report.main(argv) == 2
    lines = capture.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(path) in lines[0], lines


@pytest.mark.parametrize("content,message", [
    (None, "no such file"),
    ("{not json", "not valid JSON"),
    ('{"version": 5}', "no 'benchmarks' list"),
    ('{"benchmarks": []}', "no case benchmarks"),
])
def test_bad_raw_json_is_a_one_line_error(tmp_path, content, message):
    raw = tmp_path / "raw.json"
    if content is not None:
        raw.write_text(content)
    with pytest.raises(report.ReportError, match=message) as error:
        report.build(raw, tmp_path / "run")
    assert str(raw) in str(error.value) and "\n" not in str(error.value)
    assert_cli_error(["build", str(raw), str(tmp_path / "run2")], raw)


def test_missing_or_incomplete_run_folders_are_errors(built, tmp_path):
    nowhere = tmp_path / "nowhere"
    with pytest.raises(report.ReportError, match=re.escape(f"{nowhere}: no such run folder")):
        report.compare(nowhere, built)
    assert_cli_error(["compare", str(nowhere), str(built)], nowhere)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(report.ReportError, match=re.escape(f"{empty}: no benchmarks.csv")):
        report.compare(built, empty)
    foreign = write_run(tmp_path / "foreign", pd.DataFrame({"impl": ["x"], "median_s": [1.0]}))
    with pytest.raises(report.ReportError, match=re.escape(f"{foreign / 'benchmarks.csv'}: lacks column(s) device")):
        report.compare(built, foreign)


def test_the_summary_leads_with_the_answer_and_keeps_the_method_below(built):
    summary = (built / "summary.md").read_text()
    first_screen = summary.splitlines()[:40]
    # fast's step is 300 us, slow's 450 us: 1.50x; its grads 300 over 250 us: 1.20x (ratios of medians, no samples).
    assert "**cpu float32**: fast has the fastest step (300.0 µs); slow takes 1.50× as long." in first_screen
    assert "| slow | 450.0 | 1.50× | 300.0 | 1.20× |" in first_screen
    assert "| fast | 300.0 | fastest | 250.0 | fastest |" in first_screen
    assert summary.index("## Which way is fastest") < summary.index("## Every case") < summary.index("## How to read")
    assert "Raw data: [" not in summary  # raw/ is not committed: no link to it


def test_a_run_folder_is_never_reused(built):
    before = (built / "benchmarks.csv").read_bytes()
    with pytest.raises(report.ReportError, match=re.escape(f"{built / 'benchmarks.csv'}: already exists")):
        report.build(DATA / "bench_fixture.json", built)
    assert (built / "benchmarks.csv").read_bytes() == before


def test_summary_shows_the_machine_and_states_what_the_data_say(built):
    summary = (built / "summary.md").read_text()
    assert "- CPU: Planted EPYC 9999, 2 cores" in summary
    assert "numpy 2.9.0 (scipy-openblas 0.3.30)" in summary
    assert "OMP_NUM_THREADS=2" in summary and "XLA_FLAGS" not in summary  # empty settings are left out
    assert "- `fast`: the fast way of writing the network" in summary
    assert "This run has one size only, so there is no plot of time against size." in summary
    for link in re.findall(r"!\[[^]]*\]\(([^)]+)\)", summary):
        assert (built / link).is_file(), link


def test_every_line_of_a_sweep_plot_looks_different_and_the_same_in_every_panel():
    from bench.report.plots import line_styles
    impls = [f"way-{i:02d}" for i in range(25)]
    looks = line_styles(reversed(impls))
    assert len({tuple(look.values()) for look in looks.values()}) == 25
    assert line_styles(impls[:3]) == {impl: looks[impl] for impl in impls[:3]}


def test_a_sweep_gets_a_plot_of_time_against_size(tmp_path):
    document = fixture_document()
    bigger = json.loads(json.dumps([b for b in document["benchmarks"] if b["extra_info"]["kind"] == "case"]))
    for bench in bigger:
        bench["extra_info"]["N"] = 4 * N
        bench["stats"] = {k: v * 4 if k not in ("rounds", "iterations") else v for k, v in bench["stats"].items()}
    document["benchmarks"] += bigger
    raw = tmp_path / "raw.json"
    raw.write_text(json.dumps(document))
    report.build(raw, tmp_path / "run")
    pngs = sorted(p.name for p in (tmp_path / "run").glob("*.png"))
    assert "sizes.png" in pngs and len(pngs) <= 6
    assert (tmp_path / "run" / "sizes.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "![Median time against FLOPs](sizes.png)" in (tmp_path / "run" / "summary.md").read_text()
    table = rows(tmp_path / "run")
    assert one(table, impl="fast", phase="grads", timing="latency", N=4 * N)["median_s"] == pytest.approx(1e-3)
    # No GEMM was timed at the bigger size: no floor there, rather than the default size's.
    assert table[table["N"] == 4 * N]["gemm_floor_s"].isna().all()


# --- the trimmed real run: every derived figure recomputed here from its raw numbers ----------------

@pytest.fixture(scope="module")
def real(tmp_path_factory):
    run = tmp_path_factory.mktemp("real") / "run"
    report.build(DATA / "bench_fixture.json", run)
    return run, json.loads((DATA / "bench_fixture.json").read_text())["benchmarks"]


def raw_of(benchmarks, kind):
    return [(b["extra_info"], b["stats"]) for b in benchmarks if b["extra_info"]["kind"] == kind]


def test_real_rows_carry_their_own_medians_flops_and_noise(real):
    run, benchmarks = real
    table = rows(run)
    cases = raw_of(benchmarks, "case")
    assert len(table) == len(cases)
    written_out = {"forward": FORWARD_FLOPS, "grads": GRADS_FLOPS, "step": GRADS_FLOPS}
    for info, stat in cases:
        row = one(table, impl=info["impl"], dtype=info["dtype"], phase=info["phase"])
        assert row["median_s"] == stat["median"] and row["q1_s"] == stat["q1"] and row["q3_s"] == stat["q3"]
        assert row["flops"] == written_out[info["phase"]]
        assert row["gflops"] == pytest.approx(row["flops"] / stat["median"] / 1e9)
        assert row["noisy"] == (stat["iqr"] / stat["median"] > 0.10)
    for _, group in table.groupby(["dtype", "phase"]):
        assert (group["ratio_to_fastest"] == 1.0).sum() == 1


def test_real_gemm_floor_and_the_statement_built_on_it(real):
    run, benchmarks = real
    table = rows(run)
    best = {}
    for info, stat in raw_of(benchmarks, "gemm"):
        key = (info["dtype"], info["product"])
        best[key] = min(best.get(key, float("inf")), stat["median"])
    names = [name for name, *_ in PRODUCTS]
    float32 = {"forward": best["float32", "x@w1"] + best["float32", "h_relu@w2"],
               "grads": sum(best["float32", name] for name in names)}
    float32["step"] = float32["grads"]
    for row in table[table["dtype"] == "float32"].itertuples():
        assert row.gemm_floor_s == pytest.approx(float32[row.phase])
        assert row.ratio_to_floor == pytest.approx(row.median_s / float32[row.phase])
    # The fixture keeps only two float64 products: a forward floor, none for the five-product phases.
    float64 = table[table["dtype"] == "float64"]
    assert float64[float64["phase"] == "forward"]["gemm_floor_s"].tolist() == pytest.approx(
        [best["float64", "x@w1"] + best["float64", "h_relu@w2"]] * 2)
    assert float64[float64["phase"] != "forward"]["gemm_floor_s"].isna().all()

    grads = table[(table["dtype"] == "float32") & (table["phase"] == "grads")]
    eager = grads["eager_by_design"]
    missing = grads[~eager & (grads["median_s"] > 1.3 * float32["grads"])].sort_values("median_s")
    summary = (run / "summary.md").read_text()
    statement = next(line for line in summary.splitlines() if line.startswith("- cpu float32: grads above"))
    assert ", ".join(f"{r.impl} ({r.median_s / float32['grads']:.2f}×)" for r in missing.itertuples()) in statement
    assert "eager" not in statement
    assert "- cpu float64: GEMM floor not measured; no comparison." in summary


# --- the answer first: which plain way is fastest, by how much, how sure -----------------------------

def raced(cases, aa=None):
    """Default-size latency rows of one race, as the headline reads them: (impl, phase, median, samples, flops)."""
    from bench.report.headline import versus_plain
    rows = pd.DataFrame([{"impl": impl, "device": "cpu", "dtype": "float32", "mode": "strict", "N": N, "D_in": D_IN,
                          "H": H, "D_out": D_OUT, "bias": False, "phase": phase, "timing": "latency",
                          "median_s": float(pd.Series(samples).median()), "samples": samples, "flops": flops,
                          "verified": True, "race": "r"} for impl, phase, samples, flops in cases])
    return versus_plain(rows, pd.DataFrame(aa or [], columns=["race", "difference"])).set_index("impl")


def test_noisy_marks_an_order_the_run_does_not_settle_not_the_spread_that_pairing_removes():
    rng = pytest.importorskip("numpy").random.default_rng(7)
    shared = rng.lognormal(0, 0.3, 60)  # load that lasts a round: an IQR of some 40% of every median
    fast = 100e-6 * shared
    slower = 150e-6 * shared * rng.lognormal(0, 0.01, 60)
    tied = 100e-6 * shared * rng.lognormal(0.002, 0.05, 60)
    rows = raced([("fast", "step", fast, GRADS_FLOPS), ("slower", "step", slower, GRADS_FLOPS),
                  ("tied", "step", tied, GRADS_FLOPS)])
    # fast and tied differ by less than their rounds tell apart: whichever is the yardstick, the other is noisy.
    yardstick, other = ("fast", "tied") if rows.loc["fast", "yardstick"] else ("tied", "fast")
    assert rows.loc[yardstick, "yardstick"] and not rows.loc[yardstick, "noisy"]
    assert rows.loc[other, "times_lo"] < 1 < rows.loc[other, "times_hi"] and rows.loc[other, "noisy"]
    assert rows.loc["slower", "times"] == pytest.approx(1.5, rel=0.02) and not rows.loc["slower", "noisy"]
    # The same 1.5x, in a race whose case timed twice came 60% apart, reads the same as the fastest.
    shaky = raced([("fast", "step", fast, GRADS_FLOPS), ("slower", "step", slower, GRADS_FLOPS)],
                  aa=[{"race": "r", "difference": -0.6}])
    assert shaky.loc["slower", "same"] and not rows.loc["slower", "same"]


def test_a_minibatch_step_is_never_the_yardstick_and_is_compared_per_row():
    shared = pytest.importorskip("numpy").linspace(1, 1.2, 30)
    # A third of the rows: its products are a third of the step's FLOPs, and it takes 40% of the time.
    rows = raced([("full", "step", 100e-6 * shared, GRADS_FLOPS), ("mini", "step", 40e-6 * shared, GRADS_FLOPS // 3)])
    assert rows.loc["full", "yardstick"] and not rows.loc["mini", "yardstick"]
    assert rows.loc["mini", "rows_trained"] == pytest.approx(N / 3, rel=1e-3)
    assert rows.loc["mini", "times"] == pytest.approx(0.4 * 3, rel=1e-3)  # per row trained: 1.2x the full step's


def test_rebuild_writes_the_same_report_from_the_run_files_and_only_when_told(built, tmp_path):
    import shutil
    run = tmp_path / "run"
    shutil.copytree(built, run)
    data = {name: (run / name).read_bytes() for name in ("benchmarks.csv", "ceilings.csv", "findings.json")}
    with pytest.raises(report.ReportError, match=re.escape(f"{run / 'summary.md'}: already exists; pass --force")):
        report.rebuild(run)
    report.rebuild(run, force=True)
    assert (run / "summary.md").read_text() == (built / "summary.md").read_text().replace(
        f"# Benchmark run {built.name}", f"# Benchmark run {run.name}").replace("`pytest bench` · ", "")
    assert {name: (run / name).read_bytes() for name in data} == data  # the run's data only read
    assert_cli_error(["rebuild", str(tmp_path / "nowhere")], tmp_path / "nowhere")


def test_a_rebuild_that_fails_midway_leaves_the_report_as_it_was(built, tmp_path, monkeypatch):
    import importlib
    import shutil
    build = importlib.import_module("bench.report.build")  # the module: the package exports its function build
    run = tmp_path / "run"
    shutil.copytree(built, run)
    before = {path.name: path.read_bytes() for path in run.iterdir()}

    def fails(*args, **kwargs):  # as a report reading what an older run's files lack: after the plots are drawn
        raise KeyError("within_processes")

    monkeypatch.setattr(build, "summary", fails)
    with pytest.raises(report.ReportError, match=re.escape(
            f"{run}: cannot write its report again (KeyError: 'within_processes'); its report is left as it was")):
        report.rebuild(run, force=True)
    assert {path.name: path.read_bytes() for path in run.iterdir()} == before


def test_the_headline_block_and_latest_md_come_from_the_run_files(built, tmp_path):
    import shutil
    block = report.headline_markdown(built)
    assert block.startswith("**cpu float32**: fast has the fastest step") and block in (built / "summary.md").read_text()
    results = tmp_path / "results"
    shutil.copytree(built, results / "20260101T000000Z-default-2t")
    report.write_latest(results)
    latest = (results / "LATEST.md").read_text()
    assert f"<!-- headline:begin -->\n{block}<!-- headline:end -->" in latest
    assert "| [20260101T000000Z-default-2t](20260101T000000Z-default-2t/summary.md) | – | Planted EPYC 9999, 2 cores " \
           "| 2 | 2.0% (1 races) |" in latest


def test_headline_into_a_markdown_file_replaces_only_what_lies_between_its_markers(built, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# Title\n\n<!-- headline:begin -->\nstale numbers\n<!-- headline:end -->\n\nThe rest.\n")
    with contextlib.redirect_stdout(io.StringIO()):
        assert report.main(["headline", str(built), "--into", str(readme)]) == 0
    from bench.report.headline import headline_on_page
    block = headline_on_page(built, readme)
    assert block == f"From [run]({os.path.relpath(built, tmp_path)}/summary.md).\n\n" + report.headline_markdown(built)
    assert readme.read_text() == "# Title\n\n<!-- headline:begin -->\n" + block + "<!-- headline:end -->\n\nThe rest.\n"
    unmarked = tmp_path / "plain.md"
    unmarked.write_text("# No markers\n")
    assert_cli_error(["headline", str(built), "--into", str(unmarked)], unmarked)
    assert unmarked.read_text() == "# No markers\n"


def test_readme_takes_the_newest_reliable_run_of_the_job_as_readme_runs_it_and_latest_the_newest(built, tmp_path):
    """A newer run at one thread, of a few ways, of the sweep, on a busy machine or without its machine.json each
    leave README's headline where it was; only LATEST.md moves to the newest."""
    import shutil
    from bench.report.headline import front_door_run

    def run_of(name, command):
        run = shutil.copytree(built, results / name)
        (run / "machine.json").write_text(json.dumps({**MACHINE, "command": command}))
        return run

    results = tmp_path / "results"
    readable = run_of("20260101T000000Z-default-2t", "python -m bench --results /elsewhere")
    run_of("20260102T000000Z-default-1t", "python -m bench --threads 1")
    run_of("20260103T000000Z-default-2t", "python -m bench --impl=torch-nn")
    run_of("20260104T000000Z-sweep-2t", "python -m bench --preset sweep")
    busy = run_of("20260105T000000Z-default-2t", "python -m bench")
    findings = json.loads((busy / "findings.json").read_text())
    findings["machine_state"] = [{"race": "", "wall_s": 5.0, "cores": 2, "threads": 2, "others_cores": 1.5,
                                  "load_average": 3.0}]
    (busy / "findings.json").write_text(json.dumps(findings))
    unknown = run_of("20260106T000000Z-default-2t", "python -m bench")
    (unknown / "machine.json").unlink()
    (unknown / "findings.json").unlink()
    assert front_door_run(results) == readable
    shutil.rmtree(readable)
    assert front_door_run(results) == unknown   # no run qualifies: the newest, as LATEST.md shows


def test_a_cuda_case_timed_only_for_latency_still_shows_its_device_time(built):
    """A run with no queued timing (the quick preset on an H200) printed this table's header and no row."""
    from bench.report.summary import timing_statements
    table = rows(built)
    on_cuda = table[(table["impl"] == "slow") & (table["phase"] == "grads") & (table["timing"] == "latency")].assign(
        impl="on-cuda", device="cuda", device_time_s=90e-6, kernels_per_call=12.0, launch_floor_s=60e-6)
    lines = timing_statements(pd.concat([table, on_cuda], ignore_index=True))
    (cuda_row,) = [line for line in lines[-1].splitlines() if line.startswith("| on-cuda ")]
    assert "| 90.0 | 12 | 60.0 |" in cuda_row and "| – |" in cuda_row, cuda_row
    assert any(line.startswith("| fast ") for line in lines[-1].splitlines()), lines[-1]  # the queued case stays


def test_compare_names_the_moved_cases_whose_races_ran_at_another_cores_handoff(built, tmp_path):
    table = rows(built)
    table["ratio_to_fastest_lo"], table["ratio_to_fastest_hi"] = table["ratio_to_fastest"] / 1.02, \
        table["ratio_to_fastest"] * 1.02
    moved = table.copy()
    mask = (moved["impl"] == "slow") & (moved["phase"] == "grads") & (moved["timing"] == "latency")
    moved.loc[mask, ["ratio_to_fastest", "ratio_to_fastest_lo", "ratio_to_fastest_hi", "median_s"]] *= 1.2
    race = table.loc[mask, "race"].item()
    runs = {}
    for name, frame, handoff in (("a", table, 10.0), ("b", moved, 18.0)):   # near, then far (own writes 9.0 µs)
        runs[name] = write_run(tmp_path / name, frame)
        (runs[name] / "findings.json").write_text(json.dumps({"machine_state": [
            {"race": race, "threads": 2, "handoff_us": [handoff, handoff + 1], "handoff_local_us": 9.0}]}))
    result = report.compare(runs["a"], runs["b"])
    assert result.loc[mask.to_numpy(), ["handoff_a", "handoff_b"]].values.tolist() == [[False, True]]
    line = describe_fastest(result)
    assert "; 1 of the 1 with both runs' handoff known in races at the other handoff level" in line, line
    assert "handoff near→far)" in line
    # Runs written before the handoff was recorded say nothing of it.
    assert "handoff" not in describe_fastest(report.compare(built, write_run(tmp_path / "c", moved)))
