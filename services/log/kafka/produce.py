"""Produce: record batches into partitions' Raft logs.

acks=-1 answers once the batch is committed and applied (its offsets known); acks=1 once
this leader alone has it in its log (Kafka's acks=1 loss: a leader that dies before the
followers copy it takes the batch with it), with the offset the leader reckons it will
get (services/log/tail.py); acks=0 gets no answer at all. Idempotent batches (producer
id >= 0) carry their sequence into the partition's producer state: a retried batch among
the last five is answered with its first offsets, a gap is OUT_OF_ORDER_SEQUENCE_NUMBER,
an old epoch INVALID_PRODUCER_EPOCH, as a Kafka broker answers.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from kio.schema.errors import ErrorCode

from services.log.commands import PARTITION_COMMANDS, Produce
from services.log.kafka.codes import partition_code
from services.log.kafka.door import Door
from services.log.kafka.records import Batch, CorruptBatch, UnsupportedCompression, read_batches
from services.log.kafka.topics import NO_THROTTLE, producer_batch
from services.log.kafka.wire import Deadline
from services.log.results import Produced
from services.replicated.refusal import answered
from services.runtime import errors

MAX_MESSAGE_BYTES = 1_048_588  # Kafka's message.max.bytes: the largest batch taken
ACKS = (0, 1, -1)

Answer = dict[str, Any]


async def produce(door: Door, request: Any, version: int) -> Answer | None:
    deadline = Deadline(request.timeout.total_seconds())
    jobs = [
        (t.name, p.index, _partition(door, request, t.name, p.index, p.records, deadline))
        for t in request.topic_data
        for p in t.partition_data
    ]
    answers = await asyncio.gather(*(job for _, _, job in jobs))
    if request.acks == 0:
        return None
    by_topic: dict[str, list[Answer]] = {}
    for (topic, _, _), answer in zip(jobs, answers, strict=True):
        by_topic.setdefault(topic, []).append(answer)
    return {
        "responses": [{"name": t, "partition_responses": ps} for t, ps in by_topic.items()],
        "throttle_time": NO_THROTTLE,
    }


async def _partition(
    door: Door,
    request: Any,
    topic_name: str,
    partition: int,
    data: bytes | None,
    deadline: Deadline,
) -> Answer:
    def answer(code: ErrorCode, base_offset: int = -1, message: str | None = None) -> Answer:
        return {
            "index": partition,
            "error_code": code,
            "base_offset": base_offset,
            "log_append_time": None,
            "log_start_offset": -1,
            "record_errors": [],
            "error_message": message,
        }

    if request.acks not in ACKS:
        return answer(ErrorCode.invalid_required_acks)
    if request.transactional_id is not None:
        return answer(
            ErrorCode.transactional_id_authorization_failed,
            message="faultlab serves no transactions",
        )
    try:
        batches = read_batches(data or b"")
    except CorruptBatch as e:
        return answer(ErrorCode.corrupt_message, message=str(e))
    except UnsupportedCompression as e:
        return answer(ErrorCode.unsupported_compression_type, message=str(e))
    for batch in batches:
        if batch.size_bytes > MAX_MESSAGE_BYTES:
            return answer(
                ErrorCode.message_too_large,
                message=f"The batch is {batch.size_bytes} bytes, larger than the maximum "
                f"of {MAX_MESSAGE_BYTES}",
            )
        if batch.transactional or batch.control:
            return answer(ErrorCode.invalid_record, message="faultlab serves no transactions")
    try:
        topic = await door.log.topic(topic_name, deadline)
        group = door.log.leading(topic, partition)
        first = -1
        for batch in batches:
            base = await _append(door, group, batch, request.acks, deadline)
            first = base if first == -1 else first
    except errors.UnknownTopic:
        return answer(ErrorCode.unknown_topic_or_partition)
    except errors.ServiceError as e:
        return answer(partition_code(e), message=str(e))
    out = answer(ErrorCode.none, first)
    out["log_start_offset"] = group.state.log_start
    return out


async def _append(door: Door, group: Any, batch: Batch, acks: int, deadline: Deadline) -> int:
    """The batch's base offset once written as `acks` asks (-1 when not yet known)."""
    producer = None
    if batch.producer_id >= 0:
        producer = await door.log.confirmed_producer(
            producer_batch(batch.producer_id, batch.producer_epoch, batch.base_sequence),
            deadline,
        )
    rows = [[r.key, r.value, r.timestamp_ms, [list(h) for h in r.headers]] for r in batch.records]
    cmd = PARTITION_COMMANDS.encode(Produce(rows, int(time.time() * 1000), producer))
    base = door.log.partitions.reserve(group, len(rows))
    if acks != -1:
        await group.propose_appended(cmd, deadline)
        return base
    result = answered(await group.propose(cmd, deadline), Produced)
    return result.base_offset
