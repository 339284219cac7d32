"""What travels through the log broker's Raft logs, and the limits requests must respect.

Three state machines, each with its own commands (results and refusals: results.py):

    log/meta     CreateTopic, DeleteTopic, InitProducer           (meta.py)
    a partition  Produce, Trim                                    (partition.py)
    log/groups   Join, Leave, ExpireMembers, Commit,              (groups.py)
                 ClassicJoined, ClassicAssigned (Kafka's classic protocol)
"""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

from services.replicated.codec import Codec, Tagged
from services.replicated.fences import Fence
from services.runtime.errors import InvalidArgument

TOPIC_NAME = re.compile(r"[a-zA-Z0-9._-]{1,200}")
MAX_PARTITIONS = 256
MAX_REPLICATION = 3  # the default replication is min(this, log nodes)
MAX_BATCH_RECORDS = 10_000
MAX_BATCH_BYTES = 4 * 1024 * 1024
MAX_PRODUCE_MANY_BATCHES = 1000
MAX_RECORD_BYTES = 1024 * 1024
DEFAULT_FETCH_BYTES = 1024 * 1024
MAX_FETCH_WAIT_MS = 60_000
MAX_PRODUCER_NAME_BYTES = 256


def check_topic_name(name: str) -> None:
    if not TOPIC_NAME.fullmatch(name):
        raise InvalidArgument(
            f"topic name {name[:60]!r} must be 1..200 characters of [a-zA-Z0-9._-]"
        )


def check_partitions(partitions: int) -> None:
    if not 1 <= partitions <= MAX_PARTITIONS:
        raise InvalidArgument(f"partitions {partitions} is outside 1..{MAX_PARTITIONS}")


def replication(asked: int, nodes: int) -> int:
    """The replication factor: `asked`, or min(3, nodes) when 0."""
    if asked == 0:
        return min(MAX_REPLICATION, nodes)
    if not 1 <= asked <= nodes:
        raise InvalidArgument(f"replication {asked} is outside 1..{nodes} (the log nodes)")
    return asked


def check_retention(max_records: int, max_bytes: int, max_age_ms: int) -> None:
    for name, value in (
        ("max_records", max_records),
        ("max_bytes", max_bytes),
        ("max_age_ms", max_age_ms),
    ):
        if value < 0:
            raise InvalidArgument(f"retention {name} {value} must be >= 0 (0: unlimited)")


def check_batch(records: list[tuple[bytes, bytes]]) -> None:
    if not records:
        raise InvalidArgument("a produce needs at least one record")
    if len(records) > MAX_BATCH_RECORDS:
        raise InvalidArgument(f"{len(records)} records; a batch holds at most {MAX_BATCH_RECORDS}")
    total = 0
    for i, (key, value) in enumerate(records):
        size = len(key) + len(value)
        if size > MAX_RECORD_BYTES:
            raise InvalidArgument(f"record {i} is {size} bytes; the limit is {MAX_RECORD_BYTES}")
        total += size
    if total > MAX_BATCH_BYTES:
        raise InvalidArgument(f"the batch is {total} bytes; the limit is {MAX_BATCH_BYTES}")


def check_fetch(offset: int, max_bytes: int, max_wait_ms: int) -> None:
    if offset < 0:
        raise InvalidArgument(f"offset {offset} must be >= 0")
    if max_bytes < 0:
        raise InvalidArgument(f"max_bytes {max_bytes} must be >= 0 (0: 1 MiB)")
    if not 0 <= max_wait_ms <= MAX_FETCH_WAIT_MS:
        raise InvalidArgument(f"max_wait_ms {max_wait_ms} is outside 0..{MAX_FETCH_WAIT_MS}")


class LogOp(enum.StrEnum):
    CREATE_TOPIC = "create_topic"
    DELETE_TOPIC = "delete_topic"
    INIT_PRODUCER = "init_producer"
    PRODUCE = "produce"
    TRIM = "trim"
    JOIN = "join"
    LEAVE = "leave"
    EXPIRE_MEMBERS = "expire"
    COMMIT = "commit"
    CLASSIC_JOINED = "classic_joined"
    CLASSIC_ASSIGNED = "classic_assigned"


# -- log/meta ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class CreateTopic(Tagged):
    TAG = LogOp.CREATE_TOPIC
    name: str
    partitions: int
    replication: int
    retention: tuple[int, int, int]  # max records, max bytes, max age ms (0: unlimited)
    nodes: tuple[str, ...]  # the log nodes replicas are placed on

    @classmethod
    def from_map(cls, m: Mapping[str, Any]) -> CreateTopic:
        r = m["retention"]
        retention = (r[0], r[1], r[2])
        return cls(m["name"], m["partitions"], m["replication"], retention, tuple(m["nodes"]))


@dataclasses.dataclass(frozen=True)
class DeleteTopic(Tagged):
    TAG = LogOp.DELETE_TOPIC
    name: str


