"""The interleaved race and what the report computes from its samples.

The race exists so that load which comes and goes lands on every contender alike: a planted
load that triples every call's time for half of the run leaves the round-by-round ratio where
it is, while timing one contender to its end and then the other (as pytest-benchmark does)
reads the load as a difference between them.
"""

import math
import re
from dataclasses import fields

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
pytest.importorskip("scipy")
from bench.lineup import RaceKey  # noqa: E402
from bench.race import Contender, Settings, race  # noqa: E402
from bench.report import analysis  # noqa: E402
from bench.report.tables import fits  # noqa: E402
from bench.report.statistics import paired_ratio, ratio_interval, rank_test  # noqa: E402
from bench.schema import STATS, CaseInfo  # noqa: E402
from reference.problem.inputs import Problem  # noqa: E402


class PlantedLoad:
    """Calls that take ``base`` seconds, three times that once ``switch`` calls have been made in all.

    The seconds pass on a clock of its own, which only these calls move: the race reads exactly
    the planted times, however loaded the machine that runs the test is.
    """

    def __init__(self, switch: float = math.inf):
        self.calls, self.switch, self.now = 0, switch, 0.0

    def clock(self) -> float:
        return self.now

    def work(self, base: float):
        def call():
            self.calls += 1
            self.now += base * (3.0 if self.calls > self.switch else 1.0)
        return call


SETTINGS = Settings(rounds=20, warmup_s=0.0, warmup_calls=1, min_sample_s=0.0, settle_calls=0, settle_s=0.0,
                    switch_settle_s=0.0)


def test_every_round_times_every_contender_once_in_a_fresh_order():
    order = []
    field = [Contender(key, lambda key=key: order.append(key)) for key in "abcd"]
    timings = race(field, Settings(rounds=12, warmup_s=0.0, warmup_calls=1, min_sample_s=0.0, settle_calls=0,
                                   settle_s=0.0, switch_settle_s=0.0))
    rounds = [order[8 + 4 * i: 12 + 4 * i] for i in range(12)]  # after one first call and one warm-up call each
    assert all(sorted(r) == list("abcd") for r in rounds)
    assert len({tuple(r) for r in rounds}) > 1
    assert all(len(timings.samples_s[k]) == 12 for k in "abcd")


def test_interleaved_rounds_keep_a_ratio_that_timing_in_turn_loses():
    rounds = SETTINGS.rounds
    load = PlantedLoad(switch=2 * 2 + rounds)  # first calls and warm-up, then half of the rounds' calls
    field = [Contender("fast", load.work(1e-3)), Contender("slow", load.work(2e-3))]
    timings = race(field, SETTINGS, clock=load.clock)
    ratio = paired_ratio(timings.samples_s["slow"], timings.samples_s["fast"])
    assert ratio == pytest.approx(2.0)
    # The same load, each contender timed to its end before the other: "slow" runs wholly under it.
    load = PlantedLoad(switch=2 + rounds)
    alone = {c.key: race([c], SETTINGS, clock=load.clock).samples_s[c.key] for c in
             (Contender("fast", load.work(1e-3)), Contender("slow", load.work(2e-3)))}
    assert np.median(alone["slow"]) / np.median(alone["fast"]) == pytest.approx(6.0)


def test_contender_keys_must_be_unique():
    with pytest.raises(ValueError, match="unique"):
        race([Contender("a", lambda: None), Contender("a", lambda: None)], SETTINGS)


def test_paired_ratio_and_its_interval_see_through_shared_noise():
    rng = np.random.default_rng(1)
    shared = np.exp(rng.normal(0, 0.5, 60))  # each round's load, common to both
    fast, slow = 1e-4 * shared, 1.5e-4 * shared * np.exp(rng.normal(0, 0.01, 60))
    assert paired_ratio(slow, fast) == pytest.approx(1.5, rel=0.01)
    lo, hi = ratio_interval(slow, fast)
    assert lo < 1.5 < hi and hi - lo < 0.02
    # Unpaired (different lengths, or a case timed alone): no ratio claimed.
    assert np.isnan(paired_ratio(slow[:10], fast)) and np.isnan(ratio_interval(None, fast)[0])


def test_rank_test_separates_a_shift_and_not_two_draws_of_one_distribution():
    rng = np.random.default_rng(2)
    a, b, shifted = (np.exp(rng.normal(0, 0.1, 60)) for _ in range(3))
    assert rank_test(a, shifted * 1.2) < 1e-4
    assert rank_test(a, b) > 0.01


