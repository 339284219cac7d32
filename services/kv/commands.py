"""The KV commands that travel through the Raft log, and the limits they must respect.

    put     Put(key, value)                       -> Written
    del     Delete(key)                           -> Deleted
    cas     CompareAndSwap(key, expected_version, value)  -> Swapped
    append  Append(key, value)                    -> Written | Refusal (too large)
    batch   Batch(ops)                            -> BatchApplied (a result per op)
    etcd_txn      EtcdTxn(etcd TxnRequest bytes)  -> etcd TxnResponse | its etcd error
    etcd_compact  EtcdCompact(revision)           -> etcd CompactionResponse | its etcd error
    lease_grant   LeaseGrant(id, ttl_s, now)      -> etcd LeaseGrantResponse | its etcd error
    lease_revoke  LeaseRevoke(id)                 -> etcd LeaseRevokeResponse | its etcd error
    lease_keep    LeaseKeepAlive(id, now)         -> etcd LeaseKeepAliveResponse (TTL 0: gone)
    lease_expire  LeaseExpire(ids, now)           -> the ids that ended (the leader clock's)
    lease_lead    LeaseLead()                     -> None (a new leader extends every lease)

etcd's requests travel as etcd's own protobuf (an etcd Put or DeleteRange as a txn of
one op), as etcd's own Raft log carries them; services/kv/etcd/txn.py applies them.
Lease commands carry the leader clock's `now` (services/replicated/leader_clock.py).

Each may carry a `session` (client id, seq, acked through): a retried command (same seq)
gets the first result without applying again (the Raft thesis, §6.3); a batch's session
covers the batch as a whole. Each but a batch may carry a `fence`: a token below the
highest seen for its name is refused (Refusal FENCED) and changes nothing.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping, Sequence
from typing import Any

from services.replicated.codec import Codec, Tagged, UnreadableEntry, plain
from services.replicated.fences import Fence
from services.runtime.errors import InvalidArgument

MAX_KEY_BYTES = 1024
MAX_VALUE_BYTES = 1024 * 1024
MAX_RANGE_LIMIT = 10_000
DEFAULT_RANGE_LIMIT = 1000


def check_key(key: str, what: str = "key") -> None:
    if not key:
        raise InvalidArgument(f"{what} must not be empty")
    size = len(key.encode())
    if size > MAX_KEY_BYTES:
        raise InvalidArgument(f"{what} is {size} bytes; the limit is {MAX_KEY_BYTES}")


def check_value(value: bytes) -> None:
    if len(value) > MAX_VALUE_BYTES:
        raise InvalidArgument(f"value is {len(value)} bytes; the limit is {MAX_VALUE_BYTES}")


def check_prefix(prefix: str) -> None:
    if len(prefix.encode()) > MAX_KEY_BYTES:
        raise InvalidArgument(f"prefix is longer than {MAX_KEY_BYTES} bytes")


def range_limit(limit: int) -> int:
    if limit < 0 or limit > MAX_RANGE_LIMIT:
        raise InvalidArgument(f"limit {limit} is outside 0..{MAX_RANGE_LIMIT} (0: default)")
    return limit or DEFAULT_RANGE_LIMIT


class KvOp(enum.StrEnum):
    PUT = "put"
    DELETE = "del"
    CAS = "cas"
    APPEND = "append"
    BATCH = "batch"
    ETCD_TXN = "etcd_txn"
    ETCD_COMPACT = "etcd_compact"
    LEASE_GRANT = "lease_grant"
    LEASE_REVOKE = "lease_revoke"
    LEASE_KEEP_ALIVE = "lease_keep"
    LEASE_EXPIRE = "lease_expire"
    LEASE_LEAD = "lease_lead"


@dataclasses.dataclass(frozen=True)
class SessionSeq:
    """A write's place in its client's session: every seq up to `acked_through` the
    client has its answer for, so their results may be forgotten."""

    client_id: str
    seq: int
    acked_through: int

    def to_wire(self) -> list[Any]:
        return [self.client_id, self.seq, self.acked_through]

    @classmethod
    def from_wire(cls, wire: Sequence[Any] | None) -> SessionSeq | None:
        """Format 0 logged [client id, seq] before acked_through: one write in flight,
        everything below its seq answered."""
        if not wire:
            return None
        client_id, seq, *rest = wire
        return cls(client_id, seq, rest[0] if rest else seq - 1)


@dataclasses.dataclass(frozen=True)
class KvCommand(Tagged):
    session: SessionSeq | None = dataclasses.field(default=None, kw_only=True)


@dataclasses.dataclass(frozen=True)
class Write(KvCommand):
    """A write of one key, the kind a batch holds."""

    key: str
    fence: Fence | None = dataclasses.field(default=None, kw_only=True)

    @classmethod
    def from_map(cls, m: Mapping[str, Any]) -> Any:
        fields = cls.fields_from(m)
        fields["session"] = SessionSeq.from_wire(m.get("session"))
        fields["fence"] = Fence.from_wire(m.get("fence"))
        return cls(**fields)


@dataclasses.dataclass(frozen=True)
class Put(Write):
    TAG = KvOp.PUT
    value: bytes


@dataclasses.dataclass(frozen=True)
class Delete(Write):
    TAG = KvOp.DELETE


@dataclasses.dataclass(frozen=True)
class CompareAndSwap(Write):
    TAG = KvOp.CAS
    expected_version: int  # 0: the key must not exist
    value: bytes


@dataclasses.dataclass(frozen=True)
class Append(Write):
    TAG = KvOp.APPEND
    value: bytes


@dataclasses.dataclass(frozen=True)
class Batch(KvCommand):
    TAG = KvOp.BATCH
    ops: tuple[Write, ...]

    def to_map(self) -> dict[str, Any]:
        return {"ops": [COMMANDS.to_map(op) for op in self.ops], "session": plain(self.session)}

    @classmethod
    def from_map(cls, m: Mapping[str, Any]) -> Any:
        ops = tuple(_as_write(COMMANDS.from_map(op)) for op in m["ops"])
        return cls(ops, session=SessionSeq.from_wire(m.get("session")))


@dataclasses.dataclass(frozen=True)
class EtcdTxn(KvCommand):
    TAG = KvOp.ETCD_TXN
    request: bytes  # an etcdserverpb.TxnRequest


@dataclasses.dataclass(frozen=True)
class EtcdCompact(KvCommand):
    TAG = KvOp.ETCD_COMPACT
    revision: int


@dataclasses.dataclass(frozen=True)
class LeaseGrant(KvCommand):
    TAG = KvOp.LEASE_GRANT
    lease_id: int  # 0: the state machine picks one
    ttl_s: int
    now: int


@dataclasses.dataclass(frozen=True)
class LeaseRevoke(KvCommand):
    TAG = KvOp.LEASE_REVOKE
    lease_id: int


@dataclasses.dataclass(frozen=True)
class LeaseKeepAlive(KvCommand):
    TAG = KvOp.LEASE_KEEP_ALIVE
    lease_id: int
    now: int


@dataclasses.dataclass(frozen=True)
class LeaseExpire(KvCommand):
    TAG = KvOp.LEASE_EXPIRE
    lease_ids: tuple[int, ...]
    now: int

    @classmethod
    def from_map(cls, m: Mapping[str, Any]) -> LeaseExpire:
        return cls(tuple(m["lease_ids"]), m["now"])


@dataclasses.dataclass(frozen=True)
class LeaseLead(KvCommand):
    TAG = KvOp.LEASE_LEAD


LeaseCommand = LeaseGrant | LeaseRevoke | LeaseKeepAlive | LeaseExpire | LeaseLead


def _as_write(command: KvCommand) -> Write:
    if not isinstance(command, Write):
        raise UnreadableEntry(f"a batch holds writes of one key, not {command.TAG}")
    return command


COMMANDS: Codec[KvCommand] = Codec(
    "op",
    Put,
    Delete,
    CompareAndSwap,
    Append,
    Batch,
    EtcdTxn,
    EtcdCompact,
    LeaseGrant,
    LeaseRevoke,
    LeaseKeepAlive,
    LeaseExpire,
    LeaseLead,
)
encode = COMMANDS.encode
decode = COMMANDS.decode
