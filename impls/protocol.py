"""Messages between the harness and an implementation running in a process of its own.

The harness sends requests (``Load``, ``Prepare``, ``Call``); the child answers each with one
answer: what was asked for (``Loaded``, ``Prepared``, ``Returned``) or why not (``Refused``,
``Violated``, ``Errored``). Both sides build and read these dataclasses; on the wire a message
is one line of JSON, its kind under ``op`` (a request) or ``answer`` (an answer), then the raw
bytes of the arrays that line lists, in its order::

    {"op": "prepare", "impl": "numpy-manual", ..., "arrays": [["x", "<f8", [64, 1000]], ...]}\\n
    <64 * 1000 * 8 bytes of x, C order>...

Nothing but JSON and little-endian C-order arrays crosses, so an implementation written in
another language could answer the harness by speaking this; ``impls.serve`` speaks it for Python.
A line that is no message of the kind expected, field by field, is a ``ProtocolError``.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import types
import typing
from dataclasses import dataclass
from typing import Any, BinaryIO, Callable, ClassVar, Literal, Mapping, NamedTuple, Union

import numpy as np

Arrays = dict[str, np.ndarray]
#: The implementation's methods a ``Call`` may name, and "steps": step() ``count`` times in a row
#: (a training run in one message instead of hundreds).
Method = Literal["loss", "loss_and_grads", "step", "steps", "parameters"]


class ProtocolError(ValueError):
    """A message that cannot be read: not JSON, an unknown kind, a field missing or of the wrong type."""


@dataclass(frozen=True)
class Where:
    """The case a state is prepared and called in."""

    device: str
    dtype: str
    mode: str


# --- requests: harness to child -------------------------------------------------------------------

@dataclass(frozen=True)
class Load:
    """Import the implementation ``impl`` names (a registered name or a plug-in) and declare it."""

    KIND: ClassVar[str] = "load"
    impl: str

    @property
    def operation(self) -> str:
        return "load"


@dataclass(frozen=True)
class Prepare:
    """Build the implementation's state from the arrays sent along (x, y, the parameters; the rows'
    ``order`` for a mini-batch implementation, cut into ``batch_size``; ``depths`` for a dynamic one)
    and keep it as number ``state``."""

    KIND: ClassVar[str] = "prepare"
    impl: str
    state: int
    where: Where
    lr: float
    batch_size: int | None = None

    @property
    def operation(self) -> str:
        return "prepare"


@dataclass(frozen=True)
class Call:
    """``method`` on the state kept as number ``state``; gradients and parameters by ``names``.

    "steps" names its losses "loss.0", "loss.1", ... in the order of the steps.
    """

    KIND: ClassVar[str] = "call"
    impl: str
    method: Method
    state: int
    where: Where
    names: tuple[str, ...] = ()
    count: int = 1

    @property
    def operation(self) -> str:
        return self.method


# --- answers: child to harness --------------------------------------------------------------------

@dataclass(frozen=True)
class Loaded:
    """The implementation's declaration (``impls.contract.Declaration.as_message``)."""

    KIND: ClassVar[str] = "loaded"
    declaration: dict[str, Any]


@dataclass(frozen=True)
class Prepared:
    KIND: ClassVar[str] = "prepared"


@dataclass(frozen=True)
class Value:
    """What one returned value was: a framework array of ``dtype``, a Python number of ``type``, or a
    ``foreign`` ``type`` (module and name) whose numbers the harness cannot read."""

    kind: Literal["array", "python", "foreign"]
    dtype: str = ""
    type: str = ""


@dataclass(frozen=True)
class Returned:
    """What a ``Call`` returned, by name; the numbers of each readable value cross as the array of that name."""

    KIND: ClassVar[str] = "returned"
    values: dict[str, Value]


@dataclass(frozen=True)
class Refused:
    """The case cannot run here (``UnsupportedCase``) or the implementation cannot be loaded (``PluginError``)."""

    KIND: ClassVar[str] = "refused"
    error: Literal["UnsupportedCase", "PluginError"]
    message: str


@dataclass(frozen=True)
class Violated:
    """The implementation returned something the contract does not allow (``ContractViolation``)."""

    KIND: ClassVar[str] = "violated"
    message: str


@dataclass(frozen=True)
class Frame:
    """A line of the implementation's own code, as ``traceback.FrameSummary`` names it: ``line`` is its
    text, stripped ("" where the file cannot be read), in function ``name``."""

    filename: str
    lineno: int
    name: str
    line: str = ""


@dataclass(frozen=True)
class Errored:
    """The implementation raised ``exception`` (its class name); ``at`` is the innermost line of the
    implementation's own code it passed through (None where it passed through none), ``traceback``
    the frames from the implementation's first on."""

    KIND: ClassVar[str] = "errored"
    exception: str
    message: str
    traceback: str = ""
    at: Frame | None = None


Request = Load | Prepare | Call
Answer = Loaded | Prepared | Returned | Refused | Violated | Errored


class Family(NamedTuple):
    """The messages one side sends, by kind, and the key their kind goes under on the wire."""

    key: str
    classes: dict[str, type]


REQUESTS = Family("op", {cls.KIND: cls for cls in typing.get_args(Request)})
ANSWERS = Family("answer", {cls.KIND: cls for cls in typing.get_args(Answer)})
#: The answer each request asks for, when nothing goes wrong.
ANSWERED_BY = {Load: Loaded, Prepare: Prepared, Call: Returned}


