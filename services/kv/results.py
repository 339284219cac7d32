"""What the KV state machine answers: a typed result per command, or a Refusal.

Results are kept in client sessions until acknowledged, so they are in snapshots too:
written by RESULTS (tagged maps), and read from format 0's untagged dicts by
`from_format0`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

from faultlab.errors.v1 import errors_pb2

from services.kv.commands import MAX_VALUE_BYTES
from services.replicated.codec import Codec, Tagged
from services.replicated.refusal import Refusal

# Every reason the KV state machine refuses with (tests/unit/test_refusals.py maps each).
REFUSES = (errors_pb2.INVALID, errors_pb2.FENCED)


@dataclasses.dataclass(frozen=True)
class Record:
    value: bytes
    version: int
    create_revision: int
    mod_revision: int
    lease: int = 0  # the etcd lease the key is attached to; 0: none

    def to_wire(self) -> list[Any]:
        wire = [self.value, self.version, self.create_revision, self.mod_revision]
        return [*wire, self.lease] if self.lease else wire

    @classmethod
    def from_wire(cls, wire: Sequence[Any]) -> Record:
        return cls(*wire)


@dataclasses.dataclass(frozen=True)
class Written(Tagged):
    """A put or an append: the store's revision after it, and the key's record."""

    TAG = "written"
    revision: int
    record: Record

    @classmethod
    def from_map(cls, m: Mapping[str, Any]) -> Written:
        return cls(m["revision"], Record.from_wire(m["record"]))


@dataclasses.dataclass(frozen=True)
class Deleted(Tagged):
    TAG = "deleted"
    deleted: bool  # False: there was no such key (the revision did not move)
    revision: int


@dataclasses.dataclass(frozen=True)
class Swapped(Tagged):
    TAG = "swapped"
    succeeded: bool
    revision: int
    record: Record | None  # the key's record after the swap, or as it was when refused

    @classmethod
    def from_map(cls, m: Mapping[str, Any]) -> Swapped:
        record = m["record"]
        return cls(m["succeeded"], m["revision"], Record.from_wire(record) if record else None)


@dataclasses.dataclass(frozen=True)
class BatchApplied(Tagged):
    TAG = "batch"
    results: tuple[WriteResult, ...]

    def to_map(self) -> dict[str, Any]:
        return {"results": [RESULTS.to_map(r) for r in self.results]}

    @classmethod
    def from_map(cls, m: Mapping[str, Any]) -> BatchApplied:
        return cls(tuple(_one_write(RESULTS.from_map(r)) for r in m["results"]))


WriteResult: TypeAlias = Written | Deleted | Swapped | Refusal
KvResult: TypeAlias = WriteResult | BatchApplied
RESULTS: Codec[Tagged] = Codec("t", Written, Deleted, Swapped, BatchApplied, Refusal)


def _one_write(result: Tagged) -> WriteResult:
    assert isinstance(result, Written | Deleted | Swapped | Refusal), result
    return result


def to_map(result: KvResult) -> dict[str, Any]:
    return RESULTS.to_map(result)


def from_map(m: Mapping[str, Any]) -> KvResult:
    """A result as a snapshot holds it: tagged (format 1), or format 0's untagged dict."""
    if "t" not in m:
        return from_format0(m)
    result = RESULTS.from_map(m)
    assert isinstance(result, Written | Deleted | Swapped | BatchApplied | Refusal), result
    return result


def from_format0(m: Mapping[str, Any]) -> KvResult:
    """Format 0 kept results as the dicts apply returned, told apart by their keys."""
    if "error" in m:
        return _refusal_format0(m)
    if "results" in m:
        return BatchApplied(tuple(_one_write(from_format0(r)) for r in m["results"]))
    if "deleted" in m:
        return Deleted(m["deleted"], m["revision"])
    if "succeeded" in m:
        return Swapped.from_map(m)
    return Written.from_map(m)


def _refusal_format0(m: Mapping[str, Any]) -> Refusal:
    """The refusals format 0 could keep in a session: fenced and too large (a stale
    session was never kept)."""
    if m["error"] == "fenced":
        return Refusal(
            errors_pb2.FENCED,
            f"a higher fencing token ({m['highest_token']}) was already seen; nothing was written",
            {"highest_token": str(m["highest_token"])},
        )
    if m["error"] == "too_large":
        return too_large(m["size"])
    raise ValueError(f"format 0 kept no {m['error']!r} refusal in a session")


# -- the KV state machine's refusals, each written once --------------------------------------


def too_large(size: int) -> Refusal:
    return Refusal(
        errors_pb2.INVALID,
        f"the value would be {size} bytes; the limit is {MAX_VALUE_BYTES}. Nothing was appended",
    )


def stale_session(seq: int, acked_through: int) -> Refusal:
    return Refusal(
        errors_pb2.INVALID,
        f"session seq {seq} is at or below {acked_through}, which the client "
        "acknowledged as answered; nothing was applied",
    )