def frame(rows, columns):
    return pd.DataFrame(rows, columns=columns)


def test_fits_recover_a_planted_fixed_cost_and_per_flop_cost():
    sizes = [1, 4, 16, 64, 256, 1024]
    rows = [{"impl": "x", "device": "cpu", "dtype": "float32", "mode": "strict", "bias": False, "phase": "grads",
             "timing": "latency", "verified": True, "N": n, "D_in": 1000, "H": 100, "D_out": 10,
             "flops": 1000 * n, "median_s": 50e-6 + 1e-10 * 1000 * n} for n in sizes]
    fitted = fits(pd.DataFrame(rows)).iloc[0]
    assert fitted["fit_fixed_s"] == pytest.approx(50e-6) and fitted["fit_s_per_flop"] == pytest.approx(1e-10)


def test_crossover_named_where_the_order_changes_and_resolved_by_the_samples():
    rng = np.random.default_rng(3)
    rows = []
    for n in (1, 4, 16, 64, 256):
        shared = np.exp(rng.normal(0, 0.3, 30))
        # "steady" costs 100 us + 1 us per row; "fixed" 20 us + 2 us per row: it loses above N = 80.
        for impl, cost in (("steady", 100e-6 + 1e-6 * n), ("fixed", 20e-6 + 2e-6 * n)):
            rows.append({"impl": impl, "device": "cpu", "dtype": "float32", "mode": "strict", "bias": False,
                         "phase": "grads", "timing": "latency", "verified": True, "N": n, "D_in": 1000, "H": 100,
                         "D_out": 10, "median_s": cost, "samples": cost * shared})
    found = analysis.crossovers(pd.DataFrame(rows))
    assert len(found) == 1
    row = found.iloc[0]
    assert (row["axis"], row["faster_above"], row["slower_above"], row["below"], row["above"]) == \
        ("N", "steady", "fixed", 64, 256)


def test_decomposition_splits_the_median_into_its_library_parts():
    cases = frame([{"impl": "t", "framework": "torch", "device": "cpu", "dtype": "float32", "mode": "strict",
                    "N": 64, "D_in": 1000, "H": 100, "D_out": 10, "bias": False, "phase": "grads",
                    "timing": "latency", "verified": True, "median_s": 500e-6, "race": "r"}],
                  ["impl", "framework", "device", "dtype", "mode", "N", "D_in", "H", "D_out", "bias", "phase",
                   "timing", "verified", "median_s", "race"])
    floor = frame([{"race": "r", "library": lib, "part": part, "median_s": t}
                   for lib, part, t in (("torch", "products", 300e-6), ("torch", "elementwise", 50e-6),
                                        ("numpy", "products", 250e-6), ("numpy", "elementwise", 20e-6))],
                  ["race", "library", "part", "median_s"])
    row = analysis.decomposition(cases, floor).iloc[0]
    assert row["rest_s"] == pytest.approx(150e-6) and row["over_own_products"] == pytest.approx(500 / 300)
    assert (row["fastest_library"], row["fastest_products_s"]) == ("numpy", 250e-6)


def test_a_missed_target_says_when_the_librarys_parts_alone_already_pass_it():
    from bench.report.summary import decomposition_statements
    columns = ["impl", "framework", "device", "dtype", "mode", "N", "D_in", "H", "D_out", "bias", "phase",
               "timing", "verified", "median_s", "race"]
    cases = frame([{"impl": impl, "framework": fw, "device": "cpu", "dtype": "float32", "mode": "strict", "N": 64,
                    "D_in": 1000, "H": 100, "D_out": 10, "bias": False, "phase": "step", "timing": "latency",
                    "verified": True, "median_s": t, "race": "r"}
                   for impl, fw, t in (("torch-manual", "torch", 360e-6), ("torch-inplace", "torch", 360e-6),
                                       ("numpy-inplace", "numpy", 400e-6))], columns)
    # torch's parts alone take 350 us, 1.17x its products: past torch-manual's 1.15, within 1.3. numpy's: 1.08x.
    floor = frame([{"race": "r", "library": lib, "part": part, "median_s": t}
                   for lib, part, t in (("torch", "products", 300e-6), ("torch", "elementwise", 50e-6),
                                        ("numpy", "products", 250e-6), ("numpy", "elementwise", 20e-6))],
                  ["race", "library", "part", "median_s"])
    table = decomposition_statements(analysis.decomposition(cases, floor))[-1]
    targets = {line.split("|")[2].strip(): line.split("|")[-2].strip() for line in table.splitlines()[2:]}
    assert targets == {"torch-manual": "≤ 1.15 **missed**; parts alone 1.17", "torch-inplace": "≤ 1.3 met",
                       "numpy-inplace": "≤ 1.3 **missed**"}


