"""The simulated network: a priority queue of messages in flight, plus faults."""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass, field

from services.raft.messages import Message, NodeId


@dataclass
class NetworkFaults:
    drop_rate: float = 0.0
    duplicate_rate: float = 0.0
    max_delay: int = 1  # in micro-steps; delays vary, so messages are reordered
    cut: set[tuple[NodeId, NodeId]] = field(default_factory=set)  # (src, dst) pairs


class SimNetwork:
    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._queue: list[tuple[int, int, Message]] = []
        self._seq = 0
        self.faults = NetworkFaults()
        self.delivered = 0
        self.dropped = 0

    def send(self, msg: Message, now: int) -> None:
        f = self.faults
        if (msg.src, msg.dst) in f.cut or self._rng.random() < f.drop_rate:
            self.dropped += 1
            return
        copies = 2 if self._rng.random() < f.duplicate_rate else 1
        for _ in range(copies):
            self._seq += 1
            at = now + 1 + self._rng.randrange(max(1, f.max_delay))
            heapq.heappush(self._queue, (at, self._seq, msg))

    def due(self, now: int) -> list[Message]:
        out = []
        while self._queue and self._queue[0][0] <= now:
            msg = heapq.heappop(self._queue)[2]
            # A link cut while the message was in flight loses it too.
            if (msg.src, msg.dst) in self.faults.cut:
                self.dropped += 1
                continue
            out.append(msg)
        self.delivered += len(out)
        return out

    def partition(self, *sides: list[NodeId]) -> None:
        for a in sides:
            for b in sides:
                if a is not b:
                    self.faults.cut.update((x, y) for x in a for y in b)

    def cut_one_way(self, src: list[NodeId], dst: list[NodeId]) -> None:
        self.faults.cut.update((x, y) for x in src for y in dst)

    def heal(self) -> None:
        self.faults.cut.clear()
