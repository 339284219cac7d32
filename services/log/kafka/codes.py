"""faultlab's error tree in Kafka's words: the code a Kafka broker answers in the same
situation. The reason decides, never the message; what a reason means differs by what
was asked (a NOT_LEADER from the coordinator's group is NOT_COORDINATOR), so each kind of
request has its table."""

from __future__ import annotations

from faultlab.errors.v1 import errors_pb2
from kio.schema.errors import ErrorCode

from services.runtime import errors

# Records and topics: a partition's group, the metadata group.
PARTITION: dict[int, ErrorCode] = {
    errors_pb2.NOT_LEADER: ErrorCode.not_leader_or_follower,
    errors_pb2.NOT_APPLIED: ErrorCode.not_leader_or_follower,  # lost leadership: retry
    errors_pb2.OUTCOME_UNKNOWN: ErrorCode.request_timed_out,  # may have been written
    errors_pb2.NO_QUORUM: ErrorCode.not_enough_replicas,
    errors_pb2.UNKNOWN_TOPIC: ErrorCode.unknown_topic_or_partition,
    errors_pb2.TOPIC_EXISTS: ErrorCode.topic_already_exists,
    errors_pb2.INVALID: ErrorCode.invalid_request,
    errors_pb2.PRODUCER_FENCED: ErrorCode.invalid_producer_epoch,
    errors_pb2.OUT_OF_ORDER_SEQUENCE: ErrorCode.out_of_order_sequence_number,
    errors_pb2.UNKNOWN_PRODUCER: ErrorCode.unknown_producer_id,
    errors_pb2.OUT_OF_RANGE: ErrorCode.offset_out_of_range,
}

# Consumer groups: the coordinator's group.
GROUP: dict[int, ErrorCode] = {
    errors_pb2.NOT_LEADER: ErrorCode.not_coordinator,
    errors_pb2.NOT_APPLIED: ErrorCode.not_coordinator,
    errors_pb2.OUTCOME_UNKNOWN: ErrorCode.request_timed_out,
    errors_pb2.NO_QUORUM: ErrorCode.coordinator_not_available,
    errors_pb2.UNKNOWN_TOPIC: ErrorCode.unknown_topic_or_partition,
    errors_pb2.INVALID: ErrorCode.invalid_request,
    errors_pb2.UNKNOWN_MEMBER: ErrorCode.unknown_member_id,
    errors_pb2.ILLEGAL_GENERATION: ErrorCode.illegal_generation,
    errors_pb2.REBALANCE_IN_PROGRESS: ErrorCode.rebalance_in_progress,
}


def partition_code(error: errors.ServiceError) -> ErrorCode:
    return PARTITION.get(error.reason, ErrorCode.unknown_server_error)


def group_code(error: errors.ServiceError) -> ErrorCode:
    return GROUP.get(error.reason, ErrorCode.unknown_server_error)
