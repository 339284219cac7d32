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
from grpc.aio import (
    StreamStreamClientInterceptor,
    StreamUnaryClientInterceptor,
    UnaryStreamClientInterceptor,
    UnaryUnaryClientInterceptor,
)

from services.runtime.topology import Topology

GATEWAY_GROUP = "gateway"


def gateway_addresses(topology: Topology, group: str = GATEWAY_GROUP) -> dict[str, str]:
    """gateway node id -> where clients dial it (through its client link)."""
    return {n.id: topology.client_address(n.id) for n in topology.group_nodes(group)}


class _AddMetadata:
    """Adds fixed metadata to a call. grpc.aio files an interceptor under the first of the
    four kinds it is an instance of, so each kind gets an instance of its own."""

    def __init__(self, metadata: tuple[tuple[str, str], ...]) -> None:
        self._metadata = metadata

    async def _call(self, continuation: Callable[..., Any], details: Any, request: Any) -> Any:
        metadata = grpc.aio.Metadata(*(details.metadata or ()), *self._metadata)
        return await continuation(details._replace(metadata=metadata), request)


class _Unary(_AddMetadata, UnaryUnaryClientInterceptor):  # type: ignore[misc]
    intercept_unary_unary = _AddMetadata._call


class _UnaryStream(_AddMetadata, UnaryStreamClientInterceptor):  # type: ignore[misc]
    intercept_unary_stream = _AddMetadata._call


class _StreamUnary(_AddMetadata, StreamUnaryClientInterceptor):  # type: ignore[misc]
    intercept_stream_unary = _AddMetadata._call


class _Stream(_AddMetadata, StreamStreamClientInterceptor):  # type: ignore[misc]
    intercept_stream_stream = _AddMetadata._call


def bearer(api_key: str, priority: str | None = None) -> Sequence[grpc.aio.ClientInterceptor]:
    """Interceptors that send the API key (and a priority) with every call."""
    metadata = [("authorization", f"Bearer {api_key}")]
    if priority is not None:
        metadata.append(("x-priority", priority))
    return [kind(tuple(metadata)) for kind in (_Unary, _UnaryStream, _StreamUnary, _Stream)]
