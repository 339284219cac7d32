"""The gateway's gRPC face: every method of the KV, lock and log services, answered by
admission (`admission.py`) and then forwarding (`forwarding.py`), as raw bytes; a KV Get
of a tenant with a cache is answered by its cache first (`cache/`).

A generic handler serves them all, so the gateway never decodes a response; a refusal
raises a `ServiceError` and the node's one error edge (services/runtime/status.py)
turns it into its status. Backend failures are relayed with their own status.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
from faultlab.kv.v1 import kv_pb2
from google.protobuf.message import DecodeError

from services.gateway import metrics
from services.gateway.admission import Admission, Ticket, ratelimit_fields
from services.gateway.cache import GET_METHOD, TenantCaches
from services.gateway.cache.invalidation import written_keys
from services.gateway.cache.read_through import REFRESH_TIMEOUT_S
from services.gateway.call_record import CallRecord
from services.gateway.forwarding import Forwarder, Metadata
from services.gateway.routes import Route
from services.gateway.shedder import PRIORITY_KEY, Priority
from services.runtime.deadlines import time_left
from services.runtime.errors import InvalidArgument, Reason, ServiceError

# Caller metadata the gateway consumes, or that the channel sets itself.
_NOT_FORWARDED = {"authorization", PRIORITY_KEY, "user-agent"}


def forwarded_metadata(metadata: Metadata) -> Metadata:
    return tuple(
        (k, v) for k, v in metadata if k not in _NOT_FORWARDED and not k.startswith((":", "grpc-"))
    )


def priority_of(metadata: dict[str, Any]) -> Priority:
    value = metadata.get(PRIORITY_KEY, Priority.DEFAULT.value)
    try:
        return Priority(value)
    except ValueError:
        allowed = ", ".join(p.value for p in Priority)
        raise InvalidArgument(f"{PRIORITY_KEY} {value!r} is not one of {allowed}") from None


async def relay(context: grpc.aio.ServicerContext, e: grpc.aio.AioRpcError) -> None:
    """End the call as the backend ended it: code, message, trailing metadata."""
    await context.abort(e.code(), e.details() or "", tuple(e.trailing_metadata() or ()))


class GatewayHandler(grpc.GenericRpcHandler):  # type: ignore[misc]
    def __init__(
        self,
        admission: Admission,
        forwarder: Forwarder,
        routes: dict[str, Route],
        caches: TenantCaches | None = None,
    ) -> None:
        self.admission = admission
        self.forwarder = forwarder
        self.caches = caches or TenantCaches({})
        self._handlers = {name: self._handler(route) for name, route in routes.items()}

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        return self._handlers.get(details.method)

    def _handler(self, route: Route) -> grpc.RpcMethodHandler:
        if route.client_streaming:
            make = (
                grpc.stream_stream_rpc_method_handler
                if route.server_streaming
                else grpc.stream_unary_rpc_method_handler
            )
            return make(self._client_stream(route))
        if route.server_streaming:
            return grpc.unary_stream_rpc_method_handler(self._unary_stream(route))
        return grpc.unary_unary_rpc_method_handler(self._unary(route))

    @contextlib.asynccontextmanager
    async def _admitted(
        self, route: Route, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[Ticket]:
        """Admitted for the length of an `async with` (or the refusal raised), and counted."""
        metadata = dict(context.invocation_metadata() or ())
        async with contextlib.AsyncExitStack() as stack:
            tenant = "-"
            try:
                found = self.admission.authenticate(metadata.get("authorization"))
                tenant = found.name
                admit = self.admission.admit(found, route.method, priority_of(metadata))
                ticket = await stack.enter_async_context(admit)
            except ServiceError as e:
                metrics.DECISIONS.labels(tenant, Reason.Name(e.reason).lower()).inc()
                raise
            metrics.DECISIONS.labels(tenant, "forwarded").inc()
            metrics.IN_FLIGHT.inc()
            try:
                yield ticket
            finally:
                metrics.IN_FLIGHT.dec()

    def _unary(self, route: Route) -> Callable[..., Any]:
        async def forward(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
            async with self._admitted(route, context) as ticket:
                try:
                    if route.method == GET_METHOD and self.caches:
                        response = await self._cached_get(route, request, context, ticket)
                    else:
                        response = await self._forward(route, request, context, ticket.record)
                except grpc.aio.AioRpcError as e:
                    await relay(context, e)
                    raise  # not reached: abort raises
                if self.caches and (keys := written_keys(route.method, request)):
                    self.caches.invalidate(keys)  # read-your-writes through this replica
                _answer_with_fields(context, ticket)
                return response

        return forward

    async def _forward(
        self,
        route: Route,
        request: bytes,
        context: grpc.aio.ServicerContext | None,
        record: CallRecord,
    ) -> bytes:
        """One call to the backend; without a `context` (a background refresh), on a
        deadline of its own and with no caller metadata."""
        started = time.monotonic()
        try:
            if context is None:
                return await self.forwarder.unary(route, request, (), REFRESH_TIMEOUT_S, record)
            metadata = forwarded_metadata(context.invocation_metadata())
            return await self.forwarder.unary(route, request, metadata, time_left(context), record)
        finally:
            metrics.FORWARD_SECONDS.labels(route.backend).observe(time.monotonic() - started)

    async def _cached_get(
        self, route: Route, request: bytes, context: grpc.aio.ServicerContext, ticket: Ticket
    ) -> bytes:
        record = ticket.record
        found = self.caches.of(record.tenant)
        try:
            key = kv_pb2.GetRequest.FromString(request).key
        except DecodeError:
            found = None  # the backend answers bad input as it always does
        ttl_s = found[0].ttl_s(key) if found else None
        if found is None or ttl_s is None:
            return await self._forward(route, request, context, record)
        settings, cache = found
        if ("cache-control", "no-cache") in (context.invocation_metadata() or ()):
            # The caller distrusts what is cached: drop it and read the store, as a
            # memcache client deletes a key it found invalid (a write's invalidation too:
            # a fill already out is not stored).
            cache.store.invalidate(key)

        async def fill(background: bool) -> bytes:
            if background:
                scratch = CallRecord(record.t, record.tenant, route.method)
                return await self._forward(route, request, None, scratch)
            return await self._forward(route, request, context, record)

        answer = await cache.get(key, ttl_s, settings, fill)
        record.cache = answer.outcome
        metrics.CACHE.labels(record.tenant, answer.outcome).inc()
        return answer.value

    def _unary_stream(self, route: Route) -> Callable[..., Any]:
        async def forward(
            request: bytes, context: grpc.aio.ServicerContext
        ) -> AsyncIterator[bytes]:
            async with self._admitted(route, context):
                stream = self.forwarder.unary_stream(
                    route,
                    request,
                    forwarded_metadata(context.invocation_metadata()),
                    context.time_remaining(),
                )
                async for item in _relayed(stream, context):
                    yield item

        return forward

    def _client_stream(self, route: Route) -> Callable[..., Any]:
        async def forward_stream(
            requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext
        ) -> AsyncIterator[bytes]:
            async with self._admitted(route, context):
                stream = self.forwarder.client_stream(
                    route,
                    requests,
                    forwarded_metadata(context.invocation_metadata()),
                    context.time_remaining(),
                )
                async for item in _relayed(stream, context):
                    yield item

        if route.server_streaming:
            return forward_stream

        async def forward_one(
            requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext
        ) -> bytes:
            async for item in forward_stream(requests, context):
                return item
            raise AssertionError("a client-streaming call ended without an answer")

        return forward_one


async def _relayed(
    stream: AsyncIterator[bytes], context: grpc.aio.ServicerContext
) -> AsyncIterator[bytes]:
    """A backend's stream, ended as the backend ended it."""
    try:
        async for item in stream:
            yield item
    except grpc.aio.AioRpcError as e:
        await relay(context, e)


def _answer_with_fields(context: grpc.aio.ServicerContext, ticket: Ticket) -> None:
    if ticket.decision is not None:
        fields = ratelimit_fields(ticket.decision)
        context.set_trailing_metadata(tuple((k.replace("_", "-"), v) for k, v in fields.items()))
