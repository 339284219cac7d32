from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from typing import ClassVar as _ClassVar

DESCRIPTOR: _descriptor.FileDescriptor

class Reason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REASON_UNSPECIFIED: _ClassVar[Reason]
    INVALID: _ClassVar[Reason]
    NOT_LEADER: _ClassVar[Reason]
    NOT_APPLIED: _ClassVar[Reason]
    OUTCOME_UNKNOWN: _ClassVar[Reason]
    FENCED: _ClassVar[Reason]
    NO_QUORUM: _ClassVar[Reason]
    OUT_OF_RANGE: _ClassVar[Reason]
    SLOW_CONSUMER: _ClassVar[Reason]
    UNKNOWN_SESSION: _ClassVar[Reason]
    SESSION_EXPIRED: _ClassVar[Reason]
    NOT_HOLDER: _ClassVar[Reason]
    UNKNOWN_TOPIC: _ClassVar[Reason]
    TOPIC_EXISTS: _ClassVar[Reason]
    PRODUCER_FENCED: _ClassVar[Reason]
    OUT_OF_ORDER_SEQUENCE: _ClassVar[Reason]
    UNKNOWN_PRODUCER: _ClassVar[Reason]
    UNKNOWN_MEMBER: _ClassVar[Reason]
    ILLEGAL_GENERATION: _ClassVar[Reason]
    UNAUTHENTICATED_CALLER: _ClassVar[Reason]
    METHOD_NOT_ALLOWED: _ClassVar[Reason]
    RATE_LIMITED: _ClassVar[Reason]
    OVERLOADED: _ClassVar[Reason]
    REBALANCE_IN_PROGRESS: _ClassVar[Reason]
REASON_UNSPECIFIED: Reason
INVALID: Reason
NOT_LEADER: Reason
NOT_APPLIED: Reason
OUTCOME_UNKNOWN: Reason
FENCED: Reason
NO_QUORUM: Reason
OUT_OF_RANGE: Reason
SLOW_CONSUMER: Reason
UNKNOWN_SESSION: Reason
SESSION_EXPIRED: Reason
NOT_HOLDER: Reason
UNKNOWN_TOPIC: Reason
TOPIC_EXISTS: Reason
PRODUCER_FENCED: Reason
OUT_OF_ORDER_SEQUENCE: Reason
UNKNOWN_PRODUCER: Reason
UNKNOWN_MEMBER: Reason
ILLEGAL_GENERATION: Reason
UNAUTHENTICATED_CALLER: Reason
METHOD_NOT_ALLOWED: Reason
RATE_LIMITED: Reason
OVERLOADED: Reason
REBALANCE_IN_PROGRESS: Reason
