"""One error tree for every faultlab service. `services.runtime.status` turns it into a
gRPC status at one edge (a server interceptor), so handlers only raise.

    ServiceError                 reason            gRPC status          definite
    ├── InvalidArgument          INVALID           INVALID_ARGUMENT     yes
    ├── NotLeader                NOT_LEADER        FAILED_PRECONDITION  yes  (+ leader id, address)
    ├── Fenced                   FENCED            FAILED_PRECONDITION  yes
    ├── NotApplied               NOT_APPLIED       UNAVAILABLE          yes
    ├── OutcomeUnknown           OUTCOME_UNKNOWN   UNAVAILABLE          no
    ├── NoQuorum                 NO_QUORUM         UNAVAILABLE          yes  (reads)
    ├── OutOfRange               OUT_OF_RANGE      OUT_OF_RANGE         yes
    ├── SlowConsumer             SLOW_CONSUMER     RESOURCE_EXHAUSTED   yes  (streams)
    ├── UnknownSession           UNKNOWN_SESSION   NOT_FOUND            yes  (locks)
    ├── SessionExpired           SESSION_EXPIRED   NOT_FOUND            yes  (locks)
    ├── NotHolder                NOT_HOLDER        FAILED_PRECONDITION  yes  (+ holder)
    ├── UnknownTopic             UNKNOWN_TOPIC     NOT_FOUND            yes  (log)
    ├── TopicExists              TOPIC_EXISTS      ALREADY_EXISTS       yes  (log)
    ├── ProducerFenced           PRODUCER_FENCED   FAILED_PRECONDITION  yes  (+ epoch)
    ├── OutOfOrderSequence       OUT_OF_ORDER_SEQUENCE FAILED_PRECONDITION yes (+ expected_seq)
    ├── UnknownProducer          UNKNOWN_PRODUCER  NOT_FOUND            yes  (log)
    ├── UnknownMember            UNKNOWN_MEMBER    NOT_FOUND            yes  (groups)
    ├── IllegalGeneration        ILLEGAL_GENERATION FAILED_PRECONDITION yes  (+ generation)
    ├── RebalanceInProgress      REBALANCE_IN_PROGRESS FAILED_PRECONDITION yes (groups)
    ├── Unauthenticated          UNAUTHENTICATED_CALLER UNAUTHENTICATED yes  (gateway)
    ├── MethodNotAllowed         METHOD_NOT_ALLOWED PERMISSION_DENIED    yes  (gateway)
    ├── RateLimited              RATE_LIMITED      RESOURCE_EXHAUSTED   yes  (+ RetryInfo)
    ├── Overloaded               OVERLOADED        RESOURCE_EXHAUSTED   yes  (gateway)
    └── ForeignError             (its own)         (its own)            (by its reason)

ForeignError is an answer in another system's words: on etcd's front door, etcd's status
code and exact text (its clients match errors by text), and no faultlab details. It still
carries a reason, so the servers and tests here tell definite from indefinite by it.

"Definite" is Jepsen's rule: the operation certainly did not take effect. Servers, the
client SDK and the chaos workloads all read it from `DEFINITE`, keyed by the proto enum
`faultlab.errors.v1.Reason`; nobody decides it from message text.
"""

from __future__ import annotations

from typing import ClassVar

import grpc
from faultlab.errors.v1 import errors_pb2
from google.protobuf import duration_pb2, message
from google.rpc import error_details_pb2

Reason = errors_pb2.Reason
DOMAIN = "faultlab"

