"""The one edge where `ServiceError`s become gRPC statuses, for every service.

`ErrorMapping` is a server interceptor, so every handler of every service, unary or
streaming, is covered without a line in the handler. A failure carries:

- gRPC's rich error model: a google.rpc.Status in `grpc-status-details-bin` whose details
  hold a google.rpc.ErrorInfo (reason = the `faultlab.errors.v1.Reason` name, domain
  "faultlab", metadata = "definite" plus the error's own details);
- the same facts as plain trailing metadata (`reason: not-leader`, `definite: true`,
  `leader-id: ...`) for clients without a rich-error library.

Any other exception is a bug; gRPC reports it as UNKNOWN and it is logged.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, NamedTuple

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from services.runtime.errors import DOMAIN, Reason, ServiceError

REASON_KEY = "reason"
DEFINITE_KEY = "definite"


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
    info = error_details_pb2.ErrorInfo(
        reason=Reason.Name(error.reason), domain=DOMAIN,
        metadata={DEFINITE_KEY: _definite(error), **error.details},
    )  # fmt: skip
    details = []
    for message in (info, *error.extra_details()):
        detail = any_pb2.Any()
        detail.Pack(message)
        details.append(detail)
    return status_pb2.Status(code=error.code.value[0], message=error.message, details=details)


def _definite(error: ServiceError) -> str:
    return "true" if error.definite else "false"


def to_status(error: ServiceError) -> Status:
    definite = _definite(error)
    status = rpc_status.to_status(to_rpc_status(error))
    plain = [(REASON_KEY, reason_slug(error.reason)), (DEFINITE_KEY, definite)]
    plain += [(k.replace("_", "-"), v) for k, v in error.details.items()]
    return Status(status.code, status.details, (*status.trailing_metadata, *plain))


async def abort(context: grpc.aio.ServicerContext, error: ServiceError) -> None:
    status = to_status(error)
    await context.abort(status.code, status.details, status.trailing_metadata)


Behavior = Callable[..., Any]


def _guard_unary(behavior: Behavior) -> Behavior:
    async def guarded(request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            return await behavior(request, context)
        except ServiceError as e:
            await abort(context, e)

    return guarded


def _guard_stream(behavior: Behavior) -> Behavior:
    async def guarded(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        try:
            async for item in behavior(request, context):
                yield item
        except ServiceError as e:
            await abort(context, e)

    return guarded


def _guard(behavior: Behavior | None) -> Behavior | None:
    if behavior is None:
        return None
    if inspect.isasyncgenfunction(behavior):
        return _guard_stream(behavior)
    return _guard_unary(behavior)


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
        guarded = handler._replace(
            unary_unary=_guard(handler.unary_unary),
            unary_stream=_guard(handler.unary_stream),
            stream_unary=_guard(handler.stream_unary),
            stream_stream=_guard(handler.stream_stream),
        )
        self._guarded[method] = guarded
        return guarded
