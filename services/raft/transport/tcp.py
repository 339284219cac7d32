"""Raft messages as length-prefixed frames on plain TCP, through each peer's "_raft"
Toxiproxy link: what etcd does between its members, without gRPC's per-message cost.

Sending never blocks the Raft loop and never waits for a task: `send` frames the message
and appends it to the peer's pending bytes, and one callback per loop turn writes all a
peer's pending frames in one `write` (several messages per write whenever they queue up,
as a heartbeat round or a Ready's appends do). Raft tolerates loss, so while a peer is
unreachable or its connection's buffer is full, the oldest pending frames are dropped
past a bound; a dialler reconnects with capped exponential backoff and full jitter.

Receiving is an asyncio protocol: frames are cut from whatever TCP delivers and handed
to their group's `deliver` in the same callback. A connection starts with a hello naming
its sender. A frame past the size limit, a truncated or garbled one, a message that does
not decode, a sender outside the topology or one whose certificate names someone else
(under TLS) closes that connection, with a log line and a count by reason; the node goes
on serving everyone else.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import random
import ssl
from collections.abc import Iterable
from typing import cast

from prometheus_client import Counter

from services.raft.codec import decode_message
from services.raft.messages import Message, NodeId
from services.raft.transport import frames, pieces
from services.raft.transport.protocol import Deliver, outgoing
from services.runtime import logs, tls
from services.runtime.backoff import Backoff

log = logging.getLogger(__name__)

QUEUE_LIMIT = 4096  # pending frames per peer, as the gRPC transport's queue
RECONNECT = Backoff(base_s=0.05, cap_s=1.0)
CONNECT_TIMEOUT_S = 1.0  # a black-holed link never answers a SYN forwarded to it
# A connection that lived this long was a success: the next failure starts the backoff
# over. (A proxy whose upstream is down accepts and closes at once, again and again.)
HEALTHY_CONNECTION_S = 1.0

REFUSED = Counter(
    "faultlab_raft_connections_refused_total",
    "Inbound Raft connections closed for what the sender sent, by reason: frame (past the "
    "limit, unknown, garbled), message (did not decode), sender (not a peer, or not the "
    "certificate's), truncated (the stream ended inside a frame)",
    ["reason"],
)
DROPPED = Counter(
    "faultlab_raft_frames_dropped_total",
    "Raft frames dropped unsent (peer unreachable or its connection backed up)",
    ["peer"],
)


class TcpTransport:
    """Sends to peers and receives from them, for any number of Raft groups."""

    def __init__(self, node_id: NodeId, peers: dict[NodeId, str]) -> None:
        self.node_id = node_id
        self._peers = {p: _Outbound(node_id, p, addr) for p, addr in peers.items()}
        self._groups: dict[str, Deliver] = {}
        self._server: asyncio.Server | None = None
        self._inbound: set[_Inbound] = set()
        self._stopping = False
        self.received = 0

    # -- Transport ----------------------------------------------------------------------

    def register(self, group: str, deliver: Deliver) -> None:
        self._groups[group] = deliver

    def unregister(self, group: str) -> None:
        self._groups.pop(group, None)

    def send(self, group: str, msg: Message) -> None:
        peer = self._peers.get(msg.dst)
        if peer is None:
            return
        parts = outgoing(group, msg)
        if len(parts) == 1:
            peer.put(frames.message(group, parts[0]))
            return
        for i, part in enumerate(parts):  # a snapshot, one piece per frame
            peer.put(frames.piece(group, i, len(parts), part))

    def start(self) -> None:
        for peer in self._peers.values():
            peer.start()

    async def stop(self, grace_s: float = 1.0) -> None:
        """Stop listening, close every inbound connection, and close the outbound ones once
        what they hold is written (or after `grace_s`: a black-holed link never drains)."""
        self._stopping = True
        if self._server is not None:
            self._server.close()
        for inbound in list(self._inbound):
            inbound.close()
        await asyncio.gather(*(p.stop(grace_s) for p in self._peers.values()))

    # -- listening ----------------------------------------------------------------------

    async def listen(self, address: str) -> None:
        """Accept peers' connections at `address` (host:port); OSError if it is taken."""
        host, _, port = address.rpartition(":")
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Inbound(self),
            host,
            int(port),
            ssl=tls.ssl_server_context(self.node_id),
            reuse_address=True,
        )

    def senders(self) -> set[str]:
        """The peers whose connections to this node are open and greeted."""
        return {i.sender for i in self._inbound if i.sender is not None}

    def _accepts(self, sender: str) -> bool:
        return sender in self._peers

    def _deliver(self, group: str, msg: Message) -> None:
        deliver = self._groups.get(group)
        if deliver is None or self._stopping:
            return  # a group this node does not host (yet): like a lost message
        deliver(msg)
        self.received += 1


