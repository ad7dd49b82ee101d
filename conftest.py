"""The project's two pytest plugins, for tests/ and bench/: the checks' (case selection, header, fixtures)
and the benchmarks' (``pytest --benchmark``, the timing options)."""

pytest_plugins = ["reference.drivers.pytest_plugin", "bench.pytest_plugin"]
