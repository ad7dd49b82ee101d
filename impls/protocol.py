"""Messages between the harness and an implementation running in a process of its own.

A message is one line of JSON, then the raw bytes of the arrays that line lists, in its order::

    {"op": "prepare", ..., "arrays": [["x", "<f8", [64, 1000]], ["y", "<f8", [64, 10]], ...]}\\n
    <64 * 1000 * 8 bytes of x, C order><64 * 10 * 8 bytes of y>...

Nothing but JSON and little-endian C-order arrays crosses, so an implementation written in
another language could answer the harness by speaking this; ``impls.serve`` speaks it for Python.
"""

from __future__ import annotations

import json
from typing import Any, BinaryIO, Callable, Mapping

import numpy as np

Arrays = dict[str, np.ndarray]


def encode(header: Mapping[str, Any], arrays: Mapping[str, np.ndarray] = {}) -> bytes:
    """One message: the header with its array list, a newline, the arrays' bytes."""
    # np.asarray keeps 0-d arrays 0-d (np.ascontiguousarray would make them 1-d).
    little = {name: np.asarray(a, dtype=np.asarray(a).dtype.newbyteorder("<"), order="C") for name, a in arrays.items()}
    listing = [[name, a.dtype.str, list(a.shape)] for name, a in little.items()]
    line = json.dumps({**header, "arrays": listing}, allow_nan=True).encode() + b"\n"
    return b"".join([line, *(a.tobytes() for a in little.values())])


def decode(line: bytes, read_exactly: Callable[[int], bytes]) -> tuple[dict[str, Any], Arrays]:
    """The header on ``line`` and the arrays it lists, their bytes taken from ``read_exactly``."""
    header = json.loads(line)
    arrays = {}
    for name, dtype, shape in header.pop("arrays"):
        dtype = np.dtype(dtype)
        size = dtype.itemsize * int(np.prod(shape, dtype=np.int64))
        arrays[name] = np.frombuffer(read_exactly(size), dtype=dtype).reshape(tuple(shape)).copy()
    return header, arrays


def read(stream: BinaryIO) -> tuple[dict[str, Any], Arrays] | None:
    """The next message on a blocking stream; None when the other side has closed it."""
    line = stream.readline()
    if not line:
        return None

    def read_exactly(size: int) -> bytes:
        data = stream.read(size)
        if len(data) != size:
            raise EOFError(f"the stream ended {size - len(data)} bytes into an array")
        return data
    return decode(line, read_exactly)


def write(stream: BinaryIO, header: Mapping[str, Any], arrays: Mapping[str, np.ndarray] = {}) -> None:
    stream.write(encode(header, arrays))
    stream.flush()