# Whether each reason means "certainly not applied". A reason missing here (a newer
# server's) counts as indefinite: when in doubt, the operation may have happened.
DEFINITE: dict[int, bool] = {
    errors_pb2.INVALID: True,
    errors_pb2.NOT_LEADER: True,
    errors_pb2.NOT_APPLIED: True,
    errors_pb2.OUTCOME_UNKNOWN: False,
    errors_pb2.FENCED: True,
    errors_pb2.NO_QUORUM: True,
    errors_pb2.OUT_OF_RANGE: True,
    errors_pb2.SLOW_CONSUMER: True,
    errors_pb2.UNKNOWN_SESSION: True,
    errors_pb2.SESSION_EXPIRED: True,
    errors_pb2.NOT_HOLDER: True,
    errors_pb2.UNKNOWN_TOPIC: True,
    errors_pb2.TOPIC_EXISTS: True,
    errors_pb2.PRODUCER_FENCED: True,
    errors_pb2.OUT_OF_ORDER_SEQUENCE: True,
    errors_pb2.UNKNOWN_PRODUCER: True,
    errors_pb2.UNKNOWN_MEMBER: True,
    errors_pb2.ILLEGAL_GENERATION: True,
    errors_pb2.UNAUTHENTICATED_CALLER: True,
    errors_pb2.METHOD_NOT_ALLOWED: True,
    errors_pb2.RATE_LIMITED: True,
    errors_pb2.OVERLOADED: True,
    errors_pb2.REBALANCE_IN_PROGRESS: True,
}


def is_definite(reason: int) -> bool:
    return DEFINITE.get(reason, False)


class ServiceError(Exception):
    """Base of every error a faultlab service reports to its callers."""

    reason: ClassVar[int] = errors_pb2.REASON_UNSPECIFIED
    code: ClassVar[grpc.StatusCode] = grpc.StatusCode.UNKNOWN

    def __init__(self, message: str, **details: str) -> None:
        super().__init__(message)
        self.message = message
        # Machine-readable facts for the caller (ErrorInfo metadata); keys snake_case.
        self.details = details

    @property
    def definite(self) -> bool:
        return is_definite(self.reason)

    def extra_details(self) -> list[message.Message]:
        """More google.rpc detail messages for the status, after the ErrorInfo."""
        return []


class InvalidArgument(ServiceError):
    """Bad input; nothing was proposed and nothing stored changed."""

    reason = errors_pb2.INVALID
    code = grpc.StatusCode.INVALID_ARGUMENT


class NotLeader(ServiceError):
    """This node does not lead the group; the leader, when known, is named."""

    reason = errors_pb2.NOT_LEADER
    code = grpc.StatusCode.FAILED_PRECONDITION

    def __init__(self, node_id: str, leader_id: str = "", leader_address: str = "") -> None:
        hint = f"; try {leader_id}" if leader_id else "; no leader known"
        details = {"leader_id": leader_id, "leader_address": leader_address} if leader_id else {}
        super().__init__(f"{node_id} is not the leader{hint}", **details)
        self.leader_id = leader_id
        self.leader_address = leader_address


class Fenced(ServiceError):
    """A fenced write whose token is below the highest already seen for its fence."""

    reason = errors_pb2.FENCED
    code = grpc.StatusCode.FAILED_PRECONDITION


class NotApplied(ServiceError):
    """Refused, or its log entry replaced by a newer leader's: it will never apply."""

    reason = errors_pb2.NOT_APPLIED
    code = grpc.StatusCode.UNAVAILABLE


class OutcomeUnknown(ServiceError):
    """No answer in time (no quorum, a leader change, a node stopping): it may apply."""

    reason = errors_pb2.OUTCOME_UNKNOWN
    code = grpc.StatusCode.UNAVAILABLE


class NoQuorum(ServiceError):
    """A read could not be confirmed by a quorum in time; a read changes nothing."""

    reason = errors_pb2.NO_QUORUM
    code = grpc.StatusCode.UNAVAILABLE


class OutOfRange(ServiceError):
    """A position (a watch revision, a log offset) this node no longer holds."""

    reason = errors_pb2.OUT_OF_RANGE
    code = grpc.StatusCode.OUT_OF_RANGE


class SlowConsumer(ServiceError):
    """A stream's reader fell too far behind; the stream ends rather than skip."""

    reason = errors_pb2.SLOW_CONSUMER
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class UnknownSession(ServiceError):
    """No lock session with this id was ever created."""

    reason = errors_pb2.UNKNOWN_SESSION
    code = grpc.StatusCode.NOT_FOUND


class SessionExpired(ServiceError):
    """The lock session missed its TTL or was closed; its locks were released."""

    reason = errors_pb2.SESSION_EXPIRED
    code = grpc.StatusCode.NOT_FOUND


