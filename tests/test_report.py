"""The report: a fixture of pytest-benchmark JSON gives the expected rows, columns and figures.

A mislabelled column is the classic failure of such reports, so every derived figure is
recomputed here from the fixture's own numbers, by formulas written out independently.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

pd = pytest.importorskip("pandas")
pytest.importorskip("matplotlib")
from bench import report  # noqa: E402

DATA = Path(__file__).parent / "data"
N, D_IN, H, D_OUT = 64, 1000, 100, 10
#: The five products of a step as (name, m, k, n), written out here rather than imported.
PRODUCTS = [("x@w1", N, D_IN, H), ("h_relu@w2", N, H, D_OUT), ("h_relu.T@grad_y_pred", H, N, D_OUT),
            ("grad_y_pred@w2.T", N, D_OUT, H), ("x.T@grad_h", D_IN, N, H)]
FORWARD_FLOPS = 2 * N * D_IN * H + 2 * N * H * D_OUT
GRADS_FLOPS = FORWARD_FLOPS + 2 * H * N * D_OUT + 2 * N * D_OUT * H + 2 * D_IN * N * H
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
                           "precision": "strict", "N": N, "D_in": D_IN, "H": H, "D_out": D_OUT, "bias": False,
                           "phase": phase, "timing": timing, "calls_per_round": calls, "sync": "none",
                           "threads": 2, "flops": 0, "first_call_s": 0.5}}


def fixture_document():
    benchmarks = [case(impl, phase, m) for impl, phases in MEDIANS.items() for phase, m in phases.items()]
    benchmarks.append(case("fast", "grads", 200e-6, timing="throughput", calls=20))
    benchmarks += [{"name": f"test_gemm[{lib}-{product}]", "stats": stats(m),
                    "extra_info": {"kind": "gemm", "library": lib, "device": "cpu", "dtype": "float32", "N": N,
                                   "D_in": D_IN, "H": H, "D_out": D_OUT, "product": product}}
                   for (lib, product), m in GEMM.items()]
    benchmarks += [{"name": f"test_peak[{lib}]", "stats": stats(m),
                    "extra_info": {"kind": "peak", "library": lib, "device": "cpu", "dtype": "float32", "n": 1024,
                                   "flops": 2 * 1024**3}} for lib, m in (("numpy", 0.02), ("torch", 0.025))]
    benchmarks.append({"name": "test_harness_overhead", "stats": stats(80e-9), "extra_info": {"kind": "overhead"}})
    benchmarks += [{"name": f"test_aa[{r}]", "stats": stats(m), "extra_info": {
        "kind": "aa", "repeat": r, "impl": "fast", "device": "cpu", "dtype": "float32", "phase": "grads"}}
        for r, m in (("A1", 250e-6), ("A2", 255e-6))]
    return {"machine_info": {}, "commit_info": {}, "benchmarks": benchmarks, "datetime": "now", "version": "5"}


@pytest.fixture
def built(tmp_path):
    raw = tmp_path / "raw.json"
    raw.write_text(json.dumps(fixture_document()))
    run = tmp_path / "run"
    report.build(raw, run, command="pytest bench")
    return run


def rows(run):
    return pd.read_csv(run / "benchmarks.csv")


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
    assert "a difference of 1.98%" in summary  # A/A: |250 - 255| / 252.5
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
    for key in report.TIMES:
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
    assert run_cli("compare", built, slow, "--gate").returncode == 1
    assert run_cli("compare", built, same, "--gate").returncode == 0
    assert run_cli("compare", built, slow).returncode == 0


def test_real_run_fixture_builds(tmp_path):
    report.build(DATA / "bench_fixture.json", tmp_path / "run")
    table = rows(tmp_path / "run")
    assert set(table["impl"]) and (table["flops"] > 0).all() and table["median_s"].notna().all()


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
    cli = run_cli("build", raw, tmp_path / "run2")
    assert cli.returncode == 2 and cli.stderr.startswith("error: ") and "Traceback" not in cli.stderr


def test_missing_run_folder_and_reuse_of_a_run_folder_are_errors(built, tmp_path):
    with pytest.raises(report.ReportError, match=f"{tmp_path / 'nowhere'}: no such run folder"):
        report.compare(tmp_path / "nowhere", built)
    raw = tmp_path / "raw.json"
    with pytest.raises(report.ReportError, match="already exists; a run never overwrites"):
        report.build(raw, built)
