"""Calling through the gateway: its addresses, and the credentials every call carries.

    async with KvClient.for_gateway(topology, api_key="demo-key") as kv:
        await kv.put("k", b"v")          # one gateway address; it finds the leader

Any client takes `interceptors=bearer(api_key)` to add `authorization: Bearer KEY` (and,
optionally, `x-priority`) to every call, unary or streaming.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import grpc
from grpc.aio import StreamStreamClientInterceptor as _Stream
from grpc.aio import StreamUnaryClientInterceptor as _StreamUnary
from grpc.aio import UnaryStreamClientInterceptor as _UnaryStream
from grpc.aio import UnaryUnaryClientInterceptor as _Unary

from services.runtime.topology import Topology

GATEWAY_GROUP = "gateway"


def gateway_addresses(topology: Topology, group: str = GATEWAY_GROUP) -> dict[str, str]:
    """gateway node id -> where clients dial it (through its client link)."""
    return {n.id: topology.client_address(n.id) for n in topology.group_nodes(group)}


class _AddMetadata(_Unary, _UnaryStream, _StreamUnary, _Stream):  # type: ignore[misc]
    def __init__(self, metadata: tuple[tuple[str, str], ...]) -> None:
        self._metadata = metadata

    def _with(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        metadata = grpc.aio.Metadata(*(details.metadata or ()), *self._metadata)
        return details._replace(metadata=metadata)

    async def _call(self, continuation: Callable[..., Any], details: Any, request: Any) -> Any:
        return await continuation(self._with(details), request)

    intercept_unary_unary = _call
    intercept_unary_stream = _call
    intercept_stream_unary = _call
    intercept_stream_stream = _call


def bearer(api_key: str, priority: str | None = None) -> Sequence[grpc.aio.ClientInterceptor]:
    """Interceptors that send the API key (and a priority) with every call."""
    metadata = [("authorization", f"Bearer {api_key}")]
    if priority is not None:
        metadata.append(("x-priority", priority))
    return [_AddMetadata(tuple(metadata))]