class _Inbound(asyncio.Protocol):
    """One connection from a peer: a hello, then messages."""

    def __init__(self, owner: TcpTransport) -> None:
        self._owner = owner
        self._reader = frames.FrameReader()
        self._transport: asyncio.Transport | None = None
        self.sender: str | None = None  # once its hello is accepted
        self._certified: str | None = None
        self._reassembly = pieces.Reassembly()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses
        self._owner._inbound.add(self)
        if tls.tls_dir() is not None:
            self._certified = tls.ssl_peer_identity(transport.get_extra_info("peercert"))

    def connection_lost(self, exc: Exception | None) -> None:
        self._owner._inbound.discard(self)
        if self._reader.partial and self._transport is not None:
            self._refuse("truncated", "the stream ended inside a frame")

    def data_received(self, data: bytes) -> None:
        try:
            self._take(self._reader.feed(data))
        except (frames.FrameError, pieces.PieceError) as e:
            self._refuse("frame", str(e))
        except ValueError as e:  # decode_message: not a Raft message
            self._refuse("message", str(e))

    def _take(self, received: Iterable[frames.Frame]) -> None:
        for frame in received:
            if self._transport is None:
                return  # refused earlier in this batch
            if self.sender is None:
                self._greet(frame)
                continue
            if frame.kind == frames.HELLO:
                raise frames.FrameError("a second hello")
            payload = frame.payload
            if frame.kind == frames.PIECE:
                whole = self._reassembly.add(frame.name, frame.index, frame.count, payload)
                if whole is None:
                    continue  # more pieces to come
                payload = whole
            else:
                self._reassembly.interrupt()
            msg = decode_message(payload)
            if msg.src != self.sender:
                self._refuse("sender", f"a message from {msg.src!r} on {self.sender}'s connection")
                return
            self._owner._deliver(frame.name, msg)

    def _greet(self, frame: frames.Frame) -> None:
        if frame.kind != frames.HELLO:
            raise frames.FrameError("the first frame is not a hello")
        if not self._owner._accepts(frame.name):
            self._refuse("sender", f"{frame.name!r} is not a peer of this node")
        elif tls.tls_dir() is not None and self._certified != frame.name:
            self._refuse("sender", f"{frame.name!r} greeted with {self._certified}'s certificate")
        else:
            self.sender = frame.name

    def _refuse(self, reason: str, detail: str) -> None:
        REFUSED.labels(reason).inc()
        logs.event(
            log,
            "raft_connection_refused",
            logging.WARNING,
            reason=reason,
            detail=detail,
            sender=self.sender or "",
        )
        self.close()

    def close(self) -> None:
        transport, self._transport = self._transport, None
        if transport is not None:
            transport.abort()  # nothing more is read from it, nothing is owed to it


class _Outbound(asyncio.Protocol):
    """This node's connection to one peer, redialled whenever it is lost."""

    def __init__(self, node_id: NodeId, peer: NodeId, address: str) -> None:
        self.node_id = node_id
        self.peer = peer
        self.host, _, port = address.rpartition(":")
        self.port = int(port)
        self._pending: collections.deque[bytes] = collections.deque()
        self._transport: asyncio.Transport | None = None
        self._writable = True  # False while the connection's buffer is past its high mark
        self._flush_scheduled = False
        self._lost: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._rng = random.Random()
        self._dropped = DROPPED.labels(peer)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"raft-dial-{self.peer}")

    def put(self, frame: bytes) -> None:
        if self._closing:
            return
        if len(self._pending) >= QUEUE_LIMIT:
            self._pending.popleft()  # the oldest is the least useful: drop it
            self._dropped.inc()
        self._pending.append(frame)
        if self._transport is not None and self._writable and not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._transport is not None and self._writable and self._pending:
            self._transport.write(b"".join(self._pending))
            self._pending.clear()

    # -- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses
        self._writable = True
        self._transport.write(frames.hello(self.node_id))
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(None)

    def pause_writing(self) -> None:
        self._writable = False

    def resume_writing(self) -> None:
        self._writable = True
        self._flush()

    def data_received(self, data: bytes) -> None:
        pass  # peers send nothing back on this connection

    # -- dialling -----------------------------------------------------------------------

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        context = tls.ssl_client_context()
        failures = 0
        while not self._closing:
            self._lost = loop.create_future()
            began = loop.time()
            try:
                await asyncio.wait_for(self._dial(loop, context), CONNECT_TIMEOUT_S)
                await self._lost
            except (OSError, TimeoutError, ssl.SSLError) as e:
                if failures == 0:
                    logs.event(
                        log,
                        "raft_connection_failed",
                        logging.WARNING,
                        peer=self.peer,
                        error=f"{type(e).__name__}: {e}",
                    )
            if self._closing:
                return
            failures = 0 if loop.time() - began >= HEALTHY_CONNECTION_S else failures + 1
            await asyncio.sleep(RECONNECT.delay_s(max(failures, 1), self._rng))

    async def _dial(self, loop: asyncio.AbstractEventLoop, context: ssl.SSLContext | None) -> None:
        await loop.create_connection(
            lambda: self,
            self.host,
            self.port,
            ssl=context,
            server_hostname=tls.SERVER_NAME if context else None,
        )

    async def stop(self, grace_s: float) -> None:
        self._flush()
        self._closing = True
        transport = self._transport
        if transport is not None:
            transport.close()  # writes what it holds, then closes
        if self._task is not None:
            done, _ = await asyncio.wait([self._task], timeout=grace_s)
            if not done:
                self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._transport is not None:
            self._transport.abort()
