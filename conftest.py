"""The project's pytest plugin (case selection, header, fixtures) for tests/ and bench/."""

pytest_plugins = ["reference.drivers.pytest_plugin", "bench.pytest_plugin"]
