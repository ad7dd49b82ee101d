"""bench/waits.py, the benchmark of how long README's checking commands take: what it reads and what it says."""

from bench.waits import COMMANDS, Command, Wait, summary, timed


def test_both_drivers_progress_is_seen_after_their_header():
    for argv in (("-m", "reference", "examples/my_impl.py", "--dtype=float64", "--check=repeatable"),
                 ("-m", "pytest", "-n", "0", "-p", "no:cacheprovider", "--impl-path=examples/my_impl.py",
                  "--dtype=float64", "-k", "repeatable")):
        wait = timed(Command("one check", argv, 10.0), run=1)
        assert wait.header_to_progress_s is not None and 0 <= wait.header_to_progress_s < wait.wall_s, (argv, wait)


def test_the_summary_leads_with_each_commands_median_against_its_target():
    slow, fast = COMMANDS[0], COMMANDS[1]
    waits = [Wait(c.what, run, seconds, 0.5, 0.0) for c, factor in ((slow, 1.5), (fast, 0.5)) for run in range(4)
             for seconds in [c.target_s * factor * (1 + run / 100)]]
    waits += [Wait(COMMANDS[2].what, run, 1.0, None if run == 2 else 0.1, 0.3) for run in range(4)]
    rows = [line for line in summary(waits).splitlines() if line.startswith("| `python")]
    assert [row.split(" | ")[5] for row in rows] == ["no", "yes", "yes"], rows
    assert rows[2].endswith("| not seen in every run |"), rows[2]
    assert "Other processes took 0.10 cores on average (at most 0.30)" in summary(waits)
