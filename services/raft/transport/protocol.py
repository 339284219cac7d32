"""`Transport`: the seam between Raft groups and the network.

One transport per process carries every group's messages; each message travels with its
Raft group id, and the receiving side hands it to that group's `deliver` (or drops it
when the group is not hosted there, exactly like a lost message). Three implementations:
`TcpTransport` (length-prefixed frames through the "_raft" Toxiproxy links),
`GrpcTransport` (streams through the gRPC links) and `MemoryNetwork`'s transports (one
event loop, for unit tests of the production driver).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from services.raft.messages import Message

Deliver = Callable[[Message], None]


class Transport(Protocol):
    def register(self, group: str, deliver: Deliver) -> None:
        """Messages for `group` arriving from now on go to `deliver`."""

    def unregister(self, group: str) -> None:
        """Messages for `group` are dropped from now on."""

    def send(self, group: str, msg: Message) -> None:
        """Best effort, never blocks: Raft tolerates loss."""

    def start(self) -> None: ...

    async def stop(self) -> None: ...