def test_a_contender_that_raises_is_dropped_and_the_race_goes_on():
    calls = {"n": 0}

    def breaks_in_the_rounds():
        calls["n"] += 1
        if calls["n"] > 3:
            raise RuntimeError("broke on its fourth call")

    field = [Contender("steady", lambda: None), Contender("broken", breaks_in_the_rounds),
             Contender("dead", lambda: 1 / 0)]
    timings = race(field, SETTINGS)
    assert timings.failed == {"broken": "RuntimeError: broke on its fourth call",
                              "dead": "ZeroDivisionError: division by zero"}
    assert set(timings.samples_s) == {"steady"} and len(timings.samples_s["steady"]) == SETTINGS.rounds


def test_an_aa_twin_takes_its_originals_invocations_per_sample():
    load = PlantedLoad()
    field = [Contender("case", load.work(2e-4)), Contender("A/A", lambda: None, twin_of="case")]
    # Some 100 of the original's calls per sample; on its own the twin, which takes no time, would make 2e7.
    timings = race(field, Settings(rounds=3, warmup_s=0.0, warmup_calls=1, min_sample_s=2e-2, settle_calls=0,
                                   settle_s=0.0, switch_settle_s=0.0),
                   clock=load.clock)
    assert timings.loops["A/A"] == timings.loops["case"] > 1


def test_the_fastest_verified_case_is_the_yardstick_never_an_unverified_one():
    from bench.report.tables import case_table
    rng = np.random.default_rng(4)
    shared = np.exp(rng.normal(0, 0.2, 30))
    base = {"device": "cpu", "dtype": "float32", "mode": "strict", "N": 64, "D_in": 1000, "H": 100, "D_out": 10,
            "bias": False, "phase": "grads", "timing": "latency", "threads": 2, "flops": 1, "race": "r",
            "kernels_per_call": np.nan, "iqr_s": 0.0}
    cases = pd.DataFrame([{**base, "impl": impl, "verified": verified, "median_s": t, "samples": t * shared}
                          for impl, verified, t in (("wrong-but-fast", False, 1e-4), ("right", True, 2e-4),
                                                    ("slower", True, 3e-4))]).reindex(
        columns=[f.name for f in fields(CaseInfo)] + list(STATS.values()) + ["samples"])
    table = case_table(cases, pd.DataFrame(columns=["device", "dtype", "gflops"]),
                       pd.DataFrame(columns=["device", "dtype", "N", "D_in", "H", "D_out", "phase", "floor_s"]),
                       "planted", pd.DataFrame(columns=["device", "median_s"]), keep_samples=True).set_index("impl")
    assert table.loc["right", "ratio_to_fastest"] == pytest.approx(1.0)
    assert table.loc["slower", "ratio_to_fastest"] == pytest.approx(1.5)
    assert table.loc["wrong-but-fast", "ratio_to_fastest"] == pytest.approx(0.5)


def test_each_turn_begins_with_untimed_calls_that_fill_the_settle_time():
    # A call advances the fake clock by 2**-14 s: a settle time of 2**-11 s is eight calls, then one timed.
    now, made = [0.0], []

    def call():
        now[0] += 2.0 ** -14
        made.append(now[0])
    settings = Settings(rounds=4, warmup_s=0.0, warmup_calls=1, min_sample_s=0.0, settle_calls=1, settle_s=2.0 ** -11,
                        switch_settle_s=0.0)
    timings = race([Contender("a", call, pool="p")], settings, clock=lambda: now[0], wait_for_idle=lambda s: None)
    assert len(made) == 2 + 4 * (8 + 1)  # the first call and one warm-up call, then each round's turn
    assert list(timings.samples_s["a"]) == [2.0 ** -14] * 4


