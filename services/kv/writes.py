"""The four KV writes, each said once: how its request becomes a command for the Raft log,
and how the state machine's result becomes its response or its refusal.

The unary handlers and `Batch` both use these, so a write inside a batch is validated,
applied and answered exactly as the same unary call would be. A kind is the name of the
write in `WriteOp`'s oneof: put, delete, compare_and_swap, append.
"""

from __future__ import annotations

from typing import TypeAlias

from faultlab.kv.v1 import kv_pb2

from services.kv import commands
from services.kv.commands import Append, CompareAndSwap, Delete, Put, SessionSeq, Write
from services.kv.results import Deleted, KvResult, Record, Swapped, Written
from services.replicated.fences import Fence
from services.replicated.refusal import Refusal
from services.runtime.errors import InvalidArgument

Request: TypeAlias = (
    kv_pb2.PutRequest | kv_pb2.DeleteRequest | kv_pb2.CompareAndSwapRequest | kv_pb2.AppendRequest
)
Response: TypeAlias = (
    kv_pb2.PutResponse
    | kv_pb2.DeleteResponse
    | kv_pb2.CompareAndSwapResponse
    | kv_pb2.AppendResponse
)


def command(request: Request) -> Write:
    """The command for the log; InvalidArgument if the request is malformed."""
    commands.check_key(request.key)
    session = session_of(request)
    fence = None
    if request.HasField("fence"):
        commands.check_key(request.fence.name, "fence name")
        fence = Fence(request.fence.name, request.fence.token)
    if isinstance(request, kv_pb2.DeleteRequest):
        return Delete(request.key, session=session, fence=fence)
    commands.check_value(request.value)
    if isinstance(request, kv_pb2.CompareAndSwapRequest):
        if request.expected_version < 0:
            raise InvalidArgument("expected_version must be >= 0 (0: the key must not exist)")
        return CompareAndSwap(
            request.key, request.expected_version, request.value, session=session, fence=fence
        )
    if isinstance(request, kv_pb2.AppendRequest):
        return Append(request.key, request.value, session=session, fence=fence)
    return Put(request.key, request.value, session=session, fence=fence)


def session_of(request: Request | kv_pb2.BatchRequest) -> SessionSeq | None:
    """The request's session, if it has one."""
    if not request.HasField("session"):
        return None
    session = request.session
    if not session.client_id or session.seq == 0:
        raise InvalidArgument("a session needs a client_id and a seq >= 1")
    if session.first_unanswered > session.seq:
        raise InvalidArgument(
            f"first_unanswered {session.first_unanswered} is above seq {session.seq}"
        )
    answered_through = (session.first_unanswered or session.seq) - 1
    return SessionSeq(session.client_id, session.seq, answered_through)


def response(request: Request, result: KvResult) -> Response:
    """The answer to an applied write; raises its refusal if the store refused it."""
    if isinstance(result, Refusal):
        raise result.error()
    if isinstance(result, Deleted):
        return kv_pb2.DeleteResponse(deleted=result.deleted, revision=result.revision)
    if isinstance(result, Swapped):
        record = result.record
        return kv_pb2.CompareAndSwapResponse(
            succeeded=result.succeeded,
            revision=result.revision,
            kv=to_kv(request.key, record) if record else None,
            found=record is not None,
        )
    assert isinstance(result, Written), result
    kv = to_kv(request.key, result.record)
    if isinstance(request, kv_pb2.AppendRequest):
        return kv_pb2.AppendResponse(revision=result.revision, kv=kv)
    return kv_pb2.PutResponse(revision=result.revision, kv=kv)


def to_kv(key: str, record: Record) -> kv_pb2.KeyValue:
    return kv_pb2.KeyValue(
        key=key,
        value=record.value,
        version=record.version,
        create_revision=record.create_revision,
        mod_revision=record.mod_revision,
    )
