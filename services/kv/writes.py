"""The four KV writes, each said once: how its request becomes a command for the Raft log,
and how the state machine's result becomes its response or its refusal.

The unary handlers and `Batch` both use these, so a write inside a batch is validated,
applied and answered exactly as the same unary call would be. A kind is the name of the
write in `WriteOp`'s oneof: put, delete, compare_and_swap, append.
"""

from __future__ import annotations

from typing import Any, TypeAlias

from faultlab.kv.v1 import kv_pb2

from services.kv import commands
from services.kv.state import Record
from services.runtime.errors import Fenced, InvalidArgument, ServiceError

Request: TypeAlias = (
    kv_pb2.PutRequest | kv_pb2.DeleteRequest | kv_pb2.CompareAndSwapRequest | kv_pb2.AppendRequest
)
Response: TypeAlias = (
    kv_pb2.PutResponse
    | kv_pb2.DeleteResponse
    | kv_pb2.CompareAndSwapResponse
    | kv_pb2.AppendResponse
)
_OPS = {"put": "put", "delete": "del", "compare_and_swap": "cas", "append": "append"}


def command(kind: str, request: Request) -> dict[str, Any]:
    """The command for the log; InvalidArgument if the request is malformed."""
    commands.check_key(request.key)
    cmd: dict[str, Any] = {"op": _OPS[kind], "key": request.key}
    if not isinstance(request, kv_pb2.DeleteRequest):
        commands.check_value(request.value)
        cmd["value"] = request.value
    if isinstance(request, kv_pb2.CompareAndSwapRequest):
        if request.expected_version < 0:
            raise InvalidArgument("expected_version must be >= 0 (0: the key must not exist)")
        cmd["expected_version"] = request.expected_version
    with_session(cmd, request)
    if request.HasField("fence"):
        commands.check_key(request.fence.name, "fence name")
        cmd["fence"] = [request.fence.name, request.fence.token]
    return cmd


def with_session(cmd: dict[str, Any], request: Request | kv_pb2.BatchRequest) -> None:
    """Adds the request's session, if it has one, to its command."""
    if request.HasField("session"):
        session = request.session
        if not session.client_id or session.seq == 0:
            raise InvalidArgument("a session needs a client_id and a seq >= 1")
        if session.first_unanswered > session.seq:
            raise InvalidArgument(
                f"first_unanswered {session.first_unanswered} is above seq {session.seq}"
            )
        answered_through = (session.first_unanswered or session.seq) - 1
        cmd["session"] = [session.client_id, session.seq, answered_through]


def refusal(request: Request, result: dict[str, Any]) -> ServiceError | None:
    """Why the state machine refused the write (it changed nothing), or None."""
    error = result.get("error")
    if error == "stale_session":
        return stale_session(request.session.seq, result)
    if error == "fenced":
        return Fenced(
            f"fencing token {request.fence.token} for {request.fence.name!r} is below "
            f"the highest seen, {result['highest_token']}; nothing was written",
            highest_token=str(result["highest_token"]),
        )
    if error == "too_large":
        return InvalidArgument(
            f"the value would be {result['size']} bytes; the limit is "
            f"{commands.MAX_VALUE_BYTES}. Nothing was appended"
        )
    return None


def stale_session(seq: int, result: dict[str, Any]) -> InvalidArgument:
    return InvalidArgument(
        f"session seq {seq} is at or below {result['last_seq']}, which the client "
        f"acknowledged as answered; nothing was applied"
    )


def response(request: Request, result: dict[str, Any]) -> Response:
    """The answer to an applied write; raises its refusal if the store refused it."""
    refused = refusal(request, result)
    if refused is not None:
        raise refused
    if isinstance(request, kv_pb2.DeleteRequest):
        return kv_pb2.DeleteResponse(deleted=result["deleted"], revision=result["revision"])
    if isinstance(request, kv_pb2.CompareAndSwapRequest):
        record = result["record"]
        return kv_pb2.CompareAndSwapResponse(
            succeeded=result["succeeded"],
            revision=result["revision"],
            kv=to_kv(request.key, record) if record else None,
            found=record is not None,
        )
    kv = to_kv(request.key, result["record"])
    if isinstance(request, kv_pb2.AppendRequest):
        return kv_pb2.AppendResponse(revision=result["revision"], kv=kv)
    return kv_pb2.PutResponse(revision=result["revision"], kv=kv)


def to_kv(key: str, record: Record | list[Any]) -> kv_pb2.KeyValue:
    if isinstance(record, Record):
        value, version, create, mod = (
            record.value,
            record.version,
            record.create_revision,
            record.mod_revision,
        )
    else:
        value, version, create, mod = record
    return kv_pb2.KeyValue(
        key=key, value=value, version=version, create_revision=create, mod_revision=mod
    )