def test_page_faults_are_counted_per_call_around_each_sample_and_not_in_its_settle_calls():
    # "a" faults 3 pages a call, "b" none; each turn's two settle calls fault 100 each, which must not count.
    faults, settling = [0], []

    def call_faulting(pages):
        def call():
            faults[0] += 100 if settling and settling[-1] else pages
        return call
    settings = Settings(rounds=5, warmup_s=0.0, warmup_calls=1, min_sample_s=0.0, settle_calls=2, settle_s=0.0,
                        switch_settle_s=0.0)
    calls = {"a": call_faulting(3), "b": call_faulting(0)}

    def counted(key):
        made = {"n": 0}

        def call():   # the first call and the warm-up call, then per round two settle calls and one timed
            made["n"] += 1
            settling.append(made["n"] > 2 and (made["n"] - 3) % 3 != 2)
            calls[key]()
        return call
    field = [Contender(key, counted(key), pool=key) for key in ("a", "b")]
    timings = race(field, settings, wait_for_idle=lambda s: None, faults=lambda: faults[0])
    assert timings.faults_per_call == {"a": 3.0, "b": 0.0}
    assert race(field, settings, wait_for_idle=lambda s: None, faults=lambda: None).faults_per_call == {}


def test_the_first_turn_after_a_switch_of_pool_settles_longer():
    # Calls of 2**-14 s: a turn settles for 8 calls, the first after a switch of pool for 32, then one is timed.
    now, made = [0.0], []

    def call_on(pool):
        def call():
            now[0] += 2.0 ** -14
            made.append(pool)
        return call
    settings = Settings(rounds=4, warmup_s=0.0, warmup_calls=1, min_sample_s=0.0, settle_calls=1, settle_s=2.0 ** -11,
                        switch_settle_s=2.0 ** -9)
    field = [Contender("a1", call_on("p"), pool="p"), Contender("a2", call_on("p"), pool="p"),
             Contender("b", call_on("q"), pool="q")]
    race(field, settings, clock=lambda: now[0], wait_for_idle=lambda s: None)
    rounds = "".join(made[3 * 2:])  # after each contender's first call and warm-up call
    # Each stretch of one pool's calls opens with a switch (32 + 1 calls), then 8 + 1 for each further turn in it.
    stretches = [len(run) for run in re.findall(r"p+|q+", rounds)]
    assert all(n >= 33 and (n - 33) % 9 == 0 for n in stretches), stretches
    assert sum(1 + (n - 33) // 9 for n in stretches) == 3 * 4


def test_a_contender_sampled_elsewhere_is_asked_for_its_samples_and_neither_settled_nor_counted_here():
    # "far" runs in another process: it returns its own seconds and faults per invocation; the race must not call it
    # to settle, and must not count this process's faults for it (here 100 a sample, from "near").
    now, faults, asked, settled_far = [0.0], [0], [], []

    def near():
        now[0] += 2.0 ** -14
        faults[0] += 100

    def far(loops):
        asked.append(loops)
        return 3e-4 + 1e-5 * len(asked), 2.0
    settings = Settings(rounds=6, warmup_s=0.0, warmup_calls=1, min_sample_s=0.0, settle_calls=2, settle_s=0.0,
                        switch_settle_s=0.0)
    field = [Contender("near", near, pool="p"),
             Contender("far", lambda: settled_far.append(1), pool="q", sampled_elsewhere=far)]
    timings = race(field, settings, clock=lambda: now[0], wait_for_idle=lambda s: None, faults=lambda: faults[0])
    assert not settled_far and asked[:2] == [1, 1] and asked[2:] == [1] * 6  # first call, warm-up, one per round
    assert list(timings.samples_s["far"]) == [3e-4 + 1e-5 * n for n in range(3, 9)]
    assert timings.faults_per_call == {"near": 100.0, "far": 2.0}
    assert timings.first_call_s["far"] == pytest.approx(3.1e-4)


def test_turns_time_the_plain_way_in_a_process_of_its_own_and_report_its_failures():
    from bench.alone import Turns
    with Turns("numpy-manual", "cpu", "float32", "strict", ("forward", "grads"), settle_s=0.0) as turns:
        child = turns.child
        for phase in ("grads", "forward", "grads"):   # one process serves every phase it prepared
            seconds, faulted = turns.sample(phase, 3)
            assert 0 < seconds < 1 and (faulted is None or faulted >= 0)
        assert child.pid != __import__("os").getpid()
    assert child.poll() == 0   # closing its stdin ends it
    with pytest.raises(RuntimeError, match=r"nonesuch cpu float32 strict taking turns ended \(exit 1\): "
                                           r".*unknown implementation 'nonesuch'"):
        Turns("nonesuch", "cpu", "float32", "strict", ("grads",), settle_s=0.0)
    # Started without waiting, processes load side by side; one that cannot load fails when it is waited for.
    loading = [Turns(spec, "cpu", "float32", "strict", ("grads",), settle_s=0.0, wait=False)
               for spec in ("numpy-manual", "nonesuch")]
    try:
        assert not any(turns.ready for turns in loading) and loading[0].child.poll() is None
        loading[0].wait_until_ready()
        assert loading[0].ready and 0 < loading[0].sample("grads", 2)[0] < 1
        with pytest.raises(RuntimeError, match=r"nonesuch .* ended \(exit 1\): .*unknown implementation 'nonesuch'"):
            loading[1].wait_until_ready()
    finally:
        for turns in loading:
            turns.close()
    # Code under test that raises or exits while timed: the race drops it and says why, and the others go on;
    # the process stays gone for the races after it.
    for hostile, why in (("tests.hostile.raises:SumWithAxis", "TypeError: "),
                         ("tests.hostile.plugins:ExitsWithZero", "taking turns ended (exit 0)")):
        with Turns(hostile, "cpu", "float32", "strict", ("grads",), settle_s=0.0) as turns:
            timings = race([turns.contender("alone", pool="q", phase="grads"), Contender("here", lambda: None, pool="p")],
                           Settings(rounds=3, warmup_s=0.0, warmup_calls=1, min_sample_s=0.0, switch_settle_s=0.0))
            assert why in timings.failed["alone"] and "here" in timings.samples_s, timings.failed
            with pytest.raises(RuntimeError, match=re.escape(why)):
                turns.sample("grads", 1)
    with Turns("tests.hostile.plugins:Hangs", "cpu", "float32", "strict", ("step",), 0.0, answer_timeout_s=3) as turns:
        with pytest.raises(RuntimeError, match=r"Hangs cpu float32 strict step taking turns did not answer in 3 s"):
            turns.sample("step", 1)
    assert turns.child.poll() is not None   # killed, not left behind
    # It times with the garbage collector off, as the race does.
    with Turns("tests/hostile/collector.py", "cpu", "float32", "strict", ("grads",), settle_s=0.01) as turns:
        assert 0 < turns.sample("grads", 2)[0] < 1
    # What the code under test prints does not reach the pipe the race reads.
    with Turns("tests/hostile/prints.py", "cpu", "float32", "strict", ("step",), settle_s=0.0) as turns:
        assert all(0 < turns.sample("step", 2)[0] < 1 for _ in range(3))
    # A process that ended between its turns is named with its exit status, at its next turn and every one after.
    with Turns("numpy-manual", "cpu", "float32", "strict", ("grads",), settle_s=0.0) as turns:
        turns.child.kill()
        turns.child.wait()
        for _ in range(2):
            with pytest.raises(RuntimeError, match=r"numpy-manual cpu float32 strict grads taking turns ended \(exit -9\)"):
                turns.sample("grads", 1)


def test_turn_takers_keep_one_process_per_plain_way_until_the_races_move_to_another_dtype():
    from bench.alone import TurnTakers
    started, closed = [], []

    class Child:   # stands in for a Turns process
        def __init__(self, name, failure=None):
            self.name, self.failure = name, failure
            started.append(name)

        def close(self):
            closed.append(self.name)

    def key(dtype, phase):
        return RaceKey("cpu", dtype, "strict", Problem(), phase, "latency")

    def cannot_start():
        raise OSError("no such plug-in")

    children = TurnTakers()
    first = children.get(key("float32", "forward"), "numpy-manual", lambda: Child("numpy-manual float32"))
    assert children.get(key("float32", "step"), "numpy-manual", lambda: Child("again")) is first
    assert started == ["numpy-manual float32"] and closed == []
    for phase in ("step", "grads"):   # tried once, then named in every race of the dtype
        with pytest.raises(RuntimeError, match="could not start: no such plug-in"):
            children.get(key("float32", phase), "torch-autograd", cannot_start)
    first.failure = "numpy-manual cpu float32 strict taking turns ended (exit 0): gone"
    with pytest.raises(RuntimeError, match=r"ended \(exit 0\): gone"):
        children.get(key("float32", "grads"), "numpy-manual", lambda: Child("restarted"))
    children.get(key("float64", "forward"), "numpy-manual", lambda: Child("numpy-manual float64"))
    assert closed == ["numpy-manual float32"] and "restarted" not in started
    children.get(key("float64", "forward"), "torch-autograd", lambda: Child("torch-autograd float64"))  # tried anew
    children.close()
    assert closed == ["numpy-manual float32", "numpy-manual float64", "torch-autograd float64"]
