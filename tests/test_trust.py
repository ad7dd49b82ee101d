"""Fair settings and runs that judge themselves (issue 20).

The benchmarks' environment sets thread counts and nothing that tunes a pool; the race runs each
framework's calls back to back and waits at a switch for the last pool to sleep; each timed stage
records what other processes took; a run past the bounds says so first. Every machine state here
is planted (fake /proc readers, recorded states): no outcome depends on this machine's load.
"""

import json
import os
import subprocess
import sys
import threading

import numpy as np

import pytest

from bench.race import Contender, Settings, running_threads, race
from bench.cores import Handoff, measure
from bench.schema import alone_stage
from bench.state import STATES, busy_cpu_seconds, children_cpu_seconds, own_cpu_seconds, watched
from impls.threads import THREAD_VARIABLES, thread_environment

pd = pytest.importorskip("pandas")
pytest.importorskip("scipy")
pytest.importorskip("matplotlib")
from bench import report  # noqa: E402
from bench.report import analysis, trust  # noqa: E402
from tests.test_report import MACHINE, fixture_document  # noqa: E402

#: What the benchmarks' environment may change, and why each is not a setting that helps one framework:
#: the thread counts every framework reads; XLA_FLAGS for jax's count at one thread (checked below);
#: which platform jax uses; and jax's GPU memory preallocation, so that torch has GPU memory too.
ALLOWED = {*THREAD_VARIABLES, "XLA_FLAGS", "JAX_PLATFORMS", "XLA_PYTHON_CLIENT_PREALLOCATE"}
XLA_THREAD_FLAGS = {"--xla_cpu_multi_thread_eigen=false", "intra_op_parallelism_threads=1"}
#: Variables that change how a pool waits or where its threads run, never its size (a few of many:
#: ALLOWED is the real guard).
POOL_TUNING = ("GOMP_SPINCOUNT", "OPENBLAS_THREAD_TIMEOUT", "OMP_WAIT_POLICY", "KMP_BLOCKTIME", "OMP_PROC_BIND")


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("use_gpu", [False, True])
def test_the_benchmarks_environment_sets_thread_counts_and_nothing_that_tunes_a_pool(monkeypatch, threads, use_gpu):
    for var in list(os.environ):
        if var != "PATH":
            monkeypatch.delenv(var)
    env = thread_environment(threads, use_gpu=use_gpu)
    changed = {var for var in env if env[var] != os.environ.get(var)}
    assert changed <= ALLOWED, changed - ALLOWED
    assert all(env[var] == str(threads) for var in THREAD_VARIABLES)
    assert set(env.get("XLA_FLAGS", "").split()) <= XLA_THREAD_FLAGS
    assert not any(var in env for var in POOL_TUNING)


def test_a_users_own_pool_settings_pass_through_unchanged(monkeypatch):
    monkeypatch.setenv("GOMP_SPINCOUNT", "7")
    monkeypatch.delenv("OPENBLAS_THREAD_TIMEOUT", raising=False)
    env = thread_environment(2, use_gpu=False)
    assert env["GOMP_SPINCOUNT"] == "7" and "OPENBLAS_THREAD_TIMEOUT" not in env


def test_each_pool_runs_back_to_back_and_a_switch_waits_for_the_last_pool():
    events = []
    pools = {"a1": "a", "a2": "a", "b1": "b", "c1": "c", "c2": "c", "c3": "c"}
    field = [Contender(key, lambda key=key: events.append(key), pool=pool) for key, pool in pools.items()]
    rounds = 12
    timings = race(field, Settings(rounds=rounds, warmup_s=0.0, warmup_calls=1, min_sample_s=0.0, settle_calls=0,
                                   settle_s=0.0, switch_settle_s=0.0),
                   wait_for_idle=lambda longest: events.append("wait"))
    assert all(len(samples) == rounds for samples in timings.samples_s.values())
    calls = [i for i, event in enumerate(events) if event != "wait"]
    rounds_calls = calls[2 * len(pools):]   # after each one's first call and warm-up call
    for before, after in zip(rounds_calls, rounds_calls[1:]):
        waited = "wait" in events[before + 1:after]
        assert waited == (pools[events[before]] != pools[events[after]]), events[before:after + 1]
    orders = []
    for r in range(rounds):
        keys = [events[i] for i in rounds_calls[len(pools) * r: len(pools) * (r + 1)]]
        assert sorted(keys) == sorted(pools)
        runs = [pools[k] for i, k in enumerate(keys) if i == 0 or pools[keys[i - 1]] != pools[k]]
        assert sorted(runs) == ["a", "b", "c"], keys   # each pool's calls in one run
        orders.append(tuple(runs))
    assert len(set(orders)) > 1


