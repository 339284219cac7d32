"""etcd's errors, in etcd's words: status code and exact text (etcd's rpctypes). The Go
client turns a status back into its typed error by the text, so the text is the contract.
Each also carries the faultlab reason that says whether the request certainly did not
take effect."""

from __future__ import annotations

import grpc
from faultlab.errors.v1 import errors_pb2

from services.runtime.errors import (
    ForeignError,
    InvalidArgument,
    NotApplied,
    NotLeader,
    ServiceError,
)

Code = grpc.StatusCode


def _error(reason: int, code: grpc.StatusCode, text: str) -> ForeignError:
    return ForeignError(reason, code, f"etcdserver: {text}")


def _invalid(text: str) -> ForeignError:
    return _error(errors_pb2.INVALID, Code.INVALID_ARGUMENT, text)


EMPTY_KEY = _invalid("key is not provided")
KEY_NOT_FOUND = _invalid("key not found")
VALUE_PROVIDED = _invalid("value is provided")
LEASE_PROVIDED = _invalid("lease is provided")
TOO_MANY_OPS = _invalid("too many operations in txn request")
DUPLICATE_KEY = _invalid("duplicate key given in txn request")
INVALID_SORT_OPTION = _invalid("invalid sort option")
REQUEST_TOO_LARGE = _invalid("request is too large")
COMPACTED = _error(
    errors_pb2.OUT_OF_RANGE, Code.OUT_OF_RANGE, "mvcc: required revision has been compacted"
)
FUTURE_REV = _error(
    errors_pb2.OUT_OF_RANGE, Code.OUT_OF_RANGE, "mvcc: required revision is a future revision"
)
LEASE_NOT_FOUND = _error(errors_pb2.INVALID, Code.NOT_FOUND, "requested lease not found")
LEASE_EXIST = _error(errors_pb2.INVALID, Code.FAILED_PRECONDITION, "lease already exists")
LEASE_TTL_TOO_LARGE = _error(errors_pb2.INVALID, Code.OUT_OF_RANGE, "too large lease TTL")
NO_LEADER = _error(errors_pb2.NOT_APPLIED, Code.UNAVAILABLE, "no leader")
NOT_LEADER = _error(errors_pb2.NOT_LEADER, Code.FAILED_PRECONDITION, "not leader")
LEADER_CHANGED = _error(errors_pb2.OUTCOME_UNKNOWN, Code.UNAVAILABLE, "leader changed")
TIMEOUT = _error(errors_pb2.OUTCOME_UNKNOWN, Code.UNAVAILABLE, "request timed out")
STOPPED = _error(errors_pb2.OUTCOME_UNKNOWN, Code.UNAVAILABLE, "server stopped")
MEMBER_NOT_FOUND = _error(errors_pb2.INVALID, Code.NOT_FOUND, "member not found")
AUTH_NOT_ENABLED = _error(
    errors_pb2.INVALID, Code.FAILED_PRECONDITION, "authentication is not enabled"
)

ALL = [value for value in list(globals().values()) if isinstance(value, ForeignError)]

_REASON_OF_CODE = {
    Code.INVALID_ARGUMENT: errors_pb2.INVALID,
    Code.OUT_OF_RANGE: errors_pb2.OUT_OF_RANGE,
    Code.NOT_FOUND: errors_pb2.INVALID,
    Code.FAILED_PRECONDITION: errors_pb2.INVALID,
}


def reason_of_code(code: grpc.StatusCode) -> int:
    """For an etcd error this code does not know by text: definite only for the codes
    that mean the request was refused before it was proposed."""
    reason: int = _REASON_OF_CODE.get(code, errors_pb2.OUTCOME_UNKNOWN)
    return reason


def in_etcd_words(error: ServiceError) -> ForeignError:
    """A faultlab error from the chassis (a proposal or a read that failed), as etcd words
    the same failure."""
    if isinstance(error, ForeignError):
        return error
    if isinstance(error, NotLeader):
        return LEADER_CHANGED if error.details.get("leader_id") else NO_LEADER
    if isinstance(error, NotApplied):
        return LEADER_CHANGED
    if isinstance(error, InvalidArgument):
        return ForeignError(errors_pb2.INVALID, Code.INVALID_ARGUMENT, error.message)
    return TIMEOUT  # OutcomeUnknown, NoQuorum: no answer in time
