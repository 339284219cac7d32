"""Reading a failed call's reason (decoded once, in `services.runtime.remote_errors`), and
turning a batch's refused op back into the error a single call would have raised."""

from __future__ import annotations

import grpc
from google.rpc import status_pb2

from services.runtime.errors import Reason
from services.runtime.remote_errors import DETAILS_KEY, definite, error_info, leader_hint, reason_of

__all__ = ["Reason", "definite", "error_info", "from_status", "leader_hint", "reason_of"]
_CODES = {code.value[0]: code for code in grpc.StatusCode}


def from_status(status: status_pb2.Status) -> grpc.aio.AioRpcError:
    """The error a call failing with `status` raises: how a batch's refused op (a
    google.rpc.Status in its result) reaches its caller, readable by everything here."""
    trailing = grpc.aio.Metadata((DETAILS_KEY, status.SerializeToString()))
    code = _CODES.get(status.code, grpc.StatusCode.UNKNOWN)
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), trailing, status.message)
