"""A write-ahead log of Raft entries and hard state, in segment files.

    wal = WriteAheadLog(path, fsync=FsyncPolicy.BATCH)
    restored = wal.recover()            # torn tail truncated and reported
    wal.save(hard_state, entries)       # one Ready's persist step
    wal.sync()                          # durable (a no-op under NEVER)

Records: ("E", term, index, kind, data) for an entry, ("H", term, vote, commit) for hard
state. An entry at an index we already hold replaces it and everything after it, exactly
as Raft's log does, so replay needs no separate truncation record.

fsync policies: ALWAYS syncs inside every save; BATCH leaves it to the driver, which calls
`sync()` once per Ready, after queuing every entry that arrived meanwhile (group commit);
NEVER does not sync at all: the unsafe mode, like Redis `appendfsync no`.
"""

from __future__ import annotations

import enum
import logging
import os
from pathlib import Path
from typing import Any, BinaryIO

from services.raft.core import Restored
from services.raft.messages import Entry, EntryKind, HardState
from services.raft.storage.durable import fsync_dir, make_dirs
from services.raft.storage.framing import encode, read_records

log = logging.getLogger(__name__)

SEGMENT_BYTES = 16 * 1024 * 1024


class FsyncPolicy(enum.Enum):
    ALWAYS = "always"
    BATCH = "batch"
    NEVER = "never"


class CorruptWal(Exception):
    """A record is damaged before the last segment's tail: not a torn write, real damage."""


class WriteAheadLog:
    def __init__(
        self,
        directory: Path,
        fsync: FsyncPolicy = FsyncPolicy.BATCH,
        segment_bytes: int = SEGMENT_BYTES,
    ) -> None:
        self.dir = Path(directory)
        make_dirs(self.dir)
        self.fsync = fsync
        self.segment_bytes = segment_bytes
        self._file: BinaryIO | None = None
        self._segment = Path()  # the open file's path: Path(file.name) on every save cost 1%
        self._append_to: Path | None = None  # set by recover(); opened on the first save
        self._max_index: dict[Path, int] = {}  # the highest entry index in each segment
        self.truncated_bytes = 0  # how much torn tail recovery cut off

    def segments(self) -> list[Path]:
        return sorted(self.dir.glob("wal-*.log"))

    def recover(self) -> Restored:
        hard_state = HardState()
        entries: dict[int, Entry] = {}
        segments = self.segments()
        for i, segment in enumerate(segments):
            data = segment.read_bytes()
            good_end = 0
            for record, end in read_records(data):
                hard_state = _replay(record, hard_state, entries)
                if record[0] == "E":
                    self._max_index[segment] = max(self._max_index.get(segment, 0), record[2])
                good_end = end
            if good_end < len(data):
                if i != len(segments) - 1:
                    raise CorruptWal(f"{segment} is damaged at byte {good_end}, before the tail")
                self._truncate(segment, good_end, len(data))
        ordered = tuple(entries[k] for k in sorted(entries))
        self._append_to = segments[-1] if segments else self.dir / f"wal-{0:08d}.log"
        return Restored(hard_state, None, ordered)

    def save(self, hard_state: HardState | None, entries: tuple[Entry, ...]) -> None:
        if self._file is None:
            assert self._append_to is not None, "recover() before save()"
            self._file = open(self._append_to, "ab")  # noqa: SIM115 - held for the node's life
            self._segment = self._append_to
            fsync_dir(self.dir)
        chunk = b"".join(encode(("E", e.term, e.index, int(e.kind), e.data)) for e in entries)
        if hard_state is not None:
            chunk += encode(("H", hard_state.term, hard_state.vote, hard_state.commit))
        self._file.write(chunk)
        self._file.flush()
        if entries:
            current = self._segment
            self._max_index[current] = max(self._max_index.get(current, 0), entries[-1].index)
        if self.fsync is FsyncPolicy.ALWAYS:
            os.fsync(self._file.fileno())
        if self._file.tell() >= self.segment_bytes:
            self._roll()

    def compact(self, snapshot_index: int, hard_state: HardState) -> None:
        """Drop the segments whose entries a snapshot now covers. The hard state is
        written again first, as the segments that held it may be among them."""
        self._start_fresh_segment(hard_state)
        segments = self.segments()
        for segment in segments[:-1]:
            if self._max_index.get(segment, 0) > snapshot_index:
                break  # segments are in order: keep this one and everything after it
            self._drop(segment)

    def reset(self, hard_state: HardState) -> None:
        """Forget every entry: a snapshot from the leader replaced the whole log."""
        self._start_fresh_segment(hard_state)
        for segment in self.segments()[:-1]:
            self._drop(segment)

    def _start_fresh_segment(self, hard_state: HardState) -> None:
        if self._file is None:
            self.save(None, ())  # opens the current segment
        self._roll()
        self.save(hard_state, ())
        self.sync()

    def _drop(self, segment: Path) -> None:
        segment.unlink()
        self._max_index.pop(segment, None)
        fsync_dir(self.dir)

    def sync(self) -> None:
        if self._file is not None and self.fsync is not FsyncPolicy.NEVER:
            os.fsync(self._file.fileno())

    def close(self) -> None:
        if self._file is not None:
            self.sync()
            self._file.close()
            self._file = None

    def _truncate(self, segment: Path, good_end: int, size: int) -> None:
        self.truncated_bytes += size - good_end
        log.warning(
            "wal_torn_tail_truncated",
            extra={
                "faultlab_fields": {
                    "segment": str(segment),
                    "kept_bytes": good_end,
                    "dropped_bytes": size - good_end,
                }
            },
        )
        with open(segment, "r+b") as f:
            f.truncate(good_end)
            os.fsync(f.fileno())

    def _roll(self) -> None:
        assert self._file is not None
        self.sync()
        self._file.close()
        number = int(self.segments()[-1].stem.split("-")[1]) + 1
        self._segment = self.dir / f"wal-{number:08d}.log"
        self._file = open(self._segment, "ab")  # noqa: SIM115
        fsync_dir(self.dir)


def _replay(record: list[Any], hard_state: HardState, entries: dict[int, Entry]) -> HardState:
    if record[0] == "H":
        return HardState(record[1], record[2], record[3])
    _, term, index, kind, data = record
    for stale in [k for k in entries if k >= index]:
        del entries[stale]  # a new entry at an index we hold replaces the tail
    entries[index] = Entry(term, index, data, EntryKind(kind))
    return hard_state
