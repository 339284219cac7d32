"""`MemoryStorage`: the in-memory twin of `RaftStorage`, with the same API.

What it holds is what survives a simulated crash (the simulator keeps the object and
drops the core), and it serves unit tests that run the production driver with no disk.
"""

from __future__ import annotations

from services.raft.core import Restored
from services.raft.messages import Entry, HardState, Snapshot
from services.raft.ready import Ready


class MemoryStorage:
    def __init__(self) -> None:
        self.hard_state = HardState()
        self.snapshot: Snapshot | None = None
        self.entries: list[Entry] = []  # entries after the snapshot

    def recover(self) -> Restored:
        return Restored(self.hard_state, self.snapshot, tuple(self.entries))

    def persist(self, rd: Ready) -> None:
        """The persist step of a Ready: snapshot, then entries, then hard state."""
        if rd.snapshot is not None:
            self.snapshot = rd.snapshot
            self.entries = [e for e in self.entries if e.index > rd.snapshot.index]
        if rd.entries:
            first = rd.entries[0].index
            self.entries = [e for e in self.entries if e.index < first] + list(rd.entries)
        if rd.hard_state is not None:
            self.hard_state = rd.hard_state

    def write(self, rd: Ready) -> None:
        self.persist(rd)

    def sync(self, rd: Ready) -> None:
        """What is held is durable: nothing to do."""

    def blocks(self, rd: Ready) -> bool:
        return False

    def compact(self, snapshot: Snapshot) -> None:
        if self.snapshot is None or snapshot.index > self.snapshot.index:
            self.snapshot = snapshot
            self.entries = [e for e in self.entries if e.index > snapshot.index]

    def close(self) -> None:
        """Nothing to release: what is held here is what survives a simulated crash."""

    def destroy(self) -> None:
        self.hard_state = HardState()
        self.snapshot = None
        self.entries = []

    def term(self, index: int) -> int | None:
        """The term of the entry at `index` as stored (the simulator's log-matching check)."""
        if self.snapshot is not None and index == self.snapshot.index:
            return self.snapshot.term
        if index == 0:
            return 0
        first = self.entries[0].index if self.entries else None
        if first is None or not first <= index < first + len(self.entries):
            return None
        return self.entries[index - first].term
