"""The shared limits' store is the KV store itself: a compare-and-swap sent through this
gateway's own forwarding (its leader cache, its links to the KV nodes), so cutting the
gateway off from KV takes its shared limits away exactly as it would in production."""

from __future__ import annotations

import grpc
from faultlab.kv.v1 import kv_pb2

from services.gateway.forwarding import Forwarder
from services.gateway.routes import Route
from services.gateway.shared import CompareAndSwap, StoreUnavailable
from services.runtime.errors import ServiceError

CAS_METHOD = "/faultlab.kv.v1.KV/CompareAndSwap"


def kv_compare_and_swap(forwarder: Forwarder, routes: dict[str, Route]) -> CompareAndSwap:
    route = routes[CAS_METHOD]

    async def cas(
        key: str, expected_version: int, value: bytes, timeout_s: float
    ) -> tuple[bool, int, bytes | None]:
        request = kv_pb2.CompareAndSwapRequest(
            key=key, expected_version=expected_version, value=value
        )
        try:
            raw = await forwarder.unary(route, request.SerializeToString(), (), timeout_s)
        except (grpc.aio.AioRpcError, ServiceError) as e:
            raise StoreUnavailable(f"compare-and-swap of {key}: {e}") from e
        response = kv_pb2.CompareAndSwapResponse.FromString(raw)
        if not response.found:
            return response.succeeded, 0, None
        return response.succeeded, response.kv.version, response.kv.value

    return cas
