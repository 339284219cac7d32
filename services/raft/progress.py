"""What a leader knows about each follower's log, and how it paces appends to it.

Three states, as in etcd-io/raft:
- PROBE: we do not know where the follower's log ends; one append at a time, and wait.
- REPLICATE: it is keeping up; appends are pipelined, at most `max_inflight` at once.
- SNAPSHOT: it needs entries we compacted; a snapshot is on its way, nothing else is sent.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass, field


class ProgressState(enum.Enum):
    PROBE = "probe"
    REPLICATE = "replicate"
    SNAPSHOT = "snapshot"


@dataclass
class Progress:
    match: int = 0
    next: int = 1
    state: ProgressState = ProgressState.PROBE
    probe_sent: bool = False
    pending_snapshot: int = 0
    recent_active: bool = False  # heard from it since the last CheckQuorum round
    appended_since_beat: bool = False  # an append went to it since the last heartbeat tick
    inflight: deque[int] = field(default_factory=deque)  # last index of each append sent

    def paused(self, max_inflight: int) -> bool:
        if self.state is ProgressState.PROBE:
            return self.probe_sent
        if self.state is ProgressState.REPLICATE:
            return len(self.inflight) >= max_inflight
        return True

    def maybe_update(self, index: int) -> bool:
        """The follower has everything up to `index`. False if we knew that already."""
        updated = index > self.match
        if updated:
            self.match = index
            self.probe_sent = False
        self.next = max(self.next, index + 1)
        return updated

    def maybe_decrease_to(self, rejected: int, probe_from: int) -> bool:
        """The append after `rejected` was refused; False if that news is stale."""
        if self.state is ProgressState.REPLICATE:
            if rejected <= self.match:
                return False
            self.next = self.match + 1
            return True
        if self.next - 1 != rejected:
            return False
        self.next = max(min(rejected, probe_from + 1), self.match + 1)
        self.probe_sent = False
        return True

    def become_probe(self) -> None:
        if self.state is ProgressState.SNAPSHOT:
            self.next = max(self.match + 1, self.pending_snapshot + 1)
        else:
            self.next = self.match + 1
        self._switch(ProgressState.PROBE)

    def become_replicate(self) -> None:
        self.next = self.match + 1
        self._switch(ProgressState.REPLICATE)

    def become_snapshot(self, index: int) -> None:
        self.pending_snapshot = index
        self._switch(ProgressState.SNAPSHOT)

    def sent(self, last_index: int) -> None:
        """An append ending at `last_index` was sent."""
        self.appended_since_beat = True
        if self.state is ProgressState.REPLICATE:
            self.next = last_index + 1
            self.inflight.append(last_index)
        elif self.state is ProgressState.PROBE:
            self.probe_sent = True

    def acked(self, index: int) -> None:
        while self.inflight and self.inflight[0] <= index:
            self.inflight.popleft()

    def _switch(self, state: ProgressState) -> None:
        self.state = state
        self.probe_sent = False
        self.inflight.clear()
