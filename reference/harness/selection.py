"""Which cases a run checks or times: the comma lists of implementations, devices, dtypes, modes
and shapes, validated once, and the implementations given by path, read once in a child process.

Both checking drivers (the CLI, the pytest plugin) and the benchmarks build one ``Selection`` from
their options, as pytest-benchmark builds its session object from its options; under pytest it is
kept on the config (``keep``, ``kept``). An unknown name is a one-line ValueError that names it and
the choices. A device nobody named that is not present here is left out, with the reason
(``absent``); one named explicitly stays, and its cases skip saying why. The catalogue's
``select(shapes)`` is the callers' to apply: the checks sit above the harness.
"""

from __future__ import annotations

import difflib
import fnmatch
import functools
from typing import Callable, Iterable

import impls
from impls.backends import DEVICES, DTYPES, MODES, mode_applies
from impls.contract import Declaration, PluginError, UnsupportedCase
from reference.harness.isolation import DEFAULT_MEMORY_LIMIT, CheckTimeout, ChildDied, Pool, home
from reference.harness.session import Case, absent_reason, combinations
from reference.problem.cases import SHAPES

#: The names each comma list may take (besides 'all'); implementations given by path add theirs to "impl".
CHOICES = {"impl": tuple(impls.REGISTRY), "device": DEVICES, "dtype": DTYPES, "mode": MODES, "shape": tuple(SHAPES)}


def add_selection_options(add: Callable[..., object], options: Iterable[str] = (*CHOICES, "impl-path"),
                          **defaults: str) -> None:
    """The selection's options, one definition for every command line: ``add`` is argparse's
    ``add_argument`` or pytest's ``addoption`` (one signature). An option with no default is None
    when not given: every name, or the devices present here and the modes that apply to them."""
    for option in options:
        if option == "impl-path":
            add("--impl-path", action="append", default=[], metavar="FILE.py[:Class]|module:Class",
                help="your own implementation, by path; repeatable. Without --impl the checks run only "
                     "these, and the benchmarks time them beside every registered one")
            continue
        default = defaults.get(option)
        add(f"--{option}", default=default, metavar="A,B",
            help=f"comma list of {option}s (a glob or a prefix picks each match: a-*, a), or 'all'; "
                 f"one of: {', '.join(CHOICES[option])} (default: "
                 f"{default or ('those present here' if option in ('device', 'mode') else 'all')})")


def choose(option: str, raw: str, allowed: Iterable[str]) -> tuple[str, ...]:
    """The names a comma list (or 'all') picks from ``allowed``, in the list's order, each once.

    An entry is a name, a glob (``agreement-*``) or a prefix of whole dash-separated words
    (``agreement``, ``torch``): the last two pick every name they match. A ValueError names each
    entry that picks nothing, with the closest known names (difflib's).
    """
    allowed = tuple(allowed)
    if raw == "all":
        return allowed
    given = [v.strip() for v in raw.split(",") if v.strip()]
    if not given:
        raise ValueError(f"--{option}: no {option} in {raw!r}; choose from {', '.join(allowed)}")
    picked = {name: matching(name, allowed) for name in given}
    unknown = [name for name, found in picked.items() if not found]
    if unknown:
        hints = {name: closest(name, allowed) for name in unknown}
        listed = "" if all(hints.values()) else f"; choose from {', '.join(allowed)}"
        raise ValueError(f"--{option}: unknown {option} " + ", ".join(
            f"{name!r} (did you mean {', '.join(hints[name])}?)" if hints[name] else repr(name) for name in unknown)
            + listed)
    return tuple(dict.fromkeys(found for name in given for found in picked[name]))


def matching(name: str, allowed: tuple[str, ...]) -> list[str]:
    """The names of ``allowed`` that ``name`` picks: itself, or those its glob or word prefix matches."""
    if name in allowed:
        return [name]
    pattern = name if any(c in name for c in "*?[") else f"{name}-*"
    return [a for a in allowed if fnmatch.fnmatchcase(a, pattern)]


def closest(name: str, allowed: tuple[str, ...]) -> list[str]:
    """The names, or prefixes of whole words of them, closest to ``name`` (none where none is close)."""
    prefixes = {a.rsplit("-", cut)[0] for a in allowed for cut in range(1, a.count("-") + 1)}
    return difflib.get_close_matches(name.strip("*?[]-"), [*allowed, *sorted(prefixes - set(allowed))], n=3)


class NotLoaded(ValueError):
    """An implementation given by path could not be loaded; ``reason`` is what its child process said."""

    def __init__(self, spec: str, reason: BaseException):
        super().__init__(f"--impl-path: {spec}: {reason}")
        self.spec, self.reason = spec, str(reason)


