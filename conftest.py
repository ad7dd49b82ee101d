"""Selection options (--impl, --impl-path, --device, --dtype), the report header, and the session fixture.

Shared by the tests (tests/) and the benchmarks (bench/).
"""

from __future__ import annotations

import os
import platform

import pytest

import impls
from impls.backends import BACKENDS, DEVICES, DTYPES, MODES, thread_settings
from impls.contract import Implementation, PluginError, Session, UnsupportedCase

OPTIONS = {"impl": tuple(impls.REGISTRY), "device": DEVICES, "dtype": DTYPES, "mode": MODES}
PLUGINS = pytest.StashKey[dict[str, Implementation]]()
PLUGIN_TIMEOUT_S = float(os.environ.get("TWOLAYER_PLUGIN_TIMEOUT_S", 120))


def pytest_addoption(parser):
    group = parser.getgroup("twolayer-bench", "case selection")
    for option, known in OPTIONS.items():
        group.addoption(f"--{option}", default=None, metavar="A,B",
                        help=f"comma list of {option}s to run, or 'all' (the default); one of: {', '.join(known)}")
    group.addoption("--impl-path", action="append", default=[], metavar="FILE.py[:Class]|module:Class",
                    help="check (or time) your own implementation; repeatable. Alone, it runs only the plug-ins")


def selected(config, option: str) -> tuple[str, ...]:
    """The values chosen for ``--option``, validated: an unknown name is a usage error."""
    raw = config.getoption(option)
    plugins = tuple(config.stash.get(PLUGINS, {})) if option == "impl" else ()
    allowed = OPTIONS[option] + plugins
    if raw is None:
        return plugins or allowed  # --impl-path alone runs only the plug-ins
    if raw == "all":
        return allowed
    chosen = tuple(v.strip() for v in raw.split(",") if v.strip())
    unknown = [v for v in chosen if v not in allowed]
    if unknown or not chosen:
        raise pytest.UsageError(f"--{option}: unknown {option} {', '.join(map(repr, unknown)) or repr(raw)}; "
                                f"choose from {', '.join(allowed)}")
    return chosen


def pytest_configure(config):
    plugins = {}
    for spec in config.getoption("impl_path"):
        try:
            plugin = impls.load_plugin(spec)
        except PluginError as error:
            raise pytest.UsageError(f"--impl-path: {error}") from None
        plugins[plugin.name] = plugin
    config.stash[PLUGINS] = plugins
    for option in OPTIONS:
        selected(config, option)
    config.addinivalue_line("markers", "slow: long-running case, deselected by default (-m slow runs it)")
    config.addinivalue_line("markers", "bench: a benchmark (run by the main job, not the test suite)")


def pytest_report_header(config):
    lines = [f"python {platform.python_version()} on {platform.machine()}"]
    for backend in BACKENDS.values():
        missing = backend.missing_reason()
        if missing:
            lines.append(f"{backend.name}: not installed")
            continue
        devices = [d for d in DEVICES if backend.device_missing_reason(d) is None]
        lines.append(f"{backend.name} {backend.version()}: devices {', '.join(devices)}")
    threads = thread_settings()
    lines.append("threads: " + ", ".join(f"{k}={v}" for k, v in threads.items() if v))
    plugins = config.stash.get(PLUGINS, {})
    if plugins:
        lines.append("plug-ins: " + ", ".join(plugins))
    return lines


def pytest_generate_tests(metafunc):
    for option in OPTIONS:
        fixture = "impl_name" if option == "impl" else option
        if fixture in metafunc.fixturenames:
            metafunc.parametrize(fixture, selected(metafunc.config, option))


def implementation(config, name: str) -> Implementation:
    """A registered implementation or a plug-in, by name (UnsupportedCase if it cannot load here)."""
    plugins = config.stash.get(PLUGINS, {})
    return plugins[name] if name in plugins else impls.load(name)


def pytest_collection_modifyitems(config, items):
    # Implementations that compile for every new shape (seconds each) are checked at the
    # tutorial's shape by default; the other shapes run with -m slow.
    costly = set()
    for name in selected(config, "impl"):
        try:
            if implementation(config, name).compiles_per_shape:
                costly.add(name)
        except UnsupportedCase:
            pass
    plugins = config.stash.get(PLUGINS, {})
    # A plug-in that hangs is stopped (pytest-timeout) and reported; the other cases still run.
    limit_plugins = bool(plugins) and config.pluginmanager.hasplugin("timeout")
    for item in items:
        params = item.callspec.params if hasattr(item, "callspec") else {}
        if params.get("impl_name") in costly and params.get("shape", "tutorial") != "tutorial":
            item.add_marker(pytest.mark.slow)
        if limit_plugins and params.get("impl_name") in plugins:
            item.add_marker(pytest.mark.timeout(PLUGIN_TIMEOUT_S))


@pytest.fixture
def session(request, impl_name: str, device: str, dtype: str, mode: str) -> Session:
    """The implementation under test on the device, dtype and mode of this case; a skip if it cannot run here."""
    try:
        return Session(implementation(request.config, impl_name), device, dtype, mode)
    except UnsupportedCase as reason:
        pytest.skip(str(reason))
