"""The values the Raft core consumes and produces: entries, messages, hard state, snapshots.

Plain frozen dataclasses, so the core stays free of any wire format; the transport maps
them to protobuf and the storage to msgpack.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

NodeId = str
NONE: NodeId = ""  # "no node": no vote cast, no leader known


class EntryKind(enum.IntEnum):
    NORMAL = 0  # a command for the state machine (empty data: the leader's no-op)
    CONF_CHANGE = 1  # a single-server membership change, data = ConfChange.encode()


@dataclass(frozen=True, slots=True)
class Entry:
    term: int
    index: int
    data: bytes = b""
    kind: EntryKind = EntryKind.NORMAL


class ConfChangeKind(enum.IntEnum):
    ADD_VOTER = 0
    REMOVE_VOTER = 1


@dataclass(frozen=True, slots=True)
class ConfChange:
    kind: ConfChangeKind
    node_id: NodeId

    def encode(self) -> bytes:
        return f"{int(self.kind)}:{self.node_id}".encode()

    @classmethod
    def decode(cls, data: bytes) -> ConfChange:
        kind, node_id = data.decode().split(":", 1)
        return cls(ConfChangeKind(int(kind)), node_id)


@dataclass(frozen=True, slots=True)
class HardState:
    """What must be on disk before any message that depends on it is sent."""

    term: int = 0
    vote: NodeId = NONE
    commit: int = 0


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The state machine as of `index`, plus the membership in force there."""

    index: int
    term: int
    voters: tuple[NodeId, ...]
    data: bytes = b""


@dataclass(frozen=True, slots=True)
class ReadState:
    """A read that became safe: serve it once the state machine has applied `index`."""

    index: int
    context: bytes


class MessageType(enum.IntEnum):
    APPEND = 1
    APPEND_RESP = 2
    VOTE = 3
    VOTE_RESP = 4
    PRE_VOTE = 5
    PRE_VOTE_RESP = 6
    HEARTBEAT = 7
    HEARTBEAT_RESP = 8
    SNAPSHOT = 9
    TIMEOUT_NOW = 10
    READ_INDEX = 11  # a follower asks the leader for a read index (context: the read's id)
    READ_INDEX_RESP = 12  # index: the read's index; commit: as a heartbeat's


@dataclass(frozen=True, slots=True)
class Message:
    type: MessageType
    src: NodeId
    dst: NodeId
    term: int
    # APPEND: the entry before `entries`; VOTE: the candidate's last entry;
    # APPEND_RESP: the last index matched, or on reject the follower's hint.
    index: int = 0
    log_term: int = 0
    entries: tuple[Entry, ...] = ()
    commit: int = 0
    reject: bool = False
    snapshot: Snapshot | None = None
    # APPEND_RESP with reject: where the leader should probe next (fast backtracking);
    # `log_term` then carries the follower's term at that index.
    reject_hint: int = 0
    # HEARTBEAT(_RESP), READ_INDEX(_RESP): a ReadIndex round's id; VOTE: b"transfer" for a
    # leadership transfer; HEARTBEAT: b"quiesce" when the group goes quiet, or a lease
    # round's tick (lease_context).
    context: bytes = b""


TRANSFER_CONTEXT = b"transfer"
# HEARTBEAT: the leader's last before the group goes quiet (core.py, "quiescence").
QUIESCE_CONTEXT = b"quiesce"
# HEARTBEAT: a lease round, the leader's tick count when it sent it (core.py, "leases").
LEASE_CONTEXT_PREFIX = b"lease:"


def lease_context(tick: int) -> bytes:
    return LEASE_CONTEXT_PREFIX + tick.to_bytes(8, "big")


def lease_tick(context: bytes) -> int | None:
    """The leader tick a lease round's context carries, or None for any other context."""
    if len(context) != len(LEASE_CONTEXT_PREFIX) + 8 or not context.startswith(
        LEASE_CONTEXT_PREFIX
    ):
        return None
    return int.from_bytes(context[len(LEASE_CONTEXT_PREFIX) :], "big")
