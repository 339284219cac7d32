"""Reading a failed call's reason: gRPC's rich error model, decoded once for every caller
(the client SDK, and the gateway reading its backends' answers).

Servers put a google.rpc.Status with a google.rpc.ErrorInfo in the trailing metadata
(`status.py`). The reason is a `faultlab.errors.v1.Reason`; whether it is definite
(certainly not applied) comes from the one table in `errors.py`. A failure without an
ErrorInfo (a refused connection, our own deadline) is indefinite: when in doubt, the
operation may have happened.
"""

from __future__ import annotations

import grpc
from google.rpc import error_details_pb2, status_pb2

from services.runtime.errors import DOMAIN, Reason, is_definite

DETAILS_KEY = "grpc-status-details-bin"


def error_info(e: grpc.aio.AioRpcError) -> error_details_pb2.ErrorInfo | None:
    """The faultlab ErrorInfo of a failed call, or None when it carries none."""
    for key, value in e.trailing_metadata() or ():
        if key != DETAILS_KEY or not isinstance(value, bytes):
            continue
        status = status_pb2.Status.FromString(value)
        for detail in status.details:
            info = error_details_pb2.ErrorInfo()
            if detail.Unpack(info) and info.domain == DOMAIN:
                return info
    return None


def reason_of(e: grpc.aio.AioRpcError) -> int:
    """The `Reason` of a failed call; REASON_UNSPECIFIED when the server gave none."""
    info = error_info(e)
    try:
        return Reason.Value(info.reason if info else "REASON_UNSPECIFIED")  # type: ignore[no-any-return]
    except ValueError:  # a reason newer than this client: treated as unspecified
        return Reason.Value("REASON_UNSPECIFIED")  # type: ignore[no-any-return]


def definite(e: grpc.aio.AioRpcError) -> bool:
    """True when the call certainly did not take effect (Jepsen's :fail, not :info)."""
    return is_definite(reason_of(e))


def leader_hint(e: grpc.aio.AioRpcError) -> str:
    """The leader a NOT_LEADER answer names ("" when it names none or is another error)."""
    info = error_info(e)
    if info is None or info.reason != Reason.Name(Reason.Value("NOT_LEADER")):
        return ""
    return str(info.metadata.get("leader_id", ""))
