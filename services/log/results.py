"""What the log broker's state machines answer: a typed result per command, or a Refusal
(each refusal written once here, the servicers' own checks use the same words).

Unlike the KV's and the lock's, these results are never kept in a snapshot: the
partition keeps its producers' batches, not its answers.
"""

from __future__ import annotations

import dataclasses

from faultlab.errors.v1 import errors_pb2

from services.log.topic import TopicMeta
from services.replicated.refusal import Refusal

# Every reason the log's state machines refuse with (tests/unit/test_refusals.py maps each).
REFUSES = (
    errors_pb2.TOPIC_EXISTS,
    errors_pb2.FENCED,
    errors_pb2.PRODUCER_FENCED,
    errors_pb2.OUT_OF_ORDER_SEQUENCE,
    errors_pb2.UNKNOWN_MEMBER,
    errors_pb2.ILLEGAL_GENERATION,
    errors_pb2.REBALANCE_IN_PROGRESS,
)


@dataclasses.dataclass(frozen=True)
class TopicCreated:
    topic: TopicMeta


@dataclasses.dataclass(frozen=True)
class TopicDeleted:
    deleted: bool  # False: there was no such topic


@dataclasses.dataclass(frozen=True)
class ProducerInitialized:
    producer_id: int
    epoch: int


@dataclasses.dataclass(frozen=True)
class Produced:
    base_offset: int
    ts: int
    duplicate: bool = False  # a retry of a batch already written: its first answer


@dataclasses.dataclass(frozen=True)
class Trimmed:
    log_start: int


@dataclasses.dataclass(frozen=True)
class Joined:
    member_id: str
    generation: int


@dataclasses.dataclass(frozen=True)
class Left:
    left: bool  # False: no such member


@dataclasses.dataclass(frozen=True)
class MembersExpired:
    expired: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Committed:
    pass


@dataclasses.dataclass(frozen=True)
class ClassicGeneration:
    generation: int  # the classic group's generation the command moved it to or kept


# -- refusals ---------------------------------------------------------------------------------


def topic_exists(name: str) -> Refusal:
    return Refusal(errors_pb2.TOPIC_EXISTS, f"topic {name!r} already exists", {"topic": name})


def producer_fenced(producer_id: int, epoch: int) -> Refusal:
    return Refusal(
        errors_pb2.PRODUCER_FENCED,
        f"producer {producer_id} has a newer epoch ({epoch}); this instance was replaced "
        "and nothing was written",
        {"epoch": str(epoch)},
    )


def out_of_order(expected_seq: int) -> Refusal:
    return Refusal(
        errors_pb2.OUT_OF_ORDER_SEQUENCE,
        f"expected sequence {expected_seq}: an earlier batch is missing; nothing was written",
        {"expected_seq": str(expected_seq)},
    )


def unknown_member(group: str, member_id: str) -> Refusal:
    return Refusal(
        errors_pb2.UNKNOWN_MEMBER,
        f"group {group!r} has no member {member_id!r} (it left or missed its session "
        "timeout): join again",
        {"group": group, "member_id": member_id},
    )


def illegal_generation(generation: int, current: int) -> Refusal:
    return Refusal(
        errors_pb2.ILLEGAL_GENERATION,
        f"generation {generation} is not the group's current {current}: its partitions "
        "may have moved; nothing committed",
        {"generation": str(current)},
    )


def rebalance_in_progress(group: str) -> Refusal:
    return Refusal(
        errors_pb2.REBALANCE_IN_PROGRESS,
        f"group {group!r} is rebalancing: rejoin, or wait for the new assignment; nothing changed",
        {"group": group},
    )
