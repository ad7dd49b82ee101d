"""The pytest driver: case selection, the report header, and the ``case``, ``session`` and ``check`` fixtures.

Loaded by the repository's root conftest.py for the tests (tests/) and the benchmarks (bench/).
A test that asks for ``session`` runs once per selected case (implementation, device, dtype,
mode), one that asks for ``cuda_case`` once per selected case on cuda, and one that also asks
for ``check`` once per check of the catalogue. Devices and modes
that are not present here are not generated unless asked for (``--device cuda``, ``--mode tf32``):
the header says once what was left out and why.
"""

from __future__ import annotations

import os
import platform

import pytest

import impls
from impls.backends import BACKENDS, DEVICES, DTYPES, MODES, mode_applies
from impls.contract import Declaration, PluginError, UnsupportedCase
from impls.threads import thread_settings
from reference.checks.catalogue import applies, select
from reference.checks.check import Check
from reference.harness.isolation import DEFAULT_MEMORY_LIMIT, CheckTimeout, ChildDied, Pool
from reference.harness.session import Case, Session, absent_reason, combinations
from reference.problem.cases import SHAPES

OPTIONS = {"impl": tuple(impls.REGISTRY), "device": DEVICES, "dtype": DTYPES, "mode": MODES, "shape": tuple(SHAPES)}
#: Plug-ins by name: the spec they were given as, and what they declare (read in a child process).
PLUGINS = pytest.StashKey[dict[str, tuple[str, Declaration]]]()
LOADED = pytest.StashKey[dict[str, "Declaration | UnsupportedCase"]]()
POOL = pytest.StashKey[Pool]()
#: Seconds a check may run in pytest before it fails as timed out (the CLI's --timeout).
CHECK_TIMEOUT_S = float(os.environ.get("TWOLAYER_CHECK_TIMEOUT_S", 120))
#: Address space (GiB) each implementation's process may use (the CLI's --memory-limit); 0: no limit.
MEMORY_LIMIT_GIB = float(os.environ.get("TWOLAYER_MEMORY_LIMIT_GIB", DEFAULT_MEMORY_LIMIT / 2**30))


def pytest_addoption(parser):
    group = parser.getgroup("twolayer-bench", "case selection")
    for option, known in OPTIONS.items():
        group.addoption(f"--{option}", default=None, metavar="A,B",
                        help=f"comma list of {option}s to run, or 'all'; one of: {', '.join(known)}")
    group.addoption("--impl-path", action="append", default=[], metavar="FILE.py[:Class]|module:Class",
                    help="check (or time) your own implementation; repeatable. Alone, it runs only the plug-ins")


