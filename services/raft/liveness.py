"""`PeerLiveness`: is a peer's process alive, judged once per node pair, not per group.

Quiet Raft groups (core.py, "quiescence") send no heartbeats, so a follower can no
longer tell a dead leader from an idle one by its group's silence. The host answers for
all its groups at once: each host pings every peer once a heartbeat interval, any message
from a peer counts as hearing from it, and a peer unheard for an election timeout is
down. Its groups' cores learn of it (`RaftCore.on_peer_down` / `on_peer_up`) and wake.

Pure, like the core: time is `tick()`, hearing is `heard(peer)`. The host and the
simulator drive the same code.
"""

from __future__ import annotations

from collections.abc import Iterable

from services.raft.messages import Message, MessageType, NodeId

PING_CONTEXT = b"liveness"


def ping(src: NodeId, dst: NodeId) -> Message:
    """The host's once-per-interval word to a peer: "this process is alive"."""
    return Message(MessageType.HEARTBEAT, src, dst, 0, context=PING_CONTEXT)


def is_ping(msg: Message) -> bool:
    return msg.term == 0 and msg.context == PING_CONTEXT


class PeerLiveness:
    def __init__(self, peers: Iterable[NodeId], timeout_ticks: int) -> None:
        self.timeout_ticks = timeout_ticks
        self._silent_ticks: dict[NodeId, int] = {}
        self.down: set[NodeId] = set()
        for peer in peers:
            self.add(peer)

    def add(self, peer: NodeId) -> None:
        """A new peer starts alive: it has a full timeout to be heard from."""
        self._silent_ticks.setdefault(peer, 0)

    @property
    def peers(self) -> list[NodeId]:
        return sorted(self._silent_ticks)

    def heard(self, peer: NodeId) -> bool:
        """Something came from `peer`; True if it was down until now."""
        if peer not in self._silent_ticks:
            return False
        self._silent_ticks[peer] = 0
        if peer in self.down:
            self.down.discard(peer)
            return True
        return False

    def tick(self) -> list[NodeId]:
        """One tick passed; the peers that have just gone down."""
        newly_down = []
        for peer, silent in self._silent_ticks.items():
            self._silent_ticks[peer] = silent + 1
            if silent + 1 >= self.timeout_ticks and peer not in self.down:
                self.down.add(peer)
                newly_down.append(peer)
        return newly_down