def testrunning_threads_counts_the_other_threads_in_state_r(tmp_path):
    me = threading.get_native_id()
    for tid, state in ((me, "R"), (me + 1, "R"), (me + 2, "S"), (me + 3, "R")):
        (tmp_path / str(tid)).mkdir()
        (tmp_path / str(tid) / "stat").write_text(f"{tid} (a (tricky) name) {state} 1 2 3\n")
    assert running_threads(str(tmp_path)) == 2
    assert running_threads(str(tmp_path / "absent")) is None


def test_busy_time_is_every_field_but_idle_and_iowait(tmp_path):
    stat = tmp_path / "stat"
    stat.write_text("cpu  100 10 50 1000 20 5 5 30 7 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n")
    assert busy_cpu_seconds(str(stat)) == pytest.approx(200 / os.sysconf("SC_CLK_TCK"))
    assert busy_cpu_seconds(str(tmp_path / "absent")) is None


def test_own_time_counts_a_child_taking_turns_while_it_runs_and_no_other(tmp_path):
    # A child burns 0.3 s of its own CPU time, says so and waits: not yet waited for, its time is ours where named.
    burn = "import sys, time\nwhile time.process_time() < 0.3: pass\nprint('done', flush=True)\nsys.stdin.read()"
    before, unnamed = own_cpu_seconds(), None
    child = subprocess.Popen([sys.executable, "-c", burn], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == "done\n"
        assert own_cpu_seconds([child.pid]) - before >= 0.3 - 0.02   # ticks of 10 ms on each side
        unnamed = own_cpu_seconds() - before
    finally:
        child.communicate("")
    assert unnamed < 0.3 - 0.02   # a child not named is another process's load
    (tmp_path / "1").mkdir()  # its parent is not this process: not counted
    (tmp_path / "1" / "stat").write_text("1 (a (tricky) name) S 0 " + "100 " * 20 + "\n")
    (tmp_path / "2").mkdir()
    (tmp_path / "2" / "stat").write_text(f"2 (a (tricky) name) S {os.getpid()} " + " ".join(["0"] * 9) +
                                         " 100 200 30 40 1 1\n")
    assert children_cpu_seconds([1, 2, 3], str(tmp_path)) == pytest.approx(370 / os.sysconf("SC_CLK_TCK"))
    assert children_cpu_seconds([2], str(tmp_path / "absent")) == 0


def test_a_watched_stage_records_what_other_processes_took():
    config, readings = type("Config", (), {"stash": pytest.Stash()})(), iter([100.0, 103.0])
    own, clock = iter([10.0, 11.0]), iter([0.0, 2.0])
    handoffs = iter([Handoff(17.0, 9.0), Handoff(18.0, 9.0), None, Handoff(11.0, 9.0), Handoff(60.0, 10.0)])
    with watched(config, "r", busy=lambda: next(readings), own=lambda: next(own), clock=lambda: next(clock),
                 load_average=lambda: 2.5, handoff=lambda: next(handoffs), fault_us=lambda: 2.9) as stage:
        for _ in range(3):
            stage.after_round()   # as a race calls it after each round; one reading failed (None)
    (state,) = config.stash[STATES]
    # 3 s of the machine busy, 1 s of it ours, over 2 s: the others kept one core busy.
    assert (state["race"], state["others_cores"], state["load_average"], state["wall_s"]) == ("r", 1.0, 2.5, 2.0)
    assert (state["handoff_us"], state["handoff_local_us"], state["handoff_rounds_us"]) == ((17.0, 60.0), 9.0, (18.0, 11.0))
    assert trust.handoffs(state) == [17.0, 18.0, 11.0, 60.0] and trust.stage_handoff(state) == 17.5
    assert state["fault_us"] == 2.9 and trust.fault_us([state, {**state, "fault_us": 3.1}]) == 3.0


def test_a_race_calls_its_after_round_hook_once_after_each_round():
    events = []
    field = [Contender(key, lambda key=key: events.append(key), pool=key) for key in ("a", "b")]
    race(field, Settings(rounds=4, warmup_s=0.0, warmup_calls=1, min_sample_s=0.0, settle_calls=0, settle_s=0.0,
                         switch_settle_s=0.0),
         wait_for_idle=lambda longest: None, after_round=lambda: events.append("round"))
    rounds = events[4:]   # after each one's first call and warm-up call
    assert rounds.count("round") == 4
    assert all(sorted(rounds[3 * i:3 * i + 2]) == ["a", "b"] and rounds[3 * i + 2] == "round" for i in range(4))


def test_the_handoff_is_timed_on_two_cores_without_pinning_the_calling_thread(monkeypatch):
    allowed = os.sched_getaffinity(0)
    if len(allowed) < 2:
        pytest.skip("one core: there is no other core to hand data to")
    measured = measure(nbytes=80_000, repeats=5)
    assert measured.remote_us > 0 and measured.local_us > 0
    assert os.sched_getaffinity(0) == allowed
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    assert measure() is None


RACE = "cpu-float32-strict-N64-grads-latency"


def aa(difference, race=RACE):
    return pd.DataFrame([{"race": race, "difference": difference, "difference_lo": difference / 2,
                          "difference_hi": difference * 1.5}])


def state(others, threads=2, cores=2, race=RACE, load_average=1.0, handoff_us=(None, None)):
    return {"race": race, "wall_s": 5.0, "cores": cores, "threads": threads, "others_cores": others,
            "load_average": load_average, "handoff_us": handoff_us, "handoff_local_us": 9.0}


def test_a_quiet_run_is_judged_readable_and_says_its_state():
    verdict = trust.judge([state(0.02)], aa(0.01))
    assert verdict.reliable and "can be read" in verdict.lines[-1]
    assert any(line.startswith("Machine state: other processes took 0.02 of 2 cores") for line in verdict.lines)
    unknown = trust.judge([], aa(0.01))   # a run written before the state was recorded
    assert unknown.lines[0].startswith("Machine state: not recorded") and "as far as its A/A" in unknown.lines[-1]


@pytest.mark.parametrize("states,differences,named", [
    ([state(0.9)], 0.01, "other processes took 45% of the benchmark's 2 core(s)"),
    ([state(0.02)], 0.08, "A/A 12.0% (bound 5%)"),
    ([state(0.9, race="alone-torch-autograd-cpu-float32-strict")], 0.01, "its time alone cannot be set beside"),
    ([state(None, load_average=3.5)], 0.01, "took 75% of the benchmark's 2 core(s)")])
def test_a_busy_or_noisy_run_says_first_that_it_is_not_reliable_and_where(states, differences, named):
    verdict = trust.judge(states, aa(differences))
    assert not verdict.reliable
    assert verdict.lines[0].startswith("**This run is not reliable**")
    assert any(named in line for line in verdict.lines[1:-2]), verdict.lines


def test_a_quiet_run_whose_aa_interval_alone_is_wide_says_it_cannot_read_small_differences_and_more_rounds_help():
    # The quick preset's 15 rounds on a quiet machine: the twin's medians 1% apart, its interval out to 10.5%.
    wide = pd.DataFrame([{"race": RACE, "difference": 0.01, "difference_lo": -0.08, "difference_hi": 0.105}])
    verdict = trust.judge([state(0.0)], wide)
    assert not verdict.reliable
    assert verdict.lines[0].startswith("**This run cannot read small differences** (1 race(s)")
    assert "A/A 10.5% (bound 5%)" in verdict.lines[1] and "--rounds" in verdict.lines[1]
    # Beside a busy stage, or with the medians themselves apart, it is the machine: not reliable, rerun.
    assert trust.judge([state(0.9)], wide).lines[0].startswith("**This run is not reliable**")
    assert "--rounds" not in " ".join(trust.judge([state(0.0)], aa(0.08)).lines)


def test_a_race_timed_at_both_handoff_levels_makes_the_run_unreliable_and_levels_between_stages_are_said():
    # Own writes read in 9.0 µs (state()): a reading is far above 14.0.
    both = trust.judge([state(0.0, handoff_us=(10.0, 18.0))], aa(0.01))
    assert not both.reliable
    assert any(f"{RACE}: the cores' handoff read far (above 14.0 µs) in 1 and near in 1 of its 2 readings" in line
               for line in both.warning)
    # The same at its start and end, the other level for some rounds between: the 00:39 run's float32 step race read
    # 10.2 µs at both ends and every plain way at about twice its usual time.
    between_rounds = {**state(0.0, handoff_us=(10.2, 10.2)), "handoff_rounds_us": [10.0, 18.1, 18.3, 10.1]}
    verdict = trust.judge([between_rounds], aa(0.01))
    assert not verdict.reliable and "far (above 14.0 µs) in 2 and near in 4 of its 6 readings" in verdict.warning[1]
    # Within one level, however far apart: 10 to 13, or 17 to 60.
    assert trust.judge([state(0.0, handoff_us=(10.0, 13.0))], aa(0.01)).reliable
    apart = trust.judge([state(0.0, handoff_us=(17.0, 18.0)), state(0.0, race="other", handoff_us=(60.0, 61.0))],
                        aa(0.01))
    assert apart.reliable
    assert any("in 17.0 to 61.0 µs" in line and "4 of 4 readings far (above 14.0 µs" in line for line in apart.lines)
    # With one thread per framework the processes took the same time at either level: shown, not judged.
    one_thread = trust.judge([state(0.0, threads=1, handoff_us=(10.0, 60.0))], aa(0.01))
    assert one_thread.reliable and "handoff" not in one_thread.lines[-1]
    assert "not judged with one thread per framework" in " ".join(one_thread.lines)
    assert "handoff" not in " ".join(trust.judge([state(0.0)], aa(0.01)).lines)   # not measured: not mentioned


def test_other_processes_on_the_cores_the_benchmark_leaves_free_take_nothing_from_it():
    assert trust.judge([state(0.9, threads=1)], aa(0.01)).reliable
    assert not trust.judge([state(1.2, threads=1)], aa(0.01)).reliable


def test_alone_and_raced_medians_agree_where_they_differ_by_less_than_the_aa_or_the_fresh_processes_spread():
    key = {"device": "cpu", "dtype": "float32", "mode": "strict", "N": 64, "D_in": 1000, "H": 100, "D_out": 10,
           "bias": False, "phase": "grads"}
    raced = {"torch-autograd": 200e-6, "numpy-manual": 300e-6, "jax-grad": 300e-6}
    table = pd.DataFrame([{**key, "impl": impl, "timing": "latency", "median_s": m, "race": RACE}
                          for impl, m in raced.items()])
    # Three fresh processes each: torch's agree among themselves; numpy's too, far from the race; jax's
    # differ by a third, and the race lands inside that.
    fresh = {"torch-autograd": ("torch", (195e-6, 196e-6, 197e-6)), "numpy-manual": ("numpy", (199e-6, 200e-6, 201e-6)),
             "jax-grad": ("jax", (200e-6, 240e-6, 320e-6))}
    alone = pd.DataFrame([{**key, "impl": impl, "framework": fw, "median_s": m, "process": i, "threads": 2}
                          for impl, (fw, medians) in fresh.items() for i, m in enumerate(medians)])
    found = analysis.alone_table(table, alone, aa(0.02)).set_index("impl")
    assert found.loc["torch-autograd", "difference"] == pytest.approx(200 / 196 - 1)
    assert found.loc["jax-grad", "alone_s"] == pytest.approx(240e-6)
    assert found.loc["jax-grad", "spread"] == pytest.approx(320 / 240 - 1)
    assert found["processes"].tolist() == [3, 3, 3]
    assert found["agree"].to_dict() == {"torch-autograd": True, "numpy-manual": False, "jax-grad": True}
    assert found["readable"].all() and not analysis.alone_table(table, alone, aa(0.2))["readable"].any()
    assert not analysis.handoff_moved(found).any()   # not recorded: nothing said
    # The handoff while the race ran against the processes': numpy's race near (10 µs), its processes far (17 to 18).
    states = [state(0.0, handoff_us=(10.0, 10.0)),
              *[state(0.0, race=alone_stage(impl, "cpu", "float32", "strict", i), handoff_us=(17.0, 17.0 + i))
                for impl in fresh for i in range(3)]]
    handed = analysis.alone_table(table, alone, aa(0.02), states).set_index("impl")
    assert handed.loc["numpy-manual", ["handoff_raced_lo_us", "handoff_raced_hi_us", "handoff_alone_us",
                                       "handoff_own_write_us"]].tolist() == [10.0, 10.0, 17.5, 9.0]
    assert trust.far_above(9.0) == 14.0
    assert analysis.handoff_moved(handed).all()
    # A race that read both levels was timed in two states, whatever the processes read.
    states[0] = state(0.0, handoff_us=(10.0, 17.0))
    assert analysis.handoff_moved(analysis.alone_table(table, alone, aa(0.02), states)).all()
    states[0] = state(0.0, handoff_us=(17.0, 24.0))   # far throughout, as the processes
    assert not analysis.handoff_moved(analysis.alone_table(table, alone, aa(0.02), states)).any()
    # With one thread per framework it is shown, not judged.
    states[0] = state(0.0, handoff_us=(10.0, 17.0))
    single = analysis.alone_table(table, alone.assign(threads=1), aa(0.02), states)
    assert not analysis.handoff_moved(single).any() and single["handoff_raced_hi_us"].eq(17.0).all()


def test_a_race_timed_at_both_handoff_levels_is_set_beside_the_processes_level_by_level():
    from bench.report.summary import alone_statements
    key = {"device": "cpu", "dtype": "float32", "mode": "strict", "N": 64, "D_in": 1000, "H": 100, "D_out": 10,
           "bias": False, "phase": "step"}
    # 40 rounds: read near (10 µs) after each of the first 15, far (18) after the rest; round 15 lies across the move.
    rounds_us = [10.0] * 15 + [18.0] * 25
    near, far = np.arange(40) < 15, np.arange(40) > 15
    raced = {"numpy-manual": (280e-6, 600e-6), "torch-autograd": (360e-6, 700e-6)}   # (near, far) per round
    table = pd.DataFrame([{**key, "impl": impl, "timing": "latency", "race": RACE,
                           "samples": np.where(near, at_near, at_far) * (1 + 0.001 * (np.arange(40) % 3)),
                           "median_s": float(np.median(np.where(near, at_near, at_far)))}
                          for impl, (at_near, at_far) in raced.items()])
    # numpy's five processes all read near and agree with the race's near rounds; torch's three near ones do too,
    # but its two far ones read 600 µs where the race's far rounds read 700.
    alone_us = {"numpy-manual": (279, 281, 282, 280, 283), "torch-autograd": (359, 361, 362, 595, 605)}
    far_processes = {"numpy-manual": 0, "torch-autograd": 2}
    alone = pd.DataFrame([{**key, "impl": impl, "framework": impl.split("-")[0], "median_s": us * 1e-6,
                           "process": i, "threads": 2} for impl, medians in alone_us.items()
                          for i, us in enumerate(medians)])
    states = [{**state(0.0, handoff_us=(10.0, 18.0)), "handoff_rounds_us": rounds_us},
              *[state(0.0, race=alone_stage(impl, "cpu", "float32", "strict", i),
                      handoff_us=(18.0, 18.0) if i >= 5 - far_processes[impl] else (10.0, 10.0))
                for impl in alone_us for i in range(5)]]
    found = analysis.alone_table(table, alone, aa(0.02), states).set_index("impl")
    assert not found["agree"].any() and analysis.handoff_moved(found).all()
    assert found.loc["torch-autograd", ["near_processes", "near_rounds", "far_processes", "far_rounds"]].tolist() == \
        [3, 15, 2, 24]
    assert found.loc["numpy-manual", ["near_processes", "near_rounds"]].tolist() == [5, 15]
    assert np.isnan(found.loc["numpy-manual", "far_processes"])
    assert found.loc["numpy-manual", "near_alone_s"] == pytest.approx(281e-6)
    assert found.loc["torch-autograd", "far_alone_s"] == pytest.approx(600e-6)
    assert analysis.level_agreement(found).to_dict() == {"numpy-manual": "yes", "torch-autograd": "no"}
    text = "\n".join(alone_statements(found.reset_index()))
    assert "| yes at one handoff level (near " in text and "**no**, at one handoff level too (near " in text
    assert "Of the 2 disagreements timed at two handoff levels, 1 agree and 1 do not" in text
    # Near: 280.28 / 281 and 360.36 / 361; far: 700.7 / 600 (medians of the rounds with their 0.1% steps). As wholes,
    # numpy's race reads 600 (25 of its 40 rounds far) against its processes' 281.
    assert ("Level by level they differ by 0.3% (median of 3) and at most 16.8%, where as wholes the same pairs differ "
            "by up to 113.5%.") in text
    # Read only before and after (no per-round readings), or with too few rounds at a level: nothing compared there.
    states[0] = state(0.0, handoff_us=(10.0, 18.0))
    assert (analysis.level_agreement(analysis.alone_table(table, alone, aa(0.02), states)) == "").all()
    states[0] = {**state(0.0, handoff_us=(10.0, 18.0)), "handoff_rounds_us": [10.0] * 5 + [18.0] * 35}
    few = analysis.alone_table(table, alone, aa(0.02), states).set_index("impl")
    assert few["near_rounds"].isna().all() and few.loc["torch-autograd", "far_rounds"] == 34


def test_page_faults_explain_a_disagreement_only_where_the_slower_side_faulted_enough_more():
    from bench.report.summary import alone_statements
    key = {"device": "cpu", "dtype": "float64", "mode": "strict", "N": 64, "D_in": 1000, "H": 100, "D_out": 10,
           "bias": False, "phase": "step"}
    # (race µs, its faults per call), (the processes' µs, their faults per call)
    cases = {"numpy-manual": ((656, 0.0), (1380, 358.0)),      # 358 more faults at 2 µs: 716 µs of the 724
             "jax-grad": ((620, 0.0), (750, 30.0)),            # 30 more faults at 2 µs: 60 µs of 130, less than half
             "torch-autograd": ((900, 50.0), (700, 0.0)),      # the race faulted more and is slower: 100 µs of 200
             "numpy-inplace": ((500, 100.0), (700, 0.0))}      # the race faulted more, yet is the faster
    table = pd.DataFrame([{**key, "impl": impl, "timing": "latency", "median_s": raced * 1e-6, "race": RACE,
                           "faults_per_call": raced_faults} for impl, ((raced, raced_faults), _) in cases.items()])
    alone = pd.DataFrame([{**key, "impl": impl, "framework": impl.split("-")[0], "median_s": us * 1e-6, "process": i,
                           "threads": 1, "faults_per_call": faults + i}
                          for impl, (_, (us, faults)) in cases.items() for i in (-1, 0, 1)])
    states = [{**state(0.0), "fault_us": 2.0}]
    found = analysis.alone_table(table, alone, aa(0.02), states).set_index("impl")
    assert found.loc["numpy-manual", ["faults_raced", "faults_alone", "faults_alone_lo", "faults_alone_hi",
                                      "fault_us"]].tolist() == [0.0, 358.0, 357.0, 359.0, 2.0]
    assert analysis.faults_explain(found).to_dict() == {"numpy-manual": True, "jax-grad": False,
                                                        "torch-autograd": True, "numpy-inplace": False}
    text = "\n".join(alone_statements(found.reset_index()))
    assert "page faults per call, race / alone" in text and "| 0 / 358 (357–359) |" in text
    assert text.count("**no**, page faults differ") == 2 and "at 2.00 µs each" in text
    # Not counted (a run written before they were): no column, no mark.
    old = analysis.alone_table(table.drop(columns="faults_per_call"), alone.drop(columns="faults_per_call"), aa(0.02))
    assert not analysis.faults_explain(old).any() and "page faults" not in "\n".join(alone_statements(old))


def test_page_faults_are_named_only_where_the_second_process_sorts_with_the_side_whose_faults_it_shares():
    from bench.report.summary import alone_statements
    key = {"device": "cpu", "dtype": "float64", "mode": "strict", "N": 64, "D_in": 1000, "H": 100, "D_out": 10,
           "bias": False, "phase": "step"}
    drift = np.exp(np.linspace(0.0, 0.5, 40))
    # Each way's race faults none and runs 770 µs; its process 1 faults 28 pages a call (at 4 µs each, 112 µs) and
    # runs 900. Its process 2 faults none too, and runs as the race does (numpy: its process 1 drew the faulting
    # heap) or as process 1 does (jax, as measured 2026-12-05 14:00: the faults are not what slows both processes).
    second = {"numpy-manual": ("numpy", 770e-6), "jax-grad": ("jax", 905e-6)}
    table = pd.DataFrame([{**key, "impl": impl, "timing": "latency", "median_s": 770e-6 * float(np.median(drift)),
                           "race": RACE, "samples": 770e-6 * drift, "faults_per_call": 0.0} for impl in second])
    alone = pd.DataFrame(
        [{**key, "impl": impl, "framework": fw, "median_s": 800e-6, "process": i, "threads": 1, "race": "",
          "samples": None, "faults_per_call": 0.0} for impl, (fw, _) in second.items() for i in range(3)]
        + [{**key, "impl": impl, "framework": fw, "median_s": float(np.median(us * drift)), "process": process,
            "threads": 1, "race": RACE, "samples": us * drift, "faults_per_call": faults}
           for impl, (fw, other_s) in second.items()
           for process, us, faults in ((0, 900e-6, 28.0), (1, other_s, 0.0))])
    found = analysis.alone_table(table, alone, aa(0.012), [{**state(0.0, threads=1), "fault_us": 4.0}])
    assert analysis.faults_explain(found.assign(faults_alone=found["turns_faults"], alone_s=found["turns_s"])).all()
    assert analysis.faults_sort_with_process_2(found).tolist() == [True, False]
    assert analysis.turns_faults_explain(found).tolist() == [True, False]
    rows = {line.split(" | ")[1]: line for line in "\n".join(alone_statements(found)).splitlines()
            if line.startswith("| ") and " | cpu float64 step |" in line}
    assert rows["numpy-manual"].endswith("| 0 / 28 / 0 | as two processes alone, page faults differ | 800.0 | ±0.0% |")
    assert rows["jax-grad"].endswith("| 0 / 28 / 0 | **no** | 800.0 | ±0.0% |")
    # Without a second process, nothing contradicts the faults.
    one = analysis.alone_table(table, alone[alone["process"] != 1], aa(0.012),
                               [{**state(0.0, threads=1), "fault_us": 4.0}])
    assert analysis.faults_sort_with_process_2(one).all()
    assert "\n".join(alone_statements(one)).count("**no**, page faults differ") == 2


def test_the_cost_of_a_page_fault_is_measured_and_said_where_counted():
    from bench.faults import fault_us, minor_faults
    if minor_faults() is None:
        pytest.skip("page faults are not counted on this system")
    assert fault_us(nbytes=64 * 4096, repeats=3) > 0
    line = next(line for line in trust.judge([{**state(0.0), "fault_us": 2.5}], aa(0.01)).lines
                if line.startswith("Page faults"))
    assert "one minor fault cost 2.50 µs" in line
    assert not any(line.startswith("Page faults") for line in trust.judge([state(0.0)], aa(0.01)).lines)


def test_turns_taken_alone_pair_with_the_race_round_by_round_and_are_held_to_its_aa_alone():
    from bench.report.summary import alone_statements
    key = {"device": "cpu", "dtype": "float32", "mode": "strict", "N": 64, "D_in": 1000, "H": 100, "D_out": 10,
           "bias": False, "phase": "grads"}
    # The machine drifts from round to round by up to 3x, alike for both sides of a round.
    drift = np.exp(np.linspace(0.0, 1.1, 40))
    # torch's race 1% slower than its turns alone; numpy's 10% slower; jax's alternately 21% faster and 40% slower.
    base = {"torch-autograd": 200e-6, "numpy-manual": 300e-6, "jax-grad": 300e-6}
    slower = {"torch-autograd": 1.01, "numpy-manual": 1.10, "jax-grad": np.tile([0.79, 1.40], 20)}
    raced = {impl: m * drift * slower[impl] for impl, m in base.items()}
    # numpy's race faults 150 pages a call more than its turns: at 2 µs each, more than its 10%.
    faulted = {"numpy-manual": 150.0}
    table = pd.DataFrame([{**key, "impl": impl, "timing": "latency", "median_s": float(np.median(samples)),
                           "race": RACE, "samples": samples, "faults_per_call": faulted.get(impl, 0.0)}
                          for impl, samples in raced.items()])
    # Fresh processes, one after another: numpy's differ by half, so that the race lies within their spread.
    fresh = {"torch-autograd": ("torch", (195e-6, 196e-6, 197e-6)), "numpy-manual": ("numpy", (380e-6, 560e-6, 840e-6)),
             "jax-grad": ("jax", (300e-6, 310e-6, 320e-6))}
    alone = pd.DataFrame([{**key, "impl": impl, "framework": fw, "median_s": m, "process": i, "threads": 2, "race": "",
                           "samples": None} for impl, (fw, medians) in fresh.items() for i, m in enumerate(medians)]
                         + [{**key, "impl": impl, "framework": fresh[impl][0], "median_s": float(np.median(m * drift)),
                             "process": 0, "threads": 2, "race": RACE, "samples": m * drift, "faults_per_call": 0.0}
                            for impl, m in base.items()])
    # A second process of each way taking the same turns: numpy's 8% slower than its first, faulting as the race
    # does; jax's 2% slower.
    second = {"torch-autograd": 1.005, "numpy-manual": 1.08, "jax-grad": 1.02}
    two = pd.concat([alone, pd.DataFrame([
        {**key, "impl": impl, "framework": fresh[impl][0], "median_s": float(np.median(m * drift * second[impl])),
         "process": 1, "threads": 2, "race": RACE, "samples": m * drift * second[impl],
         "faults_per_call": 140.0 if impl == "numpy-manual" else 3.0}
        for impl, m in base.items()])], ignore_index=True)
    found = analysis.alone_table(table, two, aa(0.02), [{**state(0.0), "fault_us": 2.0}]).set_index("impl")
    assert found["turns_difference"].round(6).to_dict() == pytest.approx(
        {"torch-autograd": 0.01, "numpy-manual": 0.10, "jax-grad": (0.79 + 1.40) / 2 - 1})
    assert (found["turns_lo"] <= found["turns_difference"]).all() and \
        (found["turns_difference"] <= found["turns_hi"]).all()
    assert found.loc["torch-autograd", "turns_s"] == pytest.approx(200e-6 * np.median(drift))
    # Held to the race's A/A, not to how far the fresh processes differ (numpy's: within, but 10% past the A/A).
    assert found["agree"].to_dict() == {"torch-autograd": True, "numpy-manual": False, "jax-grad": False}
    assert abs(found.loc["numpy-manual", "difference"]) <= found.loc["numpy-manual", "spread"]
    text = alone_statements(found.reset_index())
    rows = {line.split(" | ")[1]: line for line in "\n".join(text).splitlines()
            if line.startswith("| ") and " | cpu float32 " in line}
    assert "| +1.0% (" in rows["torch-autograd"] and rows["torch-autograd"].count("| yes |") == 1
    assert "1 of 3 agree: within the race's A/A" in text[0]
    # numpy's race lies 10% from its first process but 1.9% from its second, nearer than the two lie apart (8%);
    # jax's lies 9.5% and 7.4% from them, farther than they lie apart (2%).
    assert found["turns_processes"].round(6).to_dict() == pytest.approx(
        {"torch-autograd": 0.005, "numpy-manual": 0.08, "jax-grad": 0.02})
    assert found["turns_other_difference"].to_dict() == pytest.approx(
        {"torch-autograd": 1.01 / 1.005 - 1, "numpy-manual": 1.10 / 1.08 - 1, "jax-grad": (0.79 + 1.40) / 2 / 1.02 - 1})
    assert found["within_processes"].to_dict() == {"torch-autograd": 1.0, "numpy-manual": 1.0, "jax-grad": 0.0}
    assert "| +10.0% (+10.0 to +10.0) | +8.0% | ±3.0% |" in rows["numpy-manual"]
    assert "| 150 / 0 / 140 | as two processes alone, page faults differ |" in rows["numpy-manual"]
    assert "| 0 / 0 / 3 | not resolved (its interval reaches the A/A) |" in rows["jax-grad"]
    assert "; 1 more read \"as two processes alone\": the race lies no farther from the nearer" in text[0]
    assert ("Over the 3 readable cases, the race lies 9.5% from process 1 alone (median; at most 10.0%), and process 2 "
            "lies 2.0% from it (at most 8.0%). A race that moved the ways' times would lie farther from process 1 than "
            "process 2 does: here it is the farther in 3 of 3 (about half where the race moved nothing; two-sided sign "
            "test p = 0.25") in "\n".join(text)
    # One process taking turns (a run before the second): no column for it, and the A/A alone decides.
    one = analysis.alone_table(table, alone, aa(0.02), [{**state(0.0), "fault_us": 2.0}]).set_index("impl")
    assert one["within_processes"].isna().all()
    one_text = "\n".join(alone_statements(one.reset_index()))
    assert "process 2" not in one_text and "| 150 / 0 | **no**, page faults differ |" in one_text
    assert "| 0 / 0 | not resolved (its interval reaches the A/A) |" in one_text
    # As findings.json kept it before the second process: without its columns, read the same.
    written_before = one.reset_index().drop(columns=["turns_processes", "turns_other_difference",
                                                     "turns_other_faults", "within_processes"])
    assert alone_statements(written_before) == alone_statements(one.reset_index())
    # Without turns (a run before them, or none recorded), the fresh processes decide as before.
    without = analysis.alone_table(table, alone[alone["race"] == ""], aa(0.02)).set_index("impl")
    assert without["turns_difference"].isna().all() and bool(without.loc["numpy-manual", "agree"])


def test_the_summary_says_when_the_race_reads_one_framework_slower_than_alone_in_every_case():
    from bench.report.summary import alone_statements
    cases = [("cpu", dtype, phase) for dtype in ("float32", "float64") for phase in ("forward", "grads", "step")]
    # torch's race is 10% slower than alone in all six cases; numpy's 3% either way, three and three.
    differences = {"torch": [0.10] * 6, "numpy": [0.03, -0.03] * 3}
    found = pd.DataFrame([{"framework": fw, "impl": f"{fw}-way", "device": d, "dtype": t, "mode": "strict",
                           "phase": p, "alone_s": 100e-6, "processes": 5, "spread": 0.2,
                           "raced_s": 100e-6 * (1 + diff), "difference": diff, "aa": 0.02, "agree": True,
                           "readable": True}
                          for fw, diffs in differences.items() for (d, t, p), diff in zip(cases, diffs)])
    direction = analysis.race_direction(found).set_index("framework")
    assert direction.loc["torch", ["slower", "faster"]].tolist() == [6, 0]
    assert direction.loc["numpy", ["slower", "faster"]].tolist() == [3, 3]
    assert direction.loc["all", "median_difference"] == pytest.approx(0.065)
    line = alone_statements(found)[-1]
    assert "6 of torch's 6 (median +10.0%)" in line and "3 of numpy's 6 (median +0.0%)" in line
    assert "9 of all 12" in line


def test_a_planted_busy_run_prints_the_warning_at_the_top_of_its_summary_and_shows_alone_beside_raced(tmp_path):
    document = {**fixture_document(), "machine_state": [state(1.5, race="")]}
    alone = {**fixture_document()["benchmarks"][1], "name": "alone fast grads"}   # the planted "fast" grads case
    alone["stats"] = {**alone["stats"], "median": 248e-6}
    alone["extra_info"] = {key: alone["extra_info"][key] for key in ("impl", "framework", "device", "dtype", "mode",
                                                                     "N", "D_in", "H", "D_out", "bias", "phase")}
    document["benchmarks"].append({**alone, "extra_info": {**alone["extra_info"], "kind": "alone", "threads": 2}})
    raw = tmp_path / "raw.json"
    raw.write_text(json.dumps(document))
    run = tmp_path / "run"
    run.mkdir()
    (run / "machine.json").write_text(json.dumps(MACHINE))
    headline = report.build(raw, run, command="python -m bench")
    top = (run / "summary.md").read_text().split("## ")[0]
    assert "**This run is not reliable**" in top and "other processes took 75%" in top
    assert trust.judge_run(raw).lines[0].startswith("**This run is not reliable**")
    # The headline the job prints and writes into results/LATEST.md leads with it too, as README's does.
    assert headline.startswith("**This run is not reliable**") and headline == report.headline_markdown(run)
    report.write_latest(tmp_path, headline)
    assert "<!-- headline:begin -->\n**This run is not reliable**" in (tmp_path / "LATEST.md").read_text()
    assert "| numpy | fast | cpu float32 grads | 248.0 | ±0.0% | 250.0 | +0.8% | ±2.0% | yes |" in \
        (run / "summary.md").read_text()


def test_a_run_timed_under_pool_settings_says_its_ratios_between_frameworks_are_not_its_users():
    tuned = trust.pool_tuning({"threads": {"OMP_NUM_THREADS": "2", "GOMP_SPINCOUNT": "1000", "OMP_WAIT_POLICY": ""}})
    assert tuned == {"GOMP_SPINCOUNT": "1000"}
    verdict = trust.judge([state(0.0)], aa(0.01), tuned)
    assert not verdict.reliable and "GOMP_SPINCOUNT=1000" in "\n".join(verdict.lines)
    assert trust.judge([state(0.0)], aa(0.01), trust.pool_tuning({"threads": {"OMP_NUM_THREADS": "2"}})).reliable
