"""One Kafka client connection: size-prefixed frames in, answers out, in order.

Each frame is a request header and body; the answer carries the request's correlation id.
As a Kafka broker does, a connection's requests are handled one at a time (Kafka mutes a
channel until its answer is sent), so answers leave in the order requests came, and a
producer's pipelined batches reach each partition in the order it sent them.

What Kafka does with bad input, this does too:
- a frame claiming more than socket.request.max.bytes (100 MiB), or a negative size:
  the connection is closed before anything is read into memory;
- an API key it does not serve, a version outside the offered range, or a body that does
  not parse: the connection is closed (Kafka's InvalidRequestException), except for
  ApiVersions at a version it does not know, which is answered at version 0 with
  UNSUPPORTED_VERSION and the versions it does serve, so the client can pick one.
"""

from __future__ import annotations

import asyncio
import contextvars
import io
import logging
import struct
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from kio.schema.api_versions.v0.response import ApiVersionsResponse
from kio.schema.errors import ErrorCode
from kio.schema.response_header.v0.header import ResponseHeader as ResponseHeaderV0
from kio.schema.response_header.v1.header import ResponseHeader as ResponseHeaderV1
from kio.serial import entity_reader, entity_writer

from services.log.kafka import apis
from services.log.kafka.shapes import build, request_class, response_class
from services.runtime import logs

log = logging.getLogger("faultlab.log.kafka")

MAX_FRAME_BYTES = 100 * 1024 * 1024  # Kafka's socket.request.max.bytes
SIZE = struct.Struct(">i")
API_HEAD = struct.Struct(">hhi")  # api key, api version, correlation id

# An answer (a dict in kio's field names for the response class of the request's
# version), or None for no answer at all (Produce with acks=0).
Handler = Callable[[Any, int], Awaitable[Mapping[str, Any] | None]]


# Who sent the request being handled: (the header's client id, the peer's host), as
# Kafka's group coordinator records each member's.
CLIENT: contextvars.ContextVar[tuple[str, str]] = contextvars.ContextVar(
    "kafka_client", default=("", "")
)


class Deadline:
    """A Kafka request's time budget, in the shape the broker's Raft calls take a gRPC
    context's (`time_remaining`)."""

    def __init__(self, seconds: float) -> None:
        self._end_s = time.monotonic() + seconds

    def time_remaining(self) -> float:
        return max(0.0, self._end_s - time.monotonic())


class BadRequest(Exception):
    """The connection is closed: the request cannot be answered in Kafka's protocol."""


class Connection:
    def __init__(
        self,
        handlers: Mapping[int, Handler],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self._handlers = handlers
        self._reader = reader
        self._writer = writer
        peer = writer.get_extra_info("peername")
        self.peer = str(peer)
        self._host = f"/{peer[0]}" if isinstance(peer, tuple) else ""

    async def serve(self) -> None:
        try:
            while True:
                frame = await self._frame()
                answer = await self._answer(frame)
                if answer is not None:
                    self._writer.write(SIZE.pack(len(answer)) + answer)
                    await self._writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client went away
        except BadRequest as e:
            logs.event(log, "kafka_connection_closed", peer=self.peer, reason=str(e))
        except Exception:  # a bug here: that client is cut off, everyone else served
            log.exception("kafka_request_failed peer=%s", self.peer)
        finally:
            self._writer.close()

    async def _frame(self) -> bytes:
        (size,) = SIZE.unpack(await self._reader.readexactly(SIZE.size))
        if not API_HEAD.size <= size <= MAX_FRAME_BYTES:
            raise BadRequest(f"a frame of {size} bytes (at most {MAX_FRAME_BYTES})")
        return await self._reader.readexactly(size)

    async def _answer(self, frame: bytes) -> bytes | None:
        api_key, version, correlation_id = API_HEAD.unpack_from(frame)
        if not apis.supports(api_key, version):
            if api_key == apis.API_VERSIONS:
                return _unsupported_api_versions(correlation_id)
            raise BadRequest(f"api key {api_key} at version {version} is not served")
        cls = request_class(api_key, version)
        try:
            header, at = entity_reader(cls.__header_schema__)(frame, 0)
            request, size = entity_reader(cls)(frame, at)  # kio's classes, one per version
        except Exception as e:  # kio raises several kinds for bytes that do not parse
            raise BadRequest(f"api key {api_key} v{version} does not parse: {e}") from e
        if at + size != len(frame):
            raise BadRequest(f"{len(frame) - at - size} bytes after the request body")
        CLIENT.set((header.client_id or "", self._host))
        answer = await self._handlers[api_key](request, version)
        if answer is None:
            return None
        response_cls = response_class(api_key, version)
        out = io.BytesIO()
        # ApiVersions answers with header v0 at every version: a client reads it before it
        # knows which versions (and so which headers) the broker speaks.
        if response_cls.__flexible__ and api_key != apis.API_VERSIONS:
            header_cls: Any = ResponseHeaderV1
        else:
            header_cls = ResponseHeaderV0
        entity_writer(header_cls)(out, build(header_cls, {"correlation_id": correlation_id}))
        entity_writer(response_cls)(out, build(response_cls, answer))
        return out.getvalue()


def api_version_list() -> list[dict[str, int]]:
    return [
        {"api_key": key, "min_version": low, "max_version": high}
        for key, (low, high) in sorted(apis.SUPPORTED.items())
    ]


def _unsupported_api_versions(correlation_id: int) -> bytes:
    out = io.BytesIO()
    entity_writer(ResponseHeaderV0)(
        out, build(ResponseHeaderV0, {"correlation_id": correlation_id})
    )
    response = build(
        ApiVersionsResponse,
        {"error_code": ErrorCode.unsupported_version, "api_keys": api_version_list()},
    )
    entity_writer(ApiVersionsResponse)(out, response)
    return out.getvalue()
