"""Raft messages over gRPC: one client stream per peer, dialled through its Toxiproxy link.

Sending never blocks the Raft loop: messages go into a bounded per-peer queue, and a task
per peer drains it into batches on a `Send` stream. When the stream breaks (a cut link, a
dead peer) the task reconnects with capped exponential backoff and full jitter; messages
that could not be sent are dropped, which Raft tolerates by design, and the oldest are
dropped first when a queue overflows.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator

import grpc
from faultlab.raft.v1 import raft_pb2, raft_pb2_grpc

from services.raft.codec import decode_message
from services.raft.messages import Message, NodeId
from services.raft.transport import pieces
from services.raft.transport.protocol import Deliver, outgoing
from services.runtime import logs, tls
from services.runtime.backoff import Backoff
from services.runtime.errors import InvalidArgument, MethodNotAllowed
from services.runtime.grpc_options import CHANNEL_OPTIONS

log = logging.getLogger(__name__)

QUEUE_LIMIT = 4096
BATCH_LIMIT = 256
# Payload bytes per batch past its first message: a batch is one gRPC message, and must
# stay under the 8 MiB a gRPC message may be (pieces of a snapshot are 4 MiB each).
BATCH_BYTES = 2 * 1024 * 1024
RECONNECT = Backoff(base_s=0.05, cap_s=1.0)


class _PeerStream:
    def __init__(self, peer: NodeId, address: str) -> None:
        self.peer = peer
        self.address = address
        self.queue: asyncio.Queue[raft_pb2.Envelope | None] = asyncio.Queue(QUEUE_LIMIT)
        self.dropped = 0
        self.closing = False
        self._rng = random.Random()
        self._carried: raft_pb2.Envelope | None = None  # taken, but past the last batch's bytes

    def put(self, envelope: raft_pb2.Envelope) -> None:
        if self.closing:
            return
        if self.queue.full():
            self.queue.get_nowait()  # the oldest is the least useful: drop it
            self.dropped += 1
        self.queue.put_nowait(envelope)

    async def run(self) -> None:
        failures = 0
        async with tls.aio_channel(self.address, options=CHANNEL_OPTIONS) as channel:
            stub = raft_pb2_grpc.RaftStub(channel)
            while not self.closing:
                try:
                    await self._stream(stub)
                    failures = 0
                except grpc.aio.AioRpcError as e:
                    if failures == 0:
                        logs.event(
                            log,
                            "raft_stream_broken",
                            logging.WARNING,
                            peer=self.peer,
                            error=f"{e.code().name}: {e.details()}",
                        )
                    failures += 1
                    await asyncio.sleep(RECONNECT.delay_s(failures, self._rng))

    def close(self) -> None:
        """End the stream gracefully: the request iterator finishes, the call completes."""
        self.closing = True
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(None)

    async def _stream(self, stub: raft_pb2_grpc.RaftStub) -> None:
        """One Send call, written to directly: a request iterator would cost a task
        switch per batch inside grpc.aio, and at low load every message is a batch."""
        call = stub.Send()
        while True:
            first = self._carried if self._carried is not None else await self.queue.get()
            self._carried = None
            batch = [first] if first is not None else []
            size = len(first.payload) if first is not None else 0
            while first is not None and not self.queue.empty() and len(batch) < BATCH_LIMIT:
                item = self.queue.get_nowait()
                if item is None:
                    first = None  # closing, once this batch is out
                    break
                size += len(item.payload)
                if size > BATCH_BYTES:
                    self._carried = item  # the next batch's first
                    break
                batch.append(item)
            if batch:
                try:
                    await call.write(raft_pb2.MessageBatch(messages=batch))
                except asyncio.InvalidStateError:  # the call ended: a broken link, or
                    await call  # the peer stopping; raises the call's error, if any
                    return
            if first is None:  # closing: a half-close ends the call cleanly
                await call.done_writing()
                await call
                return


class GrpcTransport(raft_pb2_grpc.RaftServicer):  # type: ignore[misc]
    """Sends to peers and receives from them, for any number of Raft groups."""

    def __init__(self, peers: dict[NodeId, str]) -> None:
        self._streams = {p: _PeerStream(p, addr) for p, addr in peers.items()}
        self._groups: dict[str, Deliver] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self.received = 0

    def register(self, group: str, deliver: Deliver) -> None:
        self._groups[group] = deliver

    def unregister(self, group: str) -> None:
        self._groups.pop(group, None)

    def start(self) -> None:
        for s in self._streams.values():
            self._tasks.append(asyncio.create_task(s.run(), name=f"raft-send-{s.peer}"))

    async def stop(self, grace_s: float = 1.0) -> None:
        """Close every stream gracefully; cancel what has not finished within `grace_s`
        (a black-holed link never acknowledges a half-close). Streams from peers end at
        their next batch, so the gRPC server's stop need not wait out its grace."""
        self._stopping = True
        for s in self._streams.values():
            s.close()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=grace_s)
            for t in pending:
                t.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def send(self, group: str, msg: Message) -> None:
        stream = self._streams.get(msg.dst)
        if stream is None:
            return
        parts = outgoing(group, msg)
        if len(parts) == 1:
            stream.put(raft_pb2.Envelope(group=group, payload=parts[0]))
            return
        for i, part in enumerate(parts):  # a snapshot, one piece per envelope
            stream.put(raft_pb2.Envelope(group=group, payload=part, piece=i, pieces=len(parts)))

    def _check_peer(self, context: grpc.aio.ServicerContext) -> None:
        """Under TLS, Raft messages come only from a node of the group: a client's
        certificate (of the same CA) may call every client method, not this one."""
        if tls.tls_dir() is None:
            return
        caller = tls.peer_identity(context)
        if caller not in self._streams:
            raise MethodNotAllowed(
                f"{caller} is not a peer of this node: only the group's nodes send Raft messages",
                caller=str(caller),
            )

    async def Send(
        self,
        request_iterator: AsyncIterator[raft_pb2.MessageBatch],
        context: grpc.aio.ServicerContext,
    ) -> raft_pb2.SendSummary:
        self._check_peer(context)
        count = 0
        reassembly = pieces.Reassembly()
        async for batch in request_iterator:
            if self._stopping:
                break
            for envelope in batch.messages:
                payload = self._whole(envelope, reassembly)
                deliver = self._groups.get(envelope.group)
                if payload is None or deliver is None:
                    continue  # a group this node does not host (yet): like a lost message
                try:
                    msg = decode_message(payload)
                except ValueError as e:
                    raise InvalidArgument(f"group {envelope.group}: {e}") from e
                deliver(msg)
                count += 1
        self.received += count
        return raft_pb2.SendSummary(received=count)

    @staticmethod
    def _whole(envelope: raft_pb2.Envelope, reassembly: pieces.Reassembly) -> bytes | None:
        """The envelope's message, or None while it is a piece of one not yet complete."""
        if not envelope.pieces:
            reassembly.interrupt()
            whole: bytes = envelope.payload
            return whole
        try:
            return reassembly.add(envelope.group, envelope.piece, envelope.pieces, envelope.payload)
        except pieces.PieceError as e:
            raise InvalidArgument(f"group {envelope.group}: {e}") from e