@dataclasses.dataclass(frozen=True)
class InitProducer(Tagged):
    TAG = LogOp.INIT_PRODUCER
    name: str  # "": an anonymous producer, never given a second epoch


MetaCommand: TypeAlias = CreateTopic | DeleteTopic | InitProducer
META_COMMANDS: Codec[MetaCommand] = Codec("op", CreateTopic, DeleteTopic, InitProducer)


# -- a partition ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ProducerSeq:
    """An idempotent producer's batch: its id, epoch and the batch's first sequence."""

    producer_id: int
    epoch: int
    first_seq: int

    def to_wire(self) -> list[int]:
        return [self.producer_id, self.epoch, self.first_seq]

    @classmethod
    def from_wire(cls, wire: Sequence[int] | None) -> ProducerSeq | None:
        return None if not wire else cls(wire[0], wire[1], wire[2])


@dataclasses.dataclass(frozen=True)
class Produce(Tagged):
    TAG = LogOp.PRODUCE
    # [key, value] each (faultlab.log.v1; every record gets `ts`), or [key | None,
    # value | None, ts, [[name, value], ...]] (Kafka's door: the producer's timestamp and
    # headers), as msgpack reads them
    records: Sequence[Sequence[Any]]
    ts: int  # the leader's wall clock, ms: every record's timestamp
    producer: ProducerSeq | None = None
    fence: Fence | None = None

    @classmethod
    def from_map(cls, m: Mapping[str, Any]) -> Produce:
        producer = ProducerSeq.from_wire(m.get("producer"))
        return cls(m["records"], m["ts"], producer, Fence.from_wire(m.get("fence")))


@dataclasses.dataclass(frozen=True)
class Trim(Tagged):
    """Retention, decided by the leader: the log starts at `before` from now on."""

    TAG = LogOp.TRIM
    before: int


PartitionCommand: TypeAlias = Produce | Trim
PARTITION_COMMANDS: Codec[PartitionCommand] = Codec("op", Produce, Trim)


# -- log/groups ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Join(Tagged):
    TAG = LogOp.JOIN
    group: str
    member_id: str  # "": a new member, numbered by the state machine
    client_id: str
    topics: tuple[str, ...]
    timeout_ms: int
    assignor: int  # faultlab.log.v1.Assignor
    partitions: Mapping[str, int]  # per subscribed topic, as the metadata had it

    @classmethod
    def from_map(cls, m: Mapping[str, Any]) -> Join:
        return cls(
            m["group"],
            m["member_id"],
            m["client_id"],
            tuple(m["topics"]),
            m["timeout_ms"],
            m["assignor"],
            dict(m["partitions"]),
        )


@dataclasses.dataclass(frozen=True)
class Leave(Tagged):
    TAG = LogOp.LEAVE
    group: str
    member_id: str


@dataclasses.dataclass(frozen=True)
class ExpireMembers(Tagged):
    """The coordinator's leader saw no heartbeat from these within their timeouts."""

    TAG = LogOp.EXPIRE_MEMBERS
    group: str
    member_ids: tuple[str, ...]

    @classmethod
    def from_map(cls, m: Mapping[str, Any]) -> ExpireMembers:
        return cls(m["group"], tuple(m["member_ids"]))


@dataclasses.dataclass(frozen=True)
class Commit(Tagged):
    """Offsets, [topic, partition, offset] each. `fenced` False is the unsafe mode: any
    generation's commit is taken, as Kafka 0.8's consumers wrote offsets to ZooKeeper.
    `classic`: from Kafka's door, judged by the classic protocol's rules (a commit from
    outside any generation is taken while the group has no members)."""

    TAG = LogOp.COMMIT
    group: str
    member_id: str
    generation: int
    offsets: Sequence[Sequence[Any]]
    fenced: bool
    classic: bool = False


@dataclasses.dataclass(frozen=True)
class ClassicJoined(Tagged):
    """Kafka's classic protocol: the coordinator's leader closed a join phase. The group's
    members are exactly these from `generation` on, each [member_id, client_id, host,
    session_ms, rebalance_ms, [[protocol, metadata], ...]]; the leader member assigns."""

    TAG = LogOp.CLASSIC_JOINED
    group: str
    generation: int
    protocol_type: str
    protocol: str
    leader: str
    members: Sequence[Sequence[Any]]


@dataclasses.dataclass(frozen=True)
class ClassicAssigned(Tagged):
    """The leader member's SyncGroup: each member's assignment (opaque to the broker)."""

    TAG = LogOp.CLASSIC_ASSIGNED
    group: str
    generation: int
    assignments: Mapping[str, bytes]

    @classmethod
    def from_map(cls, m: Mapping[str, Any]) -> ClassicAssigned:
        return cls(m["group"], m["generation"], dict(m["assignments"]))


GroupsCommand: TypeAlias = Join | Leave | ExpireMembers | Commit | ClassicJoined | ClassicAssigned
GROUPS_COMMANDS: Codec[GroupsCommand] = Codec(
    "op", Join, Leave, ExpireMembers, Commit, ClassicJoined, ClassicAssigned
)
