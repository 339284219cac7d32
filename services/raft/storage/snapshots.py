"""Snapshot files: written to a temp file, fsynced, renamed, and the folder fsynced, so a
crash leaves either the old snapshot or the new one, never half of one."""

from __future__ import annotations

import os
from pathlib import Path

from services.raft.codec import snapshot_fields, snapshot_from
from services.raft.messages import Snapshot
from services.raft.storage.durable import fsync_dir, make_dirs
from services.raft.storage.framing import encode, read_records


class SnapshotStore:
    def __init__(self, directory: Path) -> None:
        self.dir = Path(directory)
        make_dirs(self.dir)

    def save(self, snapshot: Snapshot) -> None:
        final = self.dir / f"snapshot-{snapshot.index:016d}.snap"
        tmp = final.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            f.write(encode(snapshot_fields(snapshot)))
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(final)
        fsync_dir(self.dir)
        for old in self.dir.glob("snapshot-*.snap"):
            if old != final:
                old.unlink()

    def latest(self) -> Snapshot | None:
        for path in sorted(self.dir.glob("snapshot-*.snap"), reverse=True):
            data = path.read_bytes()
            for record, end in read_records(data):
                if end == len(data):
                    return snapshot_from(record)
            # A snapshot that does not read back whole is skipped: the rename is atomic,
            # so this is damage, and an older snapshot (or the log) is the fallback.
        for tmp in self.dir.glob("*.tmp"):
            tmp.unlink()  # a crash before the rename
        return None
