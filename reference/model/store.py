"""The float64 reference's costliest results, kept on disk between processes and runs.

A verdict needs the reference at a few fixed inputs (the shapes' points along the reference's
path, the tutorial's 500-step training run), and every process that checks an implementation
(each CLI run, each pytest worker, each child the suite or the benchmarks start) would compute
them again: ``large`` alone takes seconds. Each result is one ``.npz`` file named by a digest of
what it was computed from: the function, its arguments (their content), numpy's version and the
source of every module under reference/model and reference/problem. A change to the reference's
code or to numpy therefore never reads an older result; nothing is overwritten with other values.

Where: ``$TWOLAYER_BENCH_CACHE``, else ``$XDG_CACHE_HOME/twolayer-bench`` (``~/.cache/twolayer-bench``).
``TWOLAYER_BENCH_CACHE=off`` computes everything in memory. A file that cannot be read (cut short,
written by something else) is computed again and replaced; a folder that cannot be written is
left alone, and the result is returned all the same.
"""

from __future__ import annotations

import functools
import hashlib
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

Arrays = dict[str, np.ndarray]
VARIABLE = "TWOLAYER_BENCH_CACHE"


REFERENCE = Path(__file__).resolve().parent.parent


@functools.cache
def code_version(root: Path = REFERENCE) -> str:
    """A digest of the reference's own source (under ``root``) and numpy's version: what every stored
    result depends on."""
    digest = hashlib.blake2b(np.__version__.encode(), digest_size=16)
    for path in sorted([*root.joinpath("model").glob("*.py"), *root.joinpath("problem").glob("*.py")]):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def folder() -> Path | None:
    """Where results are kept, or None when ``TWOLAYER_BENCH_CACHE=off``."""
    chosen = os.environ.get(VARIABLE, "")
    if chosen == "off":
        return None
    if chosen:
        return Path(chosen)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "twolayer-bench"


def key(name: str, *parts: str | bytes) -> str:
    """The file name of one result: ``name``, its arguments' parts and ``code_version()``, digested."""
    digest = hashlib.blake2b(code_version().encode(), digest_size=20)
    for part in (name, *parts):
        digest.update(part if isinstance(part, bytes) else part.encode())
        digest.update(b"\0")
    return f"{name}-{digest.hexdigest()}.npz"


def kept(name: str, parts: tuple[str | bytes, ...], compute: Callable[[], Mapping[str, np.ndarray]]) -> Arrays:
    """``compute()``'s arrays, read from disk where an earlier process stored them, else computed and stored."""
    where = folder()
    if where is None:
        return dict(compute())
    path = where / key(name, *parts)
    try:
        with np.load(path, allow_pickle=False) as stored:
            return {name: stored[name] for name in stored.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile):
        pass  # absent, or unreadable: computed again below
    arrays = dict(compute())
    _store(path, arrays)
    return arrays


def _store(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Write whole or not at all: into a temporary file beside ``path``, then renamed over it.

    A folder that cannot be written, or a full disk, costs the next process time, never a result.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False)
    except OSError:
        return
    try:
        with handle:
            np.savez(handle, **arrays)
        os.replace(handle.name, path)
    except OSError:
        Path(handle.name).unlink(missing_ok=True)