class NotHolder(ServiceError):
    """A session used a lock it does not hold; nothing changed."""

    reason = errors_pb2.NOT_HOLDER
    code = grpc.StatusCode.FAILED_PRECONDITION


class UnknownTopic(ServiceError):
    """No such topic, or no such partition of it; nothing was written."""

    reason = errors_pb2.UNKNOWN_TOPIC
    code = grpc.StatusCode.NOT_FOUND


class TopicExists(ServiceError):
    """CreateTopic of a name already taken; the topic is unchanged."""

    reason = errors_pb2.TOPIC_EXISTS
    code = grpc.StatusCode.ALREADY_EXISTS


class ProducerFenced(ServiceError):
    """An idempotent producer's epoch was superseded; nothing was written."""

    reason = errors_pb2.PRODUCER_FENCED
    code = grpc.StatusCode.FAILED_PRECONDITION


class OutOfOrderSequence(ServiceError):
    """A producer's batch skipped a sequence number; nothing was written."""

    reason = errors_pb2.OUT_OF_ORDER_SEQUENCE
    code = grpc.StatusCode.FAILED_PRECONDITION


class UnknownProducer(ServiceError):
    """A producer id the broker never issued; nothing was written."""

    reason = errors_pb2.UNKNOWN_PRODUCER
    code = grpc.StatusCode.NOT_FOUND


class UnknownMember(ServiceError):
    """The consumer group has no such member; it must join again."""

    reason = errors_pb2.UNKNOWN_MEMBER
    code = grpc.StatusCode.NOT_FOUND


class IllegalGeneration(ServiceError):
    """A commit from an older generation of the group; nothing was committed."""

    reason = errors_pb2.ILLEGAL_GENERATION
    code = grpc.StatusCode.FAILED_PRECONDITION


class RebalanceInProgress(ServiceError):
    """The group is between generations (Kafka's classic protocol); nothing changed."""

    reason = errors_pb2.REBALANCE_IN_PROGRESS
    code = grpc.StatusCode.FAILED_PRECONDITION


class Unauthenticated(ServiceError):
    """The gateway could not tell who is calling; nothing was forwarded."""

    reason = errors_pb2.UNAUTHENTICATED_CALLER
    code = grpc.StatusCode.UNAUTHENTICATED


class MethodNotAllowed(ServiceError):
    """The caller's tenant may not call this method; nothing was forwarded."""

    reason = errors_pb2.METHOD_NOT_ALLOWED
    code = grpc.StatusCode.PERMISSION_DENIED


class RateLimited(ServiceError):
    """The tenant is over a limit; nothing was forwarded. Carries the RateLimit fields
    and a google.rpc.RetryInfo, so clients that read either know when to come back."""

    reason = errors_pb2.RATE_LIMITED
    code = grpc.StatusCode.RESOURCE_EXHAUSTED

    def __init__(self, message: str, retry_after_s: float, **details: str) -> None:
        super().__init__(message, retry_after=_seconds(retry_after_s), **details)
        self.retry_after_s = retry_after_s

    def extra_details(self) -> list[message.Message]:
        if self.retry_after_s == float("inf"):
            return []  # never: a request larger than the whole limit
        delay = duration_pb2.Duration()
        delay.FromNanoseconds(round(self.retry_after_s * 1e9))
        return [error_details_pb2.RetryInfo(retry_delay=delay)]


class Overloaded(ServiceError):
    """The gateway shed the call (priority share, bulkhead, open breaker); not forwarded."""

    reason = errors_pb2.OVERLOADED
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class ForeignError(ServiceError):
    """An error that a front door for another system's clients answers exactly as that
    system does: `code` and `message` are its own, and no faultlab detail is attached."""

    def __init__(self, reason: int, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.reason = reason  # type: ignore[misc]  # per error, not per class
        self.code = code  # type: ignore[misc]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ForeignError) and (self.code, self.message) == (
            other.code,
            other.message,
        )

    def __hash__(self) -> int:
        return hash((self.code, self.message))

    def __repr__(self) -> str:
        return f"ForeignError({self.code.name}, {self.message!r})"


def _seconds(value_s: float) -> str:
    """Seconds as the metadata carries them: millisecond precision, "inf" for never."""
    return "inf" if value_s == float("inf") else f"{value_s:.3f}"
