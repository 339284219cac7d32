"""The one edge where `ServiceError`s become gRPC statuses, for every service.

`ErrorMapping` is a server interceptor, so every handler of every service, unary or
streaming, is covered without a line in the handler. A failure carries:

- gRPC's rich error model: a google.rpc.Status in `grpc-status-details-bin` whose details
  hold a google.rpc.ErrorInfo (reason = the `faultlab.errors.v1.Reason` name, domain
  "faultlab", metadata = "definite" plus the error's own details);
- the same facts as plain trailing metadata (`reason: not-leader`, `definite: true`,
  `leader-id: ...`) for clients without a rich-error library.

It also parses each request itself: gRPC's own deserializer turns bytes that are not the
method's message into INTERNAL with no reason ("Exception deserializing request!"); here
they end as INVALID_ARGUMENT with reason INVALID, like any other bad input.

Any other exception is a bug; gRPC reports it as UNKNOWN and it is logged.
"""

from __future__ import annotations

import inspect
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, NamedTuple

import grpc
from google.protobuf import any_pb2
from google.protobuf.message import DecodeError
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from services.runtime.errors import DOMAIN, ForeignError, InvalidArgument, Reason, ServiceError

REASON_KEY = "reason"
DEFINITE_KEY = "definite"
# Errors quote what the caller sent (a group name, a member id); all of it travels in
# headers, which gRPC caps (16 KiB in all) and whose plain values must be printable ASCII.
MESSAGE_MAX_CHARS = 1024
DETAIL_MAX_CHARS = 256
HEADER_SAFE = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) != "%")


def _capped(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


def _header_value(text: str) -> str:
    """Printable ASCII, anything else percent-encoded, as gRPC encodes grpc-message."""
    return urllib.parse.quote(_capped(text, DETAIL_MAX_CHARS), safe=HEADER_SAFE)


def reason_slug(reason: int) -> str:
    """NOT_LEADER -> "not-leader": the plain-metadata spelling of a reason."""
    return Reason.Name(reason).lower().replace("_", "-")  # type: ignore[no-any-return]


class Status(NamedTuple):
    """What a failed call ends with: code, message, and trailing metadata."""

    code: grpc.StatusCode
    details: str
    trailing_metadata: tuple[tuple[str, str | bytes], ...]


def to_rpc_status(error: ServiceError) -> status_pb2.Status:
    """The google.rpc.Status of `error`: what a failed call carries, and what a batch
    reports for each of its refused parts."""
    details = {k: _capped(v, DETAIL_MAX_CHARS) for k, v in error.details.items()}
    info = error_details_pb2.ErrorInfo(
        reason=Reason.Name(error.reason),
        domain=DOMAIN,
        metadata={DEFINITE_KEY: _definite(error), **details},
    )
    packed = []
    for message in (info, *error.extra_details()):
        detail = any_pb2.Any()
        detail.Pack(message)
        packed.append(detail)
    text = _capped(error.message, MESSAGE_MAX_CHARS)
    return status_pb2.Status(code=error.code.value[0], message=text, details=packed)


def _definite(error: ServiceError) -> str:
    return "true" if error.definite else "false"


def to_status(error: ServiceError) -> Status:
    if isinstance(error, ForeignError):  # another system's words, exactly
        return Status(error.code, error.message, ())
    definite = _definite(error)
    status = rpc_status.to_status(to_rpc_status(error))
    plain = [(REASON_KEY, reason_slug(error.reason)), (DEFINITE_KEY, definite)]
    plain += [(k.replace("_", "-"), _header_value(v)) for k, v in error.details.items()]
    return Status(status.code, status.details, (*status.trailing_metadata, *plain))


async def abort(context: grpc.aio.ServicerContext, error: ServiceError) -> None:
    status = to_status(error)
    await context.abort(status.code, status.details, status.trailing_metadata)


Behavior = Callable[..., Any]
Parse = Callable[[bytes], Any]


def _parser(deserialize: Parse | None) -> Parse:
    """The method's own deserializer, failing as bad input; bytes as they are for handlers
    registered without one (the gateway forwards raw bytes)."""
    if deserialize is None:
        return lambda raw: raw

    def parse(raw: bytes) -> Any:
        try:
            return deserialize(raw)
        except DecodeError as e:
            raise InvalidArgument(f"the request is not a valid message of this method: {e}") from e

    return parse


async def _parsed_stream(raw: AsyncIterator[bytes], parse: Parse) -> AsyncIterator[Any]:
    async for item in raw:
        yield parse(item)


def _guard_unary(behavior: Behavior, parse: Parse, streamed: bool) -> Behavior:
    async def guarded(request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            parsed = _parsed_stream(request, parse) if streamed else parse(request)
            return await behavior(parsed, context)
        except ServiceError as e:
            await abort(context, e)

    return guarded


def _guard_stream(behavior: Behavior, parse: Parse, streamed: bool) -> Behavior:
    async def guarded(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        try:
            parsed = _parsed_stream(request, parse) if streamed else parse(request)
            async for item in behavior(parsed, context):
                yield item
        except ServiceError as e:
            await abort(context, e)

    return guarded


def _guard(behavior: Behavior | None, parse: Parse, streamed: bool) -> Behavior | None:
    """`streamed`: the behavior takes an iterator of requests, not one request."""
    if behavior is None:
        return None
    if inspect.isasyncgenfunction(behavior):
        return _guard_stream(behavior, parse, streamed)
    return _guard_unary(behavior, parse, streamed)


class ErrorMapping(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Wraps every handler so a raised `ServiceError` ends the call with its status.

    A method's handler never changes, so it is wrapped once and the wrapped one reused:
    the request path pays a dict lookup, not four new closures per call."""

    def __init__(self) -> None:
        self._guarded: dict[str, grpc.RpcMethodHandler] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        method = handler_call_details.method
        guarded = self._guarded.get(method)
        if guarded is not None:
            return guarded
        handler = await continuation(handler_call_details)
        if handler is None:
            return None  # an unknown method: gRPC answers UNIMPLEMENTED
        parse = _parser(handler.request_deserializer)
        guarded = handler._replace(
            request_deserializer=None,  # parsed in the guard: bad bytes are bad input
            unary_unary=_guard(handler.unary_unary, parse, streamed=False),
            unary_stream=_guard(handler.unary_stream, parse, streamed=False),
            stream_unary=_guard(handler.stream_unary, parse, streamed=True),
            stream_stream=_guard(handler.stream_stream, parse, streamed=True),
        )
        self._guarded[method] = guarded
        return guarded
