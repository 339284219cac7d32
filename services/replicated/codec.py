"""Commands and results as typed values, and how they travel through a Raft log and into
snapshots: msgpack maps with their kind and the format version, bytes kept as bytes.

    @dataclass(frozen=True)
    class Put(Tagged):
        TAG = KvOp.PUT
        key: str
        value: bytes

    COMMANDS = Codec("op", Put, Delete, ...)
    COMMANDS.encode(Put("k", b"v"))  ->  {"v": 1, "op": "put", "key": "k", "value": b"v"}
    COMMANDS.decode(data)            ->  Put("k", b"v")

Format 0 is what faultlab wrote before commands were typed: the same maps with no "v",
which decode the same way (a kind whose fields changed reads them in `from_map`). A map
from a newer format, or of a kind this code does not know, is refused loudly: a replica
that cannot apply a committed entry must stop rather than diverge.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import gc
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar, Generic, TypeVar

import msgpack

FORMAT = 2  # what this code writes; it reads FORMAT and everything before (2: KV history)
VERSION_KEY = "v"
LARGE_BYTES = 1024 * 1024  # unpacked with the cyclic collector paused (a snapshot)


class UnreadableEntry(Exception):
    """A log entry or snapshot this code cannot read: a newer format, or an unknown kind."""


@dataclasses.dataclass(frozen=True)
class Tagged:
    """A typed value with a kind (`TAG`), written as a map of its named fields."""

    TAG: ClassVar[str]

    def to_map(self) -> dict[str, Any]:
        return {f.name: plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_map(cls: type[T], m: Mapping[str, Any]) -> T:
        """The value from its map; a field the map lacks takes its default. Kinds whose
        fields hold nested values override this to rebuild them."""
        return cls(**cls.fields_from(m))

    @classmethod
    def fields_from(cls, m: Mapping[str, Any]) -> dict[str, Any]:
        """The map's entries that are this kind's fields (a replica applies thousands a
        second: the names are looked up once per kind)."""
        return {k: m[k] for k in field_names(cls) if k in m}


T = TypeVar("T", bound=Tagged)


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def field_names(kind: type) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(kind)
    if names is None:
        names = _FIELD_NAMES[kind] = tuple(f.name for f in dataclasses.fields(kind))
    return names


def plain(value: Any) -> Any:
    """`value` as msgpack writes it: value objects by `to_wire`, enums by their value,
    sequences as lists. A typed value nested in another needs its kind written too: the
    outer kind writes it with its codec (a KV batch's ops)."""
    if isinstance(value, Tagged):
        raise TypeError(f"{type(value).__name__} nested without its codec")
    to_wire = getattr(value, "to_wire", None)
    if to_wire is not None:
        return to_wire()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


class Codec(Generic[T]):
    """One family of typed values (a service's commands, or its results), told apart by
    the map key `tag_key`."""

    def __init__(self, tag_key: str, *kinds: type[T]) -> None:
        self.tag_key = tag_key
        self.kinds: dict[str, type[T]] = {str(k.TAG): k for k in kinds}
        if len(self.kinds) != len(kinds):
            raise ValueError("two kinds share a tag")

    def to_map(self, value: T) -> dict[str, Any]:
        return {VERSION_KEY: FORMAT, self.tag_key: str(value.TAG), **value.to_map()}

    def from_map(self, m: Mapping[str, Any]) -> T:
        version = m.get(VERSION_KEY, 0)
        if version > FORMAT:
            raise UnreadableEntry(f"format {version} is newer than this code's {FORMAT}")
        kind = self.kinds.get(m.get(self.tag_key, ""))
        if kind is None:
            raise UnreadableEntry(f"unknown {self.tag_key} {m.get(self.tag_key)!r}")
        return kind.from_map(m)  # "v" and the tag are no field of any kind

    def encode(self, value: T) -> bytes:
        return pack(self.to_map(value))

    def decode(self, data: bytes) -> T:
        return self.from_map(unpack(data))


def pack(value: Any) -> bytes:
    out: bytes = msgpack.packb(value, use_bin_type=True)
    return out


def unpack(data: bytes) -> Any:
    if len(data) < LARGE_BYTES:
        return msgpack.unpackb(data, raw=False, strict_map_key=False)
    with collector_paused():
        return msgpack.unpackb(data, raw=False, strict_map_key=False)


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic collector off meanwhile. A snapshot unpacks to millions of lists
    (a partition's rows) at once; every 700 of them started a collection that walked
    those made so far: 1.35 s to unpack 1.6 million rows with it on, 0.4 s with it off,
    all of it on the event loop of the node that restores. Nothing unpacked is cyclic."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def snapshot_version(state: Mapping[str, Any]) -> int:
    """A snapshot's format; 0 for one written before snapshots carried it."""
    version: int = state.get(VERSION_KEY, 0)
    if version > FORMAT:
        raise UnreadableEntry(f"snapshot format {version} is newer than this code's {FORMAT}")
    return version
