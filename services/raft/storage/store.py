"""`RaftStorage`: what the driver persists a Ready into and recovers a node from."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

from services.raft.core import Restored
from services.raft.messages import HardState, Snapshot
from services.raft.ready import Ready
from services.raft.storage.snapshots import SnapshotStore
from services.raft.storage.wal import FsyncPolicy, WriteAheadLog


class RaftStorage:
    def __init__(self, directory: Path, fsync: FsyncPolicy = FsyncPolicy.BATCH) -> None:
        self.directory = Path(directory)
        self.wal = WriteAheadLog(Path(directory) / "wal", fsync)
        self.snapshots = SnapshotStore(Path(directory) / "snap")
        self.hard_state = HardState()

    def recover(self) -> Restored:
        snapshot = self.snapshots.latest()
        restored = self.wal.recover()
        entries = restored.entries
        hard_state = restored.hard_state
        if snapshot is not None:
            entries = tuple(e for e in entries if e.index > snapshot.index)
            if hard_state.commit < snapshot.index:
                hard_state = dataclasses.replace(hard_state, commit=snapshot.index)
        self.hard_state = hard_state
        return Restored(hard_state, snapshot, entries)

    def persist(self, rd: Ready) -> None:
        """Step 1 of a Ready: snapshot, entries, hard state; durable when it must be."""
        self.write(rd)
        self.sync(rd)

    def write(self, rd: Ready) -> None:
        if rd.hard_state is not None:
            self.hard_state = rd.hard_state
        if rd.snapshot is not None:
            self.snapshots.save(rd.snapshot)
            # The entries after the snapshot come below, in this same Ready, and the hard
            # state may already count them as committed. Written (and synced) ahead of
            # them, it would claim a commit index past the durable log: a crash in between
            # leaves a node that cannot start. The full hard state follows the entries,
            # as etcd's WAL writes entries before state.
            self.wal.reset(self._hard_state_within(rd.snapshot.index))
        self.wal.save(rd.hard_state, rd.entries)

    def sync(self, rd: Ready) -> None:
        if rd.must_sync:
            self.wal.sync()

    def _hard_state_within(self, last_index: int) -> HardState:
        commit = min(self.hard_state.commit, last_index)
        return dataclasses.replace(self.hard_state, commit=commit)

    def blocks(self, rd: Ready) -> bool:
        if rd.snapshot is not None:
            return True  # a snapshot file is written, fsynced and renamed
        policy = self.wal.fsync
        return policy is FsyncPolicy.ALWAYS or (rd.must_sync and policy is FsyncPolicy.BATCH)

    def compact(self, snapshot: Snapshot) -> None:
        """The node snapshotted its state machine: keep the snapshot, drop covered log."""
        self.snapshots.save(snapshot)
        self.wal.compact(snapshot.index, self.hard_state)

    def close(self) -> None:
        self.wal.close()

    def destroy(self) -> None:
        self.close()
        shutil.rmtree(self.directory, ignore_errors=True)
