"""`MemoryNetwork`: in-memory transports between the nodes of one process, the twin of
`GrpcTransport` for unit tests that run the production driver with no sockets.

Delivery is asynchronous (the next event-loop turn), as over a network; a node can be cut
off (`isolate`) and healed, and messages to a node with no transport are lost.
"""

from __future__ import annotations

import asyncio

from services.raft.messages import Message, NodeId
from services.raft.transport.protocol import Deliver


class MemoryNetwork:
    def __init__(self) -> None:
        self._transports: dict[NodeId, MemoryTransport] = {}
        self.isolated: set[NodeId] = set()

    def transport(self, node_id: NodeId) -> MemoryTransport:
        t = MemoryTransport(self, node_id)
        self._transports[node_id] = t
        return t

    def isolate(self, node_id: NodeId) -> None:
        self.isolated.add(node_id)

    def heal(self) -> None:
        self.isolated.clear()

    def carry(self, group: str, msg: Message) -> None:
        if msg.src in self.isolated or msg.dst in self.isolated:
            return
        dst = self._transports.get(msg.dst)
        if dst is not None and dst.running:
            asyncio.get_running_loop().call_soon(dst.receive, group, msg)


class MemoryTransport:
    def __init__(self, network: MemoryNetwork, node_id: NodeId) -> None:
        self._network = network
        self.node_id = node_id
        self._groups: dict[str, Deliver] = {}
        self.running = False

    def register(self, group: str, deliver: Deliver) -> None:
        self._groups[group] = deliver

    def unregister(self, group: str) -> None:
        self._groups.pop(group, None)

    def send(self, group: str, msg: Message) -> None:
        if self.running:
            self._network.carry(group, msg)

    def receive(self, group: str, msg: Message) -> None:
        deliver = self._groups.get(group)
        if deliver is not None and self.running:
            deliver(msg)

    def start(self) -> None:
        self.running = True

    async def stop(self) -> None:
        self.running = False