class Selection:
    """The selected cases, the implementations given by path, and the child processes that check them.

    Each option is a comma list or 'all'; None where it was not given: every dtype and shape, the
    devices present here, the modes that apply to them, and the registered implementations (only
    the ones given by path, where some are). ``pool`` is where isolated sessions run; ``close()``
    ends its processes.
    """

    def __init__(self, *, impl: str | None = None, device: str | None = None, dtype: str | None = None,
                 mode: str | None = None, shape: str | None = None, impl_paths: Iterable[str] = (),
                 memory_limit: int = DEFAULT_MEMORY_LIMIT, threads: int = 1):
        #: Devices left out because nobody named them and no framework has them here: device -> why.
        self.absent = {} if device is not None else {d: why for d in DEVICES if (why := absent_reason(d))}
        self.devices = choose("device", device, DEVICES) if device is not None else \
            tuple(d for d in DEVICES if d not in self.absent)
        self.dtypes = choose("dtype", dtype, DTYPES) if dtype is not None else DTYPES
        self.modes = choose("mode", mode, MODES) if mode is not None else \
            tuple(m for m in MODES if any(mode_applies(d, "float32", m) for d in self.devices))
        self.shapes = choose("shape", shape, SHAPES) if shape is not None else tuple(SHAPES)
        impl_paths = tuple(impl_paths)
        # Each file given by path keeps its child from reading its declaration to running its checks, the built-ins'
        # beside them: with the pool's usual three, a fourth file's child would end the first's, started again for its
        # checks.
        self.pool = Pool(memory_limit=memory_limit, threads=threads,
                         keep=max(Pool.KEEP, len({home(path) for path in impl_paths}) + 1))
        self._declared: dict[str, Declaration | UnsupportedCase] = {}
        try:
            #: Implementations given by path, by name: how each was given, and what it declares.
            self.plugins = self._load(impl_paths)
            self.impls = choose("impl", impl, CHOICES["impl"] + tuple(self.plugins)) if impl is not None \
                else tuple(self.plugins) or CHOICES["impl"]
        except BaseException:
            self.pool.close()
            raise
        #: Only implementations given by path were asked for (no --impl): the tests not about a case stay out.
        self.plugins_alone = bool(self.plugins) and impl is None
        #: --impl named implementations (neither left out nor 'all').
        self.impl_named = impl not in (None, "all")

    def _load(self, impl_paths: Iterable[str]) -> dict[str, tuple[str, Declaration]]:
        plugins = {}
        for given in impl_paths:
            try:
                declared = self.pool.declaration(given)
            except (PluginError, UnsupportedCase, ChildDied, CheckTimeout) as error:
                raise NotLoaded(given, error) from None
            plugins[declared.name] = (given, declared)
        return plugins

    def spec(self, name: str) -> str:
        """What loads the implementation called ``name``: its registered name, or the path it was given by."""
        return self.plugins[name][0] if name in self.plugins else name

    def implementation(self, name: str) -> Declaration:
        """What a selected implementation declares (UnsupportedCase if it cannot load here).

        Registered ones are the project's own code and load in this process; those given by path
        were read in a child process.
        """
        if name not in self._declared:
            try:
                self._declared[name] = self.plugins[name][1] if name in self.plugins else \
                    Declaration.of(impls.load(name))
            except UnsupportedCase as reason:
                self._declared[name] = reason
        if isinstance(self._declared[name], UnsupportedCase):
            raise self._declared[name]
        return self._declared[name]

    def cases(self) -> list[Case]:
        """Every selected (implementation, device, dtype, mode) the implementation declares and the mode applies to.

        An implementation whose framework is missing keeps every combination: each becomes a skip naming why.
        """
        found = []
        for name in self.impls:
            try:
                declared = self.implementation(name)
                devices, dtypes = declared.devices, declared.dtypes
            except UnsupportedCase:
                devices, dtypes = DEVICES, DTYPES
            found += [Case(name, *triple) for triple in combinations(
                [d for d in self.devices if d in devices], [t for t in self.dtypes if t in dtypes], self.modes)]
        return found

    def close(self) -> None:
        self.pool.close()


@functools.cache
def _stash_key():
    import pytest  # only a pytest run keeps its selection on its config: the CLI runs without pytest

    return pytest.StashKey[Selection]()


def keep(config, selection: Selection) -> None:
    """Keep ``selection`` for this pytest run (its processes end with the run)."""
    config.stash[_stash_key()] = selection
    config.add_cleanup(selection.close)


def kept(config) -> Selection | None:
    """The selection kept for this pytest run; None until a plugin keeps one."""
    return config.stash.get(_stash_key(), None)
