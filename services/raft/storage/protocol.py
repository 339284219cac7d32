"""`Storage`: the seam between the Raft driver and durable state.

Two implementations share it: `RaftStorage` (a WAL and snapshot files, with fsync) and
`MemoryStorage` (its in-memory twin, for the simulator and unit tests).
"""

from __future__ import annotations

from typing import Protocol

from services.raft.core import Restored
from services.raft.messages import Snapshot
from services.raft.ready import Ready


class Storage(Protocol):
    def recover(self) -> Restored:
        """What survived: hard state, the latest snapshot, the entries after it."""

    def persist(self, rd: Ready) -> None:
        """Step 1 of a Ready: its snapshot, entries and hard state, durable when
        `rd.must_sync`. Returns only once they are (or raises: never acknowledge).
        The same as `write` then `sync`."""

    def write(self, rd: Ready) -> None:
        """The first half of `persist`: everything written, not yet made durable."""

    def sync(self, rd: Ready) -> None:
        """The second half: durable when `rd.must_sync` (a no-op otherwise)."""

    def blocks(self, rd: Ready) -> bool:
        """Persisting `rd` may wait on the disk (an fsync): the driver runs it off the
        event loop. Otherwise it is a buffered write, cheaper than a thread hop."""

    def compact(self, snapshot: Snapshot) -> None:
        """The state machine was snapshotted: keep the snapshot, drop the log it covers."""

    def close(self) -> None: ...

    def destroy(self) -> None:
        """Close and delete everything stored: the group is gone for good."""