def encode(message: Request | Answer, arrays: Mapping[str, np.ndarray] = {}) -> bytes:
    """One message: its kind and fields with the array list, a newline, the arrays' bytes."""
    key = (REQUESTS if isinstance(message, Request) else ANSWERS).key
    # np.asarray keeps 0-d arrays 0-d (np.ascontiguousarray would make them 1-d).
    little = {name: np.asarray(a, dtype=np.asarray(a).dtype.newbyteorder("<"), order="C") for name, a in arrays.items()}
    listing = [[name, a.dtype.str, list(a.shape)] for name, a in little.items()]
    fields = {key: message.KIND, **_plain(message), "arrays": listing}
    line = json.dumps(fields, allow_nan=True).encode() + b"\n"
    return b"".join([line, *(a.tobytes() for a in little.values())])


def _plain(value: Any) -> Any:
    """A message as JSON's plain values (``dataclasses.asdict`` without its deep copies)."""
    if dataclasses.is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def decode(line: bytes, read_exactly: Callable[[int], bytes], family: Family) -> tuple[Request | Answer, Arrays]:
    """The message on ``line``, one of ``family`` (REQUESTS or ANSWERS), and the arrays it lists,
    their bytes taken from ``read_exactly``."""
    key, classes = family
    try:
        fields = json.loads(line)
    except ValueError as error:
        raise ProtocolError(f"not a line of JSON ({error})") from None
    if not isinstance(fields, dict) or not isinstance(fields.get(key), str) or fields[key] not in classes:
        raise ProtocolError(f"no {key!r} among {', '.join(classes)}: {line[:200]!r}")
    cls = classes[fields.pop(key)]
    listing = fields.pop("arrays", [])
    message = _typed(fields, cls, cls.KIND)
    return message, _read_arrays(listing, read_exactly)


def _read_arrays(listing: Any, read_exactly: Callable[[int], bytes]) -> Arrays:
    if not isinstance(listing, list):
        raise ProtocolError(f"arrays: a {type(listing).__name__}, not a list")
    arrays = {}
    for entry in listing:
        if not (isinstance(entry, list) and len(entry) == 3 and isinstance(entry[0], str) and isinstance(entry[1], str)
                and isinstance(entry[2], list) and all(type(n) is int and n >= 0 for n in entry[2])):
            raise ProtocolError(f"arrays: {str(entry)[:100]} is not [name, dtype, shape]")
        name, dtype, shape = entry
        try:
            dtype = np.dtype(dtype)
        except TypeError as error:
            raise ProtocolError(f"array {name}: {error}") from None
        if dtype.hasobject or dtype.itemsize == 0:
            raise ProtocolError(f"array {name}: dtype {dtype} has no fixed bytes")
        data = read_exactly(dtype.itemsize * math.prod(shape))
        arrays[name] = np.frombuffer(data, dtype=dtype).reshape(tuple(shape)).copy()
    return arrays


@functools.cache
def _field_types(cls: type) -> dict[str, Any]:
    """A message dataclass's fields and their types, the annotations' strings evaluated."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _typed(value: Any, hint: Any, where: str) -> Any:
    """``value`` read from JSON as type ``hint`` (a message's dataclass or one of its fields' types)."""
    return _reader(hint)(value, where)


@functools.cache
def _reader(hint: Any) -> Callable[[Any, str], Any]:
    """The function that reads a JSON value as ``hint``, worked out once per type: every request and answer
    passes through one, hundreds of times a second in a check of call sequences."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        fields = {name: _reader(field_type) for name, field_type in _field_types(hint).items()}

        def message(value, where):
            if not isinstance(value, dict):
                raise ProtocolError(f"{where}: a {type(value).__name__}, not an object")
            if not value.keys() <= fields.keys():
                raise ProtocolError(f"{where}: unknown field(s) {', '.join(sorted(value.keys() - fields.keys()))}")
            try:
                return hint(**{name: fields[name](v, f"{where}.{name}") for name, v in value.items()})
            except TypeError as error:  # a field left out
                raise ProtocolError(f"{where}: {error}") from None
        return message
    if origin in (Union, types.UnionType):
        inner = _reader(next(a for a in args if a is not type(None)))
        optional = type(None) in args
        return lambda value, where: None if value is None and optional else inner(value, where)
    if origin is Literal:
        def one_of(value, where):
            if value not in args:
                raise ProtocolError(f"{where}: {str(value)[:100]!r} is not one of {', '.join(map(str, args))}")
            return value
        return one_of
    if origin is tuple:
        item = _reader(args[0])
        return lambda value, where: tuple(item(v, f"{where}[{i}]") for i, v in enumerate(value)) \
            if isinstance(value, list) else _wrong(value, hint, where)
    if origin is dict:
        entry = _reader(args[1])
        return lambda value, where: {k: entry(v, f"{where}.{k}") for k, v in value.items()} \
            if isinstance(value, dict) else _wrong(value, hint, where)
    if hint is Any:
        return lambda value, where: value
    if hint is float:
        return lambda value, where: float(value) if type(value) in (int, float) else _wrong(value, hint, where)
    return lambda value, where: value if type(value) is hint else _wrong(value, hint, where)


def _wrong(value: Any, hint: Any, where: str) -> typing.NoReturn:
    raise ProtocolError(f"{where}: {str(value)[:100]!r} is not a {getattr(hint, '__name__', hint)}")


def read(stream: BinaryIO, family: Family) -> tuple[Request | Answer, Arrays] | None:
    """The next message of ``family`` on a blocking stream; None when the other side has closed it."""
    line = stream.readline()
    if not line:
        return None

    def read_exactly(size: int) -> bytes:
        data = stream.read(size)
        if len(data) != size:
            raise EOFError(f"the stream ended {size - len(data)} bytes into an array")
        return data
    return decode(line, read_exactly, family)


def write(stream: BinaryIO, message: Request | Answer, arrays: Mapping[str, np.ndarray] = {}) -> None:
    stream.write(encode(message, arrays))
    stream.flush()
