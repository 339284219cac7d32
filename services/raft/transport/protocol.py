"""`Transport`: the seam between Raft groups and the network.

One transport per process carries every group's messages; each message travels with its
Raft group id, and the receiving side hands it to that group's `deliver` (or drops it
when the group is not hosted there, exactly like a lost message). Three implementations:
`TcpTransport` (length-prefixed frames through the "_raft" Toxiproxy links),
`GrpcTransport` (streams through the gRPC links) and `MemoryNetwork`'s transports (one
event loop, for unit tests of the production driver).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from prometheus_client import Counter

from services.raft.codec import encode_message
from services.raft.messages import Message
from services.raft.transport import pieces
from services.runtime import logs

log = logging.getLogger(__name__)

Deliver = Callable[[Message], None]

TOO_LARGE = Counter(
    "faultlab_raft_messages_too_large_total",
    "Raft messages not sent because no peer would take them back together (pieces.py)",
    ["group"],
)
_told: set[str] = set()  # groups whose too-large message was logged: once is enough


def outgoing(group: str, msg: Message) -> list[bytes]:
    """What `msg` goes out as, for either transport: [the encoded message] when it fits
    one frame or gRPC message; its pieces (pieces.py) when it is larger (a snapshot);
    nothing when it is too large for pieces too, which is logged and counted."""
    encoded = encode_message(msg)
    if len(encoded) <= pieces.PIECE_BYTES:
        return [encoded]
    try:
        return pieces.split(encoded)
    except pieces.TooLarge as e:
        _too_large(group, msg, e)
        return []


def _too_large(group: str, msg: Message, error: Exception) -> None:
    """A message past what pieces carry (a snapshot over 4 GiB) is dropped, as a lost
    message is; the leader will try again, and this says why it never arrives."""
    TOO_LARGE.labels(group).inc()
    if group not in _told:
        _told.add(group)
        logs.event(
            log,
            "raft_message_too_large",
            logging.ERROR,
            group=group,
            type=msg.type.name,
            to=msg.dst,
            error=str(error),
        )


class Transport(Protocol):
    def register(self, group: str, deliver: Deliver) -> None:
        """Messages for `group` arriving from now on go to `deliver`."""

    def unregister(self, group: str) -> None:
        """Messages for `group` are dropped from now on."""

    def send(self, group: str, msg: Message) -> None:
        """Best effort, never blocks: Raft tolerates loss."""

    def start(self) -> None: ...

    async def stop(self) -> None: ...
