"""One leader-following table below the client SDK and the gateway: for every reason a
failed attempt can carry (and none, with each transport code), both retry or both stop,
for an idempotent call and for one a repeat could apply twice. Driven through each
side's own retry loop, with attempts that fail as a server would."""

from __future__ import annotations

import asyncio
import dataclasses

import grpc
import pytest
from faultlab.kv.v1 import kv_pb2
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2

from cluster.client.call import GroupCaller
from cluster.client.errors import from_status
from services.gateway.calls import CallPolicy
from services.gateway.forwarding import Backends, Forwarder
from services.gateway.routes import build_routes
from services.runtime.backoff import Backoff
from services.runtime.errors import DOMAIN, Reason, ServiceError
from services.runtime.leader_following import Decision, decide, may_retry

NO_WAIT = Backoff(base_s=0.0, cap_s=0.0)
NODES = {"kv1": "127.0.0.1:1", "kv2": "127.0.0.1:2", "kv3": "127.0.0.1:3"}
# (status code, reason name): every reason as servers send it, and none at all.
FAILURES = [(grpc.StatusCode.FAILED_PRECONDITION, name) for name in Reason.keys()[1:]] + [
    (code, "")
    for code in (
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.INTERNAL,
    )
]


def failure(code: grpc.StatusCode, reason: str) -> grpc.aio.AioRpcError:
    details = []
    if reason:
        info = error_details_pb2.ErrorInfo(reason=reason, domain=DOMAIN)
        if reason == "NOT_LEADER":
            info.metadata["leader_id"] = "kv2"
        packed = any_pb2.Any()
        packed.Pack(info)
        details.append(packed)
    return from_status(status_pb2.Status(code=code.value[0], message="failed", details=details))


async def sdk_retried(error: grpc.aio.AioRpcError, idempotent: bool) -> bool:
    caller = GroupCaller("kv", NODES, attempts=2, backoff=NO_WAIT)
    attempts = 0

    async def attempt_on(channel: grpc.aio.Channel) -> str:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise error
        return "ok"

    try:
        await caller.call(attempt_on, idempotent=idempotent)
    except grpc.aio.AioRpcError:
        pass
    finally:
        await caller.close()
    return attempts == 2


async def gateway_retried(error: grpc.aio.AioRpcError, idempotent: bool) -> bool:
    policy = CallPolicy(retries=1, backoff=None)
    forwarder = Forwarder(Backends({"kv": NODES}), policy)
    route = dataclasses.replace(
        build_routes()["/faultlab.kv.v1.KV/Put"], idempotent=lambda request: idempotent
    )
    attempts = 0

    async def attempt(*args: object) -> bytes:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise error
        return b"ok"

    forwarder._attempt = attempt  # type: ignore[method-assign]
    request = kv_pb2.PutRequest(key="k").SerializeToString()
    try:
        await forwarder.unary(route, request, (), 5.0)
    except (grpc.aio.AioRpcError, ServiceError):
        pass
    finally:
        await forwarder.backends.close()
    return attempts == 2


@pytest.mark.parametrize("idempotent", [True, False])
@pytest.mark.parametrize(("code", "reason"), FAILURES, ids=lambda v: getattr(v, "name", v))
def test_the_sdk_and_the_gateway_take_the_same_decision(
    code: grpc.StatusCode, reason: str, idempotent: bool
) -> None:
    error = failure(code, reason)
    sdk = asyncio.run(sdk_retried(error, idempotent))
    gateway = asyncio.run(gateway_retried(error, idempotent))
    expected = may_retry(decide(code, Reason.Value(reason or "REASON_UNSPECIFIED")), idempotent)
    assert sdk == gateway == expected


def test_the_table() -> None:
    unspecified = Reason.Value("REASON_UNSPECIFIED")
    assert decide(grpc.StatusCode.FAILED_PRECONDITION, Reason.Value("NOT_LEADER")) is (
        Decision.FOLLOW
    )
    assert decide(grpc.StatusCode.UNAVAILABLE, Reason.Value("NOT_APPLIED")) is Decision.RETRY
    assert decide(grpc.StatusCode.UNAVAILABLE, unspecified) is Decision.RETRY_IF_IDEMPOTENT
    assert decide(grpc.StatusCode.INTERNAL, unspecified) is Decision.ANSWER
    assert decide(grpc.StatusCode.FAILED_PRECONDITION, Reason.Value("FENCED")) is (Decision.ANSWER)
    assert not may_retry(Decision.RETRY_IF_IDEMPOTENT, idempotent=False)
