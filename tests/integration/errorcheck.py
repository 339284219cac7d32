"""Reading a failed call the way a client does: status, reason, definiteness, in both the
rich error model and the plain trailing metadata. Never the message text."""

from __future__ import annotations

from collections.abc import Awaitable

import grpc
import pytest
from grpc_status import rpc_status

from cluster.client import errors
from services.runtime.errors import Reason


async def failure(call: Awaitable[object]) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await call
    return e.value


def assert_reason(
    e: grpc.aio.AioRpcError, code: grpc.StatusCode, reason: str, definite: bool
) -> dict[str, str]:
    """The status, reason and definiteness, in both spellings; returns ErrorInfo metadata."""
    assert e.code() == code, e
    rich = rpc_status.from_call(e)  # raises if the rich status disagrees with the call's
    assert rich is not None and rich.code == code.value[0]
    info = errors.error_info(e)
    assert info is not None and info.domain == "faultlab"
    assert errors.reason_of(e) == Reason.Value(reason)
    assert errors.definite(e) is definite
    assert info.metadata["definite"] == str(definite).lower()
    plain = dict(e.trailing_metadata() or ())
    assert plain["reason"] == reason.lower().replace("_", "-")
    assert plain["definite"] == str(definite).lower()
    return dict(info.metadata)