def choose(option: str, raw: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
    """The names a comma list (or 'all') picks from ``allowed``; a ValueError names any unknown one."""
    if raw == "all":
        return allowed
    chosen = tuple(v.strip() for v in raw.split(",") if v.strip())
    unknown = [v for v in chosen if v not in allowed]
    if unknown or not chosen:
        raise ValueError(f"--{option}: unknown {option} {', '.join(map(repr, unknown)) or repr(raw)}; "
                         f"choose from {', '.join(allowed)}")
    return chosen


def selected(config, option: str) -> tuple[str, ...] | None:
    """The values chosen for ``--option``, validated (an unknown name is a usage error); None if not given."""
    raw = config.getoption(option)
    plugins = tuple(config.stash.get(PLUGINS, {})) if option == "impl" else ()
    if raw is None:
        return plugins or None  # --impl-path alone runs only the plug-ins
    try:
        return choose(option, raw, OPTIONS[option] + plugins)
    except ValueError as error:
        raise pytest.UsageError(str(error)) from None


def absent(config) -> dict[str, str]:
    """Devices and modes left out because they are not present here: what -> why."""
    if selected(config, "device") is not None:
        return {}
    return {f"device {device}": reason for device in DEVICES if (reason := absent_reason(device))}


def devices_and_modes(config) -> tuple[tuple[str, ...], tuple[str, ...]]:
    left_out = absent(config)
    devices = selected(config, "device") or tuple(d for d in DEVICES if f"device {d}" not in left_out)
    modes = selected(config, "mode") or tuple(m for m in MODES if any(mode_applies(d, "float32", m) for d in devices))
    return devices, modes


def spec(config, name: str) -> str:
    """What loads the implementation called ``name``: its registered name, or the plug-in's --impl-path."""
    plugins = config.stash.get(PLUGINS, {})
    return plugins[name][0] if name in plugins else name


def implementation(config, name: str) -> Declaration:
    """What a registered implementation or a plug-in declares, by name (UnsupportedCase if it cannot load here).

    Registered ones are the project's own code and load here; plug-ins were read in a child process.
    """
    loaded = config.stash.setdefault(LOADED, {})
    if name not in loaded:
        plugins = config.stash.get(PLUGINS, {})
        try:
            loaded[name] = plugins[name][1] if name in plugins else Declaration.of(impls.load(name))
        except UnsupportedCase as reason:
            loaded[name] = reason
    if isinstance(loaded[name], UnsupportedCase):
        raise loaded[name]
    return loaded[name]


def pool(config) -> Pool:
    """The child processes this pytest process checks implementations in, started on first use."""
    if POOL not in config.stash:
        on_cuda = "cuda" in devices_and_modes(config)[0]
        config.stash[POOL] = Pool(memory_limit=0 if on_cuda else int(MEMORY_LIMIT_GIB * 2**30), threads=1)
    return config.stash[POOL]


def model_of(config, name: str) -> str:
    """The network an implementation declares; "two-layer" where its framework is missing (its cases skip)."""
    try:
        return implementation(config, name).model
    except UnsupportedCase:
        return "two-layer"


def cases(config) -> list[Case]:
    """Every selected (implementation, device, dtype, mode) the implementation declares and the mode applies to.

    An implementation whose framework is missing keeps every combination: each becomes a skip naming why.
    """
    devices, modes = devices_and_modes(config)
    dtypes = selected(config, "dtype") or DTYPES
    found = []
    for name in selected(config, "impl") or OPTIONS["impl"]:
        try:
            impl = implementation(config, name)
            declared_devices, declared_dtypes = impl.devices, impl.dtypes
        except UnsupportedCase:
            declared_devices, declared_dtypes = DEVICES, DTYPES
        found += [Case(name, *triple) for triple in combinations([d for d in devices if d in declared_devices],
                                                                  [t for t in dtypes if t in declared_dtypes], modes)]
    return found


def checks(config) -> list[Check]:
    return select(selected(config, "shape"))


def pytest_configure(config):
    config.stash[PLUGINS] = {}
    plugins = {}
    for given in config.getoption("impl_path"):
        try:
            declared = pool(config).declaration(given)
        except (PluginError, UnsupportedCase, ChildDied, CheckTimeout) as error:
            raise pytest.UsageError(f"--impl-path: {given}: {error}") from None
        plugins[declared.name] = (given, declared)
    config.stash[PLUGINS] = plugins
    for option in OPTIONS:
        selected(config, option)
    config.addinivalue_line("markers", "slow: long-running case, deselected by default (-m slow runs it)")
    config.addinivalue_line("markers", "bench: a benchmark (run by the main job, not the test suite)")


def pytest_unconfigure(config):
    if POOL in config.stash:
        config.stash[POOL].close()


def pytest_report_header(config):
    lines = [f"python {platform.python_version()} on {platform.machine()}"]
    for backend in BACKENDS.values():
        if backend.missing_reason():
            lines.append(f"{backend.name}: not installed")
            continue
        devices = [d for d in DEVICES if backend.device_missing_reason(d) is None]
        lines.append(f"{backend.name} {backend.version()}: devices {', '.join(devices)}")
    lines.append("threads: " + ", ".join(f"{k}={v}" for k, v in thread_settings().items() if v))
    for what, reason in absent(config).items():
        mode = " and mode tf32" if what == "device cuda" else ""
        lines.append(f"not generated: {what}{mode} ({reason}); ask with --device/--mode to see each case skip")
    plugins = config.stash.get(PLUGINS, {})
    if plugins:
        lines.append("plug-ins: " + ", ".join(f"{p.name} ({p.summary})" for _, p in plugins.values()))
    return lines


def pytest_generate_tests(metafunc):
    if "case" in metafunc.fixturenames:
        found = cases(metafunc.config)
        metafunc.parametrize("case", found, ids=[c.id for c in found])
    if "cuda_case" in metafunc.fixturenames:
        # cuda against cpu on the two-layer network's inputs (the dynamic network's are not compared there yet)
        found = [pytest.param(c, id=c.id) for c in cases(metafunc.config)
                 if c.device == "cuda" and model_of(metafunc.config, c.impl) == "two-layer"]
        metafunc.parametrize("cuda_case", found or [pytest.param(None, id="none", marks=pytest.mark.skip(
            reason="no case on cuda selected (none is generated where no CUDA device is present)"))])
    if "check" in metafunc.fixturenames:
        found = checks(metafunc.config)
        metafunc.parametrize("check", found, ids=[c.id for c in found])


def pytest_collection_modifyitems(config, items):
    # --impl-path alone checks the plug-ins: the tests that are not about a case stay out.
    if config.stash.get(PLUGINS, {}) and config.getoption("impl") is None:
        about_cases = [item for item in items if {"case", "cuda_case"} & set(getattr(item, "fixturenames", ()))]
        config.hook.pytest_deselected(items=[item for item in items if item not in about_cases])
        items[:] = about_cases
    # A check runs on the network it is about: the other model's pairs are not generated.
    other_model = []
    for item in items:
        params = item.callspec.params if hasattr(item, "callspec") else {}
        case, check = params.get("case"), params.get("check")
        if case is not None and check is not None:
            try:
                if not applies(check, implementation(config, case.impl)):
                    other_model.append(item)
            except UnsupportedCase:
                if check.model != "two-layer":  # the framework is missing: one skip per case is enough
                    other_model.append(item)
    if other_model:
        config.hook.pytest_deselected(items=other_model)
        dropped = set(other_model)
        items[:] = [item for item in items if item not in dropped]
    # Implementations that compile for every new shape (seconds each) are checked at the
    # tutorial's shape by default; the other shapes run with -m slow.
    for item in items:
        params = item.callspec.params if hasattr(item, "callspec") else {}
        case, check = params.get("case"), params.get("check")
        if case is None or check is None or check.shape in (None, "tutorial"):
            continue
        try:
            compiles = implementation(config, case.impl).compiles_per_shape
        except UnsupportedCase:
            continue
        if compiles:
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def session(request, case: Case) -> Session:
    """The implementation under test, in a child process, on this case's device, dtype and mode; a skip if it cannot run here."""
    try:
        implementation(request.config, case.impl)
        return Session.isolated(spec(request.config, case.impl), case.device, case.dtype, case.mode,
                                pool(request.config))
    except UnsupportedCase as reason:
        pytest.skip(str(reason))
