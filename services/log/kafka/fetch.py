"""Fetch and ListOffsets: committed records, from the partition's leader only.

Fetch long-polls as Kafka's does: it answers at once when the partitions asked hold
min_bytes past their offsets, else once one of them gets more or max_wait passes. A
replica answers only while it leads (CheckQuorum's lease: a cut-off leader stops
within an election timeout); others answer NOT_LEADER_OR_FOLLOWER and the client asks
Metadata again. Records go out as one uncompressed batch per partition. Fetch sessions
(KIP-227) are declined: session id 0, so clients send full requests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kio.schema.errors import ErrorCode

from services.log.kafka.codes import partition_code
from services.log.kafka.door import Door
from services.log.kafka.records import KafkaRecord, write_batch
from services.log.kafka.topics import NO_THROTTLE
from services.log.kafka.wire import Deadline
from services.log.partition import PartitionState
from services.replicated import ReplicatedGroup
from services.runtime import errors

EARLIEST, LATEST, MAX_TIMESTAMP = -2, -1, -3

Answer = dict[str, Any]


@dataclass
class Wanted:
    topic: str
    partition: int
    offset: int
    max_bytes: int
    group: ReplicatedGroup[PartitionState] | None = None
    error: ErrorCode = ErrorCode.none


async def fetch(door: Door, request: Any, version: int) -> Answer:
    deadline = Deadline(request.max_wait.total_seconds())
    wanted = [
        Wanted(t.topic, p.partition, p.fetch_offset, p.partition_max_bytes)
        for t in request.topics
        for p in t.partitions
    ]
    for w in wanted:
        _find(door, w)
    answers = [_read(w) for w in wanted]
    size = sum(len(a["records"]) for a in answers)
    waiting = [w for w in wanted if w.group is not None and w.error == ErrorCode.none]
    if size < max(request.min_bytes, 1) and waiting and deadline.time_remaining() > 0:
        await _more_records(waiting, deadline.time_remaining())
        for w in waiting:
            _still_leading(w)
        answers = [_read(w) for w in wanted]
    by_topic: dict[str, list[Answer]] = {}
    budget = request.max_bytes
    for w, a in zip(wanted, answers, strict=True):
        if a["records"] and budget <= 0:
            a["records"] = b""  # over the response's max_bytes; the first always goes
        budget -= len(a["records"])
        by_topic.setdefault(w.topic, []).append(a)
    return {
        "throttle_time": NO_THROTTLE,
        "error_code": ErrorCode.none,
        "session_id": 0,
        "responses": [{"topic": t, "partitions": ps} for t, ps in by_topic.items()],
    }


def _find(door: Door, w: Wanted) -> None:
    topic = door.log.meta_group.state.topics.get(w.topic)
    if topic is None:
        w.error = ErrorCode.unknown_topic_or_partition
        return
    try:
        w.group = door.log.leading(topic, w.partition)
        w.group.lease_read()
    except errors.ServiceError as e:
        w.group, w.error = None, _code(e)


def _still_leading(w: Wanted) -> None:
    try:
        if w.group is not None:
            w.group.lease_read()
    except errors.ServiceError as e:
        w.group, w.error = None, _code(e)


def _code(e: errors.ServiceError) -> ErrorCode:
    if isinstance(e, errors.UnknownTopic):
        return ErrorCode.unknown_topic_or_partition
    return partition_code(e)


def _read(w: Wanted) -> Answer:
    answer: Answer = {
        "partition_index": w.partition,
        "error_code": w.error,
        "high_watermark": -1,
        "last_stable_offset": -1,
        "log_start_offset": -1,
        "aborted_transactions": None,
        "preferred_read_replica": -1,
        "records": b"",  # empty, not null: clients read a null record set as malformed
    }
    if w.group is None:
        return answer
    state = w.group.state
    answer |= {
        "high_watermark": state.high_watermark,
        "last_stable_offset": state.high_watermark,
        "log_start_offset": state.log_start,
    }
    if not state.log_start <= w.offset <= state.high_watermark:
        answer["error_code"] = ErrorCode.offset_out_of_range
        return answer
    stored = state.read(w.offset, max(w.max_bytes, 1)) if w.offset < state.high_watermark else []
    if stored:
        records = [KafkaRecord(r.key, r.value, r.timestamp_ms, r.headers) for r in stored]
        answer["records"] = write_batch(stored[0].offset, records)
    return answer


async def _more_records(wanted: list[Wanted], timeout_s: float) -> None:
    """Until one of the partitions holds a record past its fetch offset, or timeout_s."""
    arrived = asyncio.Event()
    states = [w.group.state for w in wanted if w.group is not None]
    listener: Callable[[], None] = arrived.set
    for state in states:
        state.listeners.add(listener)
    try:
        if any(w.group is not None and w.group.state.high_watermark > w.offset for w in wanted):
            return
        try:
            async with asyncio.timeout(timeout_s):
                await arrived.wait()
        except TimeoutError:
            pass
    finally:
        for state in states:
            state.listeners.discard(listener)


async def list_offsets(door: Door, request: Any, version: int) -> Answer:
    topics = []
    for t in request.topics:
        partitions = [_offset(door, t.name, p.partition_index, p.timestamp) for p in t.partitions]
        topics.append({"name": t.name, "partitions": partitions})
    return {"throttle_time": NO_THROTTLE, "topics": topics}


def _offset(door: Door, topic_name: str, partition: int, timestamp: int) -> Answer:
    answer: Answer = {
        "partition_index": partition,
        "error_code": ErrorCode.none,
        "timestamp": -1,
        "offset": -1,
        "leader_epoch": -1,
    }
    w = Wanted(topic_name, partition, 0, 0)
    _find(door, w)
    if w.group is None:
        answer["error_code"] = w.error
        return answer
    state = w.group.state
    answer["leader_epoch"] = w.group.term
    if timestamp == LATEST:
        answer["offset"] = state.high_watermark
    elif timestamp == EARLIEST:
        answer["offset"] = state.log_start
    elif timestamp == MAX_TIMESTAMP:
        newest = state.newest_timestamp()
        if newest is not None:
            answer["offset"], answer["timestamp"] = newest
    else:
        offset = state.offset_at_time(timestamp)
        if offset is not None:
            answer["offset"] = offset
            answer["timestamp"] = state.read(offset, 1)[0].timestamp_ms
    return answer
